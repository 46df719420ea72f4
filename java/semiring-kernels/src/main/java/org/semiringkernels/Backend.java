package org.semiringkernels;

import java.util.Locale;

import org.semiringkernels.loader.NativeLibrary;

/**
 * The backend {@link Device#best()} picks, set with the system property
 * {@code semiringkernels.backend}: {@code auto} (CUDA when a device answers, else the CPU; the
 * default), {@code cpu} (never CUDA: {@link Device#cudaAvailable()} is false) or {@code cuda}
 * (CUDA or an error saying why not, never a silent CPU fallback).
 */
public enum Backend {
    AUTO, CPU, CUDA;

    /** The configured backend. */
    public static Backend configured() {
        String value = System.getProperty(NativeLibrary.BACKEND_PROPERTY, "auto").trim();
        return switch (value.toLowerCase(Locale.ROOT)) {
            case "", "auto" -> AUTO;
            case "cpu" -> CPU;
            case "cuda", "gpu" -> CUDA;
            default -> throw new IllegalArgumentException("system property " + NativeLibrary.BACKEND_PROPERTY + "="
                    + value + " is not one of auto, cpu, cuda");
        };
    }
}
