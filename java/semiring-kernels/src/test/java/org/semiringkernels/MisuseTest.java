package org.semiringkernels;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ExecutionException;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.semiringkernels.bindings.semiring_kernels_h;

/**
 * Misuse of the Java API: closed tensors and contexts, tensors outliving or crossing contexts,
 * device tensors given to a CPU context, a confined arena's memory used from another thread,
 * shapes whose byte size overflows 64 bits. Each is a clear exception thrown before any native
 * call: the calling thread's native error (set to a known message first) is unchanged afterwards,
 * so the library was never asked, and the outputs are untouched.
 */
class MisuseTest {

    /** Leaves a known message as the calling thread's native error. */
    static String markNativeError() {
        assertEquals(1 << 1, semiring_kernels_h.sk_context_set_num_threads(MemorySegment.NULL, 0));
        return nativeError();
    }

    static String nativeError() {
        return semiring_kernels_h.sk_last_error().reinterpret(4096).getString(0);
    }

    /** Runs the misuse, expects {@code type} with a message containing every word, no native call. */
    static <T extends Throwable> T rejectedBeforeNative(Class<T> type, Executable misuse, String... words) {
        String mark = markNativeError();
        T thrown = assertThrows(type, misuse);
        for (String word : words) {
            assertTrue(thrown.getMessage().contains(word), "message '" + thrown.getMessage() + "' lacks '" + word + "'");
        }
        assertEquals(mark, nativeError(), "the library was called");
        return thrown;
    }

    static Tensor ones(long... shape) {
        Tensor t = Tensor.allocateHost(DType.FLOAT32, shape);
        Tensor flat = t.reshape(t.elementCount());
        for (long i = 0; i < t.elementCount(); i++) {
            flat.setDouble(1, i);
        }
        return t;
    }

    @Test
    void closedTensorsAreRejected() {
        try (Context ctx = Context.cpu(); Tensor b = ones(3, 2); Tensor c = ones(2, 2)) {
            Tensor a = ones(2, 3);
            a.close();
            rejectedBeforeNative(IllegalStateException.class,
                    () -> SemiringMatmul.forward(ctx, Semiring.LOG, a, b, c), "closed", "SemiringMatmul");
            Tensor view = b.transpose();
            view.close();
            rejectedBeforeNative(IllegalStateException.class,
                    () -> SemiringMatmul.forward(ctx, Semiring.LOG, ones(2, 2), view, c), "closed");
            assertArrayEquals(new float[] {1, 1, 1, 1}, c.toFloatArray());
        }
    }

    @Test
    void closedContextsAreRejected() {
        try (Tensor a = ones(2, 3); Tensor b = ones(3, 2); Tensor c = ones(2, 2)) {
            Context ctx = Context.cpu();
            ctx.close();
            rejectedBeforeNative(IllegalStateException.class,
                    () -> SemiringMatmul.forward(ctx, Semiring.LOG, a, b, c), "closed");
            rejectedBeforeNative(IllegalStateException.class, () -> Tensor.allocate(ctx, DType.FLOAT32, 2), "closed");
            rejectedBeforeNative(IllegalStateException.class, () -> ctx.setNumThreads(1), "closed");
            Context checked = Context.checkingContext(Context.cpu());
            checked.close();
            rejectedBeforeNative(IllegalStateException.class,
                    () -> SemiringMatmul.forward(checked, Semiring.LOG, a, b, c), "closed");
            assertArrayEquals(new float[] {1, 1, 1, 1}, c.toFloatArray());
        }
    }

