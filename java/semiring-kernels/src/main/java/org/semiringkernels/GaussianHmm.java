package org.semiringkernels;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

/**
 * An HMM with diagonal-covariance Gaussian emissions (hmmlearn's {@code GaussianHMM} with
 * {@code covariance_type="diag"}): N hidden states, observations in R^D,
 * {@code log p(x | z = i) = -1/2 sum_d [log(2 pi var[i][d]) + (x_d - mean[i][d])^2 / var[i][d]]}.
 * Fitted by Baum-Welch on the native factored HMM; see {@link BaumWelchHmm} for the E-step, the
 * start and transition updates, convergence and the initialisation of pi and A. A sequence is a
 * {@code double[T][D]} array (positions x features).
 *
 * <p><b>Emission M-step:</b> with occupancy {@code n_i = sum_{b,t} gamma_bt(i)}:
 * {@code mean[i] = sum gamma_bt(i) x_bt / n_i} and
 * {@code var[i][d] = max(varianceFloor, sum gamma_bt(i) (x_bt,d - mean[i][d])^2 / n_i)};
 * a state with {@code n_i = 0} keeps its parameters. The floor (default 1e-3, hmmlearn's
 * {@code min_covar}) keeps a state from collapsing onto a single point.
 *
 * <p><b>Random initialisation</b> (seeded): the means are the centres found by k-means (k = N,
 * {@value #KMEANS_ITERATIONS} Lloyd iterations) started from N distinct observations drawn at
 * random; every state's variances are the per-feature variance of all observations (floored).
 */
public final class GaussianHmm extends BaumWelchHmm<double[][]> {

    /** Lloyd iterations of the k-means initialisation. */
    public static final int KMEANS_ITERATIONS = 20;

    private final int features;
    private final double varianceFloor;
    private double[][] means;
    private double[][] variances;

    /** N = nComponents states over D = nFeatures, variance floor 1e-3, {@link Settings#defaults()}. */
    public GaussianHmm(int nComponents, int nFeatures) {
        this(nComponents, nFeatures, 1e-3, Settings.defaults());
    }

    public GaussianHmm(int nComponents, int nFeatures, double varianceFloor, Settings settings) {
        super(nComponents, settings);
        if (nFeatures < 1) {
            throw new IllegalArgumentException("argument 'nFeatures': must be >= 1, got " + nFeatures);
        }
        if (!(varianceFloor > 0) || Double.isInfinite(varianceFloor)) {
            throw new IllegalArgumentException("argument 'varianceFloor': must be finite and > 0, got " + varianceFloor);
        }
        this.features = nFeatures;
        this.varianceFloor = varianceFloor;
    }

    /** Number of features D. */
    public int nFeatures() {
        return features;
    }

    public double varianceFloor() {
        return varianceFloor;
    }

    /**
     * Sets every parameter: pi (N), A (N, N), means (N, D) finite and variances (N, D) finite and
     * {@code >= varianceFloor}. Everything is checked before anything is stored.
     */
    public void setParameters(double[] startProbabilities, double[][] transitionProbabilities, double[][] means,
                              double[][] variances) {
        checkStartAndTransition(startProbabilities, transitionProbabilities);
        checkMatrix(means, "means", false);
        checkMatrix(variances, "variances", true);
        storeStartAndTransition(startProbabilities, transitionProbabilities);
        this.means = deepCopy(means);
        this.variances = deepCopy(variances);
        initialized = true;
    }

    /** Means (N, D), a copy. */
    public double[][] means() {
        requireParameters();
        return deepCopy(means);
    }

    /** Diagonal variances (N, D), a copy. */
    public double[][] variances() {
        requireParameters();
        return deepCopy(variances);
    }

    /** {@link #fit(Context, List)} on the given sequences. */
    public FitReport fit(Context context, double[][]... sequences) {
        return fit(context, asList(sequences));
    }

    /** {@link #score(Context, List)} on the given sequences. */
    public double score(Context context, double[][]... sequences) {
        return score(context, asList(sequences));
    }

    /** {@link #scoreSamples(Context, List)} on the given sequences. */
    public double[] scoreSamples(Context context, double[][]... sequences) {
        return scoreSamples(context, asList(sequences));
    }

