package org.semiringkernels;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Objects;

import org.semiringkernels.bindings.semiring_kernels_h;
import org.semiringkernels.bindings.sk_ctc_options;

/**
 * Connectionist temporal classification (CTC): loss, gradients, the fused log-softmax + CTC
 * loss, forced (Viterbi) alignment and state posteriors, matching
 * {@code torch.nn.functional.ctc_loss} wherever torch defines the behaviour (the C functions
 * {@code sk_ctc_*}).
 *
 * <p><b>Shapes.</b> B sequences, T frames, C classes (blank included), targets of at most S labels.
 * <ul>
 * <li>{@code logProbs} (or {@code logits}): rank 3, FLOAT32 or FLOAT64, on the context's device.
 *     {@link Options#layout()} <em>declares</em> how to read it (the shape alone cannot tell):
 *     {@link Layout#TIME_MAJOR} (T, B, C), torch's layout and the default, or
 *     {@link Layout#BATCH_MAJOR} (B, T, C). Any strides work and nothing is copied, so a
 *     batch-major buffer can be passed either as a (B, T, C) tensor with BATCH_MAJOR or as its
 *     {@code transpose(0, 1)} view with TIME_MAJOR; both give identical results.</li>
 * <li>{@code targets}: INT32 or INT64, either padded, rank 2 (B, S) with S &gt;= every target
 *     length (entries past a sequence's target length are ignored, whatever they hold), or
 *     concatenated, rank 1, holding sum(targetLengths) labels back to back, exactly as torch.
 *     Labels lie in [0, C) and differ from the blank.</li>
 * <li>{@code inputLengths}, {@code targetLengths}: rank 1 (B), INT32 or INT64 (each
 *     independently), 0 &lt;= inputLengths[b] &lt;= T, 0 &lt;= targetLengths[b] (&lt;= S when padded).
 *     Frames at and past inputLengths[b] are never read (they may hold NaN).</li>
 * <li>The three index tensors may live in host memory or on the context's device: the library
 *     reads them on the host to validate every label and length before any work is queued (with
 *     a CUDA context that costs one stream synchronisation per call).</li>
 * </ul>
 *
 * <p><b>Conventions.</b> The extended states of a target y1..yL are
 * [blank, y1, blank, y2, ..., yL, blank], 2L + 1 of them (even state s: the blank before label
 * s/2; odd state s: label (s-1)/2). An alignment starts in state 0 or 1, ends in state 2L or
 * 2L - 1, and may skip a blank only between two different labels, so a repeated label needs a
 * blank between its copies; a sequence with inputLengths[b] &lt; L + (number of adjacent equal
 * labels) has no alignment.
 * <ul>
 * <li>loss_b = -log sum over alignments of exp(sum_t logProbs[t, b, pi_t]), over the frames
 *     t &lt; inputLengths[b]. An empty target gives -sum_t logProbs[t, b, blank] (0 when the input
 *     length is 0 too).</li>
 * <li>A sequence without an alignment has loss {@code +inf} ({@code 0} with
 *     {@link Options#zeroInfinity()}) and a zero gradient in both forms (torch returns NaN
 *     gradients there without zero_infinity; this library never does).</li>
 * <li>{@link Reduction#NONE}: the loss has shape (B). {@link Reduction#SUM}: sum_b loss_b.
 *     {@link Reduction#MEAN} (torch's default and ours): mean_b(loss_b / max(L_b, 1)), NaN when
 *     B = 0. SUM and MEAN write a scalar: rank 0 (what the allocating overloads return) or
 *     shape [1].</li>
 * </ul>
 *
 * <p><b>Gradients.</b> With u_b the upstream gradient of sequence b after the reduction
 * (gradLoss[b] for NONE, g for SUM, g / (B max(L_b, 1)) for MEAN) and gamma[t, b, c] the
 * posterior probability that frame t emits class c:
 * <ul>
 * <li>{@link Gradient#LOG_PROBS}: the true partial derivative of the loss with respect to
 *     logProbs, {@code -u_b gamma[t, b, c]} (0 for classes that are neither blank nor in the
 *     target). Use it when logProbs come from anything other than a log-softmax over C.</li>
 * <li>{@link Gradient#FUSED_LOGITS}: what torch's ctc_loss returns as its "gradient",
 *     {@code u_b (exp(logProbs[t, b, c]) - gamma[t, b, c])}. It is the gradient with respect to
 *     the pre-softmax logits z when logProbs = log_softmax(z) over C, already pushed through the
 *     softmax's backward; it is <em>not</em> the derivative with respect to logProbs.</li>
 * <li>{@link #fusedLoss} / {@link #fusedBackward} take the logits themselves, normalise them
 *     over C on the fly (the log-softmax is never materialised) and return the gradient with
 *     respect to the logits, {@code u_b (softmax(z)[t, b, c] - gamma[t, b, c])}.</li>
 * </ul>
 * Gradients are overwritten everywhere (not accumulated) and are 0 at frames
 * t &gt;= inputLengths[b] and for sequences without an alignment.
 *
 * <p><b>Precision.</b> Both backends run every recursion in float64, also for FLOAT32 inputs,
 * and round only the outputs, so the loss does not drift with T. Posteriors are normalised frame
 * by frame. Results are bitwise reproducible run to run on one machine or device and independent
 * of the CPU thread count; FLOAT32 CPU and CUDA results agree to the float32 rounding of the
 * outputs.
 *
 * <p><b>Errors.</b> Ranks, shapes, dtypes, devices, the blank index and open state are checked
 * here before the native call, with messages naming the argument (the Java parameter name) and
 * the expected and actual shape: IllegalArgumentException, NullPointerException for a missing
 * required tensor, IllegalStateException for closed tensors or contexts. The values of labels
 * and lengths are checked by the library before it writes anything (a label out of range or
 * equal to the blank, a negative length, an input length &gt; T, a target length &gt; S, a
 * concatenated targets tensor whose length is not sum(targetLengths), a padded spans or
 * posteriors width too small for the longest target): those failures are
 * {@link SemiringKernelsException} whose message names the C argument (for example
 * {@code input_lengths}). On any error no output has been written.
 *
 * <p><b>Example</b> (run and checked by {@code JavadocExamplesTest}):
 * {@snippet class="org.semiringkernels.snippets.JavadocExamples" region="ctc"}
 */
