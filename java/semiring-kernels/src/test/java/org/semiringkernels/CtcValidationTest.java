package org.semiringkernels;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;
import java.util.stream.Stream;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.semiringkernels.Ctc.Gradient;
import org.semiringkernels.Ctc.Layout;
import org.semiringkernels.Ctc.Options;
import org.semiringkernels.Ctc.Reduction;

/**
 * Every bad input of every CTC entry point: a clear error naming the argument (Java's checks
 * name the Java parameter, the library's value checks the C argument), and every output left
 * exactly as it was.
 */
class CtcValidationTest {

    static final double SENTINEL = 12345;
    static final int T = 5, B = 3, C = 4, S = 3;

    static Context context;

    @BeforeAll
    static void open() {
        context = Context.cpu();
    }

    @AfterAll
    static void close() {
        context.close();
    }

    /** Valid inputs by default; a case replaces one piece. */
    static final class Inputs implements AutoCloseable {
        final List<Tensor> made = new ArrayList<>();
        Options options = Options.builder().reduction(Reduction.NONE).build();
        Tensor logProbs = keep(Tensor.allocateHost(DType.FLOAT64, T, B, C));
        Tensor targets = keep(Tensor.fromArray(new int[] {1, 2, 0, 3, 0, 0, 2, 2, 1}, B, S));
        Tensor inputLengths = keep(Tensor.fromArray(new long[] {5, 4, 5}));
        Tensor targetLengths = keep(Tensor.fromArray(new int[] {2, 1, 3}));

        Inputs() {
            fill(logProbs, Math.log(0.25));
        }

        Tensor keep(Tensor t) {
            made.add(t);
            return t;
        }

        @Override
        public void close() {
            made.forEach(Tensor::close);
        }
    }

    /** Sentinel-filled outputs of every entry point, all correctly shaped for {@link Inputs}. */
    static final class Outputs implements AutoCloseable {
        final Tensor loss, lossScalar, grad, gradLoss, path, spans, frameScores, score, posteriors;
        final List<Tensor> all;

        Outputs(DType dtype) {
            loss = filled(dtype, SENTINEL, B);
            lossScalar = filled(dtype, SENTINEL);
            grad = filled(dtype, SENTINEL, T, B, C);
            gradLoss = filled(dtype, 1, B);
            path = filled(DType.INT32, SENTINEL, B, T);
            spans = filled(DType.INT32, SENTINEL, B, S, 2);
            frameScores = filled(dtype, SENTINEL, B, T);
            score = filled(dtype, SENTINEL, B);
            posteriors = filled(dtype, SENTINEL, B, T, 2 * S + 1);
            all = List.of(loss, lossScalar, grad, path, spans, frameScores, score, posteriors);
        }

        void assertUntouched() {
            for (Tensor t : all) {
                for (double v : t.toDoubleArrayConverted()) {
                    assertEquals(SENTINEL, v, "an output was written although the call failed: " + t);
                }
            }
        }

        @Override
        public void close() {
            all.forEach(Tensor::close);
            gradLoss.close();
        }
    }

    /** One entry point, called with the inputs and the matching outputs. */
    record Entry(String name, EntryCall call) {
        @Override
        public String toString() {
            return name;
        }
    }

    @FunctionalInterface
    interface EntryCall {
        void run(Inputs in, Outputs out);
    }

