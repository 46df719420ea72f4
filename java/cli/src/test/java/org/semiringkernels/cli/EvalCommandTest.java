package org.semiringkernels.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.semiringkernels.Npy;
import org.semiringkernels.Tensor;
import org.semiringkernels.cli.eval.EvalOp;
import org.semiringkernels.cli.eval.EvalOps;

/** {@code eval}: .npy in, op, .npy out, checked against Java references; and its usage errors. */
class EvalCommandTest {

    @TempDir
    Path dir;

    record Run(int exit, String out, String err) {
    }

    static Run run(String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(), err = new ByteArrayOutputStream();
        int exit = Main.run(args, new PrintStream(out, true, StandardCharsets.UTF_8), new PrintStream(err, true, StandardCharsets.UTF_8));
        return new Run(exit, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    private Path npy(String name, double[] values, long... shape) throws IOException {
        Path p = dir.resolve(name + ".npy");
        try (Tensor t = Tensor.fromArray(values, shape)) {
            Npy.write(p, t);
        }
        return p;
    }

    private static double[] read(Path p) throws IOException {
        try (Tensor t = Npy.read(p)) {
            return t.toDoubleArrayConverted();
        }
    }

    @Test
    void maxPlusProductAndArgmaxMatchBruteForce() throws IOException {
        double[] a = {1, -2, 3, 0.5, 4, -1}, b = {2, 0, -1, 5, 1, 1};  // a (2,3), b (3,2)
        Path out = dir.resolve("out");
        Run r = run("eval", "matmul", "--in", "a=" + npy("a", a, 2, 3), "--in", "b=" + npy("b", b, 3, 2),
                "--set", "semiring=max", "--out", out.toString(), "--device", "cpu");
        assertEquals(0, r.exit(), r.err());
        assertTrue(r.out().contains("c float64(2, 2) -> ") && r.out().contains("argmax int32(2, 2) -> "), r.out());
        double[] c = read(out.resolve("c.npy")), arg = read(out.resolve("argmax.npy"));
        for (int i = 0; i < 2; i++) {
            for (int j = 0; j < 2; j++) {
                double best = Double.NEGATIVE_INFINITY;
                int where = -1;
                for (int k = 0; k < 3; k++) {
                    double v = a[i * 3 + k] + b[k * 2 + j];
                    if (v > best) {
                        best = v;
                        where = k;
                    }
                }
                assertEquals(best, c[i * 2 + j]);
                assertEquals(where, arg[i * 2 + j]);
            }
        }
        assertTrue(r.err().contains("running matmul on cpu"), r.err());
    }

    @Test
    void realBackwardIsTheTransposedProducts() throws IOException {
        double[] a = {1, 2, 3, 4, 5, 6}, b = {1, -1, 2, 0, 0.5, 3}, g = {1, 2, 3, 4};  // (2,3) (3,2) (2,2)
        Path out = dir.resolve("out");
        Run r = run("eval", "matmul.backward", "--in", "a=" + npy("a", a, 2, 3), "--in", "b=" + npy("b", b, 3, 2),
                "--in", "grad_c=" + npy("g", g, 2, 2), "--set", "semiring=real", "--out", out.toString(),
                "--device", "cpu");
        assertEquals(0, r.exit(), r.err());
        double[] ga = read(out.resolve("grad_a.npy")), gb = read(out.resolve("grad_b.npy"));
        for (int i = 0; i < 2; i++) {
            for (int k = 0; k < 3; k++) {
                double want = 0;
                for (int j = 0; j < 2; j++) {
                    want += g[i * 2 + j] * b[k * 2 + j];
                }
                assertEquals(want, ga[i * 3 + k], 1e-12);
            }
        }
        for (int k = 0; k < 3; k++) {
            for (int j = 0; j < 2; j++) {
                double want = 0;
                for (int i = 0; i < 2; i++) {
                    want += a[i * 3 + k] * g[i * 2 + j];
                }
                assertEquals(want, gb[k * 2 + j], 1e-12);
            }
        }
    }

    @Test
    void logBackwardWithoutTheForwardOutputRecomputesIt() throws IOException {
        double[] a = {0.1, -0.2, 0.3, 0.4}, b = {1, 2, 3, 4}, g = {1, 1, 1, 1};
        Path withC = dir.resolve("with"), without = dir.resolve("without"), fwd = dir.resolve("fwd");
        assertEquals(0, run("eval", "matmul", "--in", "a=" + npy("a", a, 2, 2), "--in", "b=" + npy("b", b, 2, 2),
                "--out", fwd.toString(), "--device", "cpu").exit());
        assertFalse(Files.exists(fwd.resolve("argmax.npy")), "LOG has no argmax output");
        assertEquals(0, run("eval", "matmul.backward", "--in", "a=" + dir.resolve("a.npy"), "--in", "b=" + dir.resolve("b.npy"),
                "--in", "grad_c=" + npy("g", g, 2, 2), "--in", "c=" + fwd.resolve("c.npy"), "--out", withC.toString(),
                "--device", "cpu").exit());
        assertEquals(0, run("eval", "matmul.backward", "--in", "a=" + dir.resolve("a.npy"), "--in", "b=" + dir.resolve("b.npy"),
                "--in", "grad_c=" + dir.resolve("g.npy"), "--out", without.toString(), "--device", "cpu").exit());
        assertArrayEquals(read(withC.resolve("grad_a.npy")), read(without.resolve("grad_a.npy")));
        // each row of a's gradient sums to the row's upstream total (softmax weights sum to 1)
        double[] ga = read(without.resolve("grad_a.npy"));
        assertEquals(2.0, ga[0] + ga[1], 1e-12);
    }

    @Test
    void listDescribesEveryOp() {
        Run r = run("eval", "--list");
        assertEquals(0, r.exit());
        for (EvalOp op : EvalOps.all()) {
            assertTrue(r.out().contains(op.name() + ": " + op.summary()), op.name());
            for (EvalOp.Port p : op.inputs()) {
                assertTrue(r.out().contains("in  " + p.name()), op.name() + " input " + p.name());
            }
        }
        assertTrue(r.out().contains("set semiring"), r.out());
    }

    @Test
    void usageErrorsExitWithTwoAndSayWhatIsWrong() throws IOException {
        Path a = npy("a", new double[] {1, 2, 3, 4}, 2, 2);
        String out = dir.resolve("o").toString();
        assertError(run("eval"), "eval needs an op name");
        assertError(run("eval", "frobnicate", "--out", out), "unknown op 'frobnicate'");
        assertError(run("eval", "matmul", "--in", "a=" + a, "--out", out), "needs input 'b'");
        assertError(run("eval", "matmul", "--in", "a=" + a, "--in", "b=" + a, "--in", "q=" + a, "--out", out),
                "has no input 'q'");
        assertError(run("eval", "matmul", "--in", "a=" + a, "--in", "b=" + dir.resolve("missing.npy"), "--out", out),
                "no such file");
        Path bad = dir.resolve("bad.npy");
        Files.writeString(bad, "not numpy");
        assertError(run("eval", "matmul", "--in", "a=" + a, "--in", "b=" + bad, "--out", out), "not a .npy file");
        assertError(run("eval", "matmul", "--in", "a=" + a, "--in", "b=" + a, "--set", "color=blue", "--out", out),
                "has no option 'color'");
        assertError(run("eval", "matmul", "--in", "a=" + a, "--in", "b=" + a, "--set", "semiring=tropical", "--out", out),
                "must be one of");
        assertError(run("eval", "matmul", "--in", "a=" + a, "--in", "b=" + a), "needs --out DIR");
        assertError(run("eval", "matmul", "--in", "a", "--out", out), "--in needs NAME=FILE.npy");
        Path wrongShape = npy("w", new double[] {1, 2, 3}, 3);
        assertError(run("eval", "matmul", "--in", "a=" + a, "--in", "b=" + wrongShape, "--out", out, "--device", "cpu"),
                "'b'");
    }

    private static void assertError(Run r, String fragment) {
        assertEquals(2, r.exit(), r.out() + r.err());
        assertTrue(r.err().contains(fragment), "stderr lacks \"" + fragment + "\":\n" + r.err());
    }
}