public final class Ctc {

    private Ctc() {
    }

    // ---- enums and options --------------------------------------------------------------------

    /** How a rank-3 {@code logProbs} / {@code logits} tensor (and its gradient) is read. */
    public enum Layout {
        /** (T, B, C): torch's layout, the default. */
        TIME_MAJOR(0, "(T, B, C)"),
        /** (B, T, C). */
        BATCH_MAJOR(1, "(B, T, C)");

        private final int code;
        private final String axes;

        Layout(int code, String axes) {
            this.code = code;
            this.axes = axes;
        }

        /** The {@code sk_ctc_layout} value. */
        public int code() {
            return code;
        }

        /** "(T, B, C)" or "(B, T, C)". */
        public String axes() {
            return axes;
        }

        int timeDim() {
            return this == TIME_MAJOR ? 0 : 1;
        }

        int batchDim() {
            return this == TIME_MAJOR ? 1 : 0;
        }
    }

    /** How the per-sequence losses are combined ({@code sk_ctc_reduction}). */
    public enum Reduction {
        /** One loss per sequence, shape (B). */
        NONE(0),
        /** sum_b loss_b, a scalar. */
        SUM(1),
        /** mean_b(loss_b / max(L_b, 1)), a scalar: torch's 'mean' (the default). */
        MEAN(2);

        private final int code;

        Reduction(int code) {
            this.code = code;
        }

        /** The {@code sk_ctc_reduction} value. */
        public int code() {
            return code;
        }
    }

    /** Which gradient {@link #backward} returns ({@code sk_ctc_gradient}); see the class comment. */
    public enum Gradient {
        /** The true partial derivative w.r.t. logProbs: {@code -u_b gamma[t, b, c]}. */
        LOG_PROBS(0),
        /**
         * torch's fused form {@code u_b (exp(logProbs) - gamma)}: the gradient w.r.t. the
         * pre-softmax logits when logProbs = log_softmax(logits); not a derivative w.r.t. logProbs.
         */
        FUSED_LOGITS(1);

        private final int code;

        Gradient(int code) {
            this.code = code;
        }

        /** The {@code sk_ctc_gradient} value. */
        public int code() {
            return code;
        }
    }

    /**
     * Options of every CTC call. {@link #defaults()} is torch's: blank 0, reduction MEAN,
     * zero_infinity off, time-major layout. The alignment and posterior calls read only blank and
     * layout.
     *
     * @param blank        the blank class index, in [0, C) (checked against C at each call)
     * @param reduction    how losses are combined
     * @param zeroInfinity whether infinite losses (no alignment) become 0 (their gradient is 0 either way)
     * @param layout       the declared layout of logProbs / logits and of their gradients
     */
    public record Options(int blank, Reduction reduction, boolean zeroInfinity, Layout layout) {

        public Options {
            if (blank < 0) {
                throw new IllegalArgumentException("argument 'blank': a class index is >= 0, got " + blank);
            }
            Tensor.requireNonNull(reduction, "reduction");
            Tensor.requireNonNull(layout, "layout");
        }

        /** Blank 0, reduction MEAN, zero_infinity off, TIME_MAJOR (torch's defaults). */
        public static Options defaults() {
            return new Options(0, Reduction.MEAN, false, Layout.TIME_MAJOR);
        }

        /** A builder starting from {@link #defaults()}. */
        public static Builder builder() {
            return new Builder(defaults());
        }

        /** A builder starting from these options. */
        public Builder toBuilder() {
            return new Builder(this);
        }

        /** Builds {@link Options}; every setter returns the builder. */
        public static final class Builder {
            private int blank;
            private Reduction reduction;
            private boolean zeroInfinity;
            private Layout layout;

            private Builder(Options from) {
                blank = from.blank;
                reduction = from.reduction;
                zeroInfinity = from.zeroInfinity;
                layout = from.layout;
            }

            public Builder blank(int value) {
                blank = value;
                return this;
            }

            public Builder reduction(Reduction value) {
                reduction = value;
                return this;
            }

            public Builder zeroInfinity(boolean value) {
                zeroInfinity = value;
                return this;
            }

            public Builder layout(Layout value) {
                layout = value;
                return this;
            }

            public Options build() {
                return new Options(blank, reduction, zeroInfinity, layout);
            }
        }
    }

    // ---- result records -----------------------------------------------------------------------

