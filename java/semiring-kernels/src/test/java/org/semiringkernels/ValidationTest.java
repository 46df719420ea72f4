package org.semiringkernels;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.semiringkernels.bindings.semiring_kernels_h;
import org.semiringkernels.bindings.sk_matmul_options;

/**
 * Bad shapes, dtypes, devices and arguments: Java rejects them before the native call with a
 * message naming the argument and the expected and actual shapes; what Java does not check
 * (overlap) the library rejects with a message naming the argument; outputs stay untouched.
 */
class ValidationTest {

    static final double SENTINEL = 12345;

    static Context context;

    @BeforeAll
    static void open() {
        context = Context.cpu();
    }

    @AfterAll
    static void close() {
        context.close();
    }

    static Tensor filled(DType dtype, double value, long... shape) {
        Tensor t = Tensor.allocateHost(dtype, shape);
        for (long i = 0; i < t.elementCount(); i++) {
            t.reshape(t.elementCount()).setDouble(value, i);
        }
        return t;
    }

    static void assertUntouched(Tensor t, double value) {
        for (double v : t.toDoubleArrayConverted()) {
            assertEquals(value, v, "an output was written although the call failed");
        }
    }

    /** Runs the call, expects {@code type}, checks that the message has every fragment, returns it. */
    static <T extends Throwable> String assertRejected(Class<T> type, Executable call, String... fragments) {
        T e = assertThrows(type, call);
        String message = e.getMessage();
        for (String fragment : fragments) {
            assertTrue(message.contains(fragment), "message lacks \"" + fragment + "\": " + message);
        }
        return message;
    }

    @Test
    void wrongRankNamesTheArgumentAndShape() {
        try (Tensor a = filled(DType.FLOAT32, 1, 4);
             Tensor b = filled(DType.FLOAT32, 1, 4, 2);
             Tensor c = filled(DType.FLOAT32, SENTINEL, 1, 2)) {
            assertRejected(IllegalArgumentException.class, () -> SemiringMatmul.forward(context, Semiring.REAL, a, b, c),
                    "argument 'a'", "rank 1", "[4]");
            assertUntouched(c, SENTINEL);
        }
    }

    @Test
    void innerExtentsMustAgree() {
        try (Tensor a = filled(DType.FLOAT32, 1, 2, 3);
             Tensor b = filled(DType.FLOAT32, 1, 4, 5);
             Tensor c = filled(DType.FLOAT32, SENTINEL, 2, 5)) {
            assertRejected(IllegalArgumentException.class, () -> SemiringMatmul.forward(context, Semiring.REAL, a, b, c),
                    "'a' [2, 3]", "'b' [4, 5]", "K = 3", "4 in 'b'");
            assertUntouched(c, SENTINEL);
        }
    }

    @Test
    void outputShapeIsExpectedAndActual() {
        try (Tensor a = filled(DType.FLOAT32, 1, 2, 3);
             Tensor b = filled(DType.FLOAT32, 1, 3, 5);
             Tensor c = filled(DType.FLOAT32, SENTINEL, 5, 2)) {
            assertRejected(IllegalArgumentException.class, () -> SemiringMatmul.forward(context, Semiring.LOG, a, b, c),
                    "argument 'c'", "expected shape [2, 5]", "got [5, 2]");
            assertUntouched(c, SENTINEL);
        }
    }

    @Test
    void batchExtentsMustBeOneOrEqual() {
        try (Tensor a = filled(DType.FLOAT32, 1, 2, 2, 3);
             Tensor b = filled(DType.FLOAT32, 1, 3, 3, 5);
             Tensor c = filled(DType.FLOAT32, SENTINEL, 2, 2, 5)) {
            assertRejected(IllegalArgumentException.class, () -> SemiringMatmul.forward(context, Semiring.MAX, a, b, c),
                    "'a' [2, 2, 3]", "'b' [3, 3, 5]", "batch extents 2 and 3");
            assertUntouched(c, SENTINEL);
        }
        try (Tensor a = filled(DType.FLOAT32, 1, 2, 2, 3);
             Tensor b = filled(DType.FLOAT32, 1, 3, 5);
             Tensor c = filled(DType.FLOAT32, SENTINEL, 3, 2, 5)) {
            assertRejected(IllegalArgumentException.class, () -> SemiringMatmul.forward(context, Semiring.MAX, a, b, c),
                    "argument 'c'", "expected shape [2, 2, 5]", "got [3, 2, 5]");
            assertUntouched(c, SENTINEL);
        }
    }

