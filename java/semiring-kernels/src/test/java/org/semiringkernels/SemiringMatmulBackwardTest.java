package org.semiringkernels;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import java.util.stream.Stream;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;
import org.semiringkernels.Operands.Layout;
import org.semiringkernels.Reference.Mat;
import org.semiringkernels.SemiringMatmulForwardTest.Case;

/** The backward against the Java reference, finite differences, argmax routing and -inf rows. */
class SemiringMatmulBackwardTest {

    static final int M = SemiringMatmulForwardTest.M, K = SemiringMatmulForwardTest.K, N = SemiringMatmulForwardTest.N;

    static Context context;

    @BeforeAll
    static void open() {
        context = Context.cpu();
    }

    @AfterAll
    static void close() {
        context.close();
    }

    static Stream<org.junit.jupiter.params.provider.Arguments> cases() {
        return SemiringMatmulForwardTest.cases();
    }

    @ParameterizedTest(name = "{0} {1} {2}")
    @MethodSource("cases")
    void backwardMatchesReference(Semiring semiring, DType dtype, Case c) {
        Mat[] ab = SemiringMatmulForwardTest.inputs(semiring, dtype, c, 99 + c.name().hashCode());
        Reference.Forward fwd = Reference.forward(semiring, ab[0], ab[1], c.batch());
        Mat gradC = Operands.rounded(Operands.random(new Random(5), c.batch(), M, N, -1, 1, false), dtype);
        Mat[] expected = Reference.backward(semiring, ab[0], ab[1], fwd, gradC);
        boolean outRank2 = c.aRank2() && c.bRank2();
        try (Operands ops = new Operands()) {
            Tensor a = ops.tensor(ab[0], dtype, c.aLayout(), c.aRank2());
            Tensor b = ops.tensor(ab[1], dtype, c.bLayout(), c.bRank2());
            Tensor out = ops.output(c.batch(), M, N, outRank2, dtype, c.cLayout(), 0);
            Tensor argmax = semiring.hasArgmax()
                    ? ops.output(c.batch(), M, N, outRank2, DType.INT32, Layout.CONTIGUOUS, 0) : null;
            SemiringMatmul.forward(context, semiring, a, b, out, argmax);
            Tensor g = ops.tensor(gradC, dtype, Layout.CONTIGUOUS, outRank2);
            // Gradients are overwritten, not accumulated: start from garbage.
            Tensor gradA = ops.output(ab[0].batch(), M, K, c.aRank2(), dtype, Layout.CONTIGUOUS, 7);
            Tensor gradB = ops.output(ab[1].batch(), K, N, c.bRank2(), dtype, Layout.TRANSPOSED, 7);
            SemiringMatmul.backward(context, semiring, a, b, out, argmax, g, gradA, gradB);
            Assertions2.assertClose(expected[0], Operands.read(gradA), dtype, semiring + " gradA");
            Assertions2.assertClose(expected[1], Operands.read(gradB), dtype, semiring + " gradB");
        }
    }

    @ParameterizedTest
    @EnumSource(value = Semiring.class, names = {"MAX", "MIN"})
    void argmaxIsRecomputedWhenNotGiven(Semiring semiring) {
        Case c = SemiringMatmulForwardTest.CASES.get(3);
        Mat[] ab = SemiringMatmulForwardTest.inputs(semiring, DType.FLOAT64, c, 17);
        Mat gradC = Operands.random(new Random(8), c.batch(), M, N, -1, 1, false);
        Mat[] expected = Reference.backward(semiring, ab[0], ab[1], Reference.forward(semiring, ab[0], ab[1], c.batch()), gradC);
        try (Operands ops = new Operands()) {
            Tensor a = ops.tensor(ab[0], DType.FLOAT64, Layout.CONTIGUOUS, false);
            Tensor b = ops.tensor(ab[1], DType.FLOAT64, Layout.CONTIGUOUS, false);
            Tensor g = ops.tensor(gradC, DType.FLOAT64, Layout.CONTIGUOUS, false);
            // c is not read for MAX/MIN: pass none.
            try (SemiringMatmul.Gradients grads = SemiringMatmul.backward(context, semiring, a, b, null, null, g)) {
                Assertions2.assertClose(expected[0], Operands.read(grads.gradA()), DType.FLOAT64, "gradA");
                Assertions2.assertClose(expected[1], Operands.read(grads.gradB()), DType.FLOAT64, "gradB (summed over the batch)");
            }
        }
    }

