package org.semiringkernels;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import org.semiringkernels.bindings.semiring_kernels_h;
import org.semiringkernels.bindings.sk_einsum_options;

/**
 * A compiled semiring einsum: {@code out[o] = PLUS over the summed labels of TIMES over the
 * operands}, for an equation such as {@code "bij,bjk->bik"}, {@code "bi,bij,bj->b"},
 * {@code "ii->i"} or {@code "...ij,...jk->...ik"}, in any {@link Semiring}, with gradients.
 *
 * <p><b>Equations.</b> Operands are separated by ',', the output follows "->" (required); labels
 * are the letters a-z and A-Z; spaces are ignored; "..." broadcasts leading dimensions as in
 * NumPy; a label repeated inside one operand takes the diagonal; an extent 1 broadcasts against
 * any extent of the same label. Labels not in the output are summed. A malformed equation is a
 * {@link SemiringKernelsException} whose message names the character position.
 *
 * <p><b>Plan.</b> {@link #compile} parses the equation once for fixed operand shapes and picks a
 * pairwise contraction order (operand-only labels first, then opt_einsum's greedy rule); each
 * step that sums labels runs on the batched semiring matmul. The object is immutable and may be
 * used by several threads at once, each with its own {@link Context}, and with FLOAT32 or FLOAT64
 * operands. Close it when done (it owns a small native object).
 *
 * <p><b>Viterbi.</b> For MAX and MIN, {@code argmax} (INT32 or INT64, shape = output shape +
 * [{@link #summedCount()}]) receives, per output element, the values of the summed variables (in
 * order of first appearance in the equation) at a maximising assignment; -1 where the output is
 * the semiring zero. Ties: the lowest index within each contraction step (for one or two operands
 * the lowest index in order of first appearance); see the C header for the exact rule.
 *
 * <p><b>Gradients</b> ({@link #backward}): REAL and LOG exact vector-Jacobian products (the LOG
 * backward needs the forward output; an output of -inf gives gradient 0, or NaN with
 * {@link ZeroGradient#NAN}); MAX/MIN route the upstream gradient through the argmax (pass the
 * forward's or null to recompute it); BOOLEAN has none. A diagonal operand gets 0 off its
 * diagonal; a broadcast dimension gets the sum over the broadcast.
 *
 * <p><b>Errors.</b> Operand count, shapes, dtypes, devices and open state are checked here
 * before the native call (IllegalArgumentException / IllegalStateException, naming the
 * argument); the library checks again (overlap too). On any error no output has been written.
 *
 * <p><b>Example</b> (run and checked by {@code JavadocExamplesTest}):
 * {@snippet class="org.semiringkernels.snippets.JavadocExamples" region="einsum"}
 */
public final class SemiringEinsum implements AutoCloseable {

    /** The gradient of an all -inf LOG sum. */
    public enum ZeroGradient {
        /** 0 (the default). */
        ZERO(0),
        /** NaN, as torch-semiring-einsum. */
        NAN(1);

        private final int code;

        ZeroGradient(int code) {
            this.code = code;
        }

        /** The {@code sk_einsum_zero_gradient} value. */
        public int code() {
            return code;
        }
    }

    /**
     * Plan options: the LOG all -inf gradient convention and a workspace limit in bytes (0 = none;
     * else the output is processed in blocks that fit, see the C header).
     */
    public record Options(ZeroGradient zeroGradient, long workspaceLimitBytes) {
        public static final Options DEFAULT = new Options(ZeroGradient.ZERO, 0);

        public Options {
            Tensor.requireNonNull(zeroGradient, "zeroGradient");
            if (workspaceLimitBytes < 0) {
                throw new IllegalArgumentException("argument 'workspaceLimitBytes': must be >= 0, got "
                        + workspaceLimitBytes);
            }
        }
    }

    /** The forward's outputs (argmax is null for LOG, REAL and BOOLEAN). Closes both. */
    public record Result(Tensor out, Tensor argmax) implements AutoCloseable {
        @Override
        public void close() {
            try {
                out.close();
            } finally {
                if (argmax != null) {
                    argmax.close();
                }
            }
        }
    }

    /** One gradient per operand, shaped like it. Closes them all. */
    public record Gradients(List<Tensor> grads) implements AutoCloseable {
        public Tensor get(int operand) {
            return grads.get(operand);
        }

        @Override
        public void close() {
            for (Tensor t : grads) {
                if (t != null) {
                    t.close();
                }
            }
        }
    }

    private final String equation;
    private final Semiring semiring;
    private final long[][] shapes;
    private final long[] outputShape;
    private final int summedCount;
    private final MemorySegment plan;
    private final Lifetime lifetime;

