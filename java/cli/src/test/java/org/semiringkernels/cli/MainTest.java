package org.semiringkernels.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.semiringkernels.Context;
import org.semiringkernels.Device;

/** The command-line tool through its entry point, and the demo's pieces against brute force. */
class MainTest {

    record Run(int exit, String out, String err) {
    }

    static Run run(String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(), err = new ByteArrayOutputStream();
        int exit = Main.run(args, new PrintStream(out, true, StandardCharsets.UTF_8), new PrintStream(err, true, StandardCharsets.UTF_8));
        return new Run(exit, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    @Test
    void infoDescribesTheLibraryAndDevices() {
        Run r = run("info");
        assertEquals(0, r.exit(), r.err());
        for (String fragment : new String[] {"Semiring Kernels 0.", "native library:", "libsemiring_kernels.so",
                "CUDA compiled in: " + (Device.cudaCompiled() ? "yes" : "no"), "devices:", "cpu "}) {
            assertTrue(r.out().contains(fragment), "info lacks \"" + fragment + "\":\n" + r.out());
        }
        assertEquals(Device.cudaAvailable(), !r.out().contains("CUDA unavailable:"), r.out());
    }

    @TempDir
    Path dir;

    @Test
    void smallDemoTrainsTheSegmenterAndAgreesWithTheJavaReferences() throws java.io.IOException {
        Path out = dir.resolve("demo");
        Run r = run("demo", "--nodes", "96", "--states", "8", "--length", "37", "--seed", "5", "--device", "cpu",
                "--epochs", "2", "--gene-length", "200", "--train-sequences", "2", "--out", out.toString());
        assertEquals(0, r.exit(), r.out() + r.err());
        assertTrue(r.out().contains("gene-structure segmentation: 2 training") && r.out().contains("epoch  2/2"), r.out());
        assertTrue(r.out().contains("wrote " + out.resolve("segmentation.svg").toAbsolutePath()), r.out());
        assertTrue(Files.readString(out.resolve("training.svg")).startsWith("<svg"));
        assertTrue(r.err().contains("epoch 2/2 ["), r.err());
        assertTrue(r.out().contains("agreement with Floyd-Warshall: exact (0 of 9216"), r.out());
        assertTrue(r.out().contains("agreement with the forward algorithm: yes"), r.out());
        assertTrue(r.out().contains("OK: both results agree"), r.out());
    }

    @Test
    void usageErrorsExitWithTwo() {
        assertEquals(2, run().exit());
        Run unknown = run("frobnicate");
        assertEquals(2, unknown.exit());
        assertTrue(unknown.err().contains("unknown command 'frobnicate'") && unknown.err().contains("usage:"));
        Run badOption = run("demo", "--nodes", "1");
        assertEquals(2, badOption.exit());
        assertTrue(badOption.err().contains("--nodes needs an integer >= 2, got 1"), badOption.err());
        assertEquals(0, run("help").exit());
    }

    @Test
    void minPlusClosureIsShortestPathsOnATinyGraph() {
        float inf = Float.POSITIVE_INFINITY;
        // 0 -> 1 (4), 1 -> 2 (1), 2 -> 0 (2), 0 -> 2 (10)
        float[] w = {0, 4, 10, inf, 0, 1, 2, inf, 0};
        try (Context cpu = Context.cpu()) {
            float[] d = DemoCommand.minPlusClosure(cpu, w, 3, 1);
            assertEquals(5, d[2], "0 -> 1 -> 2 beats the direct edge");
            assertEquals(3, d[3], "1 -> 2 -> 0");
            assertEquals(inf, DemoCommand.minPlusClosure(cpu, new float[] {0, inf, inf, 0}, 2, 0)[1]);
        }
    }

    @Test
    void oddLengthChainsCarryTheLastMatrix() {
        DemoCommand.Hmm hmm = DemoCommand.Hmm.random(5, 4, 12, new Random(9)); // 11 matrices: odd at two levels
        try (Context cpu = Context.cpu()) {
            double chained = DemoCommand.chainLogLikelihood(cpu, hmm);
            assertEquals(hmm.forwardAlgorithm(), chained, 1e-9 * Math.abs(chained));
        }
    }
}
