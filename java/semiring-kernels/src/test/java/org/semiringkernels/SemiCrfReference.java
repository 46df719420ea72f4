package org.semiringkernels;

import java.util.ArrayList;
import java.util.List;

/**
 * Brute-force semi-CRF reference in Java double for tiny sizes: enumerates every segmentation of
 * one sequence (durations 1..K, labels 0..C-1) and scores it by the header's definition, written
 * independently of the native recursion (no dynamic programming).
 */
final class SemiCrfReference {

    /** One problem: per-position scores x (T, C) of one sequence (cumulative sums built here). */
    record Problem(int length, int labels, int maxDuration, double[][] cum, double[][][] transition, boolean durationDependent,
                   double[][] durationBias, double[] start, double[][] projStart, double[][] projEnd, boolean compat) {
    }

    /** A segmentation and its score. */
    record Scored(List<SemiCrf.Segment> segments, double score) {
    }

    private SemiCrfReference() {
    }

    static List<List<SemiCrf.Segment>> segmentations(int length, int labels, int maxDuration) {
        List<List<SemiCrf.Segment>> out = new ArrayList<>();
        extend(new ArrayList<>(), 0, length, labels, maxDuration, out);
        return out;
    }

    private static void extend(List<SemiCrf.Segment> prefix, int at, int length, int labels, int maxDuration,
                               List<List<SemiCrf.Segment>> out) {
        if (at == length) {
            out.add(List.copyOf(prefix));
            return;
        }
        for (int k = 1; k <= maxDuration && at + k <= length; k++) {
            for (int c = 0; c < labels; c++) {
                prefix.add(new SemiCrf.Segment(at, at + k, c));
                extend(prefix, at + k, length, labels, maxDuration, out);
                prefix.remove(prefix.size() - 1);
            }
        }
    }

    static double transition(Problem p, int k, int from, int to) {
        return p.transition[p.durationDependent ? k - 1 : 0][from][to];
    }

    /** The score of one segmentation; compat's free previous label is (+)-reduced by {@code max}. */
    static double score(Problem p, List<SemiCrf.Segment> segs, boolean max) {
        double total = 0;
        int prev = -1;
        for (SemiCrf.Segment s : segs) {
            int c = s.label(), k = s.duration();
            total += p.cum[s.end()][c] - p.cum[s.start()][c] + p.durationBias[k - 1][c];
            if (p.projStart != null) {
                total += p.projStart[s.start()][c];
            }
            if (p.projEnd != null) {
                total += p.projEnd[s.end() - 1][c];
            }
            if (prev < 0) {
                if (p.start != null) {
                    total += p.start[c];
                }
                if (p.compat) {
                    double[] terms = new double[p.labels];
                    for (int from = 0; from < p.labels; from++) {
                        terms[from] = transition(p, k, from, c);
                    }
                    total += max ? maxOf(terms) : logSumExp(terms);
                }
            } else {
                total += transition(p, k, prev, c);
            }
            prev = c;
        }
        return total;
    }

    static List<Scored> all(Problem p, boolean max) {
        List<Scored> out = new ArrayList<>();
        for (List<SemiCrf.Segment> s : segmentations(p.length, p.labels, p.maxDuration)) {
            out.add(new Scored(s, score(p, s, max)));
        }
        return out;
    }

    static double logPartition(Problem p) {
        List<Scored> all = all(p, false);
        double[] v = new double[all.size()];
        for (int i = 0; i < v.length; i++) {
            v[i] = all.get(i).score;
        }
        return logSumExp(v);
    }

    static Scored best(Problem p) {
        Scored best = null;
        for (Scored s : all(p, true)) {
            if (best == null || s.score > best.score) {
                best = s;
            }
        }
        return best;
    }

    /** boundary (T) and coverage (T, C) posteriors of one sequence (LOG). */
    static double[][] marginals(Problem p, double[] boundary) {
        double logZ = logPartition(p);
        double[][] coverage = new double[p.length][p.labels];
        for (Scored s : all(p, false)) {
            double w = Math.exp(s.score - logZ);
            for (SemiCrf.Segment seg : s.segments) {
                boundary[seg.start()] += w;
                for (int u = seg.start(); u < seg.end(); u++) {
                    coverage[u][seg.label()] += w;
                }
            }
        }
        return coverage;
    }

    /** The (+) over segmentations whose per-position labels equal {@code labels}. */
    static double labellingScore(Problem p, int[] labels, boolean max) {
        List<Double> v = new ArrayList<>();
        for (Scored s : all(p, max)) {
            boolean same = true;
            for (SemiCrf.Segment seg : s.segments) {
                for (int u = seg.start(); u < seg.end(); u++) {
                    same &= labels[u] == seg.label();
                }
            }
            if (same) {
                v.add(s.score);
            }
        }
        double[] a = v.stream().mapToDouble(Double::doubleValue).toArray();
        return max ? maxOf(a) : logSumExp(a);
    }

    static double logSumExp(double[] v) {
        double m = maxOf(v);
        if (m == Double.NEGATIVE_INFINITY) {
            return m;
        }
        double s = 0;
        for (double x : v) {
            s += Math.exp(x - m);
        }
        return m + Math.log(s);
    }

    static double maxOf(double[] v) {
        double m = Double.NEGATIVE_INFINITY;
        for (double x : v) {
            m = Math.max(m, x);
        }
        return m;
    }
}
