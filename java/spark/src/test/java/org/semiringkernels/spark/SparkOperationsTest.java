package org.semiringkernels.spark;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.semiringkernels.Context;
import org.semiringkernels.Ctc;
import org.semiringkernels.Hmm;
import org.semiringkernels.SemiCrf;
import org.semiringkernels.Semiring;
import org.semiringkernels.Tensor;

/**
 * The Dataset operations on a local[2] SparkSession (CPU), checked row by row against the
 * single-machine Java API on the same generated data, with small batches so that partitions
 * hold several batches; and both bad-row policies.
 */
class SparkOperationsTest {

    /** An array value of a result row (Spark hands out a Scala Seq or a java.util.List) as a Java list. */
    @SuppressWarnings("unchecked")
    private static List<Object> list(Object value) {
        if (value instanceof List<?> l) {
            return (List<Object>) l;
        }
        return (List<Object>) scala.jdk.javaapi.CollectionConverters.asJava((scala.collection.Seq<Object>) value);
    }


    static SparkSession spark;

    @BeforeAll
    static void start() {
        spark = SparkSession.builder().master("local[2]").appName("semiring-kernels-tests")
                .config("spark.ui.enabled", "false").config("spark.sql.shuffle.partitions", "2").getOrCreate();
    }

    @AfterAll
    static void stop() {
        spark.stop();
    }

    // ---- HMM -------------------------------------------------------------------------------------

    static final StructType HMM_INPUT = DataTypes.createStructType(List.of(
            DataTypes.createStructField("id", DataTypes.LongType, false),
            DataTypes.createStructField("emission", DataTypes.createArrayType(
                    DataTypes.createArrayType(DataTypes.DoubleType, true), true), true)));

    static SparkHmm.Parameters hmmParameters(int n, Random rng) {
        double[] init = new double[n];
        double[][] trans = new double[n][n];
        for (int i = 0; i < n; i++) {
            init[i] = rng.nextGaussian();
            for (int j = 0; j < n; j++) {
                trans[i][j] = rng.nextGaussian();
            }
        }
        trans[0][n - 1] = Double.NEGATIVE_INFINITY;  // a forbidden transition
        return new SparkHmm.Parameters(init, trans);
    }

    static double[][] emissions(int length, int n, Random rng) {
        double[][] e = new double[length][n];
        for (double[] row : e) {
            for (int i = 0; i < n; i++) {
                row[i] = -rng.nextDouble() * 3;
            }
        }
        return e;
    }

    static Row hmmRow(long id, double[][] e) {
        List<Object> rows = new ArrayList<>();
        for (double[] r : e) {
            rows.add(SparkArrays.seq(Arrays.stream(r).boxed().toList()));
        }
        return RowFactory.create(id, SparkArrays.seq(rows));
    }

    /** The single-machine reference: one sequence at a time through Hmm on a CPU context. */
    static Object[] hmmReference(SparkHmm.Parameters p, double[][] e) {
        int n = p.states(), t = e.length;
        double[] flatTrans = new double[n * n], flatEmission = new double[t * n];
        for (int i = 0; i < n; i++) {
            System.arraycopy(p.logTransition()[i], 0, flatTrans, i * n, n);
        }
        for (int s = 0; s < t; s++) {
            System.arraycopy(e[s], 0, flatEmission, s * n, n);
        }
        try (Context ctx = Context.cpu();
             Tensor init = Tensor.fromArray(p.logInitial(), n);
             Tensor trans = Tensor.fromArray(flatTrans, n, n);
             Tensor emission = Tensor.fromArray(flatEmission, 1, t, n);
             Tensor lengths = Tensor.fromArray(new int[] {t}, 1)) {
            Hmm.Factored model = new Hmm.Factored(init, trans, emission);
            try (Tensor ll = Hmm.forward(ctx, Semiring.LOG, model, lengths);
                 Hmm.Viterbi v = Hmm.viterbi(ctx, model, lengths);
                 Hmm.Marginals m = Hmm.marginals(ctx, Semiring.LOG, model, lengths)) {
                return new Object[] {ll.getDouble(0), v.path().toIntArray(), m.marginals().toDoubleArray()};
            }
        }
    }

