package org.semiringkernels;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;

import org.semiringkernels.bindings.semiring_kernels_h;
import org.semiringkernels.bindings.sk_semicrf_options;

/**
 * Semi-Markov CRFs (segment-level linear chains): log-partition, gradients, Viterbi
 * segmentation, boundary and label-coverage marginals, and the score of gold annotations, for B
 * sequences of at most T positions over C labels with segment durations 1..K. The Java face of
 * the C API's {@code sk_semicrf_*} family (its header section is the full contract).
 *
 * <p><b>Model.</b> A segmentation of sequence b (length L_b) is a list of segments [s, e) with
 * label c and duration 1 &lt;= e - s &lt;= K tiling [0, L_b). Its score is the sum over its segments
 * of {@code cum[e, c] - cum[s, c] + durationBias[e-s-1, c] + projStart[s, c] + projEnd[e-1, c]}
 * plus {@code transition[c_prev, c]} ({@code transition[e-s-1, c_prev, c]} for a duration-dependent
 * (K, C, C) transition, indexed by the duration of the segment being entered); the first segment
 * takes {@code start[c]} instead (0 when start is null). With
 * {@link Options#flashSemicrfCompat()} the first segment also takes, as flash-semicrf does, a
 * transition from a free previous label: {@code (+)_{c'} transition[c', c]}. The inputs
 * ({@link Model}):
 * <ul>
 * <li>{@code scores}: with {@link Input#SCORES} per-position scores x (B, T, C), the library builds
 *     {@code cum[t, c] = sum_{u<t} x[u, c]} in float64 (optionally zero-centred per sequence and
 *     label, {@link Options#zeroCentre()}, which changes the model); with {@link Input#CUMULATIVE}
 *     ready cumulative scores cum (B, T+1, C), for example flash-semicrf's {@code cum_scores}.</li>
 * <li>{@code transition} (C, C) (rows = from) or (K, C, C); {@code durationBias} (K, C), K =
 *     its first extent, K &gt;= 1 (K may exceed T); see {@link DurationPriors} for parametric
 *     duration priors.</li>
 * <li>{@code start} (C), {@code projStart}, {@code projEnd} (B, T, C): optional (null = 0).</li>
 * <li>{@code lengths} (B) INT32 or INT64 with 1 &lt;= L_b &lt;= T, on the host (checked here, naming
 *     the first bad entry) or on the context's device (checked by the library); {@code null} means
 *     every sequence has the full length T. Positions at or past L_b are never read.</li>
 * </ul>
 * All float tensors share one dtype (FLOAT32 or FLOAT64, that of scores) and live on the
 * context's device; any strides. Every recursion runs in float64, also for FLOAT32 inputs.
 *
 * <p><b>Semirings.</b> {@link Options#semiring()} {@link Semiring#LOG}: the log-partition and
 * posterior marginals; {@link Semiring#MAX}: the best segmentation score, and gradients / marginals
 * are the indicators of the Viterbi segmentation. {@link #viterbi} always runs MAX.
 * -inf transitions forbid label pairs and -inf duration biases forbid durations exactly; a
 * sequence without any feasible segmentation has score -inf, marginals 0, no Viterbi segments,
 * label path -1 and gradients 0 (NaN with {@link InfeasibleGradient#NAN}). MAX ties: the lowest
 * final label, then the shortest duration, then the lowest previous label.
 *
 * <p><b>Gold annotations</b> ({@link Gold}): either explicit segmentations (segments (B, S, 3) rows
 * [start, end, label] with counts (B), tiling [0, L_b) in order with durations in [1, K] and labels
 * in [0, C)) or per-position labels (B, T), whose score is the (+) over every segmentation
 * consistent with the labelling (a labelling does not fix boundaries inside runs of equal labels).
 * {@code NLL_b = logPartition_b - goldScore_b >= 0} ({@link #negativeLogLikelihood}).
 *
 * <p><b>Errors.</b> Ranks, shapes, dtypes, devices, host lengths and open state are checked here
 * before the native call, with messages naming the argument (the Java parameter name) and the
 * expected and actual shape: IllegalArgumentException, NullPointerException for a missing
 * required tensor, IllegalStateException for closed tensors or contexts. The contents of gold
 * annotations (overlaps, gaps, durations outside [1, K], labels outside [0, C)) and device-resident
 * lengths are checked by the library before it writes anything: those failures are
 * {@link SemiringKernelsException}s whose message names the C argument (for example
 * {@code gold_segments}). On any error no output has been written.
 *
 * <p><b>Example</b> (run and checked by {@code JavadocExamplesTest}):
 * {@snippet class="org.semiringkernels.snippets.JavadocExamples" region="semicrf"}
 */
public final class SemiCrf {

    private SemiCrf() {
    }

    // ---- enums and options --------------------------------------------------------------------

    /** How {@link Model#scores()} is read ({@code sk_semicrf_input}). */
    public enum Input {
        /** Per-position scores (B, T, C); the library builds the cumulative sums in float64. */
        SCORES(0),
        /** Ready cumulative scores (B, T+1, C); only differences cum[e] - cum[s] enter. */
        CUMULATIVE(1);

        private final int code;

        Input(int code) {
            this.code = code;
        }

        /** The {@code sk_semicrf_input} value. */
        public int code() {
            return code;
        }
    }

