package org.semiringkernels.bench;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Random;
import java.util.concurrent.TimeUnit;

import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;
import org.semiringkernels.Context;
import org.semiringkernels.DType;
import org.semiringkernels.Semiring;
import org.semiringkernels.SemiringMatmul;
import org.semiringkernels.Tensor;
import org.semiringkernels.bindings.semiring_kernels_h;
import org.semiringkernels.bindings.sk_matmul_options;
import org.semiringkernels.bindings.sk_tensor;

/**
 * What the Java layer costs on top of the native call, measured on an op so small (a 4x4x4
 * float32 semiring matmul on one CPU thread) that the kernel itself takes well under a
 * microsecond:
 * <ul>
 *   <li>{@code idiomatic}: {@link SemiringMatmul#forward} with preallocated tensors: Java
 *       validation, lifetime bookkeeping, descriptors in a confined arena, the downcall.</li>
 *   <li>{@code rawBindings}: the jextract binding with descriptors built once: the FFM downcall
 *       plus the library's own validation and kernel, i.e. the floor for any Java caller.</li>
 *   <li>{@code plainJava}: the same 64 multiply-adds in a Java loop, for scale.</li>
 * </ul>
 * Compare with the native harness timing the same work without Java: {@code sk_bench --device cpu
 * --config real/ij,jk->ik/4^3/f32/fwd,log/ij,jk->ik/4^3/f32/fwd,max/ij,jk->ik/4^3/f32/fwd} (one
 * thread): idiomatic minus that is the whole Java overhead; rawBindings minus that is the FFM
 * transition. (Those tiny configurations are requested from native/bench; until it has them,
 * rawBindings is the nearest stand-in for the native time.)
 * Run: {@code java -jar java/benchmarks/target/benchmarks.jar CallOverhead}.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 5, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED"})
@State(Scope.Thread)
public class CallOverheadBenchmark {

    static final int SIZE = 4;

    @Param({"REAL", "LOG", "MAX"})
    public String semiring;

    private Semiring ring;
    private Context context;
    private Tensor a, b, c;

    private Arena rawArena;
    private MemorySegment rawContext, rawOptions, rawA, rawB, rawC;

    private float[] ja, jb, jc;

    @Setup(Level.Trial)
    public void setUp() {
        ring = Semiring.valueOf(semiring);
        Random rng = new Random(1);
        ja = random(rng);
        jb = random(rng);
        jc = new float[SIZE * SIZE];
        context = Context.cpu();
        context.setNumThreads(1);
        a = Tensor.fromArray(ja, SIZE, SIZE);
        b = Tensor.fromArray(jb, SIZE, SIZE);
        c = Tensor.allocateHost(DType.FLOAT32, SIZE, SIZE);

        rawArena = Arena.ofShared();
        MemorySegment out = rawArena.allocate(semiring_kernels_h.C_POINTER);
        check(semiring_kernels_h.sk_context_create(semiring_kernels_h.SK_DEVICE_CPU(), 0, out));
        rawContext = out.get(semiring_kernels_h.C_POINTER, 0);
        check(semiring_kernels_h.sk_context_set_num_threads(rawContext, 1));
        rawOptions = sk_matmul_options.allocate(rawArena);
        sk_matmul_options.struct_size(rawOptions, sk_matmul_options.sizeof());
        sk_matmul_options.semiring(rawOptions, ring.code());
        rawA = descriptor(a.segment());
        rawB = descriptor(b.segment());
        rawC = descriptor(c.segment());
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        check(semiring_kernels_h.sk_context_destroy(rawContext));
        rawArena.close();
        a.close();
        b.close();
        c.close();
        context.close();
    }

    @Benchmark
    public Tensor idiomatic() {
        SemiringMatmul.forward(context, ring, a, b, c);
        return c;
    }

    @Benchmark
    public int rawBindings() {
        return semiring_kernels_h.sk_semiring_matmul(rawContext, rawOptions, rawA, rawB, rawC, MemorySegment.NULL);
    }

    @Benchmark
    public float[] plainJava() {
        for (int i = 0; i < SIZE; i++) {
            for (int j = 0; j < SIZE; j++) {
                float acc = 0;
                for (int k = 0; k < SIZE; k++) {
                    acc += ja[i * SIZE + k] * jb[k * SIZE + j];
                }
                jc[i * SIZE + j] = acc;
            }
        }
        return jc;
    }

    private MemorySegment descriptor(MemorySegment data) {
        MemorySegment d = sk_tensor.allocate(rawArena);
        sk_tensor.data(d, data);
        sk_tensor.dtype(d, semiring_kernels_h.SK_DTYPE_FLOAT32());
        sk_tensor.device_type(d, semiring_kernels_h.SK_DEVICE_CPU());
        sk_tensor.rank(d, 2);
        sk_tensor.shape(d, 0, SIZE);
        sk_tensor.shape(d, 1, SIZE);
        sk_tensor.strides(d, 0, SIZE);
        sk_tensor.strides(d, 1, 1);
        return d;
    }

    private static void check(int status) {
        if (status != semiring_kernels_h.SK_OK()) {
            throw new IllegalStateException("native call failed: " + semiring_kernels_h.sk_last_error().getString(0));
        }
    }

    private static float[] random(Random rng) {
        float[] v = new float[SIZE * SIZE];
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) rng.nextGaussian();
        }
        return v;
    }
}
