package org.semiringkernels;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import org.semiringkernels.bindings.semiring_kernels_h;

/**
 * A native {@code sk_context}: the device every op runs on, its CUDA stream (which lives in the
 * library), the caching workspace allocator and the CPU thread pool.
 *
 * <p><b>Threads.</b> A context is used by one thread at a time; distinct contexts run
 * concurrently. Give each thread its own (contexts are cheap), or share one through
 * {@link #synchronizedContext(Context)}, which serialises every call. {@link #checkingContext(Context)}
 * fails fast with a {@link java.util.ConcurrentModificationException} when two threads overlap
 * (tests use it to prove a code path keeps the rule).
 *
 * <p><b>Lifetime.</b> {@link #close()} frees the native context and every device buffer still
 * allocated through it; afterwards every method throws {@link IllegalStateException} before any
 * native call. Closing twice is harmless.
 *
 * <p><b>Errors.</b> A failing call throws {@link SemiringKernelsException} with the message the
 * library recorded on this context ({@code sk_context_last_error}).
 */
public abstract sealed class Context implements AutoCloseable
        permits NativeContext, SynchronizedContext, CheckingContext {

    Context() {
    }

    /** A new context on {@code device}. For CUDA this creates a non-blocking stream on that device. */
    public static Context create(Device device) {
        if (device == null) {
            throw new NullPointerException("argument 'device' is null");
        }
        return NativeContext.open(device);
    }

    /** A new CPU context. */
    public static Context cpu() {
        return create(Device.CPU);
    }

    /** A new context on {@link Device#best()}. */
    public static Context best() {
        return create(Device.best());
    }

    /**
     * A view of {@code context} that many threads may use at once: every call holds a lock for its
     * duration. Closing the view closes the context.
     */
    public static Context synchronizedContext(Context context) {
        if (context == null) {
            throw new NullPointerException("argument 'context' is null");
        }
        return new SynchronizedContext(context);
    }

    /**
     * A view of {@code context} that throws {@link java.util.ConcurrentModificationException}
     * when a second thread calls it while another thread's call is running (for tests and
     * debugging). Closing the view closes the context.
     */
    public static Context checkingContext(Context context) {
        if (context == null) {
            throw new NullPointerException("argument 'context' is null");
        }
        return new CheckingContext(context);
    }

    /** The device this context runs on. */
    public abstract Device device();

    /** True once {@link #close()} has been called. */
    public abstract boolean isClosed();

    /** Frees the native context and every device buffer allocated through it (idempotent). */
    @Override
    public abstract void close();

    /**
     * Runs {@code call} with the live native handle under this context's discipline (plain,
     * locked or checked). Throws IllegalStateException before calling when closed.
     */
    abstract <R> R call(String operation, NativeCall<R> call);

    /** The context that owns the native handle (this, or the one a wrapper wraps). */
    abstract NativeContext owner();

    /** A native call that receives the {@code sk_context*}. */
    @FunctionalInterface
    interface NativeCall<R> {
        R apply(MemorySegment handle);
    }

    // ---- settings and queries -------------------------------------------------------------------

    /** Number of CPU threads for this context's kernels; 0 = hardware concurrency (the default). */
    public void setNumThreads(int numThreads) {
        if (numThreads < 0) {
            throw new IllegalArgumentException("argument 'numThreads': must be >= 0 (0 = hardware concurrency), got "
                    + numThreads);
        }
        call("setNumThreads", h -> {
            Native.check(semiring_kernels_h.sk_context_set_num_threads(h, numThreads), h);
            return null;
        });
    }

    /** The configured CPU thread count (0 = hardware concurrency). */
    public int numThreads() {
        return call("numThreads", h -> {
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment out = arena.allocate(semiring_kernels_h.C_INT);
                Native.check(semiring_kernels_h.sk_context_num_threads(h, out), h);
                return out.get(semiring_kernels_h.C_INT, 0);
            }
        });
    }

    /**
     * Upper bound in bytes for the scratch memory this context may hold (0 = unlimited, the
     * default). An op needing more fails with SK_ERROR_OUT_OF_MEMORY naming the need and the limit.
     */
    public void setWorkspaceLimit(long bytes) {
        if (bytes < 0) {
            throw new IllegalArgumentException("argument 'bytes': must be >= 0 (0 = no limit), got " + bytes);
        }
        call("setWorkspaceLimit", h -> {
            Native.check(semiring_kernels_h.sk_context_set_workspace_limit(h, bytes), h);
            return null;
        });
    }

    /** Bytes currently held by the workspace cache. */
    public long workspaceBytes() {
        return call("workspaceBytes", h -> {
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment out = arena.allocate(semiring_kernels_h.C_LONG);
                Native.check(semiring_kernels_h.sk_context_workspace_bytes(h, out), h);
                return out.get(semiring_kernels_h.C_LONG, 0);
            }
        });
    }

    /** Releases the workspace cache. */
    public void releaseWorkspace() {
        call("releaseWorkspace", h -> {
            Native.check(semiring_kernels_h.sk_context_release_workspace(h), h);
            return null;
        });
    }

    /** Waits until all work queued on this context's stream has finished (no-op on the CPU). */
    public void synchronize() {
        call("synchronize", h -> {
            Native.check(semiring_kernels_h.sk_context_synchronize(h), h);
            return null;
        });
    }

    @Override
    public String toString() {
        return getClass().getSimpleName() + "[" + device() + (isClosed() ? ", closed" : "") + "]";
    }
}
