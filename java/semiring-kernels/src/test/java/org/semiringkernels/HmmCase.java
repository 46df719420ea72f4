package org.semiringkernels;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

/**
 * A tiny random HMM problem in one of the input forms, with its tensors and its brute-force
 * expectations. Values are rounded to float so that FLOAT32 and FLOAT64 see the same inputs.
 * Entries the library must not read (past the lengths, potentials[:, 0] under SEPARATE, rows
 * 1..N-1 of potentials[:, 0] under ROW0) hold NaN, so a leak shows up as NaN.
 */
final class HmmCase implements AutoCloseable {

    /** The input forms and their initial/transition sharing. */
    enum Form {
        EDGE_SEPARATE_SHARED, EDGE_SEPARATE_BATCHED, EDGE_ROW0, FACTORED_SHARED, FACTORED_BATCHED;

        boolean isEdge() {
            return this == EDGE_SEPARATE_SHARED || this == EDGE_SEPARATE_BATCHED || this == EDGE_ROW0;
        }

        boolean batched() {
            return this == EDGE_SEPARATE_BATCHED || this == FACTORED_BATCHED;
        }
    }

    final Form form;
    final DType dtype;
    final int batch;
    final int steps;
    final int states;
    final int[] lengths;
    final double[] potentials; // (B, T, N, N), edge forms
    final double[] initial;    // (N) or (B, N); null under ROW0
    final double[] transition; // (N, N) or (B, N, N), factored
    final double[] emission;   // (B, T, N), factored
    private final List<Tensor> made = new ArrayList<>();

    /**
     * Random scores in [-2, 2); with {@code impossible}, about a quarter of the transition scores
     * are -inf and the last sequence (length >= 2) has no feasible path at all.
     */
    HmmCase(Form form, DType dtype, int[] lengths, int steps, int states, long seed, boolean impossible) {
        this.form = form;
        this.dtype = dtype;
        this.batch = lengths.length;
        this.steps = steps;
        this.states = states;
        this.lengths = lengths.clone();
        Random rng = new Random(seed);
        int n = states;
        if (form.isEdge()) {
            potentials = new double[batch * steps * n * n];
            for (int b = 0; b < batch; b++) {
                for (int t = 0; t < steps; t++) {
                    for (int i = 0; i < n; i++) {
                        for (int j = 0; j < n; j++) {
                            boolean read = t < lengths[b] && (t > 0 || form == Form.EDGE_ROW0 && i == 0);
                            double v = read ? value(rng) : Double.NaN;
                            if (read && impossible && t > 0 && rng.nextInt(4) == 0) {
                                v = Double.NEGATIVE_INFINITY;
                            }
                            potentials[idx4(b, t, i, j)] = v;
                        }
                    }
                }
            }
            initial = form == Form.EDGE_ROW0 ? null : randomArray(rng, form.batched() ? batch * n : n);
            transition = null;
            emission = null;
            if (impossible) {
                int b = batch - 1;
                for (int i = 0; i < n; i++) {
                    for (int j = 0; j < n; j++) {
                        potentials[idx4(b, 1, i, j)] = Double.NEGATIVE_INFINITY;
                    }
                }
            }
        } else {
            potentials = null;
            initial = randomArray(rng, form.batched() ? batch * n : n);
            transition = randomArray(rng, (form.batched() ? batch : 1) * n * n);
            if (impossible) {
                for (int k = 0; k < transition.length; k++) {
                    if (rng.nextInt(4) == 0) {
                        transition[k] = Double.NEGATIVE_INFINITY;
                    }
                }
            }
            emission = new double[batch * steps * n];
            for (int b = 0; b < batch; b++) {
                for (int t = 0; t < steps; t++) {
                    for (int j = 0; j < n; j++) {
                        emission[(b * steps + t) * n + j] = t < lengths[b] ? value(rng) : Double.NaN;
                    }
                }
            }
            if (impossible) {
                int b = batch - 1;
                for (int j = 0; j < n; j++) {
                    emission[(b * steps + 1) * n + j] = Double.NEGATIVE_INFINITY;
                }
            }
        }
    }

    private static double value(Random rng) {
        return (float) (rng.nextDouble() * 4 - 2);
    }

    private static double[] randomArray(Random rng, int size) {
        double[] v = new double[size];
        for (int i = 0; i < size; i++) {
            v[i] = value(rng);
        }
        return v;
    }

    int idx4(int b, int t, int i, int j) {
        return ((b * steps + t) * states + i) * states + j;
    }

    // ---- tensors -------------------------------------------------------------------------------

    /** The model's input tensors (host, contiguous) for the form. */
    Hmm.Model model() {
        int n = states;
        return switch (form) {
            case EDGE_SEPARATE_SHARED, EDGE_SEPARATE_BATCHED -> Hmm.Edge.separate(
                    tensor(potentials, batch, steps, n, n),
                    form.batched() ? tensor(initial, batch, n) : tensor(initial, n));
            case EDGE_ROW0 -> Hmm.Edge.row0(tensor(potentials, batch, steps, n, n));
            case FACTORED_SHARED -> new Hmm.Factored(tensor(initial, n), tensor(transition, n, n),
                    tensor(emission, batch, steps, n));
            case FACTORED_BATCHED -> new Hmm.Factored(tensor(initial, batch, n), tensor(transition, batch, n, n),
                    tensor(emission, batch, steps, n));
        };
    }

