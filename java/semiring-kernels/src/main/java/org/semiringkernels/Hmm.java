package org.semiringkernels;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import org.semiringkernels.bindings.semiring_kernels_h;
import org.semiringkernels.bindings.sk_hmm_options;

/**
 * Hidden Markov models (linear-chain forward-backward): log-partition, gradients, posterior state
 * marginals and Viterbi decoding for B sequences of at most T positions over N states, all scores
 * in log space. The Java face of the C API's {@code sk_hmm_*} family.
 *
 * <p><b>Two input forms</b> (the {@link Model}s):
 * <ul>
 *   <li>{@link Edge}: {@code potentials} (B, T, N, N), {@code potentials[b,t,i,j]} scores moving
 *       from state i at position t-1 to state j at t (1 &lt;= t &lt; L_b). The start (t = 0) is
 *       given by the {@link InitialConvention}: {@link InitialConvention#SEPARATE SEPARATE}
 *       ({@link Edge#separate}): {@code alpha_0[j] = initial[j]}, initial (N) shared by the batch
 *       or (B, N), and {@code potentials[:, 0]} is never read; {@link InitialConvention#ROW0 ROW0}
 *       ({@link Edge#row0}, hmm-backprop's convention): {@code alpha_0[j] = potentials[b,0,0,j]},
 *       no initial tensor, rows 1..N-1 of {@code potentials[:, 0]} are never read.</li>
 *   <li>{@link Factored}: {@code initial} (N) or (B, N), {@code transition} (N, N) or (B, N, N)
 *       with rows = from state, {@code emission} (B, T, N); {@code alpha_0[j] = initial[j] +
 *       emission[b,0,j]}, {@code alpha_t[j] = (+)_i (alpha_{t-1}[i] + transition[i,j]) +
 *       emission[b,t,j]}. Memory O(B T N): the B T N N tensor is never built.</li>
 * </ul>
 *
 * <p><b>Semirings.</b> {@link Semiring#LOG}: {@code (+)} = logsumexp, and the forward gives the
 * log-partition {@code log Z_b = logsumexp_j alpha_{L_b - 1}[j]} (the log-likelihood of sequence b
 * for a normalised HMM); {@link Semiring#MAX}: {@code (+)} = max, and the forward gives the best
 * path score. Other semirings are rejected (argument 'semiring').
 *
 * <p><b>Lengths.</b> {@code lengths} is an INT32 or INT64 tensor of shape (B) with
 * {@code 1 <= lengths[b] <= T}; positions {@code t >= lengths[b]} are never read, whatever they
 * hold (NaN included). It may live on the host for any context (host values are checked here,
 * naming the first bad entry) or on the context's CUDA device (then the library copies it to the
 * host to check it, which waits for the context's stream). {@code null} means every sequence has
 * the full length T.
 *
 * <p><b>Outputs and conventions.</b> Forward: (B) scores. {@link #backward backward}: the
 * vector-Jacobian product of {@code sum_b g_b log Z_b} for any upstream {@code g} (B): LOG gives
 * {@code g_b} times the posterior edge marginals {@code P_b(z_{t-1}=i, z_t=j)} in the edge
 * potentials, {@code g_b P_b(z_0=j)} in the initial scores (in {@code potentials[b,0,0,j]} under
 * ROW0), {@code g_b P_b(z_t=j)} in the emissions and {@code g_b sum_t P_b(z_{t-1}=i, z_t=j)} in the
 * transition; MAX replaces the posteriors by the indicator of the Viterbi path. A shared initial (N)
 * or transition (N, N) receives the sum over the batch: with {@code g = 1} these are exactly the
 * Baum-Welch expected counts (see {@link CategoricalHmm}, {@link GaussianHmm}). Entries that are not
 * read get 0. {@link #marginals marginals}: (B, T, N), LOG: {@code P_b(z_t=j)} (each position sums to
 * 1), MAX: the one-hot Viterbi path; 0 past the lengths. {@link #viterbi viterbi}: best score (B) and
 * INT32 best path (B, T), -1 past the length and for sequences without a feasible path.
 * -inf scores are exact: a sequence with no feasible path has score -inf, zero gradients and
 * marginals and path -1. NaN in a read entry makes that sequence's results NaN. MAX ties go to the
 * lowest state index. Results are deterministic.
 *
 * <p><b>Types and devices.</b> All float tensors share one dtype (FLOAT32 or FLOAT64, that of the
 * potentials / emission) and live on the context's device; any strides for inputs. Outputs must not
 * overlap themselves or an input (the library checks). Gradient outputs are shaped like their inputs
 * and overwritten.
 *
 * <p><b>Errors.</b> Shapes, dtypes, devices, lengths and open state are checked here before the
 * native call, with messages naming the argument and the expected and actual shape
 * (IllegalArgumentException; NullPointerException for a missing required argument;
 * IllegalStateException for closed tensors or contexts). The library checks again; its failures are
 * {@link SemiringKernelsException} (for example N above the CUDA limit of 4096). On any error no
 * output has been written.
 *
 * <p><b>Example</b> (run and checked by {@code JavadocExamplesTest}):
 * {@snippet class="org.semiringkernels.snippets.JavadocExamples" region="hmm"}
 */
