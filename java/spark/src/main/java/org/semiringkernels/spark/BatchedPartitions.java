package org.semiringkernels.spark;

import java.util.Iterator;
import java.util.List;

import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.function.FlatMapFunction;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.catalyst.InternalRow;
import org.apache.spark.sql.types.StructType;
import org.semiringkernels.Context;

/**
 * The per-partition shell the dataset operations share: open the partition's context (the
 * executor's GPU or the CPU, {@link PartitionContexts}), cut the rows into batches of at most
 * {@code batchSize} and make one native batch call per cut ({@link #runBatch}). Subclasses hold
 * what their batch needs and are serialised to the executors.
 *
 * <p>Input rows are Spark's internal rows (see {@link SparkArrays} for why); results are external
 * {@link Row}s, turned into a DataFrame of the operation's output schema by {@link #apply}.
 */
abstract class BatchedPartitions implements FlatMapFunction<Iterator<InternalRow>, Row> {
    private static final long serialVersionUID = 1L;
    final SparkArrays.KeyReader key;
    private final int batchSize;

    BatchedPartitions(SparkArrays.KeyReader key, int batchSize) {
        this.key = key;
        this.batchSize = batchSize;
    }

    /** Runs {@code partitions} over every partition of {@code input}; the result has schema {@code out}. */
    static Dataset<Row> apply(Dataset<Row> input, BatchedPartitions partitions, StructType out) {
        JavaRDD<Row> rows = input.queryExecution().toRdd().toJavaRDD().mapPartitions(partitions);
        return input.sparkSession().createDataFrame(rows, out);
    }

    @Override
    public final Iterator<Row> call(Iterator<InternalRow> rows) {
        Context context = PartitionContexts.open();
        // Spark's row iterators may hand out one mutable row object for every row: a batch keeps copies.
        Iterator<InternalRow> copies = new Iterator<>() {
            @Override
            public boolean hasNext() {
                return rows.hasNext();
            }

            @Override
            public InternalRow next() {
                return rows.next().copy();
            }
        };
        return Batches.map(copies, batchSize, batch -> runBatch(context, batch));
    }

    /** The result rows of one batch, in the batch's order (bad rows as the policy says). */
    abstract List<Row> runBatch(Context context, List<InternalRow> batch);

    /**
     * Each row's (T, width) matrix column, T >= 1, parsed under the bad-row policy: a wrong row
     * width, a null or an empty column is that row's error.
     */
    RowBatch<double[][]> parseMatrices(List<InternalRow> batch, RowErrorPolicy policy, SparkArrays.ArrayColumn column,
                                       int width) {
        return RowBatch.parse(batch, key, policy, (row, k) -> {
            double[][] m = SparkArrays.matrix(row, column, width, k, true);
            if (m.length == 0) {
                throw new BadRowException(k, "column '" + column.name() + "' has no positions");
            }
            return m;
        });
    }
}
