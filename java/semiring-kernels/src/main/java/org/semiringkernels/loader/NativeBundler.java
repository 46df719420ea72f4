package org.semiringkernels.loader;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * Build-time tool (run by Maven in process-classes): puts the native library into the classes
 * folder under {@code natives/<platform>/} with its {@value NativeLibrary#PROPERTIES_FILE}.
 *
 * <p>The library is copied with symlinks resolved (CMake installs {@code libsemiring_kernels.so}
 * as a link to {@code .so.0.1.0}; the jar carries the real file under the plain name). The
 * properties say what the loader and {@code info} need: the version, the git commit, whether CUDA
 * was compiled in (asked of the library itself), the CUDA compiler version and the SHA-256 the
 * loader verifies after extraction.
 *
 * <pre>
 * java --enable-native-access=ALL-UNNAMED -cp target/classes org.semiringkernels.loader.NativeBundler \
 *      --library L --output DIR --version V [--source-dir SRC] [--native-build-dir BUILD] [--relative-to DIR]
 * </pre>
 */
public final class NativeBundler {

    private NativeBundler() {
    }

    public static void main(String[] args) {
        try {
            Map<String, String> options = parse(args);
            Path library = Path.of(require(options, "--library"));
            if (!library.isAbsolute() && options.containsKey("--relative-to")) {
                library = Path.of(options.get("--relative-to")).resolve(library);
            }
            Path output = Path.of(require(options, "--output"));
            bundle(library, output, require(options, "--version"),
                    options.containsKey("--source-dir") ? Path.of(options.get("--source-dir")) : null,
                    options.containsKey("--native-build-dir") ? Path.of(options.get("--native-build-dir")) : null);
        } catch (IllegalArgumentException | IOException | UncheckedIOException e) {
            System.err.println("NativeBundler: " + e.getMessage());
            System.exit(1);
        }
    }

    static void bundle(Path library, Path output, String version, Path sourceDir, Path nativeBuildDir)
            throws IOException {
        if (!Files.exists(library)) {
            throw new IllegalArgumentException("the native library " + library + " does not exist. The root build "
                    + "creates it with CMake (target/native-install/lib); with -Dsk.native.skip=true pass "
                    + "-Dsk.native.lib=/path/to/libsemiring_kernels.so");
        }
        Path real = library.toRealPath();
        Platform platform = Platform.of(System.getProperty("os.name"), System.getProperty("os.arch"));
        Files.createDirectories(output);
        Path copy = output.resolve(platform.libraryFileName());
        Files.deleteIfExists(copy);
        String sha;
        try (InputStream in = Files.newInputStream(real)) {
            sha = LibraryLoader.copyWithSha256(in, copy);
        }

        Map<String, String> properties = new LinkedHashMap<>();
        properties.put("platform", output.getFileName().toString());
        properties.put("library.file", copy.getFileName().toString());
        properties.put("library.sha256", sha);
        properties.put("library.size", Long.toString(Files.size(copy)));
        properties.put("library.source", real.toString());
        properties.put("version", version);
        describeLibrary(real, properties);
        properties.put("cuda.version", Boolean.parseBoolean(properties.get("cuda.compiled"))
                ? cudaCompilerVersion(nativeBuildDir) : "none");
        properties.put("git.sha", sourceDir == null ? "unknown" : git(sourceDir, "rev-parse", "HEAD"));
        properties.put("git.dirty", sourceDir == null ? "unknown" : gitDirty(sourceDir));

        StringBuilder text = new StringBuilder("# Semiring Kernels native library bundle, written by ")
                .append(NativeBundler.class.getName()).append('\n');
        properties.forEach((key, value) -> text.append(key).append('=').append(escape(value)).append('\n'));
        Files.writeString(output.resolve(NativeLibrary.PROPERTIES_FILE), text, StandardCharsets.ISO_8859_1);
        System.out.println("NativeBundler: " + real + " -> " + copy + " (sha256 " + sha + ", native "
                + properties.get("native.version") + ", cuda " + properties.get("cuda.compiled") + ")");
    }

    /** Asks the library itself for its version, ABI version and whether CUDA is compiled in. */
    private static void describeLibrary(Path library, Map<String, String> properties) {
        try (Arena arena = Arena.ofConfined()) {
            SymbolLookup lookup = SymbolLookup.libraryLookup(library, arena);
            properties.put("native.version", string(lookup, "sk_version_string"));
            properties.put("abi.version", Integer.toString(integer(lookup, "sk_abi_version")));
            properties.put("cuda.compiled", Boolean.toString(integer(lookup, "sk_cuda_compiled") != 0));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("cannot open " + library + " to describe it: " + e.getMessage(), e);
        }
    }

    private static int integer(SymbolLookup lookup, String symbol) {
        MethodHandle handle = handle(lookup, symbol, FunctionDescriptor.of(ValueLayout.JAVA_INT));
        try {
            return (int) handle.invokeExact();
        } catch (Throwable t) {
            throw new IllegalStateException(symbol + " failed", t);
        }
    }

    private static String string(SymbolLookup lookup, String symbol) {
        MethodHandle handle = handle(lookup, symbol, FunctionDescriptor.of(ValueLayout.ADDRESS));
        try {
            MemorySegment text = (MemorySegment) handle.invokeExact();
            return text.reinterpret(Long.MAX_VALUE).getString(0);
        } catch (Throwable t) {
            throw new IllegalStateException(symbol + " failed", t);
        }
    }

    private static MethodHandle handle(SymbolLookup lookup, String symbol, FunctionDescriptor descriptor) {
        MemorySegment address = lookup.find(symbol).orElseThrow(
                () -> new IllegalArgumentException("the library does not export " + symbol));
        return Linker.nativeLinker().downcallHandle(address, descriptor);
    }

    /** CMake records the CUDA compiler version in CMakeFiles/<cmake version>/CMakeCUDACompiler.cmake. */
    private static String cudaCompilerVersion(Path nativeBuildDir) throws IOException {
        if (nativeBuildDir == null || !Files.isDirectory(nativeBuildDir.resolve("CMakeFiles"))) {
            return "unknown";
        }
        Pattern version = Pattern.compile("set\\(CMAKE_CUDA_COMPILER_VERSION \"([^\"]+)\"\\)");
        try (Stream<Path> dirs = Files.list(nativeBuildDir.resolve("CMakeFiles"))) {
            for (Path dir : (Iterable<Path>) dirs::iterator) {
                Path file = dir.resolve("CMakeCUDACompiler.cmake");
                if (Files.isRegularFile(file)) {
                    Matcher m = version.matcher(Files.readString(file));
                    if (m.find()) {
                        return m.group(1);
                    }
                }
            }
        }
        return "unknown";
    }

    /** "true" when tracked files differ from the commit, "false" when not, "unknown" without git. */
    private static String gitDirty(Path sourceDir) {
        if (git(sourceDir, "rev-parse", "HEAD").equals("unknown")) {
            return "unknown";
        }
        return Boolean.toString(!git(sourceDir, "status", "--porcelain", "--untracked-files=no").isEmpty());
    }

    /** Output of a git command in the source tree, or "unknown" when git or the repository is absent. */
    private static String git(Path sourceDir, String... args) {
        List<String> command = new ArrayList<>(List.of("git", "-C", sourceDir.toString()));
        command.addAll(List.of(args));
        try {
            Process process = new ProcessBuilder(command).redirectErrorStream(false).start();
            process.getOutputStream().close();
            String out = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
            if (!process.waitFor(30, TimeUnit.SECONDS) || process.exitValue() != 0) {
                return "unknown";
            }
            return out;
        } catch (IOException e) {
            return "unknown";
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return "unknown";
        }
    }

    private static String escape(String value) {
        return value.replace("\\", "\\\\").replace("\n", "\\n");
    }

    private static Map<String, String> parse(String[] args) {
        Map<String, String> options = new LinkedHashMap<>();
        for (int i = 0; i < args.length; i++) {
            if (!args[i].startsWith("--") || i + 1 >= args.length) {
                throw new IllegalArgumentException("usage: --library L --output DIR --version V "
                        + "[--source-dir SRC] [--native-build-dir BUILD] [--relative-to DIR]; bad argument " + args[i]);
            }
            options.put(args[i], args[++i]);
        }
        return options;
    }

    private static String require(Map<String, String> options, String name) {
        String value = options.get(name);
        if (value == null || value.isBlank()) {
            throw new IllegalArgumentException("missing " + name);
        }
        return value;
    }
}
