package org.semiringkernels;

import java.util.ConcurrentModificationException;
import java.util.concurrent.atomic.AtomicReference;

/**
 * A context that enforces "one thread at a time": a call (or close) from a second thread while
 * another thread's call is running throws {@link ConcurrentModificationException} naming both
 * threads, instead of silently racing in native code. Nested calls on the same thread are allowed.
 */
final class CheckingContext extends Context {

    private final Context delegate;
    private final AtomicReference<Thread> user = new AtomicReference<>();
    private int depth; // only touched by the thread that holds 'user'

    CheckingContext(Context delegate) {
        this.delegate = delegate;
    }

    @Override
    public Device device() {
        return delegate.device();
    }

    @Override
    public boolean isClosed() {
        return delegate.isClosed();
    }

    @Override
    public void close() {
        enter("close");
        try {
            delegate.close();
        } finally {
            exit();
        }
    }

    @Override
    <R> R call(String operation, NativeCall<R> call) {
        enter(operation);
        try {
            return delegate.call(operation, call);
        } finally {
            exit();
        }
    }

    @Override
    NativeContext owner() {
        return delegate.owner();
    }

    private void enter(String operation) {
        Thread me = Thread.currentThread();
        Thread holder = user.get();
        if (holder == me) {
            depth++;
            return;
        }
        if (!user.compareAndSet(null, me)) {
            Thread other = user.get();
            throw new ConcurrentModificationException(operation + " on " + delegate + " from thread " + me
                    + " while thread " + (other == null ? "(just finished)" : other.toString())
                    + " is using it: a Context is used by one thread at a time; give each thread its own "
                    + "context or share it through Context.synchronizedContext(...)");
        }
        depth = 1;
    }

    private void exit() {
        if (--depth == 0) {
            user.set(null);
        }
    }
}