    /**
     * A loss and a gradient (w.r.t. logProbs in the requested form, or w.r.t. the logits for the
     * fused entry point), both on the context's device. Closes both.
     */
    public record LossAndGradient(Tensor loss, Tensor gradient) implements AutoCloseable {
        @Override
        public void close() {
            try {
                loss.close();
            } finally {
                gradient.close();
            }
        }
    }

    /**
     * The outputs of {@link #forcedAlign}: {@code path} (B, T) INT32, the class of each frame
     * (blank where the path is in a blank state), -1 at frames t &gt;= inputLengths[b] and everywhere
     * for sequences without an alignment; {@code spans} (B, W, 2) INT32, [start, end) frames of
     * target label j (end exclusive), -1, -1 for j &gt;= L_b and for sequences without an alignment;
     * {@code frameScores} (B, T), logProbs[t, b, path[b, t]], 0 where path is -1; {@code score}
     * (B), the path's log probability (-inf without an alignment). Any of spans, frameScores and
     * score may be null when the caller skipped it. Closes all four.
     */
    public record Alignment(Tensor path, Tensor spans, Tensor frameScores, Tensor score) implements AutoCloseable {

        public Alignment {
            Tensor.requireNonNull(path, "path");
        }

        /**
         * The aligned tokens of every sequence (read to the host), as
         * torchaudio.functional.merge_tokens gives them for each row of the path; see
         * {@link TokenSpan}. Needs spans and frameScores.
         */
        public List<List<TokenSpan>> tokenSpans() {
            if (spans == null || frameScores == null) {
                throw new IllegalStateException("tokenSpans() needs the spans and frameScores of the alignment"
                        + " (spans " + (spans == null ? "skipped" : "present") + ", frameScores "
                        + (frameScores == null ? "skipped" : "present") + ")");
            }
            int batch = (int) path.shape(0);
            int frames = (int) path.shape(1);
            int width = (int) spans.shape(1);
            int[] labels = path.toIntArray();
            int[] bounds = spans.toIntArray();
            double[] scores = frameScores.toDoubleArrayConverted();
            List<List<TokenSpan>> all = new ArrayList<>(batch);
            for (int b = 0; b < batch; b++) {
                List<TokenSpan> tokens = new ArrayList<>();
                for (int j = 0; j < width; j++) {
                    int start = bounds[(b * width + j) * 2];
                    int end = bounds[(b * width + j) * 2 + 1];
                    if (start < 0) {
                        break; // j >= L_b, or no alignment
                    }
                    tokens.add(TokenSpan.of(j, labels[b * frames + start], start, end, scores, b * frames));
                }
                all.add(Collections.unmodifiableList(tokens));
            }
            return Collections.unmodifiableList(all);
        }

        @Override
        public void close() {
            try {
                path.close();
            } finally {
                try {
                    if (spans != null) {
                        spans.close();
                    }
                } finally {
                    try {
                        if (frameScores != null) {
                            frameScores.close();
                        }
                    } finally {
                        if (score != null) {
                            score.close();
                        }
                    }
                }
            }
        }
    }

    /**
     * One aligned target token, like torchaudio's TokenSpan.
     *
     * @param index    the token's position j in the target (0-based)
     * @param label    its class
     * @param start    first frame of the token
     * @param end      one past its last frame (exclusive)
     * @param score    mean over the span's frames of exp(logProbs[t, b, label]), the model's
     *                 probability of the label at those frames: torchaudio's merge_tokens score
     *                 when given {@code scores.exp()}, as its tutorial does
     * @param logScore sum over the span's frames of logProbs[t, b, label] (the span's share of
     *                 the path's log probability)
     */
    public record TokenSpan(int index, int label, int start, int end, double score, double logScore) {

        /** Number of frames, end - start. */
        public int length() {
            return end - start;
        }

        static TokenSpan of(int index, int label, int start, int end, double[] frameLogProbs, int rowOffset) {
            double probability = 0;
            double log = 0;
            for (int t = start; t < end; t++) {
                double lp = frameLogProbs[rowOffset + t];
                probability += Math.exp(lp);
                log += lp;
            }
            return new TokenSpan(index, label, start, end, probability / (end - start), log);
        }
    }

    /**
     * torchaudio.functional.merge_tokens for one frame path: each maximal run of equal classes
     * that is not the blank is one token (so a repeated label is two tokens only when a blank or
     * another class separates its copies, as in any CTC path). Frames holding -1 (the padding of
     * {@link Alignment#path()}) are not tokens. Token indices count the tokens found.
     *
     * @param path          the class of each frame
     * @param frameLogProbs the log probability of each frame's class (same length as path),
     *                      for example a row of {@link Alignment#frameScores()}
     * @param blank         the blank class
     */
    public static List<TokenSpan> mergeTokens(int[] path, double[] frameLogProbs, int blank) {
        Tensor.requireNonNull(path, "path");
        Tensor.requireNonNull(frameLogProbs, "frameLogProbs");
        if (frameLogProbs.length != path.length) {
            throw new IllegalArgumentException("argument 'frameLogProbs': expected length " + path.length
                    + " (the length of 'path'), got " + frameLogProbs.length);
        }
        List<TokenSpan> tokens = new ArrayList<>();
        int t = 0;
        while (t < path.length) {
            int label = path[t];
            int end = t + 1;
            while (end < path.length && path[end] == label) {
                end++;
            }
            if (label != blank && label != -1) {
                tokens.add(TokenSpan.of(tokens.size(), label, t, end, frameLogProbs, 0));
            }
            t = end;
        }
        return Collections.unmodifiableList(tokens);
    }