    @Test
    void hmmDecodeMatchesTheJavaApiRowByRow() {
        Random rng = new Random(7);
        int n = 4;
        SparkHmm.Parameters p = hmmParameters(n, rng);
        List<Row> rows = new ArrayList<>();
        Map<Long, double[][]> data = new HashMap<>();
        for (long id = 0; id < 60; id++) {
            double[][] e = emissions(1 + rng.nextInt(25), n, rng);
            data.put(id, e);
            rows.add(hmmRow(id, e));
        }
        Dataset<Row> input = spark.createDataFrame(rows, HMM_INPUT).repartition(3);
        Dataset<Row> out = SparkHmm.decode(input, "id", "emission", p,
                SparkHmm.Options.defaults().withBatchSize(7).withPosteriors(true));
        List<Row> result = out.collectAsList();
        assertEquals(60, result.size(), "no row dropped");
        for (Row r : result) {
            long id = r.getLong(0);
            Object[] want = hmmReference(p, data.get(id));
            assertEquals((double) want[0], r.getDouble(1), 1e-9 * Math.max(1, Math.abs((double) want[0])), "row " + id);
            int[] path = list(r.get(2)).stream().mapToInt(x -> (Integer) x).toArray();
            assertArrayEquals((int[]) want[1], path, "row " + id);
            double[] post = ((double[]) want[2]);
            List<Object> rowsOfPosteriors = list(r.get(3));
            for (int t = 0; t < rowsOfPosteriors.size(); t++) {
                List<Object> pt = list(rowsOfPosteriors.get(t));
                for (int i = 0; i < n; i++) {
                    assertEquals(post[t * n + i], ((Number) pt.get(i)).doubleValue(), 1e-9);
                }
            }
            assertNull(r.get(4));
        }
    }

    @Test
    void hmmBadRowsFailTheJobOrGoToTheErrorColumn() {
        Random rng = new Random(8);
        SparkHmm.Parameters p = hmmParameters(3, rng);
        List<Row> rows = new ArrayList<>();
        rows.add(hmmRow(1, emissions(5, 3, rng)));
        rows.add(RowFactory.create(2L, null));                                     // null
        rows.add(hmmRow(3, emissions(4, 2, rng)));                                // wrong width
        double[][] nan = emissions(3, 3, rng);
        nan[1][2] = Double.NaN;
        rows.add(hmmRow(4, nan));                                                 // NaN
        rows.add(hmmRow(5, new double[0][]));                                     // no positions
        rows.add(hmmRow(6, emissions(2, 3, rng)));
        Dataset<Row> input = spark.createDataFrame(rows, HMM_INPUT).coalesce(1);

        List<Row> out = SparkHmm.decode(input, "id", "emission", p,
                SparkHmm.Options.defaults().withPolicy(RowErrorPolicy.ERROR_COLUMN)).collectAsList();
        assertEquals(6, out.size());
        Map<Long, String> errors = new HashMap<>();
        for (Row r : out) {
            errors.put(r.getLong(0), r.getString(3));
        }
        assertNull(errors.get(1L));
        assertNull(errors.get(6L));
        assertTrue(errors.get(2L).contains("row 2: column 'emission' is null"), errors.get(2L));
        assertTrue(errors.get(3L).contains("has 2 entries, expected 3"), errors.get(3L));
        assertTrue(errors.get(4L).contains("is NaN"), errors.get(4L));
        assertTrue(errors.get(5L).contains("no positions"), errors.get(5L));
        for (Row r : out) {
            if (r.getString(3) != null) {
                assertTrue(r.isNullAt(1) && r.isNullAt(2), "a bad row has null results");
            } else {
                assertTrue(!r.isNullAt(1) && !r.isNullAt(2));
            }
        }

        Exception e = assertThrows(Exception.class, () -> SparkHmm.decode(input, "id", "emission", p,
                SparkHmm.Options.defaults()).collectAsList());
        assertTrue(causes(e).contains("row 2: column 'emission' is null"), causes(e));
    }

    // ---- CTC -------------------------------------------------------------------------------------

    static final StructType CTC_INPUT = DataTypes.createStructType(List.of(
            DataTypes.createStructField("utt", DataTypes.StringType, false),
            DataTypes.createStructField("log_probs", DataTypes.createArrayType(
                    DataTypes.createArrayType(DataTypes.DoubleType, true), true), true),
            DataTypes.createStructField("targets", DataTypes.createArrayType(DataTypes.IntegerType, true), true)));

