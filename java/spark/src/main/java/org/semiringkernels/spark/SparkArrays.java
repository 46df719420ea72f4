package org.semiringkernels.spark;

import java.io.Serializable;
import java.util.List;

import org.apache.spark.sql.catalyst.CatalystTypeConverters;
import org.apache.spark.sql.catalyst.InternalRow;
import org.apache.spark.sql.catalyst.util.ArrayData;
import org.apache.spark.sql.types.ArrayType;
import org.apache.spark.sql.types.ByteType;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DoubleType;
import org.apache.spark.sql.types.FloatType;
import org.apache.spark.sql.types.IntegerType;
import org.apache.spark.sql.types.LongType;
import org.apache.spark.sql.types.ShortType;
import org.apache.spark.sql.types.StructType;

/**
 * Reading the input columns of the dataset operations from Spark's internal rows
 * ({@link InternalRow}): array columns arrive as {@link ArrayData} (for cached and scanned data
 * Spark's unsafe layout), so a numeric array is copied out in one call instead of being boxed
 * element by element into a Scala sequence, which is what made the Row API's per-row cost
 * dominate small problems (bench/results/2026-11-23-spark-throughput-cpu.md). Column types are
 * checked once, on the driver; a row's problems are {@link BadRowException}s.
 */
final class SparkArrays {

    private SparkArrays() {
    }

    /** Reads a row's key as the external value Spark's Row API would give (String, Long, ...). */
    record KeyReader(int index, DataType type) implements Serializable {
        static KeyReader of(StructType schema, String column) {
            int index = schema.fieldIndex(column);
            return new KeyReader(index, schema.fields()[index].dataType());
        }

        Object read(InternalRow row) {
            return row.isNullAt(index) ? null : CatalystTypeConverters.convertToScala(row.get(index, type), type);
        }
    }

    /** An array column: its position, name and numeric element type (innermost for a matrix). */
    record ArrayColumn(int index, String name, DataType element) implements Serializable {

        /** An {@code array<array<numeric>>} column (a (T, width) matrix per row). */
        static ArrayColumn matrix(StructType schema, String column) {
            int index = schema.fieldIndex(column);
            DataType type = schema.fields()[index].dataType();
            if (type instanceof ArrayType outer && outer.elementType() instanceof ArrayType inner
                    && numeric(inner.elementType())) {
                return new ArrayColumn(index, column, inner.elementType());
            }
            throw new IllegalArgumentException("column '" + column + "' must be array<array<numeric>>, found "
                    + type.simpleString());
        }

        /** An {@code array<integral>} column. */
        static ArrayColumn integers(StructType schema, String column) {
            int index = schema.fieldIndex(column);
            DataType type = schema.fields()[index].dataType();
            if (type instanceof ArrayType a && integral(a.elementType())) {
                return new ArrayColumn(index, column, a.elementType());
            }
            throw new IllegalArgumentException("column '" + column + "' must be array<int> (or another integral"
                    + " type), found " + type.simpleString());
        }
    }

    private static boolean integral(DataType t) {
        return t instanceof IntegerType || t instanceof LongType || t instanceof ShortType || t instanceof ByteType;
    }

    private static boolean numeric(DataType t) {
        return integral(t) || t instanceof DoubleType || t instanceof FloatType;
    }

    /** A (rows x width) matrix column: every row an array of {@code width} finite (or -inf) numbers. */
    static double[][] matrix(InternalRow row, ArrayColumn column, int width, Object key, boolean allowNegativeInfinity) {
        String name = column.name();
        if (row.isNullAt(column.index())) {
            throw new BadRowException(key, "column '" + name + "' is null");
        }
        ArrayData outer = row.getArray(column.index());
        double[][] out = new double[outer.numElements()][];
        for (int t = 0; t < out.length; t++) {
            if (outer.isNullAt(t)) {
                throw new BadRowException(key, "column '" + name + "'[" + t + "] is null");
            }
            ArrayData inner = outer.getArray(t);
            if (inner.numElements() != width) {
                throw new BadRowException(key, "column '" + name + "'[" + t + "] has " + inner.numElements()
                        + " entries, expected " + width);
            }
            double[] r = doubles(inner, column.element(), key, name, t);
            for (int j = 0; j < width; j++) {
                double x = r[j];
                if (Double.isNaN(x) || x == Double.POSITIVE_INFINITY
                        || (!allowNegativeInfinity && x == Double.NEGATIVE_INFINITY)) {
                    throw new BadRowException(key, "column '" + name + "'[" + t + "][" + j + "] is " + x);
                }
            }
            out[t] = r;
        }
        return out;
    }

    /** An integral array column as ints (a long outside the int range is the row's error). */
    static int[] ints(InternalRow row, ArrayColumn column, Object key) {
        String name = column.name();
        if (row.isNullAt(column.index())) {
            throw new BadRowException(key, "column '" + name + "' is null");
        }
        ArrayData values = row.getArray(column.index());
        int n = values.numElements();
        requireNoNulls(values, key, name, "");
        DataType type = column.element();
        if (type instanceof IntegerType) {
            return values.toIntArray();
        }
        int[] out = new int[n];
        for (int i = 0; i < n; i++) {
            long v = type instanceof LongType ? values.getLong(i)
                    : type instanceof ShortType ? values.getShort(i) : values.getByte(i);
            if (v != (int) v) {
                throw new BadRowException(key, "column '" + name + "'[" + i + "] = " + v + " is out of the int range");
            }
            out[i] = (int) v;
        }
        return out;
    }

    /** The numbers of one inner array as doubles (no element may be null). */
    private static double[] doubles(ArrayData a, DataType type, Object key, String name, int t) {
        requireNoNulls(a, key, name, "[" + t + "]");
        if (type instanceof DoubleType) {
            return a.toDoubleArray();
        }
        int n = a.numElements();
        double[] out = new double[n];
        for (int j = 0; j < n; j++) {
            out[j] = type instanceof FloatType ? a.getFloat(j)
                    : type instanceof LongType ? a.getLong(j)
                    : type instanceof IntegerType ? a.getInt(j)
                    : type instanceof ShortType ? a.getShort(j) : a.getByte(j);
        }
        return out;
    }

    private static void requireNoNulls(ArrayData a, Object key, String name, String at) {
        for (int j = 0, n = a.numElements(); j < n; j++) {
            if (a.isNullAt(j)) {
                throw new BadRowException(key, "column '" + name + "'" + at + "[" + j + "] is null");
            }
        }
    }

    /** A Java list as the Scala Seq that Spark's row encoders expect for an array value. */
    static <T> scala.collection.immutable.Seq<T> seq(List<T> values) {
        return values == null ? null : scala.jdk.javaapi.CollectionConverters.asScala(values).toList();
    }
}