    // ---- loss ---------------------------------------------------------------------------------

    /**
     * The loss into a caller-allocated {@code loss} (dtype of logProbs; shape (B) for NONE, a
     * scalar, rank 0 or [1], for SUM and MEAN).
     */
    public static void loss(Context context, Options options, Tensor logProbs, Tensor targets, Tensor inputLengths,
                            Tensor targetLengths, Tensor loss) {
        Problem p = Problem.of(context, options, logProbs, "logProbs", targets, inputLengths, targetLengths);
        p.requireLoss(loss, "loss");
        p.invoke("Ctc.loss", Arrays.asList(logProbs, targets, inputLengths, targetLengths, loss), (h, arena) ->
                semiring_kernels_h.sk_ctc_loss(h, p.nativeOptions(arena, Gradient.LOG_PROBS),
                        Tensor.descriptor(logProbs, arena), Tensor.descriptor(targets, arena),
                        Tensor.descriptor(inputLengths, arena), Tensor.descriptor(targetLengths, arena),
                        Tensor.descriptor(loss, arena)));
    }

    /** Allocates the loss on the context's device ((B) for NONE, rank 0 otherwise) and fills it. */
    public static Tensor loss(Context context, Options options, Tensor logProbs, Tensor targets, Tensor inputLengths,
                              Tensor targetLengths) {
        Problem p = Problem.of(context, options, logProbs, "logProbs", targets, inputLengths, targetLengths);
        Tensor loss = Tensor.allocate(context, p.dtype, p.lossShape());
        try {
            loss(context, options, logProbs, targets, inputLengths, targetLengths, loss);
            return loss;
        } catch (RuntimeException | Error e) {
            loss.close();
            throw e;
        }
    }

    // ---- backward -----------------------------------------------------------------------------

    /**
     * The gradient selected by {@code form} for the upstream gradient {@code gradLoss} (shape of
     * the loss: (B) for NONE, a scalar for SUM and MEAN) into {@code gradLogProbs} (shape, dtype
     * and layout of logProbs; overwritten everywhere, padding frames included). {@code loss} may
     * be null, or receives the forward's loss as {@link #loss} would (one call per training step).
     * The forward recursion is recomputed; nothing is kept between calls.
     */
    public static void backward(Context context, Options options, Gradient form, Tensor logProbs, Tensor targets,
                                Tensor inputLengths, Tensor targetLengths, Tensor gradLoss, Tensor gradLogProbs,
                                Tensor loss) {
        Tensor.requireNonNull(form, "form");
        Problem p = Problem.of(context, options, logProbs, "logProbs", targets, inputLengths, targetLengths);
        p.requireLoss(gradLoss, "gradLoss");
        p.requireLikeInput(gradLogProbs, "gradLogProbs");
        if (loss != null) {
            p.requireLoss(loss, "loss");
        }
        p.invoke("Ctc.backward", Arrays.asList(logProbs, targets, inputLengths, targetLengths, gradLoss, gradLogProbs,
                loss), (h, arena) -> semiring_kernels_h.sk_ctc_loss_backward(h, p.nativeOptions(arena, form),
                Tensor.descriptor(logProbs, arena), Tensor.descriptor(targets, arena),
                Tensor.descriptor(inputLengths, arena), Tensor.descriptor(targetLengths, arena),
                Tensor.descriptor(gradLoss, arena), Tensor.descriptor(gradLogProbs, arena),
                Tensor.descriptor(loss, arena)));
    }

    /** Allocates the loss and the gradient (contiguous, shaped like logProbs) and fills both. */
    public static LossAndGradient backward(Context context, Options options, Gradient form, Tensor logProbs,
                                           Tensor targets, Tensor inputLengths, Tensor targetLengths, Tensor gradLoss) {
        Tensor.requireNonNull(form, "form");
        Problem p = Problem.of(context, options, logProbs, "logProbs", targets, inputLengths, targetLengths);
        return allocateLossAndGradient(context, p, (loss, grad) -> backward(context, options, form, logProbs, targets,
                inputLengths, targetLengths, gradLoss, grad, loss));
    }

    /**
     * Loss and gradient for an upstream gradient of 1 (the loss itself is the objective): what
     * {@code loss.backward()} gives in torch, in the requested form.
     */
    public static LossAndGradient lossAndGradient(Context context, Options options, Gradient form, Tensor logProbs,
                                                  Tensor targets, Tensor inputLengths, Tensor targetLengths) {
        Tensor.requireNonNull(form, "form");
        Problem p = Problem.of(context, options, logProbs, "logProbs", targets, inputLengths, targetLengths);
        try (Tensor ones = p.onesLikeLoss(context)) {
            return backward(context, options, form, logProbs, targets, inputLengths, targetLengths, ones);
        }
    }

    // ---- fused log-softmax + CTC --------------------------------------------------------------

    /**
     * The loss of log_softmax(logits) over C (logits read with options.layout; the log-softmax is
     * computed on the fly, never stored) into {@code loss}.
     */
    public static void fusedLoss(Context context, Options options, Tensor logits, Tensor targets, Tensor inputLengths,
                                 Tensor targetLengths, Tensor loss) {
        fusedBackward(context, options, logits, targets, inputLengths, targetLengths, null, loss, null);
    }

