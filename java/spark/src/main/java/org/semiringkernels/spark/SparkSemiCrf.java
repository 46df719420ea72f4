package org.semiringkernels.spark;

import java.io.Serializable;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.catalyst.InternalRow;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;
import org.semiringkernels.Context;
import org.semiringkernels.DType;
import org.semiringkernels.SemiCrf;
import org.semiringkernels.Tensor;

/**
 * Semi-CRF segmentation of a Dataset: for every row, the log-partition and the best segmentation
 * (Viterbi) of one sequence under a shared semi-CRF (transition (C, C), duration bias (K, C),
 * optional start (C)); the row brings its own per-position label scores.
 *
 * <p>Input: a key column (any type, copied to the output and named in errors) and a scores column
 * {@code array<array<double>>}, one array of C scores per position (T >= 1 positions; -inf
 * allowed, NaN and +inf are errors). Output schema: {@code key, log_partition double,
 * best_score double, segments array<struct<start:int, end:int, label:int>>, error string}
 * (end exclusive).
 *
 * <p>Each partition runs on its task's device (GPU when Spark assigned one, else CPU) and packs
 * up to {@link Options#batchSize()} rows into one padded (B, T_max, C) tensor with per-row
 * lengths: one native forward and one Viterbi call per batch, never one per row. Results equal
 * {@link SemiCrf}'s on the same batch.
 */
public final class SparkSemiCrf {

    private SparkSemiCrf() {
    }

    /** The shared model: transition (C, C) rows = from, duration bias (K, C), optional start (C). */
    public record Parameters(double[][] transition, double[][] durationBias, double[] start) implements Serializable {
        public Parameters {
            if (transition == null || transition.length == 0) {
                throw new IllegalArgumentException("argument 'transition': needs C >= 1 rows");
            }
            int c = transition.length;
            for (int i = 0; i < c; i++) {
                if (transition[i] == null || transition[i].length != c) {
                    throw new IllegalArgumentException("argument 'transition': row " + i + " needs " + c + " entries");
                }
            }
            if (durationBias == null || durationBias.length == 0) {
                throw new IllegalArgumentException("argument 'durationBias': needs K >= 1 rows");
            }
            for (int k = 0; k < durationBias.length; k++) {
                if (durationBias[k] == null || durationBias[k].length != c) {
                    throw new IllegalArgumentException("argument 'durationBias': row " + k + " needs " + c + " entries");
                }
            }
            if (start != null && start.length != c) {
                throw new IllegalArgumentException("argument 'start': needs " + c + " entries, got " + start.length);
            }
            transition = Arrays.stream(transition).map(double[]::clone).toArray(double[][]::new);
            durationBias = Arrays.stream(durationBias).map(double[]::clone).toArray(double[][]::new);
            start = start == null ? null : start.clone();
        }

        public int labels() {
            return transition.length;
        }

        public int maxDuration() {
            return durationBias.length;
        }
    }

    /** Rows per native batch, the bad-row policy, the tensors' dtype. */
    public record Options(int batchSize, RowErrorPolicy policy, DType dtype) implements Serializable {
        public Options {
            if (batchSize < 1) {
                throw new IllegalArgumentException("argument 'batchSize': must be >= 1, got " + batchSize);
            }
            if (policy == null || dtype == null || !dtype.isFloatingPoint()) {
                throw new IllegalArgumentException("arguments 'policy' and 'dtype' (FLOAT32 or FLOAT64) are required");
            }
        }

        /** 256 rows per batch, FAIL on a bad row, FLOAT64. */
        public static Options defaults() {
            return new Options(256, RowErrorPolicy.FAIL, DType.FLOAT64);
        }

        public Options withBatchSize(int value) {
            return new Options(value, policy, dtype);
        }

        public Options withPolicy(RowErrorPolicy value) {
            return new Options(batchSize, value, dtype);
        }
    }

    /** The struct of one segment: start, end (exclusive), label. */
    public static final StructType SEGMENT = DataTypes.createStructType(List.of(
            DataTypes.createStructField("start", DataTypes.IntegerType, false),
            DataTypes.createStructField("end", DataTypes.IntegerType, false),
            DataTypes.createStructField("label", DataTypes.IntegerType, false)));

    /** The output schema for a key of type {@code keyType}. */
    public static StructType outputSchema(DataType keyType) {
        return DataTypes.createStructType(List.of(
                DataTypes.createStructField("key", keyType, true),
                DataTypes.createStructField("log_partition", DataTypes.DoubleType, true),
                DataTypes.createStructField("best_score", DataTypes.DoubleType, true),
                DataTypes.createStructField("segments", DataTypes.createArrayType(SEGMENT, false), true),
                DataTypes.createStructField("error", DataTypes.StringType, true)));
    }

