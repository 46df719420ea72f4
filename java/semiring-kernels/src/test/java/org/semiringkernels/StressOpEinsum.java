package org.semiringkernels;

import java.io.ByteArrayOutputStream;
import java.util.List;
import java.util.Random;

/**
 * Einsum workload through the Java API: a compiled batched log-semiring matmul forward and
 * backward, and a max contraction with its argmax, float32. The compiled equations are made per
 * run (compile + use + close is part of what runs concurrently).
 */
public final class StressOpEinsum implements StressOp {

    @Override
    public String name() {
        return "einsum";
    }

    @Override
    public byte[] run(Context context) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        Random rng = new Random(17);
        long[] a = {3, 5, 4}, b = {3, 4, 6};
        try (SemiringEinsum log = SemiringEinsum.compile("bij,bjk->bik", Semiring.LOG, a, b);
             SemiringEinsum max = SemiringEinsum.compile("bi,bij->bj", Semiring.MAX, new long[] {3, 5}, a);
             Tensor x = StressOp.gaussian(rng, a);
             Tensor y = StressOp.gaussian(rng, b);
             Tensor v = StressOp.gaussian(rng, 3, 5);
             SemiringEinsum.Result r = log.forward(context, x, y);
             Tensor up = StressOp.gaussian(rng, log.outputShape());
             SemiringEinsum.Gradients g = log.backward(context, List.of(x, y), r.out(), null, up);
             SemiringEinsum.Result m = max.forward(context, v, x)) {
            StressOpMatmul.add(out, r.out());
            StressOpMatmul.add(out, g.get(0));
            StressOpMatmul.add(out, g.get(1));
            StressOpMatmul.add(out, m.out());
            StressOpMatmul.add(out, m.argmax());
        }
        return out.toByteArray();
    }

    /** Extents that disagree (1000 + marker against 999): the library names both. */
    @Override
    public void provokeError(Context context, int marker) {
        SemiringEinsum.compile("ij,jk->ik", Semiring.LOG, new long[] {2, 1000 + marker}, new long[] {999, 2}).close();
    }

    @Override
    public String errorFragment(int marker) {
        return (1000 + marker) + " in operand";
    }
}
