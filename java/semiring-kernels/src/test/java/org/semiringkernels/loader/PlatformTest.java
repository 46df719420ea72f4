package org.semiringkernels.loader;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

class PlatformTest {

    @Test
    void jdkSpellingsAreNormalised() {
        assertEquals("linux-x86_64", Platform.of("Linux", "amd64").id());
        assertEquals("linux-aarch64", Platform.of("Linux", "aarch64").id());
        assertEquals("macos-aarch64", Platform.of("Mac OS X", "arm64").id());
        assertEquals("windows-x86_64", Platform.of("Windows 11", "x86_64").id());
        assertEquals("natives/linux-x86_64/", Platform.of("Linux", "amd64").resourceFolder());
        assertEquals("libsemiring_kernels.so", Platform.of("Linux", "amd64").libraryFileName());
        assertEquals("libsemiring_kernels.dylib", Platform.of("Mac OS X", "arm64").libraryFileName());
    }
}