public final class Hmm {

    private Hmm() {
    }

    /** Where the start scores of the {@link Edge} form come from ({@code sk_hmm_initial_convention}). */
    public enum InitialConvention {
        /** A separate initial tensor (N) or (B, N); {@code potentials[:, 0]} is not read. */
        SEPARATE(0),
        /** hmm-backprop's convention: the start scores are {@code potentials[b, 0, 0, :]}. */
        ROW0(1);

        private final int code;

        InitialConvention(int code) {
            this.code = code;
        }

        /** The {@code sk_hmm_initial_convention} value. */
        public int code() {
            return code;
        }
    }

    /** The inputs of one HMM: {@link Edge} or {@link Factored}. Holds tensors, owns none. */
    public sealed interface Model permits Edge, Factored {
    }

    /**
     * Edge potentials (B, T, N, N) with the start scores per {@code convention}: {@code initial} is
     * (N) or (B, N) under SEPARATE and must be null under ROW0.
     */
    public record Edge(Tensor potentials, Tensor initial, InitialConvention convention) implements Model {
        public Edge {
            Tensor.requireNonNull(potentials, "potentials");
            Tensor.requireNonNull(convention, "convention");
            if (convention == InitialConvention.SEPARATE && initial == null) {
                throw new NullPointerException("argument 'initial' is null: InitialConvention.SEPARATE needs the "
                        + "start scores (N) or (B, N)");
            }
            if (convention == InitialConvention.ROW0 && initial != null) {
                throw new IllegalArgumentException("argument 'initial' must be null with InitialConvention.ROW0 "
                        + "(the start scores are potentials[:, 0, 0, :])");
            }
        }

        /** Potentials (B, T, N, N) with separate start scores (N) or (B, N). */
        public static Edge separate(Tensor potentials, Tensor initial) {
            return new Edge(potentials, initial, InitialConvention.SEPARATE);
        }

        /** Potentials (B, T, N, N) whose row {@code potentials[b, 0, 0, :]} holds the start scores. */
        public static Edge row0(Tensor potentials) {
            return new Edge(potentials, null, InitialConvention.ROW0);
        }
    }

    /** A factored HMM: initial (N) or (B, N), transition (N, N) or (B, N, N), emission (B, T, N). */
    public record Factored(Tensor initial, Tensor transition, Tensor emission) implements Model {
        public Factored {
            Tensor.requireNonNull(initial, "initial");
            Tensor.requireNonNull(transition, "transition");
            Tensor.requireNonNull(emission, "emission");
        }
    }

    /** Outputs of {@link #marginals(Context, Semiring, Model, Tensor)}. Closes both. */
    public record Marginals(Tensor marginals, Tensor logPartition) implements AutoCloseable {
        @Override
        public void close() {
            closeAll(marginals, logPartition);
        }
    }

    /** Outputs of {@link #viterbi(Context, Model, Tensor)}: score (B) and INT32 path (B, T). Closes both. */
    public record Viterbi(Tensor score, Tensor path) implements AutoCloseable {
        @Override
        public void close() {
            closeAll(score, path);
        }
    }