    static final List<Entry> ENTRIES = List.of(
            new Entry("loss", (in, out) -> Ctc.loss(context, in.options, in.logProbs, in.targets, in.inputLengths,
                    in.targetLengths, out.loss)),
            new Entry("backward LOG_PROBS", (in, out) -> Ctc.backward(context, in.options, Gradient.LOG_PROBS,
                    in.logProbs, in.targets, in.inputLengths, in.targetLengths, out.gradLoss, out.grad, out.loss)),
            new Entry("backward FUSED_LOGITS", (in, out) -> Ctc.backward(context, in.options, Gradient.FUSED_LOGITS,
                    in.logProbs, in.targets, in.inputLengths, in.targetLengths, out.gradLoss, out.grad, null)),
            new Entry("fusedLoss", (in, out) -> Ctc.fusedLoss(context, in.options, in.logProbs, in.targets,
                    in.inputLengths, in.targetLengths, out.loss)),
            new Entry("fusedBackward", (in, out) -> Ctc.fusedBackward(context, in.options, in.logProbs, in.targets,
                    in.inputLengths, in.targetLengths, out.gradLoss, out.loss, out.grad)),
            new Entry("forcedAlign", (in, out) -> Ctc.forcedAlign(context, in.options, in.logProbs, in.targets,
                    in.inputLengths, in.targetLengths, out.path, out.spans, out.frameScores, out.score)),
            new Entry("posteriors", (in, out) -> Ctc.posteriors(context, in.options, in.logProbs, in.targets,
                    in.inputLengths, in.targetLengths, out.posteriors)));

    /** A bad input shared by every entry point. Fragments of the message; "logProbs" stands for the input's name. */
    record Bad(String name, Consumer<Inputs> spoil, Class<? extends Throwable> type, String... fragments) {
        @Override
        public String toString() {
            return name;
        }
    }

