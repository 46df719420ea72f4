package org.semiringkernels;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.semiringkernels.ValidationTest.assertRejected;
import static org.semiringkernels.ValidationTest.assertUntouched;
import static org.semiringkernels.ValidationTest.filled;

import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Bad arguments of {@link Hmm}, {@link CategoricalHmm} and {@link GaussianHmm}: each is rejected
 * with a message naming the argument (and the expected and actual shape where there is one),
 * before any native call for what Java checks, by the library for overlap; outputs stay untouched.
 * B = 2, T = 3, N = 2 throughout.
 */
class HmmValidationTest {

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
        return t(DType.FLOAT64, 0.5, shape);
    }

    private Tensor out(long... shape) {
        return t(DType.FLOAT64, SENTINEL, shape);
    }

    private Tensor lengths(long... values) {
        Tensor x = Tensor.fromArray(values, values.length);
        made.add(x);
        return x;
    }

    private Hmm.Edge edge() {
        return Hmm.Edge.separate(f64(2, 3, 2, 2), f64(2));
    }

    private Hmm.Factored factored() {
        return new Hmm.Factored(f64(2), f64(2, 2), f64(2, 3, 2));
    }

    @Test
    void semiringMustBeLogOrMax() {
        Tensor z = out(2);
        assertRejected(IllegalArgumentException.class,
                () -> Hmm.forward(ctx, Semiring.REAL, edge(), lengths(3, 2), z), "argument 'semiring'", "REAL");
        assertRejected(NullPointerException.class,
                () -> Hmm.forward(ctx, null, edge(), lengths(3, 2), z), "argument 'semiring'");
        assertUntouched(z, SENTINEL);
    }

    @Test
    void potentialsShapeAndDtype() {
        Tensor z = out(2);
        assertRejected(IllegalArgumentException.class,
                () -> Hmm.forward(ctx, Semiring.LOG, Hmm.Edge.separate(f64(2, 3, 2), f64(2)), lengths(3, 2), z),
                "argument 'potentials'", "rank 4", "[2, 3, 2]");
        assertRejected(IllegalArgumentException.class,
                () -> Hmm.forward(ctx, Semiring.LOG, Hmm.Edge.separate(f64(2, 3, 2, 3), f64(2)), lengths(3, 2), z),
                "argument 'potentials'", "last two extents differ", "[2, 3, 2, 3]");
        assertRejected(IllegalArgumentException.class,
                () -> Hmm.forward(ctx, Semiring.LOG, Hmm.Edge.separate(t(DType.INT32, 0, 2, 3, 2, 2), f64(2)),
                        lengths(3, 2), z), "argument 'potentials'", "FLOAT32 or FLOAT64", "INT32");
        assertRejected(IllegalArgumentException.class,
                () -> Hmm.forward(ctx, Semiring.LOG, Hmm.Edge.separate(f64(2, 3, 0, 0), f64(0)), lengths(3, 2), z),
                "argument 'potentials'", "N = 0");
        assertUntouched(z, SENTINEL);
    }

    @Test
    void initialShapeDtypeAndConvention() {
        Tensor z = out(2);
        assertRejected(IllegalArgumentException.class,
                () -> Hmm.forward(ctx, Semiring.LOG, Hmm.Edge.separate(f64(2, 3, 2, 2), f64(3)), lengths(3, 2), z),
                "argument 'initial'", "[2] or [2, 2]", "got [3]");
        assertRejected(IllegalArgumentException.class,
                () -> Hmm.forward(ctx, Semiring.LOG, Hmm.Edge.separate(f64(2, 3, 2, 2), f64(3, 2)), lengths(3, 2), z),
                "argument 'initial'", "got [3, 2]");
        assertRejected(IllegalArgumentException.class,
                () -> Hmm.forward(ctx, Semiring.LOG, Hmm.Edge.separate(f64(2, 3, 2, 2), t(DType.FLOAT32, 0, 2)),
                        lengths(3, 2), z), "argument 'initial'", "FLOAT64", "FLOAT32");
        assertRejected(NullPointerException.class, () -> Hmm.Edge.separate(f64(2, 3, 2, 2), null), "argument 'initial'");
        assertRejected(IllegalArgumentException.class,
                () -> new Hmm.Edge(f64(2, 3, 2, 2), f64(2), Hmm.InitialConvention.ROW0), "argument 'initial'", "ROW0");
        assertRejected(NullPointerException.class, () -> Hmm.Edge.row0(null), "argument 'potentials'");
        assertUntouched(z, SENTINEL);
    }

    @Test
    void factoredShapes() {
        Tensor z = out(2);
        assertRejected(IllegalArgumentException.class,
                () -> Hmm.forward(ctx, Semiring.LOG, new Hmm.Factored(f64(2), f64(2, 3), f64(2, 3, 2)), lengths(3, 2), z),
                "argument 'transition'", "[2, 2] or [2, 2, 2]", "got [2, 3]");
        assertRejected(IllegalArgumentException.class,
                () -> Hmm.forward(ctx, Semiring.LOG, new Hmm.Factored(f64(2), f64(3, 2, 2), f64(2, 3, 2)), lengths(3, 2), z),
                "argument 'transition'", "got [3, 2, 2]");
        assertRejected(IllegalArgumentException.class,
                () -> Hmm.forward(ctx, Semiring.LOG, new Hmm.Factored(f64(2), t(DType.FLOAT32, 0, 2, 2), f64(2, 3, 2)),
                        lengths(3, 2), z), "argument 'transition'", "FLOAT32");
        assertRejected(IllegalArgumentException.class,
                () -> Hmm.forward(ctx, Semiring.LOG, new Hmm.Factored(f64(2), f64(2, 2), f64(2, 3)), lengths(3, 2), z),
                "argument 'emission'", "rank 3", "[2, 3]");
        assertRejected(IllegalArgumentException.class,
                () -> Hmm.forward(ctx, Semiring.LOG, new Hmm.Factored(f64(3), f64(2, 2), f64(2, 3, 2)), lengths(3, 2), z),
                "argument 'initial'", "got [3]");
        assertRejected(NullPointerException.class, () -> new Hmm.Factored(f64(2), null, f64(2, 3, 2)),
                "argument 'transition'");
        assertUntouched(z, SENTINEL);
    }

    @Test
    void lengthsShapeDtypeAndValues() {
        Tensor z = out(2);
        assertRejected(IllegalArgumentException.class,
                () -> Hmm.forward(ctx, Semiring.LOG, edge(), lengths(3, 2, 1), z), "argument 'lengths'", "[2]", "[3]");
        assertRejected(IllegalArgumentException.class,
                () -> Hmm.forward(ctx, Semiring.LOG, edge(), t(DType.FLOAT64, 3, 2), z), "argument 'lengths'",
                "INT32 or INT64", "FLOAT64");
        assertRejected(IllegalArgumentException.class,
                () -> Hmm.forward(ctx, Semiring.LOG, edge(), lengths(3, 0), z), "argument 'lengths'",
                "lengths[1] = 0", "[1, T = 3]");
        assertRejected(IllegalArgumentException.class,
                () -> Hmm.forward(ctx, Semiring.LOG, edge(), lengths(4, 1), z), "argument 'lengths'", "lengths[0] = 4");
        Tensor int32 = Tensor.fromArray(new int[] {-1, 2}, 2);
        made.add(int32);
        assertRejected(IllegalArgumentException.class,
                () -> Hmm.forward(ctx, Semiring.LOG, factored(), int32, z), "argument 'lengths'", "lengths[0] = -1");
        assertUntouched(z, SENTINEL);
    }

    @Test
    void outputsShapeAndDtype() {
        Tensor z3 = out(3);
        assertRejected(IllegalArgumentException.class,
                () -> Hmm.forward(ctx, Semiring.LOG, edge(), lengths(3, 2), z3), "argument 'logPartition'",
                "expected shape [2]", "got [3]");
        Tensor zInt = t(DType.INT32, SENTINEL, 2);
        assertRejected(IllegalArgumentException.class,
                () -> Hmm.forward(ctx, Semiring.LOG, edge(), lengths(3, 2), zInt), "argument 'logPartition'", "INT32");
        assertRejected(NullPointerException.class,
                () -> Hmm.forward(ctx, Semiring.LOG, edge(), lengths(3, 2), null), "argument 'logPartition'");
        Tensor m = out(2, 3, 3);
        Tensor z = out(2);
        assertRejected(IllegalArgumentException.class,
                () -> Hmm.marginals(ctx, Semiring.LOG, factored(), lengths(3, 2), m, z), "argument 'marginals'",
                "expected shape [2, 3, 2]", "got [2, 3, 3]");
        Tensor path = t(DType.FLOAT64, SENTINEL, 2, 3);
        assertRejected(IllegalArgumentException.class,
                () -> Hmm.viterbi(ctx, edge(), lengths(3, 2), z, path), "argument 'bestPath'", "INT32", "FLOAT64");
        Tensor score = out(1);
        assertRejected(IllegalArgumentException.class,
                () -> Hmm.viterbi(ctx, edge(), lengths(3, 2), score, null), "argument 'bestScore'", "got [1]");
        for (Tensor x : new Tensor[] {z3, zInt, m, z, path, score}) {
            assertUntouched(x, SENTINEL);
        }
    }

    @Test
    void gradientArguments() {
        Hmm.Edge e = edge();
        Tensor gp = out(2, 3, 2, 2);
        Tensor gi = out(2);
        assertRejected(IllegalArgumentException.class,
                () -> Hmm.backward(ctx, Semiring.LOG, e, lengths(3, 2), f64(3), gp, gi), "argument 'gradLogPartition'",
                "[2]", "got [3]");
        assertRejected(NullPointerException.class,
                () -> Hmm.backward(ctx, Semiring.LOG, e, lengths(3, 2), null, gp, gi), "argument 'gradLogPartition'");
        Tensor gpBad = out(2, 3, 2, 1);
        assertRejected(IllegalArgumentException.class,
                () -> Hmm.backward(ctx, Semiring.LOG, e, lengths(3, 2), f64(2), gpBad, gi), "argument 'gradPotentials'",
                "[2, 3, 2, 2]", "got [2, 3, 2, 1]");
        Tensor giBatched = out(2, 2);
        assertRejected(IllegalArgumentException.class,
                () -> Hmm.backward(ctx, Semiring.LOG, e, lengths(3, 2), f64(2), gp, giBatched), "argument 'gradInitial'",
                "expected shape [2]", "got [2, 2]");
        Hmm.Edge row0 = Hmm.Edge.row0(f64(2, 3, 2, 2));
        assertRejected(IllegalArgumentException.class,
                () -> Hmm.backward(ctx, Semiring.LOG, row0, lengths(3, 2), f64(2), gp, gi), "argument 'gradInitial'",
                "ROW0");
        Hmm.Factored f = factored();
        Tensor gt = out(2, 2, 2);
        Tensor ge = out(2, 3, 2);
        assertRejected(IllegalArgumentException.class,
                () -> Hmm.backward(ctx, Semiring.MAX, f, lengths(3, 2), f64(2), gi, gt, ge), "argument 'gradTransition'",
                "expected shape [2, 2]", "got [2, 2, 2]");
        Tensor geF32 = t(DType.FLOAT32, SENTINEL, 2, 3, 2);
        assertRejected(IllegalArgumentException.class,
                () -> Hmm.backward(ctx, Semiring.LOG, f, lengths(3, 2), f64(2), gi, null, geF32), "argument 'gradEmission'",
                "FLOAT32");
        for (Tensor x : new Tensor[] {gp, gi, gpBad, giBatched, gt, ge, geF32}) {
            assertUntouched(x, SENTINEL);
        }
    }

    /** Overlap is the library's check: its message names the output; nothing is written. */
    @Test
    void outputOverlappingAnInputIsRejectedByTheLibrary() {
        Tensor potentials = f64(2, 3, 2, 2);
        Tensor aliased = potentials.reshape(24).slice(0, 0, 2);
        made.add(aliased);
        String message = assertRejected(SemiringKernelsException.class,
                () -> Hmm.forward(ctx, Semiring.LOG, Hmm.Edge.separate(potentials, f64(2)), lengths(3, 2), aliased),
                "log_partition", "potentials");
        assertFalse(message.isBlank());
        assertUntouched(potentials, 0.5);
    }

    @Test
    void closedTensorsAndContexts() {
        Tensor z = out(2);
        Tensor closed = f64(2, 3, 2, 2);
        closed.close();
        assertRejected(IllegalStateException.class,
                () -> Hmm.forward(ctx, Semiring.LOG, Hmm.Edge.separate(closed, f64(2)), lengths(3, 2), z), "closed");
        Context gone = Context.cpu();
        gone.close();
        assertRejected(IllegalStateException.class,
                () -> Hmm.forward(gone, Semiring.LOG, edge(), lengths(3, 2), z), "closed");
        assertRejected(NullPointerException.class,
                () -> Hmm.forward(null, Semiring.LOG, edge(), lengths(3, 2), z), "argument 'context'");
        assertRejected(NullPointerException.class,
                () -> Hmm.forward(ctx, Semiring.LOG, null, lengths(3, 2), z), "argument 'model'");
        assertRejected(NullPointerException.class,
                () -> Hmm.backward(ctx, Semiring.LOG, (Hmm.Edge) null, lengths(3, 2), f64(2)), "argument 'model'");
        assertRejected(NullPointerException.class,
                () -> Hmm.backward(ctx, Semiring.LOG, (Hmm.Factored) null, lengths(3, 2), f64(2)), "argument 'model'");
        assertUntouched(z, SENTINEL);
    }

    // ---- Baum-Welch arguments --------------------------------------------------------------------

    @Test
    void baumWelchArguments() {
        assertRejected(IllegalArgumentException.class, () -> new CategoricalHmm(0, 3), "argument 'nComponents'");
        assertRejected(IllegalArgumentException.class, () -> new CategoricalHmm(2, 0), "argument 'nSymbols'");
        assertRejected(IllegalArgumentException.class, () -> new GaussianHmm(2, 0), "argument 'nFeatures'");
        assertRejected(IllegalArgumentException.class,
                () -> new GaussianHmm(2, 1, 0.0, BaumWelchHmm.Settings.defaults()), "argument 'varianceFloor'");
        assertRejected(IllegalArgumentException.class,
                () -> BaumWelchHmm.Settings.defaults().withMaxIterations(0), "argument 'maxIterations'");
        assertRejected(IllegalArgumentException.class,
                () -> BaumWelchHmm.Settings.defaults().withTolerance(Double.NaN), "argument 'tolerance'");
        assertRejected(IllegalArgumentException.class,
                () -> BaumWelchHmm.Settings.defaults().withDtype(DType.INT32), "argument 'dtype'");

        CategoricalHmm cat = new CategoricalHmm(2, 3);
        assertRejected(IllegalArgumentException.class, () -> cat.fit(ctx), "argument 'sequences'", "no sequences");
        assertRejected(IllegalArgumentException.class, () -> cat.fit(ctx, new int[] {0, 1}, new int[0]),
                "argument 'sequences'", "sequences[1] is empty");
        assertRejected(IllegalArgumentException.class, () -> cat.fit(ctx, new int[] {0, 3}),
                "argument 'sequences'", "sequences[0][1] = 3", "[0, M = 3)");
        assertRejected(NullPointerException.class, () -> cat.fit(ctx, new int[] {0}, null), "sequences[1] is null");
        assertRejected(IllegalStateException.class, () -> cat.predict(ctx, new int[] {0}), "no parameters");
        assertRejected(IllegalArgumentException.class,
                () -> cat.setParameters(new double[] {0.5, 0.6}, new double[][] {{1, 0}, {0, 1}},
                        new double[][] {{1, 0, 0}, {0, 1, 0}}), "argument 'startProbabilities'", "sum to");
        assertRejected(IllegalArgumentException.class,
                () -> cat.setParameters(new double[] {0.5, 0.5}, new double[][] {{1, 0}, {0, 1}},
                        new double[][] {{1, 0, 0}, {0, 1}}), "argument 'emissionProbabilities'", "row 1 has 2 entries");
        assertRejected(IllegalArgumentException.class,
                () -> cat.setParameters(new double[] {0.5, 0.5}, new double[][] {{1, 0}, {-0.5, 1.5}},
                        new double[][] {{1, 0, 0}, {0, 1, 0}}), "argument 'transitionProbabilities[1]'", "-0.5");
        assertFalse(cat.hasParameters(), "a rejected setParameters stored nothing");

        GaussianHmm gauss = new GaussianHmm(2, 2);
        assertRejected(IllegalArgumentException.class, () -> gauss.fit(ctx, new double[][] {{0, 1}, {2}}),
                "argument 'sequences'", "sequences[0][1] has 1 features", "D = 2");
        assertRejected(IllegalArgumentException.class, () -> gauss.fit(ctx, new double[][] {{0, Double.NaN}}),
                "argument 'sequences'", "sequences[0][0][1] = NaN");
        assertRejected(IllegalArgumentException.class,
                () -> gauss.setParameters(new double[] {0.5, 0.5}, new double[][] {{1, 0}, {0, 1}},
                        new double[][] {{0, 0}, {1, 1}}, new double[][] {{1, 1}, {1, 1e-4}}),
                "argument 'variances'", "[1][1]", "varianceFloor");
        assertFalse(gauss.hasParameters(), "a rejected setParameters stored nothing");
    }
}
