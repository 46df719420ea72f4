package org.semiringkernels.cli.demo;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Random;

import org.semiringkernels.Context;
import org.semiringkernels.DType;
import org.semiringkernels.DurationPriors;
import org.semiringkernels.SemiCrf;
import org.semiringkernels.Semiring;
import org.semiringkernels.Tensor;

/**
 * The main job of {@code semiring-kernels demo}: trains, from Java, a gene-structure segmenter
 * whose output layer is the semi-Markov CRF, on synthetic DNA ({@link GeneData}).
 *
 * <p>Model: per-position label scores are linear in sparse sequence features
 * ({@link Features}: a window of one-hot bases and the dinucleotides around the position); the
 * semi-CRF adds boundary scores (position weight matrices: a segment of label c starting at s
 * scores sum_o startWeight[c, o, base[s + o]], one ending at e - 1 scores
 * sum_o endWeight[c, o, base[e - SIGNAL + o]]: where splice sites, start and stop codons are
 * seen), a learned label transition matrix, learned start scores and, per label, a
 * negative binomial duration prior ({@link DurationPriors#negativeBinomial}) whose parameters are
 * learned through r = exp(rho), p = sigmoid(pi). Loss: the negative log-likelihood of the true
 * segmentation per position, NLL = (log Z - gold score) / T, averaged over a batch; its gradient
 * is the library's backward of log Z minus its backward of the gold score (both w.r.t. the scores,
 * the transition, the duration bias and the start), pushed through the features and the prior's
 * parameters by hand, and applied with {@link Adam}. After every epoch, held-out sequences are
 * decoded with Viterbi and scored by exon segment F1 (exact start, end and label), all-segment F1
 * and per-position label accuracy.
 */
public final class GeneDemo {

    /** Sizes of the job. */
    public record Config(int trainSequences, int heldOutSequences, int length, int maxDuration, int epochs,
                         int batch, int window, double learningRate, long seed) {

        /** The default job: well under a minute on a laptop CPU. */
        public static Config defaults() {
            return new Config(24, 8, 1200, 300, 16, 2, 3, 0.02, 1);
        }
    }

    /** What the job produced: per-epoch loss and held-out F1, and the pictures' paths. */
    public record Result(double[] loss, double[] exonF1, double[] allF1, double[] accuracy, Path segmentationSvg,
                         Path curvesSvg) {
    }

    private static final int C = GeneData.LABELS;
    /** Bases read by a boundary score (a position weight matrix per label and side). */
    private static final int SIGNAL = 6;

    private final Config config;
    final Features features;
    private final double[] weight;          // (C, F)
    private final double[] startWeight;     // (C, W, 4): segment-start score from bases s .. s+W-1
    private final double[] endWeight;       // (C, W, 4): segment-end score from bases e-W .. e-1
    private final double[] transition;      // (C, C), row = from
    private final double[] start;           // (C)
    private final double[] durationRho;     // (C): r = exp(rho)
    private final double[] durationPi;      // (C): p = sigmoid(pi)

    public GeneDemo(Config config) {
        this.config = config;
        this.features = new Features(config.window());
        this.weight = new double[C * features.count()];
        this.startWeight = new double[C * SIGNAL * 4];
        this.endWeight = new double[C * SIGNAL * 4];
        this.transition = new double[C * C];
        this.start = new double[C];
        this.durationRho = new double[C];
        this.durationPi = new double[C];
        Arrays.fill(durationRho, Math.log(2));
        Arrays.fill(durationPi, logit(0.02));  // mean duration (1 - p) r / p + 1 ~ 100 at first
    }

    private static double logit(double p) {
        return Math.log(p / (1 - p));
    }

    private static double sigmoid(double x) {
        return 1 / (1 + Math.exp(-x));
    }

