package org.semiringkernels;

import static org.semiringkernels.ValidationTest.assertRejected;
import static org.semiringkernels.ValidationTest.assertUntouched;
import static org.semiringkernels.ValidationTest.filled;

import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Bad arguments of {@link SemiCrf}: each is rejected with a message naming the argument (and the
 * expected and actual shape where there is one), before the native call for what Java checks and
 * by the library for the contents of gold annotations; outputs stay untouched. B = 2, T = 3, C = 2,
 * K = 2 throughout.
 */
class SemiCrfValidationTest {

    static final double SENTINEL = ValidationTest.SENTINEL;

    private Context ctx;
    private final List<Tensor> made = new ArrayList<>();

    @BeforeEach
    void open() {
        ctx = Context.cpu();
    }

    @AfterEach
    void close() {
        for (Tensor t : made) {
            t.close();
        }
        ctx.close();
    }

    private Tensor t(DType dtype, double value, long... shape) {
        Tensor x = filled(dtype, value, shape);
        made.add(x);
        return x;
    }

    private Tensor f64(long... shape) {
        return t(DType.FLOAT64, 0.25, shape);
    }

    private Tensor out(long... shape) {
        return t(DType.FLOAT64, SENTINEL, shape);
    }

    private Tensor ints(int[] values, long... shape) {
        Tensor x = Tensor.fromArray(values, shape);
        made.add(x);
        return x;
    }

    private Tensor lengths(int... values) {
        return ints(values, values.length);
    }

    private SemiCrf.Model model() {
        return SemiCrf.Model.of(f64(2, 3, 2), f64(2, 2), f64(2, 2));
    }

    private static final SemiCrf.Options LOG = SemiCrf.Options.defaults();

    @Test
    void optionsAreChecked() {
        assertRejected(IllegalArgumentException.class,
                () -> SemiCrf.Options.builder().semiring(Semiring.REAL).build(), "argument 'semiring'", "REAL");
        assertRejected(NullPointerException.class, () -> SemiCrf.Options.builder().input(null).build(),
                "argument 'input'");
        assertRejected(IllegalArgumentException.class,
                () -> SemiCrf.Options.builder().input(SemiCrf.Input.CUMULATIVE).zeroCentre(true).build(),
                "argument 'zeroCentre'", "CUMULATIVE");
    }

    @Test
    void scoresShapeAndDtype() {
        Tensor z = out(2);
        assertRejected(IllegalArgumentException.class,
                () -> SemiCrf.forward(ctx, LOG, SemiCrf.Model.of(f64(2, 3), f64(2, 2), f64(2, 2)), lengths(3, 2), z),
                "argument 'scores'", "rank 3", "[2, 3]");
        assertRejected(IllegalArgumentException.class,
                () -> SemiCrf.forward(ctx, LOG, SemiCrf.Model.of(t(DType.INT32, 0, 2, 3, 2), f64(2, 2), f64(2, 2)),
                        lengths(3, 2), z), "argument 'scores'", "FLOAT32 or FLOAT64");
        assertRejected(IllegalArgumentException.class,
                () -> SemiCrf.forward(ctx, SemiCrf.Options.builder().input(SemiCrf.Input.CUMULATIVE).build(),
                        SemiCrf.Model.of(f64(2, 1, 2), f64(2, 2), f64(2, 2)), lengths(1, 1), z),
                "argument 'scores'", "T = 0", "(B, T+1, C)");
        assertRejected(NullPointerException.class, () -> SemiCrf.Model.of(null, f64(2, 2), f64(2, 2)),
                "argument 'scores'");
        assertUntouched(z, SENTINEL);
    }

    @Test
    void transitionDurationBiasStartAndProjections() {
        Tensor z = out(2);
        assertRejected(IllegalArgumentException.class,
                () -> SemiCrf.forward(ctx, LOG, SemiCrf.Model.of(f64(2, 3, 2), f64(2, 3), f64(2, 2)), lengths(3, 2), z),
                "argument 'transition'", "[2, 2] (C, C) or [2, 2, 2] (K, C, C)", "got [2, 3]");
        assertRejected(IllegalArgumentException.class,
                () -> SemiCrf.forward(ctx, LOG, SemiCrf.Model.of(f64(2, 3, 2), f64(3, 2, 2), f64(2, 2)), lengths(3, 2),
                        z), "argument 'transition'", "got [3, 2, 2]");
        assertRejected(IllegalArgumentException.class,
                () -> SemiCrf.forward(ctx, LOG, SemiCrf.Model.of(f64(2, 3, 2), f64(2, 2), f64(0, 2)), lengths(3, 2), z),
                "argument 'durationBias'", "K = 0", ">= 1");
        assertRejected(IllegalArgumentException.class,
                () -> SemiCrf.forward(ctx, LOG, SemiCrf.Model.of(f64(2, 3, 2), f64(2, 2), f64(2, 3)), lengths(3, 2), z),
                "argument 'durationBias'", "[2, 2] (K, C)", "got [2, 3]");
        assertRejected(IllegalArgumentException.class,
                () -> SemiCrf.forward(ctx, LOG, SemiCrf.Model.of(f64(2, 3, 2), t(DType.FLOAT32, 0, 2, 2), f64(2, 2)),
                        lengths(3, 2), z), "argument 'transition'", "FLOAT64", "FLOAT32");
        assertRejected(IllegalArgumentException.class,
                () -> SemiCrf.forward(ctx, LOG, model().withStart(f64(3)), lengths(3, 2), z), "argument 'start'",
                "got [3]");
        assertRejected(IllegalArgumentException.class,
                () -> SemiCrf.forward(ctx, LOG, model().withProjections(f64(2, 3, 2), f64(2, 4, 2)), lengths(3, 2), z),
                "argument 'projEnd'", "[2, 3, 2] (B, T, C)", "got [2, 4, 2]");
        assertUntouched(z, SENTINEL);
    }

