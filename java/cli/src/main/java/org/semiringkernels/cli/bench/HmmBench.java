package org.semiringkernels.cli.bench;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Random;

import org.semiringkernels.Context;
import org.semiringkernels.DType;
import org.semiringkernels.Hmm;
import org.semiringkernels.Semiring;
import org.semiringkernels.Tensor;

/**
 * The HMM family's bench configurations: edge potentials (B, T, N, N) with a separate initial
 * vector, B = 8, N = 50 (the anchors' size, issue 3), log-partition forward and forward +
 * backward (gradients w.r.t. the potentials and the initial scores), every length T.
 */
final class HmmBench extends BaseBench {

    private final int batch, steps, states;
    private final boolean backward;
    private Tensor potentials, initial, lengths, logPartition, grad, gradPotentials, gradInitial;

    private HmmBench(int batch, int steps, int states, boolean backward, Anchor anchor) {
        super("hmm", "GFLOP/s-eq", anchor);
        this.batch = batch;
        this.steps = steps;
        this.states = states;
        this.backward = backward;
    }

    static List<BenchCase> all(boolean quick) {
        List<BenchCase> out = new ArrayList<>();
        int[] lengths = quick ? new int[] {50} : new int[] {100, 1000, 3000};
        // hmm-backprop fwd+bwd on an H100 (../shared/anchors/h100-baselines.md).
        double[] anchorMs = {11.7, 78.7, 274};
        for (int i = 0; i < lengths.length; i++) {
            int t = lengths[i];
            out.add(new HmmBench(quick ? 2 : 8, t, quick ? 8 : 50, false, null));
            out.add(new HmmBench(quick ? 2 : 8, t, quick ? 8 : 50, true,
                    quick ? null : Anchors.h100("hmm-backprop fwd+bwd", anchorMs[i])));
        }
        return out;
    }


    @Override
    public String name() {
        return String.format(Locale.ROOT, "hmm edge B=%d N=%d T=%d f32 %s", batch, states, steps, backward ? "fwd+bwd" : "fwd");
    }

    @Override
    public double work() {
        // One log-semiring multiply-add per (b, t, i, j) per pass; fwd+bwd is three passes.
        return (backward ? 6.0 : 2.0) * batch * (double) steps * states * states / 1e9;
    }



    @Override
    public void prepare(Context context) {
        Random rng = new Random(7);
        potentials = BenchTensors.normal(context, rng, 1.0, batch, steps, states, states);
        initial = BenchTensors.normal(context, rng, 1.0, states);
        long[] len = new long[batch];
        Arrays.fill(len, steps);
        lengths = BenchTensors.longs(context, len, batch);
        logPartition = Tensor.allocate(context, DType.FLOAT32, batch);
        if (backward) {
            grad = BenchTensors.filled(context, 1f, batch);
            gradPotentials = Tensor.allocate(context, DType.FLOAT32, batch, steps, states, states);
            gradInitial = Tensor.allocate(context, DType.FLOAT32, states);
        }
    }

    @Override
    public void run(Context context) {
        Hmm.Edge model = Hmm.Edge.separate(potentials, initial);
        Hmm.forward(context, Semiring.LOG, model, lengths, logPartition);
        if (backward) {
            Hmm.backward(context, Semiring.LOG, model, lengths, grad, gradPotentials, gradInitial);
        }
    }

    @Override
    public void close() {
        BenchTensors.closeAll(potentials, initial, lengths, logPartition, grad, gradPotentials, gradInitial);
    }
}
