package org.semiringkernels;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;
import org.semiringkernels.bindings.semiring_kernels_h;

/** The API's written-out codes equal the header's constants (which StructLayoutTest checks against C). */
class ApiConstantsTest {

    @Test
    void codesMatchTheBindings() {
        assertEquals(semiring_kernels_h.SK_DTYPE_FLOAT32(), DType.FLOAT32.code());
        assertEquals(semiring_kernels_h.SK_DTYPE_FLOAT64(), DType.FLOAT64.code());
        assertEquals(semiring_kernels_h.SK_DTYPE_INT32(), DType.INT32.code());
        assertEquals(semiring_kernels_h.SK_DTYPE_INT64(), DType.INT64.code());
        assertEquals(semiring_kernels_h.SK_SEMIRING_LOG(), Semiring.LOG.code());
        assertEquals(semiring_kernels_h.SK_SEMIRING_MAX(), Semiring.MAX.code());
        assertEquals(semiring_kernels_h.SK_SEMIRING_REAL(), Semiring.REAL.code());
        assertEquals(semiring_kernels_h.SK_SEMIRING_MIN(), Semiring.MIN.code());
        assertEquals(semiring_kernels_h.SK_SEMIRING_BOOLEAN(), Semiring.BOOLEAN.code());
        assertEquals(5, Semiring.values().length, "a new sk_semiring needs a Semiring constant");
        assertEquals(semiring_kernels_h.SK_DEVICE_CPU(), Device.Type.CPU.code());
        assertEquals(semiring_kernels_h.SK_DEVICE_CUDA(), Device.Type.CUDA.code());
        assertEquals(semiring_kernels_h.SK_MAX_RANK(), Tensor.MAX_RANK);
        assertEquals(semiring_kernels_h.SK_SEMICRF_INPUT_SCORES(), SemiCrf.Input.SCORES.code());
        assertEquals(semiring_kernels_h.SK_SEMICRF_INPUT_CUMULATIVE(), SemiCrf.Input.CUMULATIVE.code());
        assertEquals(semiring_kernels_h.SK_SEMICRF_INFEASIBLE_GRADIENT_ZERO(), SemiCrf.InfeasibleGradient.ZERO.code());
        assertEquals(semiring_kernels_h.SK_SEMICRF_INFEASIBLE_GRADIENT_NAN(), SemiCrf.InfeasibleGradient.NAN.code());
        for (DType d : DType.values()) {
            assertEquals(d, DType.fromCode(d.code()));
        }
    }
}
