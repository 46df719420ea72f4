package org.semiringkernels;

/**
 * A native call failed. Carries the {@code sk_status} code, its name (e.g. SK_ERROR_SHAPE) and
 * the native message, which names the function and the argument
 * (e.g. "sk_semiring_matmul: argument 'c': expected trailing extents [2, 3] ...").
 */
public class SemiringKernelsException extends RuntimeException {

    private static final long serialVersionUID = 1L;

    private final int status;
    private final String statusName;
    private final String nativeMessage;

    public SemiringKernelsException(int status, String statusName, String nativeMessage) {
        super(statusName + " (" + status + "): " + (nativeMessage == null || nativeMessage.isEmpty()
                ? "(the library left no message)" : nativeMessage));
        this.status = status;
        this.statusName = statusName;
        this.nativeMessage = nativeMessage == null ? "" : nativeMessage;
    }

    /** The {@code sk_status} value (never SK_OK). */
    public int status() {
        return status;
    }

    /** {@code sk_status_name(status)}, e.g. "SK_ERROR_SHAPE". */
    public String statusName() {
        return statusName;
    }

    /** The library's message for this failure. */
    public String nativeMessage() {
        return nativeMessage;
    }
}
