package org.semiringkernels.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.semiringkernels.Npy;
import org.semiringkernels.Tensor;

/** The packaged executable jar as a user runs it: {@code java -jar semiring-kernels.jar ...}. */
class CliProcessIT {

    @TempDir
    Path dir;

    record Result(int exit, String out, String err) {
    }

    static Result java(String... args) throws IOException, InterruptedException {
        String jar = System.getProperty("semiringkernels.test.jar");
        assertTrue(jar != null && Files.isRegularFile(Path.of(jar)), "the packaged jar is missing: " + jar);
        String javaBin = ProcessHandle.current().info().command().orElse("java");
        List<String> command = new ArrayList<>(List.of(javaBin,
                "-Dsemiringkernels.workdir=" + System.getProperty("semiringkernels.test.workdir", "target/native-work"),
                "-jar", jar));
        command.addAll(List.of(args));
        Process p = new ProcessBuilder(command).start();
        byte[] out = p.getInputStream().readAllBytes();
        byte[] err = p.getErrorStream().readAllBytes();
        assertTrue(p.waitFor(120, TimeUnit.SECONDS), "timed out: " + command);
        return new Result(p.exitValue(), new String(out, StandardCharsets.UTF_8), new String(err, StandardCharsets.UTF_8));
    }

    @Test
    void infoRunsFromTheJar() throws Exception {
        Result r = java("info");
        assertEquals(0, r.exit(), r.err());
        assertTrue(r.out().contains("native library:") && r.out().contains("devices:"), r.out());
    }

    @Test
    void evalRoundTripsThroughNpyFiles() throws Exception {
        Path a = dir.resolve("a.npy"), b = dir.resolve("b.npy"), out = dir.resolve("out");
        try (Tensor ta = Tensor.fromArray(new float[] {1, 2, 3, 4}, 2, 2);
             Tensor tb = Tensor.fromArray(new float[] {0, 1, 1, 0}, 2, 2)) {
            Npy.write(a, ta);
            Npy.write(b, tb);
        }
        Result r = java("eval", "matmul", "--in", "a=" + a, "--in", "b=" + b, "--set", "semiring=real",
                "--out", out.toString(), "--device", "cpu");
        assertEquals(0, r.exit(), r.err());
        assertTrue(r.out().contains("c float32(2, 2) -> " + out.resolve("c.npy")), r.out());
        assertTrue(r.err().contains("read a float32(2, 2)"), "progress goes to stderr: " + r.err());
        try (Tensor c = Npy.read(out.resolve("c.npy"))) {
            // [[1,2],[3,4]] x [[0,1],[1,0]] swaps the columns
            assertEquals(List.of(2f, 1f, 4f, 3f), List.of((float) c.getDouble(0, 0), (float) c.getDouble(0, 1),
                    (float) c.getDouble(1, 0), (float) c.getDouble(1, 1)));
        }
    }

    @Test
    void badArgumentsExitWithTwo() throws Exception {
        Result r = java("eval", "no.such.op", "--out", dir.toString());
        assertEquals(2, r.exit(), r.out() + r.err());
        assertTrue(r.err().contains("unknown op 'no.such.op'"), r.err());
        assertTrue(r.out().isEmpty(), "nothing on stdout for an error: " + r.out());
    }
}
