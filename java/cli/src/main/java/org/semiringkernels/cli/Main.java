package org.semiringkernels.cli;

import java.io.PrintStream;
import java.util.Arrays;
import java.util.Locale;

import org.semiringkernels.SemiringKernelsException;
import org.semiringkernels.loader.NativeLibraryLoadError;

/**
 * {@code semiring-kernels <command>}: {@code info} (versions, native library, devices),
 * {@code demo} (the main job: a semi-CRF gene segmenter trained from Java; then shortest paths
 * and an HMM likelihood checked in Java, on the best device),
 * {@code eval} (any op on .npy inputs, outputs written as .npy) and {@code bench} (timings beside
 * the public anchors).
 */
public final class Main {

    static final String USAGE = """
            usage: semiring-kernels <command> [options]

            commands:
              info    version, native library path, CUDA compiled in or not, visible devices
              demo    the main job on the best device: trains a gene-structure segmenter whose
                      output layer is the semi-Markov CRF (synthetic DNA, exons/introns/
                      intergenic), prints loss and held-out segment F1 per epoch, writes
                      segmentation.svg and training.svg; then all-pairs shortest paths
                      (min-plus squaring) and an HMM log-likelihood (chain of LOG-semiring
                      products), checked against Floyd-Warshall and the forward algorithm
                      options: --epochs E (12)  --gene-length L (1500)  --train-sequences N (16)
                               --out DIR (demo-output)  --nodes N (512)  --states S (64)
                               --length T (1024)  --seed X (1)  --device cpu|cuda:N (best)
              eval    run one op on .npy inputs and write its outputs as .npy files:
                      eval OP --in NAME=FILE.npy ... [--set KEY=VALUE ...] --out DIR
                           [--device cpu|cuda:N];  eval --list  describes every op
              bench   time every family's configurations through the Java API on one device;
                      table with the public anchors' numbers, bench.jsonl and bench.svg
                      options: --family F (repeatable)  --device cpu|cuda:N  --quick
                               --repeats N (5)  --out DIR (bench-results)
              help    this text

            system properties: -Dsemiringkernels.backend=auto|cpu|cuda,
              -Dsemiringkernels.library.path=<file or dir>, -Dsemiringkernels.workdir=<dir>
            """;

    private Main() {
    }

    public static void main(String[] args) {
        System.exit(run(args, System.out, System.err));
    }

    /** Runs a command; returns the process exit code (0 ok, 1 failure, 2 usage). */
    static int run(String[] args, PrintStream out, PrintStream err) {
        if (args.length == 0) {
            err.print(USAGE);
            return 2;
        }
        String[] rest = Arrays.copyOfRange(args, 1, args.length);
        try {
            return switch (args[0].toLowerCase(Locale.ROOT)) {
                case "info" -> InfoCommand.run(rest, out);
                case "demo" -> DemoCommand.run(DemoCommand.Options.parse(rest), out, err);
                case "eval" -> EvalCommand.run(rest, out, err);
                case "bench" -> BenchCommand.run(BenchCommand.parse(rest), out, err);
                case "help", "-h", "--help" -> {
                    out.print(USAGE);
                    yield 0;
                }
                default -> {
                    err.println("unknown command '" + args[0] + "'");
                    err.print(USAGE);
                    yield 2;
                }
            };
        } catch (IllegalArgumentException e) {
            err.println("error: " + e.getMessage());
            err.print(USAGE);
            return 2;
        } catch (NativeLibraryLoadError | SemiringKernelsException | IllegalStateException e) {
            err.println("error: " + e.getMessage());
            return 1;
        } catch (java.io.IOException e) {
            err.println("error: " + e.getMessage());
            return 1;
        }
    }
}