    /** Gradients of sequences without a feasible segmentation ({@code sk_semicrf_infeasible_gradient}). */
    public enum InfeasibleGradient {
        /** 0 (the default). */
        ZERO(0),
        /** NaN, to make infeasible data visible. */
        NAN(1);

        private final int code;

        InfeasibleGradient(int code) {
            this.code = code;
        }

        /** The {@code sk_semicrf_infeasible_gradient} value. */
        public int code() {
            return code;
        }
    }

    /**
     * Options of every semi-CRF call, the fields of {@code sk_semicrf_options}.
     *
     * @param semiring           LOG (log-partition) or MAX (best segmentation score)
     * @param input              how scores are read
     * @param zeroCentre         SCORES only: subtract each sequence's per-label mean of x before the
     *                           cumulative sum (changes the model; gradients are w.r.t. the uncentred x)
     * @param flashSemicrfCompat flash-semicrf's first-segment transition from a free previous label
     * @param infeasibleGradient gradients of infeasible sequences: 0 or NaN
     */
    public record Options(Semiring semiring, Input input, boolean zeroCentre, boolean flashSemicrfCompat,
                          InfeasibleGradient infeasibleGradient) {

        public Options {
            Tensor.requireNonNull(semiring, "semiring");
            Tensor.requireNonNull(input, "input");
            Tensor.requireNonNull(infeasibleGradient, "infeasibleGradient");
            if (semiring != Semiring.LOG && semiring != Semiring.MAX) {
                throw new IllegalArgumentException("argument 'semiring': the semi-CRF ops take LOG or MAX, got "
                        + semiring);
            }
            if (zeroCentre && input != Input.SCORES) {
                throw new IllegalArgumentException("argument 'zeroCentre': centring applies to per-position scores "
                        + "(Input.SCORES) only, got input " + input);
            }
        }

        /** LOG, per-position scores, no centring, the exact start convention, zero infeasible gradients. */
        public static Options defaults() {
            return new Options(Semiring.LOG, Input.SCORES, false, false, InfeasibleGradient.ZERO);
        }

        /** A builder starting from {@link #defaults()}. */
        public static Builder builder() {
            return new Builder(defaults());
        }

        /** A builder starting from these options. */
        public Builder toBuilder() {
            return new Builder(this);
        }

        Options withSemiring(Semiring s) {
            return new Options(s, input, zeroCentre, flashSemicrfCompat, infeasibleGradient);
        }

        /** Builds {@link Options}; every setter returns the builder. */
        public static final class Builder {
            private Semiring semiring;
            private Input input;
            private boolean zeroCentre;
            private boolean flashSemicrfCompat;
            private InfeasibleGradient infeasibleGradient;

            private Builder(Options from) {
                semiring = from.semiring;
                input = from.input;
                zeroCentre = from.zeroCentre;
                flashSemicrfCompat = from.flashSemicrfCompat;
                infeasibleGradient = from.infeasibleGradient;
            }

            public Builder semiring(Semiring value) {
                semiring = value;
                return this;
            }

            public Builder input(Input value) {
                input = value;
                return this;
            }

            public Builder zeroCentre(boolean value) {
                zeroCentre = value;
                return this;
            }

            public Builder flashSemicrfCompat(boolean value) {
                flashSemicrfCompat = value;
                return this;
            }

            public Builder infeasibleGradient(InfeasibleGradient value) {
                infeasibleGradient = value;
                return this;
            }

            public Options build() {
                return new Options(semiring, input, zeroCentre, flashSemicrfCompat, infeasibleGradient);
            }
        }
    }

    // ---- inputs -------------------------------------------------------------------------------

    /**
     * The inputs of one semi-CRF: scores, transition and durationBias required, start, projStart
     * and projEnd optional (null). Holds tensors, owns none.
     */
    public record Model(Tensor scores, Tensor transition, Tensor durationBias, Tensor start, Tensor projStart,
                        Tensor projEnd) {
        public Model {
            Tensor.requireNonNull(scores, "scores");
            Tensor.requireNonNull(transition, "transition");
            Tensor.requireNonNull(durationBias, "durationBias");
        }

        /** Scores, transition and duration bias, without start or boundary scores. */
        public static Model of(Tensor scores, Tensor transition, Tensor durationBias) {
            return new Model(scores, transition, durationBias, null, null, null);
        }

        /** This model with start scores (C) (null removes them). */
        public Model withStart(Tensor value) {
            return new Model(scores, transition, durationBias, value, projStart, projEnd);
        }

        /** This model with boundary scores (B, T, C) (either may be null). */
        public Model withProjections(Tensor start, Tensor end) {
            return new Model(scores, transition, durationBias, this.start, start, end);
        }
    }

    /**
     * Gold annotations for {@link #goldScore}: exactly one of explicit segments (B, S, 3) INT32 or
     * INT64 rows [start, end, label] with their counts (B), or per-position labels (B, T). May live
     * on the host or the context's device.
     */
    public record Gold(Tensor segments, Tensor segmentCounts, Tensor labels) {
        public Gold {
            if (labels == null) {
                Tensor.requireNonNull(segments, "goldSegments");
                Tensor.requireNonNull(segmentCounts, "goldSegmentCounts");
            } else if (segments != null || segmentCounts != null) {
                throw new IllegalArgumentException("argument 'goldLabels': give either gold segments with their "
                        + "counts or per-position labels, not both");
            }
        }

        /** Explicit segmentations: rows [start, end, label] (B, S, 3) and the number of rows used (B). */
        public static Gold segments(Tensor segments, Tensor counts) {
            return new Gold(segments, counts, null);
        }

