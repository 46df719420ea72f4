package org.semiringkernels;

import java.util.Arrays;
import java.util.Objects;
import java.util.function.BiFunction;
import java.util.function.IntToDoubleFunction;

/**
 * Duration priors for {@link SemiCrf}: each factory builds the (K, C) {@code durationBias} in log
 * space, row k - 1 holding the log prior of duration k for every label, together with the
 * gradient of that bias with respect to the prior's parameters.
 *
 * <p><b>Normalisation: truncate and renormalise.</b> A semi-CRF only ever uses durations 1..K, so
 * every parametric prior here (geometric, negative binomial, Poisson, uniform, user function) is
 * the distribution restricted to 1..K and renormalised there:
 * {@code bias[k-1, c] = log w_c(k) - log sum_{j=1..K} w_c(j)}, so that for every label
 * {@code sum_k exp(bias[k-1, c]) = 1} exactly, whatever K is. This is what a user who reads the
 * bias as "the log probability of a segment of duration k" expects: the tail mass beyond K is not
 * silently dropped (which would make every duration look less likely as K shrinks) but spread
 * proportionally over 1..K. The parameter gradients differentiate through the normaliser. Only
 * {@link #learned} is the identity (no normalisation): its table is the free parameter.
 *
 * <p><b>Shifted distributions.</b> Durations start at 1, so the counting distributions describe
 * k - 1: geometric(p) and negative binomial(r, p) count the failures before the first (r-th)
 * success with success probability p, Poisson(lambda) has k - 1 ~ Poisson(lambda). With r = 1 the
 * negative binomial is the geometric.
 *
 * <p>Parameters are per label (arrays of length C). The bias is row-major (K, C) in
 * {@link Prior#bias()}, or a host tensor of either float dtype ({@link Prior#toTensor}). Every
 * argument is checked (K &gt;= 1, C &gt;= 1, equal parameter lengths, parameters in their domain)
 * with an IllegalArgumentException naming it.
 */
public final class DurationPriors {

    private DurationPriors() {
    }

    /**
     * A (K, C) log duration bias and the map from dL/dbias to dL/dparams. Immutable.
     */
    public interface Prior {
        /** K, the maximum duration. */
        int maxDuration();

        /** C, the number of labels. */
        int labels();

        /** The bias, row-major (K, C): element [(k-1) * C + c] is the log prior of duration k for label c. */
        double[] bias();

        /** The names of the parameter blocks, in the order of {@link #parameterGradient}. */
        String[] parameterNames();

        /**
         * dL/dparams given dL/dbias (row-major (K, C)): the parameter blocks of
         * {@link #parameterNames()} concatenated, each of length C (the learned table: K * C;
         * uniform: none).
         */
        double[] parameterGradient(double[] gradBias);

        /** The bias as a new host tensor (K, C) of the given float dtype (the caller closes it). */
        default Tensor toTensor(DType dtype) {
            Tensor.requireNonNull(dtype, "dtype");
            double[] b = bias();
            return switch (dtype) {
                case FLOAT64 -> Tensor.fromArray(b, maxDuration(), labels());
                case FLOAT32 -> {
                    float[] f = new float[b.length];
                    for (int i = 0; i < b.length; i++) {
                        f[i] = (float) b[i];
                    }
                    yield Tensor.fromArray(f, maxDuration(), labels());
                }
                default -> throw new IllegalArgumentException("argument 'dtype': expected FLOAT32 or FLOAT64, got "
                        + dtype);
            };
        }

        /**
         * {@link #parameterGradient(double[])} for a (K, C) float gradient tensor, for example
         * {@link SemiCrf.Gradients#gradDurationBias()} (device tensors are copied to the host).
         */
        default double[] parameterGradient(Tensor gradBias) {
            Tensor.requireNonNull(gradBias, "gradBias");
            if (!Arrays.equals(gradBias.shape(), new long[] {maxDuration(), labels()})) {
                throw new IllegalArgumentException("argument 'gradBias': expected shape [" + maxDuration() + ", "
                        + labels() + "] (K, C), got " + Arrays.toString(gradBias.shape()));
            }
            if (!gradBias.dtype().isFloatingPoint()) {
                throw new IllegalArgumentException("argument 'gradBias': expected dtype FLOAT32 or FLOAT64, got "
                        + gradBias.dtype());
            }
            return parameterGradient(gradBias.toDoubleArrayConverted());
        }
    }

