package org.semiringkernels;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.List;
import java.util.Random;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** SemiringEinsum against plain-Java float64 loops: values, argmax, gradients, errors. */
class SemiringEinsumTest {

    static Context context;

    @BeforeAll
    static void open() {
        context = Context.cpu();
    }

    @AfterAll
    static void close() {
        context.close();
    }

    static double[] random(Random rng, int n, double lo, double hi) {
        double[] x = new double[n];
        for (int i = 0; i < n; i++) {
            x[i] = lo + (hi - lo) * rng.nextDouble();
        }
        return x;
    }

    static double plus(Semiring s, double acc, double v) {
        return switch (s) {
            case REAL -> acc + v;
            case MAX -> Math.max(acc, v);
            case MIN -> Math.min(acc, v);
            default -> throw new IllegalArgumentException();
        };
    }

    /** bij,bjk->bik by loops (LOG through a max-shifted sum). */
    static double[] batchedProduct(Semiring s, double[] a, double[] b, int batch, int m, int k, int n) {
        double[] c = new double[batch * m * n];
        for (int bi = 0; bi < batch; bi++) {
            for (int i = 0; i < m; i++) {
                for (int j = 0; j < n; j++) {
                    double[] terms = new double[k];
                    for (int t = 0; t < k; t++) {
                        double x = a[(bi * m + i) * k + t], y = b[(bi * k + t) * n + j];
                        terms[t] = s == Semiring.REAL ? x * y : x + y;
                    }
                    double v;
                    if (s == Semiring.LOG) {
                        double hi = Arrays.stream(terms).max().orElse(Double.NEGATIVE_INFINITY);
                        double sum = 0;
                        for (double t : terms) {
                            sum += Math.exp(t - hi);
                        }
                        v = hi + Math.log(sum);
                    } else {
                        v = s.zero();
                        for (double t : terms) {
                            v = plus(s, v, t);
                        }
                    }
                    c[(bi * m + i) * n + j] = v;
                }
            }
        }
        return c;
    }

    static Tensor cast(double[] x, DType dtype, long... shape) {
        if (dtype == DType.FLOAT64) {
            return Tensor.fromArray(x, shape);
        }
        float[] f = new float[x.length];
        for (int i = 0; i < x.length; i++) {
            f[i] = (float) x[i];
        }
        return Tensor.fromArray(f, shape);
    }

    @ParameterizedTest
    @EnumSource(value = Semiring.class, names = {"LOG", "MAX", "MIN", "REAL"})
    void batchedMatmulEquationMatchesLoops(Semiring semiring) {
        Random rng = new Random(1);
        int batch = 3, m = 4, k = 5, n = 6;
        double[] a = random(rng, batch * m * k, -2, 2), b = random(rng, batch * k * n, -2, 2);
        double[] want = batchedProduct(semiring, a, b, batch, m, k, n);
        for (DType dtype : new DType[] {DType.FLOAT32, DType.FLOAT64}) {
            double tol = dtype == DType.FLOAT32 ? 1e-4 : 1e-12;
            try (SemiringEinsum e = SemiringEinsum.compile("bij,bjk->bik", semiring, new long[] {batch, m, k},
                    new long[] {batch, k, n});
                 Tensor ta = cast(a, dtype, batch, m, k);
                 Tensor tb = cast(b, dtype, batch, k, n);
                 SemiringEinsum.Result r = e.forward(context, ta, tb)) {
                assertArrayEquals(new long[] {batch, m, n}, r.out().shape());
                double[] got = r.out().toDoubleArrayConverted();
                for (int i = 0; i < want.length; i++) {
                    assertEquals(want[i], got[i], tol * (1 + Math.abs(want[i])), semiring + " " + dtype + " at " + i);
                }
                if (semiring.hasArgmax()) {
                    assertArrayEquals(new long[] {batch, m, n, 1}, r.argmax().shape());
                    long[] idx = r.argmax().toLongArray();
                    for (int bi = 0; bi < batch; bi++) {
                        for (int i = 0; i < m; i++) {
                            for (int j = 0; j < n; j++) {
                                int t = (int) idx[(bi * m + i) * n + j];
                                double term = a[(bi * m + i) * k + t] + b[(bi * k + t) * n + j];
                                assertEquals(want[(bi * m + i) * n + j], term, 1e-12, "argmax term");
                            }
                        }
                    }
                } else {
                    assertNull(r.argmax());
                }
            }
        }
    }

