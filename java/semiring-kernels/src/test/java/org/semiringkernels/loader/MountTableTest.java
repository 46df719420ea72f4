package org.semiringkernels.loader;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.List;

import org.junit.jupiter.api.Test;

/** Finding the mount of the work dir, to report noexec mounts. */
class MountTableTest {

    static final List<String> MOUNTINFO = List.of(
            "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw",
            "30 22 0:25 / /tmp rw,nosuid,nodev,noexec,relatime shared:5 - tmpfs tmpfs rw",
            "31 30 0:26 / /tmp/exec\\040ok rw,nosuid,relatime shared:6 - tmpfs tmpfs rw",
            "32 22 0:27 / /tmpfoo rw,relatime - tmpfs tmpfs rw");

    @Test
    void longestMountPointWins() {
        MountTable.Mount tmp = MountTable.mountOf(Path.of("/tmp/semiringkernels-1/lib.so"), MOUNTINFO).orElseThrow();
        assertEquals("/tmp", tmp.mountPoint());
        assertTrue(tmp.noexec());
        MountTable.Mount escaped = MountTable.mountOf(Path.of("/tmp/exec ok/x"), MOUNTINFO).orElseThrow();
        assertEquals("/tmp/exec ok", escaped.mountPoint(), "octal escapes in mount points are decoded");
        assertFalse(escaped.noexec());
        assertEquals("/tmpfoo", MountTable.mountOf(Path.of("/tmpfoo/a"), MOUNTINFO).orElseThrow().mountPoint(),
                "a mount point matches whole path components only");
        assertEquals("/", MountTable.mountOf(Path.of("/home/u"), MOUNTINFO).orElseThrow().mountPoint());
    }

    @Test
    void theRunningSystemsTableIsReadable() {
        MountTable.Mount root = MountTable.mountOf(Path.of(System.getProperty("java.io.tmpdir"))).orElseThrow();
        assertTrue(root.mountPoint().startsWith("/"), root.toString());
    }
}
