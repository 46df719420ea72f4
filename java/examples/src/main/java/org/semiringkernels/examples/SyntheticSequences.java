package org.semiringkernels.examples;

import java.util.Random;

/**
 * Synthetic labelled sequences for the example jobs, reproducible from (seed, id) alone so that
 * executors can generate their rows without shipping data: a true segmentation into C labels
 * (durations uniform in [MIN_DURATION, MAX_DURATION], consecutive segments with different labels)
 * and per-position label scores = 1 for the true label + N(0, NOISE^2) noise on every label.
 */
public final class SyntheticSequences {

    public static final int LABELS = 3, MIN_DURATION = 5, MAX_DURATION = 40;
    public static final double NOISE = 0.8;

    private SyntheticSequences() {
    }

    /** The true label of every position of sequence `id`. */
    public static int[] labels(long seed, long id, int length) {
        Random rng = new Random(seed * 1_000_003L + id);
        int[] out = new int[length];
        int t = 0, label = rng.nextInt(LABELS);
        while (t < length) {
            int d = MIN_DURATION + rng.nextInt(MAX_DURATION - MIN_DURATION + 1);
            for (int u = t; u < Math.min(length, t + d); u++) {
                out[u] = label;
            }
            t += d;
            label = (label + 1 + rng.nextInt(LABELS - 1)) % LABELS;
        }
        return out;
    }

    /** Per-position scores (length, LABELS) of sequence `id`. */
    public static double[][] scores(long seed, long id, int length) {
        int[] truth = labels(seed, id, length);
        Random rng = new Random(~(seed * 1_000_003L + id));
        double[][] out = new double[length][LABELS];
        for (int t = 0; t < length; t++) {
            for (int c = 0; c < LABELS; c++) {
                out[t][c] = (c == truth[t] ? 1.0 : 0.0) + NOISE * rng.nextGaussian();
            }
        }
        return out;
    }

    /** The semi-CRF matching the generator: no repeated label, uniform durations, no start preference. */
    public static org.semiringkernels.spark.SparkSemiCrf.Parameters model() {
        double[][] transition = new double[LABELS][LABELS], bias = new double[MAX_DURATION][LABELS];
        for (int i = 0; i < LABELS; i++) {
            transition[i][i] = Double.NEGATIVE_INFINITY;
        }
        for (int k = 1; k <= MAX_DURATION; k++) {
            for (int c = 0; c < LABELS; c++) {
                bias[k - 1][c] = k < MIN_DURATION ? Double.NEGATIVE_INFINITY
                        : -Math.log(MAX_DURATION - MIN_DURATION + 1);
            }
        }
        return new org.semiringkernels.spark.SparkSemiCrf.Parameters(transition, bias, new double[LABELS]);
    }
}
