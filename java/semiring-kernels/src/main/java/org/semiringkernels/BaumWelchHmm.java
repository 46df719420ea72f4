package org.semiringkernels;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

/**
 * A hidden Markov model with N hidden states fitted by Baum-Welch (expectation-maximisation), in
 * the manner of hmmlearn: {@link #fit}, {@link #score}, {@link #predict} (Viterbi) and
 * {@link #predictProba} (posteriors). The emission model is the subclass's:
 * {@link CategoricalHmm} (discrete symbols) or {@link GaussianHmm} (diagonal Gaussians).
 *
 * <p><b>Parameters</b> (probabilities, not logs): start {@code pi} (N), transition {@code A}
 * (N, N), rows = from state, and the emission parameters. The {@code setParameters} methods of
 * the subclasses give a user initialisation; otherwise the first {@code fit} draws a seeded random
 * one ({@link Settings#seed()}): pi uniform, rows of A uniform plus a seeded perturbation, and the
 * subclass's emission initialisation. {@link #resetParameters()} forgets the parameters so that
 * the next fit draws a fresh initialisation; a fit on a model with parameters continues from them.
 *
 * <p><b>E-step.</b> All sequences (of any lengths) are padded into one batch (B, T_max) and
 * sent to the native factored HMM as one batched forward (the log-likelihood {@code log p(x_b)} of
 * every sequence) and one batched backward with upstream gradient 1, whose gradients are the
 * expected counts: {@code d logZ / d log pi_i = sum_b P_b(z_0 = i)},
 * {@code d logZ / d log A_ij = sum_b sum_t P_b(z_{t-1} = i, z_t = j)} and
 * {@code d logZ / d emission[b,t,i] = gamma_b,t(i) = P_b(z_t = i)}. There is never one native
 * call per sequence. The tensors live on the given context's device (CPU or CUDA) in
 * {@link Settings#dtype()}.
 *
 * <p><b>M-step</b> (maximum likelihood given the expected counts):
 * {@code pi_i = sum_b gamma_b,0(i) / B};
 * {@code A_ij = xi_ij / sum_j' xi_ij'} with {@code xi_ij = sum_b sum_t P_b(z_{t-1} = i, z_t = j)};
 * the emission update is the subclass's. A state whose expected count (a row's denominator) is 0
 * keeps its previous parameters, so no division by zero can produce NaN.
 *
 * <p><b>Loop and convergence.</b> Iteration k runs the E-step with the current parameters
 * (recording their total log-likelihood {@code sum_b log p(x_b)} in the history) and then the
 * M-step. It stops after {@link Settings#maxIterations()} iterations or as soon as the gain
 * {@code history[k] - history[k-1]} is below {@link Settings#tolerance()} (hmmlearn's rule; the
 * M-step of that last iteration is still applied, which never lowers the likelihood). EM never
 * decreases the log-likelihood, up to rounding.
 *
 * <p><b>Threads.</b> A model is not thread-safe; the context follows {@link Context}'s rule.
 *
 * @param <O> one observed sequence: {@code int[]} (categorical) or {@code double[][]} (Gaussian,
 *            positions x features)
 */
public abstract sealed class BaumWelchHmm<O> implements java.io.Serializable permits CategoricalHmm, GaussianHmm {

    private static final long serialVersionUID = 1L;

    /**
     * Fitting settings: iteration cap ({@code >= 1}), convergence tolerance on the log-likelihood
     * gain ({@code >= 0}), seed of the random initialisation and the dtype of the native tensors
     * (FLOAT32 or FLOAT64).
     */
    public record Settings(int maxIterations, double tolerance, long seed, DType dtype) implements java.io.Serializable {
        public Settings {
            if (maxIterations < 1) {
                throw new IllegalArgumentException("argument 'maxIterations': must be >= 1, got " + maxIterations);
            }
            if (!(tolerance >= 0) || Double.isInfinite(tolerance)) {
                throw new IllegalArgumentException("argument 'tolerance': must be finite and >= 0, got " + tolerance);
            }
            Tensor.requireNonNull(dtype, "dtype");
            if (!dtype.isFloatingPoint()) {
                throw new IllegalArgumentException("argument 'dtype': expected FLOAT32 or FLOAT64, got " + dtype);
            }
        }