    static double[][] logProbs(int frames, int classes, Random rng) {
        double[][] lp = new double[frames][classes];
        for (double[] row : lp) {
            double max = Double.NEGATIVE_INFINITY, sum = 0;
            for (int c = 0; c < classes; c++) {
                row[c] = rng.nextGaussian() * 2;
                max = Math.max(max, row[c]);
            }
            for (double x : row) {
                sum += Math.exp(x - max);
            }
            double lse = max + Math.log(sum);
            for (int c = 0; c < classes; c++) {
                row[c] -= lse;
            }
        }
        return lp;
    }

    static Row ctcRow(String utt, double[][] lp, int[] targets) {
        List<Object> rows = new ArrayList<>();
        for (double[] r : lp) {
            rows.add(SparkArrays.seq(Arrays.stream(r).boxed().toList()));
        }
        return RowFactory.create(utt, SparkArrays.seq(rows),
                targets == null ? null : SparkArrays.seq(Arrays.stream(targets).boxed().toList()));
    }

    record CtcWant(double loss, List<Ctc.TokenSpan> spans) {
    }

    static CtcWant ctcReference(double[][] lp, int[] targets, int classes) {
        int t = lp.length;
        double[] flat = new double[Math.max(t, 1) * classes];
        for (int s = 0; s < t; s++) {
            System.arraycopy(lp[s], 0, flat, s * classes, classes);
        }
        Ctc.Options o = Ctc.Options.builder().reduction(Ctc.Reduction.NONE).layout(Ctc.Layout.BATCH_MAJOR).build();
        try (Context ctx = Context.cpu();
             Tensor x = Tensor.fromArray(flat, 1, Math.max(t, 1), classes);
             Tensor y = Tensor.fromArray(targets.length == 0 ? new int[1] : targets, 1, Math.max(targets.length, 1));
             Tensor il = Tensor.fromArray(new int[] {t}, 1);
             Tensor tl = Tensor.fromArray(new int[] {targets.length}, 1);
             Tensor loss = Ctc.loss(ctx, o, x, y, il, tl);
             Ctc.Alignment a = Ctc.forcedAlign(ctx, o, x, y, il, tl)) {
            return new CtcWant(loss.getDouble(0), a.tokenSpans().get(0));
        }
    }

    @Test
    void ctcAlignMatchesTheJavaApiRowByRow() {
        Random rng = new Random(9);
        int classes = 6;
        List<Row> rows = new ArrayList<>();
        Map<String, double[][]> lps = new HashMap<>();
        Map<String, int[]> ys = new HashMap<>();
        for (int i = 0; i < 40; i++) {
            int frames = 5 + rng.nextInt(30);
            int[] y = new int[rng.nextInt(Math.min(frames / 2, 8) + 1)];
            for (int j = 0; j < y.length; j++) {
                y[j] = 1 + rng.nextInt(classes - 1);
            }
            String utt = "u" + i;
            double[][] lp = logProbs(frames, classes, rng);
            lps.put(utt, lp);
            ys.put(utt, y);
            rows.add(ctcRow(utt, lp, y));
        }
        int[] tooLong = {1, 2, 3, 4, 5, 1, 2, 3};  // more labels than frames: no alignment
        double[][] short3 = logProbs(3, classes, rng);
        lps.put("infeasible", short3);
        ys.put("infeasible", tooLong);
        rows.add(ctcRow("infeasible", short3, tooLong));
        Dataset<Row> input = spark.createDataFrame(rows, CTC_INPUT).repartition(2);
        List<Row> out = SparkCtc.align(input, "utt", "log_probs", "targets", SparkCtc.Options.of(classes).withBatchSize(6))
                .collectAsList();
        assertEquals(41, out.size());
        for (Row r : out) {
            String utt = r.getString(0);
            CtcWant want = ctcReference(lps.get(utt), ys.get(utt), classes);
            assertEquals(want.loss(), r.getDouble(1), Double.isInfinite(want.loss()) ? 0 : 1e-9 * Math.max(1, want.loss()), utt);
            List<Object> spans = list(r.get(2));
            assertEquals(want.spans().size(), spans.size(), utt);
            for (int j = 0; j < spans.size(); j++) {
                Row s = (Row) spans.get(j);
                Ctc.TokenSpan w = want.spans().get(j);
                assertEquals(List.of(w.index(), w.label(), w.start(), w.end()),
                        List.of(s.getInt(0), s.getInt(1), s.getInt(2), s.getInt(3)), utt);
                assertEquals(w.score(), s.getDouble(4), 1e-12);
            }
            assertNull(r.get(3));
        }
        Row infeasible = out.stream().filter(r -> r.getString(0).equals("infeasible")).findFirst().orElseThrow();
        assertEquals(Double.POSITIVE_INFINITY, infeasible.getDouble(1));
        assertTrue(list(infeasible.get(2)).isEmpty());
    }

