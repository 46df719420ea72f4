package org.semiringkernels;

/**
 * Brute-force HMM references for tiny sizes: every state path of every sequence is enumerated
 * (N^L paths), in double. A sequence is given in the common "edge" shape: start scores
 * {@code start[j]} for position 0 and {@code edge[t][i][j]} for moving from i at t-1 to j at t
 * (t = 1 .. L-1); the tests convert each input form (edge with either initial convention,
 * factored) into it independently of the library.
 */
final class HmmReference {

    private HmmReference() {
    }

    /** What enumeration gives for one sequence under one semiring. */
    record Result(double score, double[][] node, double[][][] edge, int[] path) {
    }

    /**
     * LOG: score = log Z, node[t][j] = P(z_t = j), edge[t][i][j] = P(z_{t-1} = i, z_t = j) (t >= 1).
     * MAX: score = best path score, node/edge = indicators of the best path, path = the best path
     * (null and all-zero node/edge when no path is feasible: score -inf).
     */
    static Result enumerate(double[] start, double[][][] edge, int length, boolean max) {
        int n = start.length;
        int[] z = new int[length];
        long paths = 1;
        for (int t = 0; t < length; t++) {
            paths *= n;
        }
        double best = Double.NEGATIVE_INFINITY;
        int[] bestPath = null;
        double[] scores = new double[(int) paths];
        for (long p = 0; p < paths; p++) {
            decode(p, n, z);
            double s = pathScore(start, edge, z);
            scores[(int) p] = s;
            if (s > best) {
                best = s;
                bestPath = z.clone();
            }
        }
        double[][] node = new double[length][n];
        double[][][] edges = new double[length][n][n];
        if (max) {
            if (bestPath != null) {
                for (int t = 0; t < length; t++) {
                    node[t][bestPath[t]] = 1;
                    if (t > 0) {
                        edges[t][bestPath[t - 1]][bestPath[t]] = 1;
                    }
                }
            }
            return new Result(best, node, edges, bestPath);
        }
        double logZ = logSumExp(scores);
        if (logZ == Double.NEGATIVE_INFINITY) {
            return new Result(logZ, node, edges, null);
        }
        for (long p = 0; p < paths; p++) {
            double w = Math.exp(scores[(int) p] - logZ);
            if (w == 0) {
                continue;
            }
            decode(p, n, z);
            for (int t = 0; t < length; t++) {
                node[t][z[t]] += w;
                if (t > 0) {
                    edges[t][z[t - 1]][z[t]] += w;
                }
            }
        }
        return new Result(logZ, node, edges, null);
    }

    static double pathScore(double[] start, double[][][] edge, int[] z) {
        double s = start[z[0]];
        for (int t = 1; t < z.length; t++) {
            s += edge[t][z[t - 1]][z[t]];
        }
        return s;
    }

    private static void decode(long p, int n, int[] z) {
        for (int t = z.length - 1; t >= 0; t--) {
            z[t] = (int) (p % n);
            p /= n;
        }
    }

    static double logSumExp(double[] v) {
        double m = Double.NEGATIVE_INFINITY;
        for (double x : v) {
            m = Math.max(m, x);
        }
        if (m == Double.NEGATIVE_INFINITY) {
            return m;
        }
        double s = 0;
        for (double x : v) {
            s += Math.exp(x - m);
        }
        return m + Math.log(s);
    }

    // ---- dynamic-programming references for longer sequences (Baum-Welch tests) --------------

    /** log p(x) by the forward recursion in log space: start log pi (N), log A (N, N), logEmission (L, N). */
    static double forwardLogLikelihood(double[] logStart, double[][] logTransition, double[][] logEmission) {
        int n = logStart.length;
        double[] alpha = new double[n];
        for (int j = 0; j < n; j++) {
            alpha[j] = logStart[j] + logEmission[0][j];
        }
        double[] terms = new double[n];
        for (int t = 1; t < logEmission.length; t++) {
            double[] next = new double[n];
            for (int j = 0; j < n; j++) {
                for (int i = 0; i < n; i++) {
                    terms[i] = alpha[i] + logTransition[i][j];
                }
                next[j] = logSumExp(terms) + logEmission[t][j];
            }
            alpha = next;
        }
        return logSumExp(alpha);
    }

    /** Viterbi by dynamic programming (ties to the lowest index, as the library documents). */
    static int[] viterbiPath(double[] logStart, double[][] logTransition, double[][] logEmission) {
        int n = logStart.length;
        int length = logEmission.length;
        double[][] delta = new double[length][n];
        int[][] back = new int[length][n];
        for (int j = 0; j < n; j++) {
            delta[0][j] = logStart[j] + logEmission[0][j];
        }
        for (int t = 1; t < length; t++) {
            for (int j = 0; j < n; j++) {
                double best = Double.NEGATIVE_INFINITY;
                int arg = 0;
                for (int i = 0; i < n; i++) {
                    double s = delta[t - 1][i] + logTransition[i][j];
                    if (s > best) {
                        best = s;
                        arg = i;
                    }
                }
                delta[t][j] = best + logEmission[t][j];
                back[t][j] = arg;
            }
        }
        int[] path = new int[length];
        double best = Double.NEGATIVE_INFINITY;
        for (int j = 0; j < n; j++) {
            if (delta[length - 1][j] > best) {
                best = delta[length - 1][j];
                path[length - 1] = j;
            }
        }
        for (int t = length - 1; t > 0; t--) {
            path[t - 1] = back[t][path[t]];
        }
        return path;
    }

    /** Posteriors P(z_t = j | x) by forward-backward in log space. */
    static double[][] posteriors(double[] logStart, double[][] logTransition, double[][] logEmission) {
        int n = logStart.length;
        int length = logEmission.length;
        double[][] alpha = new double[length][n];
        double[][] beta = new double[length][n];
        double[] terms = new double[n];
        for (int j = 0; j < n; j++) {
            alpha[0][j] = logStart[j] + logEmission[0][j];
        }
        for (int t = 1; t < length; t++) {
            for (int j = 0; j < n; j++) {
                for (int i = 0; i < n; i++) {
                    terms[i] = alpha[t - 1][i] + logTransition[i][j];
                }
                alpha[t][j] = logSumExp(terms) + logEmission[t][j];
            }
        }
        for (int t = length - 2; t >= 0; t--) {
            for (int i = 0; i < n; i++) {
                for (int j = 0; j < n; j++) {
                    terms[j] = logTransition[i][j] + logEmission[t + 1][j] + beta[t + 1][j];
                }
                beta[t][i] = logSumExp(terms);
            }
        }
        double logZ = logSumExp(alpha[length - 1]);
        double[][] gamma = new double[length][n];
        for (int t = 0; t < length; t++) {
            for (int j = 0; j < n; j++) {
                gamma[t][j] = Math.exp(alpha[t][j] + beta[t][j] - logZ);
            }
        }
        return gamma;
    }
}