    @Test
    void argmaxRoutesEachGradientToExactlyOneTerm() {
        // a row i, b column j: C[i,j] = max_k a[i,k] + b[k,j] with a unique winner k = (i + j) % 3.
        double[] a = new double[2 * 3];
        double[] b = new double[3 * 2];
        for (int i = 0; i < 2; i++) {
            for (int k = 0; k < 3; k++) {
                a[i * 3 + k] = k == i ? 10 : 0;
            }
        }
        for (int k = 0; k < 3; k++) {
            for (int j = 0; j < 2; j++) {
                b[k * 2 + j] = k == (j + 1) % 3 ? 5 : 0;
            }
        }
        try (Tensor at = Tensor.fromArray(a, 2, 3);
             Tensor bt = Tensor.fromArray(b, 3, 2);
             SemiringMatmul.Result r = SemiringMatmul.forward(context, Semiring.MAX, at, bt);
             Tensor g = Tensor.fromArray(new double[] {1, 10, 100, 1000}, 2, 2);
             SemiringMatmul.Gradients grads = SemiringMatmul.backward(context, Semiring.MAX, at, bt, r.c(), r.argmax(), g)) {
            // winners: (0,0) -> k0 (10 vs 5), (0,1) -> k0 (10 vs 5), (1,0) -> k1 (15), (1,1) -> k1 (10 vs 5)
            assertEquals(0, r.argmax().getLong(0, 0));
            assertEquals(0, r.argmax().getLong(0, 1));
            assertEquals(1, r.argmax().getLong(1, 0));
            assertEquals(1, r.argmax().getLong(1, 1));
            double[] gradA = grads.gradA().toDoubleArray();
            assertEquals(1 + 10, gradA[0], "a[0,0] collects row 0");
            assertEquals(0, gradA[1] + gradA[2], "a[0,1], a[0,2] lost");
            assertEquals(100 + 1000, gradA[3 + 1], "a[1,1] collects row 1");
            assertEquals(0, gradA[3] + gradA[5], "a[1,0], a[1,2] lost");
            double[] gradB = grads.gradB().toDoubleArray();
            assertEquals(1, gradB[0], "b[0,0]");
            assertEquals(10, gradB[1], "b[0,1]");
            assertEquals(100, gradB[2], "b[1,0]");
            assertEquals(1000, gradB[3], "b[1,1]");
            assertEquals(0, gradB[4] + gradB[5], "b[2,:]");
        }
    }

    @ParameterizedTest
    @EnumSource(value = Semiring.class, names = {"LOG", "REAL"})
    void gradientsMatchFiniteDifferences(Semiring semiring) {
        Random rng = new Random(2024);
        Mat a = Operands.random(rng, 2, 3, 4, -1, 1, false);
        Mat b = Operands.random(rng, 1, 4, 2, -1, 1, false); // shared, rank 2
        Mat g = Operands.random(rng, 2, 3, 2, -1, 1, false);
        try (Operands ops = new Operands()) {
            Tensor at = ops.tensor(a, DType.FLOAT64, Layout.CONTIGUOUS, false);
            Tensor bt = ops.tensor(b, DType.FLOAT64, Layout.CONTIGUOUS, true);
            Tensor gt = ops.tensor(g, DType.FLOAT64, Layout.CONTIGUOUS, false);
            try (SemiringMatmul.Result r = SemiringMatmul.forward(context, semiring, at, bt);
                 SemiringMatmul.Gradients grads = SemiringMatmul.backward(context, semiring, at, bt, r.c(), null, gt)) {
                checkAgainstFiniteDifferences(semiring, at, bt, gt, at, grads.gradA(), "a");
                checkAgainstFiniteDifferences(semiring, at, bt, gt, bt, grads.gradB(), "b");
            }
        }
    }

    /** Central differences of L = sum(g * (a (x) b)) for each element of {@code wrt}. */
    private static void checkAgainstFiniteDifferences(Semiring semiring, Tensor a, Tensor b, Tensor g, Tensor wrt,
                                                      Tensor grad, String name) {
        double h = 1e-6;
        double[] analytic = grad.toDoubleArray();
        long n = wrt.elementCount();
        long[] shape = wrt.shape();
        for (int flat = 0; flat < n; flat++) {
            long[] index = unravel(flat, shape);
            double original = wrt.getDouble(index);
            wrt.setDouble(original + h, index);
            double up = loss(semiring, a, b, g);
            wrt.setDouble(original - h, index);
            double down = loss(semiring, a, b, g);
            wrt.setDouble(original, index);
            double numeric = (up - down) / (2 * h);
            Assertions2.assertClose(numeric, analytic[flat], 1e-6, semiring + " d L / d " + name + "[" + flat + "]");
        }
    }

    private static double loss(Semiring semiring, Tensor a, Tensor b, Tensor g) {
        try (SemiringMatmul.Result r = SemiringMatmul.forward(context, semiring, a, b)) {
            double[] c = r.c().toDoubleArray();
            double[] w = g.toDoubleArray();
            double sum = 0;
            for (int i = 0; i < c.length; i++) {
                sum += c[i] * w[i];
            }
            return sum;
        }
    }

    private static long[] unravel(long flat, long[] shape) {
        long[] index = new long[shape.length];
        for (int d = shape.length - 1; d >= 0; d--) {
            index[d] = flat % shape[d];
            flat /= shape[d];
        }
        return index;
    }

