package org.semiringkernels.spark;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.NoSuchElementException;
import java.util.function.Function;

/**
 * Turns a partition's row iterator into batches of up to {@code batchSize} rows, runs one
 * function per batch (one native call for many rows) and yields its results row by row, lazily,
 * so a partition never has to fit in memory.
 */
public final class Batches {

    private Batches() {
    }

    public static <I, O> Iterator<O> map(Iterator<I> rows, int batchSize, Function<List<I>, List<O>> perBatch) {
        if (batchSize < 1) {
            throw new IllegalArgumentException("batchSize must be >= 1, got " + batchSize);
        }
        return new Iterator<>() {
            private Iterator<O> current = java.util.Collections.emptyIterator();

            @Override
            public boolean hasNext() {
                while (!current.hasNext() && rows.hasNext()) {
                    List<I> batch = new ArrayList<>(batchSize);
                    while (batch.size() < batchSize && rows.hasNext()) {
                        batch.add(rows.next());
                    }
                    List<O> out = perBatch.apply(batch);
                    if (out.size() != batch.size()) {
                        throw new IllegalStateException("a batch of " + batch.size() + " rows gave " + out.size() + " results");
                    }
                    current = out.iterator();
                }
                return current.hasNext();
            }

            @Override
            public O next() {
                if (!hasNext()) {
                    throw new NoSuchElementException();
                }
                return current.next();
            }
        };
    }
}