    static final List<Bad> BAD = List.of(
            // ---- checked in Java, before the native call ----
            new Bad("null targets", in -> in.targets = null, NullPointerException.class, "argument 'targets' is null"),
            new Bad("null inputLengths", in -> in.inputLengths = null, NullPointerException.class,
                    "argument 'inputLengths' is null"),
            new Bad("null options", in -> in.options = null, NullPointerException.class, "argument 'options' is null"),
            new Bad("rank-2 log-probabilities", in -> in.logProbs = in.keep(Tensor.allocateHost(DType.FLOAT64, T, C)),
                    IllegalArgumentException.class, "argument 'logProbs'", "expected rank 3 (T, B, C)", "got rank 2",
                    "[5, 4]"),
            new Bad("integer log-probabilities", in -> in.logProbs = in.keep(Tensor.allocateHost(DType.INT32, T, B, C)),
                    IllegalArgumentException.class, "argument 'logProbs'", "FLOAT32 or FLOAT64", "got INT32"),
            new Bad("float targets", in -> in.targets = in.keep(Tensor.allocateHost(DType.FLOAT32, B, S)),
                    IllegalArgumentException.class, "argument 'targets'", "INT32 or INT64", "FLOAT32"),
            new Bad("rank-3 targets", in -> in.targets = in.keep(Tensor.allocateHost(DType.INT32, B, S, 1)),
                    IllegalArgumentException.class, "argument 'targets'", "rank 2 (B, S)", "rank 1", "got rank 3"),
            new Bad("padded targets of another batch", in -> in.targets = in.keep(Tensor.allocateHost(DType.INT32, 2, S)),
                    IllegalArgumentException.class, "argument 'targets'", "[3, S]", "got [2, 3]"),
            new Bad("inputLengths of another batch", in -> in.inputLengths = in.keep(Tensor.fromArray(new int[] {5, 5})),
                    IllegalArgumentException.class, "argument 'inputLengths'", "expected shape [3]", "got [2]",
                    "[5, 3, 4] read as TIME_MAJOR (T, B, C)"),
            new Bad("float targetLengths", in -> in.targetLengths = in.keep(Tensor.fromArray(new double[] {2, 1, 3})),
                    IllegalArgumentException.class, "argument 'targetLengths'", "INT32 or INT64", "FLOAT64"),
            new Bad("rank-2 targetLengths", in -> in.targetLengths = in.keep(Tensor.fromArray(new int[] {2, 1, 3}, 3, 1)),
                    IllegalArgumentException.class, "argument 'targetLengths'", "expected shape [3]", "got [3, 1]"),
            new Bad("declared layout contradicts the lengths", in -> in.options = in.options.toBuilder()
                    .layout(Layout.BATCH_MAJOR).build(), IllegalArgumentException.class, "argument 'targets'",
                    "[5, S]", "'logProbs' [5, 3, 4] read as BATCH_MAJOR (B, T, C)", "got [3, 3]"),
            new Bad("blank = C", in -> in.options = in.options.toBuilder().blank(C).build(),
                    IllegalArgumentException.class, "argument 'options.blank'", "blank 4 is outside [0, 4)"),
            new Bad("log-probabilities on a CUDA device", in -> in.logProbs = in.keep(Tensor.wrapDevice(Device.cuda(0),
                    MemorySegment.ofAddress(4096), DType.FLOAT64, new long[] {T, B, C}, new long[] {B * C, C, 1})),
                    IllegalArgumentException.class, "argument 'logProbs'", "on cuda:0", "context is on cpu"),
            new Bad("targets on another device", in -> in.targets = in.keep(Tensor.wrapDevice(Device.cuda(0),
                    MemorySegment.ofAddress(4096), DType.INT32, new long[] {B, S}, new long[] {S, 1})),
                    IllegalArgumentException.class, "argument 'targets'", "on cuda:0", "context is on cpu",
                    "host memory or on the context's device"),
            new Bad("closed log-probabilities", in -> in.logProbs.close(), IllegalStateException.class, "is closed"),
            new Bad("closed targetLengths", in -> in.targetLengths.close(), IllegalStateException.class, "is closed"),
            // ---- values, checked by the library before it writes anything ----
            new Bad("label = C", in -> in.targets.setDouble(C, 0, 1), SemiringKernelsException.class,
                    "argument 'targets'", "label 4 at position 1 of sequence 0", "outside [0, 4)"),
            new Bad("negative label", in -> in.targets.setDouble(-1, 2, 0), SemiringKernelsException.class,
                    "argument 'targets'", "label -1 at position 0 of sequence 2"),
            new Bad("label = blank", in -> in.targets.setDouble(0, 2, 2), SemiringKernelsException.class,
                    "argument 'targets'", "position 2 of sequence 2", "equals the blank index 0"),
            new Bad("label = a blank not at 0", in -> in.options = in.options.toBuilder().blank(2).build(),
                    SemiringKernelsException.class, "argument 'targets'", "position 1 of sequence 0",
                    "equals the blank index 2"),
            new Bad("negative input length", in -> in.inputLengths.setDouble(-1, 1), SemiringKernelsException.class,
                    "argument 'input_lengths'", "element 1 is -1"),
            new Bad("input length > T", in -> in.inputLengths.setDouble(T + 1, 2), SemiringKernelsException.class,
                    "argument 'input_lengths'", "element 2 is 6", "T = 5"),
            new Bad("negative target length", in -> in.targetLengths.setDouble(-2, 0), SemiringKernelsException.class,
                    "argument 'target_lengths'", "element 0 is -2"),
            new Bad("target length > S", in -> in.targetLengths.setDouble(S + 1, 1), SemiringKernelsException.class,
                    "argument 'target_lengths'", "element 1 is 4", "larger than S = 3"),
            new Bad("concatenated targets shorter than sum(targetLengths)", in -> in.targets = in.keep(
                    Tensor.fromArray(new int[] {1, 2, 3, 2, 2})), SemiringKernelsException.class,
                    "argument 'targets'", "sum(target_lengths) = 6", "[5]"));

    static Stream<Arguments> badInputs() {
        List<Arguments> out = new ArrayList<>();
        for (Bad bad : BAD) {
            for (Entry entry : ENTRIES) {
                out.add(Arguments.of(bad, entry));
            }
        }
        return out.stream();
    }