    /** Allocates the loss of log_softmax(logits) and fills it. */
    public static Tensor fusedLoss(Context context, Options options, Tensor logits, Tensor targets, Tensor inputLengths,
                                   Tensor targetLengths) {
        Problem p = Problem.of(context, options, logits, "logits", targets, inputLengths, targetLengths);
        Tensor loss = Tensor.allocate(context, p.dtype, p.lossShape());
        try {
            fusedLoss(context, options, logits, targets, inputLengths, targetLengths, loss);
            return loss;
        } catch (RuntimeException | Error e) {
            loss.close();
            throw e;
        }
    }

    /**
     * The loss of log_softmax(logits) into {@code loss} and, when {@code gradLogits} is not null,
     * the gradient w.r.t. the logits for the upstream gradient {@code gradLoss}:
     * {@code u_b (softmax(logits)[t, b, c] - gamma[t, b, c])}, 0 at padding frames and for
     * sequences without an alignment. gradLoss may be null only when gradLogits is.
     */
    public static void fusedBackward(Context context, Options options, Tensor logits, Tensor targets,
                                     Tensor inputLengths, Tensor targetLengths, Tensor gradLoss, Tensor loss,
                                     Tensor gradLogits) {
        Problem p = Problem.of(context, options, logits, "logits", targets, inputLengths, targetLengths);
        p.requireLoss(loss, "loss");
        if (gradLogits != null) {
            if (gradLoss == null) {
                throw new NullPointerException("argument 'gradLoss' is null: it is required when 'gradLogits' is given");
            }
            p.requireLoss(gradLoss, "gradLoss");
            p.requireLikeInput(gradLogits, "gradLogits");
        }
        Tensor usedGradLoss = gradLogits == null ? null : gradLoss;
        p.invoke(gradLogits == null ? "Ctc.fusedLoss" : "Ctc.fusedBackward",
                Arrays.asList(logits, targets, inputLengths, targetLengths, usedGradLoss, loss, gradLogits),
                (h, arena) -> semiring_kernels_h.sk_ctc_loss_fused_logits(h, p.nativeOptions(arena, Gradient.LOG_PROBS),
                        Tensor.descriptor(logits, arena), Tensor.descriptor(targets, arena),
                        Tensor.descriptor(inputLengths, arena), Tensor.descriptor(targetLengths, arena),
                        Tensor.descriptor(usedGradLoss, arena), Tensor.descriptor(loss, arena),
                        Tensor.descriptor(gradLogits, arena)));
    }

    /** Allocates the loss and the gradient w.r.t. the logits and fills both. */
    public static LossAndGradient fusedBackward(Context context, Options options, Tensor logits, Tensor targets,
                                                Tensor inputLengths, Tensor targetLengths, Tensor gradLoss) {
        Tensor.requireNonNull(gradLoss, "gradLoss");
        Problem p = Problem.of(context, options, logits, "logits", targets, inputLengths, targetLengths);
        return allocateLossAndGradient(context, p, (loss, grad) -> fusedBackward(context, options, logits, targets,
                inputLengths, targetLengths, gradLoss, loss, grad));
    }

    /** Loss of log_softmax(logits) and its gradient w.r.t. the logits for an upstream gradient of 1. */
    public static LossAndGradient fusedLossAndGradient(Context context, Options options, Tensor logits, Tensor targets,
                                                       Tensor inputLengths, Tensor targetLengths) {
        Problem p = Problem.of(context, options, logits, "logits", targets, inputLengths, targetLengths);
        try (Tensor ones = p.onesLikeLoss(context)) {
            return fusedBackward(context, options, logits, targets, inputLengths, targetLengths, ones);
        }
    }

    // ---- forced alignment ---------------------------------------------------------------------

    /**
     * The most probable alignment (Viterbi path over the extended states), batched, as
     * torchaudio.functional.forced_align: {@code path} (B, T) INT32 is required; {@code spans}
     * (B, W, 2) INT32 with W &gt;= the longest target, {@code frameScores} (B, T) and {@code score}
     * (B) (dtype of logProbs) are optional (null skips them); see {@link Alignment}. Ties follow
     * torchaudio: entering state s, staying in s beats arriving from s-1, which beats the skip from
     * s-2; at the last frame the final label state beats the final blank; a NaN candidate wins.
     * Reads only options.blank and options.layout.
     */
    public static void forcedAlign(Context context, Options options, Tensor logProbs, Tensor targets,
                                   Tensor inputLengths, Tensor targetLengths, Tensor path, Tensor spans,
                                   Tensor frameScores, Tensor score) {
        Problem p = Problem.of(context, options, logProbs, "logProbs", targets, inputLengths, targetLengths);
        p.requireOutput(path, "path", DType.INT32, null, new long[] {p.batch, p.frames}, "(B, T)");
        if (spans != null) {
            p.requireSpans(spans);
        }
        if (frameScores != null) {
            p.requireOutput(frameScores, "frameScores", p.dtype, dtypeOfInput(p), new long[] {p.batch, p.frames},
                    "(B, T)");
        }
        if (score != null) {
            p.requireOutput(score, "score", p.dtype, dtypeOfInput(p), new long[] {p.batch}, "(B)");
        }
        p.invoke("Ctc.forcedAlign", Arrays.asList(logProbs, targets, inputLengths, targetLengths, path, spans,
                frameScores, score), (h, arena) -> semiring_kernels_h.sk_ctc_forced_align(h,
                p.nativeOptions(arena, Gradient.LOG_PROBS), Tensor.descriptor(logProbs, arena),
                Tensor.descriptor(targets, arena), Tensor.descriptor(inputLengths, arena),
                Tensor.descriptor(targetLengths, arena), Tensor.descriptor(path, arena),
                Tensor.descriptor(spans, arena), Tensor.descriptor(frameScores, arena),
                Tensor.descriptor(score, arena)));
    }