    // ---- factories ----------------------------------------------------------------------------

    /**
     * A learned (free) table: the bias is {@code table} itself (row-major (K, C), copied, not
     * normalised), and the parameter gradient is dL/dbias unchanged.
     */
    public static Prior learned(int maxDuration, int labels, double[] table) {
        checkSizes(maxDuration, labels);
        Tensor.requireNonNull(table, "table");
        if (table.length != (long) maxDuration * labels) {
            throw new IllegalArgumentException("argument 'table': expected " + maxDuration + " * " + labels
                    + " = " + (long) maxDuration * labels + " values (K, C), got " + table.length);
        }
        double[] copy = table.clone();
        return new Prior() {
            @Override
            public int maxDuration() {
                return maxDuration;
            }

            @Override
            public int labels() {
                return labels;
            }

            @Override
            public double[] bias() {
                return copy.clone();
            }

            @Override
            public String[] parameterNames() {
                return new String[] {"table"};
            }

            @Override
            public double[] parameterGradient(double[] gradBias) {
                checkGradient(gradBias, maxDuration, labels);
                return gradBias.clone();
            }
        };
    }

    /** Uniform over 1..K: every entry is -log K; no parameters. */
    public static Prior uniform(int maxDuration, int labels) {
        checkSizes(maxDuration, labels);
        return new Parametric(maxDuration, labels, new String[0], new double[0][], (k, c) -> 0.0, null);
    }

    /**
     * Geometric: k - 1 failures before the first success, w_c(k) = (1 - p_c)^(k-1) p_c, truncated to
     * 1..K and renormalised; p_c in (0, 1). Parameter gradient: dL/dp (C).
     */
    public static Prior geometric(int maxDuration, double[] p) {
        Tensor.requireNonNull(p, "p");
        checkSizes(maxDuration, p.length);
        requireOpenUnit(p, "p");
        double[] q = p.clone();
        return new Parametric(maxDuration, q.length, new String[] {"p"}, new double[][] {q},
                (k, c) -> (k - 1) * Math.log1p(-q[c]) + Math.log(q[c]),
                (k, c) -> new double[] {-(k - 1) / (1 - q[c]) + 1 / q[c]});
    }

    /**
     * Negative binomial: k - 1 failures before the r-th success,
     * w_c(k) = Gamma(k - 1 + r) / (Gamma(r) (k - 1)!) p^r (1 - p)^(k-1), truncated to 1..K and
     * renormalised; r_c &gt; 0, p_c in (0, 1). Parameter gradient: dL/dr (C) then dL/dp (C).
     * Gamma ratios are exact finite sums for integer k (no special functions).
     */
    public static Prior negativeBinomial(int maxDuration, double[] r, double[] p) {
        Tensor.requireNonNull(r, "r");
        Tensor.requireNonNull(p, "p");
        checkSizes(maxDuration, r.length);
        if (p.length != r.length) {
            throw new IllegalArgumentException("argument 'p': expected " + r.length + " values (one per label, as 'r'), got "
                    + p.length);
        }
        requirePositive(r, "r");
        requireOpenUnit(p, "p");
        double[] rr = r.clone();
        double[] q = p.clone();
        return new Parametric(maxDuration, rr.length, new String[] {"r", "p"}, new double[][] {rr, q},
                (k, c) -> logRising(rr[c], k - 1) - logFactorial(k - 1) + rr[c] * Math.log(q[c])
                        + (k - 1) * Math.log1p(-q[c]),
                (k, c) -> new double[] {harmonicRising(rr[c], k - 1) + Math.log(q[c]),
                    rr[c] / q[c] - (k - 1) / (1 - q[c])});
    }

    /**
     * Poisson: k - 1 ~ Poisson(lambda_c), w_c(k) = lambda^(k-1) e^-lambda / (k - 1)!, truncated to 1..K
     * and renormalised; lambda_c &gt; 0. Parameter gradient: dL/dlambda (C).
     */
    public static Prior poisson(int maxDuration, double[] lambda) {
        Tensor.requireNonNull(lambda, "lambda");
        checkSizes(maxDuration, lambda.length);
        requirePositive(lambda, "lambda");
        double[] l = lambda.clone();
        return new Parametric(maxDuration, l.length, new String[] {"lambda"}, new double[][] {l},
                (k, c) -> (k - 1) * Math.log(l[c]) - l[c] - logFactorial(k - 1),
                (k, c) -> new double[] {(k - 1) / l[c] - 1});
    }