    @ParameterizedTest(name = "{0}: {1}")
    @MethodSource("badInputs")
    void badInputIsNamedAndOutputsStayUntouched(Bad bad, Entry entry) {
        try (Inputs in = new Inputs(); Outputs out = new Outputs(DType.FLOAT64)) {
            bad.spoil().accept(in);
            boolean fused = entry.name().startsWith("fused");
            String[] fragments = Stream.of(bad.fragments())
                    .map(f -> fused ? f.replace("'logProbs'", "'logits'") : f).toArray(String[]::new);
            String message = assertRejected(bad.type(), () -> entry.call().run(in, out), fragments);
            if (bad.type() == SemiringKernelsException.class) {
                assertTrue(message.contains("sk_ctc_"), "the library names the function: " + message);
            }
            out.assertUntouched();
        }
    }

    // ---- outputs of one entry point -----------------------------------------------------------

    @Test
    void lossShapeAndDtypeFollowTheReduction() {
        try (Inputs in = new Inputs(); Outputs out = new Outputs(DType.FLOAT64);
             Tensor wrongDtype = filled(DType.FLOAT32, SENTINEL, B)) {
            assertRejected(IllegalArgumentException.class, () -> Ctc.loss(context, in.options, in.logProbs, in.targets,
                    in.inputLengths, in.targetLengths, out.lossScalar), "argument 'loss'", "expected shape [3]",
                    "reduction NONE", "got []");
            Options mean = in.options.toBuilder().reduction(Reduction.MEAN).build();
            assertRejected(IllegalArgumentException.class, () -> Ctc.loss(context, mean, in.logProbs, in.targets,
                    in.inputLengths, in.targetLengths, out.loss), "argument 'loss'", "expected a scalar",
                    "reduction MEAN", "got [3]");
            assertRejected(IllegalArgumentException.class, () -> Ctc.loss(context, in.options, in.logProbs, in.targets,
                    in.inputLengths, in.targetLengths, wrongDtype), "argument 'loss'", "expected dtype FLOAT64",
                    "the dtype of 'logProbs'", "got FLOAT32");
            assertRejected(NullPointerException.class, () -> Ctc.loss(context, in.options, in.logProbs, in.targets,
                    in.inputLengths, in.targetLengths, null), "argument 'loss' is null");
            Tensor cudaLoss = in.keep(Tensor.wrapDevice(Device.cuda(0), MemorySegment.ofAddress(4096), DType.FLOAT64,
                    new long[] {B}, new long[] {1}));
            assertRejected(IllegalArgumentException.class, () -> Ctc.loss(context, in.options, in.logProbs, in.targets,
                    in.inputLengths, in.targetLengths, cudaLoss), "argument 'loss'", "on cuda:0", "context is on cpu");
            out.assertUntouched();
            assertUntouched(wrongDtype);
        }
    }

    @Test
    void gradientArgumentsAreChecked() {
        try (Inputs in = new Inputs(); Outputs out = new Outputs(DType.FLOAT64);
             Tensor batchMajorGrad = filled(DType.FLOAT64, SENTINEL, B, T, C);
             Tensor scalarGradLoss = filled(DType.FLOAT64, 1)) {
            assertRejected(IllegalArgumentException.class, () -> Ctc.backward(context, in.options, Gradient.LOG_PROBS,
                    in.logProbs, in.targets, in.inputLengths, in.targetLengths, out.gradLoss, batchMajorGrad, out.loss),
                    "argument 'gradLogProbs'", "the shape of 'logProbs' [5, 3, 4] read as TIME_MAJOR", "got [3, 5, 4]");
            assertRejected(IllegalArgumentException.class, () -> Ctc.backward(context, in.options, Gradient.LOG_PROBS,
                    in.logProbs, in.targets, in.inputLengths, in.targetLengths, scalarGradLoss, out.grad, null),
                    "argument 'gradLoss'", "expected shape [3]", "got []");
            assertRejected(NullPointerException.class, () -> Ctc.backward(context, in.options, null, in.logProbs,
                    in.targets, in.inputLengths, in.targetLengths, out.gradLoss, out.grad, null), "argument 'form' is null");
            assertRejected(NullPointerException.class, () -> Ctc.fusedBackward(context, in.options, in.logProbs,
                    in.targets, in.inputLengths, in.targetLengths, null, out.loss, out.grad), "argument 'gradLoss' is null",
                    "required when 'gradLogits' is given");
            assertRejected(IllegalArgumentException.class, () -> Ctc.fusedBackward(context, in.options, in.logProbs,
                    in.targets, in.inputLengths, in.targetLengths, out.gradLoss, out.loss, batchMajorGrad),
                    "argument 'gradLogits'", "the shape of 'logits'");
            out.assertUntouched();
            assertUntouched(batchMajorGrad);
        }
    }

