package org.semiringkernels;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * A brute-force CTC reference in plain Java (float64) for tiny sizes: it enumerates every frame
 * labelling pi in C^T_b, keeps those whose collapse (merge runs of equal classes, then drop
 * blanks) is the target (the textbook definition of a CTC alignment, independent of the extended
 * state machine the library uses), and sums or maximises over them directly.
 */
final class CtcReference {

    private CtcReference() {
    }

    /** One sequence: logProbs[t][c] for t &lt; inputLength (the frames the library reads). */
    record Sequence(double[][] logProbs, int[] target, int blank) {
        int frames() {
            return logProbs.length;
        }

        int classes() {
            return logProbs.length == 0 ? 0 : logProbs[0].length;
        }
    }

    /**
     * Everything the library computes for one sequence.
     *
     * @param logZ            log of the sum over alignments of their probability (-inf when none)
     * @param classPosterior  [t][c]: P(pi_t = c | target), 0 everywhere when there is no alignment
     * @param statePosterior  [t][s] over the 2L+1 extended states
     * @param bestPath        the most probable alignment's classes (null when none)
     * @param bestScore       its log probability (-inf when none)
     * @param spans           [j] = {start, end} of target label j on the best path
     */
    record Result(double logZ, double[][] classPosterior, double[][] statePosterior, int[] bestPath, double bestScore,
                  int[][] spans) {
        boolean feasible() {
            return bestPath != null;
        }
    }

    static Result solve(Sequence seq, int classesForEmpty) {
        int frames = seq.frames();
        int classes = frames == 0 ? classesForEmpty : seq.classes();
        int states = 2 * seq.target().length + 1;
        double[][] classMass = new double[frames][classes];
        double[][] stateMass = new double[frames][states];
        List<Double> scores = new ArrayList<>();
        List<int[]> alignments = new ArrayList<>();
        int[] pi = new int[frames];
        long count = 1;
        for (int t = 0; t < frames; t++) {
            count *= classes;
        }
        for (long code = 0; code < count; code++) {
            long rest = code;
            for (int t = frames - 1; t >= 0; t--) { // lexicographic order, first frame most significant
                pi[t] = (int) (rest % classes);
                rest /= classes;
            }
            if (!Arrays.equals(collapse(pi, seq.blank()), seq.target())) {
                continue;
            }
            double score = 0;
            for (int t = 0; t < frames; t++) {
                score += seq.logProbs()[t][pi[t]];
            }
            scores.add(score);
            alignments.add(pi.clone());
        }
        if (alignments.isEmpty()) {
            return new Result(Double.NEGATIVE_INFINITY, classMass, stateMass, null, Double.NEGATIVE_INFINITY,
                    new int[0][]);
        }
        double max = Double.NEGATIVE_INFINITY;
        for (double s : scores) {
            max = Math.max(max, s);
        }
        double sum = 0;
        for (double s : scores) {
            sum += Math.exp(s - max);
        }
        double logZ = max + Math.log(sum);
        int best = 0;
        for (int i = 0; i < alignments.size(); i++) {
            int[] a = alignments.get(i);
            double weight = Math.exp(scores.get(i) - logZ);
            int[] stateOf = states(a, seq.blank());
            for (int t = 0; t < frames; t++) {
                classMass[t][a[t]] += weight;
                stateMass[t][stateOf[t]] += weight;
            }
            if (scores.get(i) > scores.get(best)) {
                best = i;
            }
        }
        int[] path = alignments.get(best);
        return new Result(logZ, classMass, stateMass, path, scores.get(best), spans(path, seq.blank(),
                seq.target().length));
    }

