package org.semiringkernels.spark;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import org.semiringkernels.DType;
import org.semiringkernels.Tensor;

/** Host tensors filled from Java arrays with bulk copies (the batches' staging buffers). */
final class HostArrays {

    private HostArrays() {
    }

    /** A contiguous host tensor of {@code dtype} (FLOAT32 or FLOAT64) holding {@code values}. */
    static Tensor tensor(DType dtype, double[] values, long... shape) {
        Tensor host = Tensor.allocateHost(dtype, shape);
        if (values.length == 0) {
            return host;
        }
        MemorySegment seg = host.segment();
        if (dtype == DType.FLOAT64) {
            MemorySegment.copy(values, 0, seg, ValueLayout.JAVA_DOUBLE, 0, values.length);
        } else {
            float[] f = new float[values.length];
            for (int i = 0; i < f.length; i++) {
                f[i] = (float) values[i];
            }
            MemorySegment.copy(f, 0, seg, ValueLayout.JAVA_FLOAT, 0, f.length);
        }
        return host;
    }
}
