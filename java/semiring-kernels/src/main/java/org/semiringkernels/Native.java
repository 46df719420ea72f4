package org.semiringkernels;

import java.lang.foreign.MemorySegment;

import org.semiringkernels.bindings.semiring_kernels_h;
import org.semiringkernels.loader.LoadedLibrary;
import org.semiringkernels.loader.NativeLibrary;

/** Status checks and C strings for the API classes. */
final class Native {

    private Native() {
    }

    /** Loads the library (once); throws the loader's one clear error when it cannot. */
    static LoadedLibrary library() {
        return NativeLibrary.load();
    }

    /**
     * Throws for a failed call made with a context. The message is read from that context
     * ({@code sk_context_last_error}), which is right even if this (virtual) thread has moved to
     * another carrier thread since the call.
     */
    static void check(int status, MemorySegment context) {
        if (status != semiring_kernels_h.SK_OK()) {
            String message = string(semiring_kernels_h.sk_context_last_error(context));
            throw new SemiringKernelsException(status, statusName(status), message);
        }
    }

    /**
     * Throws for a failed call made without a context. The message is the calling thread's
     * {@code sk_last_error()}, so this must run right after the call, before anything that could
     * block and move a virtual thread to another carrier.
     */
    static void checkNoContext(int status) {
        if (status != semiring_kernels_h.SK_OK()) {
            String message = string(semiring_kernels_h.sk_last_error());
            throw new SemiringKernelsException(status, statusName(status), message);
        }
    }

    static String statusName(int status) {
        return string(semiring_kernels_h.sk_status_name(status));
    }

    /** A NUL-terminated UTF-8 string owned by the library ("" for NULL). */
    static String string(MemorySegment text) {
        if (text.equals(MemorySegment.NULL)) {
            return "";
        }
        return text.reinterpret(Long.MAX_VALUE).getString(0);
    }
}