    /** {@link #predict(Context, List)} on the given sequences. */
    public int[][] predict(Context context, double[][]... sequences) {
        return predict(context, asList(sequences));
    }

    /** {@link #predictProba(Context, List)} on the given sequences. */
    public double[][][] predictProba(Context context, double[][]... sequences) {
        return predictProba(context, asList(sequences));
    }

    private static List<double[][]> asList(double[][][] sequences) {
        Tensor.requireNonNull(sequences, "sequences");
        return Arrays.asList(sequences);
    }

    private void checkMatrix(double[][] m, String name, boolean isVariance) {
        Tensor.requireNonNull(m, name);
        if (m.length != states) {
            throw new IllegalArgumentException("argument '" + name + "': expected shape [" + states + ", " + features
                    + "], got " + m.length + " rows");
        }
        for (int i = 0; i < states; i++) {
            if (m[i] == null || m[i].length != features) {
                throw new IllegalArgumentException("argument '" + name + "': expected shape [" + states + ", " + features
                        + "], row " + i + " has " + (m[i] == null ? "null" : m[i].length + " entries"));
            }
            for (int d = 0; d < features; d++) {
                double v = m[i][d];
                if (!Double.isFinite(v) || isVariance && v < varianceFloor) {
                    throw new IllegalArgumentException("argument '" + name + "': entry [" + i + "][" + d + "] = " + v
                            + (isVariance ? " is not finite and >= varianceFloor = " + varianceFloor : " is not finite"));
                }
            }
        }
    }

    // ---- the emission model --------------------------------------------------------------------

    @Override
    int length(double[][] sequence) {
        return sequence.length;
    }

    @Override
    void checkSequence(double[][] sequence, int index) {
        for (int t = 0; t < sequence.length; t++) {
            double[] x = sequence[t];
            if (x == null || x.length != features) {
                throw new IllegalArgumentException("argument 'sequences': sequences[" + index + "][" + t + "] has "
                        + (x == null ? "null" : x.length + " features") + ", expected D = " + features);
            }
            for (int d = 0; d < features; d++) {
                if (!Double.isFinite(x[d])) {
                    throw new IllegalArgumentException("argument 'sequences': sequences[" + index + "][" + t + "][" + d
                            + "] = " + x[d] + " is not finite");
                }
            }
        }
    }

    /** The diagonal Gaussian log density of {@code x_t} under every state. */
    @Override
    void logEmission(double[][] sequence, int t, double[] out) {
        double[] x = sequence[t];
        for (int i = 0; i < states; i++) {
            out[i] = logDensity(x, means[i], variances[i]);
        }
    }

    static double logDensity(double[] x, double[] mean, double[] variance) {
        double s = 0;
        for (int d = 0; d < x.length; d++) {
            double diff = x[d] - mean[d];
            s += Math.log(2 * Math.PI * variance[d]) + diff * diff / variance[d];
        }
        return -0.5 * s;
    }

    @Override
    void initEmissions(List<double[][]> sequences, Random random) {
        List<double[]> points = new ArrayList<>();
        for (double[][] seq : sequences) {
            points.addAll(Arrays.asList(seq));
        }
        means = kMeans(points, states, random);
        double[] spread = featureVariances(points);
        variances = new double[states][];
        for (int i = 0; i < states; i++) {
            variances[i] = spread.clone();
        }
    }

    /** Per-feature variance of all points, floored. */
    private double[] featureVariances(List<double[]> points) {
        double[] mean = new double[features];
        for (double[] x : points) {
            for (int d = 0; d < features; d++) {
                mean[d] += x[d] / points.size();
            }
        }
        double[] var = new double[features];
        for (double[] x : points) {
            for (int d = 0; d < features; d++) {
                var[d] += (x[d] - mean[d]) * (x[d] - mean[d]) / points.size();
            }
        }
        for (int d = 0; d < features; d++) {
            var[d] = Math.max(var[d], varianceFloor);
        }
        return var;
    }

