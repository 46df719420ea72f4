package org.semiringkernels.cli;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Locale;
import java.util.Random;

import org.semiringkernels.Context;
import org.semiringkernels.DType;
import org.semiringkernels.Device;
import org.semiringkernels.Semiring;
import org.semiringkernels.SemiringMatmul;
import org.semiringkernels.Tensor;
import org.semiringkernels.cli.demo.GeneDemo;

/**
 * {@code demo}: the main job, then two classic semiring computations, on the best device.
 * <ol>
 *   <li>The main job ({@link GeneDemo}): trains, from Java, a gene-structure segmenter whose
 *       output layer is the semi-Markov CRF on synthetic DNA, with the library's forward and
 *       backward entry points and a plain Java optimiser; prints the per-epoch loss and the
 *       held-out segment F1, decodes held-out sequences with Viterbi and writes two SVG pictures
 *       (true vs predicted segmentation, training curves).</li>
 *   <li>All-pairs shortest paths of a random weighted directed graph by repeated min-plus
 *       squaring, {@code D <- D (min,+) D}, ceil(log2(n - 1)) times, against Floyd-Warshall.
 *       Integer weights keep every path length exact in float32, so the check is exact.</li>
 *   <li>The log-likelihood of an observation sequence under a random HMM as a product of
 *       LOG-semiring matrices {@code M_t[i,j] = log A[i,j] + log B[j, o_t]}, reduced pairwise as a
 *       balanced tree of batched products (log2(T) batched calls instead of T sequential ones),
 *       against the forward algorithm. float64, because the chain is long.</li>
 * </ol>
 */
final class DemoCommand {

    /** Problem sizes and the device. */
    record Options(int nodes, int states, int length, long seed, Device device, GeneDemo.Config gene, Path out) {

        static Options parse(String[] args) {
            int nodes = 512, states = 64, length = 1024;
            long seed = 1;
            Device device = null;
            GeneDemo.Config g = GeneDemo.Config.defaults();
            int epochs = g.epochs(), geneLength = g.length(), train = g.trainSequences();
            Path out = Path.of("demo-output");
            for (int i = 0; i < args.length; i++) {
                String name = args[i];
                if (i + 1 >= args.length) {
                    throw new IllegalArgumentException("option " + name + " needs a value");
                }
                String value = args[++i];
                switch (name) {
                    case "--nodes" -> nodes = positive(name, value, 2);
                    case "--states" -> states = positive(name, value, 1);
                    case "--length" -> length = positive(name, value, 2);
                    case "--seed" -> seed = Long.parseLong(value);
                    case "--device" -> device = parseDevice(value);
                    case "--epochs" -> epochs = positive(name, value, 1);
                    case "--gene-length" -> geneLength = positive(name, value, 50);
                    case "--train-sequences" -> train = positive(name, value, 1);
                    case "--out" -> out = Path.of(value);
                    default -> throw new IllegalArgumentException("unknown option " + name);
                }
            }
            GeneDemo.Config gene = new GeneDemo.Config(train, g.heldOutSequences(), geneLength,
                    Math.min(g.maxDuration(), geneLength), epochs, g.batch(), g.window(), g.learningRate(), seed);
            return new Options(nodes, states, length, seed, device, gene, out);
        }

        static int positive(String name, String value, int min) {
            try {
                int v = Integer.parseInt(value);
                if (v >= min) {
                    return v;
                }
            } catch (NumberFormatException e) {
                // reported below
            }
            throw new IllegalArgumentException("option " + name + " needs an integer >= " + min + ", got " + value);
        }

        static Device parseDevice(String value) {
            String v = value.toLowerCase(Locale.ROOT);
            if (v.equals("cpu")) {
                return Device.CPU;
            }
            if (v.matches("cuda(:\\d+)?")) {
                return Device.cuda(v.contains(":") ? Integer.parseInt(v.substring(5)) : 0);
            }
            throw new IllegalArgumentException("option --device needs cpu or cuda:N, got " + value);
        }
    }

