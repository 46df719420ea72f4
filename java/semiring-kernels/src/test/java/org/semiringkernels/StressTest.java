package org.semiringkernels;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.ServiceLoader;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Stress: every family's workload ({@link StressOp}, found by ServiceLoader) runs for a bounded
 * time (system property semiringkernels.test.stressSeconds, default 3) on many platform and
 * virtual threads at once, each thread with its own CPU context, and on one context shared
 * through the synchronized wrapper. Every result is bitwise equal to the single-threaded one; a
 * third of the threads also provoke library errors whose messages carry a marker unique to the
 * thread, and each thread must see its own message, never another thread's.
 */
class StressTest {

    static final int THREADS = 6; // per kind (platform, virtual)
    static final Map<String, byte[]> expected = new LinkedHashMap<>();
    static final List<StressOp> ops = new ArrayList<>();

    static long stressMillis() {
        return (long) (1000 * Double.parseDouble(System.getProperty("semiringkernels.test.stressSeconds", "3")));
    }

    @BeforeAll
    static void singleThreaded() {
        ServiceLoader.load(StressOp.class).forEach(ops::add);
        assertTrue(ops.size() >= 6, "stress ops found: " + ops.size());
        try (Context context = Context.cpu()) {
            context.setNumThreads(1);
            for (StressOp op : ops) {
                expected.put(op.name(), op.run(context));
                assertTrue(expected.get(op.name()).length > 0, op.name());
            }
        }
    }

    /** Runs the ops round-robin until the deadline; every third thread also provokes errors. */
    static long work(Context context, int marker, long deadline) {
        long rounds = 0;
        boolean provoker = marker % 3 == 0;
        do {
            for (StressOp op : ops) {
                assertArrayEquals(expected.get(op.name()), op.run(context), op.name() + " on thread " + marker);
                if (provoker) {
                    SemiringKernelsException e = assertThrows(SemiringKernelsException.class,
                            () -> op.provokeError(context, marker), op.name());
                    assertTrue(e.getMessage().contains(op.errorFragment(marker)),
                            op.name() + " on thread " + marker + " got someone else's message: " + e.getMessage());
                }
            }
            rounds++;
        } while (System.nanoTime() < deadline);
        return rounds;
    }

    @Test
    void ownContextsOnPlatformAndVirtualThreads() throws Exception {
        AtomicLong total = new AtomicLong();
        try (ExecutorService platform = Executors.newFixedThreadPool(THREADS);
             ExecutorService virtual = Executors.newVirtualThreadPerTaskExecutor()) {
            CountDownLatch start = new CountDownLatch(1);
            List<Future<Long>> results = new ArrayList<>();
            int marker = 1;
            for (ExecutorService pool : List.of(platform, virtual)) {
                for (int t = 0; t < THREADS; t++) {
                    int mine = marker++;
                    results.add(pool.submit(() -> {
                        start.await();
                        long deadline = System.nanoTime() + stressMillis() * 1_000_000;
                        try (Context context = Context.checkingContext(Context.cpu())) {
                            context.setNumThreads(1 + mine % 2);
                            return work(context, mine, deadline);
                        }
                    }));
                }
            }
            start.countDown();
            for (Future<Long> f : results) {
                total.addAndGet(f.get(5, TimeUnit.MINUTES));
            }
        }
        assertTrue(total.get() >= 2L * THREADS, "rounds: " + total.get());
    }

    @Test
    void oneSharedContextThroughTheSynchronizedWrapper() throws Exception {
        try (Context shared = Context.synchronizedContext(Context.checkingContext(Context.cpu()));
             ExecutorService virtual = Executors.newVirtualThreadPerTaskExecutor();
             ExecutorService platform = Executors.newFixedThreadPool(THREADS / 2)) {
            List<Future<Long>> results = new ArrayList<>();
            long deadline = System.nanoTime() + stressMillis() * 1_000_000;
            for (int t = 0; t < THREADS; t++) {
                int mine = t + 1;
                results.add((mine % 2 == 0 ? virtual : platform).submit(() -> work(shared, mine, deadline)));
            }
            long rounds = 0;
            for (Future<Long> f : results) {
                rounds += f.get(5, TimeUnit.MINUTES);
            }
            assertTrue(rounds >= THREADS);
        }
        assertEquals(ops.size(), expected.size());
    }
}
