package org.semiringkernels.loader;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.net.URL;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.DigestOutputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;
import java.util.Properties;

/**
 * One attempt to locate, extract, open and check the native library (see {@link NativeLibrary}
 * for the rules). Records every path it tries so that a failure can list them all.
 */
final class LibraryLoader {

    private final Platform platform;
    private final int expectedAbi;
    private final List<String> tried = new ArrayList<>();
    private Path workDir;

    LibraryLoader(Platform platform, int expectedAbi) {
        this.platform = platform;
        this.expectedAbi = expectedAbi;
    }

    LoadedLibrary load() {
        Optional<OverrideSetting> override = OverrideSetting.configured();
        return override.isPresent() ? loadOverride(override.get()) : loadBundled();
    }

    // ---- the override: exactly the given file or directory, never a fallback ----------------

    /** Where an override came from ("system property ..." or "environment variable ...") and its value. */
    record OverrideSetting(String source, String value) {
        static Optional<OverrideSetting> configured() {
            String property = System.getProperty(NativeLibrary.LIBRARY_PATH_PROPERTY);
            if (property != null && !property.isBlank()) {
                return Optional.of(new OverrideSetting("system property " + NativeLibrary.LIBRARY_PATH_PROPERTY, property));
            }
            String env = System.getenv(NativeLibrary.LIBRARY_PATH_ENV);
            if (env != null && !env.isBlank()) {
                return Optional.of(new OverrideSetting("environment variable " + NativeLibrary.LIBRARY_PATH_ENV, env));
            }
            return Optional.empty();
        }
    }

    private LoadedLibrary loadOverride(OverrideSetting override) {
        Path given = Path.of(override.value().trim());
        Path file = Files.isDirectory(given) ? given.resolve(platform.libraryFileName()) : given;
        String origin = override.source() + "=" + override.value();
        String fix = "The override is loaded exactly as given and never falls back to the library in the jar. "
                + "Point -D" + NativeLibrary.LIBRARY_PATH_PROPERTY + " (or " + NativeLibrary.LIBRARY_PATH_ENV
                + ") at a " + platform.libraryFileName() + " built for " + platform.id()
                + " or at the directory holding it, or unset it to use the library inside the jar.";
        if (!Files.isRegularFile(file)) {
            tried.add(file + " (from " + origin + "): " + (Files.exists(file) ? "not a regular file" : "does not exist"));
            throw failure("the library named by " + override.source() + " does not exist", null, fix, null);
        }
        tried.add(file + " (from " + origin + ")");
        return open(file, origin, false, new Properties(), fix);
    }

    // ---- the bundled copy: extract, verify, open ----------------------------------------------

    private LoadedLibrary loadBundled() {
        String resource = platform.resourceFolder() + platform.libraryFileName();
        String fix = "Build the library (cmake -S . -B build && cmake --build build) and set -D"
                + NativeLibrary.LIBRARY_PATH_PROPERTY + "=/path/to/" + platform.libraryFileName()
                + " (or the environment variable " + NativeLibrary.LIBRARY_PATH_ENV + ").";
        URL library = NativeLibrary.class.getResource("/" + resource);
        if (library == null) {
            tried.add("class path resource /" + resource + ": not found");
            throw failure("this jar carries no native library for " + platform.id(), null, fix, null);
        }
        tried.add("class path resource " + library);
        Properties bundle = readBundleProperties();
        String expectedSha = bundle.getProperty("library.sha256");
        if (expectedSha == null || expectedSha.isBlank()) {
            throw failure("/" + platform.resourceFolder() + NativeLibrary.PROPERTIES_FILE
                    + " is missing or has no library.sha256: the jar was not built by this project's build", null, fix, null);
        }
        Path extracted = extract(library, expectedSha.trim());
        String origin = "extracted from " + library;
        String openFix = "Set -D" + NativeLibrary.WORK_DIR_PROPERTY + " to a writable directory on a file system that "
                + "allows executable mappings, or " + fix.substring(0, 1).toLowerCase() + fix.substring(1);
        return open(extracted, origin, true, bundle, openFix);
    }

