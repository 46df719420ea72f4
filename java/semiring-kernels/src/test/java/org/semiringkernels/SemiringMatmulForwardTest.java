package org.semiringkernels;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;
import org.semiringkernels.Operands.Layout;
import org.semiringkernels.Reference.Mat;

/** The forward against the plain-Java float64 reference, over semirings, dtypes, batching and layouts. */
class SemiringMatmulForwardTest {

    static final int M = 4, K = 6, N = 5;
    static final Semiring[] DIFFERENTIABLE = {Semiring.LOG, Semiring.MAX, Semiring.REAL, Semiring.MIN};

    static Context context;

    @BeforeAll
    static void open() {
        context = Context.cpu();
    }

    @AfterAll
    static void close() {
        context.close();
    }

    /** How a case shapes and lays out its operands. */
    record Case(String name, int batch, boolean aRank2, boolean bRank2, boolean aShared, boolean bShared,
                Layout aLayout, Layout bLayout, Layout cLayout) {
        @Override
        public String toString() {
            return name;
        }
    }

    static final List<Case> CASES = List.of(
            new Case("matrices (rank 2)", 1, true, true, true, true, Layout.CONTIGUOUS, Layout.CONTIGUOUS, Layout.CONTIGUOUS),
            new Case("batched", 3, false, false, false, false, Layout.CONTIGUOUS, Layout.CONTIGUOUS, Layout.CONTIGUOUS),
            new Case("a shared (rank 2)", 3, true, false, true, false, Layout.CONTIGUOUS, Layout.CONTIGUOUS, Layout.CONTIGUOUS),
            new Case("b shared (batch extent 1)", 3, false, false, false, true, Layout.CONTIGUOUS, Layout.CONTIGUOUS, Layout.CONTIGUOUS),
            new Case("transposed views", 2, false, false, false, false, Layout.TRANSPOSED, Layout.TRANSPOSED, Layout.CONTIGUOUS),
            new Case("strided a, transposed c", 2, false, false, false, false, Layout.STRIDED, Layout.CONTIGUOUS, Layout.TRANSPOSED),
            new Case("strided b, rank 2", 1, true, true, true, true, Layout.CONTIGUOUS, Layout.STRIDED, Layout.TRANSPOSED),
            new Case("b broadcast with batch stride 0", 3, false, false, false, false, Layout.TRANSPOSED, Layout.BROADCAST, Layout.CONTIGUOUS));

    static Stream<Arguments> cases() {
        List<Arguments> args = new ArrayList<>();
        for (Semiring s : DIFFERENTIABLE) {
            for (DType d : new DType[] {DType.FLOAT32, DType.FLOAT64}) {
                for (Case c : CASES) {
                    args.add(Arguments.of(s, d, c));
                }
            }
        }
        return args.stream();
    }

    /** Inputs for a case: integers for MAX/MIN (so that ties occur), reals otherwise. */
    static Mat[] inputs(Semiring semiring, DType dtype, Case c, long seed) {
        Random rng = new Random(seed);
        boolean integers = semiring.hasArgmax();
        Mat a = Operands.random(rng, c.aShared() ? 1 : c.batch(), M, K, -3, 3, integers);
        Mat b = Operands.random(rng, c.bShared() ? 1 : c.batch(), K, N, -3, 3, integers);
        if (c.bLayout() == Layout.BROADCAST) {
            b = Operands.repeated(Operands.random(rng, 1, K, N, -3, 3, integers), c.batch());
        }
        return new Mat[] {Operands.rounded(a, dtype), Operands.rounded(b, dtype)};
    }

    @ParameterizedTest(name = "{0} {1} {2}")
    @MethodSource("cases")
    void forwardMatchesReference(Semiring semiring, DType dtype, Case c) {
        Mat[] ab = inputs(semiring, dtype, c, 42 + c.name().hashCode());
        Reference.Forward expected = Reference.forward(semiring, ab[0], ab[1], c.batch());
        boolean outRank2 = c.aRank2() && c.bRank2();
        try (Operands ops = new Operands()) {
            Tensor a = ops.tensor(ab[0], dtype, c.aLayout(), c.aRank2());
            Tensor b = ops.tensor(ab[1], dtype, c.bLayout(), c.bRank2());
            Tensor out = ops.output(c.batch(), M, N, outRank2, dtype, c.cLayout(), 12345);
            Tensor argmax = semiring.hasArgmax()
                    ? ops.output(c.batch(), M, N, outRank2, DType.INT32, Layout.CONTIGUOUS, -7) : null;
            SemiringMatmul.forward(context, semiring, a, b, out, argmax);
            Assertions2.assertClose(expected.c(), Operands.read(out), dtype, semiring + " c");
            if (argmax != null) {
                assertArrayEquals(expected.argmax(), toInts(Operands.read(argmax)), semiring + " argmax");
            }
        }
    }