    @Test
    void diagonalAndEllipsis() {
        double[] x = {1, 2, 3, 4, 5, 6, 7, 8, 9};
        try (SemiringEinsum diag = SemiringEinsum.compile("ii->i", Semiring.REAL, new long[] {3, 3});
             Tensor t = Tensor.fromArray(x, 3, 3);
             SemiringEinsum.Result r = diag.forward(context, t)) {
            assertArrayEquals(new double[] {1, 5, 9}, r.out().toDoubleArray());
        }
        // "...ij,...jk->...ik" with a (2, 1, 2) left operand broadcast against a (3, 2, 2) right one.
        double[] a = {1, 2, 3, 4}, b = {1, 0, 0, 1, 2, 0, 0, 2, 0, 1, 1, 0};
        try (SemiringEinsum e = SemiringEinsum.compile("...ij,...jk->...ik", Semiring.REAL, new long[] {1, 2, 2},
                new long[] {3, 2, 2});
             Tensor ta = Tensor.fromArray(a, 1, 2, 2);
             Tensor tb = Tensor.fromArray(b, 3, 2, 2);
             SemiringEinsum.Result r = e.forward(context, ta, tb)) {
            assertArrayEquals(new long[] {3, 2, 2}, r.out().shape());
            assertArrayEquals(new double[] {1, 2, 3, 4, 2, 4, 6, 8, 2, 1, 4, 3}, r.out().toDoubleArray());
        }
    }

    /** dL/dX of L = sum g * out for "bi,bij,bj->b" in LOG and REAL against central differences. */
    @ParameterizedTest
    @EnumSource(value = Semiring.class, names = {"LOG", "REAL"})
    void gradientsMatchFiniteDifferences(Semiring semiring) {
        Random rng = new Random(7);
        long[][] shapes = {{2, 3}, {2, 3, 4}, {2, 4}};
        double[][] xs = {random(rng, 6, -1, 1), random(rng, 24, -1, 1), random(rng, 8, -1, 1)};
        double[] g = {0.7, -1.3};
        try (SemiringEinsum e = SemiringEinsum.compile("bi,bij,bj->b", semiring, shapes);
             Tensor go = Tensor.fromArray(g, 2)) {
            List<Tensor> ops = List.of(Tensor.fromArray(xs[0], shapes[0]), Tensor.fromArray(xs[1], shapes[1]),
                    Tensor.fromArray(xs[2], shapes[2]));
            try (SemiringEinsum.Result r = e.forward(context, ops.toArray(new Tensor[0]));
                 SemiringEinsum.Gradients grads = e.backward(context, ops, r.out(), null, go)) {
                double h = 1e-6;
                for (int op = 0; op < 3; op++) {
                    double[] got = grads.get(op).toDoubleArray();
                    for (int i = 0; i < xs[op].length; i++) {
                        double keep = xs[op][i];
                        xs[op][i] = keep + h;
                        double up = loss(e, xs, shapes, g);
                        xs[op][i] = keep - h;
                        double down = loss(e, xs, shapes, g);
                        xs[op][i] = keep;
                        double fd = (up - down) / (2 * h);
                        assertEquals(fd, got[i], 1e-6 * (1 + Math.abs(fd)), semiring + " grad[" + op + "][" + i + "]");
                    }
                }
            } finally {
                ops.forEach(Tensor::close);
            }
        }
    }

    static double loss(SemiringEinsum e, double[][] xs, long[][] shapes, double[] g) {
        Tensor[] ops = new Tensor[xs.length];
        for (int i = 0; i < xs.length; i++) {
            ops[i] = Tensor.fromArray(xs[i], shapes[i]);
        }
        try (SemiringEinsum.Result r = e.forward(context, ops)) {
            double[] out = r.out().toDoubleArray();
            double sum = 0;
            for (int i = 0; i < out.length; i++) {
                sum += g[i] * out[i];
            }
            return sum;
        } finally {
            for (Tensor t : ops) {
                t.close();
            }
        }
    }

    /** MAX: the upstream gradient lands on the argmax terms only. */
    @Test
    void maxGradientRoutesThroughTheArgmax() {
        double[] a = {0, 5, 1, 2}, b = {3, 0, 1, 4};  // (2, 2) each: out[i,k] = max_j a[i,j] + b[j,k]
        try (SemiringEinsum e = SemiringEinsum.compile("ij,jk->ik", Semiring.MAX, new long[] {2, 2}, new long[] {2, 2});
             Tensor ta = Tensor.fromArray(a, 2, 2);
             Tensor tb = Tensor.fromArray(b, 2, 2);
             Tensor go = Tensor.fromArray(new double[] {1, 10, 100, 1000}, 2, 2);
             SemiringEinsum.Result r = e.forward(context, ta, tb);
             SemiringEinsum.Gradients grads = e.backward(context, List.of(ta, tb), null, r.argmax(), go)) {
            // out = [[max(3, 6), max(0, 9)], [max(4, 3), max(1, 6)]] = [[6, 9], [4, 6]], argmax j = [[1, 1], [0, 1]]
            assertArrayEquals(new double[] {6, 9, 4, 6}, r.out().toDoubleArray());
            assertArrayEquals(new long[] {1, 1, 0, 1}, r.argmax().toLongArray());
            assertArrayEquals(new double[] {0, 11, 100, 1000}, grads.get(0).toDoubleArray());
            assertArrayEquals(new double[] {100, 0, 1, 1010}, grads.get(1).toDoubleArray());
        }
    }

