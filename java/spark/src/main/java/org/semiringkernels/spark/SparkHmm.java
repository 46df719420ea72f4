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
import org.semiringkernels.Hmm;
import org.semiringkernels.Semiring;
import org.semiringkernels.Tensor;

/**
 * HMM decoding of a Dataset: for every row, the log-likelihood, the Viterbi path and (optionally)
 * the posterior state marginals of one sequence under a shared factored HMM (initial and
 * transition log scores; the row brings its own per-position emission log scores).
 *
 * <p>Input: a key column (any type, copied to the output and named in errors) and an emission
 * column {@code array<array<double>>}, one array of N log scores per position (T >= 1 positions;
 * -inf allowed, NaN and +inf are errors). Output schema: {@code key, log_likelihood double,
 * path array<int>, [posteriors array<array<double>>,] error string}.
 *
 * <p>Each partition runs on its task's device (GPU when Spark assigned one, else CPU) and packs
 * up to {@link Options#batchSize()} rows into one padded (B, T_max, N) tensor: one native
 * forward, one Viterbi and (optionally) one marginals call per batch, never one per row. Results
 * equal {@link Hmm}'s on the same batch.
 */
public final class SparkHmm {

    private SparkHmm() {
    }

    /** The shared model: log initial scores (N) and log transition scores (N, N), rows = from. */
    public record Parameters(double[] logInitial, double[][] logTransition) implements Serializable {
        public Parameters {
            if (logInitial == null || logInitial.length == 0) {
                throw new IllegalArgumentException("argument 'logInitial': needs N >= 1 entries");
            }
            if (logTransition == null || logTransition.length != logInitial.length) {
                throw new IllegalArgumentException("argument 'logTransition': needs " + logInitial.length + " rows");
            }
            for (int i = 0; i < logTransition.length; i++) {
                if (logTransition[i] == null || logTransition[i].length != logInitial.length) {
                    throw new IllegalArgumentException("argument 'logTransition': row " + i + " needs "
                            + logInitial.length + " entries");
                }
            }
            logInitial = logInitial.clone();
            logTransition = Arrays.stream(logTransition).map(double[]::clone).toArray(double[][]::new);
        }

        public int states() {
            return logInitial.length;
        }
    }

    /** Rows per native batch, the bad-row policy, whether to output posteriors, the tensors' dtype. */
    public record Options(int batchSize, RowErrorPolicy policy, boolean posteriors, DType dtype) implements Serializable {
        public Options {
            if (batchSize < 1) {
                throw new IllegalArgumentException("argument 'batchSize': must be >= 1, got " + batchSize);
            }
            if (policy == null || dtype == null || !dtype.isFloatingPoint()) {
                throw new IllegalArgumentException("arguments 'policy' and 'dtype' (FLOAT32 or FLOAT64) are required");
            }
        }

        /** 1000 rows per batch, FAIL on a bad row, no posteriors, FLOAT64. */
        public static Options defaults() {
            return new Options(1000, RowErrorPolicy.FAIL, false, DType.FLOAT64);
        }

        public Options withBatchSize(int value) {
            return new Options(value, policy, posteriors, dtype);
        }

        public Options withPolicy(RowErrorPolicy value) {
            return new Options(batchSize, value, posteriors, dtype);
        }

        public Options withPosteriors(boolean value) {
            return new Options(batchSize, policy, value, dtype);
        }
    }

    /** The output schema for a key of type {@code keyType}. */
    public static StructType outputSchema(DataType keyType, boolean posteriors) {
        List<StructField> fields = new ArrayList<>();
        fields.add(DataTypes.createStructField("key", keyType, true));
        fields.add(DataTypes.createStructField("log_likelihood", DataTypes.DoubleType, true));
        fields.add(DataTypes.createStructField("path", DataTypes.createArrayType(DataTypes.IntegerType, false), true));
        if (posteriors) {
            fields.add(DataTypes.createStructField("posteriors",
                    DataTypes.createArrayType(DataTypes.createArrayType(DataTypes.DoubleType, false), false), true));
        }
        fields.add(DataTypes.createStructField("error", DataTypes.StringType, true));
        return DataTypes.createStructType(fields);
    }

    /** Decodes every row of {@code input} (see the class comment). */
    public static Dataset<Row> decode(Dataset<Row> input, String keyColumn, String emissionColumn,
                                      Parameters parameters, Options options) {
        StructType schema = input.schema();
        SparkArrays.KeyReader key = SparkArrays.KeyReader.of(schema, keyColumn);
        SparkArrays.ArrayColumn emission = SparkArrays.ArrayColumn.matrix(schema, emissionColumn);
        StructType out = outputSchema(key.type(), options.posteriors());
        return BatchedPartitions.apply(input, new Decoder(key, emission, parameters, options), out);
    }

