package org.semiringkernels.loader;

import java.util.Locale;

/**
 * The platform folder of the bundled native library, {@code natives/<os>-<arch>/}, derived from
 * {@code os.name} and {@code os.arch} with the JDK's spellings normalised (amd64 = x86_64,
 * arm64 = aarch64).
 *
 * @param os   normalised operating system: linux, macos, windows or the raw lower-case name
 * @param arch normalised architecture: x86_64, aarch64 or the raw lower-case name
 */
public record Platform(String os, String arch) {

    /** The platform of the running JVM. */
    public static Platform current() {
        return of(System.getProperty("os.name", "unknown"), System.getProperty("os.arch", "unknown"));
    }

    /** Normalises JDK os.name / os.arch values. */
    public static Platform of(String osName, String osArch) {
        String os = osName.toLowerCase(Locale.ROOT);
        if (os.startsWith("linux")) {
            os = "linux";
        } else if (os.startsWith("mac") || os.startsWith("darwin")) {
            os = "macos";
        } else if (os.startsWith("windows")) {
            os = "windows";
        } else {
            os = os.replaceAll("[^a-z0-9]+", "");
        }
        String arch = osArch.toLowerCase(Locale.ROOT);
        arch = switch (arch) {
            case "amd64", "x86_64", "x86-64", "x64" -> "x86_64";
            case "aarch64", "arm64" -> "aarch64";
            default -> arch.replaceAll("[^a-z0-9_]+", "");
        };
        return new Platform(os, arch);
    }

    /** {@code <os>-<arch>}, e.g. {@code linux-x86_64}. */
    public String id() {
        return os + "-" + arch;
    }

    /** The class-path folder holding this platform's library and properties file. */
    public String resourceFolder() {
        return "natives/" + id() + "/";
    }

    /** The file name of the library on this platform, e.g. {@code libsemiring_kernels.so}. */
    public String libraryFileName() {
        return switch (os) {
            case "macos" -> "libsemiring_kernels.dylib";
            case "windows" -> "semiring_kernels.dll";
            default -> "libsemiring_kernels.so";
        };
    }

    /** {@code os.name}/{@code os.arch} as the JVM reports them plus the folder name, for errors. */
    public String describe() {
        return id() + " (os.name=" + System.getProperty("os.name") + ", os.arch="
                + System.getProperty("os.arch") + ")";
    }
}