    @Test
    void logZeroGradientConventionIsSelectable() {
        double ninf = Double.NEGATIVE_INFINITY;
        for (SemiringEinsum.ZeroGradient convention : SemiringEinsum.ZeroGradient.values()) {
            try (SemiringEinsum e = SemiringEinsum.compile("ij->i", Semiring.LOG,
                    new SemiringEinsum.Options(convention, 0), new long[] {2, 2});
                 Tensor x = Tensor.fromArray(new double[] {ninf, ninf, 0, 0}, 2, 2);
                 Tensor go = Tensor.fromArray(new double[] {1, 1}, 2);
                 SemiringEinsum.Result r = e.forward(context, x);
                 SemiringEinsum.Gradients g = e.backward(context, List.of(x), r.out(), null, go)) {
                double[] grad = g.get(0).toDoubleArray();
                assertEquals(ninf, r.out().toDoubleArray()[0]);
                if (convention == SemiringEinsum.ZeroGradient.ZERO) {
                    assertArrayEquals(new double[] {0, 0, 0.5, 0.5}, grad, 1e-15);
                } else {
                    assertTrue(Double.isNaN(grad[0]) && Double.isNaN(grad[1]));
                    assertArrayEquals(new double[] {0.5, 0.5}, Arrays.copyOfRange(grad, 2, 4), 1e-15);
                }
            }
        }
    }

    @Test
    void planProperties() {
        try (SemiringEinsum e = SemiringEinsum.compile("...ij,jk->k...", Semiring.MAX, new long[] {2, 3, 4},
                new long[] {4, 5})) {
            assertEquals(2, e.operandCount());
            assertArrayEquals(new long[] {5, 2}, e.outputShape());
            assertEquals(2, e.summedCount());
            assertArrayEquals(new long[] {5, 2, 2}, e.argmaxShape());
            assertTrue(e.workspaceBytes(DType.FLOAT32, false) > 0);
            assertTrue(e.workspaceBytes(DType.FLOAT64, true) > 0);
        }
    }

    @Test
    void malformedEquationsNameThePosition() {
        SemiringKernelsException e = assertThrows(SemiringKernelsException.class,
                () -> SemiringEinsum.compile("ij,jk->ix", Semiring.REAL, new long[] {2, 3}, new long[] {3, 4}));
        assertTrue(e.getMessage().contains("position 8"), e.getMessage());
        assertTrue(e.getMessage().contains("'x'"), e.getMessage());
        SemiringKernelsException shape = assertThrows(SemiringKernelsException.class,
                () -> SemiringEinsum.compile("ij,jk->ik", Semiring.REAL, new long[] {2, 3}, new long[] {4, 4}));
        assertTrue(shape.getMessage().contains("position 3"), shape.getMessage());
    }

    @Test
    void badArgumentsAreRejectedBeforeTheCall() {
        try (SemiringEinsum e = SemiringEinsum.compile("ij,jk->ik", Semiring.LOG, new long[] {2, 3}, new long[] {3, 4});
             Tensor a = Tensor.fromArray(new double[6], 2, 3);
             Tensor b = Tensor.fromArray(new double[12], 3, 4);
             Tensor wrong = Tensor.fromArray(new double[12], 4, 3);
             Tensor bf = Tensor.fromArray(new float[12], 3, 4);
             Tensor out = Tensor.fromArray(new double[8], 2, 4);
             Tensor longArgmax = Tensor.fromArray(new long[8], 2, 4, 1)) {
            IllegalArgumentException count = assertThrows(IllegalArgumentException.class,
                    () -> e.forward(context, List.of(a), out, null));
            assertTrue(count.getMessage().contains("'operands'"), count.getMessage());
            IllegalArgumentException shape = assertThrows(IllegalArgumentException.class,
                    () -> e.forward(context, List.of(a, wrong), out, null));
            assertTrue(shape.getMessage().contains("'operands[1]'"), shape.getMessage());
            IllegalArgumentException dtype = assertThrows(IllegalArgumentException.class,
                    () -> e.forward(context, List.of(a, bf), out, null));
            assertTrue(dtype.getMessage().contains("'operands[1]'"), dtype.getMessage());
            IllegalArgumentException argmax = assertThrows(IllegalArgumentException.class,
                    () -> e.forward(context, List.of(a, b), out, longArgmax));
            assertTrue(argmax.getMessage().contains("'argmax'"), argmax.getMessage());
            assertThrows(NullPointerException.class, () -> e.backward(context, List.of(a, b), null, null, out,
                    Arrays.asList((Tensor) null, null)));
            assertThrows(IllegalArgumentException.class, () -> e.backward(context, List.of(a, b), out, null, out,
                    List.of(a)));
        }
        SemiringEinsum closed = SemiringEinsum.compile("i->", Semiring.REAL, new long[] {3});
        closed.close();
        try (Tensor x = Tensor.fromArray(new double[3], 3)) {
            assertThrows(IllegalStateException.class, () -> closed.forward(context, x));
        }
        try (SemiringEinsum b = SemiringEinsum.compile("i->", Semiring.BOOLEAN, new long[] {3});
             Tensor x = Tensor.fromArray(new double[3], 3);
             Tensor g = Tensor.allocateHost(DType.FLOAT64)) {
            assertThrows(UnsupportedOperationException.class, () -> b.backward(context, List.of(x), null, null, g));
        }
    }
}
