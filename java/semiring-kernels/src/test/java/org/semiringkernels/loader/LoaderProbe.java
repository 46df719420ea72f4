package org.semiringkernels.loader;

import org.semiringkernels.Context;
import org.semiringkernels.DType;
import org.semiringkernels.Semiring;
import org.semiringkernels.SemiringMatmul;
import org.semiringkernels.Tensor;
import org.semiringkernels.bindings.semiring_kernels_h;

/**
 * Main class of the forked JVMs of {@link LoaderTest}: loads the library as configured and
 * reports what happened on stdout, so that a failing load cannot poison the test JVM.
 * Exit 0: loaded (and a matmul ran); exit 3: NativeLibraryLoadError (message between markers).
 */
public final class LoaderProbe {

    private LoaderProbe() {
    }

    public static void main(String[] args) {
        if (args.length > 0 && args[0].equals("pure-java")) {
            pureJava();
            return;
        }
        try {
            LoadedLibrary library = NativeLibrary.load();
            System.out.println("LOADED " + library.path());
            System.out.println("EXTRACTED " + library.extracted());
            System.out.println("ORIGIN " + library.origin());
            System.out.println("ABI " + semiring_kernels_h.sk_abi_version());
            try (Context context = Context.cpu();
                 Tensor a = Tensor.fromArray(new float[] {1, 2, 3, 4}, 2, 2);
                 SemiringMatmul.Result r = SemiringMatmul.forward(context, Semiring.REAL, a, a)) {
                System.out.println("MATMUL " + java.util.Arrays.toString(r.c().toFloatArray()) + " " + (r.c().dtype() == DType.FLOAT32));
            }
            System.exit(0);
        } catch (NativeLibraryLoadError e) {
            System.out.println("ERROR-BEGIN");
            System.out.println(e.getMessage());
            System.out.println("ERROR-END");
            try {
                NativeLibrary.load();
                System.out.println("SECOND-ATTEMPT loaded?!");
            } catch (NativeLibraryLoadError again) {
                System.out.println("SECOND-ATTEMPT same=" + (again == e));
            }
            try {
                semiring_kernels_h.sk_abi_version();
                System.out.println("BINDINGS usable?!");
            } catch (LinkageError expected) {
                System.out.println("BINDINGS unusable " + expected.getClass().getSimpleName());
            }
            System.exit(3);
        }
    }

    /** Host tensors, views and value types need no native library: report whether one was loaded. */
    private static void pureJava() {
        try (Tensor t = Tensor.fromArray(new double[] {1, 2, 3, 4}, 2, 2); Tensor h = t.transpose().toHost()) {
            String summary = DType.FLOAT64 + " " + Semiring.MAX.zero() + " " + org.semiringkernels.Device.cuda(1)
                    + " " + java.util.Arrays.toString(h.toDoubleArray());
            System.out.println("PURE-JAVA " + summary);
        }
        System.out.println("LOADED-AFTER-PURE-JAVA " + NativeLibrary.loadedIfAny().isPresent());
        System.exit(0);
    }
}
