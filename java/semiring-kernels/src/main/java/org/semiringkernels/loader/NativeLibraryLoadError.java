package org.semiringkernels.loader;

/**
 * The native library could not be loaded. The message lists every path tried, the platform, the
 * work directory, the operating system's own error text and the property to set.
 *
 * <p>It is an {@link UnsatisfiedLinkError} (as a failing {@code System.load} would be) so that,
 * thrown while the bindings class initialises, it reaches the caller unchanged rather than
 * wrapped in an {@code ExceptionInInitializerError}. The loader remembers the failure and throws
 * the same error on every later attempt in this class loader; it never retries with other paths.
 */
public final class NativeLibraryLoadError extends UnsatisfiedLinkError {

    private static final long serialVersionUID = 1L;

    NativeLibraryLoadError(String message, Throwable cause) {
        super(message);
        if (cause != null) {
            initCause(cause);
        }
    }
}
