package org.semiringkernels;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.semiringkernels.HmmCase.Form;

/**
 * {@link Hmm} against brute-force enumeration of every state path ({@link HmmReference}): every
 * form (edge with a shared or per-sequence initial, edge under ROW0, factored with shared or
 * per-sequence parameters), LOG and MAX, FLOAT32 and FLOAT64, mixed lengths with NaN in every
 * entry that must not be read, -inf transitions and a sequence without a feasible path; plus
 * finite differences of the forward for the backward.
 */
class HmmTest {

    /** Mixed lengths including 1 and T; the last is >= 2 (the infeasible sequence needs a step). */
    private static final int[] LENGTHS = {4, 1, 3, 2};
    private static final int STEPS = 4;
    private static final int STATES = 3;

    static Stream<Arguments> cases() {
        List<Arguments> out = new ArrayList<>();
        for (Form form : Form.values()) {
            for (DType dtype : new DType[] {DType.FLOAT32, DType.FLOAT64}) {
                for (boolean impossible : new boolean[] {false, true}) {
                    out.add(Arguments.of(form, dtype, impossible));
                }
            }
        }
        return out.stream();
    }

    static double tolerance(DType dtype) {
        return dtype == DType.FLOAT32 ? 1e-4 : 1e-9;
    }

    @ParameterizedTest(name = "{0} {1} impossible={2}")
    @MethodSource("cases")
    void forwardMatchesEnumeration(Form form, DType dtype, boolean impossible) {
        try (Context ctx = Context.checkingContext(Context.cpu());
             HmmCase c = new HmmCase(form, dtype, LENGTHS, STEPS, STATES, 11, impossible)) {
            Hmm.Model model = c.model();
            Tensor lengths = c.lengthsTensor();
            for (Semiring s : new Semiring[] {Semiring.LOG, Semiring.MAX}) {
                try (Tensor z = Hmm.forward(ctx, s, model, lengths)) {
                    assertAllClose(c.expectedScores(s == Semiring.MAX), z.toDoubleArrayConverted(), dtype,
                            s + " forward");
                }
                // the filling overload writes into a caller tensor
                try (Tensor z = Tensor.allocate(ctx, dtype, LENGTHS.length)) {
                    Hmm.forward(ctx, s, model, lengths, z);
                    assertAllClose(c.expectedScores(s == Semiring.MAX), z.toDoubleArrayConverted(), dtype,
                            s + " forward (filling)");
                }
            }
            if (impossible) {
                try (Tensor z = Hmm.forward(ctx, Semiring.LOG, model, lengths)) {
                    assertEquals(Double.NEGATIVE_INFINITY, z.getDouble(LENGTHS.length - 1));
                }
            }
        }
    }

    @ParameterizedTest(name = "{0} {1} impossible={2}")
    @MethodSource("cases")
    void marginalsMatchEnumeration(Form form, DType dtype, boolean impossible) {
        try (Context ctx = Context.checkingContext(Context.cpu());
             HmmCase c = new HmmCase(form, dtype, LENGTHS, STEPS, STATES, 12, impossible)) {
            Hmm.Model model = c.model();
            Tensor lengths = c.lengthsTensor();
            for (Semiring s : new Semiring[] {Semiring.LOG, Semiring.MAX}) {
                boolean max = s == Semiring.MAX;
                try (Hmm.Marginals m = Hmm.marginals(ctx, s, model, lengths)) {
                    assertAllClose(c.expectedMarginals(max), m.marginals().toDoubleArrayConverted(), dtype,
                            s + " marginals");
                    assertAllClose(c.expectedScores(max), m.logPartition().toDoubleArrayConverted(), dtype,
                            s + " marginals' log-partition");
                }
            }
            // LOG marginals sum to 1 per position within the length (feasible sequences)
            try (Tensor m = Tensor.allocate(ctx, dtype, LENGTHS.length, STEPS, STATES)) {
                Hmm.marginals(ctx, Semiring.LOG, model, lengths, m, null);
                for (int b = 0; b < LENGTHS.length - (impossible ? 1 : 0); b++) {
                    for (int t = 0; t < LENGTHS[b]; t++) {
                        double sum = 0;
                        for (int j = 0; j < STATES; j++) {
                            sum += m.getDouble(b, t, j);
                        }
                        Assertions2.assertClose(1.0, sum, tolerance(dtype), "sum of marginals b=" + b + " t=" + t);
                    }
                }
            }
        }
    }

