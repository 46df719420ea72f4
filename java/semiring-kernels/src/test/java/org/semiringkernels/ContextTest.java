package org.semiringkernels;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

import org.junit.jupiter.api.Test;
import org.semiringkernels.bindings.semiring_kernels_h;

/** Context settings, errors read from the failing context, and use after close. */
class ContextTest {

    @Test
    void settingsRoundTrip() {
        try (Context context = Context.cpu()) {
            assertEquals(Device.CPU, context.device());
            context.setNumThreads(3);
            assertEquals(3, context.numThreads());
            context.setNumThreads(0);
            context.setWorkspaceLimit(1 << 20);
            context.synchronize();
            context.releaseWorkspace();
            assertEquals(0, context.workspaceBytes(), "released workspace holds nothing");
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> context.setNumThreads(-1));
            assertTrue(e.getMessage().contains("argument 'numThreads'"), e.getMessage());
            assertThrows(IllegalArgumentException.class, () -> context.setWorkspaceLimit(-5));
        }
    }

    @Test
    void theLibraryRejectsWhatJavaLetsThrough() {
        try (Context context = Context.cpu()) {
            SemiringKernelsException e = assertThrows(SemiringKernelsException.class, () -> context.setNumThreads(100000));
            assertEquals(semiring_kernels_h.SK_ERROR_INVALID_ARGUMENT(), e.status());
            assertTrue(e.nativeMessage().contains("argument 'num_threads'"), e.nativeMessage());
        }
    }

    @Test
    void workspaceLimitFailureComesWithTheContextsMessage() {
        try (Context limited = Context.cpu();
             Context other = Context.cpu();
             Tensor a = Tensor.fromArray(new double[64 * 64], 64, 64);
             Tensor c = Tensor.allocateHost(DType.FLOAT64, 64, 64)) {
            limited.setWorkspaceLimit(1);
            SemiringKernelsException e = assertThrows(SemiringKernelsException.class,
                    () -> SemiringMatmul.forward(limited, Semiring.LOG, a, a, c));
            assertEquals(semiring_kernels_h.SK_ERROR_OUT_OF_MEMORY(), e.status());
            assertEquals("SK_ERROR_OUT_OF_MEMORY", e.statusName());
            String recorded = limited.call("test", h -> Native.string(semiring_kernels_h.sk_context_last_error(h)));
            assertEquals(recorded, e.nativeMessage(), "the message is the failing context's last error");
            assertFalse(recorded.isEmpty());
            String untouched = other.call("test", h -> Native.string(semiring_kernels_h.sk_context_last_error(h)));
            assertEquals("", untouched, "another context keeps its own (empty) error");
            SemiringMatmul.forward(other, Semiring.LOG, a, a, c); // the other context still works
        }
    }

    @Test
    void contextCreationFailureReadsTheThreadsLastError() {
        SemiringKernelsException e = assertThrows(SemiringKernelsException.class, () -> Context.create(Device.cuda(999)));
        assertEquals(semiring_kernels_h.SK_ERROR_DEVICE(), e.status());
        assertTrue(e.nativeMessage().startsWith("sk_context_create"), e.nativeMessage());
    }

    @Test
    void everyMethodThrowsAfterClose() {
        Context context = Context.cpu();
        context.close();
        context.close(); // idempotent
        assertTrue(context.isClosed());
        for (Runnable use : new Runnable[] {() -> context.setNumThreads(1), context::numThreads, context::synchronize,
                context::workspaceBytes, context::releaseWorkspace, () -> context.setWorkspaceLimit(0)}) {
            IllegalStateException e = assertThrows(IllegalStateException.class, use::run);
            assertTrue(e.getMessage().contains("Context on cpu is closed"), e.getMessage());
        }
        try (Tensor a = Tensor.fromArray(new float[] {1, 2, 3, 4}, 2, 2)) {
            assertThrows(IllegalStateException.class, () -> SemiringMatmul.forward(context, Semiring.REAL, a, a));
            assertThrows(IllegalStateException.class, () -> Tensor.allocate(context, DType.FLOAT32, 2));
        }
    }

    @Test
    void closeDuringACallIsDeferredUntilItReturns() throws Exception {
        Context context = Context.cpu();
        CountDownLatch inside = new CountDownLatch(1);
        CountDownLatch proceed = new CountDownLatch(1);
        AtomicReference<Object> result = new AtomicReference<>();
        Thread caller = Thread.ofPlatform().start(() -> result.set(context.call("slow", h -> {
            inside.countDown();
            try {
                proceed.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            // The handle is still valid although close() has returned meanwhile.
            return semiring_kernels_h.sk_context_synchronize(h);
        })));
        assertTrue(inside.await(10, TimeUnit.SECONDS));
        context.close();
        assertTrue(context.isClosed());
        assertThrows(IllegalStateException.class, context::numThreads, "new calls are refused at once");
        proceed.countDown();
        caller.join(10_000);
        assertEquals(semiring_kernels_h.SK_OK(), result.get(), "the running call completed on a live context");
    }
}
