package org.semiringkernels;

/**
 * One family's workload for {@link StressTest}: a fixed set of calls on fixed inputs whose outputs
 * must be bitwise the same on every thread, context and run. A family adds itself with one class
 * implementing this (file StressOp&lt;Family&gt;.java) and one line naming it in
 * src/test/resources/META-INF/services/org.semiringkernels.StressOp.
 */
public interface StressOp {

    String name();

    /** Runs the workload on the context and returns every output's bytes, concatenated. */
    byte[] run(Context context);

    /**
     * Makes a call the library (not the Java layer) rejects, with a message that contains
     * {@link #errorFragment(int)} for this marker (a small positive number unique to the calling
     * thread), so a message attributed to the wrong thread is noticed. Must throw
     * {@link SemiringKernelsException}.
     */
    void provokeError(Context context, int marker);

    String errorFragment(int marker);

    /** A host float32 tensor of N(0, 1) values from rng, for the workloads' inputs. */
    static Tensor gaussian(java.util.Random rng, long... shape) {
        int n = 1;
        for (long s : shape) {
            n *= (int) s;
        }
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) rng.nextGaussian();
        }
        return Tensor.fromArray(v, shape);
    }
}
