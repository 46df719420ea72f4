package org.semiringkernels.examples;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;

import org.apache.spark.api.java.function.MapPartitionsFunction;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Encoders;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.semiringkernels.spark.RowErrorPolicy;
import org.semiringkernels.spark.SparkSemiCrf;

/**
 * Example job: segments synthetic sequences with the semi-CRF on Spark and writes the result as
 * Parquet. The rows are generated on the executors from their ids ({@link SyntheticSequences}),
 * segmented by {@link SparkSemiCrf#segment} (many rows per native call, the task's GPU when it
 * has one), and written with columns {@code key, log_partition, best_score, segments, error}.
 *
 * <pre>
 *   spark-submit --class org.semiringkernels.examples.SegmentSequencesJob ... OUT_DIR [COUNT [LENGTH]]
 * </pre>
 * Without a master from spark-submit it runs on local[2].
 */
public final class SegmentSequencesJob {

    static final long SEED = 2026;

    private SegmentSequencesJob() {
    }

    public static void main(String[] args) throws java.io.IOException {
        if (args.length < 1) {
            System.err.println("usage: SegmentSequencesJob OUT_DIR [COUNT (10000) [LENGTH (200)]]");
            System.exit(2);
        }
        long count = args.length > 1 ? Long.parseLong(args[1]) : 10_000;
        int length = args.length > 2 ? Integer.parseInt(args[2]) : 200;
        SparkSession.Builder builder = SparkSession.builder().appName("semiring-kernels segment sequences");
        if (System.getProperty("spark.master") == null) {
            builder = builder.master("local[2]");
        }
        try (SparkSession spark = builder.getOrCreate()) {
            long rows = run(spark, args[0], count, length);
            System.out.println("wrote " + rows + " segmented sequences to " + args[0]);
        }
    }

    /** Generates, segments and writes; returns the number of rows written. */
    public static long run(SparkSession spark, String out, long count, int length) {
        StructType schema = DataTypes.createStructType(List.of(
                DataTypes.createStructField("key", DataTypes.LongType, false),
                DataTypes.createStructField("scores", DataTypes.createArrayType(
                        DataTypes.createArrayType(DataTypes.DoubleType, false), false), false)));
        Dataset<Row> input = spark.range(count).toDF("key")
                .mapPartitions(new Generate(length), Encoders.row(schema));
        Dataset<Row> segmented = SparkSemiCrf.segment(input, "key", "scores", SyntheticSequences.model(),
                SparkSemiCrf.Options.defaults().withBatchSize(1000).withPolicy(RowErrorPolicy.FAIL));
        segmented.write().mode("overwrite").parquet(out);
        return spark.read().parquet(out).count();
    }

    /** Builds each row's scores from its id. */
    static final class Generate implements MapPartitionsFunction<Row, Row> {
        private static final long serialVersionUID = 1L;
        private final int length;

        Generate(int length) {
            this.length = length;
        }

        @Override
        public Iterator<Row> call(Iterator<Row> ids) {
            List<Row> rows = new ArrayList<>();
            while (ids.hasNext()) {
                long id = ids.next().getLong(0);
                List<Object> positions = new ArrayList<>(length);
                for (double[] p : SyntheticSequences.scores(SEED, id, length)) {
                    positions.add(seq(Arrays.stream(p).boxed().toList()));
                }
                rows.add(RowFactory.create(id, seq(positions)));
            }
            return rows.iterator();
        }
    }

    static <T> scala.collection.immutable.Seq<T> seq(List<T> values) {
        return scala.jdk.javaapi.CollectionConverters.asScala(values).toList();
    }
}
