package org.semiringkernels;

/**
 * Plain-Java float64 reference of the semiring matmul and its backward, following the header's
 * conventions exactly: argmax is the lowest k attaining the value, -1 where the result is the
 * semiring zero (or K = 0); LOG gradients are 0 where C = -inf; gradients are overwritten, and
 * for a shared operand (batch extent 1, or rank 2) summed over the batch in batch order.
 *
 * <p>Operands are row-major arrays with an explicit batch extent (1 for a rank-2 or shared
 * operand): a is [batchA][m][k], b is [batchB][k][n], c is [batch][m][n].
 */
final class Reference {

    /** A row-major array with its (batch, rows, cols) extents. */
    record Mat(int batch, int rows, int cols, double[] data) {
        Mat {
            if (data.length != batch * rows * cols) {
                throw new IllegalArgumentException("data length " + data.length + " != " + batch + "*" + rows + "*" + cols);
            }
        }

        static Mat zeros(int batch, int rows, int cols) {
            return new Mat(batch, rows, cols, new double[batch * rows * cols]);
        }

        double get(int b, int i, int j) {
            return data[(b * rows + i) * cols + j];
        }

        void set(int b, int i, int j, double v) {
            data[(b * rows + i) * cols + j] = v;
        }

        void add(int b, int i, int j, double v) {
            data[(b * rows + i) * cols + j] += v;
        }
    }

    /** The forward's outputs; argmax is null for LOG and REAL. */
    record Forward(Mat c, int[] argmax) {
    }

    private Reference() {
    }

    static Forward forward(Semiring semiring, Mat a, Mat b, int batch) {
        int m = a.rows(), k = a.cols(), n = b.cols();
        Mat c = Mat.zeros(batch, m, n);
        int[] argmax = semiring.hasArgmax() ? new int[batch * m * n] : null;
        double[] terms = new double[k];
        for (int p = 0; p < batch; p++) {
            int pa = a.batch() == 1 ? 0 : p;
            int pb = b.batch() == 1 ? 0 : p;
            for (int i = 0; i < m; i++) {
                for (int j = 0; j < n; j++) {
                    for (int q = 0; q < k; q++) {
                        terms[q] = times(semiring, a.get(pa, i, q), b.get(pb, q, j));
                    }
                    c.set(p, i, j, plus(semiring, terms, k));
                    if (argmax != null) {
                        argmax[(p * m + i) * n + j] = argBest(semiring, terms, k);
                    }
                }
            }
        }
        return new Forward(c, argmax);
    }

    static double times(Semiring semiring, double x, double y) {
        return switch (semiring) {
            case REAL -> x * y;
            case BOOLEAN -> (x != 0 && y != 0) ? 1 : 0;
            default -> x + y;
        };
    }

    static double plus(Semiring semiring, double[] terms, int k) {
        switch (semiring) {
            case REAL: {
                double s = 0;
                for (int q = 0; q < k; q++) {
                    s += terms[q];
                }
                return s;
            }
            case BOOLEAN: {
                for (int q = 0; q < k; q++) {
                    if (terms[q] != 0) {
                        return 1;
                    }
                }
                return 0;
            }
            case LOG:
                return logSumExp(terms, k);
            default: {
                int best = argBest(semiring, terms, k);
                return best < 0 ? semiring.zero() : terms[best];
            }
        }
    }

    /** logsumexp; all -inf gives -inf (never NaN); NaN propagates. */
    static double logSumExp(double[] terms, int k) {
        double max = Double.NEGATIVE_INFINITY;
        for (int q = 0; q < k; q++) {
            if (Double.isNaN(terms[q])) {
                return Double.NaN;
            }
            max = Math.max(max, terms[q]);
        }
        if (max == Double.NEGATIVE_INFINITY || max == Double.POSITIVE_INFINITY) {
            return max;
        }
        double s = 0;
        for (int q = 0; q < k; q++) {
            s += Math.exp(terms[q] - max);
        }
        return max + Math.log(s);
    }

    /** Lowest index of the max (MAX) or min (MIN) term; NaN wins; -1 when all terms are the zero. */
    static int argBest(Semiring semiring, double[] terms, int k) {
        int best = -1;
        for (int q = 0; q < k; q++) {
            double t = terms[q];
            if (Double.isNaN(t)) {
                return q;
            }
            if (t == semiring.zero()) {
                continue;
            }
            if (best < 0 || (semiring == Semiring.MAX ? t > terms[best] : t < terms[best])) {
                best = q;
            }
        }
        return best;
    }

    /** Gradients of L = sum(gradC * C) for LOG, REAL, MAX and MIN (argmax from the forward). */
    static Mat[] backward(Semiring semiring, Mat a, Mat b, Forward forward, Mat gradC) {
        int batch = gradC.batch(), m = a.rows(), k = a.cols(), n = b.cols();
        Mat gradA = Mat.zeros(a.batch(), m, k);
        Mat gradB = Mat.zeros(b.batch(), k, n);
        for (int p = 0; p < batch; p++) {
            int pa = a.batch() == 1 ? 0 : p;
            int pb = b.batch() == 1 ? 0 : p;
            for (int i = 0; i < m; i++) {
                for (int j = 0; j < n; j++) {
                    double g = gradC.get(p, i, j);
                    if (semiring.hasArgmax()) {
                        int q = forward.argmax()[(p * m + i) * n + j];
                        if (q >= 0) {
                            gradA.add(pa, i, q, g);
                            gradB.add(pb, q, j, g);
                        }
                        continue;
                    }
                    for (int q = 0; q < k; q++) {
                        double av = a.get(pa, i, q), bv = b.get(pb, q, j);
                        if (semiring == Semiring.REAL) {
                            gradA.add(pa, i, q, g * bv);
                            gradB.add(pb, q, j, g * av);
                        } else {
                            double cv = forward.c().get(p, i, j);
                            double w = cv == Double.NEGATIVE_INFINITY ? 0 : Math.exp(av + bv - cv);
                            gradA.add(pa, i, q, g * w);
                            gradB.add(pb, q, j, g * w);
                        }
                    }
                }
            }
        }
        return new Mat[] {gradA, gradB};
    }
}
