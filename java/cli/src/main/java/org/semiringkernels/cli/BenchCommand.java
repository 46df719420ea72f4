package org.semiringkernels.cli;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import org.semiringkernels.Device;
import org.semiringkernels.cli.bench.BenchCase;
import org.semiringkernels.cli.bench.BenchCases;
import org.semiringkernels.cli.bench.BenchRunner;

/**
 * {@code bench [--family F]... [--device cpu|cuda:N] [--quick] [--repeats N] [--out DIR]}: times
 * every family's configurations through the Java API on one device, prints a table with the
 * throughput and the public anchors' H100 numbers, and writes DIR/bench.jsonl and DIR/bench.svg.
 * For the native harness (sk_bench, the anchors' CUDA-event timing, correctness checks against
 * the CPU) see native/bench.
 */
final class BenchCommand {

    record Options(List<String> families, Device device, boolean quick, int repeats, Path out) {
    }

    private BenchCommand() {
    }

    static Options parse(String[] args) {
        List<String> families = new ArrayList<>();
        Device device = null;
        boolean quick = false;
        int repeats = 5;
        Path out = Path.of("bench-results");
        for (int i = 0; i < args.length; i++) {
            String flag = args[i];
            if (flag.equals("--quick")) {
                quick = true;
                continue;
            }
            if (i + 1 >= args.length) {
                throw new IllegalArgumentException("option " + flag + " needs a value");
            }
            String value = args[++i];
            switch (flag) {
                case "--family" -> {
                    if (!BenchCases.families().contains(value)) {
                        throw new IllegalArgumentException("unknown family '" + value + "' (families with benchmarks: "
                                + String.join(", ", BenchCases.families()) + ")");
                    }
                    families.add(value);
                }
                case "--device" -> device = DemoCommand.Options.parseDevice(value);
                case "--repeats" -> repeats = DemoCommand.Options.positive("--repeats", value, 1);
                case "--out" -> out = Path.of(value);
                default -> throw new IllegalArgumentException("unknown bench option " + flag
                        + " (expected --family, --device, --quick, --repeats, --out)");
            }
        }
        return new Options(families, device, quick, repeats, out);
    }

    static int run(Options o, PrintStream out, PrintStream err) throws IOException {
        Device device = o.device() != null ? o.device() : Device.best();
        BenchRunner runner = new BenchRunner(device, o.quick() ? Math.min(o.repeats(), 3) : o.repeats(),
                o.quick() ? 5.0 : 25.0);
        List<BenchRunner.Row> rows = new ArrayList<>();
        for (BenchCase c : BenchCases.all(o.quick())) {
            if (!o.families().isEmpty() && !o.families().contains(c.family())) {
                c.close();
                continue;
            }
            rows.add(runner.measure(c, err));
        }
        Files.createDirectories(o.out());
        Path json = o.out().resolve("bench.jsonl"), svg = o.out().resolve("bench.svg");
        BenchRunner.writeJsonLines(json, rows);
        BenchRunner.writeChart(svg, "Semiring Kernels on " + device + (o.quick() ? " (quick sizes)" : ""), rows);
        out.println("median ms per call on " + device + " through the Java API; anchors as measured on their device:");
        out.print(BenchRunner.table(rows));
        out.println("wrote " + json + " and " + svg);
        return 0;
    }
}
