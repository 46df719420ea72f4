package org.semiringkernels;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import org.semiringkernels.bindings.semiring_kernels_h;
import org.semiringkernels.bindings.sk_matmul_options;

/**
 * Batched semiring matrix multiply {@code C[b] = A[b] (x) B[b]}, i.e.
 * {@code C[b,i,j] = PLUS_k TIMES(A[b,i,k], B[b,k,j])}, and its vector-Jacobian product.
 *
 * <p><b>Shapes.</b> {@code a}: (M, K) or (batch_a, M, K); {@code b}: (K, N) or (batch_b, K, N);
 * {@code c}: (M, N), or (batch, M, N) when {@code a} or {@code b} has rank 3. batch_a and batch_b
 * are each 1 or the batch: an operand of rank 2 or batch extent 1 is shared by every product.
 * a, b and c have the same dtype (FLOAT32 or FLOAT64) and live on the context's device. Any
 * strides work for inputs (transposed and strided views included); outputs must not overlap
 * themselves or an input. K = 0 gives the semiring zero.
 *
 * <p><b>Argmax</b> (MAX and MIN only): an INT32 tensor shaped like c receives the k attaining each
 * C[b,i,j]: the lowest such k on ties, -1 where C is the semiring zero (all terms -inf for MAX,
 * +inf for MIN) or K = 0. NaN propagates: a NaN term wins.
 *
 * <p><b>Backward</b> given {@code gradC = dL/dC}: REAL: gradA = gradC B^T, gradB = A^T gradC.
 * LOG: gradA[i,k] = sum_j gradC[i,j] exp(A[i,k] + B[k,j] - C[i,j]) (0 where C = -inf); needs the
 * forward output c. MAX/MIN: gradC[i,j] goes to A[i,argmax] and B[argmax,j]; pass the forward's
 * argmax or null to have it recomputed; c is not used. BOOLEAN has no gradient. Gradients are
 * overwritten, not accumulated; a shared operand's gradient is the sum over the batch (in batch
 * order, so results are deterministic). gradA or gradB may be null to skip it.
 *
 * <p><b>Errors.</b> Shapes, dtypes, devices and open state are checked here before the native
 * call, with messages naming the argument and the expected and actual shape
 * (IllegalArgumentException, IllegalStateException for closed tensors or contexts). The library
 * checks again (and checks overlap); its failures are {@link SemiringKernelsException}. On any
 * error no output has been written.
 *
 * <p><b>Example</b> (run and checked by {@code JavadocExamplesTest}):
 * {@snippet class="org.semiringkernels.snippets.JavadocExamples" region="matmul"}
 */
public final class SemiringMatmul {

    private SemiringMatmul() {
    }

    /** The forward's outputs (argmax is null for LOG, REAL and BOOLEAN). Closes both. */
    public record Result(Tensor c, Tensor argmax) implements AutoCloseable {
        @Override
        public void close() {
            try {
                c.close();
            } finally {
                if (argmax != null) {
                    argmax.close();
                }
            }
        }
    }

    /** Gradients of the backward (either may be null when skipped). Closes both. */
    public record Gradients(Tensor gradA, Tensor gradB) implements AutoCloseable {
        @Override
        public void close() {
            try {
                if (gradA != null) {
                    gradA.close();
                }
            } finally {
                if (gradB != null) {
                    gradB.close();
                }
            }
        }
    }

    // ---- forward ------------------------------------------------------------------------------

    /** {@code c = a (x) b} into a caller-allocated c. */
    public static void forward(Context context, Semiring semiring, Tensor a, Tensor b, Tensor c) {
        forward(context, semiring, a, b, c, null);
    }

    /** {@code c = a (x) b} and, for MAX/MIN, the argmax into {@code argmax} (may be null). */
    public static void forward(Context context, Semiring semiring, Tensor a, Tensor b, Tensor c, Tensor argmax) {
        Tensor.requireNonNull(context, "context");
        Tensor.requireNonNull(semiring, "semiring");
        Tensor.requireNonNull(c, "c");
        Product p = Product.of(a, b);
        p.requireOutput(c, "c");
        DType dtype = requireFloatDtype(a, "a");
        requireDtype(b, "b", dtype, "a");
        requireDtype(c, "c", dtype, "a");
        if (argmax != null) {
            requireArgmax(argmax, semiring, c, "c");
        }
        requireOnDevice(context, new Tensor[] {a, b, c, argmax}, new String[] {"a", "b", "c", "argmax"});
        invoke(context, "SemiringMatmul.forward", Arrays.asList(a, b, c, argmax), (h, arena) ->
                semiring_kernels_h.sk_semiring_matmul(h, options(arena, semiring),
                        Tensor.descriptor(a, arena), Tensor.descriptor(b, arena),
                        Tensor.descriptor(c, arena), Tensor.descriptor(argmax, arena)));
    }

