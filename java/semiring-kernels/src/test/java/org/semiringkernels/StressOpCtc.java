package org.semiringkernels;

import java.io.ByteArrayOutputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Random;

import org.semiringkernels.bindings.semiring_kernels_h;
import org.semiringkernels.bindings.sk_ctc_options;

/**
 * CTC workload through the raw bindings (no Java API for the family yet): fused log-softmax loss
 * and gradient, forced alignment and posteriors, float32, padded targets, ragged lengths.
 */
public final class StressOpCtc implements StressOp {

    static final int T = 16, B = 3, C = 6, S = 4;

    @Override
    public String name() {
        return "ctc";
    }

    @Override
    public byte[] run(Context context) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        Random rng = new Random(13);
        float[] logits = new float[T * B * C];
        for (int i = 0; i < logits.length; i++) {
            logits[i] = (float) (rng.nextGaussian());
        }
        try (Tensor x = Tensor.fromArray(logits, T, B, C);
             Tensor targets = Tensor.fromArray(new long[] {1, 2, 2, 3, 4, 5, 1, 0, 5, 5, 0, 0}, B, S);
             Tensor inLengths = Tensor.fromArray(new long[] {T, T - 3, 5}, B);
             Tensor targetLengths = Tensor.fromArray(new long[] {4, 3, 2}, B);
             Tensor gradLoss = Tensor.fromArray(new float[] {1, 0.5f, -1}, B);
             Tensor loss = Tensor.allocateHost(DType.FLOAT32, B);
             Tensor grad = Tensor.allocateHost(DType.FLOAT32, T, B, C);
             Tensor path = Tensor.allocateHost(DType.INT32, B, T);
             Tensor posteriors = Tensor.allocateHost(DType.FLOAT32, B, T, 2 * S + 1)) {
            call(context, (h, o, arena) -> semiring_kernels_h.sk_ctc_loss_fused_logits(h, o, d(x, arena),
                    d(targets, arena), d(inLengths, arena), d(targetLengths, arena), d(gradLoss, arena),
                    d(loss, arena), d(grad, arena)));
            StressOpMatmul.add(out, loss);
            StressOpMatmul.add(out, grad);
            call(context, (h, o, arena) -> semiring_kernels_h.sk_ctc_forced_align(h, o, d(x, arena),
                    d(targets, arena), d(inLengths, arena), d(targetLengths, arena), d(path, arena),
                    MemorySegment.NULL, MemorySegment.NULL, MemorySegment.NULL));
            StressOpMatmul.add(out, path);
            call(context, (h, o, arena) -> semiring_kernels_h.sk_ctc_posteriors(h, o, d(x, arena),
                    d(targets, arena), d(inLengths, arena), d(targetLengths, arena), d(posteriors, arena)));
            StressOpMatmul.add(out, posteriors);
        }
        return out.toByteArray();
    }

    /** A label C + marker: out of range, and the library names it. */
    @Override
    public void provokeError(Context context, int marker) {
        try (Tensor x = Tensor.fromArray(new float[T * C], T, 1, C);
             Tensor targets = Tensor.fromArray(new long[] {1, C + marker}, 1, 2);
             Tensor inLengths = Tensor.fromArray(new long[] {T}, 1);
             Tensor targetLengths = Tensor.fromArray(new long[] {2}, 1);
             Tensor loss = Tensor.allocateHost(DType.FLOAT32, 1)) {
            call(context, (h, o, arena) -> semiring_kernels_h.sk_ctc_loss(h, o, d(x, arena), d(targets, arena),
                    d(inLengths, arena), d(targetLengths, arena), d(loss, arena)));
        }
    }

    @Override
    public String errorFragment(int marker) {
        return "label " + (C + marker) + " ";
    }

    interface CtcCall {
        int apply(MemorySegment handle, MemorySegment options, Arena arena);
    }

    static MemorySegment d(Tensor t, Arena arena) {
        return Tensor.descriptor(t, arena);
    }

    static void call(Context context, CtcCall call) {
        context.call("ctc", h -> {
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment o = sk_ctc_options.allocate(arena);
                sk_ctc_options.struct_size(o, sk_ctc_options.sizeof());
                Native.check(call.apply(h, o, arena), h);
            }
            return null;
        });
    }
}
