package org.semiringkernels;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import org.junit.jupiter.api.Test;

/** Tensor memory, views, copies, validation of shapes and segments, and use after close. */
class TensorTest {

    @Test
    void arraysRoundTripForEveryDtype() {
        try (Tensor f = Tensor.fromArray(new float[] {1.5f, -2, 3, 4, 5, 6}, 2, 3);
             Tensor d = Tensor.fromArray(new double[] {1e-300, 2, 3});
             Tensor i = Tensor.fromArray(new int[] {7, -8}, 1, 2);
             Tensor l = Tensor.fromArray(new long[] {1L << 40, -3}, 2)) {
            assertArrayEquals(new float[] {1.5f, -2, 3, 4, 5, 6}, f.toFloatArray());
            assertArrayEquals(new long[] {2, 3}, f.shape());
            assertArrayEquals(new long[] {3, 1}, f.strides());
            assertEquals(DType.FLOAT32, f.dtype());
            assertArrayEquals(new double[] {1e-300, 2, 3}, d.toDoubleArray());
            assertArrayEquals(new long[] {3}, d.shape());
            assertArrayEquals(new int[] {7, -8}, i.toIntArray());
            assertArrayEquals(new long[] {1L << 40, -3}, l.toLongArray());
            assertEquals(Device.CPU, f.device());
            assertTrue(f.isHost() && f.isContiguous());
        }
    }

