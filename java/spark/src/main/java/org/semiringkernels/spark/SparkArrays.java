package org.semiringkernels.spark;

import java.util.List;

import org.apache.spark.sql.Row;

/**
 * Reading array columns of a {@link Row} whatever Spark hands out for them (a java.util.List, a
 * Scala Seq, or a Java array), with the row's problems reported as {@link BadRowException}s.
 */
final class SparkArrays {

    private SparkArrays() {
    }

    /** The elements of an array value as a Java list (null stays null). */
    @SuppressWarnings("unchecked")
    static List<Object> list(Object value) {
        if (value == null) {
            return null;
        }
        if (value instanceof List<?> l) {
            return (List<Object>) l;
        }
        if (value instanceof scala.collection.Seq<?> s) {
            return (List<Object>) scala.jdk.javaapi.CollectionConverters.asJava(s);
        }
        if (value instanceof Object[] a) {
            return java.util.Arrays.asList(a);
        }
        if (value instanceof int[] a) {
            return java.util.Arrays.stream(a).boxed().map(x -> (Object) x).toList();
        }
        if (value instanceof double[] a) {
            return java.util.Arrays.stream(a).boxed().map(x -> (Object) x).toList();
        }
        throw new IllegalArgumentException("not an array value: " + value.getClass().getName());
    }

    /** A (rows x width) matrix column: every row an array of {@code width} finite-or--inf numbers. */
    static double[][] matrix(Row row, int column, String name, int width, Object key, boolean allowNegativeInfinity) {
        List<Object> outer = list(row.get(column));
        if (outer == null) {
            throw new BadRowException(key, "column '" + name + "' is null");
        }
        double[][] out = new double[outer.size()][];
        for (int t = 0; t < outer.size(); t++) {
            List<Object> inner = list(outer.get(t));
            if (inner == null) {
                throw new BadRowException(key, "column '" + name + "'[" + t + "] is null");
            }
            if (inner.size() != width) {
                throw new BadRowException(key, "column '" + name + "'[" + t + "] has " + inner.size()
                        + " entries, expected " + width);
            }
            double[] r = new double[width];
            for (int j = 0; j < width; j++) {
                Object v = inner.get(j);
                if (v == null) {
                    throw new BadRowException(key, "column '" + name + "'[" + t + "][" + j + "] is null");
                }
                double x = ((Number) v).doubleValue();
                if (Double.isNaN(x) || x == Double.POSITIVE_INFINITY
                        || (!allowNegativeInfinity && x == Double.NEGATIVE_INFINITY)) {
                    throw new BadRowException(key, "column '" + name + "'[" + t + "][" + j + "] is " + x);
                }
                r[j] = x;
            }
            out[t] = r;
        }
        return out;
    }

    /** A Java list as the Scala Seq that Spark's row encoders expect for an array value. */
    static <T> scala.collection.immutable.Seq<T> seq(List<T> values) {
        return values == null ? null : scala.jdk.javaapi.CollectionConverters.asScala(values).toList();
    }

    /** An int array column. */
    static int[] ints(Row row, int column, String name, Object key) {
        List<Object> values = list(row.get(column));
        if (values == null) {
            throw new BadRowException(key, "column '" + name + "' is null");
        }
        int[] out = new int[values.size()];
        for (int i = 0; i < out.length; i++) {
            Object v = values.get(i);
            if (v == null) {
                throw new BadRowException(key, "column '" + name + "'[" + i + "] is null");
            }
            out[i] = ((Number) v).intValue();
        }
        return out;
    }
}