        /** 100 iterations, tolerance 1e-2 (hmmlearn's default tolerance), seed 0, FLOAT64. */
        public static Settings defaults() {
            return new Settings(100, 1e-2, 0L, DType.FLOAT64);
        }

        public Settings withMaxIterations(int value) {
            return new Settings(value, tolerance, seed, dtype);
        }

        public Settings withTolerance(double value) {
            return new Settings(maxIterations, value, seed, dtype);
        }

        public Settings withSeed(long value) {
            return new Settings(maxIterations, tolerance, value, dtype);
        }

        public Settings withDtype(DType value) {
            return new Settings(maxIterations, tolerance, seed, value);
        }
    }

    /**
     * What a fit did: the total log-likelihood before each M-step (non-decreasing up to
     * rounding), the number of iterations run and whether the tolerance was reached.
     */
    public record FitReport(double[] logLikelihoods, int iterations, boolean converged) {
        public FitReport {
            logLikelihoods = logLikelihoods.clone();
        }

        @Override
        public double[] logLikelihoods() {
            return logLikelihoods.clone();
        }

        @Override
        public String toString() {
            return "FitReport[iterations=" + iterations + ", converged=" + converged + ", logLikelihoods="
                    + Arrays.toString(logLikelihoods) + "]";
        }
    }

    final int states;
    final Settings settings;
    double[] start;
    double[][] transition;
    boolean initialized;

    BaumWelchHmm(int states, Settings settings) {
        if (states < 1) {
            throw new IllegalArgumentException("argument 'nComponents': must be >= 1, got " + states);
        }
        Tensor.requireNonNull(settings, "settings");
        this.states = states;
        this.settings = settings;
    }

    // ---- the subclass's emission model ---------------------------------------------------------

    /** Number of positions of a sequence. */
    abstract int length(O sequence);

    /** Throws IllegalArgumentException naming {@code sequences[index]} when the sequence is malformed. */
    abstract void checkSequence(O sequence, int index);

    /** {@code out[i] = log p(x_t | z_t = i)} under the current emission parameters. */
    abstract void logEmission(O sequence, int t, double[] out);

    /** Seeded random emission parameters from the data. */
    abstract void initEmissions(List<O> sequences, Random random);

    /**
     * The emission model's expected sufficient statistics from the posteriors
     * {@code gamma[b][t][i]} of the E-step, as matrices that add up across batches.
     */
    abstract double[][][] emissionStatistics(List<O> sequences, double[][][] gamma);

    /** The emission M-step from summed {@link #emissionStatistics}. */
    abstract void maximizeEmissions(double[][][] statistics);

    /** Forgets the emission parameters. */
    abstract void clearEmissions();

    // ---- public API ----------------------------------------------------------------------------

    /** Number of hidden states N. */
    public int nComponents() {
        return states;
    }

    public Settings settings() {
        return settings;
    }

    /** True once parameters exist (set by the user or by a fit). */
    public boolean hasParameters() {
        return initialized;
    }

    /** Start probabilities pi (N), a copy. */
    public double[] startProbabilities() {
        requireParameters();
        return start.clone();
    }

    /** Transition probabilities A (N, N), rows = from state, a copy. */
    public double[][] transitionProbabilities() {
        requireParameters();
        return deepCopy(transition);
    }

    /** Forgets all parameters: the next fit draws a fresh seeded initialisation. */
    public void resetParameters() {
        start = null;
        transition = null;
        clearEmissions();
        initialized = false;
    }

    /**
     * Fits by Baum-Welch (see the class comment). Each sequence has at least one position; they may
     * have different lengths. Initialises randomly (seeded) when no parameters are set.
     */
    public FitReport fit(Context context, List<O> sequences) {
        checkedContext(context);
        checkSequences(sequences);
        if (!initialized) {
            initialise0(sequences);
        }
        List<Double> history = new ArrayList<>();
        boolean converged = false;
        for (int iteration = 0; iteration < settings.maxIterations(); iteration++) {
            Statistics s = expectedStatistics(context, sequences);
            maximize(s);
            history.add(s.logLikelihood());
            if (hasConverged(history, settings.tolerance())) {
                converged = true;
                break;
            }
        }
        double[] lls = history.stream().mapToDouble(Double::doubleValue).toArray();
        return new FitReport(lls, lls.length, converged);
    }

