package org.semiringkernels.cli.bench;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDate;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

import org.semiringkernels.Context;
import org.semiringkernels.Device;
import org.semiringkernels.SemiringKernels;

/**
 * Times bench cases the way the native harness does: warm-up calls, then {@code repeats} loops of
 * R calls between two context synchronisations (R sized so that a loop lasts about
 * {@code loopMillis}), the median per-call time over loops. Writes bench.jsonl and bench.svg.
 */
public final class BenchRunner {

    /** One measured configuration. */
    public record Row(BenchCase.Anchor anchor, String family, String name, String device, double ms, double minMs,
                      double maxMs, int callsPerLoop, double throughput, String unit) {
    }

    private final Device device;
    private final int repeats;
    private final double loopMillis;

    public BenchRunner(Device device, int repeats, double loopMillis) {
        this.device = device;
        this.repeats = repeats;
        this.loopMillis = loopMillis;
    }

    public Row measure(BenchCase c, PrintStream progress) {
        try (Context context = Context.create(device)) {
            c.prepare(context);
            for (int i = 0; i < 2; i++) {
                c.run(context);
            }
            context.synchronize();
            long t0 = System.nanoTime();
            c.run(context);
            context.synchronize();
            double single = Math.max((System.nanoTime() - t0) / 1e6, 1e-3);
            int calls = (int) Math.max(1, Math.min(2000, loopMillis / single));
            double[] perCall = new double[repeats];
            for (int r = 0; r < repeats; r++) {
                context.synchronize();
                long start = System.nanoTime();
                for (int i = 0; i < calls; i++) {
                    c.run(context);
                }
                context.synchronize();
                perCall[r] = (System.nanoTime() - start) / 1e6 / calls;
                progress.print(".");
            }
            progress.println(" " + c.name());
            Arrays.sort(perCall);
            double median = perCall[repeats / 2];
            double throughput = c.work() > 0 ? c.work() / (median / 1e3) : 0;
            return new Row(c.anchor(), c.family(), c.name(), device.toString(), median, perCall[0],
                    perCall[repeats - 1], calls, throughput, c.workUnit());
        } finally {
            c.close();
        }
    }

    public static String table(List<Row> rows) {
        StringBuilder s = new StringBuilder();
        s.append(String.format(Locale.ROOT, "%-40s %-8s %11s %12s %-11s %-38s %s%n", "config", "device", "ms",
                "throughput", "unit", "anchor (device)", "anchor ms"));
        for (Row r : rows) {
            BenchCase.Anchor a = r.anchor();
            s.append(String.format(Locale.ROOT, "%-40s %-8s %11.4f %12.4g %-11s %-38s %s%n", r.name(), r.device(),
                    r.ms(), r.throughput(), r.unit(), a == null ? "-" : a.name() + " (" + a.device() + ")",
                    a == null ? "-" : String.format(Locale.ROOT, "%.4g", a.ms())));
        }
        return s.toString();
    }

    public static void writeJsonLines(Path file, List<Row> rows) throws IOException {
        List<String> lines = new ArrayList<>();
        String date = LocalDate.now(ZoneOffset.UTC).toString();
        for (Row r : rows) {
            BenchCase.Anchor a = r.anchor();
            lines.add(String.format(Locale.ROOT,
                    "{\"family\":\"%s\",\"config\":\"%s\",\"device\":\"%s\",\"ms\":%.6g,\"ms_min\":%.6g,\"ms_max\":%.6g,"
                            + "\"calls_per_loop\":%d,\"throughput\":%.6g,\"throughput_unit\":\"%s\",\"anchor\":%s,"
                            + "\"anchor_ms\":%s,\"anchor_device\":%s,\"date\":\"%s\",\"library\":\"%s\",\"via\":\"java\"}",
                    r.family(), r.name(), r.device(), r.ms(), r.minMs(), r.maxMs(), r.callsPerLoop(), r.throughput(),
                    r.unit(), a == null ? "null" : "\"" + a.name() + "\"",
                    a == null ? "null" : String.format(Locale.ROOT, "%.6g", a.ms()),
                    a == null ? "null" : "\"" + a.device() + "\"", date, SemiringKernels.version()));
        }
        Files.write(file, lines);
    }

    public static void writeChart(Path file, String title, List<Row> rows) throws IOException {
        List<SvgChart.Bar> bars = new ArrayList<>();
        for (Row r : rows) {
            BenchCase.Anchor a = r.anchor();
            bars.add(new SvgChart.Bar(r.name() + " [" + r.device() + "]", r.ms(), a == null ? null : a.ms(),
                    a == null ? null : a.name() + " (" + a.device() + ")"));
        }
        Files.writeString(file, SvgChart.render(title, bars));
    }
}
