package org.semiringkernels.examples;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Random;

import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;
import org.semiringkernels.Context;
import org.semiringkernels.Ctc;
import org.semiringkernels.Hmm;
import org.semiringkernels.SemiCrf;
import org.semiringkernels.Semiring;
import org.semiringkernels.Tensor;
import org.semiringkernels.spark.SparkCtc;
import org.semiringkernels.spark.SparkHmm;
import org.semiringkernels.spark.SparkSemiCrf;

/**
 * Benchmark (run by hand, not by the tests): rows per second of the Spark operations on
 * local[2] (batches of 1,000 rows, output discarded through Spark's "noop" sink) against the Java
 * API called directly on one thread over the same rows in the same batches (CPU). The input
 * Dataset is cached and materialised before timing; each measurement is the best of three.
 *
 * <pre>  java ... org.semiringkernels.examples.SparkThroughput [ROWS (10000)]</pre>
 */
public final class SparkThroughput {

    private SparkThroughput() {
    }

    public static void main(String[] args) throws java.io.IOException {
        int rows = args.length > 0 ? Integer.parseInt(args[0]) : 10_000;
        try (SparkSession spark = SparkSession.builder().master("local[2]").appName("throughput").getOrCreate();
             Context context = Context.cpu()) {
            System.out.printf(Locale.ROOT, "%-34s %8s %14s %16s %9s%n", "operation", "rows", "spark rows/s",
                    "java 1-thread", "ratio");
            semiCrf(spark, context, rows);
            hmm(spark, context, rows);
            ctc(spark, context, rows);
        }
    }

    static void report(String name, int rows, double sparkSeconds, double javaSeconds) {
        System.out.printf(Locale.ROOT, "%-34s %8d %14.0f %16.0f %9.2f%n", name, rows, rows / sparkSeconds,
                rows / javaSeconds, sparkSeconds / javaSeconds);
    }

    static double best(Runnable r) {
        double best = Double.POSITIVE_INFINITY;
        for (int i = 0; i < 3; i++) {
            long t0 = System.nanoTime();
            r.run();
            best = Math.min(best, (System.nanoTime() - t0) / 1e9);
        }
        return best;
    }

    static StructType schema(String column) {
        return DataTypes.createStructType(List.of(
                DataTypes.createStructField("key", DataTypes.LongType, false),
                DataTypes.createStructField(column, DataTypes.createArrayType(
                        DataTypes.createArrayType(DataTypes.DoubleType, false), false), false)));
    }

    static Dataset<Row> dataset(SparkSession spark, List<double[][]> data, String column) {
        List<Row> rows = new ArrayList<>();
        for (int i = 0; i < data.size(); i++) {
            List<Object> positions = new ArrayList<>();
            for (double[] p : data.get(i)) {
                positions.add(SegmentSequencesJob.seq(Arrays.stream(p).boxed().toList()));
            }
            rows.add(RowFactory.create((long) i, SegmentSequencesJob.seq(positions)));
        }
        Dataset<Row> d = spark.createDataFrame(rows, schema(column)).repartition(2).cache();
        d.count();
        return d;
    }

    /** (B, T, W) row-major with the rows' lengths, for rows [from, to). */
    static double[] pack(List<double[][]> data, int from, int to, int steps, int width, long[] lengths) {
        double[] flat = new double[(to - from) * steps * width];
        for (int b = 0; b < to - from; b++) {
            double[][] x = data.get(from + b);
            lengths[b] = x.length;
            for (int t = 0; t < x.length; t++) {
                System.arraycopy(x[t], 0, flat, (b * steps + t) * width, width);
            }
        }
        return flat;
    }

    // ---- semi-CRF: T = 200, C = 3, K = 40 ---------------------------------------------------------

