package org.semiringkernels;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

/**
 * CTC test problems and the tensors that hold them in every accepted form: the four ways a
 * (T, B, C) problem can be laid out in memory, padded or concatenated targets, INT32 or INT64
 * index tensors. Keeps every tensor it made so a test can close them all.
 */
final class CtcFixtures implements AutoCloseable {

    /** How the log-probabilities (or logits) are stored and which layout is declared. */
    enum InputForm {
        /** A contiguous (T, B, C) tensor, declared TIME_MAJOR. */
        TIME_MAJOR(Ctc.Layout.TIME_MAJOR),
        /** A contiguous (B, T, C) tensor, declared BATCH_MAJOR. */
        BATCH_MAJOR(Ctc.Layout.BATCH_MAJOR),
        /** A (B, T, C) buffer viewed as (T, B, C) through transpose(0, 1), declared TIME_MAJOR. */
        TIME_MAJOR_VIEW_OF_BATCH_MAJOR(Ctc.Layout.TIME_MAJOR),
        /** A (T, B, C) buffer viewed as (B, T, C) through transpose(0, 1), declared BATCH_MAJOR. */
        BATCH_MAJOR_VIEW_OF_TIME_MAJOR(Ctc.Layout.BATCH_MAJOR);

        final Ctc.Layout layout;

        InputForm(Ctc.Layout layout) {
            this.layout = layout;
        }
    }

    /**
     * A batch: values[b][t][c] for every frame t &lt; T (frames at and past inputLengths[b] hold
     * NaN, which the library must never read), targets[b], inputLengths[b].
     */
    record Batch(int frames, int classes, int blank, double[][][] values, int[][] targets, int[] inputLengths) {

        int batch() {
            return targets.length;
        }

        int longestTarget() {
            int m = 0;
            for (int[] y : targets) {
                m = Math.max(m, y.length);
            }
            return m;
        }

        int[] targetLengths() {
            return Arrays.stream(targets).mapToInt(y -> y.length).toArray();
        }

        /** The frames the library reads of sequence b, as a reference sequence. */
        CtcReference.Sequence sequence(int b) {
            return new CtcReference.Sequence(Arrays.copyOf(values[b], inputLengths[b]), targets[b], blank);
        }

        /** The same batch with values[b] replaced by log_softmax(values[b]) on the valid frames. */
        Batch logSoftmax() {
            double[][][] out = new double[values.length][][];
            for (int b = 0; b < values.length; b++) {
                out[b] = new double[frames][];
                double[][] valid = CtcReference.logSoftmax(Arrays.copyOf(values[b], inputLengths[b]));
                for (int t = 0; t < frames; t++) {
                    out[b][t] = t < inputLengths[b] ? valid[t] : values[b][t].clone();
                }
            }
            return new Batch(frames, classes, blank, out, targets, inputLengths);
        }

        /** The values as the dtype stores them. */
        Batch rounded(DType dtype) {
            if (dtype != DType.FLOAT32) {
                return this;
            }
            double[][][] out = new double[values.length][frames][classes];
            for (int b = 0; b < values.length; b++) {
                for (int t = 0; t < frames; t++) {
                    for (int c = 0; c < classes; c++) {
                        out[b][t][c] = (float) values[b][t][c];
                    }
                }
            }
            return new Batch(frames, classes, blank, out, targets, inputLengths);
        }
    }

    /**
     * A mixed batch of 6 sequences over T = 5 frames and C = 4 classes: a random target, a
     * repeated label with an input shorter than T, an empty target, an infeasible target (two
     * adjacent equal labels need a blank between them), an empty input with an empty target, and
     * a target that fits exactly (T_b = L + repeats). Values are log-probabilities
     * (log_softmax of random logits) on valid frames, NaN on padding frames.
     */
    static Batch mixed(long seed, int blank) {
        Random rng = new Random(seed);
        int frames = 5, classes = 4;
        int[][] targets = {
                randomTarget(rng, classes, blank, 2),
                repeated(classes, blank, 2),
                {},
                sameTwiceThenOther(classes, blank),
                {},
                sameTwiceThenOther(classes, blank),
        };
        int[] inputLengths = {5, 4, 3, 3, 0, 4};
        return randomValues(rng, frames, classes, blank, targets, inputLengths, true);
    }

    /** A batch of random values (log-probabilities when {@code normalise}, else raw logits). */
    static Batch randomValues(Random rng, int frames, int classes, int blank, int[][] targets, int[] inputLengths,
                              boolean normalise) {
        double[][][] values = new double[targets.length][frames][classes];
        for (int b = 0; b < targets.length; b++) {
            for (int t = 0; t < frames; t++) {
                for (int c = 0; c < classes; c++) {
                    values[b][t][c] = t < inputLengths[b] ? 3 * rng.nextGaussian() : Double.NaN;
                }
            }
        }
        Batch raw = new Batch(frames, classes, blank, values, targets, inputLengths);
        return normalise ? raw.logSoftmax() : raw;
    }

