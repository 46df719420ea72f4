package org.semiringkernels.loader;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.semiringkernels.testing.NativeTools;

/**
 * Loading rules, each in a forked JVM (a failed load is remembered for the life of a class
 * loader, so it must not happen in the test JVM): the override loads exactly what it names and
 * never falls back; the bundled copy is extracted, verified and cleaned up; every failure is one
 * clear message with the paths tried, platform, work dir, loader text and the property to set.
 */
class LoaderTest {

    static final String PLATFORM = Platform.current().id();
    static Path builtLibrary;

    @TempDir
    Path temp;

    @BeforeAll
    static void findBuiltLibrary() {
        builtLibrary = NativeTools.requiredPath("semiringkernels.test.nativeLib", "the built native library")
                .toAbsolutePath();
    }

    static void assertClearFailure(ForkedJvm.Result r, String... fragments) {
        assertEquals(3, r.exitCode(), "expected a NativeLibraryLoadError:\n" + r.output());
        String message = r.error();
        assertTrue(message.startsWith("Semiring Kernels could not load its native library: "), message);
        for (String required : new String[] {"tried:", "platform: " + PLATFORM, "work dir: ", "to fix: "}) {
            assertTrue(message.contains(required), "message lacks \"" + required + "\":\n" + message);
        }
        for (String fragment : fragments) {
            assertTrue(message.contains(fragment), "message lacks \"" + fragment + "\":\n" + message);
        }
        assertTrue(r.output().contains("SECOND-ATTEMPT same=true"), "the failure is remembered:\n" + r.output());
        assertTrue(r.output().contains("BINDINGS unusable"), r.output());
    }

    // ---- the override --------------------------------------------------------------------------

    @Test
    void overridePropertyLoadsExactlyThatFile() throws IOException {
        ForkedJvm.Result r = ForkedJvm.run(Map.of(NativeLibrary.LIBRARY_PATH_PROPERTY, builtLibrary.toString()), Map.of());
        assertEquals(0, r.exitCode(), r.output());
        assertEquals(builtLibrary.toString(), r.line("LOADED"));
        assertEquals("false", r.line("EXTRACTED"));
        assertTrue(r.line("ORIGIN").startsWith("system property " + NativeLibrary.LIBRARY_PATH_PROPERTY), r.output());
        assertEquals("[7.0, 10.0, 15.0, 22.0] true", r.line("MATMUL"));
    }

    @Test
    void overrideDirectoryIsSearchedForTheLibrary() throws IOException {
        Path dir = Files.createDirectories(temp.resolve("libdir"));
        Path copy = Files.copy(builtLibrary, dir.resolve(Platform.current().libraryFileName()));
        ForkedJvm.Result r = ForkedJvm.run(Map.of(), Map.of(NativeLibrary.LIBRARY_PATH_ENV, dir.toString()));
        assertEquals(0, r.exitCode(), r.output());
        assertEquals(copy.toString(), r.line("LOADED"));
        assertTrue(r.line("ORIGIN").startsWith("environment variable " + NativeLibrary.LIBRARY_PATH_ENV), r.output());
    }

    @Test
    void bogusOverrideFailsClearlyAndNeverFallsBack() {
        Path bogus = temp.resolve("no/such/libsemiring_kernels.so");
        ForkedJvm.Result r = ForkedJvm.run(Map.of(NativeLibrary.LIBRARY_PATH_PROPERTY, bogus.toString()), Map.of());
        assertClearFailure(r, bogus.toString(), "does not exist", "-D" + NativeLibrary.LIBRARY_PATH_PROPERTY,
                NativeLibrary.LIBRARY_PATH_ENV, "never falls back");
        assertFalse(r.error().contains("class path resource"), "an override must not try the bundled copy:\n" + r.error());
    }

    @Test
    void bogusEnvironmentOverrideIsNamedAsSuch() {
        ForkedJvm.Result r = ForkedJvm.run(Map.of(), Map.of(NativeLibrary.LIBRARY_PATH_ENV, "/nonexistent/dir"));
        assertClearFailure(r, "/nonexistent/dir", "environment variable " + NativeLibrary.LIBRARY_PATH_ENV);
    }

