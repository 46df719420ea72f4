package org.semiringkernels;

import java.io.ByteArrayOutputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Random;

import org.semiringkernels.bindings.semiring_kernels_h;
import org.semiringkernels.bindings.sk_semicrf_options;

/**
 * Semi-CRF workload through the Java API: log-partition and its gradients (scores, transition,
 * duration bias, start), Viterbi segments and marginals, float32, ragged lengths.
 */
public final class StressOpSemicrf implements StressOp {

    static final int B = 3, T = 14, C = 3, K = 4;

    @Override
    public String name() {
        return "semicrf";
    }

    @Override
    public byte[] run(Context context) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        Random rng = new Random(23);
        try (Tensor x = StressOp.gaussian(rng, B, T, C);
             Tensor transition = StressOp.gaussian(rng, C, C);
             Tensor duration = StressOp.gaussian(rng, K, C);
             Tensor start = StressOp.gaussian(rng, C);
             Tensor lengths = Tensor.fromArray(new long[] {T, T - 3, 5}, B);
             Tensor up = Tensor.fromArray(new float[] {1, 0.5f, -1}, B)) {
            SemiCrf.Model model = SemiCrf.Model.of(x, transition, duration).withStart(start);
            SemiCrf.Options log = SemiCrf.Options.defaults();
            try (SemiCrf.Gradients g = SemiCrf.backward(context, log, model, lengths, up);
                 SemiCrf.Viterbi v = SemiCrf.viterbi(context, log, model, lengths);
                 SemiCrf.Marginals m = SemiCrf.marginals(context, log, model, lengths)) {
                for (Tensor t : new Tensor[] {g.value(), g.gradScores(), g.gradTransition(), g.gradDurationBias(),
                    g.gradStart(), v.bestScore(), v.segments(), v.segmentCounts(), m.boundary(), m.coverage()}) {
                    StressOpMatmul.add(out, t);
                }
            }
        }
        return out.toByteArray();
    }

    /**
     * Through the raw bindings (the Java API checks lengths first): a length of T + marker, out of
     * range, which the library names.
     */
    @Override
    public void provokeError(Context context, int marker) {
        try (Tensor x = Tensor.allocateHost(DType.FLOAT32, 1, T, C);
             Tensor transition = Tensor.allocateHost(DType.FLOAT32, C, C);
             Tensor duration = Tensor.allocateHost(DType.FLOAT32, K, C);
             Tensor lengths = Tensor.fromArray(new long[] {T + marker}, 1);
             Tensor z = Tensor.allocateHost(DType.FLOAT32, 1)) {
            context.call("semicrf", h -> {
                try (Arena arena = Arena.ofConfined()) {
                    MemorySegment o = sk_semicrf_options.allocate(arena);
                    sk_semicrf_options.struct_size(o, sk_semicrf_options.sizeof());
                    sk_semicrf_options.semiring(o, Semiring.LOG.code());
                    Native.check(semiring_kernels_h.sk_semicrf_forward(h, o, Tensor.descriptor(x, arena),
                            Tensor.descriptor(transition, arena), Tensor.descriptor(duration, arena), MemorySegment.NULL,
                            MemorySegment.NULL, MemorySegment.NULL, Tensor.descriptor(lengths, arena),
                            Tensor.descriptor(z, arena)), h);
                }
                return null;
            });
        }
    }

    @Override
    public String errorFragment(int marker) {
        return String.valueOf(T + marker);
    }
}
