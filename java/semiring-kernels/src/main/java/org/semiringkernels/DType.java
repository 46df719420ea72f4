package org.semiringkernels;

import java.lang.foreign.ValueLayout;

/**
 * Element types of tensors, with the header's {@code sk_dtype} codes. The codes are written out
 * (a test checks them against the bindings) so that using a DType does not load the library.
 */
public enum DType {
    FLOAT32(1, ValueLayout.JAVA_FLOAT),
    FLOAT64(2, ValueLayout.JAVA_DOUBLE),
    INT32(3, ValueLayout.JAVA_INT),
    INT64(4, ValueLayout.JAVA_LONG);

    private final int code;
    private final ValueLayout layout;

    DType(int code, ValueLayout layout) {
        this.code = code;
        this.layout = layout;
    }

    /** The {@code sk_dtype} value. */
    public int code() {
        return code;
    }

    /** Bytes per element. */
    public int byteSize() {
        return (int) layout.byteSize();
    }

    /** The element layout (naturally aligned). */
    public ValueLayout layout() {
        return layout;
    }

    public boolean isFloatingPoint() {
        return this == FLOAT32 || this == FLOAT64;
    }

    /** The DType with this {@code sk_dtype} code. */
    public static DType fromCode(int code) {
        for (DType d : values()) {
            if (d.code == code) {
                return d;
            }
        }
        throw new IllegalArgumentException("unknown sk_dtype code " + code);
    }
}
