package org.semiringkernels;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Random;

/** Matmul workload: forward (argmax for MAX/MIN) and backward of every semiring, float32 and float64. */
public final class StressOpMatmul implements StressOp {

    @Override
    public String name() {
        return "matmul";
    }

    @Override
    public byte[] run(Context context) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        Random rng = new Random(5);
        double[] av = new double[2 * 9 * 7], bv = new double[7 * 5], gv = new double[2 * 9 * 5];
        for (double[] v : new double[][] {av, bv, gv}) {
            for (int i = 0; i < v.length; i++) {
                v[i] = rng.nextDouble() * 4 - 3;
            }
        }
        for (boolean single : new boolean[] {true, false}) {
            try (Tensor a = single ? Tensor.fromArray(toFloat(av), 2, 9, 7) : Tensor.fromArray(av, 2, 9, 7);
                 Tensor b = single ? Tensor.fromArray(toFloat(bv), 7, 5) : Tensor.fromArray(bv, 7, 5);
                 Tensor g = single ? Tensor.fromArray(toFloat(gv), 2, 9, 5) : Tensor.fromArray(gv, 2, 9, 5)) {
                for (Semiring s : Semiring.values()) {
                    try (SemiringMatmul.Result r = SemiringMatmul.forward(context, s, a, b)) {
                        add(out, r.c());
                        if (r.argmax() != null) {
                            add(out, r.argmax());
                        }
                        if (s == Semiring.BOOLEAN) {
                            continue;
                        }
                        try (SemiringMatmul.Gradients grads = SemiringMatmul.backward(context, s, a, b, r.c(), r.argmax(), g)) {
                            add(out, grads.gradA());
                            add(out, grads.gradB());
                        }
                    }
                }
            }
        }
        return out.toByteArray();
    }

    /** The library's range check of a caller's argmax (MAX backward) names the row holding it. */
    @Override
    public void provokeError(Context context, int marker) {
        int rows = marker + 1;
        int[] argmax = new int[rows * 2];
        argmax[rows * 2 - 1] = 7; // K = 2: out of range, in row `marker`
        try (Tensor a = Tensor.fromArray(new float[rows * 2], rows, 2);
             Tensor b = Tensor.fromArray(new float[] {1, 2, 3, 4}, 2, 2);
             Tensor c = Tensor.fromArray(new float[rows * 2], rows, 2);
             Tensor index = Tensor.fromArray(argmax, rows, 2)) {
            SemiringMatmul.backward(context, Semiring.MAX, a, b, c, index, c);
        }
    }

    @Override
    public String errorFragment(int marker) {
        return "row " + marker + " holds";
    }

    static float[] toFloat(double[] v) {
        float[] f = new float[v.length];
        for (int i = 0; i < v.length; i++) {
            f[i] = (float) v[i];
        }
        return f;
    }

    static void add(ByteArrayOutputStream out, Tensor t) {
        ByteBuffer bytes = t.segment().asByteBuffer().order(ByteOrder.nativeOrder());
        byte[] copy = new byte[bytes.remaining()];
        bytes.get(copy);
        out.writeBytes(copy);
    }
}