    private DurationPriors.Prior prior() {
        double[] r = new double[C], p = new double[C];
        for (int c = 0; c < C; c++) {
            r[c] = Math.exp(durationRho[c]);
            p[c] = Math.min(Math.max(sigmoid(durationPi[c]), 1e-6), 1 - 1e-6);
        }
        return DurationPriors.negativeBinomial(config.maxDuration(), r, p);
    }

    /**
     * The parameters as one vector for the optimiser, in the order weight, startWeight, endWeight,
     * transition, start, durationRho, durationPi (copied back by unpack).
     */
    double[] pack() {
        double[] all = new double[weight.length + startWeight.length + endWeight.length + transition.length
                + start.length + 2 * C];
        int at = 0;
        for (double[] part : new double[][] {weight, startWeight, endWeight, transition, start, durationRho, durationPi}) {
            System.arraycopy(part, 0, all, at, part.length);
            at += part.length;
        }
        return all;
    }

    void unpack(double[] all) {
        int at = 0;
        for (double[] part : new double[][] {weight, startWeight, endWeight, transition, start, durationRho, durationPi}) {
            System.arraycopy(all, at, part, 0, part.length);
            at += part.length;
        }
    }

    /** Runs the job, printing progress to `progress` and results to `out`; writes the pictures to dir. */
    public Result run(Context context, PrintStream out, PrintStream progress, Path dir) throws IOException {
        Config k = config;
        List<GeneData.Sequence> train = GeneData.generate(k.trainSequences(), k.length(), k.maxDuration(), k.seed());
        List<GeneData.Sequence> heldOut = GeneData.generate(k.heldOutSequences(), k.length(), k.maxDuration(),
                k.seed() + 1000);
        List<int[]> trainFeatures = new ArrayList<>();
        for (GeneData.Sequence s : train) {
            trainFeatures.add(features.active(s.bases()));
        }
        out.printf(Locale.ROOT, "gene-structure segmentation: %d training and %d held-out sequences of %d bp, "
                + "labels intergenic/exon/intron, durations 1..%d%n", train.size(), heldOut.size(), k.length(),
                k.maxDuration());
        out.printf(Locale.ROOT, "model: linear scores on %d sparse features per label + semi-CRF (transition, "
                + "start, negative binomial duration prior per label); Adam, lr %.3g, batch %d%n", features.count(),
                k.learningRate(), k.batch());
        Adam adam = new Adam(pack().length, k.learningRate());
        double[] losses = new double[k.epochs()], exonF1 = new double[k.epochs()], allF1 = new double[k.epochs()];
        double[] accuracy = new double[k.epochs()];
        Random shuffle = new Random(k.seed() + 7);
        List<List<GeneData.Segment>> lastPrediction = List.of();
        for (int epoch = 0; epoch < k.epochs(); epoch++) {
            List<Integer> order = new ArrayList<>();
            for (int i = 0; i < train.size(); i++) {
                order.add(i);
            }
            java.util.Collections.shuffle(order, shuffle);
            double lossSum = 0;
            int batches = (train.size() + k.batch() - 1) / k.batch();
            for (int bi = 0; bi < batches; bi++) {
                List<Integer> members = order.subList(bi * k.batch(), Math.min(train.size(), (bi + 1) * k.batch()));
                double[] params = pack();
                double[] grad = new double[params.length];
                lossSum += step(context, train, trainFeatures, members, grad);
                adam.step(params, grad);
                unpack(params);
                progressBar(progress, epoch + 1, k.epochs(), bi + 1, batches);
            }
            losses[epoch] = lossSum / batches;
            SegmentF1 exon = new SegmentF1(), all = new SegmentF1();
            lastPrediction = decode(context, heldOut);
            long correct = 0, positions = 0;
            for (int i = 0; i < heldOut.size(); i++) {
                exon.add(heldOut.get(i).segments(), lastPrediction.get(i), GeneData.EXON);
                all.add(heldOut.get(i).segments(), lastPrediction.get(i), -1);
                int[] truth = heldOut.get(i).labels(), predicted = labels(lastPrediction.get(i), truth.length);
                for (int u = 0; u < truth.length; u++) {
                    correct += truth[u] == predicted[u] ? 1 : 0;
                }
                positions += truth.length;
            }
            accuracy[epoch] = correct / (double) positions;
            exonF1[epoch] = exon.f1();
            allF1[epoch] = all.f1();
            progress.print("\r");
            out.printf(Locale.ROOT, "epoch %2d/%d  NLL/bp %.4f  held-out: exon F1 %.3f (P %.3f, R %.3f), "
                    + "all-segment F1 %.3f, per-bp accuracy %.3f%n", epoch + 1, k.epochs(), losses[epoch],
                    exonF1[epoch], exon.precision(), exon.recall(), allF1[epoch], accuracy[epoch]);
        }
        Files.createDirectories(dir);
        Path segmentation = dir.resolve("segmentation.svg"), curves = dir.resolve("training.svg");
        Files.writeString(segmentation, DemoSvg.segmentation("held-out sequence 1: true vs Viterbi segmentation",
                heldOut.get(0).length(), heldOut.get(0).segments(), lastPrediction.get(0)));
        Files.writeString(curves, DemoSvg.curves("training", losses, allF1, accuracy));
        return new Result(losses, exonF1, allF1, accuracy, segmentation, curves);
    }

