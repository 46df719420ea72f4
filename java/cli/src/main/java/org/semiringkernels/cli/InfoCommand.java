package org.semiringkernels.cli;

import java.io.PrintStream;
import java.util.Locale;

import org.semiringkernels.Backend;
import org.semiringkernels.Device;
import org.semiringkernels.DeviceInfo;
import org.semiringkernels.SemiringKernels;
import org.semiringkernels.loader.LoadedLibrary;

/** {@code info}: what is installed and what it can see. */
final class InfoCommand {

    private InfoCommand() {
    }

    static int run(String[] args, PrintStream out) {
        if (args.length > 0) {
            throw new IllegalArgumentException("info takes no arguments, got " + String.join(" ", args));
        }
        LoadedLibrary library = SemiringKernels.nativeLibrary();
        out.println("Semiring Kernels " + SemiringKernels.version());
        out.println("  native library:   " + library.path());
        out.println("                    (" + library.origin() + ")");
        out.println("  native version:   " + library.nativeVersion() + ", ABI " + library.abiVersion()
                + library.bundleProperty("git.sha").map(sha -> ", git " + sha).orElse(""));
        out.println("  CUDA compiled in: " + (library.cudaCompiled() ? "yes" : "no")
                + library.bundleProperty("cuda.version").filter(v -> library.cudaCompiled()).map(v -> " (nvcc " + v + ")").orElse(""));
        out.println("  backend:          " + Backend.configured().name().toLowerCase(Locale.ROOT)
                + " (-Dsemiringkernels.backend)");
        out.println("  devices:");
        for (Device device : Device.visibleDevices()) {
            out.println("    " + describe(device));
        }
        String cause = Device.unavailabilityCause();
        if (!cause.isEmpty()) {
            out.println("  CUDA unavailable: " + cause);
        }
        return 0;
    }

    static String describe(Device device) {
        if (device.isCpu()) {
            return String.format(Locale.ROOT, "%-7s %s, %d hardware threads", "cpu", System.getProperty("os.arch"),
                    Runtime.getRuntime().availableProcessors());
        }
        DeviceInfo info = device.info();
        return String.format(Locale.ROOT, "%-7s %s, %.1f GiB, compute capability %s, %d multiprocessors", device,
                info.name(), info.totalMemoryBytes() / (1024.0 * 1024 * 1024), info.computeCapability(),
                info.multiprocessorCount());
    }
}