    static int[] randomTarget(Random rng, int classes, int blank, int length) {
        int[] y = new int[length];
        for (int j = 0; j < length; j++) {
            int c;
            do {
                c = rng.nextInt(classes);
            } while (c == blank);
            y[j] = c;
        }
        return y;
    }

    /** A label other than the blank, repeated. */
    static int[] repeated(int classes, int blank, int length) {
        int[] y = new int[length];
        Arrays.fill(y, nonBlank(classes, blank, 0));
        return y;
    }

    /** [a, a, b]: needs 4 frames (a blank between the two a). */
    static int[] sameTwiceThenOther(int classes, int blank) {
        int a = nonBlank(classes, blank, 0), b = nonBlank(classes, blank, 1);
        return new int[] {a, a, b};
    }

    /** The k-th class that is not the blank. */
    static int nonBlank(int classes, int blank, int k) {
        int seen = 0;
        for (int c = 0; c < classes; c++) {
            if (c != blank && seen++ == k) {
                return c;
            }
        }
        throw new IllegalArgumentException("fewer than " + (k + 1) + " non-blank classes");
    }

    // ---- tensors ------------------------------------------------------------------------------

    private final List<Tensor> made = new ArrayList<>();

    @Override
    public void close() {
        for (int i = made.size() - 1; i >= 0; i--) {
            made.get(i).close();
        }
        made.clear();
    }

    Tensor keep(Tensor t) {
        made.add(t);
        return t;
    }

    /** The batch's values as a host tensor in {@code form}. */
    Tensor input(Batch batch, DType dtype, InputForm form) {
        int T = batch.frames(), B = batch.batch(), C = batch.classes();
        Tensor t = switch (form) {
            case TIME_MAJOR -> keep(Tensor.allocateHost(dtype, T, B, C));
            case BATCH_MAJOR -> keep(Tensor.allocateHost(dtype, B, T, C));
            case TIME_MAJOR_VIEW_OF_BATCH_MAJOR -> keep(keep(Tensor.allocateHost(dtype, B, T, C)).transpose(0, 1));
            case BATCH_MAJOR_VIEW_OF_TIME_MAJOR -> keep(keep(Tensor.allocateHost(dtype, T, B, C)).transpose(0, 1));
        };
        for (int b = 0; b < B; b++) {
            for (int f = 0; f < T; f++) {
                for (int c = 0; c < C; c++) {
                    set(t, form.layout, batch.values()[b][f][c], b, f, c);
                }
            }
        }
        return t;
    }

    /** A host tensor shaped like an input of this form, filled with {@code fill}. */
    Tensor likeInput(Batch batch, DType dtype, InputForm form, double fill) {
        Tensor t = input(batch, dtype, form);
        for (int b = 0; b < batch.batch(); b++) {
            for (int f = 0; f < batch.frames(); f++) {
                for (int c = 0; c < batch.classes(); c++) {
                    set(t, form.layout, fill, b, f, c);
                }
            }
        }
        return t;
    }

    /**
     * Padded targets (B, S) with S = longest + 2, the entries past each length holding labels
     * that would be rejected if read (C + 7 and -3); or concatenated (sum of lengths).
     */
    Tensor targets(Batch batch, boolean padded, DType indexDtype) {
        int B = batch.batch();
        if (padded) {
            int width = batch.longestTarget() + 2;
            Tensor t = keep(Tensor.allocateHost(indexDtype, B, width));
            for (int b = 0; b < B; b++) {
                for (int j = 0; j < width; j++) {
                    int[] y = batch.targets()[b];
                    t.setDouble(j < y.length ? y[j] : (j % 2 == 0 ? batch.classes() + 7 : -3), b, j);
                }
            }
            return t;
        }
        int total = Arrays.stream(batch.targets()).mapToInt(y -> y.length).sum();
        Tensor t = keep(Tensor.allocateHost(indexDtype, total));
        int at = 0;
        for (int[] y : batch.targets()) {
            for (int label : y) {
                t.setDouble(label, at++);
            }
        }
        return t;
    }

    Tensor indices(int[] values, DType indexDtype) {
        Tensor t = keep(Tensor.allocateHost(indexDtype, values.length));
        for (int i = 0; i < values.length; i++) {
            t.setDouble(values[i], i);
        }
        return t;
    }

    Tensor filled(DType dtype, double value, long... shape) {
        Tensor t = keep(Tensor.allocateHost(dtype, shape));
        Tensor flat = keep(t.reshape(t.elementCount()));
        for (long i = 0; i < t.elementCount(); i++) {
            flat.setDouble(value, i);
        }
        return t;
    }

    /** Element (b, t, c) of a rank-3 tensor read with {@code layout}. */
    static double get(Tensor t, Ctc.Layout layout, int b, int f, int c) {
        return layout == Ctc.Layout.TIME_MAJOR ? t.getDouble(f, b, c) : t.getDouble(b, f, c);
    }

    static void set(Tensor t, Ctc.Layout layout, double value, int b, int f, int c) {
        if (layout == Ctc.Layout.TIME_MAJOR) {
            t.setDouble(value, f, b, c);
        } else {
            t.setDouble(value, b, f, c);
        }
    }
}
