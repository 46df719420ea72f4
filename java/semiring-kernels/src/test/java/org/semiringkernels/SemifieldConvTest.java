package org.semiringkernels;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.semiringkernels.SemifieldConv.Kind;
import org.semiringkernels.SemifieldConv.Options;
import org.semiringkernels.SemifieldConv.Padding;
import org.semiringkernels.SemifieldConv.QuadraticForm;
import org.semiringkernels.SemifieldConv.Semifield;
import org.semiringkernels.bindings.semiring_kernels_h;

/**
 * SemifieldConv against a plain-Java float64 reference written from the definitions (every tap of
 * every output, padded taps skipped), gradients against finite differences, the closing, the
 * quadratic kernels, and the Java-side and native errors.
 */
class SemifieldConvTest {

    static Context context;

    @BeforeAll
    static void open() {
        context = Context.cpu();
    }

    @AfterAll
    static void close() {
        context.close();
    }

    /** Reference output (row-major) and provenance of a 1-D or 2-D problem (rank 1: n[0] = 1, k[0] = 1). */
    static double[] reference(Options o, double[] in, long[] inShape, double[] k, long[] kShape, int[] prov) {
        int r = o.spatialRank();
        long[] out = SemifieldConv.outputShape(o, inShape, kShape);
        long b = inShape[0], cin = inShape[1], groupIn = kShape[1], rows = kShape[0];
        long cout = out[1], groupOut = o.groupBroadcast() ? rows : rows / o.groups();
        long ny = r == 2 ? inShape[2] : 1, nx = inShape[1 + r], ky = r == 2 ? kShape[2] : 1, kx = kShape[1 + r];
        long my = r == 2 ? out[2] : 1, mx = out[1 + r];
        long[] stride = o.stride(), dil = o.dilation();
        long sy = r == 2 ? stride[0] : 1, sx = stride[r - 1], dy = r == 2 ? dil[0] : 1, dx = dil[r - 1];
        long py = r == 2 ? o.padding().pb(0, ky, dy) : 0, px = o.padding().pb(r - 1, kx, dx);
        boolean mirror = o.kind() == Kind.CONVOLUTION;
        double[] result = new double[(int) (b * cout * my * mx)];
        int e = 0;
        for (long bi = 0; bi < b; bi++) {
            for (long oc = 0; oc < cout; oc++) {
                long g = oc / groupOut, row = o.groupBroadcast() ? oc % groupOut : oc;
                for (long y = 0; y < my; y++) {
                    for (long x = 0; x < mx; x++, e++) {
                        double best = o.semifield() == Semifield.TROPICAL_MAX ? Double.NEGATIVE_INFINITY
                                : o.semifield() == Semifield.TROPICAL_MIN ? Double.POSITIVE_INFINITY : 0;
                        int where = -1;
                        double sum = 0;
                        for (long c = 0; c < groupIn; c++) {
                            for (long ty = 0; ty < ky; ty++) {
                                for (long tx = 0; tx < kx; tx++) {
                                    long iy = y * sy - py + dy * ty, ix = x * sx - px + dx * tx;
                                    if (iy < 0 || iy >= ny || ix < 0 || ix >= nx) {
                                        continue;
                                    }
                                    long kyy = mirror ? ky - 1 - ty : ty, kxx = mirror ? kx - 1 - tx : tx;
                                    double xv = in[(int) ((((bi * cin) + g * groupIn + c) * ny + iy) * nx + ix)];
                                    double wv = k[(int) (((row * groupIn + c) * ky + kyy) * kx + kxx)];
                                    int tap = (int) (c * ky * kx + kyy * kx + kxx);
                                    switch (o.semifield()) {
                                        case TROPICAL_MAX -> {
                                            if (xv + wv > best) {
                                                best = xv + wv;
                                                where = tap;
                                            }
                                        }
                                        case TROPICAL_MIN -> {
                                            if (xv - wv < best) {
                                                best = xv - wv;
                                                where = tap;
                                            }
                                        }
                                        case LINEAR -> sum += xv * wv;
                                        case ROOT -> sum += Math.pow(xv * wv, o.p());
                                        case LOG -> sum += Math.exp(o.mu() * (xv + wv));
                                    }
                                }
                            }
                        }
                        result[e] = switch (o.semifield()) {
                            case TROPICAL_MAX, TROPICAL_MIN -> best;
                            case LINEAR -> sum;
                            case ROOT -> Math.pow(sum, 1 / o.p());
                            case LOG -> Math.log(sum) / o.mu();
                        };
                        if (prov != null) {
                            prov[e] = where;
                        }
                    }
                }
            }
        }
        return result;
    }