    @Test
    void wrongArrayAccessorOrShapeIsRejected() {
        try (Tensor f = Tensor.fromArray(new float[] {1, 2})) {
            IllegalStateException e = assertThrows(IllegalStateException.class, f::toDoubleArray);
            assertTrue(e.getMessage().contains("FLOAT32"), e.getMessage());
        }
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Tensor.fromArray(new float[] {1, 2, 3}, 2, 2));
        assertTrue(e.getMessage().contains("argument 'shape'") && e.getMessage().contains("3"), e.getMessage());
    }

    @Test
    void shapesAreValidated() {
        IllegalArgumentException negative = assertThrows(IllegalArgumentException.class,
                () -> Tensor.allocateHost(DType.FLOAT32, 2, -1));
        assertTrue(negative.getMessage().contains("negative extent -1"), negative.getMessage());
        IllegalArgumentException rank = assertThrows(IllegalArgumentException.class,
                () -> Tensor.allocateHost(DType.FLOAT32, 1, 1, 1, 1, 1, 1, 1, 1, 1));
        assertTrue(rank.getMessage().contains("rank 9") && rank.getMessage().contains("SK_MAX_RANK"), rank.getMessage());
    }

    @Test
    void byteSizesThatOverflowAreRejectedBeforeAllocating() {
        IllegalArgumentException bytes = assertThrows(IllegalArgumentException.class,
                () -> Tensor.allocateHost(DType.FLOAT64, 1L << 61));
        assertTrue(bytes.getMessage().contains("more than 2^63 - 1 bytes"), bytes.getMessage());
        IllegalArgumentException elements = assertThrows(IllegalArgumentException.class,
                () -> Tensor.allocateHost(DType.INT32, 1L << 32, 1L << 32));
        assertTrue(elements.getMessage().contains("more than 2^63 - 1 elements"), elements.getMessage());
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment seg = arena.allocate(64, 8);
            IllegalArgumentException span = assertThrows(IllegalArgumentException.class,
                    () -> Tensor.wrap(seg, DType.FLOAT64, new long[] {2, 2}, new long[] {Long.MAX_VALUE / 2, 1}));
            assertTrue(span.getMessage().contains("spans more than"), span.getMessage());
        }
    }

    @Test
    void tooManyElementsForAJavaArrayIsAClearError() {
        try (Arena arena = Arena.ofConfined()) {
            // 2^31 elements, all the same float through stride 0: valid, but no float[] can hold them.
            Tensor huge = Tensor.wrap(arena.allocate(4, 4), DType.FLOAT32, new long[] {1L << 31}, new long[] {0});
            IllegalStateException e = assertThrows(IllegalStateException.class, huge::toFloatArray);
            assertTrue(e.getMessage().contains("more than a Java array holds"), e.getMessage());
            assertEquals(0.0, huge.getDouble((1L << 31) - 1));
        }
    }

    @Test
    void viewsShareMemoryWithTheirBase() {
        try (Tensor t = Tensor.fromArray(new double[] {0, 1, 2, 3, 4, 5}, 2, 3)) {
            Tensor tr = t.transpose();
            assertArrayEquals(new long[] {3, 2}, tr.shape());
            assertArrayEquals(new long[] {1, 3}, tr.strides());
            assertFalse(tr.isContiguous());
            assertArrayEquals(new double[] {0, 3, 1, 4, 2, 5}, tr.toDoubleArray());
            Tensor row = t.select(0, 1);
            assertArrayEquals(new double[] {3, 4, 5}, row.toDoubleArray());
            Tensor col = t.select(1, 2);
            assertArrayEquals(new double[] {2, 5}, col.toDoubleArray());
            Tensor slice = t.slice(1, 1, 2);
            assertArrayEquals(new double[] {1, 2, 4, 5}, slice.toDoubleArray());
            Tensor flat = t.reshape(6);
            flat.setDouble(42, 4);
            assertEquals(42, t.getDouble(1, 1), "a write through a view is seen by the base");
            assertEquals(42, tr.getDouble(1, 1));
        }
    }

    @Test
    void reshapeNeedsContiguousMemoryAndTheSameCount() {
        try (Tensor t = Tensor.allocateHost(DType.FLOAT32, 2, 3)) {
            IllegalStateException strided = assertThrows(IllegalStateException.class, () -> t.transpose().reshape(6));
            assertTrue(strided.getMessage().contains("contiguous"), strided.getMessage());
            IllegalArgumentException count = assertThrows(IllegalArgumentException.class, () -> t.reshape(4));
            assertTrue(count.getMessage().contains("argument 'newShape'"), count.getMessage());
            assertThrows(IndexOutOfBoundsException.class, () -> t.select(0, 2));
            assertThrows(IndexOutOfBoundsException.class, () -> t.slice(1, 2, 2));
            assertThrows(IndexOutOfBoundsException.class, () -> t.transpose(0, 2));
        }
    }

    @Test
    void copiesHandleStridesAndCheckShape() {
        try (Tensor t = Tensor.fromArray(new float[] {0, 1, 2, 3, 4, 5}, 2, 3);
             Tensor dst = Tensor.allocateHost(DType.FLOAT32, 3, 2);
             Tensor wrong = Tensor.allocateHost(DType.FLOAT32, 2, 3)) {
            t.transpose().copyTo(dst);
            assertArrayEquals(new float[] {0, 3, 1, 4, 2, 5}, dst.toFloatArray());
            try (Tensor host = t.transpose().toHost()) {
                assertTrue(host.isContiguous());
                assertArrayEquals(new float[] {0, 3, 1, 4, 2, 5}, host.toFloatArray());
            }
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> t.transpose().copyTo(wrong));
            assertTrue(e.getMessage().contains("argument 'dst'") && e.getMessage().contains("[3, 2]"), e.getMessage());
            try (Context cpu = Context.cpu(); Tensor copy = t.to(cpu)) {
                assertArrayEquals(t.toFloatArray(), copy.toFloatArray());
            }
        }
    }

    @Test
    void wrapIsZeroCopyAndValidatesTheSegment() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment seg = arena.allocate(6 * 8, 8);
            try (Tensor t = Tensor.wrap(seg, DType.FLOAT64, 2, 3)) {
                seg.setAtIndex(ValueLayout.JAVA_DOUBLE, 4, 9.5);
                assertEquals(9.5, t.getDouble(1, 1), "the tensor sees the caller's writes");
                t.setDouble(-1, 0, 2);
                assertEquals(-1, seg.getAtIndex(ValueLayout.JAVA_DOUBLE, 2), "the caller sees the tensor's writes");
            }
            assertEquals(9.5, seg.getAtIndex(ValueLayout.JAVA_DOUBLE, 4), "closing the tensor leaves the caller's memory");
            IllegalArgumentException small = assertThrows(IllegalArgumentException.class,
                    () -> Tensor.wrap(seg, DType.FLOAT64, 4, 2));
            assertTrue(small.getMessage().contains("needs 64 bytes") && small.getMessage().contains("has 48"), small.getMessage());
            IllegalArgumentException misaligned = assertThrows(IllegalArgumentException.class,
                    () -> Tensor.wrap(seg.asSlice(4), DType.FLOAT64, 2));
            assertTrue(misaligned.getMessage().contains("not aligned"), misaligned.getMessage());
            IllegalArgumentException readOnly = assertThrows(IllegalArgumentException.class,
                    () -> Tensor.wrap(seg.asReadOnly(), DType.FLOAT64, 2));
            assertTrue(readOnly.getMessage().contains("read-only"), readOnly.getMessage());
        }
        IllegalArgumentException heap = assertThrows(IllegalArgumentException.class,
                () -> Tensor.wrap(MemorySegment.ofArray(new double[4]), DType.FLOAT64, 4));
        assertTrue(heap.getMessage().contains("native memory") && heap.getMessage().contains("fromArray"), heap.getMessage());
    }

    @Test
    void wrappedSegmentWhoseArenaClosedIsAClearError() {
        Arena arena = Arena.ofShared();
        Tensor t = Tensor.wrap(arena.allocate(16, 8), DType.FLOAT64, 2);
        arena.close();
        IllegalStateException e = assertThrows(IllegalStateException.class, t::toDoubleArray);
        assertTrue(e.getMessage().contains("arena has been closed"), e.getMessage());
    }

    @Test
    void useAfterCloseIsAnIllegalStateExceptionBeforeAnyNativeCall() {
        Tensor t = Tensor.fromArray(new float[] {1, 2, 3, 4}, 2, 2);
        Tensor view = t.transpose();
        MemorySegment kept = t.segment();
        t.close();
        t.close(); // idempotent
        assertTrue(t.isClosed() && view.isClosed(), "closing the base closes its views");
        for (Runnable use : new Runnable[] {t::toFloatArray, () -> t.getDouble(0, 0), t::transpose, view::toFloatArray,
                t::segment, t::toHost}) {
            IllegalStateException e = assertThrows(IllegalStateException.class, use::run);
            assertTrue(e.getMessage().contains("closed"), e.getMessage());
        }
        assertThrows(IllegalStateException.class, () -> kept.get(ValueLayout.JAVA_FLOAT, 0),
                "a segment kept from a closed tensor cannot touch freed memory");
        try (Context context = Context.cpu(); Tensor other = Tensor.fromArray(new float[] {1, 2, 3, 4}, 2, 2)) {
            IllegalStateException e = assertThrows(IllegalStateException.class,
                    () -> SemiringMatmul.forward(context, Semiring.REAL, t, other, other));
            assertTrue(e.getMessage().contains("Tensor FLOAT32[2, 2] on cpu is closed"), e.getMessage());
        }
    }

    @Test
    void closingAViewLeavesTheBaseOpen() {
        try (Tensor t = Tensor.fromArray(new float[] {1, 2})) {
            Tensor view = t.reshape(1, 2);
            view.close();
            assertTrue(view.isClosed());
            assertFalse(t.isClosed());
            assertArrayEquals(new float[] {1, 2}, t.toFloatArray());
            assertThrows(IllegalStateException.class, view::toFloatArray);
        }
    }

    @Test
    void memoryFromTheContextIsFreedOnCloseOrWithTheContext() {
        Context context = Context.cpu();
        Tensor first = Tensor.allocateThroughContext(context, DType.FLOAT32, 4, 4);
        Tensor second = Tensor.allocateThroughContext(context, DType.FLOAT64, 3);
        first.setDouble(3, 1, 1);
        assertEquals(3, first.getDouble(1, 1));
        MemorySegment kept = second.segment();
        first.close();
        assertTrue(first.isClosed());
        assertFalse(second.isClosed());
        context.close();
        assertTrue(second.isClosed(), "closing the context frees what was allocated through it");
        assertThrows(IllegalStateException.class, second::toDoubleArray);
        assertThrows(IllegalStateException.class, () -> kept.get(ValueLayout.JAVA_DOUBLE, 0));
        second.close(); // nothing left to free
    }

    @Test
    void deviceMemoryWrappersNeedAContextToCopy() {
        try (Tensor d = Tensor.wrapDevice(Device.cuda(0), MemorySegment.ofAddress(256), DType.FLOAT32,
                new long[] {2}, new long[] {1});
             Tensor host = Tensor.allocateHost(DType.FLOAT32, 2);
             Context cpu = Context.cpu()) {
            assertFalse(d.isHost());
            assertThrows(IllegalStateException.class, d::segment);
            IllegalStateException noContext = assertThrows(IllegalStateException.class, () -> d.copyTo(host));
            assertTrue(noContext.getMessage().contains("copyTo(context, dst)"), noContext.getMessage());
            IllegalArgumentException wrongContext = assertThrows(IllegalArgumentException.class, () -> d.copyTo(cpu, host));
            assertTrue(wrongContext.getMessage().contains("argument 'context'"), wrongContext.getMessage());
        }
        assertThrows(IllegalArgumentException.class, () -> Tensor.wrapDevice(Device.CPU, MemorySegment.ofAddress(256),
                DType.FLOAT32, new long[] {1}, new long[] {1}));
    }
}