    private Properties readBundleProperties() {
        Properties properties = new Properties();
        String name = "/" + platform.resourceFolder() + NativeLibrary.PROPERTIES_FILE;
        try (InputStream in = NativeLibrary.class.getResourceAsStream(name)) {
            if (in != null) {
                properties.load(in);
            }
        } catch (IOException e) {
            throw failure("cannot read " + name + ": " + e, e, "Rebuild or re-download the jar.", null);
        }
        return properties;
    }

    /** Copies the resource into a fresh private directory under the work dir, checking its SHA-256. */
    private Path extract(URL library, String expectedSha) {
        workDir = Path.of(System.getProperty(NativeLibrary.WORK_DIR_PROPERTY, System.getProperty("java.io.tmpdir")));
        String workFix = "Set -D" + NativeLibrary.WORK_DIR_PROPERTY + "=<a writable directory>, or load a library "
                + "from disk with -D" + NativeLibrary.LIBRARY_PATH_PROPERTY + "=/path/to/" + platform.libraryFileName() + ".";
        Path dir;
        try {
            Files.createDirectories(workDir);
            dir = createPrivateDirectory(workDir);
        } catch (IOException | RuntimeException e) {
            throw failure("cannot create a directory under the work dir " + workDir + ": " + e, e, workFix, null);
        }
        Path file = dir.resolve(platform.libraryFileName());
        tried.add("extracted copy " + file);
        boolean keep = Boolean.getBoolean(NativeLibrary.KEEP_PROPERTY);
        if (!keep) {
            // deleteOnExit runs in reverse order of registration: the file first, then its folder.
            dir.toFile().deleteOnExit();
            file.toFile().deleteOnExit();
        }
        String actualSha;
        try (InputStream in = library.openStream()) {
            actualSha = copyWithSha256(in, file);
        } catch (IOException e) {
            throw failure("cannot extract the library to " + file + ": " + e, e, workFix, null);
        }
        if (!actualSha.equalsIgnoreCase(expectedSha)) {
            throw failure("checksum mismatch for the extracted library " + file + ": SHA-256 is " + actualSha
                    + " but " + NativeLibrary.PROPERTIES_FILE + " says " + expectedSha
                    + " (the jar is corrupt or was repacked with another library)", null,
                    "Rebuild or re-download the jar, or load a library from disk with -D"
                            + NativeLibrary.LIBRARY_PATH_PROPERTY + "=/path/to/" + platform.libraryFileName() + ".", null);
        }
        return file;
    }