    // ---- the EM steps as separate calls (distributed fitting) -------------------------------------

    /**
     * The expected sufficient statistics of one E-step over some sequences: their total
     * log-likelihood and count, expected start counts (N), expected transition counts (N, N) and
     * the emission model's statistics. Statistics of disjoint sets of sequences {@link #merge} by
     * addition, so an E-step can be split over batches, threads or machines (the Spark module's
     * distributed Baum-Welch does) and {@link BaumWelchHmm#maximize} applied to the sum.
     */
    public static final class Statistics implements java.io.Serializable {
        private static final long serialVersionUID = 1L;
        private long sequences;
        private double logLikelihood;
        private final double[] start;
        private final double[][] transition;
        private final double[][][] emission;

        Statistics(long sequences, double logLikelihood, double[] start, double[][] transition, double[][][] emission) {
            this.sequences = sequences;
            this.logLikelihood = logLikelihood;
            this.start = start;
            this.transition = transition;
            this.emission = emission;
        }

        /** Number of sequences summed. */
        public long sequences() {
            return sequences;
        }

        /** {@code sum_b log p(x_b)} under the parameters of the E-step. */
        public double logLikelihood() {
            return logLikelihood;
        }

        /** Adds {@code other} (statistics of other sequences, same model shape) into this; returns this. */
        public Statistics merge(Statistics other) {
            Tensor.requireNonNull(other, "other");
            if (other.start.length != start.length || other.emission.length != emission.length) {
                throw new IllegalArgumentException("argument 'other': statistics of a model of another shape");
            }
            sequences += other.sequences;
            logLikelihood += other.logLikelihood;
            add(start, other.start);
            for (int i = 0; i < transition.length; i++) {
                add(transition[i], other.transition[i]);
            }
            for (int k = 0; k < emission.length; k++) {
                for (int i = 0; i < emission[k].length; i++) {
                    add(emission[k][i], other.emission[k][i]);
                }
            }
            return this;
        }

        private static void add(double[] into, double[] from) {
            if (into.length != from.length) {
                throw new IllegalArgumentException("argument 'other': statistics of a model of another shape");
            }
            for (int j = 0; j < into.length; j++) {
                into[j] += from[j];
            }
        }
    }

    /** Statistics of no sequence (the identity of {@link Statistics#merge}) for this model's shape. */
    public Statistics emptyStatistics() {
        requireParameters();
        double[][][] shape = emissionStatistics(List.of(), new double[0][][]);
        return new Statistics(0, 0, new double[states], new double[states][states], shape);
    }

    /**
     * One E-step over {@code sequences} under the current parameters (one batched native forward
     * and one batched backward; see the class comment), as mergeable statistics.
     */
    public Statistics expectedStatistics(Context context, List<O> sequences) {
        checkedContext(context);
        checkSequences(sequences);
        requireParameters();
        Expectations e = expectations(context, sequences);
        return new Statistics(sequences.size(), sum(e.logLikelihoods), e.startCounts, e.transitionCounts,
                emissionStatistics(sequences, e.gamma));
    }

    /** The M-step from (summed) statistics: start, transition and emission updates. */
    public void maximize(Statistics statistics) {
        Tensor.requireNonNull(statistics, "statistics");
        requireParameters();
        if (statistics.start.length != states) {
            throw new IllegalArgumentException("argument 'statistics': " + statistics.start.length
                    + " states, the model has " + states);
        }
        updateStart(statistics.start.clone());
        updateTransition(statistics.transition);
        maximizeEmissions(statistics.emission);
    }

    /**
     * Draws the seeded initial parameters from {@code sample} (what the first {@link #fit} does
     * when no parameters are set); for a distributed fit, call it with a sample on the driver.
     */
    public void initialise(List<O> sample) {
        checkSequences(sample);
        initialise0(sample);
    }

