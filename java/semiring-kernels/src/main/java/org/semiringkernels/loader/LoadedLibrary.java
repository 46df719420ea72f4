package org.semiringkernels.loader;

import java.lang.foreign.SymbolLookup;
import java.nio.file.Path;
import java.util.Optional;
import java.util.Properties;

/**
 * The native library this process loaded, and where it came from.
 */
public final class LoadedLibrary {

    private final Path path;
    private final String origin;
    private final boolean extracted;
    private final Platform platform;
    private final String nativeVersion;
    private final int abiVersion;
    private final boolean cudaCompiled;
    private final Properties bundle;
    private final SymbolLookup lookup;

    LoadedLibrary(Path path, String origin, boolean extracted, Platform platform, String nativeVersion,
                  int abiVersion, boolean cudaCompiled, Properties bundle, SymbolLookup lookup) {
        this.path = path;
        this.origin = origin;
        this.extracted = extracted;
        this.platform = platform;
        this.nativeVersion = nativeVersion;
        this.abiVersion = abiVersion;
        this.cudaCompiled = cudaCompiled;
        this.bundle = bundle;
        this.lookup = lookup;
    }

    /** The file that was loaded (for a bundled library: the extracted copy). */
    public Path path() {
        return path;
    }

    /** Where the library came from, e.g. the override property or the jar resource. */
    public String origin() {
        return origin;
    }

    /** True when the library was extracted from the jar, false for an override. */
    public boolean extracted() {
        return extracted;
    }

    public Platform platform() {
        return platform;
    }

    /** {@code sk_version_string()} of the loaded library. */
    public String nativeVersion() {
        return nativeVersion;
    }

    /** {@code sk_abi_version()} of the loaded library (equal to the header's, or loading failed). */
    public int abiVersion() {
        return abiVersion;
    }

    /** {@code sk_cuda_compiled()}: whether the library contains the CUDA backend. */
    public boolean cudaCompiled() {
        return cudaCompiled;
    }

    /** A property of the bundle's semiring_kernels.properties (empty for an override). */
    public Optional<String> bundleProperty(String key) {
        return Optional.ofNullable(bundle.getProperty(key));
    }

    /** A copy of the bundle's semiring_kernels.properties (empty for an override). */
    public Properties bundleProperties() {
        Properties copy = new Properties();
        copy.putAll(bundle);
        return copy;
    }

    /** Finds the library's symbols; what the bindings' SYMBOL_LOOKUP uses. */
    public SymbolLookup lookup() {
        return lookup;
    }

    @Override
    public String toString() {
        return "semiring_kernels " + nativeVersion + " (ABI " + abiVersion + ", CUDA "
                + (cudaCompiled ? "compiled in" : "not compiled in") + ") from " + path + " [" + origin + "]";
    }
}