    /** Gradients of the edge form (gradInitial is null under ROW0 or when skipped). Closes both. */
    public record EdgeGradients(Tensor gradPotentials, Tensor gradInitial) implements AutoCloseable {
        @Override
        public void close() {
            closeAll(gradPotentials, gradInitial);
        }
    }

    /** Gradients of the factored form, shaped like initial, transition and emission. Closes all. */
    public record FactoredGradients(Tensor gradInitial, Tensor gradTransition, Tensor gradEmission)
            implements AutoCloseable {
        @Override
        public void close() {
            closeAll(gradInitial, gradTransition, gradEmission);
        }
    }

    // ---- forward ------------------------------------------------------------------------------

    /** Fills {@code logPartition} (B) with log Z_b (LOG) or the best path score (MAX). */
    public static void forward(Context context, Semiring semiring, Model model, Tensor lengths, Tensor logPartition) {
        Call call = Call.of(context, semiring, model, lengths, "Hmm.forward");
        try {
            call.requireOutput(logPartition, "logPartition", call.dtype, call.batch);
            call.invoke(List.of(logPartition), (h, arena, opts, lens) -> switch (model) {
                case Edge e -> semiring_kernels_h.sk_hmm_edge_forward(h, opts, call.d(e.potentials(), arena),
                        call.d(e.initial(), arena), lens, call.d(logPartition, arena));
                case Factored f -> semiring_kernels_h.sk_hmm_factored_forward(h, opts, call.d(f.initial(), arena),
                        call.d(f.transition(), arena), call.d(f.emission(), arena), lens,
                        call.d(logPartition, arena));
            });
        } finally {
            call.close();
        }
    }

    /** Allocates the (B) scores on the context's device and runs the forward. */
    public static Tensor forward(Context context, Semiring semiring, Model model, Tensor lengths) {
        Shape s = Shape.of(model);
        Tensor out = Tensor.allocate(checkedContext(context), s.dtype, s.batch);
        try {
            forward(context, semiring, model, lengths, out);
            return out;
        } catch (RuntimeException | Error e) {
            out.close();
            throw e;
        }
    }

    // ---- marginals ----------------------------------------------------------------------------

    /**
     * Fills {@code marginals} (B, T, N) with the posterior state marginals (LOG) or the one-hot
     * Viterbi path (MAX), 0 past the lengths; {@code logPartition} (B) may be null, else it receives
     * the forward's result too.
     */
    public static void marginals(Context context, Semiring semiring, Model model, Tensor lengths, Tensor marginals,
                                 Tensor logPartition) {
        Call call = Call.of(context, semiring, model, lengths, "Hmm.marginals");
        try {
            call.requireOutput(marginals, "marginals", call.dtype, call.batch, call.steps, call.states);
            if (logPartition != null) {
                call.requireOutput(logPartition, "logPartition", call.dtype, call.batch);
            }
            call.invoke(Arrays.asList(marginals, logPartition), (h, arena, opts, lens) -> switch (model) {
                case Edge e -> semiring_kernels_h.sk_hmm_edge_marginals(h, opts, call.d(e.potentials(), arena),
                        call.d(e.initial(), arena), lens, call.d(marginals, arena), call.d(logPartition, arena));
                case Factored f -> semiring_kernels_h.sk_hmm_factored_marginals(h, opts,
                        call.d(f.initial(), arena), call.d(f.transition(), arena), call.d(f.emission(), arena),
                        lens, call.d(marginals, arena), call.d(logPartition, arena));
            });
        } finally {
            call.close();
        }
    }

    /** Allocates marginals (B, T, N) and logPartition (B) on the context's device and fills them. */
    public static Marginals marginals(Context context, Semiring semiring, Model model, Tensor lengths) {
        Shape s = Shape.of(model);
        Context ctx = checkedContext(context);
        Tensor m = Tensor.allocate(ctx, s.dtype, s.batch, s.steps, s.states);
        Tensor z = null;
        try {
            z = Tensor.allocate(ctx, s.dtype, s.batch);
            marginals(context, semiring, model, lengths, m, z);
            return new Marginals(m, z);
        } catch (RuntimeException | Error e) {
            closeAll(m, z);
            throw e;
        }
    }

