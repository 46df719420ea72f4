package org.semiringkernels;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import org.semiringkernels.bindings.semiring_kernels_h;

/**
 * The memory behind a tensor and its views: where it is, how big, who frees it. Memory Java
 * allocates Java frees (an Arena); memory the library allocates (sk_malloc) the library frees
 * (sk_free, with the same context) — never crossed.
 */
abstract sealed class Storage permits Storage.HostArena, Storage.Wrapped, Storage.ContextBuffer {

    private final Device device;
    private final long address;
    private final long byteSize;
    final Lifetime lifetime;

    Storage(Device device, long address, long byteSize) {
        this.device = device;
        this.address = address;
        this.byteSize = byteSize;
        this.lifetime = new Lifetime(this::free);
    }

    final Device device() {
        return device;
    }

    /** Address of the first byte. */
    final long address() {
        return address;
    }

    final long byteSize() {
        return byteSize;
    }

    /** The whole allocation as a host segment; only for host memory. */
    abstract MemorySegment hostSegment();

    /** Throws IllegalStateException when memory the tensor does not own has gone away. */
    void checkUsable(java.util.function.Supplier<String> what, String operation) {
    }

    /** The context whose discipline memory copies of a device buffer run under (null for host). */
    Context context() {
        return null;
    }

    abstract void free();

    // ---- host memory from a shared Arena ------------------------------------------------------

    /**
     * Host memory owned by the tensor. A shared arena (not confined: tensors cross threads; not
     * auto: freed deterministically on close). Its close is paid once per tensor, not per call.
     */
    static final class HostArena extends Storage {
        private final Arena arena;
        private final MemorySegment segment;

        private HostArena(Arena arena, MemorySegment segment) {
            super(Device.CPU, segment.address(), segment.byteSize());
            this.arena = arena;
            this.segment = segment;
        }

        /** Zero-filled, aligned to 64 bytes (at least the element size). */
        static HostArena allocate(long byteSize) {
            Arena arena = Arena.ofShared();
            try {
                return new HostArena(arena, arena.allocate(Math.max(byteSize, 1), 64));
            } catch (RuntimeException | OutOfMemoryError e) {
                arena.close();
                throw e;
            }
        }

        @Override
        MemorySegment hostSegment() {
            return segment;
        }

        @Override
        void free() {
            arena.close();
        }
    }

    // ---- a user's host segment, zero copy ------------------------------------------------------

    /**
     * Memory the user owns: a host segment, or a device pointer from elsewhere (for example
     * another CUDA library). Closing the tensor never frees it.
     */
    static final class Wrapped extends Storage {
        private final MemorySegment segment;

        /** A native host segment. */
        Wrapped(MemorySegment segment) {
            super(Device.CPU, segment.address(), segment.byteSize());
            this.segment = segment;
        }

        /** A device pointer; no host access. */
        Wrapped(Device device, long address, long byteSize) {
            super(device, address, byteSize);
            this.segment = null;
        }

        @Override
        MemorySegment hostSegment() {
            if (segment == null) {
                throw new IllegalStateException("a tensor on " + device() + " has no host memory; copy it with "
                        + "copyTo(context, hostTensor)");
            }
            return segment;
        }

        @Override
        void checkUsable(java.util.function.Supplier<String> what, String operation) {
            if (segment != null && !segment.scope().isAlive()) {
                throw new IllegalStateException(what.get() + " wraps a segment whose arena has been closed; "
                        + operation + " cannot use it");
            }
            // The native call reads the raw address, which no confinement check would see: a
            // confined arena's memory is usable only by its owner thread (which alone can close it).
            if (segment != null && !segment.isAccessibleBy(Thread.currentThread())) {
                throw new WrongThreadException(what.get() + " wraps a segment of a confined arena owned by "
                        + "another thread; " + operation + " cannot use it from " + Thread.currentThread());
            }
        }

        @Override
        void free() {
            // the user's memory: nothing to free
        }
    }

    // ---- memory from sk_malloc on a context ---------------------------------------------------

    /**
     * A buffer from {@code sk_malloc} on a context, freed with {@code sk_free} on the same context
     * when the tensor closes, or by the context when it closes first. CPU buffers are also host
     * memory; their host segment belongs to a shared arena closed before the free, so a segment
     * kept by a caller throws instead of touching freed memory.
     */
    static final class ContextBuffer extends Storage {
        private final Context context;
        private final NativeContext owner;
        private final Arena hostAccess;
        private final MemorySegment hostSegment;

        private ContextBuffer(Context context, long address, long byteSize) {
            super(context.device(), address, byteSize);
            this.context = context;
            this.owner = context.owner();
            if (context.device().isCpu()) {
                hostAccess = Arena.ofShared();
                hostSegment = MemorySegment.ofAddress(address).reinterpret(byteSize, hostAccess, null);
            } else {
                hostAccess = null;
                hostSegment = null;
            }
        }

        /** sk_malloc(bytes) on the context's device; not zero-filled. */
        static ContextBuffer allocate(Context context, long byteSize) {
            long address = context.call("Tensor.allocate", h -> {
                try (Arena arena = Arena.ofConfined()) {
                    MemorySegment out = arena.allocate(semiring_kernels_h.C_POINTER);
                    Native.check(semiring_kernels_h.sk_malloc(h, byteSize, out), h);
                    return out.get(semiring_kernels_h.C_POINTER, 0).address();
                }
            });
            ContextBuffer buffer = new ContextBuffer(context, address, byteSize);
            buffer.owner.register(buffer);
            return buffer;
        }

        @Override
        MemorySegment hostSegment() {
            if (hostSegment == null) {
                throw new IllegalStateException("a tensor on " + device() + " has no host memory; copy it with toHost()");
            }
            return hostSegment;
        }

        @Override
        Context context() {
            return context;
        }

        /** The context is freeing this buffer itself (it is being destroyed). */
        void freedByContext() {
            closeHostAccess();
            lifetime.close();
        }

        @Override
        void free() {
            if (!owner.unregister(this)) {
                return; // the context freed it when it was destroyed
            }
            closeHostAccess();
            try {
                context.call("Tensor.close", h -> {
                    Native.check(semiring_kernels_h.sk_free(h, MemorySegment.ofAddress(address())), h);
                    return null;
                });
            } catch (IllegalStateException contextClosedMeanwhile) {
                // close() of the context raced with this free; it frees what is registered.
                owner.reregisterForDestroy(this);
            }
        }

        private void closeHostAccess() {
            if (hostAccess != null && hostAccess.scope().isAlive()) {
                hostAccess.close();
            }
        }
    }
}
