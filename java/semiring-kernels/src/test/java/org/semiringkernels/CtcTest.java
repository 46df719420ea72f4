package org.semiringkernels;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.semiringkernels.Assertions2.assertClose;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;
import org.semiringkernels.Ctc.Gradient;
import org.semiringkernels.Ctc.Layout;
import org.semiringkernels.Ctc.Options;
import org.semiringkernels.Ctc.Reduction;
import org.semiringkernels.CtcFixtures.Batch;
import org.semiringkernels.CtcFixtures.InputForm;
import org.semiringkernels.bindings.semiring_kernels_h;

/**
 * The CTC API against the brute-force reference (every alignment enumerated): loss, both
 * gradient forms, the fused logits entry point, posteriors and forced alignment, over dtypes,
 * the four input forms, padded and concatenated targets, INT32 and INT64 indices and blanks at
 * 0, in the middle and at C - 1; plus finite differences, reductions and torch's edge cases.
 */
class CtcTest {

    static final double GARBAGE = 7;

    static Context context;

    @BeforeAll
    static void open() {
        context = Context.cpu();
    }

    @AfterAll
    static void close() {
        context.close();
    }

    /** One combination of storage forms and a blank. */
    record Form(DType dtype, InputForm input, boolean padded, DType indexDtype, int blank) {
        @Override
        public String toString() {
            return dtype + " " + input + (padded ? " padded " : " concatenated ") + indexDtype + " blank " + blank;
        }
    }

    static Stream<Arguments> forms() {
        List<Arguments> out = new ArrayList<>();
        int[] blanks = {0, 2, 3}; // C = 4: first, middle, last
        int i = 0;
        for (DType dtype : new DType[] {DType.FLOAT64, DType.FLOAT32}) {
            for (InputForm input : InputForm.values()) {
                for (boolean padded : new boolean[] {true, false}) {
                    DType index = i % 2 == 0 ? DType.INT64 : DType.INT32;
                    out.add(Arguments.of(new Form(dtype, input, padded, index, blanks[i % 3])));
                    i++;
                }
            }
        }
        return out.stream();
    }

    static Options options(Form f, Reduction reduction) {
        return Options.builder().blank(f.blank()).reduction(reduction).layout(f.input().layout).build();
    }

    // ---- against the brute force ---------------------------------------------------------------

