package org.semiringkernels.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;

import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Encoders;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.Test;

class LocalSparkSmokeTest {
    @Test
    void localSessionRuns() {
        SparkSession spark = SparkSession.builder().master("local[2]").appName("smoke").getOrCreate();
        try {
            Dataset<Long> ds = spark.range(0, 1000).as(Encoders.LONG());
            assertEquals(499500L, ds.reduce((org.apache.spark.api.java.function.ReduceFunction<Long>) Long::sum));
            assertEquals(List.of(0L, 1L), ds.limit(2).collectAsList());
        } finally {
            spark.stop();
        }
    }
}
