package org.semiringkernels.loader;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;

/**
 * Finds the mount that holds a path in {@code /proc/self/mountinfo}, to tell a user why a library
 * extracted into a {@code noexec} temporary directory cannot be mapped.
 */
final class MountTable {

    /** One mount: where it is mounted and its per-mount options (e.g. rw,nosuid,noexec). */
    record Mount(String mountPoint, List<String> options) {
        boolean noexec() {
            return options.contains("noexec");
        }
    }

    private MountTable() {
    }

    /** The mount holding {@code path} per the running kernel, or empty when unknown (non-Linux). */
    static Optional<Mount> mountOf(Path path) {
        Path table = Path.of("/proc/self/mountinfo");
        if (!Files.isReadable(table)) {
            return Optional.empty();
        }
        try {
            return mountOf(path, Files.readAllLines(table));
        } catch (IOException | RuntimeException e) {
            return Optional.empty();
        }
    }

    /**
     * The mount with the longest mount point that contains {@code path}, from mountinfo lines:
     * {@code id parent major:minor root mount-point options [optional fields] - fstype source super-options}.
     * Mount points escape blanks as octal ({@code \040}).
     */
    static Optional<Mount> mountOf(Path path, List<String> mountinfoLines) {
        Path target = realOrAbsolute(path);
        Mount best = null;
        for (String line : mountinfoLines) {
            String[] fields = line.trim().split(" ");
            if (fields.length < 6) {
                continue;
            }
            String mountPoint = unescape(fields[4]);
            if (!target.startsWith(Path.of(mountPoint))) {
                continue;
            }
            if (best == null || mountPoint.length() >= best.mountPoint().length()) {
                best = new Mount(mountPoint, List.of(fields[5].split(",")));
            }
        }
        return Optional.ofNullable(best);
    }

    private static Path realOrAbsolute(Path path) {
        try {
            return path.toRealPath();
        } catch (IOException e) {
            return path.toAbsolutePath().normalize();
        }
    }

    private static String unescape(String field) {
        StringBuilder out = new StringBuilder(field.length());
        for (int i = 0; i < field.length(); i++) {
            char ch = field.charAt(i);
            if (ch == '\\' && isOctal(field, i + 1)) {
                out.append((char) Integer.parseInt(field.substring(i + 1, i + 4), 8));
                i += 3;
            } else {
                out.append(ch);
            }
        }
        return out.toString();
    }

    private static boolean isOctal(String s, int from) {
        if (from + 3 > s.length()) {
            return false;
        }
        for (int i = from; i < from + 3; i++) {
            if (s.charAt(i) < '0' || s.charAt(i) > '7') {
                return false;
            }
        }
        return true;
    }
}
