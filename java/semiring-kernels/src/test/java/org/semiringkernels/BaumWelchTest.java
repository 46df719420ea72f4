package org.semiringkernels;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Baum-Welch ({@link CategoricalHmm}, {@link GaussianHmm}): data sampled (seeded) from a known
 * generating HMM is fitted and the parameters must be recovered, after matching the state
 * permutation, within the tolerances stated here and in java/README.md:
 * <ul>
 *   <li>categorical (3 states, 4 symbols, 500 sequences of 20..60 positions): start
 *       probabilities within {@value #START_TOLERANCE}, transition and emission probabilities
 *       within {@value #CATEGORICAL_TOLERANCE} (absolute, each entry; observed at the time of
 *       writing: start 0.03, transitions 0.017, emissions 0.028);</li>
 *   <li>Gaussian (3 states, 2 features, 150 sequences of 30..90 positions): start within
 *       {@value #START_TOLERANCE}, transitions within {@value #GAUSSIAN_TRANSITION_TOLERANCE}, means within
 *       {@value #MEAN_TOLERANCE} (absolute), variances within {@value #VARIANCE_RELATIVE_TOLERANCE}
 *       relative (observed: start 0.015, transitions 0.005, means 0.025).</li>
 * </ul>
 * Also: the log-likelihood history never decreases (up to 1e-9 relative; 1e-6 with FLOAT32
 * tensors), score equals an
 * independent forward recursion, predict equals an independent Viterbi, predictProba equals an
 * independent forward-backward; user initialisation, seeded determinism, iteration cap and tolerance.
 */
class BaumWelchTest {

    static final double START_TOLERANCE = 0.1;
    static final double CATEGORICAL_TOLERANCE = 0.05;
    static final double GAUSSIAN_TRANSITION_TOLERANCE = 0.03;
    static final double MEAN_TOLERANCE = 0.1;
    static final double VARIANCE_RELATIVE_TOLERANCE = 0.1;

    // ---- the generating models -----------------------------------------------------------------

    static final double[] START = {0.6, 0.3, 0.1};
    static final double[][] TRANSITION = {{0.8, 0.15, 0.05}, {0.1, 0.7, 0.2}, {0.2, 0.1, 0.7}};
    static final double[][] EMISSION = {{0.7, 0.2, 0.05, 0.05}, {0.05, 0.15, 0.7, 0.1}, {0.1, 0.05, 0.15, 0.7}};
    static final double[][] MEANS = {{0.0, 0.0}, {3.0, 0.5}, {-1.0, 3.5}};
    static final double[][] VARIANCES = {{0.5, 1.0}, {1.0, 0.4}, {0.8, 0.8}};

    /** Hidden states of a sequence of the given length sampled from START and TRANSITION. */
    static int[] sampleStates(Random rng, int length) {
        int[] z = new int[length];
        z[0] = draw(rng, START);
        for (int t = 1; t < length; t++) {
            z[t] = draw(rng, TRANSITION[z[t - 1]]);
        }
        return z;
    }

    static int draw(Random rng, double[] p) {
        double u = rng.nextDouble();
        double acc = 0;
        for (int i = 0; i < p.length; i++) {
            acc += p[i];
            if (u < acc) {
                return i;
            }
        }
        return p.length - 1;
    }

    static int[][] categoricalData(long seed, int count, int minLength, int maxLength) {
        Random rng = new Random(seed);
        int[][] data = new int[count][];
        for (int b = 0; b < count; b++) {
            int[] z = sampleStates(rng, minLength + rng.nextInt(maxLength - minLength + 1));
            data[b] = new int[z.length];
            for (int t = 0; t < z.length; t++) {
                data[b][t] = draw(rng, EMISSION[z[t]]);
            }
        }
        return data;
    }

    static double[][][] gaussianData(long seed, int count, int minLength, int maxLength) {
        Random rng = new Random(seed);
        double[][][] data = new double[count][][];
        for (int b = 0; b < count; b++) {
            int[] z = sampleStates(rng, minLength + rng.nextInt(maxLength - minLength + 1));
            data[b] = new double[z.length][2];
            for (int t = 0; t < z.length; t++) {
                for (int d = 0; d < 2; d++) {
                    data[b][t][d] = MEANS[z[t]][d] + Math.sqrt(VARIANCES[z[t]][d]) * rng.nextGaussian();
                }
            }
        }
        return data;
    }

    // ---- recovery ------------------------------------------------------------------------------

    @ParameterizedTest
    @EnumSource(value = DType.class, names = {"FLOAT32", "FLOAT64"})
    void categoricalRecoversTheGeneratingModel(DType dtype) {
        int[][] data = categoricalData(1, 500, 20, 60);
        CategoricalHmm hmm = new CategoricalHmm(3, 4, BaumWelchHmm.Settings.defaults()
                .withSeed(5).withMaxIterations(500).withTolerance(1e-4).withDtype(dtype));
        try (Context ctx = Context.checkingContext(Context.cpu())) {
            BaumWelchHmm.FitReport report = hmm.fit(ctx, data);
            assertTrue(report.converged(), report.toString());
            assertMonotone(report.logLikelihoods(), dtype);
            int[] perm = bestPermutation(hmm.emissionProbabilities(), EMISSION);
            assertCloseEntries(START, permute(hmm.startProbabilities(), perm), START_TOLERANCE, "start");
            assertCloseEntries(TRANSITION, permute(hmm.transitionProbabilities(), perm), CATEGORICAL_TOLERANCE,
                    "transition");
            assertCloseEntries(EMISSION, permuteRows(hmm.emissionProbabilities(), perm), CATEGORICAL_TOLERANCE,
                    "emission");
        }
    }

    @ParameterizedTest
    @EnumSource(value = DType.class, names = {"FLOAT32", "FLOAT64"})
    void gaussianRecoversTheGeneratingModel(DType dtype) {
        double[][][] data = gaussianData(2, 150, 30, 90);
        GaussianHmm hmm = new GaussianHmm(3, 2, 1e-3, BaumWelchHmm.Settings.defaults()
                .withSeed(9).withMaxIterations(500).withTolerance(1e-6).withDtype(dtype));
        try (Context ctx = Context.checkingContext(Context.cpu())) {
            BaumWelchHmm.FitReport report = hmm.fit(ctx, data);
            assertTrue(report.converged(), report.toString());
            assertMonotone(report.logLikelihoods(), dtype);
            int[] perm = bestPermutation(hmm.means(), MEANS);
            assertCloseEntries(START, permute(hmm.startProbabilities(), perm), START_TOLERANCE, "start");
            assertCloseEntries(TRANSITION, permute(hmm.transitionProbabilities(), perm), GAUSSIAN_TRANSITION_TOLERANCE,
                    "transition");
            assertCloseEntries(MEANS, permuteRows(hmm.means(), perm), MEAN_TOLERANCE, "means");
            double[][] variances = permuteRows(hmm.variances(), perm);
            for (int i = 0; i < 3; i++) {
                for (int d = 0; d < 2; d++) {
                    double rel = Math.abs(variances[i][d] - VARIANCES[i][d]) / VARIANCES[i][d];
                    assertTrue(rel <= VARIANCE_RELATIVE_TOLERANCE, "variance [" + i + "][" + d + "] = "
                            + variances[i][d] + ", generating " + VARIANCES[i][d]);
                }
            }
        }
    }

    // ---- score, predict, predictProba against independent recursions ---------------------------

    @Test
    void categoricalScorePredictAndPosteriorsMatchIndependentRecursions() {
        int[][] data = categoricalData(3, 40, 1, 60); // lengths from 1
        CategoricalHmm hmm = new CategoricalHmm(3, 4, BaumWelchHmm.Settings.defaults().withSeed(1).withMaxIterations(20));
        try (Context ctx = Context.cpu()) {
            hmm.fit(ctx, data);
            double[] logStart = BaumWelchHmm.logs(hmm.startProbabilities());
            double[][] logTransition = logRows(hmm.transitionProbabilities());
            double[][] emission = hmm.emissionProbabilities();
            double[] perSequence = hmm.scoreSamples(ctx, data);
            int[][] paths = hmm.predict(ctx, data);
            double[][][] proba = hmm.predictProba(ctx, data);
            double total = 0;
            for (int b = 0; b < data.length; b++) {
                double[][] logEm = new double[data[b].length][3];
                for (int t = 0; t < data[b].length; t++) {
                    for (int i = 0; i < 3; i++) {
                        logEm[t][i] = Math.log(emission[i][data[b][t]]);
                    }
                }
                double expected = HmmReference.forwardLogLikelihood(logStart, logTransition, logEm);
                assertEquals(expected, perSequence[b], 1e-9 * Math.abs(expected), "score of sequence " + b);
                total += expected;
                assertArrayEquals(HmmReference.viterbiPath(logStart, logTransition, logEm), paths[b],
                        "predict of sequence " + b);
                double[][] gamma = HmmReference.posteriors(logStart, logTransition, logEm);
                assertEquals(data[b].length, proba[b].length);
                for (int t = 0; t < gamma.length; t++) {
                    assertArrayEquals(gamma[t], proba[b][t], 1e-9, "predictProba of sequence " + b + " at " + t);
                }
            }
            assertEquals(total, hmm.score(ctx, data), 1e-9 * Math.abs(total));
        }
    }

    @Test
    void gaussianScoreAndPredictMatchIndependentRecursions() {
        double[][][] data = gaussianData(4, 30, 1, 50);
        GaussianHmm hmm = new GaussianHmm(3, 2, 1e-3, BaumWelchHmm.Settings.defaults().withSeed(2).withMaxIterations(15));
        try (Context ctx = Context.cpu()) {
            hmm.fit(ctx, data);
            double[] logStart = BaumWelchHmm.logs(hmm.startProbabilities());
            double[][] logTransition = logRows(hmm.transitionProbabilities());
            double[][] means = hmm.means();
            double[][] variances = hmm.variances();
            double[] perSequence = hmm.scoreSamples(ctx, data);
            int[][] paths = hmm.predict(ctx, data);
            for (int b = 0; b < data.length; b++) {
                double[][] logEm = new double[data[b].length][3];
                for (int t = 0; t < data[b].length; t++) {
                    for (int i = 0; i < 3; i++) {
                        double s = 0;
                        for (int d = 0; d < 2; d++) {
                            double diff = data[b][t][d] - means[i][d];
                            s += Math.log(2 * Math.PI * variances[i][d]) + diff * diff / variances[i][d];
                        }
                        logEm[t][i] = -0.5 * s;
                    }
                }
                double expected = HmmReference.forwardLogLikelihood(logStart, logTransition, logEm);
                assertEquals(expected, perSequence[b], 1e-9 * Math.abs(expected), "score of sequence " + b);
                assertArrayEquals(HmmReference.viterbiPath(logStart, logTransition, logEm), paths[b],
                        "predict of sequence " + b);
            }
        }
    }

    // ---- initialisation, determinism, history --------------------------------------------------

    @Test
    void userInitialisationFromTheTruthStaysNearIt() {
        int[][] data = categoricalData(6, 100, 50, 100);
        CategoricalHmm hmm = new CategoricalHmm(3, 4, BaumWelchHmm.Settings.defaults().withTolerance(1e-4));
        hmm.setParameters(START, TRANSITION, EMISSION);
        try (Context ctx = Context.cpu()) {
            double before = hmm.score(ctx, data);
            BaumWelchHmm.FitReport report = hmm.fit(ctx, data);
            assertEquals(before, report.logLikelihoods()[0], 1e-9 * Math.abs(before),
                    "the first E-step scores the user's parameters");
            assertMonotone(report.logLikelihoods(), DType.FLOAT64);
            assertTrue(hmm.score(ctx, data) >= before, "EM does not lower the likelihood");
            // no relabelling happened: started at the truth, states keep their meaning
            assertCloseEntries(EMISSION, hmm.emissionProbabilities(), CATEGORICAL_TOLERANCE, "emission");
        }
    }

    @Test
    void seededFitsAreDeterministicAndResetDrawsAgain() {
        int[][] data = categoricalData(7, 30, 20, 40);
        BaumWelchHmm.Settings settings = BaumWelchHmm.Settings.defaults().withSeed(3).withMaxIterations(10).withTolerance(0);
        CategoricalHmm a = new CategoricalHmm(2, 4, settings);
        CategoricalHmm b = new CategoricalHmm(2, 4, settings);
        try (Context ctx = Context.cpu()) {
            BaumWelchHmm.FitReport ra = a.fit(ctx, data);
            BaumWelchHmm.FitReport rb = b.fit(ctx, data);
            assertArrayEquals(ra.logLikelihoods(), rb.logLikelihoods(), 0.0);
            assertArrayEquals(a.emissionProbabilities()[0], b.emissionProbabilities()[0], 0.0);
            a.resetParameters();
            assertTrue(!a.hasParameters());
            BaumWelchHmm.FitReport again = a.fit(ctx, data);
            assertArrayEquals(ra.logLikelihoods(), again.logLikelihoods(), 0.0);
            assertEquals(10, again.iterations());
        }
    }

    @Test
    void iterationCapAndToleranceStopTheLoop() {
        int[][] data = categoricalData(8, 50, 30, 60);
        try (Context ctx = Context.cpu()) {
            CategoricalHmm capped = new CategoricalHmm(3, 4,
                    BaumWelchHmm.Settings.defaults().withSeed(1).withMaxIterations(3).withTolerance(0));
            BaumWelchHmm.FitReport r = capped.fit(ctx, data);
            assertEquals(3, r.iterations());
            assertEquals(3, r.logLikelihoods().length);
            CategoricalHmm loose = new CategoricalHmm(3, 4,
                    BaumWelchHmm.Settings.defaults().withSeed(1).withMaxIterations(1000).withTolerance(1.0));
            BaumWelchHmm.FitReport l = loose.fit(ctx, data);
            assertTrue(l.converged());
            double[] h = l.logLikelihoods();
            assertTrue(h[h.length - 1] - h[h.length - 2] < 1.0, "stopped when the gain fell below the tolerance");
            for (int k = 1; k < h.length - 1; k++) {
                assertTrue(h[k] - h[k - 1] >= 1.0, "did not stop early at iteration " + k);
            }
        }
    }

    // ---- helpers -------------------------------------------------------------------------------

    /** Non-decreasing up to a tiny relative tolerance (rounding of the dtype). */
    static void assertMonotone(double[] history, DType dtype) {
        double rel = dtype == DType.FLOAT32 ? 1e-6 : 1e-9;
        for (int k = 1; k < history.length; k++) {
            assertTrue(history[k] >= history[k - 1] - rel * Math.abs(history[k - 1]),
                    "log-likelihood decreased at iteration " + k + ": " + Arrays.toString(history));
        }
    }

    /** perm[i] = the fitted state that plays generating state i (least squares over all permutations). */
    static int[] bestPermutation(double[][] fitted, double[][] truth) {
        int n = truth.length;
        List<int[]> perms = new ArrayList<>();
        permutations(new int[n], new boolean[n], 0, perms);
        int[] best = null;
        double bestCost = Double.POSITIVE_INFINITY;
        for (int[] p : perms) {
            double cost = 0;
            for (int i = 0; i < n; i++) {
                for (int k = 0; k < truth[i].length; k++) {
                    double d = fitted[p[i]][k] - truth[i][k];
                    cost += d * d;
                }
            }
            if (cost < bestCost) {
                bestCost = cost;
                best = p;
            }
        }
        return best;
    }

    private static void permutations(int[] cur, boolean[] used, int at, List<int[]> out) {
        if (at == cur.length) {
            out.add(cur.clone());
            return;
        }
        for (int v = 0; v < cur.length; v++) {
            if (!used[v]) {
                used[v] = true;
                cur[at] = v;
                permutations(cur, used, at + 1, out);
                used[v] = false;
            }
        }
    }

    static double[] permute(double[] v, int[] perm) {
        double[] out = new double[v.length];
        for (int i = 0; i < v.length; i++) {
            out[i] = v[perm[i]];
        }
        return out;
    }

    static double[][] permute(double[][] m, int[] perm) {
        double[][] out = new double[m.length][m.length];
        for (int i = 0; i < m.length; i++) {
            for (int j = 0; j < m.length; j++) {
                out[i][j] = m[perm[i]][perm[j]];
            }
        }
        return out;
    }

    static double[][] permuteRows(double[][] m, int[] perm) {
        double[][] out = new double[m.length][];
        for (int i = 0; i < m.length; i++) {
            out[i] = m[perm[i]].clone();
        }
        return out;
    }

    static double[][] logRows(double[][] m) {
        double[][] out = new double[m.length][];
        for (int i = 0; i < m.length; i++) {
            out[i] = BaumWelchHmm.logs(m[i]);
        }
        return out;
    }

    static void assertCloseEntries(double[] expected, double[] actual, double tol, String what) {
        for (int i = 0; i < expected.length; i++) {
            assertEquals(expected[i], actual[i], tol, what + "[" + i + "]: fitted " + Arrays.toString(actual));
        }
    }

    static void assertCloseEntries(double[][] expected, double[][] actual, double tol, String what) {
        for (int i = 0; i < expected.length; i++) {
            assertCloseEntries(expected[i], actual[i], tol, what + "[" + i + "]");
        }
    }
}
