package org.semiringkernels;

import java.io.IOException;
import java.io.InputStream;
import java.util.Properties;

import org.semiringkernels.loader.LoadedLibrary;

/** Versions and the loaded native library. */
public final class SemiringKernels {

    private SemiringKernels() {
    }

    /** The version of this jar (e.g. 0.1.0-SNAPSHOT). */
    public static String version() {
        Properties p = new Properties();
        try (InputStream in = SemiringKernels.class.getResourceAsStream("version.properties")) {
            if (in != null) {
                p.load(in);
            }
        } catch (IOException e) {
            return "unknown (" + e + ")";
        }
        return p.getProperty("version", "unknown");
    }

    /** Loads the native library if needed and describes it (path, origin, version, CUDA). */
    public static LoadedLibrary nativeLibrary() {
        return Native.library();
    }
}
