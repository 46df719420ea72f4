package org.semiringkernels.cli.bench;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Random;

import org.semiringkernels.Context;
import org.semiringkernels.DType;
import org.semiringkernels.Semiring;
import org.semiringkernels.SemiringMatmul;
import org.semiringkernels.Tensor;

/** The batched semiring matmul's bench configurations (the sizes of sk_bench's and the README's table). */
final class MatmulBench extends BaseBench {

    private final Semiring semiring;
    private final boolean backward;
    private final int batch;
    private final int size;
    private Tensor a, b, c, argmax, gradC, gradA, gradB;

    private MatmulBench(Semiring semiring, boolean backward, int batch, int size, Anchor anchor) {
        super("matmul", "GFLOP/s-eq", anchor);
        this.semiring = semiring;
        this.backward = backward;
        this.batch = batch;
        this.size = size;
    }

    static List<BenchCase> all(boolean quick) {
        int big = quick ? 256 : 2048, small = quick ? 64 : 256, batch = quick ? 4 : 16;
        List<BenchCase> out = new ArrayList<>();
        out.add(new MatmulBench(Semiring.REAL, false, 1, big, quick ? null : Anchors.h100("torch.einsum FP32 (cuBLAS)", 0.344)));
        out.add(new MatmulBench(Semiring.LOG, false, 1, big, quick ? null : Anchors.h100("torch-semiring-einsum log", 232.17)));
        out.add(new MatmulBench(Semiring.MAX, false, 1, big, quick ? null : Anchors.h100("torch-semiring-einsum max", 92.60)));
        out.add(new MatmulBench(Semiring.LOG, true, 1, big, quick ? null : Anchors.h100("torch-semiring-einsum log fwd+bwd", 585.31)));
        out.add(new MatmulBench(Semiring.LOG, false, batch, small, quick ? null : Anchors.h100("torch-semiring-einsum log", 7.75)));
        out.add(new MatmulBench(Semiring.MAX, false, batch, small, quick ? null : Anchors.h100("torch-semiring-einsum max", 3.17)));
        return out;
    }


    @Override
    public String name() {
        String eq = batch == 1 ? "ij,jk->ik" : "bij,bjk->bik";
        return String.format(Locale.ROOT, "%s %s %s%d^3 f32 %s", semiring.name().toLowerCase(Locale.ROOT), eq,
                batch == 1 ? "" : batch + "x", size, backward ? "fwd+bwd" : "fwd");
    }

    @Override
    public double work() {
        return (backward ? 6.0 : 2.0) * batch * (double) size * size * size / 1e9;
    }



    @Override
    public void prepare(Context context) {
        long[] shape = batch == 1 ? new long[] {size, size} : new long[] {batch, size, size};
        Random rng = new Random(12345);
        a = BenchTensors.uniform(context, rng, -3, 3, shape);
        b = BenchTensors.uniform(context, rng, -3, 3, shape);
        c = Tensor.allocate(context, DType.FLOAT32, shape);
        if (backward) {
            gradC = BenchTensors.uniform(context, rng, -3, 3, shape);
            gradA = Tensor.allocate(context, DType.FLOAT32, shape);
            gradB = Tensor.allocate(context, DType.FLOAT32, shape);
        }
    }

    @Override
    public void run(Context context) {
        SemiringMatmul.forward(context, semiring, a, b, c, argmax);
        if (backward) {
            SemiringMatmul.backward(context, semiring, a, b, c, argmax, gradC, gradA, gradB);
        }
    }

    @Override
    public void close() {
        for (Tensor t : new Tensor[] {a, b, c, argmax, gradC, gradA, gradB}) {
            if (t != null) {
                t.close();
            }
        }
    }
}
