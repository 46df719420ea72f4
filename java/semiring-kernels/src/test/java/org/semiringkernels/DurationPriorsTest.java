package org.semiringkernels;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.semiringkernels.ValidationTest.assertRejected;

import java.util.Random;
import java.util.function.Function;
import java.util.function.IntToDoubleFunction;

import org.junit.jupiter.api.Test;

/**
 * {@link DurationPriors}: closed forms of the truncated-and-renormalised priors, their
 * normalisation over 1..K, parameter gradients by central finite differences (also through a real
 * {@link SemiCrf#backward} gradient), and bad arguments.
 */
class DurationPriorsTest {

    private static final int K = 6;

    private static double[] randomGradient(int n, long seed) {
        Random rng = new Random(seed);
        double[] g = new double[n];
        for (int i = 0; i < n; i++) {
            g[i] = rng.nextGaussian();
        }
        return g;
    }

    private static double dot(double[] a, double[] b) {
        double s = 0;
        for (int i = 0; i < a.length; i++) {
            s += a[i] * b[i];
        }
        return s;
    }

    private static void assertNormalised(DurationPriors.Prior prior) {
        double[] bias = prior.bias();
        for (int c = 0; c < prior.labels(); c++) {
            double sum = 0;
            for (int k = 0; k < prior.maxDuration(); k++) {
                sum += Math.exp(bias[k * prior.labels() + c]);
            }
            assertEquals(1.0, sum, 1e-12, "label " + c + " sums to 1 over 1..K");
        }
    }

    /** Central differences of L(params) = <g, bias(params)> for one parameter block of length C. */
    private static void assertGradient(Function<double[][], DurationPriors.Prior> build, double[][] params,
                                       String what) {
        DurationPriors.Prior prior = build.apply(params);
        double[] g = randomGradient(prior.maxDuration() * prior.labels(), 5);
        double[] analytic = prior.parameterGradient(g);
        int at = 0;
        for (int j = 0; j < params.length; j++) {
            for (int c = 0; c < params[j].length; c++, at++) {
                double h = 1e-6 * Math.max(1, Math.abs(params[j][c]));
                double[][] plus = deepCopy(params);
                double[][] minus = deepCopy(params);
                plus[j][c] += h;
                minus[j][c] -= h;
                double fd = (dot(g, build.apply(plus).bias()) - dot(g, build.apply(minus).bias())) / (2 * h);
                assertEquals(fd, analytic[at], 1e-6 * Math.max(1, Math.abs(fd)),
                        what + ": d/d" + prior.parameterNames()[j] + "[" + c + "]");
            }
        }
        assertEquals(at, analytic.length, what + ": gradient length");
    }

    private static double[][] deepCopy(double[][] a) {
        double[][] b = new double[a.length][];
        for (int i = 0; i < a.length; i++) {
            b[i] = a[i].clone();
        }
        return b;
    }

    @Test
    void geometricIsTheTruncatedRenormalisedShiftedGeometric() {
        double[] p = {0.2, 0.7};
        DurationPriors.Prior prior = DurationPriors.geometric(K, p);
        double[] bias = prior.bias();
        for (int c = 0; c < 2; c++) {
            double norm = 1 - Math.pow(1 - p[c], K); // P(k <= K)
            for (int k = 1; k <= K; k++) {
                double expected = Math.log(Math.pow(1 - p[c], k - 1) * p[c] / norm);
                assertEquals(expected, bias[(k - 1) * 2 + c], 1e-12, "geometric k = " + k + ", c = " + c);
            }
        }
        assertNormalised(prior);
        assertGradient(a -> DurationPriors.geometric(K, a[0]), new double[][] {p}, "geometric");
    }

