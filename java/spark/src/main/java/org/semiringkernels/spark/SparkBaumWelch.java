package org.semiringkernels.spark;

import java.util.ArrayList;
import java.util.Collections;
import java.util.Iterator;
import java.util.List;

import org.apache.spark.api.java.function.FlatMapFunction;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.catalyst.InternalRow;
import org.semiringkernels.BaumWelchHmm;
import org.semiringkernels.CategoricalHmm;
import org.semiringkernels.Context;
import org.semiringkernels.GaussianHmm;

/**
 * Baum-Welch over a Dataset too large for one machine: every iteration ships the current model to
 * the executors, each partition computes the expected sufficient statistics of its rows with the
 * library ({@link BaumWelchHmm#expectedStatistics}, one native E-step per batch of
 * {@code batchSize} rows, on the task's GPU or CPU), the partitions' statistics are added with a
 * tree aggregation ({@code treeReduce}, depth {@code depth}), and the driver applies the M-step
 * ({@link BaumWelchHmm#maximize}). Iteration cap and tolerance are the model's
 * {@link BaumWelchHmm.Settings}, with the same stopping rule as the single-machine
 * {@link BaumWelchHmm#fit}, so on the same data and initial parameters both give the same
 * parameters up to the order of floating-point additions.
 *
 * <p>The model must have parameters before the fit (set them, or {@link BaumWelchHmm#initialise}
 * from a sample on the driver). Rows: a {@code array<int>} column of symbols (categorical) or a
 * {@code array<array<double>>} column of feature vectors (Gaussian); a null, empty or malformed
 * row fails the job with the row's key (statistics would silently change without it).
 */
public final class SparkBaumWelch {

    private SparkBaumWelch() {
    }

    /** Fits a categorical HMM to the {@code array<int>} column {@code column}; updates {@code model}. */
    public static BaumWelchHmm.FitReport fitCategorical(Dataset<Row> data, String keyColumn, String column,
                                                       CategoricalHmm model, int batchSize, int depth) {
        SparkArrays.KeyReader key = SparkArrays.KeyReader.of(data.schema(), keyColumn);
        SparkArrays.ArrayColumn col = SparkArrays.ArrayColumn.integers(data.schema(), column);
        int symbols = model.nSymbols();
        return fit(data, model, batchSize, depth, row -> {
            Object k = key.read(row);
            int[] x = SparkArrays.ints(row, col, k);
            if (x.length == 0) {
                throw new BadRowException(k, "column '" + column + "' is empty");
            }
            for (int t = 0; t < x.length; t++) {
                if (x[t] < 0 || x[t] >= symbols) {
                    throw new BadRowException(k, "column '" + column + "'[" + t + "] = " + x[t] + " is not a symbol in [0, "
                            + symbols + ")");
                }
            }
            return x;
        });
    }

    /** Fits a diagonal-Gaussian HMM to the {@code array<array<double>>} column {@code column}. */
    public static BaumWelchHmm.FitReport fitGaussian(Dataset<Row> data, String keyColumn, String column,
                                                    GaussianHmm model, int batchSize, int depth) {
        SparkArrays.KeyReader key = SparkArrays.KeyReader.of(data.schema(), keyColumn);
        SparkArrays.ArrayColumn col = SparkArrays.ArrayColumn.matrix(data.schema(), column);
        int features = model.nFeatures();
        return fit(data, model, batchSize, depth, row -> {
            Object k = key.read(row);
            double[][] x = SparkArrays.matrix(row, col, features, k, false);
            if (x.length == 0) {
                throw new BadRowException(k, "column '" + column + "' is empty");
            }
            return x;
        });
    }

    /** Reads one row's observation sequence (throws BadRowException for a malformed row). */
    interface RowReader<O> extends java.io.Serializable {
        O read(InternalRow row);
    }

    static <O> BaumWelchHmm.FitReport fit(Dataset<Row> data, BaumWelchHmm<O> model, int batchSize, int depth,
                                         RowReader<O> reader) {
        if (!model.hasParameters()) {
            throw new IllegalStateException("the model has no parameters: set them or call initialise(sample) first");
        }
        if (batchSize < 1 || depth < 1) {
            throw new IllegalArgumentException("batchSize and depth must be >= 1, got " + batchSize + ", " + depth);
        }
        List<Double> history = new ArrayList<>();
        boolean converged = false;
        for (int iteration = 0; iteration < model.settings().maxIterations(); iteration++) {
            BaumWelchHmm.Statistics total = data.queryExecution().toRdd().toJavaRDD()
                    .mapPartitions(new PartitionStatistics<>(model, reader, batchSize))
                    .treeReduce(BaumWelchHmm.Statistics::merge, depth);
            model.maximize(total);
            history.add(total.logLikelihood());
            int n = history.size();
            if (n >= 2 && history.get(n - 1) - history.get(n - 2) < model.settings().tolerance()) {
                converged = true;
                break;
            }
        }
        return new BaumWelchHmm.FitReport(history.stream().mapToDouble(Double::doubleValue).toArray(), history.size(),
                converged);
    }

    /** The statistics of one partition (its rows in batches; an empty partition gives the identity). */
    static final class PartitionStatistics<O> implements FlatMapFunction<Iterator<InternalRow>, BaumWelchHmm.Statistics> {
        private static final long serialVersionUID = 1L;
        private final BaumWelchHmm<O> model;
        private final RowReader<O> reader;
        private final int batchSize;

        PartitionStatistics(BaumWelchHmm<O> model, RowReader<O> reader, int batchSize) {
            this.model = model;
            this.reader = reader;
            this.batchSize = batchSize;
        }

        @Override
        public Iterator<BaumWelchHmm.Statistics> call(Iterator<InternalRow> rows) {
            BaumWelchHmm.Statistics total = model.emptyStatistics();
            if (!rows.hasNext()) {
                return Collections.singletonList(total).iterator();
            }
            Context context = PartitionContexts.open();
            List<O> batch = new ArrayList<>(batchSize);
            while (rows.hasNext()) {
                batch.add(reader.read(rows.next()));
                if (batch.size() == batchSize || !rows.hasNext()) {
                    total.merge(model.expectedStatistics(context, batch));
                    batch.clear();
                }
            }
            return Collections.singletonList(total).iterator();
        }
    }
}