    static double[] random(Random rng, int n, double lo, double hi) {
        double[] v = new double[n];
        for (int i = 0; i < n; i++) {
            v[i] = lo + (hi - lo) * rng.nextDouble();
        }
        return v;
    }

    static int count(long[] shape) {
        long n = 1;
        for (long e : shape) {
            n *= e;
        }
        return (int) n;
    }

    static final Options[] CASES = {
        Options.of(Semifield.TROPICAL_MAX, 2).withPadding(Padding.same()).withStride(2, 1).withKind(Kind.CORRELATION),
        Options.of(Semifield.TROPICAL_MIN, 2).withPadding(Padding.explicit(new long[] {1, 0}, new long[] {0, 2}))
                .withGroups(2, false),
        Options.of(Semifield.LINEAR, 1).withDilation(2).withPadding(Padding.symmetric(2)),
        Options.of(Semifield.ROOT, 2).withP(3).withPadding(Padding.same()).withGroups(2, true),
        Options.of(Semifield.LOG, 1).withMu(-1.5).withPadding(Padding.same()).withStride(3),
        Options.of(Semifield.LOG, 2).withMu(2).withDilation(1, 2),
    };

    @Test
    void forwardMatchesTheReference() {
        Random rng = new Random(1);
        for (Options o : CASES) {
            long[] inShape = o.spatialRank() == 2 ? new long[] {2, 4, 6, 7} : new long[] {2, 4, 9};
            long[] kShape = o.spatialRank() == 2 ? new long[] {2, 4 / o.groups(), 3, 2} : new long[] {2, 4, 3};
            boolean root = o.semifield() == Semifield.ROOT;
            double[] in = random(rng, count(inShape), root ? 0.2 : -2, 2);
            double[] k = random(rng, count(kShape), root ? 0.2 : -2, 2);
            try (Tensor ti = Tensor.fromArray(in, inShape); Tensor tk = Tensor.fromArray(k, kShape);
                 SemifieldConv.Result res = SemifieldConv.forward(context, o, ti, tk, o.semifield().isTropical())) {
                int[] prov = new int[count(res.output().shape())];
                double[] want = reference(o, in, inShape, k, kShape, prov);
                double[] got = res.output().toDoubleArray();
                assertEquals(want.length, got.length);
                for (int i = 0; i < want.length; i++) {
                    assertEquals(want[i], got[i], 1e-12 * Math.max(1, Math.abs(want[i])), o + " element " + i);
                }
                if (o.semifield().isTropical()) {
                    assertArrayEquals(prov, res.provenance().toIntArray(), o.toString());
                } else {
                    assertNull(res.provenance());
                }
            }
        }
    }