    /** The per-partition work, serialised to the executors. */
    static final class Decoder extends BatchedPartitions {
        private static final long serialVersionUID = 1L;
        private final SparkArrays.ArrayColumn emission;
        private final Parameters parameters;
        private final Options options;

        Decoder(SparkArrays.KeyReader key, SparkArrays.ArrayColumn emission, Parameters parameters, Options options) {
            super(key, options.batchSize());
            this.emission = emission;
            this.parameters = parameters;
            this.options = options;
        }

        @Override
        List<Row> runBatch(Context context, List<InternalRow> batch) {
            int n = parameters.states();
            RowBatch<double[][]> parsed = parseMatrices(batch, options.policy(), emission, n);
            List<double[][]> emissions = parsed.values();
            Results results = emissions.isEmpty() ? null : run(context, emissions);
            return parsed.assemble((b, key) -> {
                int length = emissions.get(b).length;
                int[] path = Arrays.copyOfRange(results.paths, b * results.steps, b * results.steps + length);
                List<List<Double>> posteriors = null;
                if (options.posteriors()) {
                    posteriors = new ArrayList<>(length);
                    for (int t = 0; t < length; t++) {
                        List<Double> p = new ArrayList<>(n);
                        for (int i = 0; i < n; i++) {
                            p.add(results.marginals[(b * results.steps + t) * n + i]);
                        }
                        posteriors.add(p);
                    }
                }
                return row(key, results.logLikelihoods[b], path, posteriors, null);
            }, (key, error) -> row(key, null, null, null, error));
        }

        // An int[] is a valid external value of an array<int> column: no boxing per position.
        private Row row(Object key, Double logLikelihood, int[] path, List<List<Double>> posteriors,
                        String error) {
            Object pathValue = path;
            if (!options.posteriors()) {
                return RowFactory.create(key, logLikelihood, pathValue, error);
            }
            Object posteriorValue = posteriors == null ? null
                    : SparkArrays.seq(posteriors.stream().map(SparkArrays::seq).toList());
            return RowFactory.create(key, logLikelihood, pathValue, posteriorValue, error);
        }

        private record Results(int steps, double[] logLikelihoods, int[] paths, double[] marginals) {
        }

        /** One padded batch through the library: forward, Viterbi and (optionally) marginals. */
        private Results run(Context context, List<double[][]> emissions) {
            int n = parameters.states(), batch = emissions.size(), steps = 0;
            int[] lengths = new int[batch];
            for (int b = 0; b < batch; b++) {
                lengths[b] = emissions.get(b).length;
                steps = Math.max(steps, lengths[b]);
            }
            double[] flat = new double[batch * steps * n];
            for (int b = 0; b < batch; b++) {
                double[][] e = emissions.get(b);
                for (int t = 0; t < e.length; t++) {
                    System.arraycopy(e[t], 0, flat, (b * steps + t) * n, n);
                }
            }
            double[] transition = new double[n * n];
            for (int i = 0; i < n; i++) {
                System.arraycopy(parameters.logTransition()[i], 0, transition, i * n, n);
            }
            List<Tensor> owned = new ArrayList<>();
            try {
                Tensor init = upload(context, owned, parameters.logInitial(), n);
                Tensor trans = upload(context, owned, transition, n, n);
                Tensor emission = upload(context, owned, flat, batch, steps, n);
                Tensor lens = own(owned, Tensor.fromArray(lengths, batch));
                Hmm.Factored model = new Hmm.Factored(init, trans, emission);
                Tensor ll = own(owned, Hmm.forward(context, Semiring.LOG, model, lens));
                Hmm.Viterbi vit = Hmm.viterbi(context, model, lens);
                own(owned, vit.score());
                own(owned, vit.path());
                double[] marginals = null;
                if (options.posteriors()) {
                    Hmm.Marginals m = Hmm.marginals(context, Semiring.LOG, model, lens);
                    own(owned, m.marginals());
                    own(owned, m.logPartition());
                    marginals = m.marginals().toDoubleArrayConverted();
                }
                return new Results(steps, ll.toDoubleArrayConverted(), vit.path().toIntArray(), marginals);
            } finally {
                for (int i = owned.size() - 1; i >= 0; i--) {
                    owned.get(i).close();
                }
            }
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