    @Test
    void alignmentAndPosteriorOutputsAreChecked() {
        try (Inputs in = new Inputs(); Outputs out = new Outputs(DType.FLOAT64);
             Tensor longPath = filled(DType.INT64, SENTINEL, B, T);
             Tensor shortPath = filled(DType.INT32, SENTINEL, B, T - 1);
             Tensor narrowSpans = filled(DType.INT32, SENTINEL, B, S - 1, 2);
             Tensor flatSpans = filled(DType.INT32, SENTINEL, B, S);
             Tensor floatScores = filled(DType.FLOAT32, SENTINEL, B, T);
             Tensor narrowPosteriors = filled(DType.FLOAT64, SENTINEL, B, T, 2 * S);
             Tensor shortPosteriors = filled(DType.FLOAT64, SENTINEL, B, T - 1, 2 * S + 1)) {
            Executable[] javaChecks = {
                () -> Ctc.forcedAlign(context, in.options, in.logProbs, in.targets, in.inputLengths, in.targetLengths,
                        longPath, null, null, null),
                () -> Ctc.forcedAlign(context, in.options, in.logProbs, in.targets, in.inputLengths, in.targetLengths,
                        shortPath, null, null, null),
                () -> Ctc.forcedAlign(context, in.options, in.logProbs, in.targets, in.inputLengths, in.targetLengths,
                        out.path, flatSpans, null, null),
                () -> Ctc.forcedAlign(context, in.options, in.logProbs, in.targets, in.inputLengths, in.targetLengths,
                        out.path, null, floatScores, null),
                () -> Ctc.forcedAlign(context, in.options, in.logProbs, in.targets, in.inputLengths, in.targetLengths,
                        out.path, null, null, out.frameScores),
                () -> Ctc.forcedAlign(context, in.options, in.logProbs, in.targets, in.inputLengths, in.targetLengths,
                        null, null, null, null),
                () -> Ctc.posteriors(context, in.options, in.logProbs, in.targets, in.inputLengths, in.targetLengths,
                        shortPosteriors)};
            String[][] fragments = {
                {"argument 'path'", "expected dtype INT32", "got INT64"},
                {"argument 'path'", "expected shape [3, 5] (B, T)", "got [3, 4]"},
                {"argument 'spans'", "[3, W, 2]", "got [3, 3]"},
                {"argument 'frameScores'", "expected dtype FLOAT64", "got FLOAT32"},
                {"argument 'score'", "expected shape [3] (B)", "got [3, 5]"},
                {"argument 'path' is null"},
                {"argument 'posteriors'", "[3, 5, W]", "got [3, 4, 7]"}};
            for (int i = 0; i < javaChecks.length; i++) {
                assertRejected(i == 5 ? NullPointerException.class : IllegalArgumentException.class, javaChecks[i],
                        fragments[i]);
            }
            // Widths depend on the target lengths' values: the library checks them.
            assertRejected(SemiringKernelsException.class, () -> Ctc.forcedAlign(context, in.options, in.logProbs,
                    in.targets, in.inputLengths, in.targetLengths, out.path, narrowSpans, null, null),
                    "argument 'spans'", "W >= 3");
            assertRejected(SemiringKernelsException.class, () -> Ctc.posteriors(context, in.options, in.logProbs,
                    in.targets, in.inputLengths, in.targetLengths, narrowPosteriors), "argument 'posteriors'", "W >= 7");
            out.assertUntouched();
            for (Tensor t : List.of(longPath, shortPath, narrowSpans, flatSpans, floatScores, narrowPosteriors,
                    shortPosteriors)) {
                assertUntouched(t);
            }
        }
    }