    /**
     * Allocates c (and, for MAX/MIN, the argmax) on the context's device and runs the forward.
     * Convenient; in a hot loop allocate the outputs once and use the filling overloads.
     */
    public static Result forward(Context context, Semiring semiring, Tensor a, Tensor b) {
        Tensor.requireNonNull(context, "context");
        Tensor.requireNonNull(semiring, "semiring");
        long[] outShape = outputShape(a, b);
        Tensor c = Tensor.allocate(context, a.dtype(), outShape);
        Tensor argmax = null;
        try {
            argmax = semiring.hasArgmax() ? Tensor.allocate(context, DType.INT32, outShape) : null;
            forward(context, semiring, a, b, c, argmax);
            return new Result(c, argmax);
        } catch (RuntimeException | Error e) {
            c.close();
            if (argmax != null) {
                argmax.close();
            }
            throw e;
        }
    }

    /**
     * The shape of c for these operands: (M, N), or (batch, M, N) when a or b has rank 3, where
     * batch is the larger batch extent. Checks ranks, inner extents and batch extents.
     */
    public static long[] outputShape(Tensor a, Tensor b) {
        return Product.of(a, b).defaultOutputShape();
    }

    // ---- backward ------------------------------------------------------------------------------

    /**
     * Fills gradA and/or gradB (either may be null) with the vector-Jacobian product for gradC.
     * {@code c} is the forward output (required for LOG, unused otherwise); {@code argmax} is the
     * forward's argmax for MAX/MIN or null to recompute it.
     */
    public static void backward(Context context, Semiring semiring, Tensor a, Tensor b, Tensor c, Tensor argmax,
                                Tensor gradC, Tensor gradA, Tensor gradB) {
        Tensor.requireNonNull(context, "context");
        Tensor.requireNonNull(semiring, "semiring");
        if (!semiring.hasGradient()) {
            throw new UnsupportedOperationException("argument 'semiring': " + semiring + " has no gradient");
        }
        Tensor.requireNonNull(gradC, "gradC");
        Product p = Product.of(a, b);
        p.requireOutput(gradC, "gradC");
        DType dtype = requireFloatDtype(a, "a");
        requireDtype(b, "b", dtype, "a");
        requireDtype(gradC, "gradC", dtype, "a");
        Tensor usedC = semiring == Semiring.LOG ? requireForwardOutput(c, gradC, dtype) : null;
        if (argmax != null) {
            requireArgmax(argmax, semiring, gradC, "gradC");
        }
        if (gradA != null) {
            requireSameShape(gradA, "gradA", a, "a");
            requireDtype(gradA, "gradA", dtype, "a");
        }
        if (gradB != null) {
            requireSameShape(gradB, "gradB", b, "b");
            requireDtype(gradB, "gradB", dtype, "a");
        }
        requireOnDevice(context, new Tensor[] {a, b, usedC, argmax, gradC, gradA, gradB},
                new String[] {"a", "b", "c", "argmax", "gradC", "gradA", "gradB"});
        invoke(context, "SemiringMatmul.backward", Arrays.asList(a, b, usedC, argmax, gradC, gradA, gradB),
                (h, arena) -> semiring_kernels_h.sk_semiring_matmul_backward(h, options(arena, semiring),
                        Tensor.descriptor(a, arena), Tensor.descriptor(b, arena),
                        Tensor.descriptor(usedC, arena), Tensor.descriptor(argmax, arena),
                        Tensor.descriptor(gradC, arena), Tensor.descriptor(gradA, arena),
                        Tensor.descriptor(gradB, arena)));
    }

    /** Allocates gradA and gradB (shaped like a and b) on the context's device and fills them. */
    public static Gradients backward(Context context, Semiring semiring, Tensor a, Tensor b, Tensor c, Tensor argmax,
                                     Tensor gradC) {
        Tensor.requireNonNull(context, "context");
        Tensor.requireNonNull(a, "a");
        Tensor.requireNonNull(b, "b");
        Tensor gradA = Tensor.allocate(context, a.dtype(), a.shape());
        Tensor gradB = null;
        try {
            gradB = Tensor.allocate(context, b.dtype(), b.shape());
            backward(context, semiring, a, b, c, argmax, gradC, gradA, gradB);
            return new Gradients(gradA, gradB);
        } catch (RuntimeException | Error e) {
            gradA.close();
            if (gradB != null) {
                gradB.close();
            }
            throw e;
        }
    }

    // ---- validation ----------------------------------------------------------------------------

    /** M, K, N and the batch extents of a product, checked across a and b. */
    private record Product(Tensor a, Tensor b, long m, long k, long n, long batchA, long batchB, int outRank) {

        static Product of(Tensor a, Tensor b) {
            Tensor.requireNonNull(a, "a");
            Tensor.requireNonNull(b, "b");
            a.ensureOpen("SemiringMatmul");
            b.ensureOpen("SemiringMatmul");
            requireRank(a, "a", "(M, K) or 3 (batch, M, K)");
            requireRank(b, "b", "(K, N) or 3 (batch, K, N)");
            long k = a.shape(-1);
            if (b.shape(-2) != k) {
                throw new IllegalArgumentException("arguments 'a' " + Arrays.toString(a.shape()) + " and 'b' "
                        + Arrays.toString(b.shape()) + ": inner extents differ (K = " + k + " in 'a', "
                        + b.shape(-2) + " in 'b')");
            }
            long batchA = a.rank() == 3 ? a.shape(0) : 1;
            long batchB = b.rank() == 3 ? b.shape(0) : 1;
            if (batchA != 1 && batchB != 1 && batchA != batchB) {
                throw new IllegalArgumentException("arguments 'a' " + Arrays.toString(a.shape()) + " and 'b' "
                        + Arrays.toString(b.shape()) + ": batch extents " + batchA + " and " + batchB
                        + " differ (each must be 1 or the output's batch)");
            }
            int outRank = a.rank() == 3 || b.rank() == 3 ? 3 : 2;
            return new Product(a, b, a.shape(-2), k, b.shape(-1), batchA, batchB, outRank);
        }

