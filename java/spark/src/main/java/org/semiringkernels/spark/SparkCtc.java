package org.semiringkernels.spark;

import java.io.Serializable;
import java.util.ArrayList;
import java.util.List;

import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.catalyst.InternalRow;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.semiringkernels.Context;
import org.semiringkernels.Ctc;
import org.semiringkernels.DType;
import org.semiringkernels.Tensor;

/**
 * CTC forced alignment and loss of a Dataset: for every row (one utterance or read), the loss
 * {@code -log p(targets | log_probs)} and the frame span of every target token on the most
 * probable alignment (torchaudio's forced_align + merge_tokens).
 *
 * <p>Input: a key column, a log-probability column {@code array<array<double>>} (T frames of C
 * log-probabilities; NaN and +inf are errors, -inf allowed) and a target column
 * {@code array<int>} (labels in [0, C), none equal to the blank). Output schema: {@code key,
 * loss double, spans array<struct<token int, label int, start int, end int, score double>>,
 * error string}, where end is exclusive and score the mean per-frame probability of the token
 * (torchaudio's TokenSpan.score). A row without any alignment gets loss +inf and an empty span
 * list (not an error: it is a property of the data, as in torch).
 *
 * <p>Rows are packed into batches of {@link Options#batchSize()}: one padded (B, T_max, C)
 * batch-major tensor, one loss call and one alignment call per batch.
 */
public final class SparkCtc {

    private SparkCtc() {
    }

    /** Alphabet size C (blank included), blank index, rows per batch, bad-row policy, dtype. */
    public record Options(int classes, int blank, int batchSize, RowErrorPolicy policy, DType dtype) implements Serializable {
        public Options {
            if (classes < 2) {
                throw new IllegalArgumentException("argument 'classes': needs C >= 2 (blank and one label), got " + classes);
            }
            if (blank < 0 || blank >= classes) {
                throw new IllegalArgumentException("argument 'blank': must be in [0, " + classes + "), got " + blank);
            }
            if (batchSize < 1) {
                throw new IllegalArgumentException("argument 'batchSize': must be >= 1, got " + batchSize);
            }
            if (policy == null || dtype == null || !dtype.isFloatingPoint()) {
                throw new IllegalArgumentException("arguments 'policy' and 'dtype' (FLOAT32 or FLOAT64) are required");
            }
        }

        /** Blank 0, 1000 rows per batch, FAIL on a bad row, FLOAT64. */
        public static Options of(int classes) {
            return new Options(classes, 0, 1000, RowErrorPolicy.FAIL, DType.FLOAT64);
        }

        public Options withBlank(int value) {
            return new Options(classes, value, batchSize, policy, dtype);
        }

        public Options withBatchSize(int value) {
            return new Options(classes, blank, value, policy, dtype);
        }

        public Options withPolicy(RowErrorPolicy value) {
            return new Options(classes, blank, batchSize, value, dtype);
        }
    }

    public static final StructType SPAN = DataTypes.createStructType(List.of(
            DataTypes.createStructField("token", DataTypes.IntegerType, false),
            DataTypes.createStructField("label", DataTypes.IntegerType, false),
            DataTypes.createStructField("start", DataTypes.IntegerType, false),
            DataTypes.createStructField("end", DataTypes.IntegerType, false),
            DataTypes.createStructField("score", DataTypes.DoubleType, false)));

    public static StructType outputSchema(DataType keyType) {
        return DataTypes.createStructType(List.of(
                DataTypes.createStructField("key", keyType, true),
                DataTypes.createStructField("loss", DataTypes.DoubleType, true),
                DataTypes.createStructField("spans", DataTypes.createArrayType(SPAN, false), true),
                DataTypes.createStructField("error", DataTypes.StringType, true)));
    }

    /** Aligns every row of {@code input} (see the class comment). */
    public static Dataset<Row> align(Dataset<Row> input, String keyColumn, String logProbsColumn, String targetsColumn,
                                     Options options) {
        StructType schema = input.schema();
        SparkArrays.KeyReader key = SparkArrays.KeyReader.of(schema, keyColumn);
        Aligner aligner = new Aligner(key, SparkArrays.ArrayColumn.matrix(schema, logProbsColumn),
                SparkArrays.ArrayColumn.integers(schema, targetsColumn), options);
        return BatchedPartitions.apply(input, aligner, outputSchema(key.type()));
    }

