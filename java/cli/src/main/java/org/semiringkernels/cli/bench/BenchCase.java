package org.semiringkernels.cli.bench;

import org.semiringkernels.Context;

/**
 * One benchmark configuration of {@code semiring-kernels bench}, run through the Java API:
 * {@link #prepare} allocates and fills its inputs on the context's device (untimed), {@link #run}
 * is the timed unit of work (asynchronous on CUDA; the timer synchronises the context), and
 * {@link #close} frees everything.
 */
public interface BenchCase extends AutoCloseable {

    /** Family name as on the command line: matmul, hmm, ctc, ... */
    String family();

    /** Unique configuration name, e.g. {@code log ij,jk->ik 2048^3 f32 fwd}. */
    String name();

    /** Work units of one run for the throughput column (0 when there is none). */
    double work();

    /** Unit of {@link #work()} per second, e.g. GFLOP/s-eq. */
    String workUnit();

    /** The public anchor measured for the same configuration (on an H100), or null. */
    Anchor anchor();

    void prepare(Context context);

    void run(Context context);

    @Override
    void close();

    /** An anchor's name and its time in ms on the GPU it was measured on. */
    record Anchor(String name, double ms, String device) {
    }
}