    /** Total log-likelihood {@code sum_b log p(x_b)} of the sequences under the current parameters. */
    public double score(Context context, List<O> sequences) {
        return sum(scoreSamples(context, sequences));
    }

    /** Log-likelihood {@code log p(x_b)} of each sequence (one batched native forward). */
    public double[] scoreSamples(Context context, List<O> sequences) {
        checkedContext(context);
        checkSequences(sequences);
        requireParameters();
        Padded p = pad(sequences);
        try (Operands o = new Operands(context, p); Tensor ll = Hmm.forward(context, Semiring.LOG, o.model, o.lengths)) {
            return read(ll);
        }
    }

    /** The most likely state path of each sequence (Viterbi; ties to the lowest state index). */
    public int[][] predict(Context context, List<O> sequences) {
        checkedContext(context);
        checkSequences(sequences);
        requireParameters();
        Padded p = pad(sequences);
        try (Operands o = new Operands(context, p); Hmm.Viterbi v = Hmm.viterbi(context, o.model, o.lengths)) {
            int[] flat = v.path().toIntArray();
            int[][] paths = new int[p.batch][];
            for (int b = 0; b < p.batch; b++) {
                paths[b] = Arrays.copyOfRange(flat, b * p.steps, b * p.steps + p.lengths[b]);
            }
            return paths;
        }
    }

    /** Posterior state probabilities {@code [b][t][i] = P(z_t = i | x_b)} (each position sums to 1). */
    public double[][][] predictProba(Context context, List<O> sequences) {
        checkedContext(context);
        checkSequences(sequences);
        requireParameters();
        Padded p = pad(sequences);
        try (Operands o = new Operands(context, p);
             Hmm.Marginals m = Hmm.marginals(context, Semiring.LOG, o.model, o.lengths)) {
            return unpad(read(m.marginals()), p);
        }
    }

    // ---- EM steps ------------------------------------------------------------------------------

    /** Seeded initialisation: uniform pi, perturbed uniform A, the subclass's emissions. */
    private void initialise0(List<O> sequences) {
        Random random = new Random(settings.seed());
        start = new double[states];
        Arrays.fill(start, 1.0 / states);
        transition = new double[states][states];
        for (double[] row : transition) {
            for (int j = 0; j < states; j++) {
                row[j] = 1.0 + 0.2 * random.nextDouble();
            }
            normalise(row);
        }
        initEmissions(sequences, random);
        initialized = true;
    }

    /** {@code pi_i = c_i / sum_j c_j} with {@code c_i = sum_b P_b(z_0 = i)}; kept when all c are 0. */
    private void updateStart(double[] startCounts) {
        double[] next = startCounts.clone();
        if (normalise(next)) {
            start = next;
        }
    }

    /** {@code A_ij = xi_ij / sum_j' xi_ij'}; a row without expected transitions out of i is kept. */
    private void updateTransition(double[][] counts) {
        for (int i = 0; i < states; i++) {
            double[] next = counts[i].clone();
            if (normalise(next)) {
                transition[i] = next;
            }
        }
    }

    static boolean hasConverged(List<Double> history, double tolerance) {
        int n = history.size();
        return n >= 2 && history.get(n - 1) - history.get(n - 2) < tolerance;
    }

    /** One E-step's results: log p(x_b), expected start and transition counts, posteriors. */
    private record Expectations(double[] logLikelihoods, double[] startCounts, double[][] transitionCounts,
                                double[][][] gamma) {
    }

    /** One batched forward (log-likelihoods) and one batched backward with g = 1 (expected counts). */
    private Expectations expectations(Context context, List<O> sequences) {
        Padded p = pad(sequences);
        try (Operands o = new Operands(context, p);
             Tensor ll = Hmm.forward(context, Semiring.LOG, o.model, o.lengths);
             Tensor ones = o.upload(filled(p.batch, 1.0), p.batch);
             Hmm.FactoredGradients g = Hmm.backward(context, Semiring.LOG, o.model, o.lengths, ones)) {
            double[] flatTransition = read(g.gradTransition());
            double[][] xi = new double[states][];
            for (int i = 0; i < states; i++) {
                xi[i] = Arrays.copyOfRange(flatTransition, i * states, (i + 1) * states);
            }
            return new Expectations(read(ll), read(g.gradInitial()), xi,
                    unpad(read(g.gradEmission()), p));
        }
    }

