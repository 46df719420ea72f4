package org.semiringkernels.spark;

/** A row that an operation cannot process, with its key and the reason (see {@link RowErrorPolicy}). */
public final class BadRowException extends RuntimeException {

    private static final long serialVersionUID = 1L;

    public BadRowException(Object key, String reason) {
        super("row " + key + ": " + reason);
    }
}