    @Test
    void propertyWinsOverEnvironment() {
        ForkedJvm.Result r = ForkedJvm.run(Map.of(NativeLibrary.LIBRARY_PATH_PROPERTY, builtLibrary.toString()),
                Map.of(NativeLibrary.LIBRARY_PATH_ENV, "/nonexistent/dir"));
        assertEquals(0, r.exitCode(), r.output());
        assertEquals(builtLibrary.toString(), r.line("LOADED"));
    }

    @Test
    void fileThatIsNotALibraryReportsTheDynamicLoadersText() throws IOException {
        Path notALibrary = Files.writeString(temp.resolve("libsemiring_kernels.so"), "this is not an ELF file\n");
        ForkedJvm.Result r = ForkedJvm.run(Map.of(NativeLibrary.LIBRARY_PATH_PROPERTY, notALibrary.toString()), Map.of());
        assertClearFailure(r, "could not open " + notALibrary, "dynamic loader: ");
        String loaderLine = r.error().lines().filter(l -> l.contains("dynamic loader: ")).findFirst().orElseThrow();
        assertTrue(loaderLine.contains(notALibrary.toString()) && (loaderLine.contains("ELF") || loaderLine.contains("too short")),
                "dlopen's own text expected: " + loaderLine);
    }

    @Test
    void abiMismatchIsOneClearError() throws IOException {
        Path fake = compile("int sk_abi_version(void) { return 999; }\n"
                + "int sk_cuda_compiled(void) { return 0; }\n"
                + "const char *sk_version_string(void) { return \"fake\"; }\n");
        ForkedJvm.Result r = ForkedJvm.run(Map.of(NativeLibrary.LIBRARY_PATH_PROPERTY, fake.toString()), Map.of());
        assertClearFailure(r, "ABI mismatch", "sk_abi_version() = 999", "SK_ABI_VERSION = 1");
    }

    @Test
    void foreignLibraryWithoutTheHandshakeIsRejected() throws IOException {
        Path fake = compile("int unrelated(void) { return 1; }\n");
        ForkedJvm.Result r = ForkedJvm.run(Map.of(NativeLibrary.LIBRARY_PATH_PROPERTY, fake.toString()), Map.of());
        assertClearFailure(r, "does not export sk_abi_version", "not a Semiring Kernels library");
    }

    @Test
    void hostTensorsAndValueTypesDoNotLoadTheLibrary() {
        // A bogus override would make any load fail: nothing here may need the library.
        ForkedJvm.Result r = ForkedJvm.run(Map.of(NativeLibrary.LIBRARY_PATH_PROPERTY, "/nonexistent"), Map.of(), "pure-java");
        assertEquals(0, r.exitCode(), r.output());
        assertEquals("FLOAT64 -Infinity cuda:1 [1.0, 3.0, 2.0, 4.0]", r.line("PURE-JAVA"));
        assertEquals("false", r.line("LOADED-AFTER-PURE-JAVA"));
    }

    // ---- the bundled copy ----------------------------------------------------------------------

    @Test
    void bundledLibraryIsExtractedUnderTheWorkDirAndRemovedAtExit() throws IOException {
        Path work = Files.createDirectories(temp.resolve("work"));
        ForkedJvm.Result r = ForkedJvm.run(Map.of(NativeLibrary.WORK_DIR_PROPERTY, work.toString()), Map.of());
        assertEquals(0, r.exitCode(), r.output());
        Path extracted = Path.of(r.line("LOADED"));
        assertEquals("true", r.line("EXTRACTED"));
        assertTrue(extracted.startsWith(work), extracted + " is not under " + work);
        assertTrue(extracted.getParent().getFileName().toString().startsWith("semiringkernels-"));
        assertFalse(Files.exists(extracted), "the extracted copy is deleted at exit");
        assertFalse(Files.exists(extracted.getParent()), "its private directory too");
    }