        /** Per-position labels (B, T). */
        public static Gold labels(Tensor labels) {
            Tensor.requireNonNull(labels, "goldLabels");
            return new Gold(null, null, labels);
        }
    }

    // ---- result records -----------------------------------------------------------------------

    /** One segment [start, end) (end exclusive) with its label. */
    public record Segment(int start, int end, int label) {
        /** end - start. */
        public int duration() {
            return end - start;
        }
    }

    /**
     * Gradients shaped like their inputs (null where skipped or where the input is absent) and the
     * forward value (B): log Z for {@link #backward}, the gold score for {@link #goldScoreBackward}.
     * Closes all.
     */
    public record Gradients(Tensor gradScores, Tensor gradTransition, Tensor gradDurationBias, Tensor gradStart,
                            Tensor gradProjStart, Tensor gradProjEnd, Tensor value) implements AutoCloseable {
        @Override
        public void close() {
            closeAll(gradScores, gradTransition, gradDurationBias, gradStart, gradProjStart, gradProjEnd, value);
        }
    }

    /**
     * Outputs of {@link #viterbi(Context, Options, Model, Tensor)}: bestScore (B), segments
     * (B, S, 3) INT32 rows [start, end, label] (-1 past the count), segmentCounts (B) INT32,
     * labelPath (B, T) INT32 (-1 past the length and for infeasible sequences). Closes all.
     */
    public record Viterbi(Tensor bestScore, Tensor segments, Tensor segmentCounts, Tensor labelPath)
            implements AutoCloseable {

        /** The best segmentation of every sequence, read to the host. */
        public List<List<Segment>> segmentsPerSequence() {
            if (segments == null || segmentCounts == null) {
                throw new IllegalStateException("segmentsPerSequence() needs the segments and segmentCounts outputs");
            }
            return SemiCrf.segmentsPerSequence(segments, segmentCounts);
        }

        @Override
        public void close() {
            closeAll(bestScore, segments, segmentCounts, labelPath);
        }
    }

    /** Outputs of {@link #marginals(Context, Options, Model, Tensor)}: boundary (B, T), coverage (B, T, C), log Z (B). */
    public record Marginals(Tensor boundary, Tensor coverage, Tensor logPartition) implements AutoCloseable {
        @Override
        public void close() {
            closeAll(boundary, coverage, logPartition);
        }
    }

    /**
     * The segments of raw Viterbi outputs (segments (B, S, 3) INT32, counts (B) INT32; device
     * tensors are copied to the host) as lists per sequence.
     */
    public static List<List<Segment>> segmentsPerSequence(Tensor segments, Tensor segmentCounts) {
        Tensor.requireNonNull(segments, "segments");
        Tensor.requireNonNull(segmentCounts, "segmentCounts");
        int batch = (int) segmentCounts.shape(0);
        int width = (int) segments.shape(1);
        int[] rows = segments.toIntArray();
        int[] counts = segmentCounts.toIntArray();
        List<List<Segment>> all = new ArrayList<>(batch);
        for (int b = 0; b < batch; b++) {
            List<Segment> list = new ArrayList<>(counts[b]);
            for (int j = 0; j < counts[b]; j++) {
                int at = (b * width + j) * 3;
                list.add(new Segment(rows[at], rows[at + 1], rows[at + 2]));
            }
            all.add(Collections.unmodifiableList(list));
        }
        return Collections.unmodifiableList(all);
    }

    // ---- forward ------------------------------------------------------------------------------

    /** Fills {@code logPartition} (B) with log Z_b (LOG) or the best segmentation score (MAX). */
    public static void forward(Context context, Options options, Model model, Tensor lengths, Tensor logPartition) {
        try (Call call = Call.of(context, options, model, lengths, "SemiCrf.forward")) {
            call.requireOutput(logPartition, "logPartition", call.dtype, call.batch);
            call.invoke(List.of(logPartition), (h, arena, o, m, lens) -> semiring_kernels_h.sk_semicrf_forward(h, o,
                    m[0], m[1], m[2], m[3], m[4], m[5], lens, d(logPartition, arena)));
        }
    }

    /** Allocates the (B) scores on the context's device and runs the forward. */
    public static Tensor forward(Context context, Options options, Model model, Tensor lengths) {
        Shape s = Shape.of(options, model);
        Tensor out = Tensor.allocate(checkedContext(context), s.dtype, s.batch);
        try {
            forward(context, options, model, lengths, out);
            return out;
        } catch (RuntimeException | Error e) {
            out.close();
            throw e;
        }
    }

    /** {@link #forward(Context, Options, Model, Tensor)} with the LOG semiring of these options: log Z (B). */
    public static Tensor logPartition(Context context, Options options, Model model, Tensor lengths) {
        Tensor.requireNonNull(options, "options");
        return forward(context, options.withSemiring(Semiring.LOG), model, lengths);
    }

    // ---- backward -----------------------------------------------------------------------------