    @Test
    void gradientsMatchFiniteDifferences() {
        Random rng = new Random(2);
        for (Options o : CASES) {
            long[] inShape = o.spatialRank() == 2 ? new long[] {1, 4, 5, 5} : new long[] {1, 4, 7};
            long[] kShape = o.spatialRank() == 2 ? new long[] {2, 4 / o.groups(), 2, 3} : new long[] {2, 4, 3};
            boolean root = o.semifield() == Semifield.ROOT;
            double[] in = random(rng, count(inShape), root ? 0.2 : -2, 2);
            double[] k = random(rng, count(kShape), root ? 0.2 : -2, 2);
            long[] outShape = SemifieldConv.outputShape(o, inShape, kShape);
            double[] g = random(rng, count(outShape), -1, 1);
            double[] ref = reference(o, in, inShape, k, kShape, null);
            for (int i = 0; i < g.length; i++) {
                if (!Double.isFinite(ref[i])) {
                    g[i] = 0; // all-padding windows: the loss only counts finite outputs
                }
            }
            try (Tensor ti = Tensor.fromArray(in, inShape); Tensor tk = Tensor.fromArray(k, kShape);
                 Tensor tg = Tensor.fromArray(g, outShape);
                 SemifieldConv.Gradients grads = SemifieldConv.backward(context, o, ti, tk, null, null, tg)) {
                double[] gi = grads.gradInput().toDoubleArray(), gk = grads.gradKernel().toDoubleArray();
                double h = 1e-6;
                for (int which = 0; which < 2; which++) {
                    double[] x = which == 0 ? in : k, grad = which == 0 ? gi : gk;
                    for (int i = 0; i < x.length; i++) {
                        double keep = x[i];
                        x[i] = keep + h;
                        double up = loss(reference(o, in, inShape, k, kShape, null), g);
                        x[i] = keep - h;
                        double down = loss(reference(o, in, inShape, k, kShape, null), g);
                        x[i] = keep;
                        double fd = (up - down) / (2 * h);
                        assertEquals(fd, grad[i], 1e-5 * Math.max(1, Math.abs(fd)),
                                o + (which == 0 ? " grad_input " : " grad_kernel ") + i);
                    }
                }
            }
        }
    }

    static double loss(double[] out, double[] g) {
        double s = 0;
        for (int i = 0; i < out.length; i++) {
            if (g[i] != 0) {
                s += g[i] * out[i];
            }
        }
        return s;
    }

    @Test
    void closingIsExtensive() {
        Random rng = new Random(3);
        for (long kk = 2; kk <= 5; kk++) {
            Options o = Options.of(Semifield.TROPICAL_MAX, 2).withPadding(Padding.same()).withGroups(3, false);
            long[] inShape = {1, 3, 8, 7};
            double[] in = random(rng, count(inShape), -3, 3);
            double[] k = random(rng, 3 * (int) (kk * kk), -1, 0);
            for (int i = 0; i < in.length; i++) {
                in[i] = Math.rint(in[i] * 16) / 16; // dyadic: x + w - w is exact
            }
            for (int i = 0; i < k.length; i++) {
                k[i] = Math.rint(k[i] * 8) / 8;
            }
            try (Tensor ti = Tensor.fromArray(in, inShape); Tensor tk = Tensor.fromArray(k, 3, 1, kk, kk);
                 Tensor closed = SemifieldConv.closing(context, o, ti, tk)) {
                double[] c = closed.toDoubleArray();
                for (int i = 0; i < in.length; i++) {
                    assertTrue(c[i] >= in[i], "k = " + kk + " element " + i + ": " + c[i] + " < " + in[i]);
                }
            }
        }
    }

    @Test
    void quadraticKernels() {
        try (Tensor params = Tensor.fromArray(new double[] {Math.log(2.0)}, 1, 1, 1);
             Tensor kernel = SemifieldConv.quadraticKernel(context, QuadraticForm.ISOTROPIC, params, 3, 3)) {
            double[] v = kernel.toDoubleArray();
            // -(y^2 + x^2) / 4 on the 3 x 3 grid centred at (1, 1)
            for (int i = 0; i < 3; i++) {
                for (int j = 0; j < 3; j++) {
                    assertEquals(-((i - 1) * (i - 1) + (j - 1) * (j - 1)) / 4.0, v[i * 3 + j], 1e-15);
                }
            }
            // d/d log s of sum(kernel) = -2 sum(kernel) (each value scales as s^-2)
            try (Tensor ones = Tensor.fromArray(new double[] {1, 1, 1, 1, 1, 1, 1, 1, 1}, 1, 1, 3, 3);
                 Tensor grad = Tensor.allocate(context, DType.FLOAT64, 1, 1, 1)) {
                SemifieldConv.quadraticKernelBackward(context, QuadraticForm.ISOTROPIC, params, ones, grad);
                double total = 0;
                for (double x : v) {
                    total += x;
                }
                assertEquals(-2 * total, grad.toDoubleArray()[0], 1e-14);
            }
        }
    }

