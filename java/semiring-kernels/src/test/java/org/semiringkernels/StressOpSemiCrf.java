package org.semiringkernels;

import java.io.ByteArrayOutputStream;
import java.util.Random;

/**
 * Semi-CRF workload through the Java API: forward (LOG and MAX), backward (every gradient),
 * Viterbi and marginals, float64, static transition with start and boundary scores, ragged lengths.
 */
public final class StressOpSemiCrf implements StressOp {

    static final int B = 3, T = 14, C = 4, K = 5;

    @Override
    public String name() {
        return "semicrf";
    }

    @Override
    public byte[] run(Context context) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        Random rng = new Random(19);
        try (Tensor x = Tensor.fromArray(StressOpHmm.random(rng, B * T * C), B, T, C);
             Tensor transition = Tensor.fromArray(StressOpHmm.random(rng, C * C), C, C);
             Tensor bias = Tensor.fromArray(StressOpHmm.random(rng, K * C), K, C);
             Tensor start = Tensor.fromArray(StressOpHmm.random(rng, C), C);
             Tensor projStart = Tensor.fromArray(StressOpHmm.random(rng, B * T * C), B, T, C);
             Tensor projEnd = Tensor.fromArray(StressOpHmm.random(rng, B * T * C), B, T, C);
             Tensor lengths = Tensor.fromArray(new int[] {T, T - 5, 1}, B);
             Tensor grad = Tensor.fromArray(new double[] {1, -0.5, 2}, B)) {
            SemiCrf.Model model = new SemiCrf.Model(x, transition, bias, start, projStart, projEnd);
            for (Semiring s : new Semiring[] {Semiring.LOG, Semiring.MAX}) {
                SemiCrf.Options o = SemiCrf.Options.builder().semiring(s).build();
                try (Tensor z = SemiCrf.forward(context, o, model, lengths);
                     SemiCrf.Gradients g = SemiCrf.backward(context, o, model, lengths, grad);
                     SemiCrf.Marginals m = SemiCrf.marginals(context, o, model, lengths)) {
                    for (Tensor t : new Tensor[] {z, g.gradScores(), g.gradTransition(), g.gradDurationBias(),
                        g.gradStart(), g.gradProjStart(), g.gradProjEnd(), m.boundary(), m.coverage()}) {
                        StressOpMatmul.add(out, t);
                    }
                }
            }
            try (SemiCrf.Viterbi v = SemiCrf.viterbi(context, SemiCrf.Options.defaults(), model, lengths)) {
                StressOpMatmul.add(out, v.segments());
                StressOpMatmul.add(out, v.labelPath());
            }
        }
        return out.toByteArray();
    }

    /** A gold segment with label C + marker: the library names the label it rejects. */
    @Override
    public void provokeError(Context context, int marker) {
        try (Tensor x = Tensor.fromArray(new double[T * C], 1, T, C);
             Tensor transition = Tensor.fromArray(new double[C * C], C, C);
             Tensor bias = Tensor.fromArray(new double[K * C], K, C);
             Tensor segments = Tensor.fromArray(new int[] {0, 1, C + marker}, 1, 1, 3);
             Tensor counts = Tensor.fromArray(new int[] {1}, 1);
             Tensor lengths = Tensor.fromArray(new int[] {1}, 1);
             Tensor score = Tensor.allocateHost(DType.FLOAT64, 1)) {
            SemiCrf.goldScore(context, SemiCrf.Options.defaults(), SemiCrf.Model.of(x, transition, bias), lengths,
                    SemiCrf.Gold.segments(segments, counts), score);
        }
    }

    @Override
    public String errorFragment(int marker) {
        return "has label " + (C + marker) + " outside";
    }
}