    @Test
    void ctcBadRowsAreReportedWithTheirKeys() {
        Random rng = new Random(10);
        List<Row> rows = List.of(ctcRow("ok", logProbs(6, 4, rng), new int[] {1, 2}),
                ctcRow("blank-label", logProbs(6, 4, rng), new int[] {1, 0}),
                ctcRow("out-of-range", logProbs(6, 4, rng), new int[] {7}),
                ctcRow("no-targets", logProbs(6, 4, rng), null));
        Dataset<Row> input = spark.createDataFrame(rows, CTC_INPUT).coalesce(1);
        List<Row> out = SparkCtc.align(input, "utt", "log_probs", "targets",
                SparkCtc.Options.of(4).withPolicy(RowErrorPolicy.ERROR_COLUMN)).collectAsList();
        Map<String, String> errors = new HashMap<>();
        for (Row r : out) {
            errors.put(r.getString(0), r.getString(3));
        }
        assertNull(errors.get("ok"));
        assertTrue(errors.get("blank-label").contains("'targets'[1] = 0 is not a label"), errors.get("blank-label"));
        assertTrue(errors.get("out-of-range").contains("= 7 is not a label"), errors.get("out-of-range"));
        assertTrue(errors.get("no-targets").contains("column 'targets' is null"), errors.get("no-targets"));
        Exception e = assertThrows(Exception.class, () -> SparkCtc.align(input, "utt", "log_probs", "targets",
                SparkCtc.Options.of(4)).collectAsList());
        assertTrue(causes(e).contains("row blank-label"), causes(e));
    }

    @Test
    void batchesKeepOrderAndCount() {
        List<Integer> in = new ArrayList<>();
        for (int i = 0; i < 23; i++) {
            in.add(i);
        }
        List<Integer> sizes = new ArrayList<>();
        List<Integer> out = new ArrayList<>();
        Batches.<Integer, Integer>map(in.iterator(), 5, b -> {
            sizes.add(b.size());
            return b.stream().map(x -> x * 2).toList();
        }).forEachRemaining(out::add);
        assertEquals(List.of(5, 5, 5, 5, 3), sizes);
        assertEquals(in.stream().map(x -> x * 2).toList(), out);
        assertThrows(IllegalArgumentException.class, () -> Batches.map(in.iterator(), 0, b -> b));
    }

    // ---- semi-CRF --------------------------------------------------------------------------------

    static final StructType CRF_INPUT = DataTypes.createStructType(List.of(
            DataTypes.createStructField("region", DataTypes.LongType, false),
            DataTypes.createStructField("scores", DataTypes.createArrayType(
                    DataTypes.createArrayType(DataTypes.DoubleType, true), true), true)));

    static SparkSemiCrf.Parameters crfParameters(int c, int k, Random rng) {
        double[][] trans = new double[c][c], bias = new double[k][c];
        double[] start = new double[c];
        for (int i = 0; i < c; i++) {
            start[i] = rng.nextGaussian();
            for (int j = 0; j < c; j++) {
                trans[i][j] = rng.nextGaussian();
            }
            for (int d = 0; d < k; d++) {
                bias[d][i] = rng.nextGaussian();
            }
        }
        trans[1][1] = Double.NEGATIVE_INFINITY;  // a forbidden self-transition
        return new SparkSemiCrf.Parameters(trans, bias, start);
    }