    private DemoCommand() {
    }

    static int run(Options options, PrintStream out, PrintStream progress) throws IOException {
        Device device = options.device() != null ? options.device() : Device.best();
        String cause = Device.unavailabilityCause();
        out.println("Semiring Kernels demo on " + device + (device.isCpu() && !cause.isEmpty()
                ? " (CUDA unavailable: " + cause + ")" : ""));
        long start = System.nanoTime();
        try (Context context = Context.create(device)) {
            out.println();
            GeneDemo.Result gene = new GeneDemo(options.gene()).run(context, out, progress, options.out());
            out.printf(Locale.ROOT, "wrote %s (true vs predicted segmentation) and %s (loss and F1 per epoch)%n",
                    gene.segmentationSvg().toAbsolutePath(), gene.curvesSvg().toAbsolutePath());
            out.printf(Locale.ROOT, "main job done in %.1f s%n", seconds(start));
            out.println();
            boolean paths = shortestPaths(context, options, out);
            out.println();
            boolean hmm = hmmLikelihood(context, options, out);
            out.println();
            out.printf(Locale.ROOT, "%s in %.2f s%n", paths && hmm ? "OK: both results agree with the Java references"
                    : "FAILED: a result disagrees with its Java reference", seconds(start));
            return paths && hmm ? 0 : 1;
        }
    }

    // ---- all-pairs shortest paths ------------------------------------------------------------

    static boolean shortestPaths(Context context, Options options, PrintStream out) {
        int n = options.nodes();
        Random rng = new Random(options.seed());
        float[] weights = new float[n * n];
        Arrays.fill(weights, Float.POSITIVE_INFINITY);
        double edgeProbability = Math.min(1.0, 8.0 / n); // about 8 out-edges per node
        int edges = 0;
        for (int i = 0; i < n; i++) {
            weights[i * n + i] = 0;
            for (int j = 0; j < n; j++) {
                if (i != j && rng.nextDouble() < edgeProbability) {
                    weights[i * n + j] = 1 + rng.nextInt(100);
                    edges++;
                }
            }
        }
        int squarings = 0;
        for (long hops = 1; hops < n - 1; hops *= 2) {
            squarings++;
        }
        out.printf(Locale.ROOT, "All-pairs shortest paths: %d nodes, %d edges (%d min-plus squarings of %dx%d)%n",
                n, edges, squarings, n, n);

        long t0 = System.nanoTime();
        float[] distances = minPlusClosure(context, weights, n, squarings);
        double kernelSeconds = seconds(t0);
        long t1 = System.nanoTime();
        double[] reference = floydWarshall(weights, n);
        double javaSeconds = seconds(t1);

        int differing = 0, reachable = 0;
        double sum = 0, longest = 0;
        for (int i = 0; i < n * n; i++) {
            if (distances[i] != (float) reference[i]) {
                differing++;
            }
            if (i % (n + 1) != 0 && Double.isFinite(reference[i])) {
                reachable++;
                sum += reference[i];
                longest = Math.max(longest, reference[i]);
            }
        }
        out.printf(Locale.ROOT, "  semiring kernels: %.3f s (%.2f G min-plus ops/s)   Floyd-Warshall in Java: %.3f s%n",
                kernelSeconds, squarings * Math.pow(n, 3) / kernelSeconds / 1e9, javaSeconds);
        out.printf(Locale.ROOT, "  reachable pairs: %d of %d, mean distance %.1f, longest shortest path %.0f%n",
                reachable, (long) n * (n - 1), reachable == 0 ? 0 : sum / reachable, longest);
        out.printf(Locale.ROOT, "  agreement with Floyd-Warshall: %s (%d of %d distances differ)%n",
                differing == 0 ? "exact" : "MISMATCH", differing, n * n);
        return differing == 0;
    }