    /** The label of every position of a segmentation of `length` positions. */
    static int[] labels(List<GeneData.Segment> segments, int length) {
        int[] out = new int[length];
        for (GeneData.Segment s : segments) {
            for (int u = s.start(); u < s.end(); u++) {
                out[u] = s.label();
            }
        }
        return out;
    }

    /**
     * One batch: adds d(mean NLL per position)/d(params) (in {@link #pack()}'s order) to grad and
     * returns the loss. Per sequence the upstream gradient of log Z is 1 / (B T) and of the gold
     * score -1 / (B T).
     */
    double step(Context context, List<GeneData.Sequence> data, List<int[]> active, List<Integer> members,
                double[] grad) {
        int b = members.size(), t = config.length(), f = features.count();
        float[] scores = new float[b * t * C];
        for (int i = 0; i < b; i++) {
            features.scores(active.get(members.get(i)), t, weight, C, scores, i * t * C);
        }
        DurationPriors.Prior prior = prior();
        int maxSegments = 0;
        for (int i : members) {
            maxSegments = Math.max(maxSegments, data.get(i).segments().size());
        }
        int[] gold = new int[b * maxSegments * 3];
        int[] counts = new int[b];
        Arrays.fill(gold, -1);
        for (int i = 0; i < b; i++) {
            List<GeneData.Segment> segs = data.get(members.get(i)).segments();
            counts[i] = segs.size();
            for (int j = 0; j < segs.size(); j++) {
                int at = (i * maxSegments + j) * 3;
                gold[at] = segs.get(j).start();
                gold[at + 1] = segs.get(j).end();
                gold[at + 2] = segs.get(j).label();
            }
        }
        List<int[]> bases = new ArrayList<>();
        for (int i : members) {
            bases.add(data.get(i).bases());
        }
        long[] lengths = new long[b];
        Arrays.fill(lengths, t);
        float[] up = new float[b], down = new float[b];
        Arrays.fill(up, (float) (1.0 / (b * (double) t)));
        Arrays.fill(down, (float) (-1.0 / (b * (double) t)));
        try (Tensor x = onDevice(context, Tensor.fromArray(scores, b, t, C));
             Tensor tr = onDevice(context, Tensor.fromArray(toFloat(transition), C, C));
             Tensor bias = onDevice(context, prior.toTensor(DType.FLOAT32));
             Tensor st = onDevice(context, Tensor.fromArray(toFloat(start), C));
             Tensor ps = onDevice(context, Tensor.fromArray(boundaryScores(bases, t, startWeight, true), b, t, C));
             Tensor pe = onDevice(context, Tensor.fromArray(boundaryScores(bases, t, endWeight, false), b, t, C));
             Tensor len = Tensor.fromArray(lengths, b);
             Tensor goldSegments = Tensor.fromArray(gold, b, maxSegments, 3);
             Tensor goldCounts = Tensor.fromArray(counts, b);
             Tensor gUp = onDevice(context, Tensor.fromArray(up, b));
             Tensor gDown = onDevice(context, Tensor.fromArray(down, b))) {
            SemiCrf.Model model = SemiCrf.Model.of(x, tr, bias).withStart(st).withProjections(ps, pe);
            SemiCrf.Options options = SemiCrf.Options.builder().semiring(Semiring.LOG).build();
            SemiCrf.Gold g = SemiCrf.Gold.segments(goldSegments, goldCounts);
            try (SemiCrf.Gradients z = SemiCrf.backward(context, options, model, len, gUp);
                 SemiCrf.Gradients y = SemiCrf.goldScoreBackward(context, options, model, len, g, gDown)) {
                double[] logZ = z.value().toDoubleArrayConverted();
                double[] goldScore = y.value().toDoubleArrayConverted();
                double loss = 0;
                for (int i = 0; i < b; i++) {
                    loss += (logZ[i] - goldScore[i]) / t;
                }
                double[] gs = sum(z.gradScores(), y.gradScores());
                double[] gWeight = new double[weight.length];
                for (int i = 0; i < b; i++) {
                    features.accumulate(active.get(members.get(i)), t, gs, i * t * C, C, gWeight);
                }
                double[] gStartWeight = new double[startWeight.length], gEndWeight = new double[endWeight.length];
                accumulateBoundary(bases, t, sum(z.gradProjStart(), y.gradProjStart()), true, gStartWeight);
                accumulateBoundary(bases, t, sum(z.gradProjEnd(), y.gradProjEnd()), false, gEndWeight);
                double[] gTransition = sum(z.gradTransition(), y.gradTransition());
                double[] gStart = sum(z.gradStart(), y.gradStart());
                double[] gPrior = prior.parameterGradient(sum(z.gradDurationBias(), y.gradDurationBias()));  // dL/dr, dL/dp
                int at = 0;
                for (int i = 0; i < gWeight.length; i++) {
                    grad[at++] += gWeight[i];
                }
                for (double v : gStartWeight) {
                    grad[at++] += v;
                }
                for (double v : gEndWeight) {
                    grad[at++] += v;
                }
                for (double v : gTransition) {
                    grad[at++] += v;
                }
                for (double v : gStart) {
                    grad[at++] += v;
                }
                for (int c = 0; c < C; c++) {
                    grad[at++] += gPrior[c] * Math.exp(durationRho[c]);  // dr/drho = r
                }
                for (int c = 0; c < C; c++) {
                    double p = sigmoid(durationPi[c]);
                    grad[at++] += gPrior[C + c] * p * (1 - p);  // dp/dpi
                }
                return loss / b;
            }
        }
    }

