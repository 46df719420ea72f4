package org.semiringkernels.cli.demo;

/**
 * Per-position features of a DNA sequence for a linear scoring layer: the one-hot base at each
 * offset of a window [-w, w] (4 (2w + 1) indicators), the one-hot of the dinucleotide at
 * (t, t + 1) and (t - 1, t) (2 x 16, which see the splice signals GT / AG), and a bias: scores[t, c]
 * = sum_f weight[c, f] x[t, f]. The features are sparse (2w + 4 ones per position), so they are
 * stored as active indices.
 */
public final class Features {

    private final int window;

    public Features(int window) {
        this.window = window;
    }

    public int count() {
        return 4 * (2 * window + 1) + 32 + 1;
    }

    /** Indices of the active features of every position: (T, active()) row-major. */
    public int[] active(int[] bases) {
        int per = active(), length = bases.length;
        int[] out = new int[length * per];
        for (int t = 0; t < length; t++) {
            int k = t * per;
            for (int o = -window; o <= window; o++) {
                int u = Math.min(Math.max(t + o, 0), length - 1);  // edges repeat the end base
                out[k++] = 4 * (o + window) + bases[u];
            }
            int base = 4 * (2 * window + 1);
            int next = t + 1 < length ? bases[t + 1] : bases[t];
            int prev = t > 0 ? bases[t - 1] : bases[t];
            out[k++] = base + 4 * bases[t] + next;
            out[k++] = base + 16 + 4 * prev + bases[t];
            out[k++] = count() - 1;  // bias
        }
        return out;
    }

    /** Active features per position. */
    public int active() {
        return 2 * window + 1 + 3;
    }

    /** scores[t, c] = sum of weight[c, f] over the active features f of position t. */
    public void scores(int[] active, int length, double[] weight, int labels, float[] scores, int offset) {
        int per = active();
        int f = count();
        for (int t = 0; t < length; t++) {
            for (int c = 0; c < labels; c++) {
                double s = 0;
                for (int k = 0; k < per; k++) {
                    s += weight[c * f + active[t * per + k]];
                }
                scores[offset + t * labels + c] = (float) s;
            }
        }
    }

    /** gradWeight[c, f] += sum_t gradScores[t, c] over the positions where f is active. */
    public void accumulate(int[] active, int length, double[] gradScores, int offset, int labels, double[] gradWeight) {
        int per = active();
        int f = count();
        for (int t = 0; t < length; t++) {
            for (int c = 0; c < labels; c++) {
                double g = gradScores[offset + t * labels + c];
                if (g == 0) {
                    continue;
                }
                for (int k = 0; k < per; k++) {
                    gradWeight[c * f + active[t * per + k]] += g;
                }
            }
        }
    }
}