    /**
     * Allocates every output of the alignment (spans of width max_b targetLengths[b]) on the
     * context's device and fills them. {@link Alignment#tokenSpans()} turns them into tokens.
     */
    public static Alignment forcedAlign(Context context, Options options, Tensor logProbs, Tensor targets,
                                        Tensor inputLengths, Tensor targetLengths) {
        Problem p = Problem.of(context, options, logProbs, "logProbs", targets, inputLengths, targetLengths);
        long width = p.longestTarget(context);
        List<Tensor> made = new ArrayList<>(4);
        try {
            Tensor path = keep(made, Tensor.allocate(context, DType.INT32, p.batch, p.frames));
            Tensor spans = keep(made, Tensor.allocate(context, DType.INT32, p.batch, width, 2));
            Tensor frameScores = keep(made, Tensor.allocate(context, p.dtype, p.batch, p.frames));
            Tensor score = keep(made, Tensor.allocate(context, p.dtype, p.batch));
            forcedAlign(context, options, logProbs, targets, inputLengths, targetLengths, path, spans, frameScores,
                    score);
            return new Alignment(path, spans, frameScores, score);
        } catch (RuntimeException | Error e) {
            closeAll(made);
            throw e;
        }
    }

    // ---- posteriors ---------------------------------------------------------------------------

    /**
     * State posteriors ("soft alignment") into {@code posteriors} (B, T, W), dtype of logProbs,
     * W &gt;= 2 max_b targetLengths[b] + 1: P(extended state s at frame t | target), even s the blank
     * before label s/2, odd s label (s-1)/2. Entries with s &gt;= 2 L_b + 1 or t &gt;= inputLengths[b],
     * and whole sequences without an alignment, are 0; every other frame sums to 1 over s. Summing
     * state 2j+1 over t gives the expected duration of label j. Reads only options.blank and
     * options.layout.
     */
    public static void posteriors(Context context, Options options, Tensor logProbs, Tensor targets,
                                  Tensor inputLengths, Tensor targetLengths, Tensor posteriors) {
        Problem p = Problem.of(context, options, logProbs, "logProbs", targets, inputLengths, targetLengths);
        p.requirePosteriors(posteriors);
        p.invoke("Ctc.posteriors", Arrays.asList(logProbs, targets, inputLengths, targetLengths, posteriors),
                (h, arena) -> semiring_kernels_h.sk_ctc_posteriors(h, p.nativeOptions(arena, Gradient.LOG_PROBS),
                        Tensor.descriptor(logProbs, arena), Tensor.descriptor(targets, arena),
                        Tensor.descriptor(inputLengths, arena), Tensor.descriptor(targetLengths, arena),
                        Tensor.descriptor(posteriors, arena)));
    }

    /** Allocates posteriors (B, T, 2 max_b targetLengths[b] + 1) on the context's device and fills them. */
    public static Tensor posteriors(Context context, Options options, Tensor logProbs, Tensor targets,
                                    Tensor inputLengths, Tensor targetLengths) {
        Problem p = Problem.of(context, options, logProbs, "logProbs", targets, inputLengths, targetLengths);
        long width = 2 * p.longestTarget(context) + 1;
        Tensor out = Tensor.allocate(context, p.dtype, p.batch, p.frames, width);
        try {
            posteriors(context, options, logProbs, targets, inputLengths, targetLengths, out);
            return out;
        } catch (RuntimeException | Error e) {
            out.close();
            throw e;
        }
    }

    // ---- validation ---------------------------------------------------------------------------