    private SemiringEinsum(String equation, Semiring semiring, long[][] shapes, MemorySegment plan) {
        this.equation = equation;
        this.semiring = semiring;
        this.shapes = shapes;
        this.plan = plan;
        this.lifetime = new Lifetime(() -> semiring_kernels_h.sk_einsum_plan_destroy(plan));
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment rank = arena.allocate(ValueLayout.JAVA_INT);
            MemorySegment shape = arena.allocate(ValueLayout.JAVA_LONG, Tensor.MAX_RANK);
            MemorySegment count = arena.allocate(ValueLayout.JAVA_INT);
            Native.checkNoContext(semiring_kernels_h.sk_einsum_plan_output_shape(plan, rank, shape));
            Native.checkNoContext(semiring_kernels_h.sk_einsum_plan_summed_count(plan, count));
            this.outputShape = Arrays.copyOf(shape.toArray(ValueLayout.JAVA_LONG), rank.get(ValueLayout.JAVA_INT, 0));
            this.summedCount = count.get(ValueLayout.JAVA_INT, 0);
        }
    }

    // ---- compilation ------------------------------------------------------------------------------

    /** Compiles {@code equation} for operands of the given shapes, with default options. */
    public static SemiringEinsum compile(String equation, Semiring semiring, long[]... shapes) {
        return compile(equation, semiring, Options.DEFAULT, shapes);
    }

    /** Compiles {@code equation} for operands of the given shapes. */
    public static SemiringEinsum compile(String equation, Semiring semiring, Options options, long[]... shapes) {
        Tensor.requireNonNull(equation, "equation");
        Tensor.requireNonNull(semiring, "semiring");
        Tensor.requireNonNull(options, "options");
        Tensor.requireNonNull(shapes, "shapes");
        if (shapes.length < 1 || shapes.length > semiring_kernels_h.SK_EINSUM_MAX_OPERANDS()) {
            throw new IllegalArgumentException("argument 'shapes': expected 1 to "
                    + semiring_kernels_h.SK_EINSUM_MAX_OPERANDS() + " operand shapes, got " + shapes.length);
        }
        long[][] copies = new long[shapes.length][];
        int total = 0;
        for (int i = 0; i < shapes.length; i++) {
            Tensor.requireNonNull(shapes[i], "shapes[" + i + "]");
            if (shapes[i].length > Tensor.MAX_RANK) {
                throw new IllegalArgumentException("argument 'shapes[" + i + "]': rank " + shapes[i].length
                        + " exceeds " + Tensor.MAX_RANK);
            }
            for (long e : shapes[i]) {
                if (e < 0) {
                    throw new IllegalArgumentException("argument 'shapes[" + i + "]': negative extent in "
                            + Arrays.toString(shapes[i]));
                }
            }
            copies[i] = shapes[i].clone();
            total += shapes[i].length;
        }
        Native.library();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment ranks = arena.allocate(ValueLayout.JAVA_INT, shapes.length);
            MemorySegment extents = arena.allocate(ValueLayout.JAVA_LONG, Math.max(total, 1));
            int at = 0;
            for (int i = 0; i < copies.length; i++) {
                ranks.setAtIndex(ValueLayout.JAVA_INT, i, copies[i].length);
                for (long e : copies[i]) {
                    extents.setAtIndex(ValueLayout.JAVA_LONG, at++, e);
                }
            }
            MemorySegment opts = sk_einsum_options.allocate(arena);
            sk_einsum_options.struct_size(opts, sk_einsum_options.sizeof());
            sk_einsum_options.semiring(opts, semiring.code());
            sk_einsum_options.zero_gradient(opts, options.zeroGradient().code());
            sk_einsum_options.workspace_limit_bytes(opts, options.workspaceLimitBytes());
            MemorySegment out = arena.allocate(ValueLayout.ADDRESS);
            int status = semiring_kernels_h.sk_einsum_plan_create(arena.allocateFrom(equation), copies.length,
                    ranks, extents, opts, out);
            Native.checkNoContext(status);
            return new SemiringEinsum(equation, semiring, copies, out.get(ValueLayout.ADDRESS, 0));
        }
    }

    // ---- properties -------------------------------------------------------------------------------

    public String equation() {
        return equation;
    }

    public Semiring semiring() {
        return semiring;
    }

    public int operandCount() {
        return shapes.length;
    }

    /** A copy of operand i's shape. */
    public long[] operandShape(int i) {
        return shapes[i].clone();
    }

    /** A copy of the output's shape. */
    public long[] outputShape() {
        return outputShape.clone();
    }

    /** The number of summed variables (the last extent of an argmax tensor). */
    public int summedCount() {
        return summedCount;
    }

    /** The argmax's shape: the output's shape + [summedCount()]. */
    public long[] argmaxShape() {
        long[] s = Arrays.copyOf(outputShape, outputShape.length + 1);
        s[outputShape.length] = summedCount;
        return s;
    }

    /** Workspace bytes a forward (or backward) of the whole problem needs in {@code dtype}. */
    public long workspaceBytes(DType dtype, boolean backward) {
        Tensor.requireNonNull(dtype, "dtype");
        lifetime.acquire(this::toString, "workspaceBytes");
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment bytes = arena.allocate(ValueLayout.JAVA_LONG);
            Native.checkNoContext(semiring_kernels_h.sk_einsum_plan_workspace_bytes(plan, dtype.code(),
                    backward ? 1 : 0, bytes));
            return bytes.get(ValueLayout.JAVA_LONG, 0);
        } finally {
            lifetime.release();
        }
    }

    // ---- forward ----------------------------------------------------------------------------------

    /** Fills {@code out} (and, for MAX/MIN, {@code argmax} when not null). */
    public void forward(Context context, List<Tensor> operands, Tensor out, Tensor argmax) {
        Tensor.requireNonNull(context, "context");
        DType dtype = requireOperands(operands);
        requireTensor(out, "out", outputShape, dtype);
        if (argmax != null) {
            requireArgmax(argmax);
        }
        List<Tensor> all = new ArrayList<>(operands);
        all.add(out);
        all.add(argmax);
        requireOnDevice(context, all);
        invoke(context, "SemiringEinsum.forward", all, (h, arena) ->
                semiring_kernels_h.sk_einsum_forward(h, plan, descriptors(operands, arena),
                        Tensor.descriptor(out, arena), Tensor.descriptor(argmax, arena)));
    }

    /**
     * Allocates the output (and, for MAX/MIN, an INT64 argmax) on the context's device and runs
     * the forward.
     */
    public Result forward(Context context, Tensor... operands) {
        Tensor.requireNonNull(context, "context");
        Tensor.requireNonNull(operands, "operands");
        DType dtype = requireOperands(Arrays.asList(operands));
        Tensor out = Tensor.allocate(context, dtype, outputShape);
        Tensor argmax = null;
        try {
            argmax = semiring.hasArgmax() ? Tensor.allocate(context, DType.INT64, argmaxShape()) : null;
            forward(context, Arrays.asList(operands), out, argmax);
            return new Result(out, argmax);
        } catch (RuntimeException | Error e) {
            out.close();
            if (argmax != null) {
                argmax.close();
            }
            throw e;
        }
    }

    // ---- backward ---------------------------------------------------------------------------------

    /**
     * Fills {@code grads.get(i)} (null entries skip) with dL/d operand i for {@code gradOut}.
     * {@code out}: the forward output (LOG only; may be null otherwise); {@code argmax}: MAX/MIN,
     * the forward's or null to recompute it.
     */
    public void backward(Context context, List<Tensor> operands, Tensor out, Tensor argmax, Tensor gradOut,
                         List<Tensor> grads) {
        Tensor.requireNonNull(context, "context");
        if (!semiring.hasGradient()) {
            throw new UnsupportedOperationException("the " + semiring + " semiring has no gradient");
        }
        DType dtype = requireOperands(operands);
        requireTensor(gradOut, "gradOut", outputShape, dtype);
        Tensor usedOut = null;
        if (semiring == Semiring.LOG) {
            if (out == null) {
                throw new NullPointerException("argument 'out' is null: the LOG backward needs the forward output");
            }
            requireTensor(out, "out", outputShape, dtype);
            usedOut = out;
        }
        if (argmax != null) {
            requireArgmax(argmax);
        }
        Tensor.requireNonNull(grads, "grads");
        if (grads.size() != shapes.length) {
            throw new IllegalArgumentException("argument 'grads': expected " + shapes.length + " entries (one per "
                    + "operand, null to skip), got " + grads.size());
        }
        for (int i = 0; i < grads.size(); i++) {
            if (grads.get(i) != null) {
                requireTensor(grads.get(i), "grads[" + i + "]", shapes[i], dtype);
            }
        }
        List<Tensor> all = new ArrayList<>(operands);
        all.add(usedOut);
        all.add(argmax);
        all.add(gradOut);
        all.addAll(grads);
        requireOnDevice(context, all);
        Tensor finalOut = usedOut;
        invoke(context, "SemiringEinsum.backward", all, (h, arena) ->
                semiring_kernels_h.sk_einsum_backward(h, plan, descriptors(operands, arena),
                        Tensor.descriptor(finalOut, arena), Tensor.descriptor(argmax, arena),
                        Tensor.descriptor(gradOut, arena), descriptors(grads, arena)));
    }

    /** Allocates a gradient for every operand on the context's device and fills them. */
    public Gradients backward(Context context, List<Tensor> operands, Tensor out, Tensor argmax, Tensor gradOut) {
        Tensor.requireNonNull(context, "context");
        DType dtype = requireOperands(operands);
        List<Tensor> grads = new ArrayList<>();
        try {
            for (long[] shape : shapes) {
                grads.add(Tensor.allocate(context, dtype, shape));
            }
            backward(context, operands, out, argmax, gradOut, grads);
            return new Gradients(List.copyOf(grads));
        } catch (RuntimeException | Error e) {
            for (Tensor t : grads) {
                t.close();
            }
            throw e;
        }
    }

    /** Frees the native plan (once; later calls throw IllegalStateException). */
    @Override
    public void close() {
        lifetime.close();
    }

    @Override
    public String toString() {
        return "SemiringEinsum(\"" + equation + "\", " + semiring + ")";
    }

    // ---- validation -------------------------------------------------------------------------------

    private DType requireOperands(List<Tensor> operands) {
        Tensor.requireNonNull(operands, "operands");
        if (operands.size() != shapes.length) {
            throw new IllegalArgumentException("argument 'operands': the equation \"" + equation + "\" has "
                    + shapes.length + " operands, got " + operands.size());
        }
        DType dtype = null;
        for (int i = 0; i < operands.size(); i++) {
            Tensor t = operands.get(i);
            String name = "operands[" + i + "]";
            Tensor.requireNonNull(t, name);
            if (dtype == null) {
                if (!t.dtype().isFloatingPoint()) {
                    throw new IllegalArgumentException("argument '" + name + "': expected dtype FLOAT32 or FLOAT64, got "
                            + t.dtype());
                }
                dtype = t.dtype();
            }
            requireTensor(t, name, shapes[i], dtype);
        }
        return dtype;
    }

    private static void requireTensor(Tensor t, String name, long[] shape, DType dtype) {
        Tensor.requireNonNull(t, name);
        t.ensureOpen("SemiringEinsum");
        if (!Arrays.equals(t.shape(), shape)) {
            throw new IllegalArgumentException("argument '" + name + "': expected shape " + Arrays.toString(shape)
                    + " (the plan's), got " + Arrays.toString(t.shape()));
        }
        if (t.dtype() != dtype) {
            throw new IllegalArgumentException("argument '" + name + "': expected dtype " + dtype
                    + " (the dtype of 'operands[0]'), got " + t.dtype());
        }
    }

    private void requireArgmax(Tensor argmax) {
        if (!semiring.hasArgmax()) {
            throw new IllegalArgumentException("argument 'argmax': only the MAX and MIN semirings have an argmax "
                    + "(semiring is " + semiring + ")");
        }
        argmax.ensureOpen("SemiringEinsum");
        if (argmax.dtype() != DType.INT32 && argmax.dtype() != DType.INT64) {
            throw new IllegalArgumentException("argument 'argmax': expected dtype INT32 or INT64, got " + argmax.dtype());
        }
        if (outputShape.length + 1 > Tensor.MAX_RANK) {
            throw new IllegalArgumentException("argument 'argmax': the output has rank " + outputShape.length
                    + ", so the argmax would need rank " + (outputShape.length + 1) + " > " + Tensor.MAX_RANK);
        }
        if (!Arrays.equals(argmax.shape(), argmaxShape())) {
            throw new IllegalArgumentException("argument 'argmax': expected shape " + Arrays.toString(argmaxShape())
                    + " (output shape + [summed variables]), got " + Arrays.toString(argmax.shape()));
        }
    }

    private static void requireOnDevice(Context context, List<Tensor> tensors) {
        Device device = context.device();
        for (Tensor t : tensors) {
            if (t != null && !t.device().equals(device)) {
                throw new IllegalArgumentException("tensor " + t.describe() + " is on " + t.device()
                        + " but the context is on " + device);
            }
        }
    }

    // ---- the native call --------------------------------------------------------------------------

    @FunctionalInterface
    private interface EinsumCall {
        int apply(MemorySegment context, Arena arena);
    }

    /** An array of descriptor pointers (NULL for null entries). */
    private static MemorySegment descriptors(List<Tensor> tensors, Arena arena) {
        MemorySegment array = arena.allocate(ValueLayout.ADDRESS, Math.max(tensors.size(), 1));
        for (int i = 0; i < tensors.size(); i++) {
            array.setAtIndex(ValueLayout.ADDRESS, i, Tensor.descriptor(tensors.get(i), arena));
        }
        return array;
    }

    /** Keeps the plan and every tensor alive for the call; descriptors live in a confined arena. */
    private void invoke(Context context, String operation, List<Tensor> tensors, EinsumCall call) {
        List<Tensor> acquired = new ArrayList<>(tensors.size());
        lifetime.acquire(this::toString, operation);
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
            lifetime.release();
        }
    }
}