    // ---- Viterbi ------------------------------------------------------------------------------

    /**
     * Viterbi decoding (the MAX semiring): {@code bestScore} (B) and {@code bestPath} (B, T) INT32,
     * the state per position, -1 past the length and for sequences whose score is -inf or NaN.
     * Either output may be null to skip it.
     */
    public static void viterbi(Context context, Model model, Tensor lengths, Tensor bestScore, Tensor bestPath) {
        Call call = Call.of(context, Semiring.MAX, model, lengths, "Hmm.viterbi");
        try {
            if (bestScore != null) {
                call.requireOutput(bestScore, "bestScore", call.dtype, call.batch);
            }
            if (bestPath != null) {
                call.requireOutput(bestPath, "bestPath", DType.INT32, call.batch, call.steps);
            }
            call.invoke(Arrays.asList(bestScore, bestPath), (h, arena, opts, lens) -> switch (model) {
                case Edge e -> semiring_kernels_h.sk_hmm_edge_viterbi(h, opts, call.d(e.potentials(), arena),
                        call.d(e.initial(), arena), lens, call.d(bestScore, arena), call.d(bestPath, arena));
                case Factored f -> semiring_kernels_h.sk_hmm_factored_viterbi(h, opts, call.d(f.initial(), arena),
                        call.d(f.transition(), arena), call.d(f.emission(), arena), lens,
                        call.d(bestScore, arena), call.d(bestPath, arena));
            });
        } finally {
            call.close();
        }
    }

    /** Allocates the best score (B) and best path (B, T) on the context's device and decodes. */
    public static Viterbi viterbi(Context context, Model model, Tensor lengths) {
        Shape s = Shape.of(model);
        Context ctx = checkedContext(context);
        Tensor score = Tensor.allocate(ctx, s.dtype, s.batch);
        Tensor path = null;
        try {
            path = Tensor.allocate(ctx, DType.INT32, s.batch, s.steps);
            viterbi(context, model, lengths, score, path);
            return new Viterbi(score, path);
        } catch (RuntimeException | Error e) {
            closeAll(score, path);
            throw e;
        }
    }

    // ---- backward -----------------------------------------------------------------------------

    /**
     * Gradients of {@code sum_b gradLogPartition[b] * forward_b} w.r.t. the edge form's inputs:
     * {@code gradPotentials} like potentials and {@code gradInitial} like initial (must be null
     * under ROW0); either may be null to skip it. See the class comment for their values.
     */
    public static void backward(Context context, Semiring semiring, Edge model, Tensor lengths,
                                Tensor gradLogPartition, Tensor gradPotentials, Tensor gradInitial) {
        Call call = Call.of(context, semiring, model, lengths, "Hmm.backward");
        try {
            call.requireUpstream(gradLogPartition);
            if (gradPotentials != null) {
                call.requireOutput(gradPotentials, "gradPotentials", call.dtype, model.potentials().shape());
            }
            if (gradInitial != null) {
                if (model.initial() == null) {
                    throw new IllegalArgumentException("argument 'gradInitial' must be null: InitialConvention.ROW0 "
                            + "has no initial input (its gradient is in gradPotentials[:, 0, 0, :])");
                }
                call.requireOutput(gradInitial, "gradInitial", call.dtype, model.initial().shape());
            }
            call.invoke(Arrays.asList(gradLogPartition, gradPotentials, gradInitial), (h, arena, opts, lens) ->
                    semiring_kernels_h.sk_hmm_edge_backward(h, opts, call.d(model.potentials(), arena),
                            call.d(model.initial(), arena), lens, call.d(gradLogPartition, arena),
                            call.d(gradPotentials, arena), call.d(gradInitial, arena)));
        } finally {
            call.close();
        }
    }