    /**
     * log Z by the textbook alpha recursion over the extended states (for sizes too large to
     * enumerate): alpha_t(s) = lp_t(l_s) + LSE(alpha_{t-1}(s), alpha_{t-1}(s-1), [l_s != blank and
     * l_s != l_{s-2}] alpha_{t-1}(s-2)), started in states 0 and 1, ended in the last two.
     */
    static double forwardLogZ(Sequence seq) {
        int length = seq.target().length, states = 2 * length + 1, frames = seq.frames();
        int[] label = new int[states];
        for (int s = 0; s < states; s++) {
            label[s] = s % 2 == 0 ? seq.blank() : seq.target()[(s - 1) / 2];
        }
        if (frames == 0) {
            return length == 0 ? 0 : Double.NEGATIVE_INFINITY;
        }
        double[] alpha = new double[states];
        Arrays.fill(alpha, Double.NEGATIVE_INFINITY);
        alpha[0] = seq.logProbs()[0][label[0]];
        if (states > 1) {
            alpha[1] = seq.logProbs()[0][label[1]];
        }
        double[] next = new double[states];
        for (int t = 1; t < frames; t++) {
            for (int s = 0; s < states; s++) {
                double a = alpha[s];
                double b = s >= 1 ? alpha[s - 1] : Double.NEGATIVE_INFINITY;
                double c = s >= 2 && s % 2 == 1 && label[s] != label[s - 2] ? alpha[s - 2] : Double.NEGATIVE_INFINITY;
                next[s] = seq.logProbs()[t][label[s]] + logSumExp(a, b, c);
            }
            double[] swap = alpha;
            alpha = next;
            next = swap;
        }
        return states == 1 ? alpha[0] : logSumExp(alpha[states - 1], alpha[states - 2], Double.NEGATIVE_INFINITY);
    }

    static double logSumExp(double a, double b, double c) {
        double m = Math.max(a, Math.max(b, c));
        if (m == Double.NEGATIVE_INFINITY) {
            return m;
        }
        return m + Math.log(Math.exp(a - m) + Math.exp(b - m) + Math.exp(c - m));
    }

    /** Merge runs of equal classes, then drop blanks. */
    static int[] collapse(int[] pi, int blank) {
        List<Integer> out = new ArrayList<>();
        for (int t = 0; t < pi.length; t++) {
            if (pi[t] != blank && (t == 0 || pi[t] != pi[t - 1])) {
                out.add(pi[t]);
            }
        }
        return out.stream().mapToInt(Integer::intValue).toArray();
    }

    /**
     * The extended state of each frame of an alignment: after k emitted tokens a blank frame is in
     * state 2k, a frame of token k (1-based) in state 2k - 1.
     */
    static int[] states(int[] pi, int blank) {
        int[] s = new int[pi.length];
        int k = 0;
        for (int t = 0; t < pi.length; t++) {
            if (pi[t] == blank) {
                s[t] = 2 * k;
            } else {
                if (t == 0 || pi[t] != pi[t - 1]) {
                    k++;
                }
                s[t] = 2 * k - 1;
            }
        }
        return s;
    }

    /** [j] = {first frame, one past the last frame} of target label j on an alignment. */
    static int[][] spans(int[] pi, int blank, int length) {
        int[][] spans = new int[length][];
        int[] s = states(pi, blank);
        for (int t = 0; t < pi.length; t++) {
            if (s[t] % 2 == 1) {
                int j = (s[t] - 1) / 2;
                if (spans[j] == null) {
                    spans[j] = new int[] {t, t + 1};
                } else {
                    spans[j][1] = t + 1;
                }
            }
        }
        return spans;
    }

    /** log_softmax over the last axis. */
    static double[][] logSoftmax(double[][] logits) {
        double[][] out = new double[logits.length][];
        for (int t = 0; t < logits.length; t++) {
            double max = Double.NEGATIVE_INFINITY;
            for (double v : logits[t]) {
                max = Math.max(max, v);
            }
            double sum = 0;
            for (double v : logits[t]) {
                sum += Math.exp(v - max);
            }
            double lse = max + Math.log(sum);
            out[t] = new double[logits[t].length];
            for (int c = 0; c < logits[t].length; c++) {
                out[t][c] = logits[t][c] - lse;
            }
        }
        return out;
    }
}
