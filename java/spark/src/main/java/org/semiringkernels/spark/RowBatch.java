package org.semiringkernels.spark;

import java.util.ArrayList;
import java.util.List;
import java.util.function.BiFunction;

import org.apache.spark.sql.Row;
import org.apache.spark.sql.catalyst.InternalRow;

/**
 * The rows of one batch split by the row error policy: every row's key, the parsed value of each
 * good row (in input order) and, for each bad row, its message. With {@link RowErrorPolicy#FAIL}
 * the first bad row's {@link BadRowException} propagates (it names the row's key). Nothing is
 * dropped: {@link #assemble} gives one output row per input row, in input order.
 */
final class RowBatch<T> {

    /** Builds the output row of a good row from its position among the good rows. */
    interface GoodRow {
        Row make(int goodIndex, Object key);
    }

    /** Builds the output row of a bad row: null results and the message. */
    interface BadRow {
        Row make(Object key, String error);
    }

    private final Object[] keys;
    private final String[] errors;
    private final List<T> values = new ArrayList<>();

    private RowBatch(int size) {
        keys = new Object[size];
        errors = new String[size];
    }

    /**
     * Parses every row (the parser gets the row and its key, and throws BadRowException for a bad
     * row) under the policy.
     */
    static <T> RowBatch<T> parse(List<InternalRow> batch, SparkArrays.KeyReader key, RowErrorPolicy policy,
                                 BiFunction<InternalRow, Object, T> parser) {
        RowBatch<T> out = new RowBatch<>(batch.size());
        for (int r = 0; r < batch.size(); r++) {
            InternalRow row = batch.get(r);
            out.keys[r] = key.read(row);
            try {
                out.values.add(parser.apply(row, out.keys[r]));
            } catch (BadRowException e) {
                if (policy == RowErrorPolicy.FAIL) {
                    throw e;
                }
                out.errors[r] = e.getMessage();
            }
        }
        return out;
    }

    /** The good rows' parsed values, in input order. */
    List<T> values() {
        return values;
    }

    /** One output row per input row, in input order. */
    List<Row> assemble(GoodRow good, BadRow bad) {
        List<Row> out = new ArrayList<>(keys.length);
        for (int r = 0, v = 0; r < keys.length; r++) {
            out.add(errors[r] != null ? bad.make(keys[r], errors[r]) : good.make(v++, keys[r]));
        }
        return out;
    }
}