    /**
     * Gradients of {@code sum_b gradLogPartition[b] * forward_b} w.r.t. every input, each shaped
     * like its input and overwritten; any may be null to skip it (gradStart / gradProjStart /
     * gradProjEnd must be null when the model lacks that input). {@code logPartition} (B), optional,
     * receives the forward's result. With mu the segment posteriors (LOG) or the Viterbi
     * segmentation's indicators (MAX): gradScores is g_b P(label c covers u) for SCORES (minus its
     * mean with zeroCentre), the difference of segment ends and starts at t for CUMULATIVE;
     * gradDurationBias[k-1, c], gradStart, gradTransition (expected counts) are summed over the
     * batch; gradProjStart / gradProjEnd are g_b times the segments starting / ending there.
     */
    public static void backward(Context context, Options options, Model model, Tensor lengths,
                                Tensor gradLogPartition, Tensor gradScores, Tensor gradTransition,
                                Tensor gradDurationBias, Tensor gradStart, Tensor gradProjStart, Tensor gradProjEnd,
                                Tensor logPartition) {
        try (Call call = Call.of(context, options, model, lengths, "SemiCrf.backward")) {
            call.requireUpstream(gradLogPartition, "gradLogPartition");
            List<Tensor> outs = call.requireGradients(gradScores, gradTransition, gradDurationBias, gradStart,
                    gradProjStart, gradProjEnd);
            if (logPartition != null) {
                call.requireOutput(logPartition, "logPartition", call.dtype, call.batch);
            }
            List<Tensor> all = new ArrayList<>(outs);
            all.add(gradLogPartition);
            all.add(logPartition);
            call.invoke(all, (h, arena, o, m, lens) -> semiring_kernels_h.sk_semicrf_backward(h, o, m[0], m[1], m[2],
                    m[3], m[4], m[5], lens, d(gradLogPartition, arena), d(gradScores, arena),
                    d(gradTransition, arena), d(gradDurationBias, arena), d(gradStart, arena),
                    d(gradProjStart, arena), d(gradProjEnd, arena), d(logPartition, arena)));
        }
    }

    /** Allocates every gradient the model has an input for, and log Z, and fills them. */
    public static Gradients backward(Context context, Options options, Model model, Tensor lengths,
                                     Tensor gradLogPartition) {
        return allocateGradients(context, options, model, (g, value) -> backward(context, options, model, lengths,
                gradLogPartition, g[0], g[1], g[2], g[3], g[4], g[5], value));
    }

    // ---- Viterbi ------------------------------------------------------------------------------

    /**
     * The best segmentation (always the MAX semiring; the other options apply). Every output is
     * optional: bestScore (B) (dtype of scores); segments (B, S, 3) INT32 with S &gt;= max_b L_b,
     * which then needs segmentCounts (B) INT32; labelPath (B, T) INT32.
     */
    public static void viterbi(Context context, Options options, Model model, Tensor lengths, Tensor bestScore,
                               Tensor segments, Tensor segmentCounts, Tensor labelPath) {
        Tensor.requireNonNull(options, "options");
        try (Call call = Call.of(context, options.withSemiring(Semiring.MAX), model, lengths, "SemiCrf.viterbi")) {
            if (bestScore != null) {
                call.requireOutput(bestScore, "bestScore", call.dtype, call.batch);
            }
            if (segments != null) {
                if (segmentCounts == null) {
                    throw new NullPointerException("argument 'segmentCounts' is null: it is required when 'segments' "
                            + "is given");
                }
                segments.ensureOpen(call.operation);
                if (segments.rank() != 3 || segments.shape(0) != call.batch || segments.shape(2) != 3
                        || segments.shape(1) < call.longestLength()) {
                    throw new IllegalArgumentException("argument 'segments': expected shape [" + call.batch
                            + ", S, 3] with S >= the longest length " + call.longestLength() + ", got "
                            + Arrays.toString(segments.shape()));
                }
                call.requireOutput(segments, "segments", DType.INT32, segments.shape());
            }
            if (segmentCounts != null) {
                call.requireOutput(segmentCounts, "segmentCounts", DType.INT32, call.batch);
            }
            if (labelPath != null) {
                call.requireOutput(labelPath, "labelPath", DType.INT32, call.batch, call.steps);
            }
            call.invoke(Arrays.asList(bestScore, segments, segmentCounts, labelPath), (h, arena, o, m, lens) ->
                    semiring_kernels_h.sk_semicrf_viterbi(h, o, m[0], m[1], m[2], m[3], m[4], m[5], lens,
                            d(bestScore, arena), d(segments, arena), d(segmentCounts, arena), d(labelPath, arena)));
        }
    }

    /** Allocates every Viterbi output (segments of width T) on the context's device and decodes. */
    public static Viterbi viterbi(Context context, Options options, Model model, Tensor lengths) {
        Shape s = Shape.of(options, model);
        Context ctx = checkedContext(context);
        List<Tensor> made = new ArrayList<>(4);
        try {
            Tensor score = keep(made, Tensor.allocate(ctx, s.dtype, s.batch));
            Tensor segments = keep(made, Tensor.allocate(ctx, DType.INT32, s.batch, Math.max(s.steps, 1), 3));
            Tensor counts = keep(made, Tensor.allocate(ctx, DType.INT32, s.batch));
            Tensor path = keep(made, Tensor.allocate(ctx, DType.INT32, s.batch, s.steps));
            viterbi(context, options, model, lengths, score, segments, counts, path);
            return new Viterbi(score, segments, counts, path);
        } catch (RuntimeException | Error e) {
            closeAll(made.toArray(new Tensor[0]));
            throw e;
        }
    }

    // ---- marginals ----------------------------------------------------------------------------

