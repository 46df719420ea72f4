package org.semiringkernels.cli.bench;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Random;

import org.semiringkernels.Context;
import org.semiringkernels.DType;
import org.semiringkernels.SemiCrf;
import org.semiringkernels.Semiring;
import org.semiringkernels.Tensor;

/**
 * The semi-CRF's bench configurations, flash-semicrf's sizes (issue 5): per-position scores
 * 0.5 N(0, 1) (B, T, C), static transition and duration bias 0.1 N(0, 1), every length T;
 * log-partition forward, and forward + backward (one backward call, which also writes log Z).
 */
final class SemicrfBench extends BaseBench {

    private final int batch, length, durations, labels;
    private final boolean backward;
    private Tensor scores, transition, duration, lengths, logZ, grad, gradScores, gradTransition, gradDuration;

    private SemicrfBench(int batch, int length, int durations, int labels, boolean backward, Anchor anchor) {
        super("semicrf", "Gcell/s", anchor);
        this.batch = batch;
        this.length = length;
        this.durations = durations;
        this.labels = labels;
        this.backward = backward;
    }

    static List<BenchCase> all(boolean quick) {
        List<BenchCase> out = new ArrayList<>();
        int t = quick ? 128 : 1024;
        // flash-semicrf (Triton) on an H100 (issue 5).
        out.add(new SemicrfBench(4, t, 16, 12, false, quick ? null : Anchors.h100("flash-semicrf fwd", 15.9)));
        out.add(new SemicrfBench(4, t, 16, 12, true, quick ? null : Anchors.h100("flash-semicrf fwd+bwd", 133)));
        return out;
    }


    @Override
    public String name() {
        return String.format(Locale.ROOT, "semicrf B=%d T=%d K=%d C=%d f32 %s", batch, length, durations, labels,
                backward ? "fwd+bwd" : "fwd");
    }

    @Override
    public double work() {
        // Cells of the factorised recursion, B T (K C + C^2) per pass; fwd+bwd counts 3.
        return (backward ? 3.0 : 1.0) * batch * (double) length * (durations * labels + labels * labels) / 1e9;
    }



    @Override
    public void prepare(Context context) {
        Random rng = new Random(9);
        scores = BenchTensors.normal(context, rng, 0.5, batch, length, labels);
        transition = BenchTensors.normal(context, rng, 0.1, labels, labels);
        duration = BenchTensors.normal(context, rng, 0.1, durations, labels);
        long[] len = new long[batch];
        Arrays.fill(len, length);
        lengths = BenchTensors.longs(context, len, batch);
        logZ = Tensor.allocate(context, DType.FLOAT32, batch);
        if (backward) {
            grad = BenchTensors.filled(context, 1f, batch);
            gradScores = Tensor.allocate(context, DType.FLOAT32, batch, length, labels);
            gradTransition = Tensor.allocate(context, DType.FLOAT32, labels, labels);
            gradDuration = Tensor.allocate(context, DType.FLOAT32, durations, labels);
        }
    }

    @Override
    public void run(Context context) {
        SemiCrf.Options options = SemiCrf.Options.builder().semiring(Semiring.LOG).build();
        SemiCrf.Model model = SemiCrf.Model.of(scores, transition, duration);
        if (backward) {
            SemiCrf.backward(context, options, model, lengths, grad, gradScores, gradTransition, gradDuration, null, null,
                    null, logZ);
        } else {
            SemiCrf.forward(context, options, model, lengths, logZ);
        }
    }

    @Override
    public void close() {
        BenchTensors.closeAll(scores, transition, duration, lengths, logZ, grad, gradScores, gradTransition, gradDuration);
    }
}
