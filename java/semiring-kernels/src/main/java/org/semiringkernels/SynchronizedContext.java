package org.semiringkernels;

import java.util.concurrent.locks.ReentrantLock;

/**
 * A context shared by many threads: each call holds a lock for its duration, so the native
 * context still sees one thread at a time. (A ReentrantLock rather than synchronized, so that a
 * virtual thread waiting for it does not pin its carrier on JDK 22/23.)
 */
final class SynchronizedContext extends Context {

    private final Context delegate;
    private final ReentrantLock lock = new ReentrantLock();

    SynchronizedContext(Context delegate) {
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
        lock.lock();
        try {
            delegate.close();
        } finally {
            lock.unlock();
        }
    }

    @Override
    <R> R call(String operation, NativeCall<R> call) {
        lock.lock();
        try {
            return delegate.call(operation, call);
        } finally {
            lock.unlock();
        }
    }

    @Override
    NativeContext owner() {
        return delegate.owner();
    }
}