    /** The checked float input, its extents under the declared layout, and the index tensors. */
    private record Problem(Context context, Options options, Tensor input, String inputName, DType dtype, long frames,
                           long batch, long classes, Tensor targets, Tensor targetLengths) {

        static Problem of(Context context, Options options, Tensor input, String inputName, Tensor targets,
                          Tensor inputLengths, Tensor targetLengths) {
            Tensor.requireNonNull(context, "context");
            Tensor.requireNonNull(options, "options");
            Tensor.requireNonNull(input, inputName);
            Tensor.requireNonNull(targets, "targets");
            Tensor.requireNonNull(inputLengths, "inputLengths");
            Tensor.requireNonNull(targetLengths, "targetLengths");
            if (context.isClosed()) {
                throw new IllegalStateException("Context on " + context.device() + " is closed; Ctc cannot use it");
            }
            input.ensureOpen("Ctc");
            targets.ensureOpen("Ctc");
            inputLengths.ensureOpen("Ctc");
            targetLengths.ensureOpen("Ctc");
            Layout layout = options.layout();
            if (input.rank() != 3) {
                throw new IllegalArgumentException("argument '" + inputName + "': expected rank 3 " + layout.axes()
                        + " (layout " + layout + "), got rank " + input.rank() + " (shape "
                        + Arrays.toString(input.shape()) + ")");
            }
            if (!input.dtype().isFloatingPoint()) {
                throw new IllegalArgumentException("argument '" + inputName + "': expected dtype FLOAT32 or FLOAT64, got "
                        + input.dtype());
            }
            requireOnContextDevice(context, input, inputName);
            long frames = input.shape(layout.timeDim());
            long batch = input.shape(layout.batchDim());
            long classes = input.shape(2);
            Problem p = new Problem(context, options, input, inputName, input.dtype(), frames, batch, classes, targets,
                    targetLengths);
            if (options.blank() >= classes) {
                throw new IllegalArgumentException("argument 'options.blank': blank " + options.blank()
                        + " is outside [0, " + classes + ") (C = " + classes + " classes in '" + inputName + "' "
                        + p.describeInput() + ")");
            }
            p.requireIndexTensor(targets, "targets");
            if (targets.rank() != 1 && targets.rank() != 2) {
                throw new IllegalArgumentException("argument 'targets': expected rank 2 (B, S) (padded) or rank 1 "
                        + "(concatenated), got rank " + targets.rank() + " (shape " + Arrays.toString(targets.shape())
                        + ")");
            }
            if (targets.rank() == 2 && targets.shape(0) != batch) {
                throw new IllegalArgumentException("argument 'targets': padded targets must have shape [" + batch
                        + ", S] (B = the batch extent of '" + inputName + "' " + p.describeInput() + "), got "
                        + Arrays.toString(targets.shape()));
            }
            p.requireLengths(inputLengths, "inputLengths");
            p.requireLengths(targetLengths, "targetLengths");
            return p;
        }

        /** "[5, 2, 4] read as TIME_MAJOR (T, B, C)". */
        String describeInput() {
            return Arrays.toString(input.shape()) + " read as " + options.layout() + " " + options.layout().axes();
        }

        void requireIndexTensor(Tensor t, String name) {
            if (t.dtype() != DType.INT32 && t.dtype() != DType.INT64) {
                throw new IllegalArgumentException("argument '" + name + "': expected dtype INT32 or INT64, got "
                        + t.dtype());
            }
            if (!t.isHost() && !t.device().equals(context.device())) {
                throw new IllegalArgumentException("argument '" + name + "': tensor is on " + t.device()
                        + " but the context is on " + context.device()
                        + " (index tensors may be in host memory or on the context's device)");
            }
        }

        void requireLengths(Tensor t, String name) {
            requireIndexTensor(t, name);
            if (t.rank() != 1 || t.shape(0) != batch) {
                throw new IllegalArgumentException("argument '" + name + "': expected shape [" + batch
                        + "] (B, the batch extent of '" + inputName + "' " + describeInput() + "), got "
                        + Arrays.toString(t.shape()));
            }
        }

        long[] lossShape() {
            return options.reduction() == Reduction.NONE ? new long[] {batch} : new long[0];
        }

        /** loss or gradLoss: dtype of the input, (B) for NONE, rank 0 or [1] for SUM / MEAN. */
        void requireLoss(Tensor t, String name) {
            Tensor.requireNonNull(t, name);
            t.ensureOpen("Ctc");
            requireFloat(t, name);
            long[] shape = t.shape();
            if (options.reduction() == Reduction.NONE) {
                if (!Arrays.equals(shape, new long[] {batch})) {
                    throw new IllegalArgumentException("argument '" + name + "': expected shape [" + batch
                            + "] (one value per sequence for reduction NONE; B from '" + inputName + "' "
                            + describeInput() + "), got " + Arrays.toString(shape));
                }
            } else if (!(shape.length == 0 || Arrays.equals(shape, new long[] {1}))) {
                throw new IllegalArgumentException("argument '" + name + "': expected a scalar, shape [] or [1], for "
                        + "reduction " + options.reduction() + ", got " + Arrays.toString(shape));
            }
            requireOnContextDevice(context, t, name);
        }

        /** A gradient shaped (and laid out) like the input. */
        void requireLikeInput(Tensor t, String name) {
            Tensor.requireNonNull(t, name);
            t.ensureOpen("Ctc");
            requireFloat(t, name);
            if (!Arrays.equals(t.shape(), input.shape())) {
                throw new IllegalArgumentException("argument '" + name + "': expected the shape of '" + inputName + "' "
                        + describeInput() + ", got " + Arrays.toString(t.shape()));
            }
            requireOnContextDevice(context, t, name);
        }

        /** An output of the alignment: dtype {@code expectedDtype} (why: {@code dtypeNote}, may be null). */
        void requireOutput(Tensor t, String name, DType expectedDtype, String dtypeNote, long[] shape, String axes) {
            Tensor.requireNonNull(t, name);
            t.ensureOpen("Ctc");
            if (t.dtype() != expectedDtype) {
                throw new IllegalArgumentException("argument '" + name + "': expected dtype " + expectedDtype
                        + (dtypeNote == null ? "" : " (" + dtypeNote + ")") + ", got " + t.dtype());
            }
            if (!Arrays.equals(t.shape(), shape)) {
                throw new IllegalArgumentException("argument '" + name + "': expected shape " + Arrays.toString(shape)
                        + " " + axes + " from '" + inputName + "' " + describeInput() + ", got "
                        + Arrays.toString(t.shape()));
            }
            requireOnContextDevice(context, t, name);
        }

        void requireSpans(Tensor t) {
            t.ensureOpen("Ctc");
            if (t.dtype() != DType.INT32) {
                throw new IllegalArgumentException("argument 'spans': expected dtype INT32, got " + t.dtype());
            }
            if (t.rank() != 3 || t.shape(0) != batch || t.shape(2) != 2) {
                throw new IllegalArgumentException("argument 'spans': expected shape [" + batch + ", W, 2] (B, W, 2) "
                        + "with W >= the longest target, B from '" + inputName + "' " + describeInput() + ", got "
                        + Arrays.toString(t.shape()));
            }
            requireOnContextDevice(context, t, "spans");
        }

        void requirePosteriors(Tensor t) {
            Tensor.requireNonNull(t, "posteriors");
            t.ensureOpen("Ctc");
            requireFloat(t, "posteriors");
            if (t.rank() != 3 || t.shape(0) != batch || t.shape(1) != frames) {
                throw new IllegalArgumentException("argument 'posteriors': expected shape [" + batch + ", " + frames
                        + ", W] (B, T, W) with W >= 2 * the longest target + 1, from '" + inputName + "' "
                        + describeInput() + ", got " + Arrays.toString(t.shape()));
            }
            requireOnContextDevice(context, t, "posteriors");
        }

        private void requireFloat(Tensor t, String name) {
            if (t.dtype() != dtype) {
                throw new IllegalArgumentException("argument '" + name + "': expected dtype " + dtype
                        + " (the dtype of '" + inputName + "'), got " + t.dtype());
            }
        }

        /**
         * max_b targetLengths[b], read on the host, for sizing outputs. Clamped to what the
         * targets can hold (S when padded, their length when concatenated) and to >= 0, so that
         * bad lengths reach the library, which rejects them with its message, instead of
         * sizing a huge allocation.
         */
        long longestTarget(Context ctx) {
            long[] lengths = readIndexValues(ctx, targetLengths);
            long longest = 0;
            for (long length : lengths) {
                longest = Math.max(longest, length);
            }
            long bound = targets.rank() == 2 ? targets.shape(1) : targets.shape(0);
            return Math.min(longest, bound);
        }

        /** A tensor of ones shaped like the loss, on the context's device (the caller closes it). */
        Tensor onesLikeLoss(Context ctx) {
            try (Tensor host = Tensor.allocateHost(dtype, lossShape())) {
                Tensor flat = host.reshape(host.elementCount());
                for (long i = 0; i < host.elementCount(); i++) {
                    flat.setDouble(1.0, i);
                }
                return host.to(ctx);
            }
        }

        MemorySegment nativeOptions(Arena arena, Gradient form) {
            MemorySegment o = sk_ctc_options.allocate(arena);
            sk_ctc_options.struct_size(o, sk_ctc_options.sizeof());
            sk_ctc_options.layout(o, options.layout().code());
            sk_ctc_options.blank(o, options.blank());
            sk_ctc_options.reduction(o, options.reduction().code());
            sk_ctc_options.zero_infinity(o, options.zeroInfinity() ? 1 : 0);
            sk_ctc_options.gradient(o, form.code());
            sk_ctc_options.reserved(o, 0);
            return o;
        }

        /**
         * Keeps every tensor's memory alive, builds the descriptors in a confined arena (freed when
         * the call returns), calls, and turns a failure into the context's error message.
         */
        void invoke(String operation, List<Tensor> tensors, CtcCall call) {
            List<Tensor> acquired = new ArrayList<>(tensors.size());
            try {
                for (Tensor t : tensors) {
                    if (t != null) {
                        t.acquire(operation);
                        acquired.add(t);
                    }
                }
                context.call(operation, h -> {
                    try (Arena arena = Arena.ofConfined()) {
                        Native.check(call.apply(h, arena), h);
                    }
                    return null;
                });
            } finally {
                for (Tensor t : acquired) {
                    t.release();
                }
            }
        }
    }

