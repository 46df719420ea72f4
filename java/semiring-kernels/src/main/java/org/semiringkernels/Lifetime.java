package org.semiringkernels;

import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Supplier;

/**
 * Open/closed state of a native resource plus a count of calls using it. Native calls acquire it
 * for their duration; close() marks it closed at once and frees the resource when the last
 * running call releases it, so a close racing with a call can never free memory under it.
 * The free action runs exactly once.
 */
final class Lifetime {

    private static final long CLOSED = 1L << 62;

    private final AtomicLong state = new AtomicLong();
    private final AtomicBoolean freed = new AtomicBoolean();
    private final Runnable free;

    Lifetime(Runnable free) {
        this.free = free;
    }

    /**
     * Registers one more user.
     *
     * @param what      the resource, for the message (e.g. "Tensor FLOAT32[2, 3] on cpu"); only
     *                  evaluated on failure, since this runs on every native call
     * @param operation what wanted to use it
     * @throws IllegalStateException when closed
     */
    void acquire(Supplier<String> what, String operation) {
        while (true) {
            long s = state.get();
            if ((s & CLOSED) != 0) {
                throw new IllegalStateException(what.get() + " is closed; " + operation + " cannot use it");
            }
            if (state.compareAndSet(s, s + 1)) {
                return;
            }
        }
    }

    void release() {
        if (state.decrementAndGet() == CLOSED) {
            runFree();
        }
    }

    /** Marks closed; frees now when unused, else when the last user releases. False if already closed. */
    boolean close() {
        while (true) {
            long s = state.get();
            if ((s & CLOSED) != 0) {
                return false;
            }
            if (state.compareAndSet(s, s | CLOSED)) {
                if (s == 0) {
                    runFree();
                }
                return true;
            }
        }
    }

    boolean isClosed() {
        return (state.get() & CLOSED) != 0;
    }

    private void runFree() {
        if (freed.compareAndSet(false, true)) {
            free.run();
        }
    }
}