    @Test
    void hostTensorsAreIndependentOfTheContextThatAllocatedThem() {
        // A CPU context's allocate gives host memory owned by the tensor: it stays valid after that
        // context closes and gives identical results in another context.
        Context first = Context.cpu();
        Tensor a = Tensor.allocate(first, DType.FLOAT64, 2, 3);
        Tensor b = Tensor.allocate(first, DType.FLOAT64, 3, 2);
        try (Context second = Context.cpu()) {
            for (long i = 0; i < 6; i++) {
                a.reshape(6).setDouble(i * 0.5, i);
                b.reshape(6).setDouble(1 - i * 0.25, i);
            }
            double[] inFirst;
            try (SemiringMatmul.Result r = SemiringMatmul.forward(first, Semiring.LOG, a, b)) {
                inFirst = r.c().toDoubleArray();
            }
            first.close();
            try (SemiringMatmul.Result r = SemiringMatmul.forward(second, Semiring.LOG, a, b)) {
                assertArrayEquals(inFirst, r.c().toDoubleArray());
            }
        } finally {
            a.close();
            b.close();
        }
    }

    @Test
    void deviceTensorsAreRejectedByACpuContext() {
        // A CUDA pointer from elsewhere (never dereferenced: the check comes first).
        MemorySegment fakeDevicePointer = MemorySegment.ofAddress(0x7000_0000_0000L);
        Tensor onDevice = Tensor.wrapDevice(Device.cuda(0), fakeDevicePointer, DType.FLOAT32, new long[] {2, 3},
                new long[] {3, 1});
        try (Context ctx = Context.cpu(); Tensor b = ones(3, 2); Tensor c = ones(2, 2)) {
            rejectedBeforeNative(IllegalArgumentException.class,
                    () -> SemiringMatmul.forward(ctx, Semiring.MAX, onDevice, b, c), "'a'", "cuda:0", "cpu");
            rejectedBeforeNative(IllegalStateException.class, onDevice::toFloatArray, "cuda:0", "copyTo(context");
            assertArrayEquals(new float[] {1, 1, 1, 1}, c.toFloatArray());
        } finally {
            onDevice.close();
        }
    }

    @Test
    void confinedArenaMemoryIsRejectedOnAnotherThread() throws Exception {
        try (Arena confined = Arena.ofConfined(); Context ctx = Context.synchronizedContext(Context.cpu());
             ExecutorService other = Executors.newSingleThreadExecutor()) {
            Tensor a = Tensor.wrap(confined.allocate(6 * 4L, 4), DType.FLOAT32, 2, 3);
            try (Tensor b = ones(3, 2); Tensor c = ones(2, 2)) {
                SemiringMatmul.forward(ctx, Semiring.REAL, a, b, c); // the owner thread may use it
                assertArrayEquals(new float[] {0, 0, 0, 0}, c.toFloatArray());
                for (Thread.Builder builder : new Thread.Builder[] {Thread.ofPlatform(), Thread.ofVirtual()}) {
                    Future<WrongThreadException> result = other.submit(() -> {
                        Thread[] worker = new Thread[1];
                        WrongThreadException[] caught = new WrongThreadException[1];
                        worker[0] = builder.start(() -> caught[0] = rejectedBeforeNative(WrongThreadException.class,
                                () -> SemiringMatmul.forward(ctx, Semiring.REAL, a, b, c), "confined", "another thread"));
                        worker[0].join();
                        return caught[0];
                    });
                    assertTrue(result.get() != null, "no WrongThreadException on " + builder);
                }
            } catch (ExecutionException e) {
                throw new AssertionError(e.getCause());
            } finally {
                a.close();
            }
        }
    }

    @Test
    void shapesWhoseByteSizeOverflowsAreRejected() {
        long big = 1L << 31;
        rejectedBeforeNative(IllegalArgumentException.class,
                () -> Tensor.allocateHost(DType.FLOAT64, big, big, 4), "2^63");
        try (Arena arena = Arena.ofConfined(); Context ctx = Context.cpu()) {
            MemorySegment small = arena.allocate(64, 8);
            rejectedBeforeNative(IllegalArgumentException.class,
                    () -> Tensor.wrap(small, DType.FLOAT64, Long.MAX_VALUE / 4, 2), "2^63");
            rejectedBeforeNative(IllegalArgumentException.class,
                    () -> Tensor.allocate(ctx, DType.FLOAT32, 1L << 62, 1L << 62), "2^63");
        }
    }
}
