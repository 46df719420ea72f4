package org.semiringkernels;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

import org.semiringkernels.bindings.semiring_kernels_h;

/**
 * The context that owns an {@code sk_context*}. Calls acquire its {@link Lifetime}, so closing it
 * while a call runs defers {@code sk_context_destroy} until that call returns. It also keeps the
 * device buffers allocated through it and frees the remaining ones when destroyed.
 */
final class NativeContext extends Context {

    private final Device device;
    private final MemorySegment handle;
    private final Lifetime lifetime;
    private final Object buffersLock = new Object();
    private final Set<Storage.ContextBuffer> buffers = new HashSet<>();
    private boolean destroyed;

    private NativeContext(Device device, MemorySegment handle) {
        this.device = device;
        this.handle = handle;
        this.lifetime = new Lifetime(this::destroy);
    }

    static NativeContext open(Device device) {
        Native.library();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(semiring_kernels_h.C_POINTER);
            Native.checkNoContext(semiring_kernels_h.sk_context_create(device.type().code(), device.index(), out));
            return new NativeContext(device, out.get(semiring_kernels_h.C_POINTER, 0));
        }
    }

    @Override
    public Device device() {
        return device;
    }

    @Override
    public boolean isClosed() {
        return lifetime.isClosed();
    }

    @Override
    public void close() {
        lifetime.close();
    }

    @Override
    <R> R call(String operation, NativeCall<R> call) {
        lifetime.acquire(this::describe, operation);
        try {
            return call.apply(handle);
        } finally {
            lifetime.release();
        }
    }

    @Override
    NativeContext owner() {
        return this;
    }

    private String describe() {
        return "Context on " + device;
    }

    // ---- device buffers -------------------------------------------------------------------------

    void register(Storage.ContextBuffer buffer) {
        synchronized (buffersLock) {
            buffers.add(buffer);
        }
    }

    /**
     * Takes a buffer out of the registry before its owner frees it. False when the context has
     * already freed it (destroyed) or it is not registered.
     */
    boolean unregister(Storage.ContextBuffer buffer) {
        synchronized (buffersLock) {
            return !destroyed && buffers.remove(buffer);
        }
    }

    /** Puts a buffer back whose free lost a race with close(); true when destroy will free it. */
    boolean reregisterForDestroy(Storage.ContextBuffer buffer) {
        synchronized (buffersLock) {
            if (destroyed) {
                return false;
            }
            buffers.add(buffer);
            return true;
        }
    }

    /** Runs once, when closed and no call is running: frees the remaining buffers, then the context. */
    private void destroy() {
        List<Storage.ContextBuffer> remaining;
        synchronized (buffersLock) {
            destroyed = true;
            remaining = new ArrayList<>(buffers);
            buffers.clear();
        }
        SemiringKernelsException firstFailure = null;
        for (Storage.ContextBuffer buffer : remaining) {
            buffer.freedByContext();
            int status = semiring_kernels_h.sk_free(handle, MemorySegment.ofAddress(buffer.address()));
            if (status != semiring_kernels_h.SK_OK() && firstFailure == null) {
                firstFailure = new SemiringKernelsException(status, Native.statusName(status),
                        Native.string(semiring_kernels_h.sk_context_last_error(handle)));
            }
        }
        Native.checkNoContext(semiring_kernels_h.sk_context_destroy(handle));
        if (firstFailure != null) {
            throw firstFailure;
        }
    }
}
