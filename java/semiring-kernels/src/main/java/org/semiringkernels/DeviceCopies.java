package org.semiringkernels;

import java.lang.foreign.MemorySegment;
import java.util.Arrays;

import org.semiringkernels.bindings.semiring_kernels_h;

/**
 * Copies where at least one side is device memory: one {@code sk_memcpy} of contiguous bytes on
 * the device tensor's context (it returns once the copy is complete). A strided host side is
 * staged through a contiguous host buffer; a strided device side is refused (there is no device
 * gather kernel in the ABI).
 */
final class DeviceCopies {

    private DeviceCopies() {
    }

    /** Copies on the device side's own context (the one that allocated it). */
    static void copy(Tensor src, Tensor dst) {
        copy(contextFor(src, dst), src, dst);
    }

    /** Copies on {@code context}, which must be on the device side's device. */
    static void copy(Context context, Tensor src, Tensor dst) {
        requireSameDevices(src, dst);
        Device device = (src.isHost() ? dst : src).device();
        if (!context.device().equals(device)) {
            throw new IllegalArgumentException("argument 'context': the copy involves " + device
                    + " memory but the context is on " + context.device());
        }
        requireContiguousDevice(src, "this (the source)");
        requireContiguousDevice(dst, "dst");
        if (src.isHost() && !src.isContiguous()) {
            try (Tensor staged = src.toHost()) {
                memcpy(context, staged, dst);
            }
            return;
        }
        if (dst.isHost() && !dst.isContiguous()) {
            try (Tensor staged = Tensor.allocateHost(dst.dtype(), dst.shape())) {
                memcpy(context, src, staged);
                staged.copyTo(dst);
            }
            return;
        }
        memcpy(context, src, dst);
    }

    /** The context of the device side; both device sides must be on the same device. */
    private static Context contextFor(Tensor src, Tensor dst) {
        requireSameDevices(src, dst);
        Tensor deviceSide = src.isHost() ? dst : src;
        Context context = deviceSide.storage().context();
        if (context == null) {
            throw new IllegalStateException(deviceSide.describe() + " wraps memory it does not own and has no "
                    + "context; copy with copyTo(context, dst) using a context on " + deviceSide.device());
        }
        return context;
    }

    private static void requireSameDevices(Tensor src, Tensor dst) {
        if (!src.isHost() && !dst.isHost() && !src.device().equals(dst.device())) {
            throw new IllegalArgumentException("argument 'dst': copies between devices (" + src.device() + " to "
                    + dst.device() + ") are not supported; go through the host");
        }
    }

    private static void requireContiguousDevice(Tensor t, String argument) {
        if (!t.isHost() && !t.isContiguous()) {
            throw new IllegalArgumentException("argument '" + argument + "': copies of device memory need a contiguous "
                    + "tensor; " + t.describe() + " has strides " + Arrays.toString(t.strides()));
        }
    }

    private static void memcpy(Context context, Tensor src, Tensor dst) {
        long bytes = src.elementCount() * src.dtype().byteSize();
        src.acquire("copyTo");
        try {
            dst.acquire("copyTo");
            try {
                context.call("copyTo", h -> {
                    Native.check(semiring_kernels_h.sk_memcpy(h,
                            MemorySegment.ofAddress(dst.dataAddress()), dst.device().type().code(),
                            MemorySegment.ofAddress(src.dataAddress()), src.device().type().code(), bytes), h);
                    return null;
                });
            } finally {
                dst.release();
            }
        } finally {
            src.release();
        }
    }
}