    /** D^(2^squarings) in the (min, +) semiring, ping-ponging between two device buffers. */
    static float[] minPlusClosure(Context context, float[] weights, int n, int squarings) {
        try (Tensor host = Tensor.fromArray(weights, n, n);
             Tensor first = host.to(context);
             Tensor second = Tensor.allocate(context, DType.FLOAT32, n, n)) {
            Tensor current = first, next = second;
            for (int s = 0; s < squarings; s++) {
                SemiringMatmul.forward(context, Semiring.MIN, current, current, next);
                Tensor swap = current;
                current = next;
                next = swap;
            }
            context.synchronize();
            return current.toFloatArray();
        }
    }

    static double[] floydWarshall(float[] weights, int n) {
        double[] d = new double[n * n];
        for (int i = 0; i < d.length; i++) {
            d[i] = weights[i];
        }
        for (int k = 0; k < n; k++) {
            for (int i = 0; i < n; i++) {
                double dik = d[i * n + k];
                if (dik == Double.POSITIVE_INFINITY) {
                    continue;
                }
                for (int j = 0; j < n; j++) {
                    double via = dik + d[k * n + j];
                    if (via < d[i * n + j]) {
                        d[i * n + j] = via;
                    }
                }
            }
        }
        return d;
    }

    // ---- HMM log-likelihood ------------------------------------------------------------------

    /** A random HMM in log space and an observation sequence sampled from it. */
    record Hmm(double[] logStart, double[][] logTransition, double[][] logEmission, int[] observations) {

        static Hmm random(int states, int symbols, int length, Random rng) {
            double[][] start = logStochastic(rng, 1, states);
            double[][] transition = logStochastic(rng, states, states);
            double[][] emission = logStochastic(rng, states, symbols);
            int[] obs = new int[length];
            int state = sample(rng, start[0]);
            for (int t = 0; t < length; t++) {
                obs[t] = sample(rng, emission[state]);
                state = sample(rng, transition[state]);
            }
            return new Hmm(start[0], transition, emission, obs);
        }

        int states() {
            return logStart.length;
        }

        /** log P(observations) by the forward algorithm, in Java. */
        double forwardAlgorithm() {
            int s = states();
            double[] alpha = new double[s];
            for (int j = 0; j < s; j++) {
                alpha[j] = logStart[j] + logEmission[j][observations[0]];
            }
            double[] terms = new double[s];
            for (int t = 1; t < observations.length; t++) {
                double[] next = new double[s];
                for (int j = 0; j < s; j++) {
                    for (int i = 0; i < s; i++) {
                        terms[i] = alpha[i] + logTransition[i][j];
                    }
                    next[j] = logSumExp(terms) + logEmission[j][observations[t]];
                }
                alpha = next;
            }
            return logSumExp(alpha);
        }

        private static double[][] logStochastic(Random rng, int rows, int cols) {
            double[][] m = new double[rows][cols];
            for (double[] row : m) {
                for (int j = 0; j < cols; j++) {
                    row[j] = 1.5 * rng.nextGaussian();
                }
                double norm = logSumExp(row);
                for (int j = 0; j < cols; j++) {
                    row[j] -= norm;
                }
            }
            return m;
        }

        private static int sample(Random rng, double[] logProbabilities) {
            double u = rng.nextDouble(), acc = 0;
            for (int i = 0; i < logProbabilities.length; i++) {
                acc += Math.exp(logProbabilities[i]);
                if (u < acc) {
                    return i;
                }
            }
            return logProbabilities.length - 1;
        }
    }

