package org.semiringkernels.snippets;

import java.util.List;

import org.semiringkernels.Context;
import org.semiringkernels.Ctc;
import org.semiringkernels.Hmm;
import org.semiringkernels.SemiCrf;
import org.semiringkernels.SemifieldConv;
import org.semiringkernels.Semiring;
import org.semiringkernels.SemiringEinsum;
import org.semiringkernels.SemiringMatmul;
import org.semiringkernels.Tensor;

/**
 * The runnable example of each family, shown in that family's Javadoc through
 * {@code {@snippet class="org.semiringkernels.snippets.JavadocExamples" region="..."}} (javadoc's
 * {@code --snippet-path} points at this source folder) and run, with its result checked, by
 * {@code JavadocExamplesTest}: an example in the Javadoc cannot go stale without a test failing.
 * Each example runs on the CPU context so that it gives the same result everywhere.
 */
public final class JavadocExamples {
    private JavadocExamples() {}

    /** Min-plus matrix product: the shortest paths of at most two hops of a 3-node graph. */
    public static float[] matmulShortestTwoHops() {
        // @start region="matmul"
        float inf = Float.POSITIVE_INFINITY;
        float[] edges = {0, 4, inf,      // edge weights: row = from, column = to
                         inf, 0, 1,
                         2, inf, 0};
        try (Context ctx = Context.cpu();
             Tensor a = Tensor.fromArray(edges, 3, 3);
             SemiringMatmul.Result r = SemiringMatmul.forward(ctx, Semiring.MIN, a, a)) {
            return r.c().toFloatArray();  // C[i,j] = min_k a[i,k] + a[k,j]; r.argmax(): the k
        }
        // @end
    }

    /** Log-likelihood and Viterbi path of a 2-state HMM over 3 steps. */
    public static Object[] hmmLikelihoodAndPath() {
        // @start region="hmm"
        double[] logPi = {Math.log(0.6), Math.log(0.4)};                 // initial (N)
        double[] logA = {Math.log(0.7), Math.log(0.3),                    // transition (N, N),
                         Math.log(0.4), Math.log(0.6)};                   // row = from
        double[] logEm = {Math.log(0.9), Math.log(0.2),                   // log p(x_t | z_t = j),
                          Math.log(0.1), Math.log(0.8),                   // (B=1, T=3, N=2)
                          Math.log(0.9), Math.log(0.2)};
        try (Context ctx = Context.cpu();
             Tensor initial = Tensor.fromArray(logPi, 2);
             Tensor transition = Tensor.fromArray(logA, 2, 2);
             Tensor emission = Tensor.fromArray(logEm, 1, 3, 2);
             Tensor lengths = Tensor.fromArray(new int[] {3}, 1)) {
            Hmm.Factored hmm = new Hmm.Factored(initial, transition, emission);
            try (Tensor logLikelihood = Hmm.forward(ctx, Semiring.LOG, hmm, lengths);   // (B)
                 Hmm.Viterbi best = Hmm.viterbi(ctx, hmm, lengths)) {                   // score, path (B, T)
                return new Object[] {logLikelihood.toDoubleArray()[0], best.path().toIntArray()};
            }
        }
        // @end
    }

    /** CTC loss of the label "1" over 3 frames of uniform 2-class log-probabilities. */
    public static float ctcLoss() {
        // @start region="ctc"
        int frames = 3, batch = 1, classes = 2;                          // class 0 is the blank
        float[] logProbs = new float[frames * batch * classes];
        java.util.Arrays.fill(logProbs, (float) Math.log(0.5));          // (T, B, C), time-major
        try (Context ctx = Context.cpu();
             Tensor lp = Tensor.fromArray(logProbs, frames, batch, classes);
             Tensor targets = Tensor.fromArray(new int[] {1}, batch, 1);  // padded (B, S)
             Tensor inputLengths = Tensor.fromArray(new int[] {frames});
             Tensor targetLengths = Tensor.fromArray(new int[] {1});
             Tensor loss = Ctc.loss(ctx, Ctc.Options.defaults(), lp, targets, inputLengths, targetLengths)) {
            return loss.toFloatArray()[0];  // MEAN: -log p(target) / target length, a rank-0 tensor
        }
        // @end
    }

    /**
     * Viterbi segmentation of 6 positions whose scores favour label 0, then label 1; a duration
     * bias of -1 per segment makes the two-segment answer the unique best.
     */
    public static List<SemiCrf.Segment> semiCrfSegments() {
        // @start region="semicrf"
        int t = 6, c = 2, k = 3;                                 // positions, labels, longest segment
        double[] scores = new double[t * c];                     // per-position scores (B=1, T, C)
        for (int i = 0; i < t; i++) scores[i * c + (i < 3 ? 0 : 1)] = 2.0;
        double[] bias = new double[k * c];                       // log duration prior: -1 per segment
        java.util.Arrays.fill(bias, -1.0);
        try (Context ctx = Context.cpu();
             Tensor x = Tensor.fromArray(scores, 1, t, c);
             Tensor transition = Tensor.fromArray(new double[c * c], c, c);        // (C, C), row = from
             Tensor durationBias = Tensor.fromArray(bias, k, c);                   // (K, C) log prior
             Tensor lengths = Tensor.fromArray(new int[] {t}, 1)) {
            SemiCrf.Model crf = SemiCrf.Model.of(x, transition, durationBias);
            try (SemiCrf.Viterbi best = SemiCrf.viterbi(ctx, SemiCrf.Options.defaults(), crf, lengths)) {
                return best.segmentsPerSequence().get(0);         // (start, end exclusive, label)
            }
        }
        // @end
    }

    /** A log-semiring matrix-vector product {@code out[i] = log sum_j exp(m[i,j] + v[j])}. */
    public static double[] einsumLogMatrixVector() {
        // @start region="einsum"
        double[] m = {0, 1, 2,
                      3, 4, 5};
        double[] v = {0, -1, -2};
        try (Context ctx = Context.cpu();
             Tensor matrix = Tensor.fromArray(m, 2, 3);
             Tensor vector = Tensor.fromArray(v, 3);
             SemiringEinsum logMv = SemiringEinsum.compile("ij,j->i", Semiring.LOG,
                     new long[] {2, 3}, new long[] {3});                   // parse and plan once
             SemiringEinsum.Result r = logMv.forward(ctx, matrix, vector)) {
            return r.out().toDoubleArray();
        }
        // @end
    }

    /** A tropical (max, +) depthwise 3x3 dilation with a zero kernel: a 3x3 max filter. */
    public static float[] semiconvMaxFilter() {
        // @start region="semiconv"
        float[] image = {1, 0, 0, 0,
                         0, 0, 0, 0,
                         0, 0, 0, 5,
                         0, 0, 0, 0};
        try (Context ctx = Context.cpu();
             Tensor input = Tensor.fromArray(image, 1, 1, 4, 4);              // (B, C, H, W)
             Tensor kernel = Tensor.fromArray(new float[9], 1, 1, 3, 3)) {    // (C_out, C_in/groups, 3, 3)
            SemifieldConv.Options opts = SemifieldConv.Options.of(SemifieldConv.Semifield.TROPICAL_MAX, 2)
                    .withPadding(SemifieldConv.Padding.same());
            try (SemifieldConv.Result r = SemifieldConv.forward(ctx, opts, input, kernel, true)) {
                return r.output().toFloatArray();    // r.provenance(): the winning tap of each output
            }
        }
        // @end
    }
}