    /**
     * A user function per label: {@code logWeight[c].applyAsDouble(k)} is the unnormalised log
     * weight of duration k (1..K) for label c (-inf forbids a duration; at least one duration per
     * label must be finite); truncated to 1..K by construction and renormalised. The parameters
     * are the log weights themselves: the gradient is dL/dw (K, C) through the normaliser.
     */
    public static Prior function(int maxDuration, IntToDoubleFunction... logWeight) {
        Tensor.requireNonNull(logWeight, "logWeight");
        checkSizes(maxDuration, logWeight.length);
        for (int c = 0; c < logWeight.length; c++) {
            Tensor.requireNonNull(logWeight[c], "logWeight[" + c + "]");
        }
        return function(maxDuration, logWeight.length, (k, c) -> logWeight[c].applyAsDouble(k));
    }

    /**
     * A user function of (duration k in 1..K, label c): the unnormalised log weight; see
     * {@link #function(int, IntToDoubleFunction...)}.
     */
    public static Prior function(int maxDuration, int labels, BiFunction<Integer, Integer, Double> logWeight) {
        Tensor.requireNonNull(logWeight, "logWeight");
        checkSizes(maxDuration, labels);
        double[] w = new double[maxDuration * labels];
        for (int k = 1; k <= maxDuration; k++) {
            for (int c = 0; c < labels; c++) {
                Double v = logWeight.apply(k, c);
                if (v == null || Double.isNaN(v) || v == Double.POSITIVE_INFINITY) {
                    throw new IllegalArgumentException("argument 'logWeight': duration " + k + ", label " + c
                            + " gives " + v + "; a log weight is finite or -inf");
                }
                w[(k - 1) * labels + c] = v;
            }
        }
        return new Parametric(maxDuration, labels, new String[] {"logWeight"}, new double[][] {w},
                (k, c) -> w[(k - 1) * labels + c], null);
    }

    // ---- the shared normalised construction ---------------------------------------------------

    @FunctionalInterface
    private interface LogWeight {
        double at(int k, int c);
    }

    @FunctionalInterface
    private interface LogWeightGradient {
        /** d log w_c(k) / d theta_c for each parameter block. */
        double[] at(int k, int c);
    }

    /**
     * bias[k-1, c] = l_c(k) - logsumexp_j l_c(j); with pi = exp(bias) and G_c = sum_k g[k-1, c],
     * dL/dtheta_c = sum_k (g[k-1, c] - pi_c(k) G_c) dl_c(k)/dtheta_c. A null gradient map means the
     * parameters are the log weights themselves (a table, the user function) or there are none.
     */
    private static final class Parametric implements Prior {
        private final int maxDuration;
        private final int labels;
        private final String[] names;
        private final double[][] params;
        private final LogWeightGradient dlog;
        private final double[] bias;

        Parametric(int maxDuration, int labels, String[] names, double[][] params, LogWeight log,
                   LogWeightGradient dlog) {
            this.maxDuration = maxDuration;
            this.labels = labels;
            this.names = names;
            this.params = params;
            this.dlog = dlog;
            this.bias = new double[maxDuration * labels];
            for (int c = 0; c < labels; c++) {
                double max = Double.NEGATIVE_INFINITY;
                for (int k = 1; k <= maxDuration; k++) {
                    double v = log.at(k, c);
                    bias[(k - 1) * labels + c] = v;
                    max = Math.max(max, v);
                }
                if (max == Double.NEGATIVE_INFINITY) {
                    throw new IllegalArgumentException("argument '" + (names.length == 0 ? "labels" : names[0])
                            + "': label " + c + " has no duration in 1..K = " + maxDuration
                            + " with a finite weight; the prior cannot be normalised");
                }
                double sum = 0;
                for (int k = 1; k <= maxDuration; k++) {
                    sum += Math.exp(bias[(k - 1) * labels + c] - max);
                }
                double logNorm = max + Math.log(sum);
                for (int k = 1; k <= maxDuration; k++) {
                    bias[(k - 1) * labels + c] -= logNorm;
                }
            }
        }

