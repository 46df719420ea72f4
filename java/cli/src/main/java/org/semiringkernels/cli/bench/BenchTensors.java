package org.semiringkernels.cli.bench;

import java.util.Random;

import org.semiringkernels.Context;
import org.semiringkernels.Tensor;

/** Reproducible benchmark inputs, made on the host and copied to the context's device (untimed). */
final class BenchTensors {

    private BenchTensors() {
    }

    static int count(long[] shape) {
        long n = 1;
        for (long s : shape) {
            n *= s;
        }
        if (n > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("bench input of " + n + " elements is larger than a Java array");
        }
        return (int) n;
    }

    /** float32 values scale * N(0, 1). */
    static Tensor normal(Context context, Random rng, double scale, long... shape) {
        float[] v = new float[count(shape)];
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) (scale * rng.nextGaussian());
        }
        try (Tensor host = Tensor.fromArray(v, shape)) {
            return host.to(context);
        }
    }

    /** float32 values uniform in [lo, hi). */
    static Tensor uniform(Context context, Random rng, double lo, double hi, long... shape) {
        float[] v = new float[count(shape)];
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) (lo + (hi - lo) * rng.nextFloat());
        }
        try (Tensor host = Tensor.fromArray(v, shape)) {
            return host.to(context);
        }
    }

    /** float32 values all equal to value. */
    static Tensor filled(Context context, float value, long... shape) {
        float[] v = new float[count(shape)];
        java.util.Arrays.fill(v, value);
        try (Tensor host = Tensor.fromArray(v, shape)) {
            return host.to(context);
        }
    }

    /** int64 values. */
    static Tensor longs(Context context, long[] values, long... shape) {
        try (Tensor host = Tensor.fromArray(values, shape)) {
            return host.to(context);
        }
    }

    static void closeAll(Tensor... tensors) {
        for (Tensor t : tensors) {
            if (t != null) {
                t.close();
            }
        }
    }
}