    /** Allocates the edge form's gradients on the context's device and fills them. */
    public static EdgeGradients backward(Context context, Semiring semiring, Edge model, Tensor lengths,
                                         Tensor gradLogPartition) {
        Tensor.requireNonNull(model, "model");
        Context ctx = checkedContext(context);
        Tensor gp = Tensor.allocate(ctx, model.potentials().dtype(), model.potentials().shape());
        Tensor gi = null;
        try {
            gi = model.initial() == null ? null : Tensor.allocate(ctx, model.potentials().dtype(), model.initial().shape());
            backward(context, semiring, model, lengths, gradLogPartition, gp, gi);
            return new EdgeGradients(gp, gi);
        } catch (RuntimeException | Error e) {
            closeAll(gp, gi);
            throw e;
        }
    }

    /**
     * Gradients of {@code sum_b gradLogPartition[b] * forward_b} w.r.t. the factored inputs, each
     * shaped like its input (null skips it). With LOG and {@code gradLogPartition = 1}: expected
     * initial-state counts, expected transition counts and the posteriors P_b(z_t = j).
     */
    public static void backward(Context context, Semiring semiring, Factored model, Tensor lengths,
                                Tensor gradLogPartition, Tensor gradInitial, Tensor gradTransition,
                                Tensor gradEmission) {
        Call call = Call.of(context, semiring, model, lengths, "Hmm.backward");
        try {
            call.requireUpstream(gradLogPartition);
            if (gradInitial != null) {
                call.requireOutput(gradInitial, "gradInitial", call.dtype, model.initial().shape());
            }
            if (gradTransition != null) {
                call.requireOutput(gradTransition, "gradTransition", call.dtype, model.transition().shape());
            }
            if (gradEmission != null) {
                call.requireOutput(gradEmission, "gradEmission", call.dtype, model.emission().shape());
            }
            call.invoke(Arrays.asList(gradLogPartition, gradInitial, gradTransition, gradEmission),
                    (h, arena, opts, lens) -> semiring_kernels_h.sk_hmm_factored_backward(h, opts,
                            call.d(model.initial(), arena), call.d(model.transition(), arena),
                            call.d(model.emission(), arena), lens, call.d(gradLogPartition, arena),
                            call.d(gradInitial, arena), call.d(gradTransition, arena), call.d(gradEmission, arena)));
        } finally {
            call.close();
        }
    }

    /** Allocates the factored gradients on the context's device and fills them. */
    public static FactoredGradients backward(Context context, Semiring semiring, Factored model, Tensor lengths,
                                             Tensor gradLogPartition) {
        Tensor.requireNonNull(model, "model");
        Context ctx = checkedContext(context);
        DType dtype = model.emission().dtype();
        Tensor gi = Tensor.allocate(ctx, dtype, model.initial().shape());
        Tensor gt = null;
        Tensor ge = null;
        try {
            gt = Tensor.allocate(ctx, dtype, model.transition().shape());
            ge = Tensor.allocate(ctx, dtype, model.emission().shape());
            backward(context, semiring, model, lengths, gradLogPartition, gi, gt, ge);
            return new FactoredGradients(gi, gt, ge);
        } catch (RuntimeException | Error e) {
            closeAll(gi, gt, ge);
            throw e;
        }
    }

    // ---- validation ----------------------------------------------------------------------------

    /** B, T, N and the float dtype of a model, read from potentials (edge) or emission (factored). */
    private record Shape(long batch, long steps, long states, DType dtype) {

        static Shape of(Model model) {
            Tensor.requireNonNull(model, "model");
            return switch (model) {
                case Edge e -> {
                    Tensor p = e.potentials();
                    p.ensureOpen("Hmm");
                    requireRank(p, "potentials", 4, "(B, T, N, N)");
                    if (p.shape(2) != p.shape(3)) {
                        throw new IllegalArgumentException("argument 'potentials': expected shape (B, T, N, N), the last "
                                + "two extents differ (shape " + Arrays.toString(p.shape()) + ")");
                    }
                    yield new Shape(p.shape(0), p.shape(1), p.shape(2), requireFloat(p, "potentials"));
                }
                case Factored f -> {
                    Tensor em = f.emission();
                    em.ensureOpen("Hmm");
                    requireRank(em, "emission", 3, "(B, T, N)");
                    yield new Shape(em.shape(0), em.shape(1), em.shape(2), requireFloat(em, "emission"));
                }
            };
        }
    }

