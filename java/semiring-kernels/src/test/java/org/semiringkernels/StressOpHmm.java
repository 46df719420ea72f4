package org.semiringkernels;

import java.io.ByteArrayOutputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Random;

import org.semiringkernels.bindings.semiring_kernels_h;
import org.semiringkernels.bindings.sk_hmm_options;

/**
 * HMM workload through the raw bindings (no Java API for the family yet): factored forward,
 * backward (all gradients) and Viterbi, LOG and MAX, float64, ragged lengths.
 */
public final class StressOpHmm implements StressOp {

    static final int B = 3, T = 12, N = 5;

    @Override
    public String name() {
        return "hmm";
    }

    static double[] random(Random rng, int n) {
        double[] v = new double[n];
        for (int i = 0; i < n; i++) {
            v[i] = rng.nextDouble() * 3 - 2;
        }
        return v;
    }

    @Override
    public byte[] run(Context context) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        Random rng = new Random(9);
        try (Tensor initial = Tensor.fromArray(random(rng, N), N);
             Tensor transition = Tensor.fromArray(random(rng, N * N), N, N);
             Tensor emission = Tensor.fromArray(random(rng, B * T * N), B, T, N);
             Tensor lengths = Tensor.fromArray(new int[] {T, T - 4, 1}, B);
             Tensor grad = Tensor.fromArray(new double[] {1, -0.5, 2}, B)) {
            for (int semiring : new int[] {semiring_kernels_h.SK_SEMIRING_LOG(), semiring_kernels_h.SK_SEMIRING_MAX()}) {
                try (Tensor z = Tensor.allocateHost(DType.FLOAT64, B);
                     Tensor gi = Tensor.allocateHost(DType.FLOAT64, N);
                     Tensor gt = Tensor.allocateHost(DType.FLOAT64, N, N);
                     Tensor ge = Tensor.allocateHost(DType.FLOAT64, B, T, N);
                     Tensor path = Tensor.allocateHost(DType.INT32, B, T)) {
                    call(context, semiring, (h, o, arena) -> semiring_kernels_h.sk_hmm_factored_forward(h, o,
                            d(initial, arena), d(transition, arena), d(emission, arena), d(lengths, arena), d(z, arena)));
                    call(context, semiring, (h, o, arena) -> semiring_kernels_h.sk_hmm_factored_backward(h, o,
                            d(initial, arena), d(transition, arena), d(emission, arena), d(lengths, arena),
                            d(grad, arena), d(gi, arena), d(gt, arena), d(ge, arena)));
                    StressOpMatmul.add(out, z);
                    StressOpMatmul.add(out, gi);
                    StressOpMatmul.add(out, gt);
                    StressOpMatmul.add(out, ge);
                    if (semiring == semiring_kernels_h.SK_SEMIRING_MAX()) {
                        call(context, semiring, (h, o, arena) -> semiring_kernels_h.sk_hmm_factored_viterbi(h, o,
                                d(initial, arena), d(transition, arena), d(emission, arena), d(lengths, arena),
                                d(z, arena), d(path, arena)));
                        StressOpMatmul.add(out, path);
                    }
                }
            }
        }
        return out.toByteArray();
    }

    /** lengths[0] = T + marker: the library names the value it rejects. */
    @Override
    public void provokeError(Context context, int marker) {
        try (Tensor initial = Tensor.fromArray(new double[N], N);
             Tensor transition = Tensor.fromArray(new double[N * N], N, N);
             Tensor emission = Tensor.fromArray(new double[T * N], 1, T, N);
             Tensor lengths = Tensor.fromArray(new int[] {T + marker}, 1);
             Tensor z = Tensor.allocateHost(DType.FLOAT64, 1)) {
            call(context, semiring_kernels_h.SK_SEMIRING_LOG(), (h, o, arena) -> semiring_kernels_h.sk_hmm_factored_forward(
                    h, o, d(initial, arena), d(transition, arena), d(emission, arena), d(lengths, arena), d(z, arena)));
        }
    }

    @Override
    public String errorFragment(int marker) {
        return "= " + (T + marker) + " ";
    }

    interface HmmCall {
        int apply(MemorySegment handle, MemorySegment options, Arena arena);
    }

    static MemorySegment d(Tensor t, Arena arena) {
        return Tensor.descriptor(t, arena);
    }

    static void call(Context context, int semiring, HmmCall call) {
        context.call("hmm", h -> {
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment o = sk_hmm_options.allocate(arena);
                sk_hmm_options.struct_size(o, sk_hmm_options.sizeof());
                sk_hmm_options.semiring(o, semiring);
                sk_hmm_options.initial_convention(o, 0);
                Native.check(call.apply(h, o, arena), h);
            }
            return null;
        });
    }
}