    @ParameterizedTest(name = "{0} {1} impossible={2}")
    @MethodSource("cases")
    void viterbiMatchesEnumeration(Form form, DType dtype, boolean impossible) {
        try (Context ctx = Context.checkingContext(Context.cpu());
             HmmCase c = new HmmCase(form, dtype, LENGTHS, STEPS, STATES, 13, impossible)) {
            Hmm.Model model = c.model();
            Tensor lengths = c.lengthsTensor();
            try (Hmm.Viterbi v = Hmm.viterbi(ctx, model, lengths)) {
                assertAllClose(c.expectedScores(true), v.score().toDoubleArrayConverted(), dtype, "Viterbi score");
                assertArrayEquals(c.expectedPath(), v.path().toIntArray(), "Viterbi path");
            }
            // either output may be skipped
            try (Tensor path = Tensor.allocate(ctx, DType.INT32, LENGTHS.length, STEPS)) {
                Hmm.viterbi(ctx, model, lengths, null, path);
                assertArrayEquals(c.expectedPath(), path.toIntArray(), "Viterbi path alone");
            }
        }
    }

    @ParameterizedTest(name = "{0} {1} impossible={2}")
    @MethodSource("cases")
    void backwardMatchesEnumeration(Form form, DType dtype, boolean impossible) {
        double[] g = {0.7, -1.3, 2.0, -0.4}; // any signs
        try (Context ctx = Context.checkingContext(Context.cpu());
             HmmCase c = new HmmCase(form, dtype, LENGTHS, STEPS, STATES, 14, impossible)) {
            Hmm.Model model = c.model();
            Tensor lengths = c.lengthsTensor();
            Tensor upstream = c.tensor(g, g.length);
            for (Semiring s : new Semiring[] {Semiring.LOG, Semiring.MAX}) {
                double[][] expected = c.expectedGradients(g, s == Semiring.MAX);
                switch (model) {
                    case Hmm.Edge e -> {
                        try (Hmm.EdgeGradients gr = Hmm.backward(ctx, s, e, lengths, upstream)) {
                            assertAllClose(expected[0], gr.gradPotentials().toDoubleArrayConverted(), dtype,
                                    s + " gradPotentials");
                            if (form == Form.EDGE_ROW0) {
                                assertNull(gr.gradInitial());
                            } else {
                                assertAllClose(expected[1], gr.gradInitial().toDoubleArrayConverted(), dtype,
                                        s + " gradInitial");
                            }
                        }
                    }
                    case Hmm.Factored f -> {
                        try (Hmm.FactoredGradients gr = Hmm.backward(ctx, s, f, lengths, upstream)) {
                            assertAllClose(expected[0], gr.gradInitial().toDoubleArrayConverted(), dtype,
                                    s + " gradInitial");
                            assertAllClose(expected[1], gr.gradTransition().toDoubleArrayConverted(), dtype,
                                    s + " gradTransition");
                            assertAllClose(expected[2], gr.gradEmission().toDoubleArrayConverted(), dtype,
                                    s + " gradEmission");
                        }
                    }
                }
            }
        }
    }

    /** The backward is the derivative of the forward: central differences of the native forward. */
    @ParameterizedTest
    @MethodSource("formsOnly")
    void backwardMatchesFiniteDifferences(Form form) {
        double[] g = {1.0, 1.0, 1.0, 1.0};
        try (Context ctx = Context.cpu();
             HmmCase c = new HmmCase(form, DType.FLOAT64, LENGTHS, STEPS, STATES, 15, false)) {
            Hmm.Model model = c.model();
            Tensor lengths = c.lengthsTensor();
            Tensor upstream = c.tensor(g, g.length);
            List<Tensor> inputs = new ArrayList<>();
            List<Tensor> grads = new ArrayList<>();
            switch (model) {
                case Hmm.Edge e -> {
                    Hmm.EdgeGradients gr = Hmm.backward(ctx, Semiring.LOG, e, lengths, upstream);
                    c.keep(gr.gradPotentials());
                    inputs.add(e.potentials());
                    grads.add(gr.gradPotentials());
                    if (e.initial() != null) {
                        c.keep(gr.gradInitial());
                        inputs.add(e.initial());
                        grads.add(gr.gradInitial());
                    }
                }
                case Hmm.Factored f -> {
                    Hmm.FactoredGradients gr = Hmm.backward(ctx, Semiring.LOG, f, lengths, upstream);
                    c.keep(gr.gradInitial());
                    c.keep(gr.gradTransition());
                    c.keep(gr.gradEmission());
                    inputs.addAll(List.of(f.initial(), f.transition(), f.emission()));
                    grads.addAll(List.of(gr.gradInitial(), gr.gradTransition(), gr.gradEmission()));
                }
            }
            Random rng = new Random(3);
            double h = 1e-5;
            for (int k = 0; k < inputs.size(); k++) {
                Tensor in = inputs.get(k);
                double[] analytic = grads.get(k).toDoubleArray();
                long[] shape = in.shape();
                for (int trial = 0; trial < 12; trial++) {
                    long[] index = new long[shape.length];
                    int flat = 0;
                    for (int d = 0; d < shape.length; d++) {
                        index[d] = rng.nextInt((int) shape[d]);
                        flat = flat * (int) shape[d] + (int) index[d];
                    }
                    double original = in.getDouble(index);
                    if (Double.isNaN(original)) {
                        assertEquals(0.0, analytic[flat], "gradient of an entry that is not read");
                        continue;
                    }
                    in.setDouble(original + h, index);
                    double plus = totalForward(ctx, model, lengths);
                    in.setDouble(original - h, index);
                    double minus = totalForward(ctx, model, lengths);
                    in.setDouble(original, index);
                    Assertions2.assertClose((plus - minus) / (2 * h), analytic[flat], 1e-6,
                            "finite difference of input " + k + " at " + java.util.Arrays.toString(index));
                }
            }
        }
    }

