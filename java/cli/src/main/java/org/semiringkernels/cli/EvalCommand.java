package org.semiringkernels.cli;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.stream.Collectors;

import org.semiringkernels.Context;
import org.semiringkernels.Device;
import org.semiringkernels.Npy;
import org.semiringkernels.Tensor;
import org.semiringkernels.cli.eval.EvalOp;
import org.semiringkernels.cli.eval.EvalOps;
import org.semiringkernels.cli.eval.Settings;

/**
 * {@code eval OP --in NAME=FILE.npy ... [--set KEY=VALUE ...] --out DIR [--device cpu|cuda:N]}:
 * runs one op on inputs read from .npy files and writes each output as DIR/NAME.npy;
 * {@code eval --list} describes every op. Results (the files written) go to stdout, progress to
 * stderr; usage errors (unknown op, input or option, missing input, unreadable file) exit with 2.
 */
final class EvalCommand {

    private EvalCommand() {
    }

    record Arguments(String op, Map<String, Path> inputs, Map<String, String> settings, Path out, Device device) {
    }

    static Arguments parse(String[] args) {
        if (args.length == 0) {
            throw new IllegalArgumentException("eval needs an op name or --list (ops: " + opNames() + ")");
        }
        String op = args[0];
        Map<String, Path> inputs = new LinkedHashMap<>();
        Map<String, String> settings = new LinkedHashMap<>();
        Path out = null;
        Device device = null;
        for (int i = 1; i < args.length; i++) {
            String flag = args[i];
            if (i + 1 >= args.length) {
                throw new IllegalArgumentException("option " + flag + " needs a value");
            }
            String value = args[++i];
            switch (flag) {
                case "--in" -> {
                    String[] kv = keyValue(value, "--in", "NAME=FILE.npy");
                    if (inputs.put(kv[0], Path.of(kv[1])) != null) {
                        throw new IllegalArgumentException("input '" + kv[0] + "' is given twice");
                    }
                }
                case "--set" -> {
                    String[] kv = keyValue(value, "--set", "KEY=VALUE");
                    settings.put(kv[0], kv[1]);
                }
                case "--out" -> out = Path.of(value);
                case "--device" -> device = DemoCommand.Options.parseDevice(value);
                default -> throw new IllegalArgumentException("unknown eval option " + flag
                        + " (expected --in, --set, --out, --device)");
            }
        }
        if (out == null) {
            throw new IllegalArgumentException("eval needs --out DIR");
        }
        return new Arguments(op, inputs, settings, out, device);
    }

    private static String[] keyValue(String text, String flag, String form) {
        int eq = text.indexOf('=');
        if (eq <= 0 || eq == text.length() - 1) {
            throw new IllegalArgumentException(flag + " needs " + form + ", got '" + text + "'");
        }
        return new String[] {text.substring(0, eq), text.substring(eq + 1)};
    }

    static int run(String[] args, PrintStream out, PrintStream err) {
        if (args.length >= 1 && args[0].equals("--list")) {
            if (args.length > 1) {
                throw new IllegalArgumentException("eval --list takes no other arguments");
            }
            list(out);
            return 0;
        }
        Arguments a = parse(args);
        EvalOp op = EvalOps.find(a.op()).orElseThrow(() -> new IllegalArgumentException(
                "unknown op '" + a.op() + "' (ops: " + opNames() + "; eval --list describes them)"));
        checkInputNames(op, a.inputs());
        Map<String, Tensor> hostInputs = new LinkedHashMap<>();
        Map<String, Tensor> deviceInputs = new LinkedHashMap<>();
        Map<String, Tensor> outputs = Map.of();
        Device device = a.device() != null ? a.device() : Device.best();
        try (Context context = Context.create(device)) {
            for (Map.Entry<String, Path> e : a.inputs().entrySet()) {
                hostInputs.put(e.getKey(), readInput(e.getKey(), e.getValue()));
                err.println("read " + e.getKey() + " " + describe(hostInputs.get(e.getKey())) + " from " + e.getValue());
            }
            for (Map.Entry<String, Tensor> e : hostInputs.entrySet()) {
                deviceInputs.put(e.getKey(), context.device().isCpu() ? e.getValue() : e.getValue().to(context));
            }
            err.println("running " + op.name() + " on " + device);
            outputs = op.run(context, deviceInputs, new Settings(op.name(), op.options(), a.settings()));
            Files.createDirectories(a.out());
            for (Map.Entry<String, Tensor> e : outputs.entrySet()) {
                Path file = a.out().resolve(e.getKey() + ".npy");
                Npy.write(file, e.getValue());
                out.println(e.getKey() + " " + describe(e.getValue()) + " -> " + file);
            }
            return 0;
        } catch (IOException e) {
            throw new IllegalArgumentException(e.getMessage(), e);
        } finally {
            closeAll(outputs.values());
            if (!device.isCpu()) {
                closeAll(deviceInputs.values());
            }
            closeAll(hostInputs.values());
        }
    }

    private static Tensor readInput(String name, Path file) {
        if (!Files.isRegularFile(file)) {
            throw new IllegalArgumentException("input '" + name + "': no such file " + file);
        }
        try {
            return Npy.read(file);
        } catch (IOException e) {
            throw new IllegalArgumentException("input '" + name + "': " + e.getMessage(), e);
        }
    }

    private static void checkInputNames(EvalOp op, Map<String, Path> given) {
        List<String> names = op.inputs().stream().map(EvalOp.Port::name).toList();
        for (String name : given.keySet()) {
            if (!names.contains(name)) {
                throw new IllegalArgumentException("op " + op.name() + " has no input '" + name + "' (inputs: "
                        + String.join(", ", names) + ")");
            }
        }
        for (EvalOp.Port p : op.inputs()) {
            if (p.required() && !given.containsKey(p.name())) {
                throw new IllegalArgumentException("op " + op.name() + " needs input '" + p.name() + "' ("
                        + p.shape() + ", " + p.dtypes() + "): add --in " + p.name() + "=FILE.npy");
            }
        }
    }

    static void list(PrintStream out) {
        for (EvalOp op : EvalOps.all()) {
            out.println(op.name() + ": " + op.summary());
            for (EvalOp.Port p : op.inputs()) {
                out.printf(Locale.ROOT, "    in  %-14s %-22s %-16s %s%s%n", p.name(), p.shape(), p.dtypes(),
                        p.required() ? "" : "(optional) ", p.doc());
            }
            for (EvalOp.Option o : op.options()) {
                out.printf(Locale.ROOT, "    set %-14s default %-14s %s%n", o.key(), o.defaultValue(), o.doc());
            }
            for (EvalOp.Port p : op.outputs()) {
                out.printf(Locale.ROOT, "    out %-14s %-22s %-16s %s%s%n", p.name(), p.shape(), p.dtypes(),
                        p.required() ? "" : "(when it applies) ", p.doc());
            }
        }
    }

    private static String opNames() {
        return EvalOps.all().stream().map(EvalOp::name).collect(Collectors.joining(", "));
    }

    private static String describe(Tensor t) {
        List<String> dims = new ArrayList<>();
        for (long d : t.shape()) {
            dims.add(Long.toString(d));
        }
        return t.dtype().name().toLowerCase(Locale.ROOT) + "(" + String.join(", ", dims) + ")";
    }

    private static void closeAll(Iterable<Tensor> tensors) {
        for (Tensor t : tensors) {
            if (t != null && !t.isClosed()) {
                t.close();
            }
        }
    }
}
