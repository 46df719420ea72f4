package org.semiringkernels.bindings;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.HexFormat;

import org.junit.jupiter.api.Test;
import org.semiringkernels.testing.NativeTools;

/** The header has not changed since the bindings were generated (else run jextract/generate.sh). */
class HeaderChecksumTest {

    @Test
    void headerMatchesTheRecordedChecksum() throws Exception {
        Path header = NativeTools.requiredPath("semiringkernels.test.header", "the C header");
        assertTrue(header.toString().endsWith(HeaderChecksum.SEMIRING_KERNELS_PATH),
                header + " is not " + HeaderChecksum.SEMIRING_KERNELS_PATH);
        String actual = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(header)));
        assertEquals(HeaderChecksum.SEMIRING_KERNELS_SHA256, actual,
                header + " changed since the bindings were generated: update jextract/semiring_kernels.args if needed "
                        + "and run jextract/generate.sh");
    }
}
