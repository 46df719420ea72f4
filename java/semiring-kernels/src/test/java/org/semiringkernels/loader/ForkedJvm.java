package org.semiringkernels.loader;

import static org.junit.jupiter.api.Assertions.fail;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/** Runs a main class of the test class path in a fresh JVM with extra properties and environment. */
final class ForkedJvm {

    /** Exit code and combined stdout/stderr. */
    record Result(int exitCode, String output) {
        /** The text between ERROR-BEGIN and ERROR-END (the loader's message), or "". */
        String error() {
            int begin = output.indexOf("ERROR-BEGIN\n");
            int end = output.indexOf("\nERROR-END");
            return begin < 0 || end < 0 ? "" : output.substring(begin + "ERROR-BEGIN\n".length(), end);
        }

        String line(String prefix) {
            return output.lines().filter(l -> l.startsWith(prefix + " ")).map(l -> l.substring(prefix.length() + 1))
                    .findFirst().orElseThrow(() -> new AssertionError("no line " + prefix + " in:\n" + output));
        }
    }

    private ForkedJvm() {
    }

    /** The class path of this test JVM (surefire's, not its manifest-only booter jar). */
    static List<String> testClassPath() {
        String cp = System.getProperty("surefire.test.class.path");
        if (cp == null || cp.isBlank()) {
            cp = System.getProperty("java.class.path");
        }
        return new ArrayList<>(Arrays.asList(cp.split(File.pathSeparator)));
    }

    /** The entry of the class path that holds the main classes (target/classes or the jar). */
    static Path mainClassesEntry() {
        for (String entry : testClassPath()) {
            Path p = Path.of(entry);
            if (p.resolve("org/semiringkernels/loader/NativeLibrary.class").toFile().isFile()) {
                return p;
            }
        }
        throw new AssertionError("no class path entry holds the main classes: " + testClassPath());
    }

    static Result run(List<String> classPath, Map<String, String> properties, Map<String, String> environment,
                      String... args) {
        List<String> command = new ArrayList<>();
        command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        command.add("--enable-native-access=ALL-UNNAMED");
        properties.forEach((k, v) -> command.add("-D" + k + "=" + v));
        command.add("-cp");
        command.add(String.join(File.pathSeparator, classPath));
        command.add(LoaderProbe.class.getName());
        command.addAll(Arrays.asList(args));
        ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true);
        builder.environment().remove(NativeLibrary.LIBRARY_PATH_ENV);
        builder.environment().putAll(environment);
        try {
            Process process = builder.start();
            process.getOutputStream().close();
            String out = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            if (!process.waitFor(120, TimeUnit.SECONDS)) {
                process.destroyForcibly();
                fail("forked JVM did not finish in 120 s:\n" + out);
            }
            return new Result(process.exitValue(), out);
        } catch (IOException e) {
            throw new AssertionError("cannot start " + command + ": " + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError("interrupted", e);
        }
    }

    static Result run(Map<String, String> properties, Map<String, String> environment, String... args) {
        return run(testClassPath(), properties, environment, args);
    }
}
