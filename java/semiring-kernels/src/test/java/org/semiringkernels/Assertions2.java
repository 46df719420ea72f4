package org.semiringkernels;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

import org.semiringkernels.Reference.Mat;

/** Element-wise comparisons with dtype-aware tolerances; infinities and NaN must match exactly. */
final class Assertions2 {

    private Assertions2() {
    }

    static double tolerance(DType dtype) {
        return dtype == DType.FLOAT32 ? 2e-5 : 1e-10;
    }

    static void assertClose(Mat expected, Mat actual, DType dtype, String what) {
        assertEquals(expected.batch(), actual.batch(), what + ": batch");
        assertEquals(expected.rows(), actual.rows(), what + ": rows");
        assertEquals(expected.cols(), actual.cols(), what + ": cols");
        double tol = tolerance(dtype);
        for (int i = 0; i < expected.data().length; i++) {
            assertClose(expected.data()[i], actual.data()[i], tol, what + " element " + i);
        }
    }

    static void assertClose(double expected, double actual, double tol, String what) {
        if (Double.isNaN(expected) || Double.isInfinite(expected)) {
            if (Double.compare(expected, actual) != 0) {
                fail(what + ": expected " + expected + " but was " + actual);
            }
            return;
        }
        double bound = tol * Math.max(1.0, Math.abs(expected));
        if (!(Math.abs(expected - actual) <= bound)) {
            fail(what + ": expected " + expected + " but was " + actual + " (tolerance " + bound + ")");
        }
    }
}
