package org.semiringkernels.cli.bench;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Random;

import org.semiringkernels.Context;
import org.semiringkernels.Ctc;
import org.semiringkernels.DType;
import org.semiringkernels.Tensor;

/**
 * The CTC family's bench configurations, sk_bench's and the anchors' sizes (issue 4): time-major
 * log_softmax of N(0, 1) logits (T, B, C), padded int64 targets uniform in [1, C) with lengths
 * uniform in [Lmin, Lmax], every input length T, reduction sum; loss, and loss + gradient w.r.t.
 * the log-probabilities (one backward call, which also writes the loss).
 */
final class CtcBench extends BaseBench {

    private final int frames, batch, classes, minLabels, maxLabels;
    private final boolean backward;
    private Tensor logProbs, targets, inputLengths, targetLengths, loss, gradLoss, gradLogProbs;

    private CtcBench(int frames, int batch, int classes, int minLabels, int maxLabels, boolean backward, Anchor anchor) {
        super("ctc", "Gcell/s", anchor);
        this.frames = frames;
        this.batch = batch;
        this.classes = classes;
        this.minLabels = minLabels;
        this.maxLabels = maxLabels;
        this.backward = backward;
    }

    static List<BenchCase> all(boolean quick) {
        int q = quick ? 4 : 1;
        int[][] sizes = {{500, 128, 20, 80, 100}, {1000, 64, 64, 150, 200}, {2000, 32, 5, 300, 400}};
        // torch.ctc_loss (native) and seqdist fwd+bwd on an H100, the faster of the two (issue 4).
        double[] anchorMs = {1.42, 1.91, 3.47};
        String[] anchorName = {"seqdist fwd+bwd", "seqdist fwd+bwd", "seqdist fwd+bwd"};
        List<BenchCase> out = new ArrayList<>();
        for (int i = 0; i < sizes.length; i++) {
            int[] s = sizes[i];
            out.add(new CtcBench(s[0] / q, s[1] / q, s[2], s[3] / q, s[4] / q, false, null));
            out.add(new CtcBench(s[0] / q, s[1] / q, s[2], s[3] / q, s[4] / q, true,
                    quick ? null : Anchors.h100(anchorName[i], anchorMs[i])));
        }
        return out;
    }


    @Override
    public String name() {
        return String.format(Locale.ROOT, "ctc T=%d B=%d C=%d L=%d-%d f32 %s", frames, batch, classes, minLabels, maxLabels,
                backward ? "fwd+bwd" : "fwd");
    }

    @Override
    public double work() {
        // Cells of the recursion: B T (2 Lmean + 1) per pass.
        return (backward ? 2.0 : 1.0) * batch * (double) frames * (minLabels + maxLabels + 1) / 1e9;
    }



    @Override
    public void prepare(Context context) {
        Random rng = new Random(11);
        float[] lp = new float[frames * batch * classes];
        for (int row = 0; row < frames * batch; row++) {
            double max = Double.NEGATIVE_INFINITY, sum = 0;
            double[] z = new double[classes];
            for (int c = 0; c < classes; c++) {
                z[c] = rng.nextGaussian();
                max = Math.max(max, z[c]);
            }
            for (int c = 0; c < classes; c++) {
                sum += Math.exp(z[c] - max);
            }
            double lse = max + Math.log(sum);
            for (int c = 0; c < classes; c++) {
                lp[row * classes + c] = (float) (z[c] - lse);
            }
        }
        try (Tensor host = Tensor.fromArray(lp, frames, batch, classes)) {
            logProbs = host.to(context);
        }
        long[] labels = new long[batch * maxLabels], il = new long[batch], tl = new long[batch];
        for (int b = 0; b < batch; b++) {
            il[b] = frames;
            tl[b] = minLabels + rng.nextInt(maxLabels - minLabels + 1);
            for (int s = 0; s < maxLabels; s++) {
                labels[b * maxLabels + s] = 1 + rng.nextInt(classes - 1);
            }
        }
        targets = BenchTensors.longs(context, labels, batch, maxLabels);
        inputLengths = BenchTensors.longs(context, il, batch);
        targetLengths = BenchTensors.longs(context, tl, batch);
        loss = Tensor.allocate(context, DType.FLOAT32);
        if (backward) {
            gradLoss = BenchTensors.filled(context, 1f);
            gradLogProbs = Tensor.allocate(context, DType.FLOAT32, frames, batch, classes);
        }
    }

    private static Ctc.Options options() {
        return Ctc.Options.builder().reduction(Ctc.Reduction.SUM).build();
    }

    @Override
    public void run(Context context) {
        if (backward) {
            Ctc.backward(context, options(), Ctc.Gradient.LOG_PROBS, logProbs, targets, inputLengths, targetLengths,
                    gradLoss, gradLogProbs, loss);
        } else {
            Ctc.loss(context, options(), logProbs, targets, inputLengths, targetLengths, loss);
        }
    }

    @Override
    public void close() {
        BenchTensors.closeAll(logProbs, targets, inputLengths, targetLengths, loss, gradLoss, gradLogProbs);
    }
}