    /** The single-machine reference: one sequence at a time through SemiCrf on a CPU context. */
    static Object[] crfReference(SparkSemiCrf.Parameters p, double[][] x) {
        int c = p.labels(), k = p.maxDuration(), t = x.length;
        double[] flat = new double[t * c], trans = new double[c * c], bias = new double[k * c];
        for (int s = 0; s < t; s++) {
            System.arraycopy(x[s], 0, flat, s * c, c);
        }
        for (int i = 0; i < c; i++) {
            System.arraycopy(p.transition()[i], 0, trans, i * c, c);
        }
        for (int d = 0; d < k; d++) {
            System.arraycopy(p.durationBias()[d], 0, bias, d * c, c);
        }
        try (Context ctx = Context.cpu();
             Tensor scores = Tensor.fromArray(flat, 1, t, c);
             Tensor tr = Tensor.fromArray(trans, c, c);
             Tensor db = Tensor.fromArray(bias, k, c);
             Tensor st = Tensor.fromArray(p.start(), c);
             Tensor lengths = Tensor.fromArray(new long[] {t}, 1)) {
            SemiCrf.Model model = SemiCrf.Model.of(scores, tr, db).withStart(st);
            try (Tensor z = SemiCrf.forward(ctx, SemiCrf.Options.defaults(), model, lengths);
                 SemiCrf.Viterbi v = SemiCrf.viterbi(ctx, SemiCrf.Options.defaults(), model, lengths)) {
                return new Object[] {z.getDouble(0), v.bestScore().getDouble(0), v.segmentsPerSequence().get(0)};
            }
        }
    }

    @Test
    void semiCrfSegmentationMatchesTheJavaApiRowByRow() {
        Random rng = new Random(17);
        int c = 3, k = 5;
        SparkSemiCrf.Parameters p = crfParameters(c, k, rng);
        List<Row> rows = new ArrayList<>();
        Map<Long, double[][]> data = new HashMap<>();
        for (long id = 0; id < 40; id++) {
            double[][] x = emissions(1 + rng.nextInt(30), c, rng);
            data.put(id, x);
            rows.add(hmmRow(id, x));
        }
        Dataset<Row> input = spark.createDataFrame(rows, CRF_INPUT).repartition(3);
        List<Row> result = SparkSemiCrf.segment(input, "region", "scores", p,
                SparkSemiCrf.Options.defaults().withBatchSize(6)).collectAsList();
        assertEquals(40, result.size(), "no row dropped");
        for (Row r : result) {
            long id = r.getLong(0);
            Object[] want = crfReference(p, data.get(id));
            assertEquals((double) want[0], r.getDouble(1), 1e-9 * Math.max(1, Math.abs((double) want[0])), "row " + id);
            assertEquals((double) want[1], r.getDouble(2), 1e-9 * Math.max(1, Math.abs((double) want[1])), "row " + id);
            @SuppressWarnings("unchecked")
            List<SemiCrf.Segment> segments = (List<SemiCrf.Segment>) want[2];
            List<Object> got = list(r.get(3));
            assertEquals(segments.size(), got.size(), "row " + id);
            int end = 0;
            for (int j = 0; j < got.size(); j++) {
                Row g = (Row) got.get(j);
                SemiCrf.Segment w = segments.get(j);
                assertEquals(List.of(w.start(), w.end(), w.label()),
                        List.of(g.getInt(g.fieldIndex("start")), g.getInt(g.fieldIndex("end")), g.getInt(g.fieldIndex("label"))),
                        "row " + id + " segment " + j);
                assertEquals(end, w.start(), "segments tile the row");
                end = w.end();
            }
            assertEquals(data.get(id).length, end);
            assertNull(r.get(4));
        }
    }