    // ---- padding and tensors -------------------------------------------------------------------

    /** The batch: B sequences padded to T = max length; logEmission (B, T, N) row-major, 0 past the lengths. */
    private record Padded(int batch, int steps, int[] lengths, double[] logEmission) {
    }

    private Padded pad(List<O> sequences) {
        int batch = sequences.size();
        int[] lengths = new int[batch];
        int steps = 0;
        for (int b = 0; b < batch; b++) {
            lengths[b] = length(sequences.get(b));
            steps = Math.max(steps, lengths[b]);
        }
        long cells = (long) batch * steps * states;
        if (cells > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("argument 'sequences': the padded batch B x T_max x N = " + batch + " x "
                    + steps + " x " + states + " is too large for one call; fit on fewer or shorter sequences");
        }
        double[] logEmission = new double[(int) cells];
        double[] row = new double[states];
        for (int b = 0; b < batch; b++) {
            O seq = sequences.get(b);
            for (int t = 0; t < lengths[b]; t++) {
                logEmission(seq, t, row);
                System.arraycopy(row, 0, logEmission, (b * steps + t) * states, states);
            }
        }
        return new Padded(batch, steps, lengths, logEmission);
    }

    private double[][][] unpad(double[] flat, Padded p) {
        double[][][] out = new double[p.batch][][];
        for (int b = 0; b < p.batch; b++) {
            out[b] = new double[p.lengths[b]][];
            for (int t = 0; t < p.lengths[b]; t++) {
                int at = (b * p.steps + t) * states;
                out[b][t] = Arrays.copyOfRange(flat, at, at + states);
            }
        }
        return out;
    }

    /** The factored model's tensors on the context's device: log pi (N), log A (N, N), emission, lengths. */
    private final class Operands implements AutoCloseable {
        final Context context;
        final List<Tensor> made = new ArrayList<>();
        final Hmm.Factored model;
        final Tensor lengths;

        Operands(Context context, Padded p) {
            this.context = context;
            try {
                Tensor init = upload(logs(start), states);
                Tensor trans = upload(logs(flatten(transition)), states, states);
                Tensor emission = upload(p.logEmission, p.batch, p.steps, states);
                model = new Hmm.Factored(init, trans, emission);
                lengths = keep(Tensor.fromArray(p.lengths, p.batch)); // host lengths work for any context
            } catch (RuntimeException | Error e) {
                close();
                throw e;
            }
        }