    @ParameterizedTest
    @EnumSource(value = Semiring.class, names = {"LOG", "MAX", "MIN"})
    void rowsOfTheSemiringZeroGiveTheZeroAndZeroGradients(Semiring semiring) {
        Random rng = new Random(31);
        Mat a = Operands.random(rng, 1, 3, 4, -1, 1, false);
        for (int k = 0; k < 4; k++) {
            a.set(0, 1, k, semiring.zero()); // row 1: -inf for LOG/MAX, +inf for MIN
        }
        Mat b = Operands.random(rng, 1, 4, 2, -1, 1, false);
        Mat g = Operands.random(rng, 1, 3, 2, -1, 1, false);
        Reference.Forward fwd = Reference.forward(semiring, a, b, 1);
        Mat[] expected = Reference.backward(semiring, a, b, fwd, g);
        try (Operands ops = new Operands()) {
            Tensor at = ops.tensor(a, DType.FLOAT64, Layout.CONTIGUOUS, true);
            Tensor bt = ops.tensor(b, DType.FLOAT64, Layout.CONTIGUOUS, true);
            Tensor gt = ops.tensor(g, DType.FLOAT64, Layout.CONTIGUOUS, true);
            try (SemiringMatmul.Result r = SemiringMatmul.forward(context, semiring, at, bt);
                 SemiringMatmul.Gradients grads = SemiringMatmul.backward(context, semiring, at, bt, r.c(), r.argmax(), gt)) {
                for (int j = 0; j < 2; j++) {
                    assertEquals(semiring.zero(), r.c().getDouble(1, j), "C of the zero row");
                    if (r.argmax() != null) {
                        assertEquals(-1, r.argmax().getLong(1, j), "argmax of the zero row");
                    }
                }
                Mat gradA = Operands.read(grads.gradA());
                for (int k = 0; k < 4; k++) {
                    assertEquals(0.0, gradA.get(0, 1, k), "gradient of the zero row (no NaN)");
                }
                Assertions2.assertClose(expected[0], gradA, DType.FLOAT64, "gradA");
                Mat gradB = Operands.read(grads.gradB());
                for (double v : gradB.data()) {
                    assertTrue(Double.isFinite(v), "gradB stays finite");
                }
                Assertions2.assertClose(expected[1], gradB, DType.FLOAT64, "gradB");
            }
        }
    }

    @Test
    void allMinusInfinityLogProductHasZeroGradientEverywhere() {
        double inf = Double.NEGATIVE_INFINITY;
        try (Tensor a = Tensor.fromArray(new float[] {(float) inf, (float) inf, (float) inf, (float) inf}, 2, 2);
             Tensor b = Tensor.fromArray(new float[] {0, 1, 2, 3}, 2, 2);
             SemiringMatmul.Result r = SemiringMatmul.forward(context, Semiring.LOG, a, b);
             Tensor g = Tensor.fromArray(new float[] {1, 1, 1, 1}, 2, 2);
             SemiringMatmul.Gradients grads = SemiringMatmul.backward(context, Semiring.LOG, a, b, r.c(), null, g)) {
            for (float v : r.c().toFloatArray()) {
                assertEquals(Float.NEGATIVE_INFINITY, v);
            }
            for (float v : grads.gradA().toFloatArray()) {
                assertEquals(0f, v);
            }
            for (float v : grads.gradB().toFloatArray()) {
                assertEquals(0f, v);
            }
        }
    }

    @Test
    void skippedGradientsAreNotComputedAndOthersStillAre() {
        Mat a = Operands.random(new Random(4), 1, 2, 3, -1, 1, false);
        Mat b = Operands.random(new Random(5), 1, 3, 2, -1, 1, false);
        Mat g = Operands.random(new Random(6), 1, 2, 2, -1, 1, false);
        Mat[] expected = Reference.backward(Semiring.REAL, a, b, Reference.forward(Semiring.REAL, a, b, 1), g);
        try (Operands ops = new Operands()) {
            Tensor at = ops.tensor(a, DType.FLOAT64, Layout.CONTIGUOUS, true);
            Tensor bt = ops.tensor(b, DType.FLOAT64, Layout.CONTIGUOUS, true);
            Tensor gt = ops.tensor(g, DType.FLOAT64, Layout.CONTIGUOUS, true);
            Tensor gradB = ops.output(1, 3, 2, true, DType.FLOAT64, Layout.CONTIGUOUS, 0);
            SemiringMatmul.backward(context, Semiring.REAL, at, bt, null, null, gt, null, gradB);
            Assertions2.assertClose(expected[1], Operands.read(gradB), DType.FLOAT64, "gradB alone");
        }
    }

    @Test
    void booleanHasNoGradient() {
        try (Tensor a = Tensor.fromArray(new float[] {1, 0, 0, 1}, 2, 2);
             Tensor g = Tensor.fromArray(new float[] {1, 1, 1, 1}, 2, 2)) {
            UnsupportedOperationException e = assertThrows(UnsupportedOperationException.class,
                    () -> SemiringMatmul.backward(context, Semiring.BOOLEAN, a, a, null, null, g));
            assertTrue(e.getMessage().contains("'semiring'") && e.getMessage().contains("BOOLEAN"), e.getMessage());
        }
    }
}