    @Test
    void lengthsAreChecked() {
        Tensor z = out(2);
        assertRejected(IllegalArgumentException.class, () -> SemiCrf.forward(ctx, LOG, model(), lengths(3, 0), z),
                "argument 'lengths'", "lengths[1] = 0", "[1, T = 3]");
        assertRejected(IllegalArgumentException.class, () -> SemiCrf.forward(ctx, LOG, model(), lengths(4, 2), z),
                "argument 'lengths'", "lengths[0] = 4");
        assertRejected(IllegalArgumentException.class, () -> SemiCrf.forward(ctx, LOG, model(), lengths(3), z),
                "argument 'lengths'", "[2]", "got [1]");
        assertRejected(IllegalArgumentException.class,
                () -> SemiCrf.forward(ctx, LOG, model(), t(DType.FLOAT64, 3, 2), z), "argument 'lengths'",
                "INT32 or INT64");
        assertUntouched(z, SENTINEL);
    }

    @Test
    void outputsAreChecked() {
        Tensor z = out(2);
        Tensor g = f64(2);
        assertRejected(IllegalArgumentException.class, () -> SemiCrf.forward(ctx, LOG, model(), lengths(3, 2), out(3)),
                "argument 'logPartition'", "[2]", "got [3]");
        Tensor gs = out(2, 3, 2);
        Tensor gStart = out(2);
        assertRejected(IllegalArgumentException.class, () -> SemiCrf.backward(ctx, LOG, model(), lengths(3, 2), g,
                gs, null, null, gStart, null, null, z), "argument 'gradStart' must be null", "no 'start'");
        assertRejected(IllegalArgumentException.class, () -> SemiCrf.backward(ctx, LOG, model(), lengths(3, 2), g,
                out(2, 3, 3), null, null, null, null, null, z), "argument 'gradScores'", "[2, 3, 2]", "got [2, 3, 3]");
        assertRejected(IllegalArgumentException.class, () -> SemiCrf.backward(ctx, LOG, model(), lengths(3, 2), f64(3),
                gs, null, null, null, null, null, z), "argument 'gradLogPartition'", "got [3]");
        assertRejected(NullPointerException.class, () -> SemiCrf.backward(ctx, LOG, model(), lengths(3, 2), null,
                gs, null, null, null, null, null, z), "argument 'gradLogPartition'");
        Tensor seg = t(DType.INT32, SENTINEL, 2, 2, 3);
        Tensor counts = t(DType.INT32, SENTINEL, 2);
        assertRejected(IllegalArgumentException.class, () -> SemiCrf.viterbi(ctx, LOG, model(), lengths(3, 2), z,
                seg, counts, null), "argument 'segments'", "S >= the longest length 3", "[2, 2, 3]");
        assertRejected(NullPointerException.class, () -> SemiCrf.viterbi(ctx, LOG, model(), lengths(3, 2), z,
                t(DType.INT32, SENTINEL, 2, 3, 3), null, null), "argument 'segmentCounts'");
        assertRejected(IllegalArgumentException.class, () -> SemiCrf.viterbi(ctx, LOG, model(), lengths(3, 2), null,
                null, null, out(2, 3)), "argument 'labelPath'", "INT32", "FLOAT64");
        Tensor boundary = out(2, 3);
        assertRejected(IllegalArgumentException.class, () -> SemiCrf.marginals(ctx, LOG, model(), lengths(3, 2),
                boundary, out(2, 3, 3), null), "argument 'coverage'", "[2, 3, 2]");
        assertUntouched(z, SENTINEL);
        assertUntouched(gs, SENTINEL);
        assertUntouched(gStart, SENTINEL);
        assertUntouched(seg, SENTINEL);
        assertUntouched(counts, SENTINEL);
        assertUntouched(boundary, SENTINEL);
    }

