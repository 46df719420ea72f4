package org.semiringkernels;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/**
 * A random semi-CRF problem as host tensors and as per-sequence {@link SemiCrfReference.Problem}s
 * built from the same (dtype-rounded) values. Owns its tensors.
 */
final class SemiCrfCase implements AutoCloseable {

    /** The shape and which optional parts a case has. */
    record Config(DType dtype, SemiCrf.Input input, boolean durationDependent, boolean withStart,
                  boolean withProjections, boolean compat, int[] lengths, int steps, int labels, int maxDuration) {

        SemiCrf.Options options(Semiring semiring) {
            return SemiCrf.Options.builder().semiring(semiring).input(input).flashSemicrfCompat(compat).build();
        }

        @Override
        public String toString() {
            return dtype + " " + input + (durationDependent ? " KCC" : " CC") + (withStart ? " start" : "")
                    + (withProjections ? " proj" : "") + (compat ? " compat" : "") + " K=" + maxDuration;
        }
    }

    final Config config;
    final int batch;
    final double[] scores;
    final double[] transition;
    final double[] durationBias;
    final double[] start;
    final double[] projStart;
    final double[] projEnd;
    private final List<Tensor> made = new ArrayList<>();

    SemiCrfCase(Config config, long seed) {
        this.config = config;
        this.batch = config.lengths.length;
        Random rng = new Random(seed);
        int t = config.steps, c = config.labels, k = config.maxDuration;
        int rows = config.input == SemiCrf.Input.SCORES ? t : t + 1;
        scores = random(rng, batch * rows * c, config.dtype);
        transition = random(rng, (config.durationDependent ? k : 1) * c * c, config.dtype);
        durationBias = random(rng, k * c, config.dtype);
        start = config.withStart ? random(rng, c, config.dtype) : null;
        projStart = config.withProjections ? random(rng, batch * t * c, config.dtype) : null;
        projEnd = config.withProjections ? random(rng, batch * t * c, config.dtype) : null;
    }

    static double[] random(Random rng, int n, DType dtype) {
        double[] v = new double[n];
        for (int i = 0; i < n; i++) {
            v[i] = round(rng.nextGaussian(), dtype);
        }
        return v;
    }

    static double round(double v, DType dtype) {
        return dtype == DType.FLOAT32 ? (float) v : v;
    }

    Tensor keep(Tensor t) {
        made.add(t);
        return t;
    }

    Tensor tensor(double[] values, long... shape) {
        if (values == null) {
            return null;
        }
        if (config.dtype == DType.FLOAT64) {
            return keep(Tensor.fromArray(values.clone(), shape));
        }
        float[] f = new float[values.length];
        for (int i = 0; i < f.length; i++) {
            f[i] = (float) values[i];
        }
        return keep(Tensor.fromArray(f, shape));
    }

    long[] scoresShape() {
        int rows = config.input == SemiCrf.Input.SCORES ? config.steps : config.steps + 1;
        return new long[] {batch, rows, config.labels};
    }

    long[] transitionShape() {
        int c = config.labels;
        return config.durationDependent ? new long[] {config.maxDuration, c, c} : new long[] {c, c};
    }

    /** The model built from the given arrays (so a test can perturb copies). */
    SemiCrf.Model model(double[] x, double[] tr, double[] db, double[] st, double[] ps, double[] pe) {
        int t = config.steps, c = config.labels;
        return new SemiCrf.Model(tensor(x, scoresShape()), tensor(tr, transitionShape()),
                tensor(db, config.maxDuration, c), tensor(st, c), tensor(ps, batch, t, c), tensor(pe, batch, t, c));
    }

    SemiCrf.Model model() {
        return model(scores, transition, durationBias, start, projStart, projEnd);
    }

    Tensor lengths() {
        return keep(Tensor.fromArray(config.lengths.clone(), batch));
    }

    /** The reference problem of sequence b. */
    SemiCrfReference.Problem problem(int b) {
        int t = config.steps, c = config.labels, k = config.maxDuration, len = config.lengths[b];
        double[][] cum = new double[len + 1][c];
        if (config.input == SemiCrf.Input.SCORES) {
            for (int u = 0; u < len; u++) {
                for (int l = 0; l < c; l++) {
                    cum[u + 1][l] = cum[u][l] + scores[(b * t + u) * c + l];
                }
            }
        } else {
            for (int u = 0; u <= len; u++) {
                for (int l = 0; l < c; l++) {
                    cum[u][l] = scores[(b * (t + 1) + u) * c + l];
                }
            }
        }
        int slices = config.durationDependent ? k : 1;
        double[][][] tr = new double[slices][c][c];
        for (int s = 0; s < slices; s++) {
            for (int i = 0; i < c; i++) {
                for (int j = 0; j < c; j++) {
                    tr[s][i][j] = transition[(s * c + i) * c + j];
                }
            }
        }
        double[][] db = new double[k][c];
        for (int d = 0; d < k; d++) {
            for (int l = 0; l < c; l++) {
                db[d][l] = durationBias[d * c + l];
            }
        }
        return new SemiCrfReference.Problem(len, c, k, cum, tr, config.durationDependent, db, start,
                rowsOf(projStart, b, t, c), rowsOf(projEnd, b, t, c), config.compat);
    }

    private static double[][] rowsOf(double[] v, int b, int t, int c) {
        if (v == null) {
            return null;
        }
        double[][] r = new double[t][c];
        for (int u = 0; u < t; u++) {
            for (int l = 0; l < c; l++) {
                r[u][l] = v[(b * t + u) * c + l];
            }
        }
        return r;
    }

    @Override
    public void close() {
        for (int i = made.size() - 1; i >= 0; i--) {
            made.get(i).close();
        }
    }
}