    /** Segments every row of {@code input} (see the class comment). */
    public static Dataset<Row> segment(Dataset<Row> input, String keyColumn, String scoresColumn, Parameters parameters,
                                       Options options) {
        StructType schema = input.schema();
        SparkArrays.KeyReader key = SparkArrays.KeyReader.of(schema, keyColumn);
        SparkArrays.ArrayColumn scores = SparkArrays.ArrayColumn.matrix(schema, scoresColumn);
        return BatchedPartitions.apply(input, new Segmenter(key, scores, parameters, options), outputSchema(key.type()));
    }

    /** The per-partition work, serialised to the executors. */
    static final class Segmenter extends BatchedPartitions {
        private static final long serialVersionUID = 1L;
        private final SparkArrays.ArrayColumn scores;
        private final Parameters parameters;
        private final Options options;

        Segmenter(SparkArrays.KeyReader key, SparkArrays.ArrayColumn scores, Parameters parameters, Options options) {
            super(key, options.batchSize());
            this.scores = scores;
            this.parameters = parameters;
            this.options = options;
        }

        @Override
        List<Row> runBatch(Context context, List<InternalRow> batch) {
            RowBatch<double[][]> parsed = parseMatrices(batch, options.policy(), scores, parameters.labels());
            Results results = parsed.values().isEmpty() ? null : run(context, parsed.values());
            return parsed.assemble((b, key) -> {
                List<Row> segments = new ArrayList<>();
                for (SemiCrf.Segment s : results.segments.get(b)) {
                    segments.add(RowFactory.create(s.start(), s.end(), s.label()));
                }
                return RowFactory.create(key, results.logPartition[b], results.bestScore[b], SparkArrays.seq(segments),
                        null);
            }, (key, error) -> RowFactory.create(key, null, null, null, error));
        }

        private record Results(double[] logPartition, double[] bestScore, List<List<SemiCrf.Segment>> segments) {
        }

        /** One padded batch through the library: the log-partition and the Viterbi segmentation. */
        private Results run(Context context, List<double[][]> scores) {
            int c = parameters.labels(), k = parameters.maxDuration(), batch = scores.size(), steps = 0;
            long[] lengths = new long[batch];
            for (int b = 0; b < batch; b++) {
                lengths[b] = scores.get(b).length;
                steps = Math.max(steps, (int) lengths[b]);
            }
            double[] flat = new double[batch * steps * c];
            for (int b = 0; b < batch; b++) {
                double[][] x = scores.get(b);
                for (int t = 0; t < x.length; t++) {
                    System.arraycopy(x[t], 0, flat, (b * steps + t) * c, c);
                }
            }
            List<Tensor> owned = new ArrayList<>();
            try {
                Tensor x = upload(context, owned, flat, batch, steps, c);
                Tensor trans = upload(context, owned, rows(parameters.transition()), c, c);
                Tensor bias = upload(context, owned, rows(parameters.durationBias()), k, c);
                Tensor start = parameters.start() == null ? null : upload(context, owned, parameters.start(), c);
                Tensor lens = own(owned, Tensor.fromArray(lengths, batch));
                SemiCrf.Model model = SemiCrf.Model.of(x, trans, bias).withStart(start);
                SemiCrf.Options crf = SemiCrf.Options.defaults();
                Tensor logZ = own(owned, SemiCrf.forward(context, crf, model, lens));
                try (SemiCrf.Viterbi best = SemiCrf.viterbi(context, crf, model, lens)) {
                    return new Results(logZ.toDoubleArrayConverted(), best.bestScore().toDoubleArrayConverted(),
                            best.segmentsPerSequence());
                }
            } finally {
                for (int i = owned.size() - 1; i >= 0; i--) {
                    owned.get(i).close();
                }
            }
        }

        private static double[] rows(double[][] m) {
            int w = m[0].length;
            double[] out = new double[m.length * w];
            for (int i = 0; i < m.length; i++) {
                System.arraycopy(m[i], 0, out, i * w, w);
            }
            return out;
        }

        private Tensor upload(Context context, List<Tensor> owned, double[] values, long... shape) {
            Tensor host = own(owned, HostArrays.tensor(options.dtype(), values, shape));
            return context.device().isCpu() ? host : own(owned, host.to(context));
        }

        private static Tensor own(List<Tensor> owned, Tensor t) {
            owned.add(t);
            return t;
        }
    }
}