    static Stream<Form> formsOnly() {
        return Stream.of(Form.values());
    }

    private static double totalForward(Context ctx, Hmm.Model model, Tensor lengths) {
        try (Tensor z = Hmm.forward(ctx, Semiring.LOG, model, lengths)) {
            double total = 0;
            for (double v : z.toDoubleArray()) {
                total += v;
            }
            return total;
        }
    }

    /** Strided inputs (a transposed potentials view, lengths with stride 2) and null lengths (all T). */
    @Test
    void stridedInputsAndNullLengths() {
        try (Context ctx = Context.cpu();
             HmmCase c = new HmmCase(Form.EDGE_SEPARATE_SHARED, DType.FLOAT64, new int[] {4, 4}, 4, 3, 16, false)) {
            Hmm.Edge contiguous = (Hmm.Edge) c.model();
            double[] p = c.potentials;
            double[] swapped = new double[p.length];
            for (int b = 0; b < 2; b++) {
                for (int t = 0; t < 4; t++) {
                    for (int i = 0; i < 3; i++) {
                        for (int j = 0; j < 3; j++) {
                            swapped[c.idx4(b, t, j, i)] = p[c.idx4(b, t, i, j)];
                        }
                    }
                }
            }
            Hmm.Edge strided = Hmm.Edge.separate(c.keep(c.tensor(swapped, 2, 4, 3, 3).transpose()), contiguous.initial());
            Tensor lengthsView = c.keep(c.keep(Tensor.fromArray(new int[] {4, -7, 4, -7}, 2, 2)).select(1, 0));
            assertArrayEquals(new long[] {2}, lengthsView.strides());
            try (Tensor expected = Hmm.forward(ctx, Semiring.LOG, contiguous, null);
                 Tensor actual = Hmm.forward(ctx, Semiring.LOG, strided, lengthsView)) {
                assertAllClose(c.expectedScores(false), expected.toDoubleArray(), DType.FLOAT64, "null lengths");
                assertAllClose(c.expectedScores(false), actual.toDoubleArray(), DType.FLOAT64, "strided views");
            }
        }
    }

    @Test
    void initialConventionCodesMatchTheHeader() {
        assertEquals(org.semiringkernels.bindings.semiring_kernels_h.SK_HMM_INITIAL_SEPARATE(),
                Hmm.InitialConvention.SEPARATE.code());
        assertEquals(org.semiringkernels.bindings.semiring_kernels_h.SK_HMM_INITIAL_ROW0(),
                Hmm.InitialConvention.ROW0.code());
        assertEquals(2, Hmm.InitialConvention.values().length);
    }

    /** T = 1 and N = 1: the log-partition is the sum of the scores, the marginals 1, the path 0. */
    @Test
    void lengthOneAndSingleState() {
        try (Context ctx = Context.cpu();
             Tensor initial = Tensor.fromArray(new double[] {0.25});
             Tensor transition = Tensor.fromArray(new double[] {-0.5}, 1, 1);
             Tensor emission = Tensor.fromArray(new double[] {1.0, Double.NaN, 3.0, 2.0}, 2, 2, 1);
             Tensor lengths = Tensor.fromArray(new long[] {1, 2}, 2)) {
            Hmm.Factored m = new Hmm.Factored(initial, transition, emission);
            try (Hmm.Marginals r = Hmm.marginals(ctx, Semiring.LOG, m, lengths);
                 Hmm.Viterbi v = Hmm.viterbi(ctx, m, lengths)) {
                assertEquals(0.25 + 1.0, r.logPartition().getDouble(0), 1e-12);
                assertEquals(0.25 + 3.0 - 0.5 + 2.0, r.logPartition().getDouble(1), 1e-12);
                assertArrayEquals(new double[] {1, 0, 1, 1}, r.marginals().toDoubleArray(), 1e-12);
                assertArrayEquals(new double[] {1.25, 4.75}, v.score().toDoubleArray(), 1e-12);
                assertArrayEquals(new int[] {0, -1, 0, 0}, v.path().toIntArray());
            }
        }
    }

    private static void assertAllClose(double[] expected, double[] actual, DType dtype, String what) {
        assertEquals(expected.length, actual.length, what + ": length");
        for (int i = 0; i < expected.length; i++) {
            Assertions2.assertClose(expected[i], actual[i], tolerance(dtype), what + " element " + i);
        }
    }
}
