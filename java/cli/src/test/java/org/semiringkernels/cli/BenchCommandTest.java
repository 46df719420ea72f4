package org.semiringkernels.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.semiringkernels.cli.bench.BenchCase;
import org.semiringkernels.cli.bench.BenchCases;

/** {@code bench}: the quick run on the CPU produces a table, JSON lines and an SVG chart. */
class BenchCommandTest {

    @TempDir
    Path dir;

    record Run(int exit, String out, String err) {
    }

    static Run run(String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(), err = new ByteArrayOutputStream();
        int exit = Main.run(args, new PrintStream(out, true, StandardCharsets.UTF_8), new PrintStream(err, true, StandardCharsets.UTF_8));
        return new Run(exit, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    @Test
    void quickCpuRunWritesTableJsonAndChart() throws IOException {
        Path out = dir.resolve("b");
        Run r = run("bench", "--family", "matmul", "--device", "cpu", "--quick", "--repeats", "1", "--out", out.toString());
        assertEquals(0, r.exit(), r.err());
        List<BenchCase> cases = BenchCases.all(true);
        List<String> json = Files.readAllLines(out.resolve("bench.jsonl"));
        assertEquals(cases.stream().filter(c -> c.family().equals("matmul")).count(), json.size());
        cases.forEach(BenchCase::close);
        for (String line : json) {
            assertTrue(line.startsWith("{\"family\":\"matmul\"") && line.contains("\"device\":\"cpu\"")
                    && line.matches(".*\"ms\":[0-9.e+-]+,.*"), line);
        }
        assertTrue(r.out().contains("log ij,jk->ik 256^3 f32 fwd"), r.out());
        String svg = Files.readString(out.resolve("bench.svg"));
        assertTrue(svg.startsWith("<svg") && svg.contains("<rect") && svg.trim().endsWith("</svg>"), svg);
        assertTrue(r.out().contains("wrote " + out.resolve("bench.jsonl")), r.out());
    }

    @Test
    void everyFamilyHasQuickCasesThatRunOnTheCpu() throws IOException {
        Path out = dir.resolve("all");
        Run r = run("bench", "--device", "cpu", "--quick", "--repeats", "1", "--out", out.toString());
        assertEquals(0, r.exit(), r.err());
        List<BenchCase> cases = BenchCases.all(true);
        List<String> json = Files.readAllLines(out.resolve("bench.jsonl"));
        assertEquals(cases.size(), json.size(), String.join("\n", json));
        for (String family : BenchCases.families()) {
            long expected = cases.stream().filter(c -> c.family().equals(family)).count();
            assertTrue(expected >= 2, family + " has " + expected + " quick cases");
            assertEquals(expected, json.stream().filter(l -> l.startsWith("{\"family\":\"" + family + "\"")).count(), family);
        }
        for (BenchCase c : cases) {
            assertTrue(r.out().contains(c.name()), c.name() + " missing from the table:\n" + r.out());
            assertTrue(c.work() > 0, c.name());
        }
        cases.forEach(BenchCase::close);
    }

    @Test
    void badOptionsExitWithTwo() {
        Run unknown = run("bench", "--family", "nope");
        assertEquals(2, unknown.exit());
        assertTrue(unknown.err().contains("unknown family 'nope'"), unknown.err());
        Run repeats = run("bench", "--repeats", "0");
        assertEquals(2, repeats.exit());
        assertTrue(repeats.err().contains("--repeats"), repeats.err());
        assertEquals(2, run("bench", "--colour", "red").exit());
    }
}