    static final class Aligner extends BatchedPartitions {
        private static final long serialVersionUID = 1L;
        private final SparkArrays.ArrayColumn logProbs, targets;
        private final Options options;

        Aligner(SparkArrays.KeyReader key, SparkArrays.ArrayColumn logProbs, SparkArrays.ArrayColumn targets,
                Options options) {
            super(key, options.batchSize());
            this.logProbs = logProbs;
            this.targets = targets;
            this.options = options;
        }

        private record Item(Object key, double[][] logProbs, int[] targets) {
        }

        private Item parse(InternalRow row, Object key) {
            double[][] lp = SparkArrays.matrix(row, logProbs, options.classes(), key, true);
            int[] y = SparkArrays.ints(row, targets, key);
            for (int j = 0; j < y.length; j++) {
                if (y[j] < 0 || y[j] >= options.classes() || y[j] == options.blank()) {
                    throw new BadRowException(key, "column '" + targets.name() + "'[" + j + "] = " + y[j]
                            + " is not a label (labels lie in [0, " + options.classes() + ") and differ from the blank "
                            + options.blank() + ")");
                }
            }
            return new Item(key, lp, y);
        }

        @Override
        List<Row> runBatch(Context context, List<InternalRow> batch) {
            RowBatch<Item> parsed = RowBatch.parse(batch, key, options.policy(), this::parse);
            List<Item> items = parsed.values();
            List<List<Row>> spans = new ArrayList<>();
            double[] losses = items.isEmpty() ? new double[0] : run(context, items, spans);
            return parsed.assemble((v, key) -> RowFactory.create(key, losses[v], SparkArrays.seq(spans.get(v)), null),
                    (key, error) -> RowFactory.create(key, null, null, error));
        }

        /** One padded batch: per-sequence losses and the token spans of the Viterbi alignment. */
        private double[] run(Context context, List<Item> items, List<List<Row>> spansOut) {
            int batch = items.size(), classes = options.classes(), frames = 0, labels = 0;
            for (Item it : items) {
                frames = Math.max(frames, it.logProbs().length);
                labels = Math.max(labels, it.targets().length);
            }
            double[] lp = new double[batch * Math.max(frames, 1) * classes];
            int[] targets = new int[batch * Math.max(labels, 1)], inputLengths = new int[batch], targetLengths = new int[batch];
            for (int b = 0; b < batch; b++) {
                Item it = items.get(b);
                for (int t = 0; t < it.logProbs().length; t++) {
                    System.arraycopy(it.logProbs()[t], 0, lp, (b * frames + t) * classes, classes);
                }
                System.arraycopy(it.targets(), 0, targets, b * Math.max(labels, 1), it.targets().length);
                inputLengths[b] = it.logProbs().length;
                targetLengths[b] = it.targets().length;
            }
            Ctc.Options o = Ctc.Options.builder().blank(options.blank()).reduction(Ctc.Reduction.NONE)
                    .layout(Ctc.Layout.BATCH_MAJOR).build();
            List<Tensor> owned = new ArrayList<>();
            try {
                Tensor host = own(owned, HostArrays.tensor(options.dtype(), lp, batch, Math.max(frames, 1), classes));
                Tensor logProbs = context.device().isCpu() ? host : own(owned, host.to(context));
                Tensor y = own(owned, Tensor.fromArray(targets, batch, Math.max(labels, 1)));
                Tensor il = own(owned, Tensor.fromArray(inputLengths, batch));
                Tensor tl = own(owned, Tensor.fromArray(targetLengths, batch));
                Tensor loss = own(owned, Ctc.loss(context, o, logProbs, y, il, tl));
                Ctc.Alignment a = Ctc.forcedAlign(context, o, logProbs, y, il, tl);
                try {
                    List<List<Ctc.TokenSpan>> tokens = a.tokenSpans();
                    for (List<Ctc.TokenSpan> seq : tokens) {
                        List<Row> rows = new ArrayList<>(seq.size());
                        for (Ctc.TokenSpan s : seq) {
                            rows.add(RowFactory.create(s.index(), s.label(), s.start(), s.end(), s.score()));
                        }
                        spansOut.add(rows);
                    }
                } finally {
                    a.close();
                }
                return loss.toDoubleArrayConverted();
            } finally {
                for (int i = owned.size() - 1; i >= 0; i--) {
                    owned.get(i).close();
                }
            }
        }

        private static Tensor own(List<Tensor> owned, Tensor t) {
            owned.add(t);
            return t;
        }
    }
}