    /**
     * Marginals, each optional, dtype of scores, 0 past the lengths: boundary (B, T), P(a segment
     * starts at t); coverage (B, T, C), P(label c covers u) (sums to 1 over c); logPartition (B).
     * MAX gives the indicators of the Viterbi segmentation.
     */
    public static void marginals(Context context, Options options, Model model, Tensor lengths, Tensor boundary,
                                 Tensor coverage, Tensor logPartition) {
        try (Call call = Call.of(context, options, model, lengths, "SemiCrf.marginals")) {
            if (boundary != null) {
                call.requireOutput(boundary, "boundary", call.dtype, call.batch, call.steps);
            }
            if (coverage != null) {
                call.requireOutput(coverage, "coverage", call.dtype, call.batch, call.steps, call.labels);
            }
            if (logPartition != null) {
                call.requireOutput(logPartition, "logPartition", call.dtype, call.batch);
            }
            call.invoke(Arrays.asList(boundary, coverage, logPartition), (h, arena, o, m, lens) ->
                    semiring_kernels_h.sk_semicrf_marginals(h, o, m[0], m[1], m[2], m[3], m[4], m[5], lens,
                            d(boundary, arena), d(coverage, arena), d(logPartition, arena)));
        }
    }

    /** Allocates boundary (B, T), coverage (B, T, C) and log Z (B) and fills them. */
    public static Marginals marginals(Context context, Options options, Model model, Tensor lengths) {
        Shape s = Shape.of(options, model);
        Context ctx = checkedContext(context);
        List<Tensor> made = new ArrayList<>(3);
        try {
            Tensor boundary = keep(made, Tensor.allocate(ctx, s.dtype, s.batch, s.steps));
            Tensor coverage = keep(made, Tensor.allocate(ctx, s.dtype, s.batch, s.steps, s.labels));
            Tensor z = keep(made, Tensor.allocate(ctx, s.dtype, s.batch));
            marginals(context, options, model, lengths, boundary, coverage, z);
            return new Marginals(boundary, coverage, z);
        } catch (RuntimeException | Error e) {
            closeAll(made.toArray(new Tensor[0]));
            throw e;
        }
    }

    // ---- gold scores --------------------------------------------------------------------------

    /** The score (B) of the gold annotations under the same scoring function as the partition. */
    public static void goldScore(Context context, Options options, Model model, Tensor lengths, Gold gold,
                                 Tensor score) {
        try (Call call = Call.of(context, options, model, lengths, "SemiCrf.goldScore")) {
            call.requireGold(gold);
            call.requireOutput(score, "score", call.dtype, call.batch);
            call.invoke(goldTensors(gold, score), (h, arena, o, m, lens) -> semiring_kernels_h.sk_semicrf_gold_score(
                    h, o, m[0], m[1], m[2], m[3], m[4], m[5], lens, d(gold.segments(), arena),
                    d(gold.segmentCounts(), arena), d(gold.labels(), arena), d(score, arena)));
        }
    }

    /** Allocates the gold score (B) and fills it. */
    public static Tensor goldScore(Context context, Options options, Model model, Tensor lengths, Gold gold) {
        Shape s = Shape.of(options, model);
        Tensor out = Tensor.allocate(checkedContext(context), s.dtype, s.batch);
        try {
            goldScore(context, options, model, lengths, gold, out);
            return out;
        } catch (RuntimeException | Error e) {
            out.close();
            throw e;
        }
    }

    /**
     * Gradients of {@code sum_b gradScore[b] * goldScore_b}, with the conventions of
     * {@link #backward(Context, Options, Model, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor)}
     * (mu = the gold segments' indicators, or the posterior over the segmentations consistent with
     * gold labels). {@code score} (B), optional, receives the gold score.
     */
    public static void goldScoreBackward(Context context, Options options, Model model, Tensor lengths, Gold gold,
                                         Tensor gradScore, Tensor gradScores, Tensor gradTransition,
                                         Tensor gradDurationBias, Tensor gradStart, Tensor gradProjStart,
                                         Tensor gradProjEnd, Tensor score) {
        try (Call call = Call.of(context, options, model, lengths, "SemiCrf.goldScoreBackward")) {
            call.requireGold(gold);
            call.requireUpstream(gradScore, "gradScore");
            List<Tensor> outs = call.requireGradients(gradScores, gradTransition, gradDurationBias, gradStart,
                    gradProjStart, gradProjEnd);
            if (score != null) {
                call.requireOutput(score, "score", call.dtype, call.batch);
            }
            List<Tensor> all = new ArrayList<>(outs);
            all.addAll(goldTensors(gold, score));
            all.add(gradScore);
            call.invoke(all, (h, arena, o, m, lens) -> semiring_kernels_h.sk_semicrf_gold_score_backward(h, o, m[0],
                    m[1], m[2], m[3], m[4], m[5], lens, d(gold.segments(), arena), d(gold.segmentCounts(), arena),
                    d(gold.labels(), arena), d(gradScore, arena), d(gradScores, arena), d(gradTransition, arena),
                    d(gradDurationBias, arena), d(gradStart, arena), d(gradProjStart, arena),
                    d(gradProjEnd, arena), d(score, arena)));
        }
    }

    /** Allocates every gradient the model has an input for, and the gold score, and fills them. */
    public static Gradients goldScoreBackward(Context context, Options options, Model model, Tensor lengths,
                                              Gold gold, Tensor gradScore) {
        return allocateGradients(context, options, model, (g, value) -> goldScoreBackward(context, options, model,
                lengths, gold, gradScore, g[0], g[1], g[2], g[3], g[4], g[5], value));
    }