    @Test
    void semiCrfBadRowsFailTheJobOrGoToTheErrorColumn() {
        Random rng = new Random(18);
        SparkSemiCrf.Parameters p = crfParameters(3, 4, rng);
        List<Row> rows = new ArrayList<>();
        rows.add(hmmRow(1, emissions(5, 3, rng)));
        rows.add(RowFactory.create(2L, null));                                     // null
        rows.add(hmmRow(3, emissions(4, 2, rng)));                                // wrong width
        double[][] inf = emissions(3, 3, rng);
        inf[2][0] = Double.POSITIVE_INFINITY;
        rows.add(hmmRow(4, inf));                                                 // +inf
        rows.add(hmmRow(5, new double[0][]));                                     // no positions
        Dataset<Row> input = spark.createDataFrame(rows, CRF_INPUT).coalesce(1);
        List<Row> out = SparkSemiCrf.segment(input, "region", "scores", p,
                SparkSemiCrf.Options.defaults().withPolicy(RowErrorPolicy.ERROR_COLUMN)).collectAsList();
        assertEquals(5, out.size());
        Map<Long, String> errors = new HashMap<>();
        for (Row r : out) {
            errors.put(r.getLong(0), r.getString(4));
            assertEquals(r.getString(4) != null, r.isNullAt(1) && r.isNullAt(3), "a bad row has null results");
        }
        assertNull(errors.get(1L));
        assertTrue(errors.get(2L).contains("row 2: column 'scores' is null"), errors.get(2L));
        assertTrue(errors.get(3L).contains("has 2 entries, expected 3"), errors.get(3L));
        assertTrue(errors.get(4L).contains("row 4") && errors.get(4L).toLowerCase(java.util.Locale.ROOT).contains("inf"),
                errors.get(4L));
        assertTrue(errors.get(5L).contains("no positions"), errors.get(5L));
        Exception e = assertThrows(Exception.class, () -> SparkSemiCrf.segment(input, "region", "scores", p,
                SparkSemiCrf.Options.defaults()).collectAsList());
        assertTrue(causes(e).contains("row 2: column 'scores' is null"), causes(e));
    }

    // ---- distributed Baum-Welch ----------------------------------------------------------------

    static final StructType SYMBOLS = DataTypes.createStructType(List.of(
            DataTypes.createStructField("id", DataTypes.LongType, false),
            DataTypes.createStructField("x", DataTypes.createArrayType(DataTypes.IntegerType, true), true)));

    static final StructType FEATURES = DataTypes.createStructType(List.of(
            DataTypes.createStructField("id", DataTypes.LongType, false),
            DataTypes.createStructField("x", DataTypes.createArrayType(
                    DataTypes.createArrayType(DataTypes.DoubleType, true), true), true)));

    static int draw(double[] p, Random rng) {
        double u = rng.nextDouble(), c = 0;
        for (int i = 0; i < p.length; i++) {
            c += p[i];
            if (u < c) {
                return i;
            }
        }
        return p.length - 1;
    }

    static void assertClose(double[][] want, double[][] got, double tol, String what) {
        for (int i = 0; i < want.length; i++) {
            for (int j = 0; j < want[i].length; j++) {
                assertEquals(want[i][j], got[i][j], tol, what + "[" + i + "][" + j + "]");
            }
        }
    }

    @Test
    void distributedCategoricalBaumWelchEqualsTheSingleMachineFit() {
        Random rng = new Random(11);
        double[] pi = {0.6, 0.3, 0.1};
        double[][] a = {{0.8, 0.15, 0.05}, {0.1, 0.8, 0.1}, {0.2, 0.2, 0.6}};
        double[][] b = {{0.7, 0.1, 0.1, 0.1}, {0.1, 0.7, 0.1, 0.1}, {0.05, 0.05, 0.1, 0.8}};
        List<int[]> seqs = new ArrayList<>();
        List<Row> rows = new ArrayList<>();
        for (int n = 0; n < 120; n++) {
            int[] x = new int[10 + rng.nextInt(21)];
            int z = draw(pi, rng);
            for (int t = 0; t < x.length; t++) {
                if (t > 0) {
                    z = draw(a[z], rng);
                }
                x[t] = draw(b[z], rng);
            }
            seqs.add(x);
            rows.add(RowFactory.create((long) n, SparkArrays.seq(Arrays.stream(x).boxed().toList())));
        }
        org.semiringkernels.BaumWelchHmm.Settings settings =
                org.semiringkernels.BaumWelchHmm.Settings.defaults().withMaxIterations(8).withTolerance(0);
        double[] pi0 = {0.4, 0.3, 0.3};
        double[][] a0 = {{0.5, 0.3, 0.2}, {0.3, 0.4, 0.3}, {0.2, 0.3, 0.5}};
        double[][] b0 = {{0.4, 0.2, 0.2, 0.2}, {0.2, 0.4, 0.2, 0.2}, {0.2, 0.2, 0.2, 0.4}};
        org.semiringkernels.CategoricalHmm single = new org.semiringkernels.CategoricalHmm(3, 4, settings);
        org.semiringkernels.CategoricalHmm distributed = new org.semiringkernels.CategoricalHmm(3, 4, settings);
        single.setParameters(pi0, a0, b0);
        distributed.setParameters(pi0, a0, b0);
        org.semiringkernels.BaumWelchHmm.FitReport want;
        try (Context ctx = Context.cpu()) {
            want = single.fit(ctx, seqs);
        }
        Dataset<Row> data = spark.createDataFrame(rows, SYMBOLS).repartition(3);
        org.semiringkernels.BaumWelchHmm.FitReport got = SparkBaumWelch.fitCategorical(data, "id", "x", distributed, 17, 2);
        assertEquals(want.iterations(), got.iterations());
        for (int i = 0; i < want.iterations(); i++) {
            assertEquals(want.logLikelihoods()[i], got.logLikelihoods()[i], 1e-9 * Math.abs(want.logLikelihoods()[i]));
        }
        assertClose(new double[][] {single.startProbabilities()}, new double[][] {distributed.startProbabilities()}, 1e-9, "pi");
        assertClose(single.transitionProbabilities(), distributed.transitionProbabilities(), 1e-9, "A");
        assertClose(single.emissionProbabilities(), distributed.emissionProbabilities(), 1e-9, "B");

        List<Row> bad = new ArrayList<>(rows.subList(0, 5));
        bad.add(RowFactory.create(99L, SparkArrays.seq(List.of(1, 9))));
        Exception e = assertThrows(Exception.class, () -> SparkBaumWelch.fitCategorical(
                spark.createDataFrame(bad, SYMBOLS), "id", "x", distributed, 17, 2));
        assertTrue(causes(e).contains("row 99: column 'x'[1] = 9 is not a symbol"), causes(e));
    }

