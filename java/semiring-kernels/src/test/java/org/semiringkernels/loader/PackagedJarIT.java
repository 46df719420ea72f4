package org.semiringkernels.loader;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.InputStream;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HexFormat;
import java.util.List;
import java.util.Properties;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.semiringkernels.bindings.semiring_kernels_h;
import org.semiringkernels.testing.NativeTools;

/**
 * The finished jar (failsafe, after package): the library inside it for this platform, its
 * properties and checksum, ELF class and machine, resolvable dependencies without a dynamic
 * libstdc++, exactly the bound sk_ symbols exported, the newest GLIBC symbol version it needs,
 * and loading it from the jar.
 */
class PackagedJarIT {

    static final Platform PLATFORM = Platform.current();
    static final String FOLDER = PLATFORM.resourceFolder();

    static Path jar;
    static byte[] library;
    static Properties properties;

    @TempDir
    static Path temp;

    static Path extracted;

    @BeforeAll
    static void readJar() throws IOException {
        jar = NativeTools.requiredPath("semiringkernels.test.jar", "the packaged jar");
        try (ZipFile zip = new ZipFile(jar.toFile())) {
            ZipEntry lib = zip.getEntry(FOLDER + PLATFORM.libraryFileName());
            assertNotNull(lib, jar + " has no " + FOLDER + PLATFORM.libraryFileName());
            ZipEntry props = zip.getEntry(FOLDER + NativeLibrary.PROPERTIES_FILE);
            assertNotNull(props, jar + " has no " + FOLDER + NativeLibrary.PROPERTIES_FILE);
            try (InputStream in = zip.getInputStream(lib)) {
                library = in.readAllBytes();
            }
            properties = new Properties();
            try (InputStream in = zip.getInputStream(props)) {
                properties.load(in);
            }
        }
        extracted = Files.write(temp.resolve(PLATFORM.libraryFileName()), library);
    }

    @Test
    void propertiesDescribeTheBundledLibrary() throws Exception {
        var digest = java.security.MessageDigest.getInstance("SHA-256");
        assertEquals(HexFormat.of().formatHex(digest.digest(library)), properties.getProperty("library.sha256"));
        assertEquals(Long.toString(library.length), properties.getProperty("library.size"));
        assertEquals(PLATFORM.id(), properties.getProperty("platform"));
        assertEquals(Integer.toString(semiring_kernels_h.SK_ABI_VERSION()), properties.getProperty("abi.version"));
        for (String key : List.of("version", "native.version", "cuda.compiled", "cuda.version", "git.sha")) {
            assertFalse(properties.getProperty(key, "").isBlank(), key + " is missing");
        }
    }

    @Test
    void elfClassAndMachineMatchThePlatform() {
        assertTrue(library.length > 64 && library[0] == 0x7f && library[1] == 'E' && library[2] == 'L' && library[3] == 'F',
                "not an ELF file");
        assertEquals(2, library[4], "ELFCLASS64");
        int machine = (library[18] & 0xff) | (library[19] & 0xff) << 8;
        int expected = switch (PLATFORM.arch()) {
            case "x86_64" -> 62;
            case "aarch64" -> 183;
            default -> throw new AssertionError("no ELF machine known for " + PLATFORM.arch());
        };
        assertEquals(expected, machine, "e_machine");
    }

    @Test
    void dependenciesResolveAndTheCxxRuntimeIsStatic() {
        String ldd = NativeTools.run(List.of("ldd", extracted.toString()));
        assertFalse(ldd.contains("not found"), ldd);
        String dynamic = NativeTools.run(List.of("readelf", "-d", extracted.toString()));
        assertFalse(dynamic.contains("libstdc++") || dynamic.contains("libgcc_s"),
                "libstdc++/libgcc must be linked statically (JAVA-NATIVE.md convention 4):\n" + dynamic);
        assertFalse(dynamic.contains("libcudart.so"), "cudart must be linked statically:\n" + dynamic);
    }

    @Test
    void exportsExactlyTheBoundSymbols() {
        TreeSet<String> exported = new TreeSet<>();
        for (String line : NativeTools.run(List.of("nm", "-D", "--defined-only", extracted.toString())).split("\n")) {
            String[] f = line.trim().split("\\s+");
            if (f.length == 3) {
                exported.add(f[2]);
            }
        }
        TreeSet<String> bound = new TreeSet<>();
        for (Method m : semiring_kernels_h.class.getMethods()) {
            if (Modifier.isStatic(m.getModifiers()) && m.getName().endsWith("$handle")) {
                bound.add(m.getName().replace("$handle", ""));
            }
        }
        assertEquals(bound, exported, "every exported symbol is a bound sk_ function and nothing else");
    }

    /**
     * The newest GLIBC symbol version the library needs decides the oldest Linux it loads on.
     * The ceiling is -Dsemiringkernels.test.maxGlibc (default 2.36, Debian 12); raise it
     * deliberately, not by accident of the build machine.
     */
    @Test
    void newestGlibcVersionIsWithinTheCeiling() {
        String symbols = NativeTools.run(List.of("objdump", "-T", extracted.toString()));
        Matcher m = Pattern.compile("GLIBC_(\\d+)\\.(\\d+)").matcher(symbols);
        int newest = 0;
        while (m.find()) {
            newest = Math.max(newest, Integer.parseInt(m.group(1)) * 1000 + Integer.parseInt(m.group(2)));
        }
        String[] ceiling = System.getProperty("semiringkernels.test.maxGlibc", "2.36").split("\\.");
        int max = Integer.parseInt(ceiling[0]) * 1000 + Integer.parseInt(ceiling[1]);
        System.out.println("newest GLIBC symbol version needed: " + newest / 1000 + "." + newest % 1000);
        assertTrue(newest > 0, "no GLIBC versions found by objdump -T");
        assertTrue(newest <= max, "the library needs GLIBC " + newest / 1000 + "." + newest % 1000
                + ", above the ceiling " + String.join(".", ceiling));
    }

    @Test
    void theLoaderExtractsTheLibraryFromTheJar() throws Exception {
        LoadedLibrary loaded = NativeLibrary.load();
        assertTrue(loaded.extracted());
        assertTrue(loaded.origin().contains("jar:"), loaded.origin());
        assertEquals(properties.getProperty("library.sha256"), LoaderTest.sha256(loaded.path()));
        assertEquals(semiring_kernels_h.SK_ABI_VERSION(), semiring_kernels_h.sk_abi_version());
    }
}
