package org.semiringkernels;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;
import java.util.stream.Stream;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * {@link SemiCrf} on the CPU against brute-force enumeration of every segmentation in Java double
 * ({@link SemiCrfReference}): log-partition, best score and segmentation, boundary and coverage
 * marginals, gold scores of segmentations and labellings; central finite differences for every
 * gradient of the backward and the gold-score backward.
 */
class SemiCrfTest {

    static final int[] LENGTHS = {5, 1, 3};
    static final int STEPS = 5;
    static final int LABELS = 3;

    private static Context ctx;

    @BeforeAll
    static void open() {
        ctx = Context.cpu();
    }

    @AfterAll
    static void close() {
        ctx.close();
    }

    static double tolerance(DType dtype) {
        return dtype == DType.FLOAT64 ? 1e-10 : 2e-5;
    }

    static Stream<Arguments> cases() {
        List<Arguments> out = new ArrayList<>();
        for (DType dtype : new DType[] {DType.FLOAT64, DType.FLOAT32}) {
            out.add(Arguments.of(new SemiCrfCase.Config(dtype, SemiCrf.Input.SCORES, false, false, false, false,
                    LENGTHS, STEPS, LABELS, 3)));
            out.add(Arguments.of(new SemiCrfCase.Config(dtype, SemiCrf.Input.CUMULATIVE, true, true, true, false,
                    LENGTHS, STEPS, LABELS, 3)));
        }
        out.add(Arguments.of(new SemiCrfCase.Config(DType.FLOAT64, SemiCrf.Input.SCORES, false, true, true, true,
                LENGTHS, STEPS, LABELS, 2)));
        out.add(Arguments.of(new SemiCrfCase.Config(DType.FLOAT64, SemiCrf.Input.SCORES, true, false, false, true,
                LENGTHS, STEPS, 2, 4)));
        // K > T: durations longer than every sequence never occur
        out.add(Arguments.of(new SemiCrfCase.Config(DType.FLOAT64, SemiCrf.Input.SCORES, false, true, false, false,
                LENGTHS, STEPS, 2, 7)));
        // K = 1: a linear-chain CRF; C = 1: one label
        out.add(Arguments.of(new SemiCrfCase.Config(DType.FLOAT64, SemiCrf.Input.SCORES, false, true, true, false,
                LENGTHS, STEPS, LABELS, 1)));
        out.add(Arguments.of(new SemiCrfCase.Config(DType.FLOAT64, SemiCrf.Input.CUMULATIVE, false, false, true, false,
                LENGTHS, STEPS, 1, 3)));
        return out.stream();
    }