    @ParameterizedTest
    @EnumSource(value = Semiring.class, names = {"LOG", "MAX", "REAL", "MIN"})
    void allocatingForwardReturnsOutputsOnTheContextDevice(Semiring semiring) {
        Mat[] ab = inputs(semiring, DType.FLOAT64, CASES.get(2), 7);
        Reference.Forward expected = Reference.forward(semiring, ab[0], ab[1], 3);
        try (Operands ops = new Operands()) {
            Tensor a = ops.tensor(ab[0], DType.FLOAT64, Layout.CONTIGUOUS, true);
            Tensor b = ops.tensor(ab[1], DType.FLOAT64, Layout.CONTIGUOUS, false);
            try (SemiringMatmul.Result r = SemiringMatmul.forward(context, semiring, a, b)) {
                assertArrayEquals(new long[] {3, M, N}, r.c().shape());
                assertEquals(Device.CPU, r.c().device());
                Assertions2.assertClose(expected.c(), Operands.read(r.c()), DType.FLOAT64, "c");
                if (semiring.hasArgmax()) {
                    assertEquals(DType.INT32, r.argmax().dtype());
                    assertArrayEquals(expected.argmax(), r.argmax().toIntArray());
                } else {
                    assertNull(r.argmax());
                }
            }
        }
    }

    @Test
    void selectedBatchElementIsAnOffsetView() {
        Random rng = new Random(3);
        Mat stack = Operands.random(rng, 3, M, K, -1, 1, false);
        Mat b = Operands.random(rng, 1, K, N, -1, 1, false);
        try (Operands ops = new Operands()) {
            Tensor a3 = ops.tensor(stack, DType.FLOAT64, Layout.CONTIGUOUS, false);
            Tensor a = a3.select(0, 2);
            Tensor bt = ops.tensor(b, DType.FLOAT64, Layout.CONTIGUOUS, true);
            try (SemiringMatmul.Result r = SemiringMatmul.forward(context, Semiring.LOG, a, bt)) {
                Mat secondA = new Mat(1, M, K, java.util.Arrays.copyOfRange(stack.data(), 2 * M * K, 3 * M * K));
                Reference.Forward expected = Reference.forward(Semiring.LOG, secondA, b, 1);
                Assertions2.assertClose(expected.c(), Operands.read(r.c()), DType.FLOAT64, "c of the selected matrix");
            }
        }
    }

    @Test
    void tiesGoToTheLowestIndex() {
        // Every term of row 0 equals 1: MAX and MIN must both report k = 0.
        try (Tensor a = Tensor.fromArray(new double[] {0, 0, 0, 1, 2, 3}, 2, 3);
             Tensor b = Tensor.fromArray(new double[] {1, 1, 1}, 3, 1)) {
            for (Semiring s : new Semiring[] {Semiring.MAX, Semiring.MIN}) {
                try (SemiringMatmul.Result r = SemiringMatmul.forward(context, s, a, b)) {
                    assertEquals(0, r.argmax().getLong(0, 0), s + " tie");
                    assertEquals(s == Semiring.MAX ? 2 : 0, r.argmax().getLong(1, 0), s + " distinct");
                }
            }
        }
    }

    @Test
    void emptyInnerDimensionGivesTheSemiringZero() {
        for (Semiring s : DIFFERENTIABLE) {
            try (Tensor a = Tensor.allocateHost(DType.FLOAT64, 2, 0);
                 Tensor b = Tensor.allocateHost(DType.FLOAT64, 0, 3);
                 SemiringMatmul.Result r = SemiringMatmul.forward(context, s, a, b)) {
                for (double v : r.c().toDoubleArray()) {
                    assertEquals(s.zero(), v, s + " with K = 0");
                }
                if (s.hasArgmax()) {
                    for (int k : r.argmax().toIntArray()) {
                        assertEquals(-1, k, s + " argmax with K = 0");
                    }
                }
            }
        }
    }

    @Test
    void booleanSemiringIsOrOfAnds() {
        try (Tensor a = Tensor.fromArray(new float[] {1, 0, 0, 0, 2, 0}, 2, 3);
             Tensor b = Tensor.fromArray(new float[] {0, 1, 1, 0, 0, 0}, 3, 2);
             SemiringMatmul.Result r = SemiringMatmul.forward(context, Semiring.BOOLEAN, a, b)) {
            assertArrayEquals(new float[] {0, 1, 1, 0}, r.c().toFloatArray());
        }
    }

    @Test
    void nanPropagatesToTheAffectedRow() {
        Random rng = new Random(11);
        Mat a = Operands.random(rng, 1, 3, 4, -1, 1, false);
        a.set(0, 1, 2, Double.NaN);
        Mat b = Operands.random(rng, 1, 4, 2, -1, 1, false);
        for (Semiring s : DIFFERENTIABLE) {
            try (Operands ops = new Operands()) {
                Tensor at = ops.tensor(a, DType.FLOAT64, Layout.CONTIGUOUS, true);
                Tensor bt = ops.tensor(b, DType.FLOAT64, Layout.CONTIGUOUS, true);
                try (SemiringMatmul.Result r = SemiringMatmul.forward(context, s, at, bt)) {
                    Mat c = Operands.read(r.c());
                    for (int j = 0; j < 2; j++) {
                        assertTrue(Double.isNaN(c.get(0, 1, j)), s + ": NaN row");
                        assertTrue(Double.isFinite(c.get(0, 0, j)) && Double.isFinite(c.get(0, 2, j)), s + ": other rows");
                        if (s.hasArgmax()) {
                            assertEquals(2, r.argmax().getLong(1, j), s + ": a NaN term wins the argmax");
                        }
                    }
                }
            }
        }
    }

    static int[] toInts(Mat m) {
        int[] out = new int[m.data().length];
        for (int i = 0; i < out.length; i++) {
            out[i] = (int) m.data()[i];
        }
        return out;
    }
}
