package org.semiringkernels.snippets;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;
import org.semiringkernels.SemiCrf;

/**
 * Runs every Javadoc example of {@link JavadocExamples} and checks its result against values
 * computed here independently; and checks that every {@code @snippet} reference in the main
 * sources names an existing region of that class, so that the Javadoc and the tested code are the
 * same text.
 */
class JavadocExamplesTest {

    @Test
    void matmulExampleComputesTwoHopShortestPaths() {
        float[] c = JavadocExamples.matmulShortestTwoHops();
        // min over k of a[i,k] + a[k,j], by hand: 0->2 via 1 costs 4 + 1, 1->0 via 2 costs 1 + 2, ...
        assertArrayEquals(new float[] {0, 4, 5, 3, 0, 1, 2, 6, 0}, c);
    }

    @Test
    void hmmExampleMatchesEnumerationOfAllPaths() {
        Object[] result = JavadocExamples.hmmLikelihoodAndPath();
        double[] pi = {0.6, 0.4};
        double[][] a = {{0.7, 0.3}, {0.4, 0.6}};
        double[][] em = {{0.9, 0.2}, {0.1, 0.8}, {0.9, 0.2}};
        double total = 0, bestScore = -1;
        int[] bestPath = null;
        for (int path = 0; path < 8; path++) {
            int[] z = {(path >> 2) & 1, (path >> 1) & 1, path & 1};
            double p = pi[z[0]] * em[0][z[0]];
            for (int t = 1; t < 3; t++) p *= a[z[t - 1]][z[t]] * em[t][z[t]];
            total += p;
            if (p > bestScore) {
                bestScore = p;
                bestPath = z;
            }
        }
        assertEquals(Math.log(total), (double) result[0], 1e-12);
        assertArrayEquals(bestPath, (int[]) result[1]);
    }

    @Test
    void ctcExampleCountsTheAlignmentsOfOneLabel() {
        // Frame strings over {blank, 1} that collapse to "1": one run of 1s (100, 010, 001, 110, 011,
        // 111): 6 of the 8 equally likely strings; MEAN divides by the target length 1.
        assertEquals(Math.log(8.0 / 6.0), JavadocExamples.ctcLoss(), 1e-6);
    }

    @Test
    void semiCrfExampleFindsTheTwoSegments() {
        List<SemiCrf.Segment> segments = JavadocExamples.semiCrfSegments();
        // Scores 2 for label 0 on positions 0..2 and label 1 on 3..5; segments of at most 3.
        assertEquals(List.of(new SemiCrf.Segment(0, 3, 0), new SemiCrf.Segment(3, 6, 1)), segments);
    }

    @Test
    void einsumExampleIsALogMatrixVectorProduct() {
        double[] out = JavadocExamples.einsumLogMatrixVector();
        double[][] m = {{0, 1, 2}, {3, 4, 5}};
        double[] v = {0, -1, -2};
        for (int i = 0; i < 2; i++) {
            double s = 0;
            for (int j = 0; j < 3; j++) s += Math.exp(m[i][j] + v[j]);
            assertEquals(Math.log(s), out[i], 1e-12);
        }
    }

    @Test
    void semiconvExampleIsAThreeByThreeMaxFilter() {
        float[] out = JavadocExamples.semiconvMaxFilter();
        float[][] image = {{1, 0, 0, 0}, {0, 0, 0, 0}, {0, 0, 0, 5}, {0, 0, 0, 0}};
        for (int y = 0; y < 4; y++) {
            for (int x = 0; x < 4; x++) {
                float max = Float.NEGATIVE_INFINITY;
                for (int dy = -1; dy <= 1; dy++)
                    for (int dx = -1; dx <= 1; dx++)
                        if (y + dy >= 0 && y + dy < 4 && x + dx >= 0 && x + dx < 4) max = Math.max(max, image[y + dy][x + dx]);
                assertEquals(max, out[y * 4 + x], "output (" + y + ", " + x + ")");
            }
        }
    }

    @Test
    void everySnippetReferenceNamesARegionOfTheExamples() throws IOException {
        Path examples = Path.of("src/test/java/org/semiringkernels/snippets/JavadocExamples.java");
        String source = Files.readString(examples);
        Pattern reference = Pattern.compile(
                "\\{@snippet class=\"?org\\.semiringkernels\\.snippets\\.JavadocExamples\"? region=\"?([a-z]+)\"?");
        int references = 0;
        try (Stream<Path> files = Files.walk(Path.of("src/main/java/org/semiringkernels"), 1)) {
            for (Path file : files.filter(f -> f.toString().endsWith(".java")).toList()) {
                Matcher m = reference.matcher(Files.readString(file));
                while (m.find()) {
                    references++;
                    String region = m.group(1);
                    assertTrue(source.contains("// @start region=\"" + region + "\""),
                            file + " refers to a missing example region '" + region + "'");
                }
            }
        }
        // One example per family: matmul, HMM, CTC, semi-CRF, einsum, semifield convolution.
        assertEquals(6, references, "snippet references in the family classes");
    }
}