        /** A contiguous tensor of settings.dtype on the context's device holding {@code values}. */
        Tensor upload(double[] values, long... shape) {
            DType dtype = settings.dtype();
            Tensor host = keep(Tensor.allocateHost(dtype, shape));
            MemorySegment seg = host.segment();
            for (int i = 0; i < values.length; i++) {
                if (dtype == DType.FLOAT32) {
                    seg.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) values[i]);
                } else {
                    seg.setAtIndex(ValueLayout.JAVA_DOUBLE, i, values[i]);
                }
            }
            return context.device().isCpu() ? host : keep(host.to(context));
        }

        private Tensor keep(Tensor t) {
            made.add(t);
            return t;
        }

        @Override
        public void close() {
            for (int i = made.size() - 1; i >= 0; i--) {
                made.get(i).close();
            }
            made.clear();
        }
    }

    // ---- checks and small helpers --------------------------------------------------------------

    private void checkSequences(List<O> sequences) {
        Tensor.requireNonNull(sequences, "sequences");
        if (sequences.isEmpty()) {
            throw new IllegalArgumentException("argument 'sequences': no sequences given");
        }
        for (int b = 0; b < sequences.size(); b++) {
            O seq = sequences.get(b);
            if (seq == null) {
                throw new NullPointerException("argument 'sequences': sequences[" + b + "] is null");
            }
            if (length(seq) < 1) {
                throw new IllegalArgumentException("argument 'sequences': sequences[" + b
                        + "] is empty; every sequence needs at least one position");
            }
            checkSequence(seq, b);
        }
    }

    void requireParameters() {
        if (!initialized) {
            throw new IllegalStateException("the model has no parameters yet: call fit(...) or set them first");
        }
    }

    /** Validates pi and A (the subclasses' setters check everything before storing anything). */
    void checkStartAndTransition(double[] startProbabilities, double[][] transitionProbabilities) {
        checkDistribution(startProbabilities, "startProbabilities", states);
        checkStochastic(transitionProbabilities, "transitionProbabilities", states, states);
    }

    /** Stores validated pi and A (copies). */
    void storeStartAndTransition(double[] startProbabilities, double[][] transitionProbabilities) {
        start = startProbabilities.clone();
        transition = deepCopy(transitionProbabilities);
    }

    static void checkDistribution(double[] p, String name, int size) {
        Tensor.requireNonNull(p, name);
        if (p.length != size) {
            throw new IllegalArgumentException("argument '" + name + "': expected " + size + " entries, got " + p.length);
        }
        double total = 0;
        for (int i = 0; i < p.length; i++) {
            if (!(p[i] >= 0) || Double.isInfinite(p[i])) {
                throw new IllegalArgumentException("argument '" + name + "': entry " + i + " = " + p[i]
                        + " is not a probability (finite and >= 0)");
            }
            total += p[i];
        }
        if (Math.abs(total - 1) > 1e-6) {
            throw new IllegalArgumentException("argument '" + name + "': entries sum to " + total + ", expected 1");
        }
    }

    static void checkStochastic(double[][] m, String name, int rows, int cols) {
        Tensor.requireNonNull(m, name);
        if (m.length != rows) {
            throw new IllegalArgumentException("argument '" + name + "': expected shape [" + rows + ", " + cols
                    + "], got " + m.length + " rows");
        }
        for (int i = 0; i < rows; i++) {
            if (m[i] == null || m[i].length != cols) {
                throw new IllegalArgumentException("argument '" + name + "': expected shape [" + rows + ", " + cols
                        + "], row " + i + " has " + (m[i] == null ? "null" : m[i].length + " entries"));
            }
            checkDistribution(m[i], name + "[" + i + "]", cols);
        }
    }

    private static Context checkedContext(Context context) {
        Tensor.requireNonNull(context, "context");
        if (context.isClosed()) {
            throw new IllegalStateException("Context on " + context.device() + " is closed");
        }
        return context;
    }

    /** Scales {@code v} to sum 1; returns false (leaving it unchanged) when the sum is not positive. */
    static boolean normalise(double[] v) {
        double total = 0;
        for (double x : v) {
            total += x;
        }
        if (!(total > 0) || Double.isInfinite(total)) {
            return false;
        }
        for (int i = 0; i < v.length; i++) {
            v[i] /= total;
        }
        return true;
    }

    static double[] logs(double[] p) {
        double[] out = new double[p.length];
        for (int i = 0; i < p.length; i++) {
            out[i] = Math.log(p[i]);
        }
        return out;
    }

    static double[] flatten(double[][] m) {
        int cols = m.length == 0 ? 0 : m[0].length;
        double[] out = new double[m.length * cols];
        for (int i = 0; i < m.length; i++) {
            System.arraycopy(m[i], 0, out, i * cols, cols);
        }
        return out;
    }

    static double[][] deepCopy(double[][] m) {
        double[][] out = new double[m.length][];
        for (int i = 0; i < m.length; i++) {
            out[i] = m[i].clone();
        }
        return out;
    }

    /** The elements of a contiguous FLOAT32/FLOAT64 result (host or device) as doubles, copied in bulk. */
    private static double[] read(Tensor t) {
        if (t.dtype() == DType.FLOAT64) {
            return t.toDoubleArray();
        }
        float[] f = t.toFloatArray();
        double[] out = new double[f.length];
        for (int i = 0; i < f.length; i++) {
            out[i] = f[i];
        }
        return out;
    }

    private static double[] filled(int n, double value) {
        double[] out = new double[n];
        Arrays.fill(out, value);
        return out;
    }

    private static double sum(double[] v) {
        double total = 0;
        for (double x : v) {
            total += x;
        }
        return total;
    }
}
