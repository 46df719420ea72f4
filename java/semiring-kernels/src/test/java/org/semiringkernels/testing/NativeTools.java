package org.semiringkernels.testing;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** Paths the build passes to the tests, and running small native tools. */
public final class NativeTools {

    private NativeTools() {
    }

    /**
     * A path from a system property the build sets (relative ones resolved against the directory
     * mvn was started in); fails clearly when it is missing.
     */
    public static Path requiredPath(String property, String what) {
        String value = System.getProperty(property);
        if (value == null || value.isBlank()) {
            fail("system property " + property + " (" + what + ") is not set; run the tests through Maven "
                    + "(mvn verify), which sets it");
        }
        Path path = Path.of(value);
        String launchDir = System.getProperty("semiringkernels.test.launchDir");
        if (!path.isAbsolute() && launchDir != null && !launchDir.isBlank()) {
            path = Path.of(launchDir).resolve(path);
        }
        assertTrue(Files.exists(path), what + " " + path + " (from -D" + property + ") does not exist");
        return path;
    }

    /** The output of a command; fails with its output when it exits non-zero or hangs. */
    public static String run(List<String> command) {
        try {
            Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
            process.getOutputStream().close();
            String out = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            if (!process.waitFor(60, TimeUnit.SECONDS)) {
                process.destroyForcibly();
                fail(command + " did not finish in 60 s");
            }
            if (process.exitValue() != 0) {
                fail(command + " exited with " + process.exitValue() + ":\n" + out);
            }
            return out;
        } catch (IOException e) {
            throw new AssertionError("cannot run " + command + ": " + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError("interrupted running " + command, e);
        }
    }
}