    @FunctionalInterface
    private interface CtcCall {
        int apply(MemorySegment context, Arena arena);
    }

    @FunctionalInterface
    private interface LossAndGradientFill {
        void fill(Tensor loss, Tensor gradient);
    }

    private static LossAndGradient allocateLossAndGradient(Context context, Problem p, LossAndGradientFill fill) {
        Tensor loss = Tensor.allocate(context, p.dtype, p.lossShape());
        Tensor grad = null;
        try {
            grad = Tensor.allocate(context, p.dtype, p.input.shape());
            fill.fill(loss, grad);
            return new LossAndGradient(loss, grad);
        } catch (RuntimeException | Error e) {
            loss.close();
            if (grad != null) {
                grad.close();
            }
            throw e;
        }
    }

    private static String dtypeOfInput(Problem p) {
        return "the dtype of '" + p.inputName + "'";
    }

    private static void requireOnContextDevice(Context context, Tensor t, String name) {
        if (!t.device().equals(context.device())) {
            throw new IllegalArgumentException("argument '" + name + "': tensor is on " + t.device()
                    + " but the context is on " + context.device());
        }
    }

    /** The values of a rank-1 index tensor, copied to the host first when it is device memory. */
    private static long[] readIndexValues(Context context, Tensor t) {
        if (!t.isHost()) {
            try (Tensor host = Tensor.allocateHost(t.dtype(), t.shape())) {
                t.copyTo(context, host);
                return readIndexValues(context, host);
            }
        }
        long[] values = new long[Math.toIntExact(t.elementCount())];
        for (int i = 0; i < values.length; i++) {
            values[i] = t.getLong(i);
        }
        return values;
    }

    private static Tensor keep(List<Tensor> made, Tensor t) {
        made.add(Objects.requireNonNull(t));
        return t;
    }

    private static void closeAll(List<Tensor> tensors) {
        for (int i = tensors.size() - 1; i >= 0; i--) {
            tensors.get(i).close();
        }
    }
}