    @Test
    void dtypesMustMatchAndBeFloatingPoint() {
        try (Tensor a = filled(DType.FLOAT32, 1, 2, 3);
             Tensor b = filled(DType.FLOAT64, 1, 3, 2);
             Tensor c = filled(DType.FLOAT32, SENTINEL, 2, 2)) {
            assertRejected(IllegalArgumentException.class, () -> SemiringMatmul.forward(context, Semiring.REAL, a, b, c),
                    "argument 'b'", "expected dtype FLOAT32", "got FLOAT64");
            assertUntouched(c, SENTINEL);
        }
        try (Tensor a = filled(DType.INT32, 1, 2, 3);
             Tensor b = filled(DType.INT32, 1, 3, 2);
             Tensor c = filled(DType.INT32, SENTINEL, 2, 2)) {
            assertRejected(IllegalArgumentException.class, () -> SemiringMatmul.forward(context, Semiring.REAL, a, b, c),
                    "argument 'a'", "FLOAT32 or FLOAT64", "got INT32");
            assertUntouched(c, SENTINEL);
        }
    }

    @Test
    void argmaxOnlyForMaxAndMinAndShapedLikeC() {
        try (Tensor a = filled(DType.FLOAT64, 1, 2, 3);
             Tensor b = filled(DType.FLOAT64, 1, 3, 4);
             Tensor c = filled(DType.FLOAT64, SENTINEL, 2, 4);
             Tensor argmax = filled(DType.INT32, -7, 2, 4);
             Tensor floatArgmax = filled(DType.FLOAT32, -7, 2, 4);
             Tensor wrongShape = filled(DType.INT32, -7, 4, 2)) {
            assertRejected(IllegalArgumentException.class,
                    () -> SemiringMatmul.forward(context, Semiring.LOG, a, b, c, argmax),
                    "argument 'argmax'", "only the MAX and MIN", "LOG");
            assertRejected(IllegalArgumentException.class,
                    () -> SemiringMatmul.forward(context, Semiring.MAX, a, b, c, floatArgmax),
                    "argument 'argmax'", "INT32", "FLOAT32");
            assertRejected(IllegalArgumentException.class,
                    () -> SemiringMatmul.forward(context, Semiring.MIN, a, b, c, wrongShape),
                    "argument 'argmax'", "[2, 4]", "[4, 2]");
            assertUntouched(c, SENTINEL);
            assertUntouched(argmax, -7);
        }
    }

    @Test
    void tensorsMustBeOnTheContextDevice() {
        // Caller-owned CUDA memory (never dereferenced: Java rejects it first).
        try (Tensor a = Tensor.wrapDevice(Device.cuda(0), MemorySegment.ofAddress(4096), DType.FLOAT32,
                new long[] {2, 3}, new long[] {3, 1});
             Tensor b = filled(DType.FLOAT32, 1, 3, 2);
             Tensor c = filled(DType.FLOAT32, SENTINEL, 2, 2)) {
            assertRejected(IllegalArgumentException.class, () -> SemiringMatmul.forward(context, Semiring.REAL, a, b, c),
                    "argument 'a'", "cuda:0", "context is on cpu");
            assertUntouched(c, SENTINEL);
        }
    }

    @Test
    void backwardArgumentsAreChecked() {
        try (Tensor a = filled(DType.FLOAT64, 1, 2, 3);
             Tensor b = filled(DType.FLOAT64, 1, 3, 4);
             Tensor c = filled(DType.FLOAT64, 0, 2, 4);
             Tensor g = filled(DType.FLOAT64, 1, 2, 4);
             Tensor badG = filled(DType.FLOAT64, 1, 4, 2);
             Tensor gradA = filled(DType.FLOAT64, SENTINEL, 2, 3);
             Tensor badGradA = filled(DType.FLOAT64, SENTINEL, 3, 2);
             Tensor gradB = filled(DType.FLOAT64, SENTINEL, 3, 4)) {
            assertRejected(IllegalArgumentException.class,
                    () -> SemiringMatmul.backward(context, Semiring.REAL, a, b, null, null, g, badGradA, gradB),
                    "argument 'gradA'", "[2, 3]", "[3, 2]");
            assertRejected(IllegalArgumentException.class,
                    () -> SemiringMatmul.backward(context, Semiring.REAL, a, b, null, null, badG, gradA, gradB),
                    "argument 'gradC'", "expected shape [2, 4]", "got [4, 2]");
            assertRejected(NullPointerException.class,
                    () -> SemiringMatmul.backward(context, Semiring.LOG, a, b, null, null, g, gradA, gradB),
                    "argument 'c'", "LOG backward needs the forward output");
            assertRejected(IllegalArgumentException.class,
                    () -> SemiringMatmul.backward(context, Semiring.LOG, a, b, badG, null, g, gradA, gradB),
                    "argument 'c'", "[2, 4]", "[4, 2]");
            assertUntouched(gradA, SENTINEL);
            assertUntouched(badGradA, SENTINEL);
            assertUntouched(gradB, SENTINEL);
            assertUntouched(c, 0);
        }
    }