    @Test
    void keepLeavesTheExtractedCopyWithItsChecksum() throws Exception {
        Path work = Files.createDirectories(temp.resolve("keep"));
        ForkedJvm.Result r = ForkedJvm.run(Map.of(NativeLibrary.WORK_DIR_PROPERTY, work.toString(),
                NativeLibrary.KEEP_PROPERTY, "true"), Map.of());
        assertEquals(0, r.exitCode(), r.output());
        Path extracted = Path.of(r.line("LOADED"));
        assertTrue(Files.isRegularFile(extracted), "kept: " + extracted);
        assertEquals(sha256(builtLibrary.toRealPath()), sha256(extracted), "the extracted copy is the built library");
        assertEquals("rwx------", java.nio.file.attribute.PosixFilePermissions.toString(
                Files.getPosixFilePermissions(extracted.getParent())), "the directory is private");
    }

    @Test
    void corruptBundleFailsTheChecksum() throws IOException {
        Path resources = bundle(temp.resolve("corrupt"), "0".repeat(64));
        List<String> cp = new ArrayList<>(List.of(resources.toString()));
        cp.addAll(ForkedJvm.testClassPath());
        Path work = Files.createDirectories(temp.resolve("work2"));
        ForkedJvm.Result r = ForkedJvm.run(cp, Map.of(NativeLibrary.WORK_DIR_PROPERTY, work.toString()), Map.of());
        assertClearFailure(r, "checksum mismatch", "0".repeat(64), "class path resource", work.toString());
    }

    @Test
    void jarWithoutALibraryForThisPlatformSaysSo() throws IOException {
        Path classes = copyWithoutNatives(ForkedJvm.mainClassesEntry(), temp.resolve("classes"));
        List<String> cp = new ArrayList<>();
        for (String entry : ForkedJvm.testClassPath()) {
            cp.add(Path.of(entry).equals(ForkedJvm.mainClassesEntry()) ? classes.toString() : entry);
        }
        ForkedJvm.Result r = ForkedJvm.run(cp, Map.of(), Map.of());
        assertClearFailure(r, "no native library for " + PLATFORM, "/natives/" + PLATFORM + "/", "not found",
                "-D" + NativeLibrary.LIBRARY_PATH_PROPERTY);
    }

    // ---- helpers -------------------------------------------------------------------------------

    /** A shared library compiled from C source with the system compiler (the native build needs one too). */
    private Path compile(String source) throws IOException {
        Path dir = Files.createTempDirectory(temp, "fake");
        Path c = Files.writeString(dir.resolve("fake.c"), source);
        Path so = dir.resolve("libsemiring_kernels.so");
        NativeTools.run(List.of("cc", "-shared", "-fPIC", "-o", so.toString(), c.toString()));
        return so;
    }

    /** A class-path folder with the library and a properties file stating {@code sha}. */
    private Path bundle(Path root, String sha) throws IOException {
        Path natives = Files.createDirectories(root.resolve("natives").resolve(PLATFORM));
        Files.copy(builtLibrary.toRealPath(), natives.resolve(Platform.current().libraryFileName()));
        Files.writeString(natives.resolve(NativeLibrary.PROPERTIES_FILE), "library.sha256=" + sha + "\n");
        return root;
    }

    private static Path copyWithoutNatives(Path from, Path to) throws IOException {
        try (Stream<Path> files = Files.walk(from)) {
            for (Path p : (Iterable<Path>) files::iterator) {
                Path rel = from.relativize(p);
                if (rel.startsWith("natives")) {
                    continue;
                }
                Path target = to.resolve(rel.toString());
                if (Files.isDirectory(p)) {
                    Files.createDirectories(target);
                } else {
                    Files.copy(p, target, StandardCopyOption.REPLACE_EXISTING);
                }
            }
        }
        return to;
    }

    static String sha256(Path file) throws IOException {
        try (var in = Files.newInputStream(file)) {
            var digest = LibraryLoader.sha256();
            digest.update(in.readAllBytes());
            return java.util.HexFormat.of().formatHex(digest.digest());
        }
    }
}
