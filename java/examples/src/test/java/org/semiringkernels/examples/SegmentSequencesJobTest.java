package org.semiringkernels.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.List;

import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The example job on local[2]: 10,000 sequences segmented and written as Parquet, read back and checked. */
class SegmentSequencesJobTest {

    @TempDir
    Path dir;

    @Test
    void segmentsTenThousandSequencesIntoParquet() throws java.io.IOException {
        String out = dir.resolve("segments.parquet").toString();
        int length = 200;
        try (SparkSession spark = SparkSession.builder().master("local[2]").appName("example-test").getOrCreate()) {
            assertEquals(10_000, SegmentSequencesJob.run(spark, out, 10_000, length));
            List<Row> rows = spark.read().parquet(out).orderBy("key").collectAsList();
            assertEquals(10_000, rows.size());
            long correct = 0, positions = 0;
            for (Row r : rows) {
                long id = r.getLong(r.fieldIndex("key"));
                assertTrue(r.isNullAt(r.fieldIndex("error")), "row " + id + ": " + r.get(r.fieldIndex("error")));
                double logZ = r.getDouble(r.fieldIndex("log_partition")), best = r.getDouble(r.fieldIndex("best_score"));
                assertTrue(Double.isFinite(logZ) && best <= logZ + 1e-9, "row " + id + ": best " + best + " > log Z " + logZ);
                int[] truth = SyntheticSequences.labels(SegmentSequencesJob.SEED, id, length);
                int end = 0, previous = -1;
                for (Row s : r.<Row>getList(r.fieldIndex("segments"))) {
                    int start = s.getInt(0), stop = s.getInt(1), label = s.getInt(2);
                    assertEquals(end, start, "row " + id + ": segments tile the sequence");
                    assertTrue(stop - start >= SyntheticSequences.MIN_DURATION
                            && stop - start <= SyntheticSequences.MAX_DURATION, "row " + id + ": duration");
                    assertTrue(label != previous, "row " + id + ": no repeated label");
                    for (int u = start; u < stop; u++) {
                        correct += truth[u] == label ? 1 : 0;
                    }
                    positions += stop - start;
                    end = stop;
                    previous = label;
                }
                assertEquals(length, end, "row " + id);
            }
            double accuracy = correct / (double) positions;
            assertTrue(accuracy > 0.9, "per-position accuracy of the decoded segmentations: " + accuracy);
        }
    }
}