    private static void close(double expected, double actual, double tol, String what) {
        double scale = Math.max(1, Math.abs(expected));
        assertTrue(Math.abs(expected - actual) <= tol * scale || expected == actual,
                what + ": expected " + expected + ", got " + actual);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void logPartitionAndBestScoreMatchEnumeration(SemiCrfCase.Config config) {
        double tol = tolerance(config.dtype());
        try (SemiCrfCase c = new SemiCrfCase(config, 11)) {
            SemiCrf.Model model = c.model();
            Tensor lengths = c.lengths();
            try (Tensor z = SemiCrf.logPartition(ctx, config.options(Semiring.MAX), model, lengths);
                 Tensor best = SemiCrf.forward(ctx, config.options(Semiring.MAX), model, lengths)) {
                double[] zv = z.toDoubleArrayConverted();
                double[] bv = best.toDoubleArrayConverted();
                for (int b = 0; b < c.batch; b++) {
                    SemiCrfReference.Problem p = c.problem(b);
                    close(SemiCrfReference.logPartition(p), zv[b], tol, "log Z of sequence " + b);
                    close(SemiCrfReference.best(p).score(), bv[b], tol, "best score of sequence " + b);
                }
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void viterbiSegmentsMatchEnumeration(SemiCrfCase.Config config) {
        double tol = tolerance(config.dtype());
        try (SemiCrfCase c = new SemiCrfCase(config, 12);
             SemiCrf.Viterbi v = SemiCrf.viterbi(ctx, config.options(Semiring.LOG), c.model(), c.lengths())) {
            List<List<SemiCrf.Segment>> segs = v.segmentsPerSequence();
            double[] score = v.bestScore().toDoubleArrayConverted();
            int[] path = v.labelPath().toIntArray();
            int[] counts = v.segmentCounts().toIntArray();
            int[] raw = v.segments().toIntArray();
            int width = (int) v.segments().shape(1);
            for (int b = 0; b < c.batch; b++) {
                SemiCrfReference.Scored best = SemiCrfReference.best(c.problem(b));
                assertEquals(best.segments(), segs.get(b), "segmentation of sequence " + b);
                close(best.score(), score[b], tol, "Viterbi score of sequence " + b);
                assertEquals(best.segments().size(), counts[b]);
                for (int j = counts[b]; j < width; j++) {
                    assertEquals(-1, raw[(b * width + j) * 3], "unused segment row " + j + " of sequence " + b);
                }
                for (int t = 0; t < STEPS; t++) {
                    int expected = -1;
                    for (SemiCrf.Segment s : best.segments()) {
                        if (s.start() <= t && t < s.end()) {
                            expected = s.label();
                        }
                    }
                    assertEquals(expected, path[b * STEPS + t], "label path of sequence " + b + " at " + t);
                }
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void marginalsMatchEnumeration(SemiCrfCase.Config config) {
        double tol = Math.max(tolerance(config.dtype()), 1e-9);
        int labels = config.labels();
        try (SemiCrfCase c = new SemiCrfCase(config, 13);
             SemiCrf.Marginals m = SemiCrf.marginals(ctx, config.options(Semiring.LOG), c.model(), c.lengths());
             SemiCrf.Marginals mx = SemiCrf.marginals(ctx, config.options(Semiring.MAX), c.model(), c.lengths())) {
            double[] boundary = m.boundary().toDoubleArrayConverted();
            double[] coverage = m.coverage().toDoubleArrayConverted();
            double[] bmax = mx.boundary().toDoubleArrayConverted();
            double[] cmax = mx.coverage().toDoubleArrayConverted();
            for (int b = 0; b < c.batch; b++) {
                SemiCrfReference.Problem p = c.problem(b);
                double[] rb = new double[p.length()];
                double[][] rc = SemiCrfReference.marginals(p, rb);
                SemiCrfReference.Scored best = SemiCrfReference.best(p);
                for (int t = 0; t < STEPS; t++) {
                    boolean inside = t < p.length();
                    close(inside ? rb[t] : 0, boundary[b * STEPS + t], tol, "boundary " + b + "," + t);
                    double startsHere = 0;
                    for (SemiCrf.Segment s : best.segments()) {
                        startsHere += s.start() == t ? 1 : 0;
                    }
                    assertEquals(startsHere, bmax[b * STEPS + t], "MAX boundary " + b + "," + t);
                    for (int l = 0; l < labels; l++) {
                        int at = (b * STEPS + t) * labels + l;
                        close(inside ? rc[t][l] : 0, coverage[at], tol, "coverage " + b + "," + t + "," + l);
                        double covers = 0;
                        for (SemiCrf.Segment s : best.segments()) {
                            covers += s.start() <= t && t < s.end() && s.label() == l ? 1 : 0;
                        }
                        assertEquals(covers, cmax[at], "MAX coverage " + b + "," + t + "," + l);
                    }
                }
            }
        }
    }

    /** Gold segments: the best and the first enumerated segmentation; gold labels: the best's labelling. */
    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void goldScoresMatchEnumerationAndStayBelowTheLogPartition(SemiCrfCase.Config config) {
        double tol = tolerance(config.dtype());
        try (SemiCrfCase c = new SemiCrfCase(config, 14)) {
            int width = STEPS;
            int[] segs = new int[c.batch * width * 3];
            int[] counts = new int[c.batch];
            int[] labels = new int[c.batch * STEPS];
            java.util.Arrays.fill(segs, -7); // rows past the count are ignored, whatever they hold
            List<SemiCrfReference.Problem> problems = new ArrayList<>();
            List<List<SemiCrf.Segment>> chosen = new ArrayList<>();
            for (int b = 0; b < c.batch; b++) {
                SemiCrfReference.Problem p = c.problem(b);
                problems.add(p);
                List<SemiCrf.Segment> gold = b == 0 ? SemiCrfReference.segmentations(p.length(), p.labels(),
                        p.maxDuration()).get(1 % p.length()) : SemiCrfReference.best(p).segments();
                chosen.add(gold);
                counts[b] = gold.size();
                for (int j = 0; j < gold.size(); j++) {
                    SemiCrf.Segment s = gold.get(j);
                    segs[(b * width + j) * 3] = s.start();
                    segs[(b * width + j) * 3 + 1] = s.end();
                    segs[(b * width + j) * 3 + 2] = s.label();
                    for (int u = s.start(); u < s.end(); u++) {
                        labels[b * STEPS + u] = s.label();
                    }
                }
            }
            SemiCrf.Gold bySegments = SemiCrf.Gold.segments(c.keep(Tensor.fromArray(segs, c.batch, width, 3)),
                    c.keep(Tensor.fromArray(counts, c.batch)));
            SemiCrf.Gold byLabels = SemiCrf.Gold.labels(c.keep(Tensor.fromArray(labels, c.batch, STEPS)));
            for (Semiring s : new Semiring[] {Semiring.LOG, Semiring.MAX}) {
                SemiCrf.Options o = config.options(s);
                try (Tensor gs = SemiCrf.goldScore(ctx, o, c.model(), c.lengths(), bySegments);
                     Tensor gl = SemiCrf.goldScore(ctx, o, c.model(), c.lengths(), byLabels);
                     Tensor z = SemiCrf.forward(ctx, o, c.model(), c.lengths())) {
                    double[] vs = gs.toDoubleArrayConverted();
                    double[] vl = gl.toDoubleArrayConverted();
                    double[] vz = z.toDoubleArrayConverted();
                    double[] nll = SemiCrf.negativeLogLikelihood(ctx, o, c.model(), c.lengths(), bySegments);
                    for (int b = 0; b < c.batch; b++) {
                        boolean max = s == Semiring.MAX;
                        SemiCrfReference.Problem p = problems.get(b);
                        int[] lab = java.util.Arrays.copyOfRange(labels, b * STEPS, b * STEPS + p.length());
                        close(SemiCrfReference.score(p, chosen.get(b), max), vs[b], tol, s + " gold segments " + b);
                        close(SemiCrfReference.labellingScore(p, lab, max), vl[b], tol, s + " gold labels " + b);
                        assertTrue(vs[b] <= vz[b] + tol * Math.max(1, Math.abs(vz[b])), s + ": gold " + vs[b]
                                + " above the partition " + vz[b]);
                        assertTrue(vs[b] <= vl[b] + tol * Math.max(1, Math.abs(vl[b])), s + ": a segmentation "
                                + "scores above its labelling");
                        close(vz[b] - vs[b], nll[b], tol, s + " NLL " + b);
                        assertTrue(nll[b] >= -tol * Math.max(1, Math.abs(vz[b])), "NLL < 0: " + nll[b]);
                    }
                }
            }
        }
    }

    @Test
    void goldScoreEqualsTheLogPartitionWhenOnlyOneSegmentationIsFeasible() {
        // K = 1 and C = 1: one segmentation; and C = 1 with gold labels: every segmentation matches
        for (int k : new int[] {1, 4}) {
            SemiCrfCase.Config config = new SemiCrfCase.Config(DType.FLOAT64, SemiCrf.Input.SCORES, false, true,
                    true, false, LENGTHS, STEPS, 1, k);
            try (SemiCrfCase c = new SemiCrfCase(config, 15);
                 Tensor labels = Tensor.fromArray(new int[c.batch * STEPS], c.batch, STEPS);
                 Tensor gold = SemiCrf.goldScore(ctx, config.options(Semiring.LOG), c.model(), c.lengths(),
                         SemiCrf.Gold.labels(labels));
                 Tensor z = SemiCrf.logPartition(ctx, config.options(Semiring.LOG), c.model(), c.lengths())) {
                double[] g = gold.toDoubleArray();
                double[] zv = z.toDoubleArray();
                for (int b = 0; b < c.batch; b++) {
                    close(zv[b], g[b], 1e-12, "K = " + k + ", sequence " + b);
                }
            }
        }
    }

    // ---- gradients by central finite differences -----------------------------------------------

    static Stream<Arguments> gradientCases() {
        return cases().filter(a -> ((SemiCrfCase.Config) a.get()[0]).dtype() == DType.FLOAT64);
    }

    private static final double[] UPSTREAM = {0.7, -1.3, 2.0};
    private static final double H = 1e-5;

    /** sum_b g_b f_b(model) for a model built from the given arrays. */
    private interface Objective {
        double at(SemiCrfCase c, double[][] arrays);
    }

    private static double weighted(Tensor values) {
        double[] v = values.toDoubleArray();
        double s = 0;
        for (int b = 0; b < v.length; b++) {
            s += UPSTREAM[b] * v[b];
        }
        return s;
    }

    private static double[][] arrays(SemiCrfCase c) {
        return new double[][] {c.scores.clone(), c.transition.clone(), c.durationBias.clone(),
            c.start == null ? null : c.start.clone(), c.projStart == null ? null : c.projStart.clone(),
            c.projEnd == null ? null : c.projEnd.clone()};
    }

    private static SemiCrf.Model modelOf(SemiCrfCase c, double[][] a) {
        return c.model(a[0], a[1], a[2], a[3], a[4], a[5]);
    }

    private static void checkAgainstFiniteDifferences(SemiCrfCase c, SemiCrf.Gradients grads, Objective f,
                                                      String what) {
        Tensor[] analytic = {grads.gradScores(), grads.gradTransition(), grads.gradDurationBias(), grads.gradStart(),
            grads.gradProjStart(), grads.gradProjEnd()};
        String[] names = {"scores", "transition", "durationBias", "start", "projStart", "projEnd"};
        double[][] base = arrays(c);
        for (int i = 0; i < base.length; i++) {
            if (base[i] == null) {
                assertEquals(null, analytic[i], what + ": gradient of the absent " + names[i]);
                continue;
            }
            double[] g = analytic[i].toDoubleArray();
            for (int j = 0; j < base[i].length; j++) {
                double[][] plus = arrays(c);
                double[][] minus = arrays(c);
                plus[i][j] += H;
                minus[i][j] -= H;
                double fd = (f.at(c, plus) - f.at(c, minus)) / (2 * H);
                assertEquals(fd, g[j], 2e-6 * Math.max(1, Math.abs(fd)), what + ": d/d" + names[i] + "[" + j + "]");
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("gradientCases")
    void backwardMatchesFiniteDifferences(SemiCrfCase.Config config) {
        SemiCrf.Options o = config.options(Semiring.LOG);
        try (SemiCrfCase c = new SemiCrfCase(config, 16);
             Tensor g = Tensor.fromArray(UPSTREAM.clone(), UPSTREAM.length);
             SemiCrf.Gradients grads = SemiCrf.backward(ctx, o, c.model(), c.lengths(), g);
             Tensor z = SemiCrf.forward(ctx, o, c.model(), c.lengths())) {
            assertEquals(java.util.Arrays.toString(z.toDoubleArray()),
                    java.util.Arrays.toString(grads.value().toDoubleArray()), "backward's log Z");
            checkAgainstFiniteDifferences(c, grads, (cc, a) -> {
                try (Tensor v = SemiCrf.forward(ctx, o, modelOf(cc, a), cc.lengths())) {
                    return weighted(v);
                }
            }, "backward " + config);
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("gradientCases")
    void goldScoreBackwardMatchesFiniteDifferences(SemiCrfCase.Config config) {
        SemiCrf.Options o = config.options(Semiring.LOG);
        try (SemiCrfCase c = new SemiCrfCase(config, 17);
             Tensor g = Tensor.fromArray(UPSTREAM.clone(), UPSTREAM.length)) {
            int[] labels = new int[c.batch * STEPS];
            for (int i = 0; i < labels.length; i++) {
                labels[i] = (i / 2) % config.labels(); // runs of two, so boundaries inside runs are free
            }
            int[] segs = new int[c.batch * STEPS * 3];
            int[] counts = new int[c.batch];
            for (int b = 0; b < c.batch; b++) {
                for (int u = 0; u < config.lengths()[b]; u++) { // duration-1 segments, labels by position
                    segs[(b * STEPS + u) * 3] = u;
                    segs[(b * STEPS + u) * 3 + 1] = u + 1;
                    segs[(b * STEPS + u) * 3 + 2] = u % config.labels();
                }
                counts[b] = config.lengths()[b];
            }
            SemiCrf.Gold[] golds = {SemiCrf.Gold.labels(c.keep(Tensor.fromArray(labels, c.batch, STEPS))),
                SemiCrf.Gold.segments(c.keep(Tensor.fromArray(segs, c.batch, STEPS, 3)),
                        c.keep(Tensor.fromArray(counts, c.batch)))};
            for (SemiCrf.Gold gold : golds) {
                try (SemiCrf.Gradients grads = SemiCrf.goldScoreBackward(ctx, o, c.model(), c.lengths(), gold, g);
                     Tensor score = SemiCrf.goldScore(ctx, o, c.model(), c.lengths(), gold)) {
                    assertEquals(java.util.Arrays.toString(score.toDoubleArray()),
                            java.util.Arrays.toString(grads.value().toDoubleArray()), "gold backward's score");
                    checkAgainstFiniteDifferences(c, grads, (cc, a) -> {
                        try (Tensor v = SemiCrf.goldScore(ctx, o, modelOf(cc, a), cc.lengths(), gold)) {
                            return weighted(v);
                        }
                    }, "gold backward " + (gold.labels() != null ? "labels " : "segments ") + config);
                }
            }
        }
    }

    @Test
    void skippedGradientsAreNotWrittenAndTheOthersAgree() {
        SemiCrfCase.Config config = new SemiCrfCase.Config(DType.FLOAT64, SemiCrf.Input.SCORES, false, true, true,
                false, LENGTHS, STEPS, LABELS, 3);
        SemiCrf.Options o = config.options(Semiring.LOG);
        try (SemiCrfCase c = new SemiCrfCase(config, 18);
             Tensor g = Tensor.fromArray(UPSTREAM.clone(), UPSTREAM.length);
             SemiCrf.Gradients all = SemiCrf.backward(ctx, o, c.model(), c.lengths(), g);
             Tensor onlyBias = Tensor.allocateHost(DType.FLOAT64, config.maxDuration(), LABELS)) {
            SemiCrf.backward(ctx, o, c.model(), c.lengths(), g, null, null, onlyBias, null, null, null, null);
            assertEquals(java.util.Arrays.toString(all.gradDurationBias().toDoubleArray()),
                    java.util.Arrays.toString(onlyBias.toDoubleArray()));
        }
    }

    @Test
    void infeasibleSequencesGetMinusInfinityAndTheChosenGradientPolicy() {
        SemiCrfCase.Config config = new SemiCrfCase.Config(DType.FLOAT64, SemiCrf.Input.SCORES, false, false, false,
                false, LENGTHS, STEPS, 2, 2);
        try (SemiCrfCase c = new SemiCrfCase(config, 19);
             Tensor g = Tensor.fromArray(UPSTREAM.clone(), UPSTREAM.length)) {
            double[] bias = c.durationBias.clone();
            bias[0] = bias[1] = Double.NEGATIVE_INFINITY; // only duration 2: odd lengths are infeasible
            SemiCrf.Model model = c.model(c.scores, c.transition, bias, null, null, null);
            Function<SemiCrf.InfeasibleGradient, double[]> gradScores = policy -> {
                SemiCrf.Options o = SemiCrf.Options.builder().infeasibleGradient(policy).build();
                try (SemiCrf.Gradients gr = SemiCrf.backward(ctx, o, model, c.lengths(), g)) {
                    double[] z = gr.value().toDoubleArray();
                    for (double v : z) {
                        assertEquals(Double.NEGATIVE_INFINITY, v, "log Z of an odd-length sequence");
                    }
                    return gr.gradScores().toDoubleArray();
                }
            };
            for (double v : gradScores.apply(SemiCrf.InfeasibleGradient.ZERO)) {
                assertEquals(0.0, v, 0.0, "gradient of an infeasible sequence (ZERO policy)");
            }
            int nan = 0;
            for (double v : gradScores.apply(SemiCrf.InfeasibleGradient.NAN)) {
                nan += Double.isNaN(v) ? 1 : 0;
            }
            assertTrue(nan > 0, "InfeasibleGradient.NAN gave no NaN");
            try (SemiCrf.Viterbi v = SemiCrf.viterbi(ctx, SemiCrf.Options.defaults(), model, c.lengths())) {
                for (List<SemiCrf.Segment> s : v.segmentsPerSequence()) {
                    assertTrue(s.isEmpty(), "segments of an infeasible sequence: " + s);
                }
            }
        }
    }

    /** K = 1 (zero duration bias) is the linear-chain CRF: the HMM family's factored forward and Viterbi. */
    @Test
    void durationOneEqualsTheHmmFamily() {
        SemiCrfCase.Config config = new SemiCrfCase.Config(DType.FLOAT64, SemiCrf.Input.SCORES, false, true, false,
                false, LENGTHS, STEPS, LABELS, 1);
        try (SemiCrfCase c = new SemiCrfCase(config, 22)) {
            SemiCrf.Model model = c.model(c.scores, c.transition, new double[LABELS], c.start, null, null);
            Hmm.Factored hmm = new Hmm.Factored(model.start(), model.transition(), model.scores());
            for (Semiring s : new Semiring[] {Semiring.LOG, Semiring.MAX}) {
                try (Tensor a = SemiCrf.forward(ctx, config.options(s), model, c.lengths());
                     Tensor b = Hmm.forward(ctx, s, hmm, c.lengths())) {
                    double[] av = a.toDoubleArray(), bv = b.toDoubleArray();
                    for (int i = 0; i < av.length; i++) {
                        close(bv[i], av[i], 1e-12, s + " sequence " + i);
                    }
                }
            }
            try (SemiCrf.Viterbi a = SemiCrf.viterbi(ctx, config.options(Semiring.MAX), model, c.lengths());
                 Hmm.Viterbi b = Hmm.viterbi(ctx, hmm, c.lengths())) {
                org.junit.jupiter.api.Assertions.assertArrayEquals(b.path().toIntArray(), a.labelPath().toIntArray());
            }
        }
    }

    @Test
    void nullLengthsMeanFullLength() {
        SemiCrfCase.Config config = new SemiCrfCase.Config(DType.FLOAT64, SemiCrf.Input.SCORES, false, false, false,
                false, new int[] {STEPS, STEPS}, STEPS, 2, 3);
        try (SemiCrfCase c = new SemiCrfCase(config, 20);
             Tensor a = SemiCrf.forward(ctx, SemiCrf.Options.defaults(), c.model(), null);
             Tensor b = SemiCrf.forward(ctx, SemiCrf.Options.defaults(), c.model(), c.lengths())) {
            assertEquals(java.util.Arrays.toString(b.toDoubleArray()), java.util.Arrays.toString(a.toDoubleArray()));
            close(SemiCrfReference.logPartition(c.problem(1)), a.toDoubleArray()[1], 1e-10, "log Z");
        }
    }
}