    /** Viterbi segmentations of the sequences under the current parameters. */
    List<List<GeneData.Segment>> decode(Context context, List<GeneData.Sequence> data) {
        int b = data.size(), t = config.length();
        float[] scores = new float[b * t * C];
        for (int i = 0; i < b; i++) {
            features.scores(features.active(data.get(i).bases()), t, weight, C, scores, i * t * C);
        }
        List<int[]> bases = new ArrayList<>();
        for (GeneData.Sequence sequence : data) {
            bases.add(sequence.bases());
        }
        long[] lengths = new long[b];
        Arrays.fill(lengths, t);
        try (Tensor x = onDevice(context, Tensor.fromArray(scores, b, t, C));
             Tensor tr = onDevice(context, Tensor.fromArray(toFloat(transition), C, C));
             Tensor bias = onDevice(context, prior().toTensor(DType.FLOAT32));
             Tensor st = onDevice(context, Tensor.fromArray(toFloat(start), C));
             Tensor ps = onDevice(context, Tensor.fromArray(boundaryScores(bases, t, startWeight, true), b, t, C));
             Tensor pe = onDevice(context, Tensor.fromArray(boundaryScores(bases, t, endWeight, false), b, t, C));
             Tensor len = Tensor.fromArray(lengths, b);
             SemiCrf.Viterbi v = SemiCrf.viterbi(context, SemiCrf.Options.defaults(),
                     SemiCrf.Model.of(x, tr, bias).withStart(st).withProjections(ps, pe), len)) {
            List<List<GeneData.Segment>> out = new ArrayList<>();
            for (List<SemiCrf.Segment> segs : v.segmentsPerSequence()) {
                List<GeneData.Segment> mine = new ArrayList<>();
                for (SemiCrf.Segment s : segs) {
                    mine.add(new GeneData.Segment(s.start(), s.end(), s.label()));
                }
                out.add(mine);
            }
            return out;
        }
    }