        @Override
        public int maxDuration() {
            return maxDuration;
        }

        @Override
        public int labels() {
            return labels;
        }

        @Override
        public double[] bias() {
            return bias.clone();
        }

        @Override
        public String[] parameterNames() {
            return names.clone();
        }

        @Override
        public double[] parameterGradient(double[] gradBias) {
            checkGradient(gradBias, maxDuration, labels);
            if (names.length == 0) {
                return new double[0];
            }
            // centred[k-1, c] = g[k-1, c] - pi_c(k) G_c: the gradient w.r.t. the unnormalised log weights
            double[] centred = new double[bias.length];
            for (int c = 0; c < labels; c++) {
                double total = 0;
                for (int k = 1; k <= maxDuration; k++) {
                    total += gradBias[(k - 1) * labels + c];
                }
                for (int k = 1; k <= maxDuration; k++) {
                    int i = (k - 1) * labels + c;
                    centred[i] = gradBias[i] - Math.exp(bias[i]) * total;
                }
            }
            if (dlog == null) {
                return centred;
            }
            double[] out = new double[names.length * labels];
            for (int c = 0; c < labels; c++) {
                for (int k = 1; k <= maxDuration; k++) {
                    double gk = centred[(k - 1) * labels + c];
                    if (gk == 0) {
                        continue; // also skips forbidden durations, whose weight derivative may be infinite
                    }
                    double[] d = dlog.at(k, c);
                    for (int j = 0; j < names.length; j++) {
                        out[j * labels + c] += gk * d[j];
                    }
                }
            }
            return out;
        }

        @Override
        public String toString() {
            StringBuilder s = new StringBuilder("DurationPrior(K = " + maxDuration + ", C = " + labels);
            for (int j = 0; j < names.length && params[j].length == labels; j++) {
                s.append(", ").append(names[j]).append(" = ").append(Arrays.toString(params[j]));
            }
            return s.append(')').toString();
        }
    }

    // ---- helpers ------------------------------------------------------------------------------

    /** log(r (r+1) ... (r+n-1)) = log Gamma(r + n) - log Gamma(r). */
    static double logRising(double r, int n) {
        double s = 0;
        for (int j = 0; j < n; j++) {
            s += Math.log(r + j);
        }
        return s;
    }

    /** d/dr logRising(r, n) = sum_{j<n} 1 / (r + j). */
    static double harmonicRising(double r, int n) {
        double s = 0;
        for (int j = 0; j < n; j++) {
            s += 1 / (r + j);
        }
        return s;
    }

    /** log n!. */
    static double logFactorial(int n) {
        return logRising(1, n);
    }

    private static void checkSizes(int maxDuration, int labels) {
        if (maxDuration < 1) {
            throw new IllegalArgumentException("argument 'maxDuration': K = " + maxDuration + "; K must be >= 1");
        }
        if (labels < 1) {
            throw new IllegalArgumentException("argument 'labels': C = " + labels + "; at least one label is needed");
        }
        if ((long) maxDuration * labels > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("argument 'maxDuration': K * C = " + (long) maxDuration * labels
                    + " does not fit a Java array");
        }
    }

    private static void checkGradient(double[] gradBias, int maxDuration, int labels) {
        Objects.requireNonNull(gradBias, "argument 'gradBias' is null");
        if (gradBias.length != maxDuration * labels) {
            throw new IllegalArgumentException("argument 'gradBias': expected " + maxDuration + " * " + labels + " = "
                    + maxDuration * labels + " values (K, C), got " + gradBias.length);
        }
    }

    private static void requireOpenUnit(double[] p, String name) {
        for (int c = 0; c < p.length; c++) {
            if (!(p[c] > 0 && p[c] < 1)) {
                throw new IllegalArgumentException("argument '" + name + "': " + name + "[" + c + "] = " + p[c]
                        + " is outside (0, 1)");
            }
        }
    }

    private static void requirePositive(double[] v, String name) {
        for (int c = 0; c < v.length; c++) {
            if (!(v[c] > 0) || Double.isInfinite(v[c])) {
                throw new IllegalArgumentException("argument '" + name + "': " + name + "[" + c + "] = " + v[c]
                        + " must be finite and > 0");
            }
        }
    }
}
