package org.semiringkernels;

/**
 * The semirings (plus, times, zero, one), with the header's {@code sk_semiring} codes (written
 * out, checked against the bindings by a test, so that naming a semiring loads nothing).
 * <ul>
 *   <li>{@link #LOG}: (logsumexp, +, -inf, 0); logsumexp of all -inf is -inf, its gradient 0.</li>
 *   <li>{@link #MAX}: (max, +, -inf, 0), with argmax; ties go to the lowest index.</li>
 *   <li>{@link #REAL}: (+, *, 0, 1).</li>
 *   <li>{@link #MIN}: (min, +, +inf, 0), with argmin (reported as "argmax"); ties go to the lowest index.</li>
 *   <li>{@link #BOOLEAN}: (or, and, 0, 1) on 0/1 values (nonzero counts as 1); no gradient.</li>
 * </ul>
 */
public enum Semiring {
    LOG(0, Double.NEGATIVE_INFINITY, 0.0),
    MAX(1, Double.NEGATIVE_INFINITY, 0.0),
    REAL(2, 0.0, 1.0),
    MIN(3, Double.POSITIVE_INFINITY, 0.0),
    BOOLEAN(4, 0.0, 1.0);

    private final int code;
    private final double zero;
    private final double one;

    Semiring(int code, double zero, double one) {
        this.code = code;
        this.zero = zero;
        this.one = one;
    }

    /** The {@code sk_semiring} value. */
    public int code() {
        return code;
    }

    /** The additive identity (what an empty sum, K = 0, gives). */
    public double zero() {
        return zero;
    }

    /** The multiplicative identity. */
    public double one() {
        return one;
    }

    /** MAX and MIN select one term, whose index the argmax output reports. */
    public boolean hasArgmax() {
        return this == MAX || this == MIN;
    }

    /** Every semiring but BOOLEAN has a backward. */
    public boolean hasGradient() {
        return this != BOOLEAN;
    }
}