    /**
     * {@code logPartition_b - goldScore_b} per sequence (LOG: the negative log-likelihood; MAX: the
     * margin of the best segmentation over the gold), read to the host.
     */
    public static double[] negativeLogLikelihood(Context context, Options options, Model model, Tensor lengths,
                                                 Gold gold) {
        Tensor.requireNonNull(gold, "gold");
        try (Tensor z = forward(context, options, model, lengths);
             Tensor g = goldScore(context, options, model, lengths, gold)) {
            double[] a = z.toDoubleArrayConverted();
            double[] b = g.toDoubleArrayConverted();
            for (int i = 0; i < a.length; i++) {
                a[i] -= b[i];
            }
            return a;
        }
    }

    // ---- validation ---------------------------------------------------------------------------

    /** B, T, C, K and the float dtype, read from scores and durationBias under the options' input kind. */
    private record Shape(long batch, long steps, long labels, long durations, DType dtype) {

        static Shape of(Options options, Model model) {
            Tensor.requireNonNull(options, "options");
            Tensor.requireNonNull(model, "model");
            Tensor x = model.scores();
            x.ensureOpen("SemiCrf");
            String axes = options.input() == Input.SCORES ? "(B, T, C)" : "(B, T+1, C)";
            if (x.rank() != 3) {
                throw new IllegalArgumentException("argument 'scores': expected rank 3 " + axes + " (input "
                        + options.input() + "), got rank " + x.rank() + " (shape " + Arrays.toString(x.shape()) + ")");
            }
            if (!x.dtype().isFloatingPoint()) {
                throw new IllegalArgumentException("argument 'scores': expected dtype FLOAT32 or FLOAT64, got "
                        + x.dtype());
            }
            long steps = options.input() == Input.SCORES ? x.shape(1) : x.shape(1) - 1;
            if (steps < 1 && x.shape(0) > 0) {
                throw new IllegalArgumentException("argument 'scores': T = " + steps + " positions " + axes
                        + " (shape " + Arrays.toString(x.shape()) + "); every sequence needs at least one position");
            }
            if (x.shape(2) < 1) {
                throw new IllegalArgumentException("argument 'scores': C = 0 labels (shape "
                        + Arrays.toString(x.shape()) + "); at least one label is needed");
            }
            Tensor d = model.durationBias();
            d.ensureOpen("SemiCrf");
            if (d.rank() != 2) {
                throw new IllegalArgumentException("argument 'durationBias': expected rank 2 (K, C), got rank "
                        + d.rank() + " (shape " + Arrays.toString(d.shape()) + ")");
            }
            if (d.shape(0) < 1) {
                throw new IllegalArgumentException("argument 'durationBias': K = " + d.shape(0)
                        + "; the maximum duration K (its first extent) must be >= 1");
            }
            return new Shape(x.shape(0), steps, x.shape(2), d.shape(0), x.dtype());
        }
    }

    /** One validated call: shapes, every input checked against them, lengths (owned when defaulted). */
    private static final class Call implements AutoCloseable {
        final Context context;
        final Options options;
        final Model model;
        final String operation;
        final DType dtype;
        final long batch;
        final long steps;
        final long labels;
        final long durations;
        final Tensor lengths;
        final boolean ownsLengths;
        final List<Tensor> inputs = new ArrayList<>();

        private Call(Context context, Options options, Model model, String operation, Shape s, Tensor lengths,
                     boolean ownsLengths) {
            this.context = context;
            this.options = options;
            this.model = model;
            this.operation = operation;
            this.dtype = s.dtype;
            this.batch = s.batch;
            this.steps = s.steps;
            this.labels = s.labels;
            this.durations = s.durations;
            this.lengths = lengths;
            this.ownsLengths = ownsLengths;
        }

        static Call of(Context context, Options options, Model model, Tensor lengths, String operation) {
            checkedContext(context);
            Shape s = Shape.of(options, model);
            Tensor own = null;
            try {
                if (lengths == null) {
                    long[] full = new long[Math.toIntExact(s.batch)];
                    Arrays.fill(full, s.steps);
                    own = Tensor.fromArray(full, s.batch);
                }
                Call call = new Call(context, options, model, operation, s, own == null ? lengths : own, own != null);
                call.checkInputs();
                call.checkLengths();
                return call;
            } catch (RuntimeException | Error e) {
                if (own != null) {
                    own.close();
                }
                throw e;
            }
        }

        private String dims() {
            return "B = " + batch + ", T = " + steps + ", C = " + labels + ", K = " + durations;
        }

        private void checkInputs() {
            input(model.scores(), "scores");
            Tensor tr = model.transition();
            tr.ensureOpen(operation);
            boolean ok = tr.rank() == 2 && tr.shape(0) == labels && tr.shape(1) == labels
                    || tr.rank() == 3 && tr.shape(0) == durations && tr.shape(1) == labels && tr.shape(2) == labels;
            if (!ok) {
                throw new IllegalArgumentException("argument 'transition': expected shape [" + labels + ", " + labels
                        + "] (C, C) or [" + durations + ", " + labels + ", " + labels + "] (K, C, C) (" + dims()
                        + "), got " + Arrays.toString(tr.shape()));
            }
            input(tr, "transition");
            requireShape(model.durationBias(), "durationBias", "(K, C)", durations, labels);
            input(model.durationBias(), "durationBias");
            if (model.start() != null) {
                requireShape(model.start(), "start", "(C)", labels);
                input(model.start(), "start");
            }
            if (model.projStart() != null) {
                requireShape(model.projStart(), "projStart", "(B, T, C)", batch, steps, labels);
                input(model.projStart(), "projStart");
            }
            if (model.projEnd() != null) {
                requireShape(model.projEnd(), "projEnd", "(B, T, C)", batch, steps, labels);
                input(model.projEnd(), "projEnd");
            }
        }