    /** Gold segmentations [start, end, label] for sequences of lengths 3 and 2 (S = 3 rows). */
    private SemiCrf.Gold gold(int[] rows, int[] counts) {
        return SemiCrf.Gold.segments(ints(rows, 2, 3, 3), ints(counts, 2));
    }

    @Test
    void badGoldSegmentationsAreRejectedByTheLibrary() {
        Tensor score = out(2);
        int[] counts = {2, 1};
        int[][] bad = {
            {0, 2, 0, 1, 3, 1, 0, 0, 0, /* b=1 */ 0, 2, 1, 0, 0, 0, 0, 0, 0}, // overlap: [0,2) then [1,3)
            {0, 1, 0, 2, 3, 1, 0, 0, 0, 0, 2, 1, 0, 0, 0, 0, 0, 0},           // gap: [0,1) then [2,3)
            {0, 1, 0, 1, 3, 1, 0, 0, 0, 0, 2, 5, 0, 0, 0, 0, 0, 0},           // label 5 >= C = 2
            {0, 1, 0, 1, 3, 1, 0, 0, 0, 0, 2, -1, 0, 0, 0, 0, 0, 0},          // label -1
            {0, 1, 0, 1, 2, 1, 0, 0, 0, 0, 2, 1, 0, 0, 0, 0, 0, 0},           // ends at 2, length 3
        };
        for (int[] rows : bad) {
            assertRejected(SemiringKernelsException.class,
                    () -> SemiCrf.goldScore(ctx, LOG, model(), lengths(3, 2), gold(rows, counts), score),
                    "gold_segments");
        }
        // duration 3 > K = 2
        int[] tooLong = {0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 2, 1, 0, 0, 0, 0, 0, 0};
        assertRejected(SemiringKernelsException.class,
                () -> SemiCrf.goldScore(ctx, LOG, model(), lengths(3, 2), gold(tooLong, new int[] {1, 1}), score),
                "gold_segments", "K = 2");
        Tensor grad = out(2, 3, 2);
        assertRejected(SemiringKernelsException.class,
                () -> SemiCrf.goldScoreBackward(ctx, LOG, model(), lengths(3, 2), gold(bad[0], counts), f64(2), grad,
                        null, null, null, null, null, score), "gold_segments");
        assertUntouched(score, SENTINEL);
        assertUntouched(grad, SENTINEL);
    }

    @Test
    void goldShapesAndLabels() {
        Tensor score = out(2);
        assertRejected(IllegalArgumentException.class, () -> SemiCrf.goldScore(ctx, LOG, model(), lengths(3, 2),
                SemiCrf.Gold.segments(ints(new int[12], 2, 3, 2), ints(new int[] {1, 1}, 2)), score),
                "argument 'goldSegments'", "[2, S, 3]", "got [2, 3, 2]");
        assertRejected(IllegalArgumentException.class, () -> SemiCrf.goldScore(ctx, LOG, model(), lengths(3, 2),
                SemiCrf.Gold.segments(ints(new int[18], 2, 3, 3), ints(new int[] {1}, 1)), score),
                "argument 'goldSegmentCounts'", "got [1]");
        assertRejected(IllegalArgumentException.class, () -> SemiCrf.goldScore(ctx, LOG, model(), lengths(3, 2),
                SemiCrf.Gold.labels(ints(new int[4], 2, 2)), score), "argument 'goldLabels'", "[2, 3]", "got [2, 2]");
        assertRejected(SemiringKernelsException.class, () -> SemiCrf.goldScore(ctx, LOG, model(), lengths(3, 2),
                SemiCrf.Gold.labels(ints(new int[] {0, 1, 2, 0, 0, 0}, 2, 3)), score), "gold_labels");
        assertRejected(IllegalArgumentException.class,
                () -> new SemiCrf.Gold(ints(new int[18], 2, 3, 3), ints(new int[2], 2), ints(new int[6], 2, 3)),
                "argument 'goldLabels'", "not both");
        assertRejected(NullPointerException.class, () -> SemiCrf.Gold.segments(ints(new int[18], 2, 3, 3), null),
                "argument 'goldSegmentCounts'");
        assertUntouched(score, SENTINEL);
    }

    @Test
    void closedContextAndTensors() {
        Tensor z = out(2);
        SemiCrf.Model m = model();
        Tensor lens = lengths(3, 2);
        Context closed = Context.cpu();
        closed.close();
        assertRejected(IllegalStateException.class, () -> SemiCrf.forward(closed, LOG, m, lens, z), "closed");
        Tensor gone = Tensor.fromArray(new double[4], 2, 2);
        gone.close();
        assertRejected(IllegalStateException.class,
                () -> SemiCrf.forward(ctx, LOG, SemiCrf.Model.of(f64(2, 3, 2), gone, f64(2, 2)), lens, z), "closed");
        assertUntouched(z, SENTINEL);
    }
}
