package org.semiringkernels.spark;

import java.util.Iterator;
import java.util.List;

import org.apache.spark.api.java.function.MapPartitionsFunction;
import org.apache.spark.sql.Row;
import org.semiringkernels.Context;

/**
 * The per-partition shell the dataset operations share: open the partition's context (the
 * executor's GPU or the CPU, {@link PartitionContexts}), cut the rows into batches of at most
 * {@code batchSize} and make one native batch call per cut ({@link #runBatch}). Subclasses hold
 * what their batch needs and are serialised to the executors.
 */
abstract class BatchedPartitions implements MapPartitionsFunction<Row, Row> {
    private static final long serialVersionUID = 1L;
    final int keyIndex;
    private final int batchSize;

    BatchedPartitions(int keyIndex, int batchSize) {
        this.keyIndex = keyIndex;
        this.batchSize = batchSize;
    }

    @Override
    public final Iterator<Row> call(Iterator<Row> rows) {
        Context context = PartitionContexts.open();
        return Batches.map(rows, batchSize, batch -> runBatch(context, batch));
    }

    /** The result rows of one batch, in the batch's order (bad rows as the policy says). */
    abstract List<Row> runBatch(Context context, List<Row> batch);

    /**
     * Each row's (T, width) matrix column, T >= 1, parsed under the bad-row policy: a wrong row
     * width, a null or an empty column is that row's error.
     */
    RowBatch<double[][]> parseMatrices(List<Row> batch, RowErrorPolicy policy, int column, String columnName,
                                       int width) {
        return RowBatch.parse(batch, keyIndex, policy, row -> {
            Object key = row.get(keyIndex);
            double[][] m = SparkArrays.matrix(row, column, columnName, width, key, true);
            if (m.length == 0) {
                throw new BadRowException(key, "column '" + columnName + "' has no positions");
            }
            return m;
        });
    }
}