        private void requireShape(Tensor t, String name, String axes, long... shape) {
            t.ensureOpen(operation);
            if (!Arrays.equals(t.shape(), shape)) {
                throw new IllegalArgumentException("argument '" + name + "': expected shape " + Arrays.toString(shape)
                        + " " + axes + " (" + dims() + "), got " + Arrays.toString(t.shape()));
            }
        }

        private void input(Tensor t, String name) {
            t.ensureOpen(operation);
            requireDtype(t, name, dtype);
            requireOnDevice(t, name);
            inputs.add(t);
        }

        /** INT32/INT64 (B) on the host or the context's device; host values in [1, T]. */
        private void checkLengths() {
            Tensor t = lengths;
            t.ensureOpen(operation);
            requireIndexTensor(t, "lengths");
            if (t.rank() != 1 || t.shape(0) != batch) {
                throw new IllegalArgumentException("argument 'lengths': expected shape [" + batch + "] (the batch B), got "
                        + Arrays.toString(t.shape()));
            }
            if (!t.isHost()) {
                return; // the library reads and checks the values
            }
            for (long b = 0; b < batch; b++) {
                long v = t.getLong(b);
                if (v < 1 || v > steps) {
                    throw new IllegalArgumentException("argument 'lengths': lengths[" + b + "] = " + v
                            + " is outside [1, T = " + steps + "]");
                }
            }
        }

        /** max_b lengths[b] (T when the lengths are on a device). */
        long longestLength() {
            if (!lengths.isHost()) {
                return steps;
            }
            long longest = 0;
            for (long b = 0; b < batch; b++) {
                longest = Math.max(longest, lengths.getLong(b));
            }
            return longest;
        }

        private void requireIndexTensor(Tensor t, String name) {
            if (t.dtype() != DType.INT32 && t.dtype() != DType.INT64) {
                throw new IllegalArgumentException("argument '" + name + "': expected dtype INT32 or INT64, got "
                        + t.dtype());
            }
            if (!t.isHost()) {
                requireOnDevice(t, name);
            }
        }

        void requireGold(Gold gold) {
            Tensor.requireNonNull(gold, "gold");
            if (gold.labels() != null) {
                Tensor l = gold.labels();
                l.ensureOpen(operation);
                requireIndexTensor(l, "goldLabels");
                if (l.rank() != 2 || l.shape(0) != batch || l.shape(1) != steps) {
                    throw new IllegalArgumentException("argument 'goldLabels': expected shape [" + batch + ", " + steps
                            + "] (B, T) (" + dims() + "), got " + Arrays.toString(l.shape()));
                }
                return;
            }
            Tensor s = gold.segments();
            s.ensureOpen(operation);
            requireIndexTensor(s, "goldSegments");
            if (s.rank() != 3 || s.shape(0) != batch || s.shape(2) != 3) {
                throw new IllegalArgumentException("argument 'goldSegments': expected shape [" + batch
                        + ", S, 3] (B, S, 3) rows [start, end, label] (" + dims() + "), got "
                        + Arrays.toString(s.shape()));
            }
            Tensor n = gold.segmentCounts();
            n.ensureOpen(operation);
            requireIndexTensor(n, "goldSegmentCounts");
            if (n.rank() != 1 || n.shape(0) != batch) {
                throw new IllegalArgumentException("argument 'goldSegmentCounts': expected shape [" + batch
                        + "] (the batch B), got " + Arrays.toString(n.shape()));
            }
        }

        void requireUpstream(Tensor g, String name) {
            Tensor.requireNonNull(g, name);
            requireOutput(g, name, dtype, batch);
        }

        /** Checks each present gradient against its input; returns the gradients in C order. */
        List<Tensor> requireGradients(Tensor gradScores, Tensor gradTransition, Tensor gradDurationBias,
                                      Tensor gradStart, Tensor gradProjStart, Tensor gradProjEnd) {
            Tensor[] grads = {gradScores, gradTransition, gradDurationBias, gradStart, gradProjStart, gradProjEnd};
            Tensor[] ins = modelTensors(model);
            for (int i = 0; i < grads.length; i++) {
                if (grads[i] == null) {
                    continue;
                }
                if (ins[i] == null) {
                    throw new IllegalArgumentException("argument '" + GRAD_NAMES[i] + "' must be null: the model has no '"
                            + INPUT_NAMES[i] + "'");
                }
                requireOutput(grads[i], GRAD_NAMES[i], dtype, ins[i].shape());
            }
            return Arrays.asList(grads);
        }

        void requireOutput(Tensor out, String name, DType outDtype, long... shape) {
            Tensor.requireNonNull(out, name);
            out.ensureOpen(operation);
            if (!Arrays.equals(out.shape(), shape)) {
                throw new IllegalArgumentException("argument '" + name + "': expected shape " + Arrays.toString(shape)
                        + " (" + dims() + "), got " + Arrays.toString(out.shape()));
            }
            if (out.dtype() != outDtype) {
                throw new IllegalArgumentException("argument '" + name + "': expected dtype " + outDtype + ", got "
                        + out.dtype());
            }
            requireOnDevice(out, name);
        }

