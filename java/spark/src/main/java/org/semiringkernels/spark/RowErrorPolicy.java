package org.semiringkernels.spark;

/**
 * What a Dataset operation does with a row it cannot process (null or wrong-length array,
 * NaN where not allowed, out-of-range label, length out of range):
 * <ul>
 *   <li>{@link #FAIL}: the task fails with an exception naming the row's key and the problem
 *       (Spark then fails the job after its retries);</li>
 *   <li>{@link #ERROR_COLUMN}: the row is kept, its result columns are null and the column
 *       {@code error} holds the message; every other row is processed normally.</li>
 * </ul>
 * No row is ever dropped silently.
 */
public enum RowErrorPolicy {
    FAIL,
    ERROR_COLUMN
}