    static boolean hmmLikelihood(Context context, Options options, PrintStream out) {
        int s = options.states(), symbols = 32, length = options.length();
        Hmm hmm = Hmm.random(s, symbols, length, new Random(options.seed() + 1));
        out.printf(Locale.ROOT, "HMM log-likelihood: %d states, %d symbols, %d observations "
                + "(product of %d LOG-semiring matrices as a tree of batched products)%n", s, symbols, length, length - 1);

        long t0 = System.nanoTime();
        double logLikelihood = chainLogLikelihood(context, hmm);
        double kernelSeconds = seconds(t0);
        long t1 = System.nanoTime();
        double reference = hmm.forwardAlgorithm();
        double javaSeconds = seconds(t1);

        double relative = Math.abs(logLikelihood - reference) / Math.max(1, Math.abs(reference));
        out.printf(Locale.ROOT, "  semiring kernels: %.3f s   forward algorithm in Java: %.3f s%n", kernelSeconds, javaSeconds);
        out.printf(Locale.ROOT, "  log-likelihood: %.9f (Java: %.9f, relative difference %.1e)%n",
                logLikelihood, reference, relative);
        boolean ok = relative < 1e-9;
        out.println("  agreement with the forward algorithm: " + (ok ? "yes (< 1e-9)" : "MISMATCH"));
        return ok;
    }

    /**
     * log P(o) = logsumexp_j (alpha_1 (x) M_2 (x) ... (x) M_T)[j] in the LOG semiring, where
     * alpha_1[j] = log pi[j] + log B[j, o_1]. The matrices are multiplied pairwise, level by level:
     * each level is one batched call over adjacent pairs (order kept; an odd last one carries over).
     */
    static double chainLogLikelihood(Context context, Hmm hmm) {
        int s = hmm.states();
        int[] obs = hmm.observations();
        int count = obs.length - 1;
        double[] matrices = new double[count * s * s];
        for (int t = 0; t < count; t++) {
            for (int i = 0; i < s; i++) {
                for (int j = 0; j < s; j++) {
                    matrices[(t * s + i) * s + j] = hmm.logTransition()[i][j] + hmm.logEmission()[j][obs[t + 1]];
                }
            }
        }
        double[] alpha1 = new double[s];
        for (int j = 0; j < s; j++) {
            alpha1[j] = hmm.logStart()[j] + hmm.logEmission()[j][obs[0]];
        }
        Tensor level;
        try (Tensor host = Tensor.fromArray(matrices, count, s, s)) {
            level = host.to(context);
        }
        try {
            while (level.shape(0) > 1) {
                Tensor next = reducePairs(context, level);
                level.close();
                level = next;
            }
            try (Tensor hostAlpha = Tensor.fromArray(alpha1, 1, s);
                 Tensor alpha = hostAlpha.to(context);
                 SemiringMatmul.Result last = SemiringMatmul.forward(context, Semiring.LOG, alpha, level.select(0, 0))) {
                context.synchronize();
                return logSumExp(last.c().toDoubleArray());
            }
        } finally {
            level.close();
        }
    }

    /** (count, s, s) -> (ceil(count / 2), s, s): products of adjacent pairs in one batched call. */
    static Tensor reducePairs(Context context, Tensor level) {
        long count = level.shape(0), s = level.shape(1), pairs = count / 2;
        boolean odd = count % 2 == 1;
        Tensor next = Tensor.allocate(context, level.dtype(), pairs + (odd ? 1 : 0), s, s);
        try {
            Tensor paired = level.slice(0, 0, 2 * pairs).reshape(pairs, 2, s, s);
            SemiringMatmul.forward(context, Semiring.LOG, paired.select(1, 0), paired.select(1, 1),
                    next.slice(0, 0, pairs));
            if (odd) {
                level.select(0, count - 1).copyTo(next.select(0, pairs));
            }
            return next;
        } catch (RuntimeException e) {
            next.close();
            throw e;
        }
    }

    static double logSumExp(double[] values) {
        double max = Double.NEGATIVE_INFINITY;
        for (double v : values) {
            max = Math.max(max, v);
        }
        if (max == Double.NEGATIVE_INFINITY) {
            return max;
        }
        double sum = 0;
        for (double v : values) {
            sum += Math.exp(v - max);
        }
        return max + Math.log(sum);
    }

    private static double seconds(long startNanos) {
        return (System.nanoTime() - startNanos) / 1e9;
    }
}
