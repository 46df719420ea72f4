package org.semiringkernels.loader;

import java.lang.foreign.SymbolLookup;

import org.semiringkernels.bindings.semiring_kernels_h;

/**
 * Loads the Semiring Kernels native library once per class loader and hands its symbols to the
 * bindings ({@code semiring_kernels_h.SYMBOL_LOOKUP}).
 *
 * <p>Where the library comes from, in order:
 * <ol>
 *   <li>the system property {@value #LIBRARY_PATH_PROPERTY}, else the environment variable
 *       {@value #LIBRARY_PATH_ENV}: a file, or a directory holding {@code libsemiring_kernels.so}.
 *       Exactly that is loaded; there is never a fallback to the bundled copy.</li>
 *   <li>otherwise the copy in the jar, {@code natives/<os>-<arch>/}: extracted into a fresh
 *       private directory under {@value #WORK_DIR_PROPERTY} (default {@code java.io.tmpdir}),
 *       checked against the SHA-256 in {@code semiring_kernels.properties}, and deleted when the
 *       JVM exits unless {@value #KEEP_PROPERTY} is true.</li>
 * </ol>
 * The library is opened by path with {@code SymbolLookup.libraryLookup(path, Arena.global())}
 * (not {@code System.load}), so it is not tied to a class loader's native library table. After
 * opening it, {@code sk_abi_version()} must equal the header's {@code SK_ABI_VERSION}.
 *
 * <p>Any failure is one {@link NativeLibraryLoadError} listing every path tried, the platform,
 * the work directory, the dynamic loader's message and the property to set. The failure is
 * remembered: later calls throw the same error instead of trying other paths.
 */
public final class NativeLibrary {

    /** System property: a library file or a directory holding it; loaded exactly, no fallback. */
    public static final String LIBRARY_PATH_PROPERTY = "semiringkernels.library.path";
    /** Environment variable with the same meaning; the system property wins when both are set. */
    public static final String LIBRARY_PATH_ENV = "SEMIRINGKERNELS_LIBRARY_PATH";
    /** System property: the directory under which the bundled library is extracted. */
    public static final String WORK_DIR_PROPERTY = "semiringkernels.workdir";
    /** System property: when true, the extracted copy is left on disk at exit (for debugging). */
    public static final String KEEP_PROPERTY = "semiringkernels.keep";
    /** System property: auto | cpu | cuda, the backend {@code Device.best()} picks. */
    public static final String BACKEND_PROPERTY = "semiringkernels.backend";
    /** The properties file next to the bundled library. */
    public static final String PROPERTIES_FILE = "semiring_kernels.properties";

    private static final Object LOCK = new Object();
    private static volatile LoadedLibrary loaded;
    private static NativeLibraryLoadError failure;

    private NativeLibrary() {
    }

    /** The loaded library's symbols; loads it first if needed. */
    public static SymbolLookup symbolLookup() {
        return load().lookup();
    }

    /**
     * Loads the library if this has not happened yet and returns it.
     *
     * @throws NativeLibraryLoadError when it cannot be loaded (now or on an earlier attempt)
     */
    public static LoadedLibrary load() {
        LoadedLibrary library = loaded;
        if (library != null) {
            return library;
        }
        synchronized (LOCK) {
            if (loaded != null) {
                return loaded;
            }
            if (failure != null) {
                throw failure;
            }
            // The expected ABI version is the header's constant, from the bindings. Reading it may
            // run the bindings' static initialiser, which calls back into load() on this thread
            // (the lock is re-entrant) and completes or fails the load itself.
            int expectedAbi = semiring_kernels_h.SK_ABI_VERSION();
            if (loaded != null) {
                return loaded;
            }
            try {
                loaded = new LibraryLoader(Platform.current(), expectedAbi).load();
                return loaded;
            } catch (NativeLibraryLoadError e) {
                failure = e;
                throw e;
            }
        }
    }

    /** The library if it has been loaded successfully, without trying to load it. */
    public static java.util.Optional<LoadedLibrary> loadedIfAny() {
        return java.util.Optional.ofNullable(loaded);
    }
}