    @Test
    void negativeBinomialWithROneIsTheGeometricAndHasGradientsInRAndP() {
        double[] p = {0.3, 0.55, 0.9};
        assertArrayEquals(DurationPriors.geometric(K, p).bias(),
                DurationPriors.negativeBinomial(K, new double[] {1, 1, 1}, p).bias(), 1e-12);
        double[] r = {0.5, 2.5, 7};
        DurationPriors.Prior prior = DurationPriors.negativeBinomial(K, r, p);
        // closed form for integer r = 3 via binomial coefficients, before renormalisation
        DurationPriors.Prior three = DurationPriors.negativeBinomial(K, new double[] {3}, new double[] {0.4});
        double[] w = new double[K];
        double sum = 0;
        for (int k = 1; k <= K; k++) {
            int n = k - 1; // failures
            double binom = (n + 1) * (n + 2) / 2.0; // C(n + 2, n)
            w[k - 1] = binom * Math.pow(0.4, 3) * Math.pow(0.6, n);
            sum += w[k - 1];
        }
        for (int k = 0; k < K; k++) {
            assertEquals(Math.log(w[k] / sum), three.bias()[k], 1e-12, "NB(3, 0.4) k = " + (k + 1));
        }
        assertNormalised(prior);
        assertArrayEquals(new String[] {"r", "p"}, prior.parameterNames());
        assertGradient(a -> DurationPriors.negativeBinomial(K, a[0], a[1]), new double[][] {r, p}, "negative binomial");
    }

    @Test
    void poissonIsTheTruncatedRenormalisedShiftedPoisson() {
        double[] lambda = {0.4, 3.5};
        DurationPriors.Prior prior = DurationPriors.poisson(K, lambda);
        for (int c = 0; c < 2; c++) {
            double[] w = new double[K];
            double sum = 0, fact = 1;
            for (int k = 1; k <= K; k++) {
                if (k > 1) {
                    fact *= k - 1;
                }
                w[k - 1] = Math.pow(lambda[c], k - 1) * Math.exp(-lambda[c]) / fact;
                sum += w[k - 1];
            }
            for (int k = 1; k <= K; k++) {
                assertEquals(Math.log(w[k - 1] / sum), prior.bias()[(k - 1) * 2 + c], 1e-12, "Poisson k = " + k);
            }
        }
        assertNormalised(prior);
        assertGradient(a -> DurationPriors.poisson(K, a[0]), new double[][] {lambda}, "Poisson");
    }

    @Test
    void uniformLearnedAndUserFunctions() {
        DurationPriors.Prior uniform = DurationPriors.uniform(K, 3);
        for (double v : uniform.bias()) {
            assertEquals(-Math.log(K), v, 1e-15);
        }
        assertEquals(0, uniform.parameterGradient(new double[K * 3]).length);

        double[] table = randomGradient(K * 2, 9);
        DurationPriors.Prior learned = DurationPriors.learned(K, 2, table);
        assertArrayEquals(table, learned.bias(), 0.0);
        double[] g = randomGradient(K * 2, 10);
        assertArrayEquals(g, learned.parameterGradient(g), 0.0);

        // a per-label function: label 0 forbids durations above 2, label 1 prefers long segments
        IntToDoubleFunction short2 = k -> k <= 2 ? 0.0 : Double.NEGATIVE_INFINITY;
        IntToDoubleFunction longer = k -> 0.5 * k;
        DurationPriors.Prior f = DurationPriors.function(K, short2, longer);
        double[] b = f.bias();
        assertEquals(Math.log(0.5), b[0], 1e-15);
        assertEquals(Math.log(0.5), b[2], 1e-15);
        assertEquals(Double.NEGATIVE_INFINITY, b[2 * 2]);
        assertNormalised(f);
        // the BiFunction form gives the same table, and its gradient w.r.t. the log weights
        double[] weights = randomGradient(K * 2, 11);
        Function<double[][], DurationPriors.Prior> build =
                a -> DurationPriors.function(K, 2, (k, c) -> a[0][(k - 1) * 2 + c]);
        assertArrayEquals(DurationPriors.function(K, k -> weights[(k - 1) * 2], k -> weights[(k - 1) * 2 + 1]).bias(),
                build.apply(new double[][] {weights}).bias(), 1e-15);
        assertGradient(build, new double[][] {weights}, "user function");
    }