    Tensor lengthsTensor() {
        return keep(Tensor.fromArray(lengths, batch));
    }

    Tensor tensor(double[] values, long... shape) {
        return keep(of(values, dtype, shape));
    }

    static Tensor of(double[] values, DType dtype, long... shape) {
        if (dtype == DType.FLOAT64) {
            return Tensor.fromArray(values, shape);
        }
        float[] f = new float[values.length];
        for (int i = 0; i < values.length; i++) {
            f[i] = (float) values[i];
        }
        return Tensor.fromArray(f, shape);
    }

    Tensor keep(Tensor t) {
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

    // ---- the reference -------------------------------------------------------------------------

    /** Start scores of sequence b in the common edge shape (see {@link HmmReference}). */
    double[] start(int b) {
        double[] s = new double[states];
        for (int j = 0; j < states; j++) {
            s[j] = switch (form) {
                case EDGE_ROW0 -> potentials[idx4(b, 0, 0, j)];
                case EDGE_SEPARATE_SHARED -> initial[j];
                case EDGE_SEPARATE_BATCHED -> initial[b * states + j];
                case FACTORED_SHARED -> initial[j] + emission[(b * steps) * states + j];
                case FACTORED_BATCHED -> initial[b * states + j] + emission[(b * steps) * states + j];
            };
        }
        return s;
    }

    /** Edge scores edge[t][i][j] of sequence b, t = 1 .. L-1. */
    double[][][] edges(int b) {
        double[][][] e = new double[lengths[b]][states][states];
        for (int t = 1; t < lengths[b]; t++) {
            for (int i = 0; i < states; i++) {
                for (int j = 0; j < states; j++) {
                    e[t][i][j] = form.isEdge() ? potentials[idx4(b, t, i, j)]
                            : transition[(form.batched() ? b * states * states : 0) + i * states + j]
                                    + emission[(b * steps + t) * states + j];
                }
            }
        }
        return e;
    }

    HmmReference.Result reference(int b, boolean max) {
        return HmmReference.enumerate(start(b), edges(b), lengths[b], max);
    }

    /** Expected marginals (B, T, N), 0 past the lengths. */
    double[] expectedMarginals(boolean max) {
        double[] m = new double[batch * steps * states];
        for (int b = 0; b < batch; b++) {
            HmmReference.Result r = reference(b, max);
            for (int t = 0; t < lengths[b]; t++) {
                for (int j = 0; j < states; j++) {
                    m[(b * steps + t) * states + j] = r.node()[t][j];
                }
            }
        }
        return m;
    }

    /** Expected Viterbi path (B, T), -1 past the length and for infeasible sequences. */
    int[] expectedPath() {
        int[] p = new int[batch * steps];
        Arrays.fill(p, -1);
        for (int b = 0; b < batch; b++) {
            int[] path = reference(b, true).path();
            if (path != null) {
                System.arraycopy(path, 0, p, b * steps, lengths[b]);
            }
        }
        return p;
    }

    double[] expectedScores(boolean max) {
        double[] s = new double[batch];
        for (int b = 0; b < batch; b++) {
            s[b] = reference(b, max).score();
        }
        return s;
    }

    /**
     * The expected gradients for upstream g, in the order of the form's inputs: edge
     * {potentials, initial (or null)}; factored {initial, transition, emission}.
     */
    double[][] expectedGradients(double[] g, boolean max) {
        int n = states;
        double[] gInit = initial == null ? null : new double[initial.length];
        if (form.isEdge()) {
            double[] gPot = new double[potentials.length];
            for (int b = 0; b < batch; b++) {
                HmmReference.Result r = reference(b, max);
                for (int t = 1; t < lengths[b]; t++) {
                    for (int i = 0; i < n; i++) {
                        for (int j = 0; j < n; j++) {
                            gPot[idx4(b, t, i, j)] = g[b] * r.edge()[t][i][j];
                        }
                    }
                }
                for (int j = 0; j < n; j++) {
                    double v = g[b] * r.node()[0][j];
                    if (form == Form.EDGE_ROW0) {
                        gPot[idx4(b, 0, 0, j)] = v;
                    } else {
                        gInit[(form.batched() ? b * n : 0) + j] += v;
                    }
                }
            }
            return new double[][] {gPot, gInit};
        }
        double[] gTrans = new double[transition.length];
        double[] gEm = new double[emission.length];
        for (int b = 0; b < batch; b++) {
            HmmReference.Result r = reference(b, max);
            for (int j = 0; j < n; j++) {
                gInit[(form.batched() ? b * n : 0) + j] += g[b] * r.node()[0][j];
            }
            for (int t = 0; t < lengths[b]; t++) {
                for (int j = 0; j < n; j++) {
                    gEm[(b * steps + t) * n + j] = g[b] * r.node()[t][j];
                    if (t > 0) {
                        for (int i = 0; i < n; i++) {
                            gTrans[(form.batched() ? b * n * n : 0) + i * n + j] += g[b] * r.edge()[t][i][j];
                        }
                    }
                }
            }
        }
        return new double[][] {gInit, gTrans, gEm};
    }
}