    /** The allocating overloads reject bad values the same way (and free what they allocated). */
    @Test
    void allocatingOverloadsRejectBadValues() {
        try (Inputs in = new Inputs()) {
            in.targetLengths.setDouble(S + 5, 0);
            assertRejected(SemiringKernelsException.class, () -> Ctc.posteriors(context, in.options, in.logProbs,
                    in.targets, in.inputLengths, in.targetLengths), "argument 'target_lengths'", "larger than S = 3");
            assertRejected(SemiringKernelsException.class, () -> Ctc.forcedAlign(context, in.options, in.logProbs,
                    in.targets, in.inputLengths, in.targetLengths), "argument 'target_lengths'", "larger than S = 3");
            in.targetLengths.setDouble(-4, 0);
            assertRejected(SemiringKernelsException.class, () -> Ctc.lossAndGradient(context, in.options,
                    Gradient.LOG_PROBS, in.logProbs, in.targets, in.inputLengths, in.targetLengths),
                    "argument 'target_lengths'", "element 0 is -4");
            assertRejected(SemiringKernelsException.class, () -> Ctc.fusedLossAndGradient(context, in.options,
                    in.logProbs, in.targets, in.inputLengths, in.targetLengths), "argument 'target_lengths'");
        }
    }

    @Test
    void badOptionsAndClosedContext() {
        assertRejected(IllegalArgumentException.class, () -> new Options(-1, Reduction.MEAN, false, Layout.TIME_MAJOR),
                "argument 'blank'", "got -1");
        assertRejected(NullPointerException.class, () -> Options.builder().reduction(null).build(),
                "argument 'reduction' is null");
        assertRejected(NullPointerException.class, () -> Options.builder().layout(null).build(),
                "argument 'layout' is null");
        assertRejected(IllegalArgumentException.class, () -> Ctc.mergeTokens(new int[3], new double[2], 0),
                "argument 'frameLogProbs'", "expected length 3");
        Context closed = Context.cpu();
        closed.close();
        try (Inputs in = new Inputs(); Outputs out = new Outputs(DType.FLOAT64)) {
            assertRejected(IllegalStateException.class, () -> Ctc.loss(closed, in.options, in.logProbs, in.targets,
                    in.inputLengths, in.targetLengths, out.loss), "closed");
            out.assertUntouched();
        }
    }

    // ---- helpers ------------------------------------------------------------------------------

    static Tensor filled(DType dtype, double value, long... shape) {
        Tensor t = Tensor.allocateHost(dtype, shape);
        fill(t, value);
        return t;
    }

    static void fill(Tensor t, double value) {
        Tensor flat = t.reshape(t.elementCount());
        for (long i = 0; i < t.elementCount(); i++) {
            flat.setDouble(value, i);
        }
    }

    static void assertUntouched(Tensor t) {
        for (double v : t.toDoubleArrayConverted()) {
            assertEquals(SENTINEL, v, "an output was written although the call failed: " + t);
        }
    }

    static String assertRejected(Class<? extends Throwable> type, Executable call, String... fragments) {
        Throwable e = assertThrows(type, call);
        String message = e.getMessage();
        for (String fragment : fragments) {
            assertTrue(message.contains(fragment), "message lacks \"" + fragment + "\": " + message);
        }
        return message;
    }
}