    private static Path createPrivateDirectory(Path parent) throws IOException {
        if (FileSystems.getDefault().supportedFileAttributeViews().contains("posix")) {
            return Files.createTempDirectory(parent, "semiringkernels-",
                    PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
        }
        return Files.createTempDirectory(parent, "semiringkernels-");
    }

    static String copyWithSha256(InputStream in, Path target) throws IOException {
        MessageDigest digest = sha256();
        try (OutputStream out = new DigestOutputStream(Files.newOutputStream(target,
                StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE), digest)) {
            in.transferTo(out);
        }
        return HexFormat.of().formatHex(digest.digest());
    }

    static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("this JVM has no SHA-256", e);
        }
    }

    // ---- opening and the ABI handshake -------------------------------------------------------

    private LoadedLibrary open(Path file, String origin, boolean extracted, Properties bundle, String fix) {
        SymbolLookup lookup;
        try {
            lookup = SymbolLookup.libraryLookup(file, Arena.global());
        } catch (IllegalArgumentException | IllegalCallerException e) {
            throw failure("the dynamic loader could not open " + file, e, fix, dlopenError(file));
        }
        int abi = callInt(lookup, "sk_abi_version", file, fix);
        if (abi != expectedAbi) {
            throw failure("ABI mismatch: " + file + " reports sk_abi_version() = " + abi
                    + " but these bindings were generated from a header with SK_ABI_VERSION = " + expectedAbi, null,
                    "Use the jar and the native library of the same build (or regenerate the bindings with jextract/generate.sh).",
                    null);
        }
        boolean cuda = callInt(lookup, "sk_cuda_compiled", file, fix) != 0;
        String version = callString(lookup, "sk_version_string", file, fix);
        return new LoadedLibrary(file, origin, extracted, platform, version, abi, cuda, bundle, lookup);
    }

    private int callInt(SymbolLookup lookup, String symbol, Path file, String fix) {
        MethodHandle handle = downcall(lookup, symbol, FunctionDescriptor.of(ValueLayout.JAVA_INT), file, fix);
        try {
            return (int) handle.invokeExact();
        } catch (Throwable t) {
            throw failure("calling " + symbol + "() in " + file + " failed: " + t, t, fix, null);
        }
    }

    private String callString(SymbolLookup lookup, String symbol, Path file, String fix) {
        MethodHandle handle = downcall(lookup, symbol, FunctionDescriptor.of(ValueLayout.ADDRESS), file, fix);
        try {
            MemorySegment text = (MemorySegment) handle.invokeExact();
            return text.equals(MemorySegment.NULL) ? "" : text.reinterpret(Long.MAX_VALUE).getString(0);
        } catch (Throwable t) {
            throw failure("calling " + symbol + "() in " + file + " failed: " + t, t, fix, null);
        }
    }

    private MethodHandle downcall(SymbolLookup lookup, String symbol, FunctionDescriptor descriptor, Path file, String fix) {
        MemorySegment address = lookup.find(symbol).orElseThrow(() -> failure(file + " does not export " + symbol
                + "(): it is not a Semiring Kernels library, or one too old for these bindings", null, fix, null));
        return Linker.nativeLinker().downcallHandle(address, descriptor);
    }

    /**
     * The dynamic loader's own message. libraryLookup hides it, so on this failure path only the
     * library is loaded once more with System.load, whose UnsatisfiedLinkError carries dlerror().
     */
    private static String dlopenError(Path file) {
        try {
            System.load(file.toAbsolutePath().toString());
            return "(System.load succeeded on retry; the first attempt failed without a message)";
        } catch (UnsatisfiedLinkError e) {
            return e.getMessage();
        } catch (RuntimeException e) {
            return e.toString();
        }
    }

    // ---- the one error -------------------------------------------------------------------------

    private NativeLibraryLoadError failure(String reason, Throwable cause, String fix, String dlopen) {
        StringBuilder message = new StringBuilder("Semiring Kernels could not load its native library: ")
                .append(reason).append('\n');
        message.append("  tried:\n");
        if (tried.isEmpty()) {
            message.append("    (nothing)\n");
        }
        for (int i = 0; i < tried.size(); i++) {
            message.append("    ").append(i + 1).append(". ").append(tried.get(i)).append('\n');
        }
        message.append("  platform: ").append(platform.describe()).append(", Java ")
                .append(System.getProperty("java.version")).append('\n');
        message.append("  work dir: ").append(workDir != null ? workDir
                        : System.getProperty(NativeLibrary.WORK_DIR_PROPERTY, System.getProperty("java.io.tmpdir")))
                .append(" (-D").append(NativeLibrary.WORK_DIR_PROPERTY).append(")\n");
        if (dlopen != null) {
            message.append("  dynamic loader: ").append(dlopen).append('\n');
        }
        noexecNote().ifPresent(note -> message.append("  ").append(note).append('\n'));
        message.append("  to fix: ").append(fix);
        return new NativeLibraryLoadError(message.toString(), cause);
    }

    /** Says so when the extraction directory is on a noexec mount (mapping code there fails). */
    private Optional<String> noexecNote() {
        if (workDir == null) {
            return Optional.empty();
        }
        return MountTable.mountOf(workDir).filter(MountTable.Mount::noexec).map(m -> "the work dir " + workDir
                + " is on a file system mounted noexec (mount point " + m.mountPoint() + "): libraries there cannot be "
                + "mapped executable; set -D" + NativeLibrary.WORK_DIR_PROPERTY + " to a directory on another file system");
    }
}