    static void semiCrf(SparkSession spark, Context context, int count) {
        int length = 200, c = SyntheticSequences.LABELS, k = SyntheticSequences.MAX_DURATION;
        List<double[][]> data = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            data.add(SyntheticSequences.scores(1, i, length));
        }
        SparkSemiCrf.Parameters p = SyntheticSequences.model();
        Dataset<Row> input = dataset(spark, data, "scores");
        double sparkSeconds = best(() -> SparkSemiCrf.segment(input, "key", "scores", p,
                SparkSemiCrf.Options.defaults().withBatchSize(1000)).write().format("noop").mode("overwrite").save());
        double[] trans = new double[c * c], bias = new double[k * c];
        for (int i = 0; i < c; i++) {
            System.arraycopy(p.transition()[i], 0, trans, i * c, c);
        }
        for (int d = 0; d < k; d++) {
            System.arraycopy(p.durationBias()[d], 0, bias, d * c, c);
        }
        double javaSeconds = best(() -> {
            for (int from = 0; from < count; from += 1000) {
                int to = Math.min(count, from + 1000);
                long[] lengths = new long[to - from];
                double[] flat = pack(data, from, to, length, c, lengths);
                try (Tensor x = Tensor.fromArray(flat, to - from, length, c);
                     Tensor tr = Tensor.fromArray(trans, c, c);
                     Tensor db = Tensor.fromArray(bias, k, c);
                     Tensor st = Tensor.fromArray(p.start(), c);
                     Tensor len = Tensor.fromArray(lengths, to - from)) {
                    SemiCrf.Model model = SemiCrf.Model.of(x, tr, db).withStart(st);
                    try (Tensor z = SemiCrf.forward(context, SemiCrf.Options.defaults(), model, len);
                         SemiCrf.Viterbi v = SemiCrf.viterbi(context, SemiCrf.Options.defaults(), model, len)) {
                        z.toDoubleArrayConverted();
                        v.segmentsPerSequence();
                    }
                }
            }
        });
        report("semi-CRF segment (T=200 C=3 K=40)", count, sparkSeconds, javaSeconds);
    }

    // ---- HMM: T = 100, N = 8 ----------------------------------------------------------------------

    static void hmm(SparkSession spark, Context context, int count) {
        int length = 100, n = 8;
        Random rng = new Random(5);
        double[] init = new double[n];
        double[][] trans = new double[n][n];
        for (int i = 0; i < n; i++) {
            init[i] = rng.nextGaussian();
            for (int j = 0; j < n; j++) {
                trans[i][j] = rng.nextGaussian();
            }
        }
        List<double[][]> data = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            double[][] e = new double[length][n];
            for (double[] row : e) {
                for (int j = 0; j < n; j++) {
                    row[j] = -3 * rng.nextDouble();
                }
            }
            data.add(e);
        }
        SparkHmm.Parameters p = new SparkHmm.Parameters(init, trans);
        Dataset<Row> input = dataset(spark, data, "emission");
        double sparkSeconds = best(() -> SparkHmm.decode(input, "key", "emission", p,
                SparkHmm.Options.defaults().withBatchSize(1000)).write().format("noop").mode("overwrite").save());
        double[] flatTrans = new double[n * n];
        for (int i = 0; i < n; i++) {
            System.arraycopy(trans[i], 0, flatTrans, i * n, n);
        }
        double javaSeconds = best(() -> {
            for (int from = 0; from < count; from += 1000) {
                int to = Math.min(count, from + 1000);
                long[] lengths = new long[to - from];
                double[] flat = pack(data, from, to, length, n, lengths);
                try (Tensor in = Tensor.fromArray(init, n);
                     Tensor tr = Tensor.fromArray(flatTrans, n, n);
                     Tensor em = Tensor.fromArray(flat, to - from, length, n);
                     Tensor len = Tensor.fromArray(lengths, to - from)) {
                    Hmm.Factored model = new Hmm.Factored(in, tr, em);
                    try (Tensor ll = Hmm.forward(context, Semiring.LOG, model, len);
                         Hmm.Viterbi v = Hmm.viterbi(context, model, len)) {
                        ll.toDoubleArrayConverted();
                        v.path().toIntArray();
                    }
                }
            }
        });
        report("HMM decode (T=100 N=8)", count, sparkSeconds, javaSeconds);
    }

    /**
     * CTC forced alignment with the loss (T = 100 frames, C = 20 classes, 20-label targets): the
     * Spark operation against Ctc.loss + Ctc.forcedAlign (with the token spans) per batch.
     */
    static void ctc(SparkSession spark, Context context, int count) {
        int frames = 100, classes = 20, labels = 20;
        Random rng = new Random(7);
        List<double[][]> logProbs = new ArrayList<>();
        List<int[]> targets = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            double[][] lp = new double[frames][classes];
            for (double[] row : lp) {
                double total = 0;
                for (int c = 0; c < classes; c++) {
                    row[c] = rng.nextDouble() + 0.05;
                    total += row[c];
                }
                for (int c = 0; c < classes; c++) {
                    row[c] = Math.log(row[c] / total);
                }
            }
            logProbs.add(lp);
            int[] y = new int[labels];
            for (int j = 0; j < labels; j++) {
                y[j] = 1 + rng.nextInt(classes - 1);
            }
            targets.add(y);
        }
        List<Row> rows = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            List<Object> positions = new ArrayList<>();
            for (double[] p : logProbs.get(i)) {
                positions.add(SegmentSequencesJob.seq(Arrays.stream(p).boxed().toList()));
            }
            rows.add(RowFactory.create((long) i, SegmentSequencesJob.seq(positions),
                    SegmentSequencesJob.seq(Arrays.stream(targets.get(i)).boxed().toList())));
        }
        StructType schema = DataTypes.createStructType(new StructField[] {
                DataTypes.createStructField("key", DataTypes.LongType, false),
                DataTypes.createStructField("log_probs", DataTypes.createArrayType(
                        DataTypes.createArrayType(DataTypes.DoubleType, false), false), false),
                DataTypes.createStructField("targets", DataTypes.createArrayType(DataTypes.IntegerType, false), false)});
        Dataset<Row> input = spark.createDataFrame(rows, schema).repartition(2).cache();
        input.count();
        double sparkSeconds = best(() -> SparkCtc.align(input, "key", "log_probs", "targets",
                SparkCtc.Options.of(classes).withBatchSize(1000)).write().format("noop").mode("overwrite").save());
        Ctc.Options o = Ctc.Options.builder().blank(0).reduction(Ctc.Reduction.NONE).layout(Ctc.Layout.BATCH_MAJOR)
                .build();
        double javaSeconds = best(() -> {
            for (int from = 0; from < count; from += 1000) {
                int to = Math.min(count, from + 1000), batch = to - from;
                long[] lengths = new long[batch];
                double[] flat = pack(logProbs, from, to, frames, classes, lengths);
                int[] y = new int[batch * labels], il = new int[batch], tl = new int[batch];
                for (int b = 0; b < batch; b++) {
                    System.arraycopy(targets.get(from + b), 0, y, b * labels, labels);
                    il[b] = frames;
                    tl[b] = labels;
                }
                try (Tensor lp = Tensor.fromArray(flat, batch, frames, classes);
                     Tensor ty = Tensor.fromArray(y, batch, labels);
                     Tensor til = Tensor.fromArray(il, batch);
                     Tensor ttl = Tensor.fromArray(tl, batch);
                     Tensor loss = Ctc.loss(context, o, lp, ty, til, ttl);
                     Ctc.Alignment a = Ctc.forcedAlign(context, o, lp, ty, til, ttl)) {
                    loss.toDoubleArrayConverted();
                    a.tokenSpans();
                }
            }
        });
        report("CTC align (T=100 C=20 L=20)", count, sparkSeconds, javaSeconds);
    }
}