        private void requireDtype(Tensor t, String name, DType expected) {
            if (t.dtype() != expected) {
                throw new IllegalArgumentException("argument '" + name + "': expected dtype " + expected
                        + " (the dtype of 'scores'), got " + t.dtype());
            }
        }

        private void requireOnDevice(Tensor t, String name) {
            Device device = context.device();
            if (!t.device().equals(device)) {
                throw new IllegalArgumentException("argument '" + name + "': tensor is on " + t.device()
                        + " but the context is on " + device);
            }
        }

        /**
         * Keeps every tensor alive, builds the options and descriptors in a confined arena, calls,
         * and turns a failure into the context's error message.
         */
        void invoke(List<Tensor> others, SemiCrfCall fn) {
            List<Tensor> all = new ArrayList<>(inputs);
            all.add(lengths);
            for (Tensor t : others) {
                if (t != null) {
                    all.add(t);
                }
            }
            List<Tensor> acquired = new ArrayList<>(all.size());
            try {
                for (Tensor t : all) {
                    t.acquire(operation);
                    acquired.add(t);
                }
                context.call(operation, h -> {
                    try (Arena arena = Arena.ofConfined()) {
                        MemorySegment o = sk_semicrf_options.allocate(arena);
                        sk_semicrf_options.struct_size(o, sk_semicrf_options.sizeof());
                        sk_semicrf_options.semiring(o, options.semiring().code());
                        sk_semicrf_options.input(o, options.input().code());
                        sk_semicrf_options.zero_centre(o, options.zeroCentre() ? 1 : 0);
                        sk_semicrf_options.flash_semicrf_compat(o, options.flashSemicrfCompat() ? 1 : 0);
                        sk_semicrf_options.infeasible_gradient(o, options.infeasibleGradient().code());
                        sk_semicrf_options.reserved(o, 0);
                        Tensor[] in = modelTensors(model);
                        MemorySegment[] m = new MemorySegment[in.length];
                        for (int i = 0; i < in.length; i++) {
                            m[i] = d(in[i], arena);
                        }
                        Native.check(fn.apply(h, arena, o, m, d(lengths, arena)), h);
                    }
                    return null;
                });
            } finally {
                for (Tensor t : acquired) {
                    t.release();
                }
            }
        }

        @Override
        public void close() {
            if (ownsLengths) {
                lengths.close();
            }
        }
    }

    private static final String[] INPUT_NAMES = {"scores", "transition", "durationBias", "start", "projStart",
        "projEnd"};
    private static final String[] GRAD_NAMES = {"gradScores", "gradTransition", "gradDurationBias", "gradStart",
        "gradProjStart", "gradProjEnd"};

    /** The model's tensors in the C argument order (null where absent). */
    private static Tensor[] modelTensors(Model model) {
        return new Tensor[] {model.scores(), model.transition(), model.durationBias(), model.start(),
            model.projStart(), model.projEnd()};
    }

    @FunctionalInterface
    private interface SemiCrfCall {
        /** m: descriptors of scores, transition, durationBias, start, projStart, projEnd (NULL where absent). */
        int apply(MemorySegment context, Arena arena, MemorySegment options, MemorySegment[] m, MemorySegment lengths);
    }

    @FunctionalInterface
    private interface GradientFill {
        void fill(Tensor[] gradients, Tensor value);
    }

    private static Gradients allocateGradients(Context context, Options options, Model model, GradientFill fill) {
        Shape s = Shape.of(options, model);
        Context ctx = checkedContext(context);
        Tensor[] in = modelTensors(model);
        Tensor[] g = new Tensor[in.length];
        List<Tensor> made = new ArrayList<>(in.length + 1);
        try {
            for (int i = 0; i < in.length; i++) {
                g[i] = in[i] == null ? null : keep(made, Tensor.allocate(ctx, s.dtype, in[i].shape()));
            }
            Tensor value = keep(made, Tensor.allocate(ctx, s.dtype, s.batch));
            fill.fill(g, value);
            return new Gradients(g[0], g[1], g[2], g[3], g[4], g[5], value);
        } catch (RuntimeException | Error e) {
            closeAll(made.toArray(new Tensor[0]));
            throw e;
        }
    }

    private static List<Tensor> goldTensors(Gold gold, Tensor score) {
        return Arrays.asList(gold.segments(), gold.segmentCounts(), gold.labels(), score);
    }

    private static MemorySegment d(Tensor t, Arena arena) {
        return Tensor.descriptor(t, arena);
    }

    private static Context checkedContext(Context context) {
        Tensor.requireNonNull(context, "context");
        if (context.isClosed()) {
            throw new IllegalStateException("Context on " + context.device() + " is closed; SemiCrf cannot use it");
        }
        return context;
    }

    private static Tensor keep(List<Tensor> made, Tensor t) {
        made.add(t);
        return t;
    }

    private static void closeAll(Tensor... tensors) {
        RuntimeException first = null;
        for (Tensor t : tensors) {
            if (t == null) {
                continue;
            }
            try {
                t.close();
            } catch (RuntimeException e) {
                if (first == null) {
                    first = e;
                }
            }
        }
        if (first != null) {
            throw first;
        }
    }
}