    /** Base at position u, the sequence's ends repeated beyond it. */
    private static int baseAt(int[] bases, int u) {
        return bases[Math.min(Math.max(u, 0), bases.length - 1)];
    }

    /** First position of the window a boundary score at u reads: u (start side) or u - SIGNAL + 1. */
    private static int windowStart(int u, boolean startSide) {
        return startSide ? u : u - SIGNAL + 1;
    }

    /** proj[b, u, c] = sum_o w[c, o, base[window(u) + o]], row-major (B, T, C). */
    private static float[] boundaryScores(List<int[]> bases, int t, double[] w, boolean startSide) {
        float[] out = new float[bases.size() * t * C];
        for (int i = 0; i < bases.size(); i++) {
            int[] seq = bases.get(i);
            for (int u = 0; u < t; u++) {
                int from = windowStart(u, startSide);
                for (int c = 0; c < C; c++) {
                    double v = 0;
                    for (int o = 0; o < SIGNAL; o++) {
                        v += w[(c * SIGNAL + o) * 4 + baseAt(seq, from + o)];
                    }
                    out[(i * t + u) * C + c] = (float) v;
                }
            }
        }
        return out;
    }

    /** gradW[c, o, base[window(u) + o]] += grad[b, u, c]. */
    private static void accumulateBoundary(List<int[]> bases, int t, double[] grad, boolean startSide, double[] gradW) {
        for (int i = 0; i < bases.size(); i++) {
            int[] seq = bases.get(i);
            for (int u = 0; u < t; u++) {
                int from = windowStart(u, startSide);
                for (int c = 0; c < C; c++) {
                    double g = grad[(i * t + u) * C + c];
                    if (g == 0) {
                        continue;
                    }
                    for (int o = 0; o < SIGNAL; o++) {
                        gradW[(c * SIGNAL + o) * 4 + baseAt(seq, from + o)] += g;
                    }
                }
            }
        }
    }

    /** The host tensor itself on a CPU context, else a device copy (the host tensor is closed). */
    private static Tensor onDevice(Context context, Tensor host) {
        if (context.device().isCpu()) {
            return host;
        }
        try (host) {
            return host.to(context);
        }
    }

    /** a + b element-wise, read to the host (device tensors are copied). */
    private static double[] sum(Tensor a, Tensor b) {
        double[] x = a.toDoubleArrayConverted(), y = b.toDoubleArrayConverted();
        for (int i = 0; i < x.length; i++) {
            x[i] += y[i];
        }
        return x;
    }

    private static float[] toFloat(double[] v) {
        float[] out = new float[v.length];
        for (int i = 0; i < v.length; i++) {
            out[i] = (float) v[i];
        }
        return out;
    }

    private static void progressBar(PrintStream progress, int epoch, int epochs, int done, int total) {
        int width = 30, filled = (int) Math.round(width * (double) done / total);
        progress.printf(Locale.ROOT, "\repoch %d/%d [%s%s] %d/%d batches", epoch, epochs, "#".repeat(filled),
                ".".repeat(width - filled), done, total);
        progress.flush();
    }
}