    /** The chain rule end to end: d log Z / d lambda from SemiCrf's gradDurationBias. */
    @Test
    void parameterGradientThroughTheSemiCrfBackward() {
        SemiCrfCase.Config config = new SemiCrfCase.Config(DType.FLOAT64, SemiCrf.Input.SCORES, false, true, false,
                false, new int[] {5, 3}, 5, 2, 4);
        double[] lambda = {1.5, 0.6};
        try (Context ctx = Context.cpu(); SemiCrfCase c = new SemiCrfCase(config, 21);
             Tensor ones = Tensor.fromArray(new double[] {1, 1}, 2)) {
            Function<double[], Double> logZ = l -> {
                double[] bias = DurationPriors.poisson(4, l).bias();
                try (Tensor z = SemiCrf.forward(ctx, SemiCrf.Options.defaults(),
                        c.model(c.scores, c.transition, bias, c.start, null, null), c.lengths())) {
                    double[] v = z.toDoubleArray();
                    return v[0] + v[1];
                }
            };
            DurationPriors.Prior prior = DurationPriors.poisson(4, lambda);
            double[] analytic;
            try (SemiCrf.Gradients g = SemiCrf.backward(ctx, SemiCrf.Options.defaults(),
                    c.model(c.scores, c.transition, prior.bias(), c.start, null, null), c.lengths(), ones)) {
                analytic = prior.parameterGradient(g.gradDurationBias());
            }
            for (int i = 0; i < 2; i++) {
                double[] plus = lambda.clone(), minus = lambda.clone();
                plus[i] += 1e-6;
                minus[i] -= 1e-6;
                double fd = (logZ.apply(plus) - logZ.apply(minus)) / 2e-6;
                assertEquals(fd, analytic[i], 1e-6, "d log Z / d lambda[" + i + "]");
            }
        }
    }

    @Test
    void badArgumentsNameTheArgument() {
        assertRejected(IllegalArgumentException.class, () -> DurationPriors.uniform(0, 2), "argument 'maxDuration'",
                "K = 0");
        assertRejected(IllegalArgumentException.class, () -> DurationPriors.uniform(3, 0), "argument 'labels'");
        assertRejected(IllegalArgumentException.class, () -> DurationPriors.geometric(3, new double[] {0.5, 1.0}),
                "argument 'p'", "p[1] = 1.0", "(0, 1)");
        assertRejected(IllegalArgumentException.class,
                () -> DurationPriors.negativeBinomial(3, new double[] {1, -2}, new double[] {0.5, 0.5}),
                "argument 'r'", "r[1] = -2.0");
        assertRejected(IllegalArgumentException.class,
                () -> DurationPriors.negativeBinomial(3, new double[] {1, 2}, new double[] {0.5}), "argument 'p'",
                "expected 2 values");
        assertRejected(IllegalArgumentException.class, () -> DurationPriors.poisson(3, new double[] {Double.NaN}),
                "argument 'lambda'");
        assertRejected(IllegalArgumentException.class, () -> DurationPriors.learned(3, 2, new double[5]),
                "argument 'table'", "expected 3 * 2 = 6");
        assertRejected(IllegalArgumentException.class,
                () -> DurationPriors.function(3, k -> Double.NEGATIVE_INFINITY), "label 0", "cannot be normalised");
        assertRejected(IllegalArgumentException.class, () -> DurationPriors.function(3, 1, (k, c) -> Double.NaN),
                "argument 'logWeight'", "duration 1");
        assertRejected(IllegalArgumentException.class,
                () -> DurationPriors.poisson(3, new double[] {1}).parameterGradient(new double[2]),
                "argument 'gradBias'", "expected 3 * 1 = 3");
        try (Tensor wrong = Tensor.fromArray(new double[6], 2, 3)) {
            assertRejected(IllegalArgumentException.class,
                    () -> DurationPriors.poisson(3, new double[] {1, 2}).parameterGradient(wrong),
                    "argument 'gradBias'", "[3, 2]", "[2, 3]");
        }
        try (Tensor t = DurationPriors.uniform(2, 3).toTensor(DType.FLOAT32)) {
            assertArrayEquals(new long[] {2, 3}, t.shape());
            assertEquals((float) -Math.log(2), t.toFloatArray()[4]);
        }
    }
}