    @Test
    void nullArgumentsAreNamed() {
        try (Tensor a = filled(DType.FLOAT32, 1, 2, 2)) {
            assertRejected(NullPointerException.class, () -> SemiringMatmul.forward(context, Semiring.REAL, null, a, a),
                    "argument 'a' is null");
            assertRejected(NullPointerException.class, () -> SemiringMatmul.forward(context, Semiring.REAL, a, a, null),
                    "argument 'c' is null");
            assertRejected(NullPointerException.class, () -> SemiringMatmul.forward(null, Semiring.REAL, a, a, a),
                    "argument 'context' is null");
            assertRejected(NullPointerException.class, () -> SemiringMatmul.forward(context, null, a, a, a),
                    "argument 'semiring' is null");
        }
    }

    @Test
    void overlapIsRejectedByTheLibraryWithTheArgumentNamed() {
        try (Tensor a = filled(DType.FLOAT32, 2, 2, 3);
             Tensor b = filled(DType.FLOAT32, 1, 3, 2)) {
            Tensor cOverA = a.slice(1, 0, 2); // (2, 2) inside a's memory
            SemiringKernelsException e = assertThrows(SemiringKernelsException.class,
                    () -> SemiringMatmul.forward(context, Semiring.REAL, a, b, cOverA));
            assertEquals(semiring_kernels_h.SK_ERROR_INVALID_ARGUMENT(), e.status());
            assertEquals("SK_ERROR_INVALID_ARGUMENT", e.statusName());
            assertTrue(e.nativeMessage().contains("'c'") && e.nativeMessage().contains("'a'"), e.nativeMessage());
            assertTrue(e.getMessage().contains("SK_ERROR_INVALID_ARGUMENT") && e.getMessage().contains(e.nativeMessage()));
            assertUntouched(a, 2);
        }
    }

    @Test
    void selfOverlappingOutputIsRejectedByTheLibrary() {
        try (Tensor a = filled(DType.FLOAT64, 1, 2, 3);
             Tensor b = filled(DType.FLOAT64, 1, 3, 2);
             Tensor backing = filled(DType.FLOAT64, SENTINEL, 2)) {
            Tensor c = Tensor.wrap(backing.segment(), DType.FLOAT64, new long[] {2, 2}, new long[] {0, 1});
            SemiringKernelsException e = assertThrows(SemiringKernelsException.class,
                    () -> SemiringMatmul.forward(context, Semiring.REAL, a, b, c));
            assertEquals(semiring_kernels_h.SK_ERROR_SHAPE(), e.status());
            assertTrue(e.nativeMessage().contains("'c'") && e.nativeMessage().contains("overlap"), e.nativeMessage());
            assertUntouched(backing, SENTINEL);
        }
    }

    /** Bypassing Java's checks: the library names the argument too, and leaves the output alone. */
    @Test
    void libraryValidationNamesTheArgument() {
        try (Tensor a = filled(DType.FLOAT32, 1, 2, 3);
             Tensor b = filled(DType.FLOAT32, 1, 3, 4);
             Tensor c = filled(DType.FLOAT32, SENTINEL, 4, 2);
             Tensor goodC = filled(DType.FLOAT32, SENTINEL, 2, 4)) {
            String message = context.call("test", h -> {
                try (Arena arena = Arena.ofConfined()) {
                    MemorySegment options = sk_matmul_options.allocate(arena);
                    sk_matmul_options.struct_size(options, sk_matmul_options.sizeof());
                    sk_matmul_options.semiring(options, Semiring.REAL.code());
                    int status = semiring_kernels_h.sk_semiring_matmul(h, options, Tensor.descriptor(a, arena),
                            Tensor.descriptor(b, arena), Tensor.descriptor(c, arena), MemorySegment.NULL);
                    assertEquals(semiring_kernels_h.SK_ERROR_SHAPE(), status);
                    return Native.string(semiring_kernels_h.sk_context_last_error(h));
                }
            });
            for (String fragment : Arrays.asList("argument 'c'", "[2, 4]", "[4, 2]")) {
                assertTrue(message.contains(fragment), "native message lacks \"" + fragment + "\": " + message);
            }
            assertUntouched(c, SENTINEL);

            String deviceMessage = context.call("test", h -> {
                try (Arena arena = Arena.ofConfined()) {
                    MemorySegment options = sk_matmul_options.allocate(arena);
                    sk_matmul_options.struct_size(options, sk_matmul_options.sizeof());
                    sk_matmul_options.semiring(options, Semiring.REAL.code());
                    MemorySegment da = Tensor.descriptor(a, arena);
                    org.semiringkernels.bindings.sk_tensor.device_type(da, semiring_kernels_h.SK_DEVICE_CUDA());
                    int status = semiring_kernels_h.sk_semiring_matmul(h, options, da, Tensor.descriptor(b, arena),
                            Tensor.descriptor(goodC, arena), MemorySegment.NULL);
                    assertEquals(semiring_kernels_h.SK_ERROR_DEVICE(), status);
                    return Native.string(semiring_kernels_h.sk_context_last_error(h));
                }
            });
            assertTrue(deviceMessage.contains("argument 'a'") && deviceMessage.contains("cuda"), deviceMessage);
            assertUntouched(goodC, SENTINEL);
        }
    }
}