    /**
     * One validated call: the model's shape, every input checked against it and the context, the
     * lengths (a temporary full-length host tensor when null), and the outputs collected so far.
     */
    private static final class Call implements AutoCloseable {
        final Context context;
        final Semiring semiring;
        final Model model;
        final String operation;
        final DType dtype;
        final long batch;
        final long steps;
        final long states;
        final Tensor lengths;
        final boolean ownsLengths;
        final List<Tensor> inputs = new ArrayList<>();

        private Call(Context context, Semiring semiring, Model model, String operation, Shape s, Tensor lengths,
                     boolean ownsLengths) {
            this.context = context;
            this.semiring = semiring;
            this.model = model;
            this.operation = operation;
            this.dtype = s.dtype;
            this.batch = s.batch;
            this.steps = s.steps;
            this.states = s.states;
            this.lengths = lengths;
            this.ownsLengths = ownsLengths;
        }

        static Call of(Context context, Semiring semiring, Model model, Tensor lengths, String operation) {
            checkedContext(context);
            Tensor.requireNonNull(semiring, "semiring");
            if (semiring != Semiring.LOG && semiring != Semiring.MAX) {
                throw new IllegalArgumentException("argument 'semiring': the HMM ops take LOG or MAX, got " + semiring);
            }
            Shape s = Shape.of(model);
            if (s.states < 1) {
                throw new IllegalArgumentException("argument '" + (model instanceof Edge ? "potentials" : "emission")
                        + "': N = 0 states; at least one state is needed");
            }
            Call call = null;
            Tensor own = null;
            try {
                if (lengths == null) {
                    own = fullLengths(s);
                }
                call = new Call(context, semiring, model, operation, s, own == null ? lengths : own, own != null);
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

        /** Every sequence of full length T (INT64, host). */
        private static Tensor fullLengths(Shape s) {
            if (s.steps < 1 && s.batch > 0) {
                throw new IllegalArgumentException("argument 'lengths' is null (full length T) but T = 0; "
                        + "every sequence needs at least one position");
            }
            long[] full = new long[Math.toIntExact(s.batch)];
            Arrays.fill(full, s.steps);
            return Tensor.fromArray(full, s.batch);
        }

        private void checkInputs() {
            switch (model) {
                case Edge e -> {
                    input(e.potentials(), "potentials");
                    if (e.initial() != null) {
                        requireInitial(e.initial());
                    }
                }
                case Factored f -> {
                    input(f.emission(), "emission");
                    requireInitial(f.initial());
                    Tensor tr = f.transition();
                    tr.ensureOpen(operation);
                    boolean ok = tr.rank() == 2 && tr.shape(0) == states && tr.shape(1) == states
                            || tr.rank() == 3 && tr.shape(0) == batch && tr.shape(1) == states && tr.shape(2) == states;
                    if (!ok) {
                        throw new IllegalArgumentException("argument 'transition': expected shape [" + states + ", "
                                + states + "] or [" + batch + ", " + states + ", " + states + "] (N = " + states
                                + ", B = " + batch + " from 'emission' " + Arrays.toString(f.emission().shape())
                                + "), got " + Arrays.toString(tr.shape()));
                    }
                    input(tr, "transition");
                }
            }
        }

        /** initial: (N) shared or (B, N). */
        private void requireInitial(Tensor initial) {
            initial.ensureOpen(operation);
            boolean ok = initial.rank() == 1 && initial.shape(0) == states
                    || initial.rank() == 2 && initial.shape(0) == batch && initial.shape(1) == states;
            if (!ok) {
                throw new IllegalArgumentException("argument 'initial': expected shape [" + states + "] or [" + batch
                        + ", " + states + "] (N = " + states + ", B = " + batch + "), got "
                        + Arrays.toString(initial.shape()));
            }
            input(initial, "initial");
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
            if (t.rank() != 1 || t.shape(0) != batch) {
                throw new IllegalArgumentException("argument 'lengths': expected shape [" + batch + "] (the batch B), got "
                        + Arrays.toString(t.shape()));
            }
            if (t.dtype() != DType.INT32 && t.dtype() != DType.INT64) {
                throw new IllegalArgumentException("argument 'lengths': expected dtype INT32 or INT64, got " + t.dtype());
            }
            if (!t.isHost()) {
                requireOnDevice(t, "lengths"); // the library reads and checks the values
                return;
            }
            for (long b = 0; b < batch; b++) {
                long v = t.getLong(b);
                if (v < 1 || v > steps) {
                    throw new IllegalArgumentException("argument 'lengths': lengths[" + b + "] = " + v
                            + " is outside [1, T = " + steps + "]");
                }
            }
        }

        void requireUpstream(Tensor g) {
            Tensor.requireNonNull(g, "gradLogPartition");
            g.ensureOpen(operation);
            if (g.rank() != 1 || g.shape(0) != batch) {
                throw new IllegalArgumentException("argument 'gradLogPartition': expected shape [" + batch
                        + "] (the batch B), got " + Arrays.toString(g.shape()));
            }
            requireDtype(g, "gradLogPartition", dtype);
            requireOnDevice(g, "gradLogPartition");
        }

        void requireOutput(Tensor out, String name, DType outDtype, long... shape) {
            Tensor.requireNonNull(out, name);
            out.ensureOpen(operation);
            if (!Arrays.equals(out.shape(), shape)) {
                throw new IllegalArgumentException("argument '" + name + "': expected shape " + Arrays.toString(shape)
                        + " (B = " + batch + ", T = " + steps + ", N = " + states + "), got "
                        + Arrays.toString(out.shape()));
            }
            if (out.dtype() != outDtype) {
                throw new IllegalArgumentException("argument '" + name + "': expected dtype " + outDtype + ", got "
                        + out.dtype());
            }
            requireOnDevice(out, name);
        }

        private void requireDtype(Tensor t, String name, DType expected) {
            if (t.dtype() != expected) {
                throw new IllegalArgumentException("argument '" + name + "': expected dtype " + expected + " (the dtype of '"
                        + (model instanceof Edge ? "potentials" : "emission") + "'), got " + t.dtype());
            }
        }

        private void requireOnDevice(Tensor t, String name) {
            Device device = context.device();
            if (!t.device().equals(device)) {
                throw new IllegalArgumentException("argument '" + name + "': tensor is on " + t.device()
                        + " but the context is on " + device);
            }
        }

        /** The descriptor of a tensor in the call's arena (NULL for null). */
        MemorySegment d(Tensor t, Arena arena) {
            return Tensor.descriptor(t, arena);
        }

        /**
         * Keeps every tensor alive, builds the options and descriptors in a confined arena, calls,
         * and turns a failure into the context's error message.
         */
        void invoke(List<Tensor> outputs, HmmCall fn) {
            List<Tensor> all = new ArrayList<>(inputs);
            all.add(lengths);
            for (Tensor t : outputs) {
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
                        MemorySegment opts = sk_hmm_options.allocate(arena);
                        sk_hmm_options.struct_size(opts, sk_hmm_options.sizeof());
                        sk_hmm_options.semiring(opts, semiring.code());
                        sk_hmm_options.initial_convention(opts, model instanceof Edge e
                                ? e.convention().code() : InitialConvention.SEPARATE.code());
                        Native.check(fn.apply(h, arena, opts, Tensor.descriptor(lengths, arena)), h);
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

    @FunctionalInterface
    private interface HmmCall {
        int apply(MemorySegment context, Arena arena, MemorySegment options, MemorySegment lengths);
    }

    private static Context checkedContext(Context context) {
        Tensor.requireNonNull(context, "context");
        if (context.isClosed()) {
            throw new IllegalStateException("Context on " + context.device() + " is closed; Hmm cannot use it");
        }
        return context;
    }

    private static void requireRank(Tensor t, String name, int rank, String layout) {
        if (t.rank() != rank) {
            throw new IllegalArgumentException("argument '" + name + "': expected rank " + rank + " " + layout
                    + ", got rank " + t.rank() + " (shape " + Arrays.toString(t.shape()) + ")");
        }
    }

    private static DType requireFloat(Tensor t, String name) {
        if (!t.dtype().isFloatingPoint()) {
            throw new IllegalArgumentException("argument '" + name + "': expected dtype FLOAT32 or FLOAT64, got " + t.dtype());
        }
        return t.dtype();
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