        long[] defaultOutputShape() {
            return outRank == 2 ? new long[] {m, n} : new long[] {Math.max(batchA, batchB), m, n};
        }

        /** The output (c or gradC) must be (M, N) or (batch, M, N) with a compatible batch. */
        void requireOutput(Tensor out, String name) {
            out.ensureOpen("SemiringMatmul");
            long[] actual = out.shape();
            long[] expected = defaultOutputShape();
            boolean batchFree = outRank == 3 && batchA == 1 && batchB == 1;
            if (batchFree && actual.length == 3) {
                expected[0] = actual[0]; // both operands are shared: any batch extent works
            }
            if (!Arrays.equals(actual, expected)) {
                String want = batchFree ? "[B, " + m + ", " + n + "] (any B)" : Arrays.toString(expected);
                throw new IllegalArgumentException("argument '" + name + "': expected shape " + want + " from 'a' "
                        + Arrays.toString(a.shape()) + " and 'b' " + Arrays.toString(b.shape()) + ", got "
                        + Arrays.toString(actual));
            }
        }
    }

    private static void requireRank(Tensor t, String name, String expected) {
        if (t.rank() != 2 && t.rank() != 3) {
            throw new IllegalArgumentException("argument '" + name + "': expected rank 2 " + expected + ", got rank "
                    + t.rank() + " (shape " + Arrays.toString(t.shape()) + ")");
        }
    }

    private static DType requireFloatDtype(Tensor t, String name) {
        if (!t.dtype().isFloatingPoint()) {
            throw new IllegalArgumentException("argument '" + name + "': expected dtype FLOAT32 or FLOAT64, got " + t.dtype());
        }
        return t.dtype();
    }

    private static void requireDtype(Tensor t, String name, DType dtype, String like) {
        if (t.dtype() != dtype) {
            throw new IllegalArgumentException("argument '" + name + "': expected dtype " + dtype + " (the dtype of '"
                    + like + "'), got " + t.dtype());
        }
    }

    private static void requireSameShape(Tensor t, String name, Tensor like, String likeName) {
        t.ensureOpen("SemiringMatmul");
        if (!Arrays.equals(t.shape(), like.shape())) {
            throw new IllegalArgumentException("argument '" + name + "': expected the shape of '" + likeName + "' "
                    + Arrays.toString(like.shape()) + ", got " + Arrays.toString(t.shape()));
        }
    }

    private static void requireArgmax(Tensor argmax, Semiring semiring, Tensor like, String likeName) {
        if (!semiring.hasArgmax()) {
            throw new IllegalArgumentException("argument 'argmax': only the MAX and MIN semirings have an argmax "
                    + "(semiring is " + semiring + ")");
        }
        if (argmax.dtype() != DType.INT32) {
            throw new IllegalArgumentException("argument 'argmax': expected dtype INT32, got " + argmax.dtype());
        }
        requireSameShape(argmax, "argmax", like, likeName);
    }

    private static Tensor requireForwardOutput(Tensor c, Tensor gradC, DType dtype) {
        if (c == null) {
            throw new NullPointerException("argument 'c' is null: the LOG backward needs the forward output");
        }
        requireSameShape(c, "c", gradC, "gradC");
        requireDtype(c, "c", dtype, "a");
        return c;
    }

    private static void requireOnDevice(Context context, Tensor[] tensors, String[] names) {
        Device device = context.device();
        for (int i = 0; i < tensors.length; i++) {
            if (tensors[i] != null && !tensors[i].device().equals(device)) {
                throw new IllegalArgumentException("argument '" + names[i] + "': tensor is on " + tensors[i].device()
                        + " but the context is on " + device);
            }
        }
    }

    // ---- the native call ----------------------------------------------------------------------

    @FunctionalInterface
    private interface MatmulCall {
        int apply(MemorySegment context, Arena arena);
    }

    /**
     * Keeps every tensor's memory alive, builds the descriptors in a confined arena (freed when
     * the call returns), calls, and turns a failure into the context's error message.
     */
    private static void invoke(Context context, String operation, List<Tensor> tensors, MatmulCall call) {
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

    private static MemorySegment options(Arena arena, Semiring semiring) {
        MemorySegment options = sk_matmul_options.allocate(arena);
        sk_matmul_options.struct_size(options, sk_matmul_options.sizeof());
        sk_matmul_options.semiring(options, semiring.code());
        sk_matmul_options.reserved(options, 0);
        return options;
    }
}