    /**
     * Lloyd's k-means from k distinct random points (when the data has fewer distinct points the
     * remaining centres repeat drawn points); an empty cluster keeps its centre.
     */
    static double[][] kMeans(List<double[]> points, int k, Random random) {
        double[][] centres = new double[k][];
        List<double[]> pool = new ArrayList<>(points);
        for (int i = 0; i < k; i++) {
            double[] pick = pool.isEmpty() ? points.get(random.nextInt(points.size()))
                    : pool.remove(random.nextInt(pool.size()));
            centres[i] = pick.clone();
            double[] chosen = centres[i];
            pool.removeIf(p -> Arrays.equals(p, chosen));
        }
        int dims = centres[0].length;
        int[] assignment = new int[points.size()];
        for (int iteration = 0; iteration < KMEANS_ITERATIONS; iteration++) {
            for (int p = 0; p < points.size(); p++) {
                assignment[p] = nearest(points.get(p), centres);
            }
            double[][] sums = new double[k][dims];
            int[] counts = new int[k];
            for (int p = 0; p < points.size(); p++) {
                counts[assignment[p]]++;
                for (int d = 0; d < dims; d++) {
                    sums[assignment[p]][d] += points.get(p)[d];
                }
            }
            for (int i = 0; i < k; i++) {
                if (counts[i] > 0) {
                    for (int d = 0; d < dims; d++) {
                        centres[i][d] = sums[i][d] / counts[i];
                    }
                }
            }
        }
        return centres;
    }

    private static int nearest(double[] x, double[][] centres) {
        int best = 0;
        double bestDistance = Double.POSITIVE_INFINITY;
        for (int i = 0; i < centres.length; i++) {
            double dist = 0;
            for (int d = 0; d < x.length; d++) {
                dist += (x[d] - centres[i][d]) * (x[d] - centres[i][d]);
            }
            if (dist < bestDistance) {
                bestDistance = dist;
                best = i;
            }
        }
        return best;
    }

    /** Means, then floored variances, from the posteriors; states without occupancy are kept. */
    /**
     * Statistics shifted by the current means m_i (so that they add across batches without the
     * cancellation of raw second moments): occupancy {@code n_i = sum gamma_i}, first moment
     * {@code s_id = sum gamma_i (x_d - m_id)} and second moment {@code q_id = sum gamma_i (x_d - m_id)^2}.
     */
    @Override
    double[][][] emissionStatistics(List<double[][]> sequences, double[][][] gamma) {
        double[][] occupancy = new double[states][1];
        double[][] first = new double[states][features];
        double[][] second = new double[states][features];
        forEachObservation(sequences, gamma, (x, g) -> {
            for (int i = 0; i < states; i++) {
                occupancy[i][0] += g[i];
                for (int d = 0; d < features; d++) {
                    double diff = x[d] - means[i][d];
                    first[i][d] += g[i] * diff;
                    second[i][d] += g[i] * diff * diff;
                }
            }
        });
        return new double[][][] {occupancy, first, second};
    }

    /**
     * {@code mean_id = m_id + s_id / n_i}, {@code var_id = max(floor, q_id / n_i - (s_id / n_i)^2)}
     * (the weighted variance about the new mean); a state with {@code n_i = 0} keeps its parameters.
     */
    @Override
    void maximizeEmissions(double[][][] statistics) {
        for (int i = 0; i < states; i++) {
            double n = statistics[0][i][0];
            if (!(n > 0)) {
                continue;
            }
            double[] mean = new double[features];
            for (int d = 0; d < features; d++) {
                double shift = statistics[1][i][d] / n;
                mean[d] = means[i][d] + shift;
                variances[i][d] = Math.max(varianceFloor, statistics[2][i][d] / n - shift * shift);
            }
            means[i] = mean;
        }
    }

    private interface ObservationVisitor {
        void visit(double[] x, double[] gamma);
    }

    private static void forEachObservation(List<double[][]> sequences, double[][][] gamma, ObservationVisitor v) {
        for (int b = 0; b < sequences.size(); b++) {
            double[][] seq = sequences.get(b);
            for (int t = 0; t < seq.length; t++) {
                v.visit(seq[t], gamma[b][t]);
            }
        }
    }

    @Override
    void clearEmissions() {
        means = null;
        variances = null;
    }
}
