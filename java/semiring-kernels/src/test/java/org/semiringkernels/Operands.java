package org.semiringkernels;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import org.semiringkernels.Reference.Mat;

/**
 * Builds tensors holding a {@link Mat} in a chosen memory layout (contiguous, transposed view,
 * strided view of a padded buffer, stride-0 batch broadcast), and reads them back. Keeps every
 * tensor it made so a test can close them all.
 */
final class Operands implements AutoCloseable {

    /** How an operand's elements are laid out in memory. */
    enum Layout {
        /** Row-major, rank 2 when the operand has batch 1 and is meant to be rank 2. */
        CONTIGUOUS,
        /** Stored as (batch, cols, rows) and viewed through transpose(): column-major matrices. */
        TRANSPOSED,
        /** Every other column of a padded buffer with a gap between rows and batches. */
        STRIDED,
        /** One matrix repeated over the batch with batch stride 0 (inputs only). */
        BROADCAST
    }

    private final List<Tensor> made = new ArrayList<>();

    @Override
    public void close() {
        for (int i = made.size() - 1; i >= 0; i--) {
            made.get(i).close();
        }
        made.clear();
    }

    /** A tensor with the contents of {@code mat}; rank 2 if {@code rank2} (mat.batch() must be 1). */
    Tensor tensor(Mat mat, DType dtype, Layout layout, boolean rank2) {
        if (rank2 && mat.batch() != 1) {
            throw new IllegalArgumentException("rank 2 needs batch 1");
        }
        Tensor t = switch (layout) {
            case CONTIGUOUS -> keep(Tensor.allocateHost(dtype, shape(mat, rank2)));
            case TRANSPOSED -> keep(keep(Tensor.allocateHost(dtype, transposedShape(mat, rank2))).transpose());
            case STRIDED -> strided(mat, dtype, rank2);
            case BROADCAST -> broadcast(mat, dtype);
        };
        write(t, mat, rank2);
        return t;
    }

    /** An output tensor for a (batch, rows, cols) result, filled with {@code fill}. */
    Tensor output(int batch, int rows, int cols, boolean rank2, DType dtype, Layout layout, double fill) {
        Mat m = new Mat(batch, rows, cols, filled(batch * rows * cols, fill));
        return tensor(m, dtype, layout, rank2);
    }

    /** The logical contents of a tensor made for a (batch, rows, cols) shape. */
    static Mat read(Tensor t) {
        boolean rank2 = t.rank() == 2;
        int batch = rank2 ? 1 : (int) t.shape(0);
        int rows = (int) t.shape(-2), cols = (int) t.shape(-1);
        Mat m = Mat.zeros(batch, rows, cols);
        for (int b = 0; b < batch; b++) {
            for (int i = 0; i < rows; i++) {
                for (int j = 0; j < cols; j++) {
                    m.set(b, i, j, rank2 ? t.getDouble(i, j) : t.getDouble(b, i, j));
                }
            }
        }
        return m;
    }

    /** Random values in [lo, hi); integers when {@code integers} (to create ties). */
    static Mat random(Random rng, int batch, int rows, int cols, double lo, double hi, boolean integers) {
        double[] data = new double[batch * rows * cols];
        for (int i = 0; i < data.length; i++) {
            double v = lo + rng.nextDouble() * (hi - lo);
            data[i] = integers ? Math.floor(v) : v;
        }
        return new Mat(batch, rows, cols, data);
    }

    /** Values as the dtype stores them (float32 rounding), so references see the same inputs. */
    static Mat rounded(Mat m, DType dtype) {
        if (dtype != DType.FLOAT32) {
            return m;
        }
        double[] d = m.data().clone();
        for (int i = 0; i < d.length; i++) {
            d[i] = (float) d[i];
        }
        return new Mat(m.batch(), m.rows(), m.cols(), d);
    }

    /** {@code mat} repeated {@code batch} times (what a BROADCAST operand holds). */
    static Mat repeated(Mat single, int batch) {
        double[] d = new double[batch * single.data().length];
        for (int b = 0; b < batch; b++) {
            System.arraycopy(single.data(), 0, d, b * single.data().length, single.data().length);
        }
        return new Mat(batch, single.rows(), single.cols(), d);
    }

    private Tensor keep(Tensor t) {
        made.add(t);
        return t;
    }

    private static long[] shape(Mat m, boolean rank2) {
        return rank2 ? new long[] {m.rows(), m.cols()} : new long[] {m.batch(), m.rows(), m.cols()};
    }

    private static long[] transposedShape(Mat m, boolean rank2) {
        return rank2 ? new long[] {m.cols(), m.rows()} : new long[] {m.batch(), m.cols(), m.rows()};
    }

    private Tensor strided(Mat m, DType dtype, boolean rank2) {
        long colStride = 2;
        long rowStride = 2L * m.cols() + 1;
        long batchStride = rowStride * m.rows() + 3;
        long elements = batchStride * m.batch() + 1;
        Tensor backing = keep(Tensor.allocateHost(dtype, elements));
        for (long e = 0; e < elements; e++) {
            backing.setDouble(Double.NaN, e); // any read outside the view would show up as NaN
        }
        long[] shape = shape(m, rank2);
        long[] strides = rank2 ? new long[] {rowStride, colStride} : new long[] {batchStride, rowStride, colStride};
        return keep(Tensor.wrap(backing.segment(), dtype, shape, strides));
    }

    private Tensor broadcast(Mat m, DType dtype) {
        for (int b = 1; b < m.batch(); b++) {
            for (int i = 0; i < m.rows(); i++) {
                for (int j = 0; j < m.cols(); j++) {
                    if (m.get(b, i, j) != m.get(0, i, j)) {
                        throw new IllegalArgumentException("a BROADCAST operand repeats one matrix");
                    }
                }
            }
        }
        Tensor single = keep(Tensor.allocateHost(dtype, m.rows(), m.cols()));
        return keep(Tensor.wrap(single.segment(), dtype, new long[] {m.batch(), m.rows(), m.cols()},
                new long[] {0, m.cols(), 1}));
    }

    private static void write(Tensor t, Mat m, boolean rank2) {
        for (int b = 0; b < m.batch(); b++) {
            for (int i = 0; i < m.rows(); i++) {
                for (int j = 0; j < m.cols(); j++) {
                    if (rank2) {
                        t.setDouble(m.get(b, i, j), i, j);
                    } else {
                        t.setDouble(m.get(b, i, j), b, i, j);
                    }
                }
            }
        }
    }

    private static double[] filled(int n, double v) {
        double[] d = new double[n];
        java.util.Arrays.fill(d, v);
        return d;
    }
}