    @Test
    void distributedGaussianBaumWelchEqualsTheSingleMachineFit() {
        Random rng = new Random(12);
        double[][] means = {{-2, 0}, {2, 1}};
        List<double[][]> seqs = new ArrayList<>();
        List<Row> rows = new ArrayList<>();
        for (int n = 0; n < 80; n++) {
            double[][] x = new double[8 + rng.nextInt(20)][2];
            int z = rng.nextInt(2);
            List<Object> r = new ArrayList<>();
            for (int t = 0; t < x.length; t++) {
                if (t > 0 && rng.nextDouble() < 0.2) {
                    z = 1 - z;
                }
                for (int d = 0; d < 2; d++) {
                    x[t][d] = means[z][d] + rng.nextGaussian() * 0.7;
                }
                r.add(SparkArrays.seq(Arrays.stream(x[t]).boxed().toList()));
            }
            seqs.add(x);
            rows.add(RowFactory.create((long) n, SparkArrays.seq(r)));
        }
        org.semiringkernels.BaumWelchHmm.Settings settings =
                org.semiringkernels.BaumWelchHmm.Settings.defaults().withMaxIterations(6).withTolerance(0);
        org.semiringkernels.GaussianHmm single = new org.semiringkernels.GaussianHmm(2, 2, 1e-3, settings);
        org.semiringkernels.GaussianHmm distributed = new org.semiringkernels.GaussianHmm(2, 2, 1e-3, settings);
        double[] pi0 = {0.5, 0.5};
        double[][] a0 = {{0.7, 0.3}, {0.3, 0.7}}, m0 = {{-1, 0}, {1, 0}}, v0 = {{1, 1}, {1, 1}};
        single.setParameters(pi0, a0, m0, v0);
        distributed.setParameters(pi0, a0, m0, v0);
        try (Context ctx = Context.cpu()) {
            single.fit(ctx, seqs);
        }
        SparkBaumWelch.fitGaussian(spark.createDataFrame(rows, FEATURES).repartition(2), "id", "x", distributed, 9, 2);
        assertClose(single.means(), distributed.means(), 1e-9, "means");
        assertClose(single.variances(), distributed.variances(), 1e-9, "variances");
        assertClose(single.transitionProbabilities(), distributed.transitionProbabilities(), 1e-9, "A");
    }

    static String causes(Throwable e) {
        StringBuilder s = new StringBuilder();
        for (Throwable t = e; t != null; t = t.getCause()) {
            s.append(t.getMessage()).append(" | ");
        }
        return s.toString();
    }
}
