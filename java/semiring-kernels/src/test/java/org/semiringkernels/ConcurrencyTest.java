package org.semiringkernels;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.ConcurrentModificationException;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Many threads at once, platform and virtual, each with its own context: results are bitwise
 * equal to the single-threaded ones. One context shared through the synchronized wrapper; the
 * checking wrapper catching overlapping use.
 */
class ConcurrencyTest {

    static final int THREADS = 8;
    static final int ROUNDS = 15;

    static Tensor a, b, g;
    static double[] expectedLog, expectedMax, expectedGradA;
    static int[] expectedArgmax;

    @BeforeAll
    static void singleThreaded() {
        Random rng = new Random(77);
        a = Tensor.fromArray(randoms(rng, 3 * 24 * 40), 3, 24, 40);
        b = Tensor.fromArray(randoms(rng, 40 * 16), 40, 16);
        g = Tensor.fromArray(randoms(rng, 3 * 24 * 16), 3, 24, 16);
        try (Context context = Context.cpu()) {
            double[][] r = compute(context);
            expectedLog = r[0];
            expectedMax = r[1];
            expectedGradA = r[2];
            expectedArgmax = toInts(r[3]);
        }
    }

    @AfterAll
    static void free() {
        a.close();
        b.close();
        g.close();
    }

    /** LOG forward + backward and MAX forward with argmax; the inputs are shared read-only. */
    static double[][] compute(Context context) {
        try (SemiringMatmul.Result log = SemiringMatmul.forward(context, Semiring.LOG, a, b);
             SemiringMatmul.Gradients grads = SemiringMatmul.backward(context, Semiring.LOG, a, b, log.c(), null, g);
             SemiringMatmul.Result max = SemiringMatmul.forward(context, Semiring.MAX, a, b)) {
            double[] argmax = new double[(int) max.argmax().elementCount()];
            int[] ints = max.argmax().toIntArray();
            for (int i = 0; i < ints.length; i++) {
                argmax[i] = ints[i];
            }
            return new double[][] {log.c().toDoubleArray(), max.c().toDoubleArray(), grads.gradA().toDoubleArray(), argmax};
        }
    }

    @Test
    void platformAndVirtualThreadsWithTheirOwnContexts() throws Exception {
        try (ExecutorService platform = Executors.newFixedThreadPool(THREADS);
             ExecutorService virtual = Executors.newVirtualThreadPerTaskExecutor()) {
            CountDownLatch start = new CountDownLatch(1);
            List<Future<Integer>> results = new ArrayList<>();
            for (ExecutorService pool : List.of(platform, virtual)) {
                for (int t = 0; t < THREADS; t++) {
                    results.add(pool.submit(() -> {
                        start.await();
                        try (Context context = Context.checkingContext(Context.cpu())) {
                            context.setNumThreads(1);
                            for (int round = 0; round < ROUNDS; round++) {
                                assertSameResults(compute(context));
                            }
                        }
                        return ROUNDS;
                    }));
                }
            }
            start.countDown();
            int rounds = 0;
            for (Future<Integer> f : results) {
                rounds += f.get(5, TimeUnit.MINUTES);
            }
            assertEquals(2 * THREADS * ROUNDS, rounds);
        }
    }

    @Test
    void oneContextSharedThroughTheSynchronizedWrapper() throws Exception {
        try (Context shared = Context.synchronizedContext(Context.checkingContext(Context.cpu()));
             ExecutorService virtual = Executors.newVirtualThreadPerTaskExecutor()) {
            List<Future<?>> results = new ArrayList<>();
            for (int t = 0; t < THREADS; t++) {
                results.add(virtual.submit(() -> {
                    for (int round = 0; round < 5; round++) {
                        assertSameResults(compute(shared));
                    }
                    return null;
                }));
            }
            for (Future<?> f : results) {
                f.get(5, TimeUnit.MINUTES); // the checking context inside never saw two threads at once
            }
        }
    }

    @Test
    void checkingWrapperFailsOnOverlappingUse() throws Exception {
        try (Context checking = Context.checkingContext(Context.cpu())) {
            CountDownLatch inside = new CountDownLatch(1);
            CountDownLatch proceed = new CountDownLatch(1);
            Thread holder = Thread.ofVirtual().start(() -> checking.call("hold", h -> {
                inside.countDown();
                try {
                    proceed.await();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                return null;
            }));
            assertTrue(inside.await(10, TimeUnit.SECONDS));
            ConcurrentModificationException e = assertThrows(ConcurrentModificationException.class, checking::numThreads);
            assertTrue(e.getMessage().contains("one thread at a time") && e.getMessage().contains("synchronizedContext"),
                    e.getMessage());
            proceed.countDown();
            holder.join(10_000);
            // Sequential use from another thread is fine.
            Thread later = Thread.ofPlatform().start(() -> checking.setNumThreads(2));
            later.join(10_000);
            assertEquals(2, checking.numThreads());
        }
    }

    static void assertSameResults(double[][] r) {
        assertArrayEquals(expectedLog, r[0], 0.0, "LOG forward differs from the single-threaded run");
        assertArrayEquals(expectedMax, r[1], 0.0, "MAX forward differs");
        assertArrayEquals(expectedGradA, r[2], 0.0, "LOG backward differs");
        assertArrayEquals(expectedArgmax, toInts(r[3]), "argmax differs");
    }

    static double[] randoms(Random rng, int n) {
        double[] d = new double[n];
        for (int i = 0; i < n; i++) {
            d[i] = rng.nextGaussian();
        }
        return d;
    }

    static int[] toInts(double[] d) {
        int[] out = new int[d.length];
        for (int i = 0; i < d.length; i++) {
            out[i] = (int) d[i];
        }
        return out;
    }
}
