package org.semiringkernels;

import java.util.Arrays;
import java.util.List;
import java.util.Random;

/**
 * An HMM with categorical emissions (hmmlearn's {@code CategoricalHMM}): N hidden states, M
 * symbols {@code 0 .. M-1}, emission probabilities {@code B[i][m] = p(x_t = m | z_t = i)}.
 * Fitted by Baum-Welch on the native factored HMM; see {@link BaumWelchHmm} for the E-step, the
 * start and transition updates, convergence and the random initialisation of pi and A.
 *
 * <p><b>Emission M-step:</b> {@code B[i][m] = sum_{b,t: x_bt = m} gamma_bt(i) / sum_{b,t} gamma_bt(i)}
 * (expected number of times state i emits m over the expected time spent in i); a state with
 * zero expected occupancy keeps its row. <b>Random initialisation:</b> each row of B is
 * {@code 1 + u_m} normalised, {@code u_m} uniform in [0, 1) from the seeded generator, so the
 * states start distinct.
 *
 * <pre>{@code
 * try (Context ctx = Context.cpu()) {
 *     CategoricalHmm hmm = new CategoricalHmm(2, 3, BaumWelchHmm.Settings.defaults().withSeed(7));
 *     BaumWelchHmm.FitReport report = hmm.fit(ctx, new int[] {0, 1, 2, 2}, new int[] {2, 2, 0});
 *     int[][] states = hmm.predict(ctx, new int[] {0, 0, 2});
 * }
 * }</pre>
 */
public final class CategoricalHmm extends BaumWelchHmm<int[]> {

    private final int symbols;
    private double[][] emission;

    /** N = nComponents hidden states over M = nSymbols symbols, with {@link Settings#defaults()}. */
    public CategoricalHmm(int nComponents, int nSymbols) {
        this(nComponents, nSymbols, Settings.defaults());
    }

    public CategoricalHmm(int nComponents, int nSymbols, Settings settings) {
        super(nComponents, settings);
        if (nSymbols < 1) {
            throw new IllegalArgumentException("argument 'nSymbols': must be >= 1, got " + nSymbols);
        }
        this.symbols = nSymbols;
    }

    /** Number of symbols M. */
    public int nSymbols() {
        return symbols;
    }

    /**
     * Sets every parameter (a user initialisation for the next fit, or a model to score with):
     * pi (N), A (N, N) and B (N, M), each a probability distribution per row (sums within 1e-6 of
     * 1). Everything is checked before anything is stored.
     */
    public void setParameters(double[] startProbabilities, double[][] transitionProbabilities,
                              double[][] emissionProbabilities) {
        checkStartAndTransition(startProbabilities, transitionProbabilities);
        checkStochastic(emissionProbabilities, "emissionProbabilities", states, symbols);
        storeStartAndTransition(startProbabilities, transitionProbabilities);
        emission = deepCopy(emissionProbabilities);
        initialized = true;
    }

    /** Emission probabilities B (N, M), a copy. */
    public double[][] emissionProbabilities() {
        requireParameters();
        return deepCopy(emission);
    }

    /** {@link #fit(Context, List)} on the given sequences. */
    public FitReport fit(Context context, int[]... sequences) {
        return fit(context, asList(sequences));
    }

    /** {@link #score(Context, List)} on the given sequences. */
    public double score(Context context, int[]... sequences) {
        return score(context, asList(sequences));
    }

    /** {@link #scoreSamples(Context, List)} on the given sequences. */
    public double[] scoreSamples(Context context, int[]... sequences) {
        return scoreSamples(context, asList(sequences));
    }

    /** {@link #predict(Context, List)} on the given sequences. */
    public int[][] predict(Context context, int[]... sequences) {
        return predict(context, asList(sequences));
    }

    /** {@link #predictProba(Context, List)} on the given sequences. */
    public double[][][] predictProba(Context context, int[]... sequences) {
        return predictProba(context, asList(sequences));
    }

    private static List<int[]> asList(int[][] sequences) {
        Tensor.requireNonNull(sequences, "sequences");
        return Arrays.asList(sequences);
    }

    // ---- the emission model --------------------------------------------------------------------

    @Override
    int length(int[] sequence) {
        return sequence.length;
    }

    @Override
    void checkSequence(int[] sequence, int index) {
        for (int t = 0; t < sequence.length; t++) {
            if (sequence[t] < 0 || sequence[t] >= symbols) {
                throw new IllegalArgumentException("argument 'sequences': sequences[" + index + "][" + t + "] = "
                        + sequence[t] + " is outside [0, M = " + symbols + ")");
            }
        }
    }

    @Override
    void logEmission(int[] sequence, int t, double[] out) {
        for (int i = 0; i < states; i++) {
            out[i] = Math.log(emission[i][sequence[t]]);
        }
    }

    @Override
    void initEmissions(List<int[]> sequences, Random random) {
        emission = new double[states][symbols];
        for (double[] row : emission) {
            for (int m = 0; m < symbols; m++) {
                row[m] = 1.0 + random.nextDouble();
            }
            normalise(row);
        }
    }

    /** The expected emission counts {@code counts[i][m] = sum_{x_bt = m} gamma_bt(i)}. */
    @Override
    double[][][] emissionStatistics(List<int[]> sequences, double[][][] gamma) {
        return new double[][][] {expectedEmissionCounts(sequences, gamma)};
    }

    /** {@code B_im = counts[i][m] / sum_m' counts[i][m']}; a state never visited keeps its row. */
    @Override
    void maximizeEmissions(double[][][] statistics) {
        for (int i = 0; i < states; i++) {
            double[] next = statistics[0][i].clone();
            if (normalise(next)) {
                emission[i] = next;
            }
        }
    }

    /** {@code counts[i][m] = sum_{b,t: x_bt = m} gamma_bt(i)}. */
    private double[][] expectedEmissionCounts(List<int[]> sequences, double[][][] gamma) {
        double[][] counts = new double[states][symbols];
        for (int b = 0; b < sequences.size(); b++) {
            int[] seq = sequences.get(b);
            for (int t = 0; t < seq.length; t++) {
                for (int i = 0; i < states; i++) {
                    counts[i][seq[t]] += gamma[b][t][i];
                }
            }
        }
        return counts;
    }

    @Override
    void clearEmissions() {
        emission = null;
    }
}