    @ParameterizedTest(name = "{0}")
    @MethodSource("forms")
    void lossAndBothGradientsMatchBruteForce(Form f) {
        Batch batch = CtcFixtures.mixed(11 + f.hashCode(), f.blank()).rounded(f.dtype());
        double tol = Assertions2.tolerance(f.dtype());
        double[] upstream = {0.5, -1.25, 2, 1, 0.75, -0.5};
        try (CtcFixtures fx = new CtcFixtures()) {
            Tensor lp = fx.input(batch, f.dtype(), f.input());
            Tensor targets = fx.targets(batch, f.padded(), f.indexDtype());
            Tensor inLen = fx.indices(batch.inputLengths(), f.indexDtype());
            Tensor tgtLen = fx.indices(batch.targetLengths(), f.indexDtype());
            Options o = options(f, Reduction.NONE);
            Tensor loss = fx.filled(f.dtype(), GARBAGE, batch.batch());
            Ctc.loss(context, o, lp, targets, inLen, tgtLen, loss);
            Tensor gradLoss = fx.keep(f.dtype() == DType.FLOAT32 ? toFloat32(upstream) : Tensor.fromArray(upstream));
            for (Gradient form : Gradient.values()) {
                Tensor grad = fx.likeInput(batch, f.dtype(), f.input(), GARBAGE); // overwritten, not accumulated
                Tensor loss2 = fx.filled(f.dtype(), GARBAGE, batch.batch());
                Ctc.backward(context, o, form, lp, targets, inLen, tgtLen, gradLoss, grad, loss2);
                for (int b = 0; b < batch.batch(); b++) {
                    CtcReference.Result r = CtcReference.solve(batch.sequence(b), batch.classes());
                    String what = f + " " + form + " sequence " + b;
                    double expectedLoss = r.feasible() ? -r.logZ() : Double.POSITIVE_INFINITY;
                    assertClose(expectedLoss, loss.getDouble(b), tol, what + " loss");
                    assertEquals(loss.getDouble(b), loss2.getDouble(b), what + " backward's loss");
                    for (int t = 0; t < batch.frames(); t++) {
                        for (int c = 0; c < batch.classes(); c++) {
                            double expected = 0;
                            if (r.feasible() && t < batch.inputLengths()[b]) {
                                double gamma = r.classPosterior()[t][c];
                                expected = form == Gradient.LOG_PROBS ? -upstream[b] * gamma
                                        : upstream[b] * (Math.exp(batch.values()[b][t][c]) - gamma);
                            }
                            assertClose(expected, CtcFixtures.get(grad, f.input().layout, b, t, c), tol,
                                    what + " gradient [t=" + t + ", c=" + c + "]");
                        }
                    }
                }
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("forms")
    void posteriorsAndAlignmentMatchBruteForce(Form f) {
        Batch batch = CtcFixtures.mixed(23 + f.hashCode(), f.blank()).rounded(f.dtype());
        double tol = Assertions2.tolerance(f.dtype());
        try (CtcFixtures fx = new CtcFixtures()) {
            Tensor lp = fx.input(batch, f.dtype(), f.input());
            Tensor targets = fx.targets(batch, f.padded(), f.indexDtype());
            Tensor inLen = fx.indices(batch.inputLengths(), f.indexDtype());
            Tensor tgtLen = fx.indices(batch.targetLengths(), f.indexDtype());
            Options o = options(f, Reduction.MEAN); // the reduction is ignored here
            int width = 2 * batch.longestTarget() + 1;
            try (Tensor post = Ctc.posteriors(context, o, lp, targets, inLen, tgtLen);
                 Ctc.Alignment al = Ctc.forcedAlign(context, o, lp, targets, inLen, tgtLen)) {
                assertArrayEquals(new long[] {batch.batch(), batch.frames(), width}, post.shape());
                assertArrayEquals(new long[] {batch.batch(), batch.longestTarget(), 2}, al.spans().shape());
                List<List<Ctc.TokenSpan>> tokens = al.tokenSpans();
                for (int b = 0; b < batch.batch(); b++) {
                    CtcReference.Result r = CtcReference.solve(batch.sequence(b), batch.classes());
                    String what = f + " sequence " + b;
                    int states = 2 * batch.targets()[b].length + 1;
                    for (int t = 0; t < batch.frames(); t++) {
                        for (int s = 0; s < width; s++) {
                            double expected = r.feasible() && t < batch.inputLengths()[b] && s < states
                                    ? r.statePosterior()[t][s] : 0;
                            assertClose(expected, post.getDouble(b, t, s), tol, what + " posterior [t=" + t + ", s=" + s + "]");
                        }
                    }
                    double pathScore = 0;
                    for (int t = 0; t < batch.frames(); t++) {
                        int expected = r.feasible() && t < batch.inputLengths()[b] ? r.bestPath()[t] : -1;
                        assertEquals(expected, al.path().getLong(b, t), what + " path frame " + t);
                        double frameScore = expected < 0 ? 0 : batch.values()[b][t][expected];
                        assertClose(frameScore, al.frameScores().getDouble(b, t), tol, what + " frame score " + t);
                        pathScore += frameScore;
                    }
                    assertClose(r.feasible() ? r.bestScore() : Double.NEGATIVE_INFINITY, al.score().getDouble(b), tol,
                            what + " score");
                    if (r.feasible()) {
                        assertClose(pathScore, al.score().getDouble(b), tol, what + " score = sum of frame scores");
                    }
                    for (int j = 0; j < batch.longestTarget(); j++) {
                        boolean real = r.feasible() && j < batch.targets()[b].length;
                        assertEquals(real ? r.spans()[j][0] : -1, al.spans().getLong(b, j, 0), what + " span start " + j);
                        assertEquals(real ? r.spans()[j][1] : -1, al.spans().getLong(b, j, 1), what + " span end " + j);
                    }
                    // Token spans: one per target label, with torchaudio's mean-probability score.
                    List<Ctc.TokenSpan> seq = tokens.get(b);
                    assertEquals(r.feasible() ? batch.targets()[b].length : 0, seq.size(), what + " token count");
                    for (Ctc.TokenSpan token : seq) {
                        int j = token.index();
                        assertEquals(batch.targets()[b][j], token.label(), what + " token label");
                        assertEquals(r.spans()[j][0], token.start());
                        assertEquals(r.spans()[j][1], token.end());
                        double prob = 0, log = 0;
                        for (int t = token.start(); t < token.end(); t++) {
                            prob += Math.exp(batch.values()[b][t][token.label()]);
                            log += batch.values()[b][t][token.label()];
                        }
                        assertClose(prob / token.length(), token.score(), tol, what + " token score");
                        assertClose(log, token.logScore(), tol, what + " token log score");
                    }
                    // The same tokens come out of mergeTokens applied to the path row.
                    int[] row = new int[batch.frames()];
                    double[] scores = new double[batch.frames()];
                    for (int t = 0; t < batch.frames(); t++) {
                        row[t] = (int) al.path().getLong(b, t);
                        scores[t] = al.frameScores().getDouble(b, t);
                    }
                    assertEquals(seq, Ctc.mergeTokens(row, scores, batch.blank()), what + " mergeTokens");
                }
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("forms")
    void fusedLogitsMatchTheLossOfTheLogSoftmax(Form f) {
        Random rng = new Random(31 + f.hashCode());
        Batch raw = CtcFixtures.randomValues(rng, 5, 4, f.blank(),
                new int[][] {CtcFixtures.randomTarget(rng, 4, f.blank(), 2), {}, CtcFixtures.repeated(4, f.blank(), 2),
                        CtcFixtures.sameTwiceThenOther(4, f.blank())},
                new int[] {5, 2, 4, 3}, false).rounded(f.dtype());
        Batch normalised = raw.logSoftmax();
        double tol = Assertions2.tolerance(f.dtype());
        double[] upstream = {1.5, -0.5, 1, 2};
        try (CtcFixtures fx = new CtcFixtures()) {
            Tensor logits = fx.input(raw, f.dtype(), f.input());
            Tensor targets = fx.targets(raw, f.padded(), f.indexDtype());
            Tensor inLen = fx.indices(raw.inputLengths(), f.indexDtype());
            Tensor tgtLen = fx.indices(raw.targetLengths(), f.indexDtype());
            Tensor gradLoss = fx.keep(f.dtype() == DType.FLOAT32 ? toFloat32(upstream) : Tensor.fromArray(upstream));
            Options o = options(f, Reduction.NONE);
            try (Tensor lossOnly = Ctc.fusedLoss(context, o, logits, targets, inLen, tgtLen);
                 Ctc.LossAndGradient lg = Ctc.fusedBackward(context, o, logits, targets, inLen, tgtLen, gradLoss)) {
                for (int b = 0; b < raw.batch(); b++) {
                    CtcReference.Result r = CtcReference.solve(normalised.sequence(b), raw.classes());
                    String what = f + " sequence " + b;
                    double expectedLoss = r.feasible() ? -r.logZ() : Double.POSITIVE_INFINITY;
                    assertClose(expectedLoss, lossOnly.getDouble(b), tol, what + " fused loss");
                    assertEquals(lossOnly.getDouble(b), lg.loss().getDouble(b), what + " fusedBackward's loss");
                    for (int t = 0; t < raw.frames(); t++) {
                        for (int c = 0; c < raw.classes(); c++) {
                            double expected = r.feasible() && t < raw.inputLengths()[b]
                                    ? upstream[b] * (Math.exp(normalised.values()[b][t][c]) - r.classPosterior()[t][c])
                                    : 0;
                            assertClose(expected, CtcFixtures.get(lg.gradient(), f.input().layout, b, t, c), tol,
                                    what + " gradient w.r.t. logits [t=" + t + ", c=" + c + "]");
                        }
                    }
                }
            }
        }
    }

    // ---- finite differences -------------------------------------------------------------------

    /** f(lp) = sum_b u_b loss_b: the LOG_PROBS gradient is its derivative w.r.t. unnormalised lp. */
    @Test
    void logProbsGradientIsTheFiniteDifferenceOfTheLoss() {
        Random rng = new Random(5);
        Batch batch = CtcFixtures.randomValues(rng, 4, 3, 1, new int[][] {{0, 2}, {2, 2}, {}},
                new int[] {4, 4, 3}, false); // raw, unnormalised values: the form must not assume a softmax
        double[] u = {0.7, -1.3, 0.4};
        Options o = Options.builder().blank(1).reduction(Reduction.NONE).build();
        try (CtcFixtures fx = new CtcFixtures()) {
            Tensor lp = fx.input(batch, DType.FLOAT64, InputForm.TIME_MAJOR);
            Tensor targets = fx.targets(batch, true, DType.INT64);
            Tensor inLen = fx.indices(batch.inputLengths(), DType.INT32);
            Tensor tgtLen = fx.indices(batch.targetLengths(), DType.INT32);
            Tensor gradLoss = fx.keep(Tensor.fromArray(u));
            try (Ctc.LossAndGradient lg = Ctc.backward(context, o, Gradient.LOG_PROBS, lp, targets, inLen, tgtLen,
                    gradLoss)) {
                assertFiniteDifferences(batch, lp, lg.gradient(), () -> weighted(Ctc.loss(context, o, lp, targets,
                        inLen, tgtLen), u), "d loss / d log_probs");
            }
        }
    }

    /**
     * torch's semantics: FUSED_LOGITS applied to log_softmax(z) is the derivative w.r.t. z, as is the
     * fused entry point's gradient; checked by finite differences in z.
     */
    @ParameterizedTest
    @EnumSource(value = Layout.class)
    void fusedGradientsAreTheFiniteDifferenceWithRespectToLogits(Layout layout) {
        Random rng = new Random(9);
        Batch raw = CtcFixtures.randomValues(rng, 4, 3, 2, new int[][] {{1, 0}, {0, 0}, {1}}, new int[] {4, 4, 2},
                false);
        double[] u = {1.1, 0.3, -0.8};
        Options o = Options.builder().blank(2).reduction(Reduction.NONE).layout(layout).build();
        InputForm form = layout == Layout.TIME_MAJOR ? InputForm.TIME_MAJOR : InputForm.BATCH_MAJOR;
        try (CtcFixtures fx = new CtcFixtures()) {
            Tensor logits = fx.input(raw, DType.FLOAT64, form);
            Tensor targets = fx.targets(raw, false, DType.INT64);
            Tensor inLen = fx.indices(raw.inputLengths(), DType.INT64);
            Tensor tgtLen = fx.indices(raw.targetLengths(), DType.INT64);
            Tensor gradLoss = fx.keep(Tensor.fromArray(u));
            Tensor lp = fx.input(raw.logSoftmax(), DType.FLOAT64, form);
            try (Ctc.LossAndGradient fused = Ctc.fusedBackward(context, o, logits, targets, inLen, tgtLen, gradLoss);
                 Ctc.LossAndGradient torchForm = Ctc.backward(context, o, Gradient.FUSED_LOGITS, lp, targets, inLen,
                         tgtLen, gradLoss)) {
                assertFiniteDifferences(raw, logits, fused.gradient(), () -> weighted(Ctc.fusedLoss(context, o, logits,
                        targets, inLen, tgtLen), u), "fused d loss / d logits");
                for (int b = 0; b < raw.batch(); b++) {
                    for (int t = 0; t < raw.frames(); t++) {
                        for (int c = 0; c < raw.classes(); c++) {
                            assertClose(CtcFixtures.get(fused.gradient(), layout, b, t, c),
                                    CtcFixtures.get(torchForm.gradient(), layout, b, t, c), 1e-9,
                                    "FUSED_LOGITS form on log_softmax = fused entry point");
                        }
                    }
                }
            }
        }
    }

    private interface Objective {
        double value();
    }

    private static double weighted(Tensor loss, double[] u) {
        try (loss) {
            double sum = 0;
            for (int b = 0; b < u.length; b++) {
                sum += u[b] * loss.getDouble(b);
            }
            return sum;
        }
    }

    /** Central differences of {@code f} in every valid element of {@code input}. */
    private static void assertFiniteDifferences(Batch batch, Tensor input, Tensor gradient, Objective f, String what) {
        double h = 1e-5;
        Layout layout = input.shape(0) == batch.frames() && input.shape(1) == batch.batch() ? Layout.TIME_MAJOR
                : Layout.BATCH_MAJOR;
        for (int b = 0; b < batch.batch(); b++) {
            for (int t = 0; t < batch.inputLengths()[b]; t++) {
                for (int c = 0; c < batch.classes(); c++) {
                    double x = CtcFixtures.get(input, layout, b, t, c);
                    CtcFixtures.set(input, layout, x + h, b, t, c);
                    double up = f.value();
                    CtcFixtures.set(input, layout, x - h, b, t, c);
                    double down = f.value();
                    CtcFixtures.set(input, layout, x, b, t, c);
                    double numeric = (up - down) / (2 * h);
                    double analytic = CtcFixtures.get(gradient, layout, b, t, c);
                    assertTrue(Math.abs(numeric - analytic) <= 1e-6 * Math.max(1, Math.abs(numeric)),
                            what + " [b=" + b + ", t=" + t + ", c=" + c + "]: finite difference " + numeric
                                    + ", gradient " + analytic);
                }
            }
        }
    }

    // ---- reductions ---------------------------------------------------------------------------

    @ParameterizedTest
    @EnumSource(value = Reduction.class, names = {"SUM", "MEAN"})
    void reductionsFollowTorch(Reduction reduction) {
        Batch batch = CtcFixtures.mixed(41, 0);
        double g = 1.75;
        for (boolean zeroInfinity : new boolean[] {false, true}) {
            Options o = Options.builder().reduction(reduction).zeroInfinity(zeroInfinity).build();
            double expected = 0;
            double[] weight = new double[batch.batch()];
            CtcReference.Result[] refs = new CtcReference.Result[batch.batch()];
            for (int b = 0; b < batch.batch(); b++) {
                refs[b] = CtcReference.solve(batch.sequence(b), batch.classes());
                double loss = refs[b].feasible() ? -refs[b].logZ() : (zeroInfinity ? 0 : Double.POSITIVE_INFINITY);
                double divisor = reduction == Reduction.MEAN ? batch.batch() * Math.max(batch.targets()[b].length, 1) : 1;
                expected += loss / divisor;
                weight[b] = g / divisor;
            }
            try (CtcFixtures fx = new CtcFixtures()) {
                Tensor lp = fx.input(batch, DType.FLOAT64, InputForm.TIME_MAJOR);
                Tensor targets = fx.targets(batch, true, DType.INT32);
                Tensor inLen = fx.indices(batch.inputLengths(), DType.INT32);
                Tensor tgtLen = fx.indices(batch.targetLengths(), DType.INT32);
                Tensor gradLoss = fx.filled(DType.FLOAT64, g, 1); // shape [1] is accepted as a scalar
                try (Tensor loss = Ctc.loss(context, o, lp, targets, inLen, tgtLen);
                     Ctc.LossAndGradient lg = Ctc.backward(context, o, Gradient.LOG_PROBS, lp, targets, inLen, tgtLen,
                             gradLoss)) {
                    assertEquals(0, loss.rank(), "SUM / MEAN allocate a rank-0 loss");
                    assertClose(expected, loss.getDouble(), 1e-10, reduction + " zeroInfinity=" + zeroInfinity);
                    assertEquals(loss.getDouble(), lg.loss().getDouble());
                    for (int b = 0; b < batch.batch(); b++) {
                        for (int t = 0; t < batch.frames(); t++) {
                            for (int c = 0; c < batch.classes(); c++) {
                                double e = refs[b].feasible() && t < batch.inputLengths()[b]
                                        ? -weight[b] * refs[b].classPosterior()[t][c] : 0;
                                assertClose(e, lg.gradient().getDouble(t, b, c), 1e-10,
                                        reduction + " gradient [b=" + b + ", t=" + t + ", c=" + c + "]");
                            }
                        }
                    }
                }
            }
        }
    }

    @Test
    void defaultOptionsAreTorchsMeanAndLossAndGradientUsesAnUpstreamOfOne() {
        Options d = Options.defaults();
        assertEquals(0, d.blank());
        assertEquals(Reduction.MEAN, d.reduction());
        assertEquals(false, d.zeroInfinity());
        assertEquals(Layout.TIME_MAJOR, d.layout());
        assertEquals(d, Options.builder().build());
        Options custom = d.toBuilder().blank(3).reduction(Reduction.SUM).zeroInfinity(true).layout(Layout.BATCH_MAJOR)
                .build();
        assertEquals(new Options(3, Reduction.SUM, true, Layout.BATCH_MAJOR), custom);
        Batch batch = CtcFixtures.mixed(43, 0);
        try (CtcFixtures fx = new CtcFixtures()) {
            Tensor lp = fx.input(batch, DType.FLOAT64, InputForm.TIME_MAJOR);
            Tensor targets = fx.targets(batch, false, DType.INT64);
            Tensor inLen = fx.indices(batch.inputLengths(), DType.INT64);
            Tensor tgtLen = fx.indices(batch.targetLengths(), DType.INT64);
            Options o = d.toBuilder().zeroInfinity(true).build();
            Tensor one = fx.filled(DType.FLOAT64, 1);
            try (Ctc.LossAndGradient implicit = Ctc.lossAndGradient(context, o, Gradient.FUSED_LOGITS, lp, targets,
                    inLen, tgtLen);
                 Ctc.LossAndGradient explicit = Ctc.backward(context, o, Gradient.FUSED_LOGITS, lp, targets, inLen,
                         tgtLen, one);
                 Tensor logits = lp.toHost();
                 Ctc.LossAndGradient fused = Ctc.fusedLossAndGradient(context, o, logits, targets, inLen, tgtLen)) {
                assertEquals(explicit.loss().getDouble(), implicit.loss().getDouble());
                assertArrayEquals(explicit.gradient().toDoubleArray(), implicit.gradient().toDoubleArray());
                // log_probs are already normalised, so the fused log-softmax is (nearly) the identity.
                assertClose(explicit.loss().getDouble(), fused.loss().getDouble(), 1e-12, "fused mean loss");
            }
        }
    }

    // ---- torch's edge cases -------------------------------------------------------------------

    /** An empty target: loss = -sum_t log p_t(blank); T_b = 0 with it gives 0. */
    @Test
    void emptyTargetCostsTheBlankPath() {
        Batch batch = CtcFixtures.randomValues(new Random(3), 3, 3, 2, new int[][] {{}, {}}, new int[] {3, 0}, true);
        try (CtcFixtures fx = new CtcFixtures()) {
            Options o = Options.builder().blank(2).reduction(Reduction.NONE).build();
            try (Tensor loss = Ctc.loss(context, o, fx.input(batch, DType.FLOAT64, InputForm.TIME_MAJOR),
                    fx.targets(batch, true, DType.INT32), fx.indices(batch.inputLengths(), DType.INT32),
                    fx.indices(batch.targetLengths(), DType.INT32))) {
                double expected = 0;
                for (int t = 0; t < 3; t++) {
                    expected -= batch.values()[0][t][2];
                }
                assertClose(expected, loss.getDouble(0), 1e-12, "empty target");
                assertTrue(loss.getDouble(1) == 0, "empty input, empty target: loss 0, got " + loss.getDouble(1));
            }
        }
    }

    /**
     * Repeated labels need a blank between copies: [a, a, a] needs T = 5 exactly; T = 4 is
     * infeasible: +inf, or 0 with zero_infinity, with a zero gradient in both forms either way,
     * zero posteriors, path -1 and score -inf.
     */
    @Test
    void infeasibleTargetsGiveInfinityOrZeroAndZeroGradients() {
        for (int blank : new int[] {0, 3}) {
            int a = CtcFixtures.nonBlank(4, blank, 1);
            Batch batch = CtcFixtures.randomValues(new Random(17), 5, 4, blank, new int[][] {{a, a, a}, {a, a, a}},
                    new int[] {5, 4}, true);
            try (CtcFixtures fx = new CtcFixtures()) {
                Tensor lp = fx.input(batch, DType.FLOAT32, InputForm.BATCH_MAJOR);
                Tensor targets = fx.targets(batch, false, DType.INT32);
                Tensor inLen = fx.indices(batch.inputLengths(), DType.INT64);
                Tensor tgtLen = fx.indices(batch.targetLengths(), DType.INT32);
                for (boolean zeroInfinity : new boolean[] {false, true}) {
                    Options o = Options.builder().blank(blank).reduction(Reduction.NONE).zeroInfinity(zeroInfinity)
                            .layout(Layout.BATCH_MAJOR).build();
                    CtcReference.Result exact = CtcReference.solve(batch.rounded(DType.FLOAT32).sequence(0), 4);
                    assertEquals(1, countAlignments(batch.sequence(0)), "T = L + repeats has exactly one alignment");
                    for (Gradient form : Gradient.values()) {
                        try (Ctc.LossAndGradient lg = Ctc.lossAndGradient(context, o, form, lp, targets, inLen, tgtLen)) {
                            assertClose(-exact.logZ(), lg.loss().getDouble(0), 2e-5, "exact fit");
                            assertEquals(zeroInfinity ? 0.0 : Double.POSITIVE_INFINITY, lg.loss().getDouble(1),
                                    "infeasible, zeroInfinity=" + zeroInfinity);
                            for (int t = 0; t < 5; t++) {
                                for (int c = 0; c < 4; c++) {
                                    assertEquals(0.0, lg.gradient().getDouble(1, t, c), form + " gradient of an infeasible sequence");
                                }
                            }
                        }
                    }
                    try (Tensor post = Ctc.posteriors(context, o, lp, targets, inLen, tgtLen);
                         Ctc.Alignment al = Ctc.forcedAlign(context, o, lp, targets, inLen, tgtLen)) {
                        for (int t = 0; t < 5; t++) {
                            for (int s = 0; s < 7; s++) {
                                assertEquals(0.0, post.getDouble(1, t, s), "posterior of an infeasible sequence");
                            }
                            assertEquals(-1, al.path().getLong(1, t));
                        }
                        assertArrayEquals(new int[] {a, blank, a, blank, a}, rowOf(al.path(), 0), "the only alignment");
                        assertEquals(Double.NEGATIVE_INFINITY, al.score().getDouble(1));
                        assertEquals(List.of(), al.tokenSpans().get(1));
                        assertEquals(3, al.tokenSpans().get(0).size());
                    }
                }
            }
        }
    }

    /** T = 1 and L = 1: the only alignment is the label itself. */
    @Test
    void singleFrameSingleLabel() {
        Batch batch = CtcFixtures.randomValues(new Random(2), 1, 3, 0, new int[][] {{2}, {}}, new int[] {1, 1}, true);
        try (CtcFixtures fx = new CtcFixtures()) {
            Options o = Options.builder().reduction(Reduction.NONE).build();
            Tensor lp = fx.input(batch, DType.FLOAT64, InputForm.TIME_MAJOR);
            Tensor targets = fx.targets(batch, true, DType.INT64);
            Tensor inLen = fx.indices(batch.inputLengths(), DType.INT64);
            Tensor tgtLen = fx.indices(batch.targetLengths(), DType.INT64);
            try (Tensor loss = Ctc.loss(context, o, lp, targets, inLen, tgtLen);
                 Ctc.Alignment al = Ctc.forcedAlign(context, o, lp, targets, inLen, tgtLen);
                 Tensor post = Ctc.posteriors(context, o, lp, targets, inLen, tgtLen)) {
                assertClose(-batch.values()[0][0][2], loss.getDouble(0), 1e-12, "T = 1, L = 1");
                assertClose(-batch.values()[1][0][0], loss.getDouble(1), 1e-12, "T = 1, empty target");
                assertEquals(2, al.path().getLong(0, 0));
                assertEquals(List.of(new Ctc.TokenSpan(0, 2, 0, 1, Math.exp(batch.values()[0][0][2]),
                        batch.values()[0][0][2])), al.tokenSpans().get(0));
                assertEquals(0.0, post.getDouble(0, 0, 0));
                assertEquals(1.0, post.getDouble(0, 0, 1), 1e-15);
                assertEquals(0.0, post.getDouble(0, 0, 2));
            }
        }
    }

    /** C = 2 (the blank and one label) against the brute force, with a repeated label. */
    @Test
    void twoClasses() {
        Batch batch = CtcFixtures.randomValues(new Random(19), 6, 2, 1, new int[][] {{0, 0}, {0}, {0, 0, 0}},
                new int[] {6, 5, 4}, true);
        Options o = Options.builder().blank(1).reduction(Reduction.NONE).build();
        try (CtcFixtures fx = new CtcFixtures()) {
            Tensor lp = fx.input(batch, DType.FLOAT64, InputForm.TIME_MAJOR);
            try (Ctc.LossAndGradient lg = Ctc.lossAndGradient(context, o, Gradient.LOG_PROBS, lp,
                    fx.targets(batch, false, DType.INT32), fx.indices(batch.inputLengths(), DType.INT32),
                    fx.indices(batch.targetLengths(), DType.INT32))) {
                for (int b = 0; b < 3; b++) {
                    CtcReference.Result r = CtcReference.solve(batch.sequence(b), 2);
                    assertClose(r.feasible() ? -r.logZ() : Double.POSITIVE_INFINITY, lg.loss().getDouble(b), 1e-12,
                            "C = 2, sequence " + b);
                    for (int t = 0; t < batch.inputLengths()[b]; t++) {
                        for (int c = 0; c < 2; c++) {
                            assertClose(r.feasible() ? -r.classPosterior()[t][c] : 0, lg.gradient().getDouble(t, b, c),
                                    1e-12, "C = 2 gradient");
                        }
                    }
                }
                assertEquals(Double.POSITIVE_INFINITY, lg.loss().getDouble(2), "[a, a, a] needs 5 frames, has 4");
            }
        }
    }

    /** T = 0 (no frames at all) and B = 0 (no sequences: MEAN is NaN, as torch). */
    @Test
    void emptyExtents() {
        try (CtcFixtures fx = new CtcFixtures()) {
            Tensor noFrames = fx.keep(Tensor.allocateHost(DType.FLOAT32, 0, 2, 3));
            Options none = Options.builder().reduction(Reduction.NONE).build();
            try (Tensor loss = Ctc.loss(context, none, noFrames, fx.indices(new int[] {1}, DType.INT32),
                    fx.indices(new int[] {0, 0}, DType.INT32), fx.indices(new int[] {0, 1}, DType.INT32))) {
                assertTrue(loss.getDouble(0) == 0, "T = 0, empty target: " + loss.getDouble(0));
                assertEquals(Double.POSITIVE_INFINITY, loss.getDouble(1), "T = 0, one label");
            }
            Tensor noSequences = fx.keep(Tensor.allocateHost(DType.FLOAT64, 4, 0, 3));
            Tensor noTargets = fx.keep(Tensor.allocateHost(DType.INT64, 0, 2));
            Tensor noLengths = fx.keep(Tensor.allocateHost(DType.INT64, 0));
            try (Tensor mean = Ctc.loss(context, Options.defaults(), noSequences, noTargets, noLengths, noLengths);
                 Ctc.LossAndGradient sum = Ctc.lossAndGradient(context, Options.builder().reduction(Reduction.SUM)
                         .build(), Gradient.LOG_PROBS, noSequences, noTargets, noLengths, noLengths);
                 Tensor post = Ctc.posteriors(context, none, noSequences, noTargets, noLengths, noLengths)) {
                assertTrue(Double.isNaN(mean.getDouble()), "MEAN over B = 0 is NaN, got " + mean.getDouble());
                assertTrue(sum.loss().getDouble() == 0, "SUM over B = 0 is 0, got " + sum.loss().getDouble());
                assertArrayEquals(new long[] {4, 0, 3}, sum.gradient().shape());
                assertArrayEquals(new long[] {0, 4, 1}, post.shape());
            }
        }
    }

    /** The recursion reference used for long targets agrees with the enumeration where both run. */
    @Test
    void recursionReferenceAgreesWithTheBruteForce() {
        for (int blank : new int[] {0, 2, 3}) {
            Batch batch = CtcFixtures.mixed(83 + blank, blank);
            for (int b = 0; b < batch.batch(); b++) {
                CtcReference.Sequence seq = batch.sequence(b);
                assertClose(CtcReference.solve(seq, batch.classes()).logZ(), CtcReference.forwardLogZ(seq), 1e-12,
                        "blank " + blank + " sequence " + b);
            }
        }
    }

    /** Targets longer than 511 labels (seqdist's limit) through the allocating overloads, against a plain recursion. */
    @Test
    void longTargets() {
        Random rng = new Random(23);
        int frames = 1400, classes = 30, length = 600;
        Batch batch = CtcFixtures.randomValues(rng, frames, classes, 0, new int[][] {
                CtcFixtures.randomTarget(rng, classes, 0, length), CtcFixtures.randomTarget(rng, classes, 0, 20)},
                new int[] {frames, 900}, true);
        try (CtcFixtures fx = new CtcFixtures()) {
            Options o = Options.builder().reduction(Reduction.NONE).layout(Layout.BATCH_MAJOR).build();
            Tensor lp = fx.input(batch, DType.FLOAT32, InputForm.BATCH_MAJOR);
            Tensor targets = fx.targets(batch, true, DType.INT32);
            Tensor inLen = fx.indices(batch.inputLengths(), DType.INT32);
            Tensor tgtLen = fx.indices(batch.targetLengths(), DType.INT32);
            Batch stored = batch.rounded(DType.FLOAT32);
            try (Tensor loss = Ctc.loss(context, o, lp, targets, inLen, tgtLen);
                 Tensor post = Ctc.posteriors(context, o, lp, targets, inLen, tgtLen);
                 Ctc.Alignment al = Ctc.forcedAlign(context, o, lp, targets, inLen, tgtLen)) {
                assertArrayEquals(new long[] {2, frames, 2 * length + 1}, post.shape());
                for (int b = 0; b < 2; b++) {
                    double expected = -CtcReference.forwardLogZ(stored.sequence(b));
                    assertClose(expected, loss.getDouble(b), 1e-6, "long target, sequence " + b);
                    double frameSum = 0;
                    for (int s = 0; s < post.shape(2); s++) {
                        frameSum += post.getDouble(b, 700, s);
                    }
                    assertClose(1, frameSum, 1e-5, "posteriors of a frame sum to 1");
                    assertEquals(batch.targets()[b].length, al.tokenSpans().get(b).size(), "one span per label");
                }
            }
        }
    }

    /** Frames past the input length hold NaN and are never read; their outputs are 0 / -1. */
    @Test
    void paddingFramesAreNeverRead() {
        Batch batch = CtcFixtures.mixed(53, 1);
        try (CtcFixtures fx = new CtcFixtures()) {
            Options o = Options.builder().blank(1).reduction(Reduction.NONE).build();
            Tensor lp = fx.input(batch, DType.FLOAT64, InputForm.TIME_MAJOR);
            assertTrue(Double.isNaN(lp.getDouble(4, 1, 0)), "the fixture pads with NaN");
            Tensor targets = fx.targets(batch, true, DType.INT64);
            Tensor inLen = fx.indices(batch.inputLengths(), DType.INT64);
            Tensor tgtLen = fx.indices(batch.targetLengths(), DType.INT64);
            try (Ctc.LossAndGradient lg = Ctc.lossAndGradient(context, o, Gradient.FUSED_LOGITS, lp, targets, inLen,
                    tgtLen);
                 Tensor post = Ctc.posteriors(context, o, lp, targets, inLen, tgtLen);
                 Ctc.Alignment al = Ctc.forcedAlign(context, o, lp, targets, inLen, tgtLen)) {
                for (int b = 0; b < batch.batch(); b++) {
                    assertTrue(!Double.isNaN(lg.loss().getDouble(b)), "loss of sequence " + b + " is not NaN");
                    for (int t = batch.inputLengths()[b]; t < batch.frames(); t++) {
                        for (int c = 0; c < batch.classes(); c++) {
                            assertEquals(0.0, lg.gradient().getDouble(t, b, c), "gradient at a padding frame");
                        }
                        for (int s = 0; s < post.shape(2); s++) {
                            assertEquals(0.0, post.getDouble(b, t, s), "posterior at a padding frame");
                        }
                        assertEquals(-1, al.path().getLong(b, t), "path at a padding frame");
                        assertEquals(0.0, al.frameScores().getDouble(b, t), "frame score at a padding frame");
                    }
                }
            }
        }
    }

    /** Every input form, padded or concatenated targets, INT32 or INT64: bitwise identical outputs. */
    @Test
    void layoutsAndTargetFormsGiveIdenticalResults() {
        Batch batch = CtcFixtures.mixed(61, 2);
        double[][] reference = null;
        for (InputForm form : InputForm.values()) {
            for (boolean padded : new boolean[] {true, false}) {
                for (DType index : new DType[] {DType.INT32, DType.INT64}) {
                    Options o = Options.builder().blank(2).reduction(Reduction.NONE).layout(form.layout).build();
                    try (CtcFixtures fx = new CtcFixtures()) {
                        Tensor lp = fx.input(batch, DType.FLOAT32, form);
                        Tensor targets = fx.targets(batch, padded, index);
                        Tensor inLen = fx.indices(batch.inputLengths(), index);
                        Tensor tgtLen = fx.indices(batch.targetLengths(), index);
                        try (Ctc.LossAndGradient lg = Ctc.lossAndGradient(context, o, Gradient.LOG_PROBS, lp, targets,
                                inLen, tgtLen);
                             Tensor post = Ctc.posteriors(context, o, lp, targets, inLen, tgtLen);
                             Ctc.Alignment al = Ctc.forcedAlign(context, o, lp, targets, inLen, tgtLen)) {
                            double[] grad = new double[batch.batch() * batch.frames() * batch.classes()];
                            int i = 0;
                            for (int b = 0; b < batch.batch(); b++) {
                                for (int t = 0; t < batch.frames(); t++) {
                                    for (int c = 0; c < batch.classes(); c++) {
                                        grad[i++] = CtcFixtures.get(lg.gradient(), form.layout, b, t, c);
                                    }
                                }
                            }
                            double[][] outputs = {lg.loss().toDoubleArrayConverted(), grad,
                                    post.toDoubleArrayConverted(), al.path().toDoubleArrayConverted(),
                                    al.spans().toDoubleArrayConverted(), al.frameScores().toDoubleArrayConverted(),
                                    al.score().toDoubleArrayConverted()};
                            if (reference == null) {
                                reference = outputs;
                            } else {
                                for (int k = 0; k < outputs.length; k++) {
                                    assertArrayEquals(reference[k], outputs[k], form + " padded=" + padded + " " + index
                                            + ": output " + k + " differs");
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /** torchaudio's tie rule on fully tied inputs: staying beats advancing; the last label beats the final blank. */
    @Test
    void viterbiTiesFollowTorchaudio() {
        double[][][] values = new double[1][4][3];
        for (double[] row : values[0]) {
            java.util.Arrays.fill(row, Math.log(1.0 / 3));
        }
        Batch batch = new Batch(4, 3, 0, values, new int[][] {{1, 2}}, new int[] {4});
        try (CtcFixtures fx = new CtcFixtures();
             Ctc.Alignment al = Ctc.forcedAlign(context, Options.defaults(), fx.input(batch, DType.FLOAT64,
                     InputForm.TIME_MAJOR), fx.targets(batch, true, DType.INT32), fx.indices(new int[] {4}, DType.INT32),
                     fx.indices(new int[] {2}, DType.INT32))) {
            // Backtracking from label 2 at the last frame, staying wins every tie until frame 0
            // must be label 1: the path [1, 2, 2, 2].
            assertArrayEquals(new int[] {1, 2, 2, 2}, rowOf(al.path(), 0));
            assertEquals(roundScores(List.of(new Ctc.TokenSpan(0, 1, 0, 1, 1.0 / 3, Math.log(1.0 / 3)),
                    new Ctc.TokenSpan(1, 2, 1, 4, 1.0 / 3, 3 * Math.log(1.0 / 3)))), roundScores(al.tokenSpans().get(0)));
        }
    }

    @Test
    void float32AndFloat64Agree() {
        Batch batch = CtcFixtures.mixed(71, 0).rounded(DType.FLOAT32);
        Options o = Options.builder().reduction(Reduction.NONE).build();
        double[][] results = new double[2][];
        DType[] dtypes = {DType.FLOAT32, DType.FLOAT64};
        for (int k = 0; k < 2; k++) {
            try (CtcFixtures fx = new CtcFixtures()) {
                Tensor lp = fx.input(batch, dtypes[k], InputForm.TIME_MAJOR);
                try (Ctc.LossAndGradient lg = Ctc.lossAndGradient(context, o, Gradient.LOG_PROBS, lp,
                        fx.targets(batch, true, DType.INT32), fx.indices(batch.inputLengths(), DType.INT32),
                        fx.indices(batch.targetLengths(), DType.INT32))) {
                    assertEquals(dtypes[k], lg.loss().dtype());
                    assertEquals(dtypes[k], lg.gradient().dtype());
                    results[k] = lg.loss().toDoubleArrayConverted();
                }
            }
        }
        for (int b = 0; b < results[0].length; b++) {
            assertClose(results[1][b], results[0][b], 1e-6, "float32 vs float64 loss " + b);
        }
    }

    /** The example of java/README.md, as written there, with assertions on what it prints. */
    @Test
    void readmeExampleRuns() {
        int T = 50, B = 2, C = 5;
        float[] lp = new float[T * B * C];
        Random rng = new Random(1);
        for (int row = 0; row < T * B; row++) {
            double[] z = new double[C];
            double sum = 0;
            for (int c = 0; c < C; c++) {
                z[c] = rng.nextGaussian();
                sum += Math.exp(z[c]);
            }
            for (int c = 0; c < C; c++) {
                lp[row * C + c] = (float) (z[c] - Math.log(sum));
            }
        }
        try (Context ctx = Context.best();
             Tensor hostLp = Tensor.fromArray(lp, T, B, C);
             Tensor logProbs = hostLp.to(ctx);
             Tensor targets = Tensor.fromArray(new int[] {1, 2, 2, 3, 4, 0}, B, 3);
             Tensor inputLengths = Tensor.fromArray(new int[] {50, 42});
             Tensor targetLengths = Tensor.fromArray(new int[] {3, 2})) {
            Ctc.Options opts = Ctc.Options.defaults();
            try (Ctc.LossAndGradient lg = Ctc.lossAndGradient(ctx, opts, Ctc.Gradient.LOG_PROBS,
                    logProbs, targets, inputLengths, targetLengths)) {
                float loss = lg.loss().toFloatArray()[0];
                float[] dLossDLogProbs = lg.gradient().toFloatArray();
                assertTrue(loss > 0 && Float.isFinite(loss), "loss " + loss);
                assertEquals(T * B * C, dLossDLogProbs.length);
                assertEquals(0f, dLossDLogProbs[(45 * B + 1) * C + 3], "frame 45 is past sequence 1's length");
            }
            try (Ctc.Alignment al = Ctc.forcedAlign(ctx, opts, logProbs, targets, inputLengths, targetLengths)) {
                List<Ctc.TokenSpan> tokens = al.tokenSpans().get(0);
                assertEquals(List.of(1, 2, 2), tokens.stream().map(Ctc.TokenSpan::label).toList());
                assertTrue(tokens.get(0).end() <= tokens.get(1).start() && tokens.get(1).end() < tokens.get(2).start(),
                        "spans in order, a blank between the two 2s: " + tokens);
                assertEquals(List.of(3, 4), al.tokenSpans().get(1).stream().map(Ctc.TokenSpan::label).toList());
            }
        }
    }

    // ---- merge_tokens -------------------------------------------------------------------------

    @Test
    void mergeTokensFollowsTorchaudio() {
        int[] path = {0, 1, 1, 0, 2, 0, 0, 2, 2, 3, -1, -1};
        double[] lp = new double[path.length];
        for (int t = 0; t < lp.length; t++) {
            lp[t] = Math.log(0.1 * (t % 9 + 1));
        }
        List<Ctc.TokenSpan> tokens = Ctc.mergeTokens(path, lp, 0);
        assertEquals(4, tokens.size());
        int[][] expected = {{0, 1, 1, 3}, {1, 2, 4, 5}, {2, 2, 7, 9}, {3, 3, 9, 10}};
        for (int i = 0; i < 4; i++) {
            Ctc.TokenSpan s = tokens.get(i);
            assertArrayEquals(expected[i], new int[] {s.index(), s.label(), s.start(), s.end()}, "token " + i);
            double mean = 0, sum = 0;
            for (int t = s.start(); t < s.end(); t++) {
                mean += Math.exp(lp[t]) / s.length();
                sum += lp[t];
            }
            assertEquals(mean, s.score(), 1e-15);
            assertEquals(sum, s.logScore(), 1e-15);
        }
        // Blank not at 0: class 0 is then a label.
        assertEquals(List.of(0, 0), Ctc.mergeTokens(new int[] {0, 3, 0}, new double[3], 3).stream()
                .map(Ctc.TokenSpan::label).toList());
        assertEquals(List.of(), Ctc.mergeTokens(new int[0], new double[0], 0));
    }

    @Test
    void enumCodesMatchTheBindings() {
        assertEquals(semiring_kernels_h.SK_CTC_LAYOUT_TIME_MAJOR(), Layout.TIME_MAJOR.code());
        assertEquals(semiring_kernels_h.SK_CTC_LAYOUT_BATCH_MAJOR(), Layout.BATCH_MAJOR.code());
        assertEquals(semiring_kernels_h.SK_CTC_REDUCTION_NONE(), Reduction.NONE.code());
        assertEquals(semiring_kernels_h.SK_CTC_REDUCTION_SUM(), Reduction.SUM.code());
        assertEquals(semiring_kernels_h.SK_CTC_REDUCTION_MEAN(), Reduction.MEAN.code());
        assertEquals(semiring_kernels_h.SK_CTC_GRADIENT_LOG_PROBS(), Gradient.LOG_PROBS.code());
        assertEquals(semiring_kernels_h.SK_CTC_GRADIENT_FUSED_LOGITS(), Gradient.FUSED_LOGITS.code());
        assertNotEquals(Layout.TIME_MAJOR.axes(), Layout.BATCH_MAJOR.axes());
    }

    // ---- helpers ------------------------------------------------------------------------------

    static Tensor toFloat32(double[] values) {
        float[] f = new float[values.length];
        for (int i = 0; i < f.length; i++) {
            f[i] = (float) values[i];
        }
        return Tensor.fromArray(f);
    }

    static int[] rowOf(Tensor t, int b) {
        int[] row = new int[(int) t.shape(1)];
        for (int i = 0; i < row.length; i++) {
            row[i] = (int) t.getLong(b, i);
        }
        return row;
    }

    /** Scores rounded to 1e-12 so that records computed in a different order compare equal. */
    static List<Ctc.TokenSpan> roundScores(List<Ctc.TokenSpan> spans) {
        return spans.stream().map(s -> new Ctc.TokenSpan(s.index(), s.label(), s.start(), s.end(),
                Math.round(s.score() * 1e12) / 1e12, Math.round(s.logScore() * 1e12) / 1e12)).toList();
    }

    static long countAlignments(CtcReference.Sequence seq) {
        int frames = seq.frames(), classes = seq.classes();
        long count = 0, total = (long) Math.pow(classes, frames);
        int[] pi = new int[frames];
        for (long code = 0; code < total; code++) {
            long rest = code;
            for (int t = frames - 1; t >= 0; t--) {
                pi[t] = (int) (rest % classes);
                rest /= classes;
            }
            if (java.util.Arrays.equals(CtcReference.collapse(pi, seq.blank()), seq.target())) {
                count++;
            }
        }
        return count;
    }
}