    @Test
    void errorsNameTheArgument() {
        Options o = Options.of(Semifield.TROPICAL_MAX, 2);
        try (Tensor in = Tensor.fromArray(new double[2 * 5 * 5], 1, 2, 5, 5);
             Tensor k = Tensor.fromArray(new double[2 * 2 * 9], 2, 2, 3, 3);
             Tensor wrong = Tensor.allocate(context, DType.FLOAT64, 1, 2, 4, 4)) {
            var e = assertThrows(IllegalArgumentException.class, () -> SemifieldConv.forward(context, o, in, k, wrong, null));
            assertTrue(e.getMessage().contains("'output'"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> o.withStride(0, 1));
            assertTrue(e.getMessage().contains("'stride[0]'"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> Options.of(Semifield.ROOT, 2).withP(0));
            assertTrue(e.getMessage().contains("'p'"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class,
                    () -> SemifieldConv.forward(context, o.withGroups(2, false), in, k, false));
            assertTrue(e.getMessage().contains("'kernel'"), e.getMessage());
            // Checked natively: the root semifield's negative inputs, the closing's requirements.
            in.setDouble(-1.0, 0, 1, 2, 2);
            var n = assertThrows(SemiringKernelsException.class,
                    () -> SemifieldConv.forward(context, Options.of(Semifield.ROOT, 2).withP(2), in, k, false));
            assertTrue(n.getMessage().contains("'input'"), n.getMessage());
            n = assertThrows(SemiringKernelsException.class, () -> SemifieldConv.closing(context, o, in, k));
            assertTrue(n.getMessage().contains("closing"), n.getMessage());
        }
    }

    @Test
    void codesMatchTheBindings() {
        assertEquals(semiring_kernels_h.SK_SEMIFIELD_TROPICAL_MAX(), Semifield.TROPICAL_MAX.code());
        assertEquals(semiring_kernels_h.SK_SEMIFIELD_TROPICAL_MIN(), Semifield.TROPICAL_MIN.code());
        assertEquals(semiring_kernels_h.SK_SEMIFIELD_LINEAR(), Semifield.LINEAR.code());
        assertEquals(semiring_kernels_h.SK_SEMIFIELD_ROOT(), Semifield.ROOT.code());
        assertEquals(semiring_kernels_h.SK_SEMIFIELD_LOG(), Semifield.LOG.code());
        assertEquals(semiring_kernels_h.SK_SEMICONV_CONVOLUTION(), Kind.CONVOLUTION.code());
        assertEquals(semiring_kernels_h.SK_SEMICONV_CORRELATION(), Kind.CORRELATION.code());
        assertEquals(semiring_kernels_h.SK_SEMICONV_PADDING_EXPLICIT(), Padding.EXPLICIT);
        assertEquals(semiring_kernels_h.SK_SEMICONV_PADDING_VALID(), Padding.VALID);
        assertEquals(semiring_kernels_h.SK_SEMICONV_PADDING_SAME(), Padding.SAME);
        assertEquals(semiring_kernels_h.SK_QUADRATIC_ISOTROPIC(), QuadraticForm.ISOTROPIC.code());
        assertEquals(semiring_kernels_h.SK_QUADRATIC_ANISOTROPIC(), QuadraticForm.ANISOTROPIC.code());
        assertEquals(semiring_kernels_h.SK_QUADRATIC_CHOLESKY(), QuadraticForm.CHOLESKY.code());
    }
}
