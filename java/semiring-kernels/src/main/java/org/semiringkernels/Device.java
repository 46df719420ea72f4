package org.semiringkernels;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;

import org.semiringkernels.bindings.semiring_kernels_h;
import org.semiringkernels.bindings.sk_device_info;
import org.semiringkernels.loader.NativeLibrary;

/**
 * Where a tensor lives and a context runs: the CPU, or a CUDA device by ordinal.
 *
 * <p>The CPU always works. CUDA is usable when the library was built with it, the driver
 * reports a device, and the backend property ({@code semiringkernels.backend}) does not say
 * {@code cpu}; otherwise {@link #unavailabilityCause()} says why.
 *
 * @param type  CPU or CUDA
 * @param index the CUDA ordinal; 0 for the CPU
 */
public record Device(Type type, int index) {

    /** Device kinds, with the header's {@code sk_device_type} codes (checked against the bindings by a test). */
    public enum Type {
        CPU(0),
        CUDA(1);

        private final int code;

        Type(int code) {
            this.code = code;
        }

        /** The {@code sk_device_type} value. */
        public int code() {
            return code;
        }
    }

    /** The host CPU. */
    public static final Device CPU = new Device(Type.CPU, 0);

    public Device {
        if (type == null) {
            throw new NullPointerException("argument 'type' is null");
        }
        if (type == Type.CPU && index != 0) {
            throw new IllegalArgumentException("argument 'index': the CPU device has index 0, got " + index);
        }
        if (index < 0) {
            throw new IllegalArgumentException("argument 'index': a CUDA ordinal is >= 0, got " + index);
        }
    }

    /** CUDA device {@code index} (not checked against the devices present until it is used). */
    public static Device cuda(int index) {
        return new Device(Type.CUDA, index);
    }

    public boolean isCpu() {
        return type == Type.CPU;
    }

    public boolean isCuda() {
        return type == Type.CUDA;
    }

    /** "cpu" or "cuda:N". */
    @Override
    public String toString() {
        return isCpu() ? "cpu" : "cuda:" + index;
    }

    // ---- capabilities -------------------------------------------------------------------------

    /** Whether the loaded library contains the CUDA backend. */
    public static boolean cudaCompiled() {
        return Native.library().cudaCompiled();
    }

    /** The number of CUDA devices the driver reports (0 without CUDA, driver or device). */
    public static int cudaDeviceCount() {
        Native.library();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment count = arena.allocate(semiring_kernels_h.C_INT);
            Native.checkNoContext(semiring_kernels_h.sk_cuda_device_count(count));
            return count.get(semiring_kernels_h.C_INT, 0);
        }
    }

    /** True when CUDA can be used: compiled in, a device answers, and the backend is not forced to cpu. */
    public static boolean cudaAvailable() {
        return unavailabilityCause().isEmpty();
    }

    /** Why CUDA cannot be used ("" when it can): backend forced to cpu, not compiled in, no driver, no device. */
    public static String unavailabilityCause() {
        if (Backend.configured() == Backend.CPU) {
            return "CUDA is disabled by -D" + NativeLibrary.BACKEND_PROPERTY + "=cpu";
        }
        Native.library();
        String reason = Native.string(semiring_kernels_h.sk_cuda_unavailable_reason());
        if (!reason.isEmpty()) {
            return reason;
        }
        return cudaDeviceCount() > 0 ? "" : "the CUDA driver reports no device";
    }

    /**
     * The best device per the backend property: CUDA device 0 when available (auto), the CPU when
     * not (auto) or when forced (cpu); with {@code cuda} forced and unavailable, an error saying why.
     */
    public static Device best() {
        Backend backend = Backend.configured();
        if (backend == Backend.CPU) {
            return CPU;
        }
        String cause = unavailabilityCause();
        if (cause.isEmpty()) {
            return cuda(0);
        }
        if (backend == Backend.CUDA) {
            throw new IllegalStateException("-D" + NativeLibrary.BACKEND_PROPERTY
                    + "=cuda requires a CUDA device, but CUDA is unavailable: " + cause
                    + " (use -D" + NativeLibrary.BACKEND_PROPERTY + "=auto to fall back to the CPU)");
        }
        return CPU;
    }

    /** The CPU plus every CUDA device the driver reports (none when the backend is forced to cpu). */
    public static List<Device> visibleDevices() {
        List<Device> devices = new ArrayList<>();
        devices.add(CPU);
        if (Backend.configured() != Backend.CPU) {
            int count = cudaDeviceCount();
            for (int i = 0; i < count; i++) {
                devices.add(cuda(i));
            }
        }
        return devices;
    }

    /** Name, memory, compute capability and multiprocessors of CUDA device {@code index}. */
    public static DeviceInfo cudaDeviceInfo(int index) {
        Native.library();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment info = sk_device_info.allocate(arena);
            Native.checkNoContext(semiring_kernels_h.sk_cuda_device_info(index, info));
            return new DeviceInfo(index,
                    sk_device_info.name(info).getString(0),
                    sk_device_info.total_memory_bytes(info),
                    sk_device_info.compute_capability_major(info),
                    sk_device_info.compute_capability_minor(info),
                    sk_device_info.multiprocessor_count(info));
        }
    }

    /** {@link #cudaDeviceInfo(int)} of this CUDA device. */
    public DeviceInfo info() {
        if (!isCuda()) {
            throw new IllegalStateException("device info is available for CUDA devices; this is the cpu");
        }
        return cudaDeviceInfo(index);
    }
}
