package org.semiringkernels;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.concurrent.atomic.AtomicBoolean;

import org.semiringkernels.bindings.semiring_kernels_h;
import org.semiringkernels.bindings.sk_tensor;

/**
 * A strided view of memory on the host or a CUDA device: dtype, shape, and strides counted in
 * elements (not bytes), as the C header's {@code sk_tensor} describes it.
 *
 * <p><b>Memory.</b> {@link #allocate(Context, DType, long...)} takes memory on the context's device
 * (host memory from a shared Arena for a CPU context, {@code sk_malloc} for CUDA);
 * {@link #allocateHost(DType, long...)} and the {@code fromArray} factories take host memory;
 * {@link #wrap(MemorySegment, DType, long[], long[])} views a caller's native segment without
 * copying (the caller keeps ownership). Host memory this class allocates is zero-filled; device
 * memory is not.
 *
 * <p><b>Views.</b> {@link #transpose()}, {@link #select(int, long)}, {@link #slice(int, long, long)}
 * and {@link #reshape(long...)} share memory with their base tensor. Closing a view only closes
 * the view; closing the base frees the memory and every view of it becomes closed too.
 *
 * <p><b>Lifetime.</b> Tensors are AutoCloseable. Any use after close throws
 * {@link IllegalStateException} before a native call is made. A close racing with a running
 * native call is deferred until that call returns.
 *
 * <p>Shapes have at most {@value #MAX_RANK} dimensions ({@code SK_MAX_RANK}); extents are >= 0;
 * a tensor whose byte size does not fit in 63 bits is rejected.
 */
public final class Tensor implements AutoCloseable {

    /** The largest rank the C ABI carries (SK_MAX_RANK). */
    public static final int MAX_RANK = 8;

    private final Storage storage;
    private final boolean ownsStorage;
    private final DType dtype;
    private final long[] shape;
    private final long[] strides;
    private final long offset;
    private final AtomicBoolean viewClosed = new AtomicBoolean();

    private Tensor(Storage storage, boolean ownsStorage, DType dtype, long[] shape, long[] strides, long offset) {
        this.storage = storage;
        this.ownsStorage = ownsStorage;
        this.dtype = dtype;
        this.shape = shape;
        this.strides = strides;
        this.offset = offset;
    }

    // ---- factories ------------------------------------------------------------------------------

    /**
     * A contiguous tensor on the context's device: host memory (zero-filled) for a CPU context,
     * {@code sk_malloc} device memory (uninitialised) for a CUDA context, freed on close.
     */
    public static Tensor allocate(Context context, DType dtype, long... shape) {
        requireNonNull(context, "context");
        if (context.device().isCpu()) {
            if (context.isClosed()) {
                throw new IllegalStateException("Context on cpu is closed; Tensor.allocate cannot use it");
            }
            return allocateHost(dtype, shape);
        }
        return allocateThroughContext(context, dtype, shape);
    }

    /** A contiguous, zero-filled host tensor, freed on close. */
    public static Tensor allocateHost(DType dtype, long... shape) {
        requireNonNull(dtype, "dtype");
        long[] s = checkedShape(shape, "shape");
        long bytes = byteSize(dtype, s);
        return new Tensor(Storage.HostArena.allocate(bytes), true, dtype, s, contiguousStrides(s), 0);
    }

    /**
     * Memory from {@code sk_malloc} on the context (for CUDA: device memory; for a CPU context:
     * host memory the library allocated), freed with {@code sk_free} on close or when the context
     * closes. Not zero-filled.
     */
    static Tensor allocateThroughContext(Context context, DType dtype, long... shape) {
        requireNonNull(dtype, "dtype");
        long[] s = checkedShape(shape, "shape");
        long bytes = byteSize(dtype, s);
        return new Tensor(Storage.ContextBuffer.allocate(context, bytes), true, dtype, s, contiguousStrides(s), 0);
    }

    /** A zero-copy contiguous (row-major) view of a native host segment the caller owns. */
    public static Tensor wrap(MemorySegment segment, DType dtype, long... shape) {
        long[] s = checkedShape(shape, "shape");
        return wrap(segment, dtype, s, contiguousStrides(s));
    }

    /**
     * A zero-copy strided view of a native host segment the caller owns: element
     * (i0, ..., ik) is at byte {@code sum(i_d * strides[d]) * dtype.byteSize()} of the segment.
     * The segment must be native (not a heap array), writable, aligned to the element size and
     * large enough for the largest element offset. Closing the tensor does not free the segment.
     */
    public static Tensor wrap(MemorySegment segment, DType dtype, long[] shape, long[] strides) {
        requireNonNull(segment, "segment");
        requireNonNull(dtype, "dtype");
        long[] s = checkedShape(shape, "shape");
        long[] st = checkedStrides(strides, s);
        if (!segment.isNative()) {
            throw new IllegalArgumentException("argument 'segment': must be native memory; heap segments "
                    + "(MemorySegment.ofArray) cannot be passed to the library, use Tensor.fromArray to copy an array");
        }
        if (segment.isReadOnly()) {
            throw new IllegalArgumentException("argument 'segment': read-only segments are not supported");
        }
        if (segment.address() % dtype.byteSize() != 0) {
            throw new IllegalArgumentException("argument 'segment': address 0x" + Long.toHexString(segment.address())
                    + " is not aligned to the " + dtype + " element size " + dtype.byteSize());
        }
        long needed = spanBytes(dtype, s, st);
        if (needed > segment.byteSize()) {
            throw new IllegalArgumentException("argument 'segment': shape " + Arrays.toString(s) + " with strides "
                    + Arrays.toString(st) + " of " + dtype + " needs " + needed + " bytes, the segment has "
                    + segment.byteSize());
        }
        return new Tensor(new Storage.Wrapped(segment), true, dtype, s, st, 0);
    }

    /**
     * A zero-copy view of device memory the caller owns (for example a buffer from another CUDA
     * library), {@code pointer} being its address on {@code device}. Nothing is checked against
     * the driver here; the library checks that the pointer belongs to the device when an op uses
     * it. Closing the tensor does not free the memory. Copies need a context of that device:
     * {@link #copyTo(Context, Tensor)}.
     */
    public static Tensor wrapDevice(Device device, MemorySegment pointer, DType dtype, long[] shape, long[] strides) {
        requireNonNull(device, "device");
        requireNonNull(pointer, "pointer");
        requireNonNull(dtype, "dtype");
        if (!device.isCuda()) {
            throw new IllegalArgumentException("argument 'device': wrapDevice is for CUDA memory; wrap host memory with wrap(...)");
        }
        long[] s = checkedShape(shape, "shape");
        long[] st = checkedStrides(strides, s);
        if (pointer.address() % dtype.byteSize() != 0) {
            throw new IllegalArgumentException("argument 'pointer': address 0x" + Long.toHexString(pointer.address())
                    + " is not aligned to the " + dtype + " element size " + dtype.byteSize());
        }
        long bytes = spanBytes(dtype, s, st);
        return new Tensor(new Storage.Wrapped(device, pointer.address(), bytes), true, dtype, s, st, 0);
    }

    /** A host FLOAT32 tensor holding a copy of {@code data}; shape defaults to [data.length]. */
    public static Tensor fromArray(float[] data, long... shape) {
        Tensor t = allocateHost(DType.FLOAT32, shapeFor(data.length, shape));
        MemorySegment.copy(data, 0, t.storage.hostSegment(), ValueLayout.JAVA_FLOAT, 0, data.length);
        return t;
    }

    /** A host FLOAT64 tensor holding a copy of {@code data}; shape defaults to [data.length]. */
    public static Tensor fromArray(double[] data, long... shape) {
        Tensor t = allocateHost(DType.FLOAT64, shapeFor(data.length, shape));
        MemorySegment.copy(data, 0, t.storage.hostSegment(), ValueLayout.JAVA_DOUBLE, 0, data.length);
        return t;
    }

    /** A host INT32 tensor holding a copy of {@code data}; shape defaults to [data.length]. */
    public static Tensor fromArray(int[] data, long... shape) {
        Tensor t = allocateHost(DType.INT32, shapeFor(data.length, shape));
        MemorySegment.copy(data, 0, t.storage.hostSegment(), ValueLayout.JAVA_INT, 0, data.length);
        return t;
    }

    /** A host INT64 tensor holding a copy of {@code data}; shape defaults to [data.length]. */
    public static Tensor fromArray(long[] data, long... shape) {
        Tensor t = allocateHost(DType.INT64, shapeFor(data.length, shape));
        MemorySegment.copy(data, 0, t.storage.hostSegment(), ValueLayout.JAVA_LONG, 0, data.length);
        return t;
    }

    // ---- properties ------------------------------------------------------------------------------

    public DType dtype() {
        return dtype;
    }

    public Device device() {
        return storage.device();
    }

    public boolean isHost() {
        return storage.device().isCpu();
    }

    public int rank() {
        return shape.length;
    }

    /** A copy of the extents. */
    public long[] shape() {
        return shape.clone();
    }

    /** Extent of dimension {@code dim} (negative counts from the end). */
    public long shape(int dim) {
        return shape[normalizeDim(dim)];
    }

    /** A copy of the strides, in elements. */
    public long[] strides() {
        return strides.clone();
    }

    public long elementCount() {
        long n = 1;
        for (long e : shape) {
            n *= e;
        }
        return n;
    }

    /** True when the elements are dense in row-major order (dimensions of extent 1 ignored). */
    public boolean isContiguous() {
        long expected = 1;
        for (int d = shape.length - 1; d >= 0; d--) {
            if (shape[d] == 1) {
                continue;
            }
            if (shape[d] == 0) {
                return true;
            }
            if (strides[d] != expected) {
                return false;
            }
            expected *= shape[d];
        }
        return true;
    }

    public boolean isClosed() {
        return viewClosed.get() || storage.lifetime.isClosed();
    }

    /**
     * The host memory this tensor views, starting at its first element and covering its largest
     * offset. Host tensors only; the segment becomes inaccessible when the tensor's memory is freed.
     */
    public MemorySegment segment() {
        ensureOpen("segment()");
        if (!isHost()) {
            throw new IllegalStateException(describe() + " is device memory; copy it with toHost() to read it");
        }
        long bytes = elementCount() == 0 ? 0 : spanBytes(dtype, shape, strides);
        return storage.hostSegment().asSlice(offset * dtype.byteSize(), bytes);
    }

    // ---- views -----------------------------------------------------------------------------------

    /** Swaps the last two dimensions (a matrix transpose), sharing memory. */
    public Tensor transpose() {
        if (shape.length < 2) {
            throw new IllegalArgumentException("transpose() needs rank >= 2, " + describe() + " has rank " + shape.length);
        }
        return transpose(shape.length - 2, shape.length - 1);
    }

    /** Swaps dimensions {@code dim0} and {@code dim1} (negative counts from the end), sharing memory. */
    public Tensor transpose(int dim0, int dim1) {
        ensureOpen("transpose");
        int a = normalizeDim(dim0);
        int b = normalizeDim(dim1);
        long[] s = shape.clone();
        long[] st = strides.clone();
        s[a] = shape[b];
        s[b] = shape[a];
        st[a] = strides[b];
        st[b] = strides[a];
        return view(s, st, offset);
    }

    /** The sub-tensor at {@code index} along {@code dim}, which is removed (rank - 1), sharing memory. */
    public Tensor select(int dim, long index) {
        ensureOpen("select");
        int d = normalizeDim(dim);
        if (index < 0 || index >= shape[d]) {
            throw new IndexOutOfBoundsException("select: index " + index + " is outside [0, " + shape[d]
                    + ") of dimension " + d + " of " + describe());
        }
        long[] s = new long[shape.length - 1];
        long[] st = new long[shape.length - 1];
        for (int i = 0, j = 0; i < shape.length; i++) {
            if (i != d) {
                s[j] = shape[i];
                st[j++] = strides[i];
            }
        }
        return view(s, st, offset + index * strides[d]);
    }

    /** Elements {@code [start, start + length)} along {@code dim}, sharing memory. */
    public Tensor slice(int dim, long start, long length) {
        ensureOpen("slice");
        int d = normalizeDim(dim);
        if (start < 0 || length < 0 || start > shape[d] || length > shape[d] - start) {
            throw new IndexOutOfBoundsException("slice: [" + start + ", " + start + " + " + length
                    + ") is outside [0, " + shape[d] + ") of dimension " + d + " of " + describe());
        }
        long[] s = shape.clone();
        s[d] = length;
        return view(s, strides.clone(), offset + (length == 0 ? 0 : start * strides[d]));
    }

    /** The same elements in a new row-major shape, sharing memory; only for contiguous tensors. */
    public Tensor reshape(long... newShape) {
        ensureOpen("reshape");
        long[] s = checkedShape(newShape, "newShape");
        long count = 1;
        for (long e : s) {
            count *= e;
        }
        if (count != elementCount()) {
            throw new IllegalArgumentException("argument 'newShape': " + Arrays.toString(s) + " has " + count
                    + " elements, " + describe() + " has " + elementCount());
        }
        if (!isContiguous()) {
            throw new IllegalStateException("reshape needs a contiguous tensor; " + describe() + " has strides "
                    + Arrays.toString(strides) + " (copy it first, e.g. with toHost())");
        }
        return view(s, contiguousStrides(s), offset);
    }

    private Tensor view(long[] s, long[] st, long newOffset) {
        return new Tensor(storage, false, dtype, s, st, newOffset);
    }

    // ---- element access (host) -----------------------------------------------------------------

    /** Element at {@code index} of a host tensor, converted to double. */
    public double getDouble(long... index) {
        ensureOpen("getDouble");
        return readAsDouble(hostSegmentForAccess("getDouble"), byteOffsetOf(index));
    }

    /** Sets the element at {@code index} of a host tensor (converted to this dtype). */
    public void setDouble(double value, long... index) {
        ensureOpen("setDouble");
        writeFromDouble(hostSegmentForAccess("setDouble"), byteOffsetOf(index), value);
    }

    /** Element at {@code index} of a host integer tensor. */
    public long getLong(long... index) {
        ensureOpen("getLong");
        MemorySegment seg = hostSegmentForAccess("getLong");
        long at = byteOffsetOf(index);
        return switch (dtype) {
            case INT32 -> seg.get(ValueLayout.JAVA_INT, at);
            case INT64 -> seg.get(ValueLayout.JAVA_LONG, at);
            default -> throw new IllegalStateException("getLong reads INT32/INT64 tensors; " + describe()
                    + " is " + dtype + " (use getDouble)");
        };
    }

    /** All elements in row-major order; FLOAT32 tensors only (device tensors are copied first). */
    public float[] toFloatArray() {
        requireDtype(DType.FLOAT32, "toFloatArray");
        return withHostContiguous("toFloatArray", seg -> seg.toArray(ValueLayout.JAVA_FLOAT));
    }

    /** All elements in row-major order; FLOAT64 tensors only (device tensors are copied first). */
    public double[] toDoubleArray() {
        requireDtype(DType.FLOAT64, "toDoubleArray");
        return withHostContiguous("toDoubleArray", seg -> seg.toArray(ValueLayout.JAVA_DOUBLE));
    }

    /** All elements in row-major order; INT32 tensors only (device tensors are copied first). */
    public int[] toIntArray() {
        requireDtype(DType.INT32, "toIntArray");
        return withHostContiguous("toIntArray", seg -> seg.toArray(ValueLayout.JAVA_INT));
    }

    /** All elements in row-major order; INT64 tensors only (device tensors are copied first). */
    public long[] toLongArray() {
        requireDtype(DType.INT64, "toLongArray");
        return withHostContiguous("toLongArray", seg -> seg.toArray(ValueLayout.JAVA_LONG));
    }

    /** Any dtype, converted to double, row-major. */
    public double[] toDoubleArrayConverted() {
        ensureOpen("toDoubleArrayConverted");
        if (!isHost()) {
            try (Tensor host = toHost()) {
                return host.toDoubleArrayConverted();
            }
        }
        requireArraySized("toDoubleArrayConverted");
        double[] out = new double[(int) elementCount()];
        acquire("toDoubleArrayConverted");
        try {
            MemorySegment seg = storage.hostSegment();
            forEachIndex((i, byteOffset) -> out[(int) i] = readAsDouble(seg, byteOffset));
        } finally {
            release();
        }
        return out;
    }

    // ---- copies ----------------------------------------------------------------------------------

    /**
     * Copies this tensor's elements into {@code dst} (same dtype and shape; any devices). Host to
     * host handles any strides. A copy to or from a device runs on the device tensor's context and
     * needs the device side contiguous (a strided host side is staged through a contiguous buffer).
     */
    public void copyTo(Tensor dst) {
        requireNonNull(dst, "dst");
        checkCopy(dst);
        if (elementCount() == 0) {
            return;
        }
        if (isHost() && dst.isHost()) {
            copyHostToHost(dst);
        } else {
            DeviceCopies.copy(this, dst);
        }
    }

    /**
     * {@link #copyTo(Tensor)} running on {@code context} (which must be on the device side's
     * device), for device memory that has no context of its own ({@link #wrapDevice}).
     */
    public void copyTo(Context context, Tensor dst) {
        requireNonNull(context, "context");
        requireNonNull(dst, "dst");
        checkCopy(dst);
        if (elementCount() == 0) {
            return;
        }
        if (isHost() && dst.isHost()) {
            copyHostToHost(dst);
        } else {
            DeviceCopies.copy(context, this, dst);
        }
    }

    /** A new contiguous host tensor with a copy of the elements (the caller closes it). */
    public Tensor toHost() {
        ensureOpen("toHost");
        Tensor host = allocateHost(dtype, shape);
        try {
            copyTo(host);
            return host;
        } catch (RuntimeException e) {
            host.close();
            throw e;
        }
    }

    /** A new contiguous tensor on the context's device with a copy of the elements. */
    public Tensor to(Context context) {
        ensureOpen("to");
        Tensor copy = allocate(context, dtype, shape);
        try {
            copyTo(copy);
            return copy;
        } catch (RuntimeException e) {
            copy.close();
            throw e;
        }
    }

    private void checkCopy(Tensor dst) {
        ensureOpen("copyTo");
        dst.ensureOpen("copyTo");
        if (dst.dtype != dtype) {
            throw new IllegalArgumentException("argument 'dst': expected dtype " + dtype + " (the source's), got " + dst.dtype);
        }
        if (!Arrays.equals(dst.shape, shape)) {
            throw new IllegalArgumentException("argument 'dst': expected shape " + Arrays.toString(shape)
                    + " (the source's), got " + Arrays.toString(dst.shape));
        }
    }

    private void copyHostToHost(Tensor dst) {
        acquire("copyTo");
        try {
            dst.acquire("copyTo");
            try {
                MemorySegment from = storage.hostSegment();
                MemorySegment to = dst.storage.hostSegment();
                if (isContiguous() && dst.isContiguous()) {
                    MemorySegment.copy(from, offset * dtype.byteSize(), to, dst.offset * dtype.byteSize(),
                            elementCount() * dtype.byteSize());
                    return;
                }
                long[] index = new long[shape.length];
                int size = dtype.byteSize();
                for (long i = 0, n = elementCount(); i < n; i++) {
                    long src = offset;
                    long dstAt = dst.offset;
                    for (int d = 0; d < shape.length; d++) {
                        src += index[d] * strides[d];
                        dstAt += index[d] * dst.strides[d];
                    }
                    MemorySegment.copy(from, src * size, to, dstAt * size, size);
                    increment(index, shape);
                }
            } finally {
                dst.release();
            }
        } finally {
            release();
        }
    }

    // ---- close -----------------------------------------------------------------------------------

    /** Frees owned memory (the base tensor) or just closes this view. Idempotent. */
    @Override
    public void close() {
        if (ownsStorage) {
            storage.lifetime.close();
        } else {
            viewClosed.set(true);
        }
    }

    @Override
    public String toString() {
        return describe() + (isClosed() ? " (closed)" : "");
    }

    // ---- package-private: the native boundary --------------------------------------------------

    /** "Tensor FLOAT32[2, 3] on cpu". */
    String describe() {
        return "Tensor " + dtype + Arrays.toString(shape) + " on " + device();
    }

    void ensureOpen(String operation) {
        if (viewClosed.get()) {
            throw new IllegalStateException(describe() + " (a view) is closed; " + operation + " cannot use it");
        }
        if (storage.lifetime.isClosed()) {
            throw new IllegalStateException(describe() + " is closed; " + operation + " cannot use it");
        }
        storage.checkUsable(this::describe, operation);
    }

    /** Keeps the memory alive for the duration of a native call; pair with {@link #release()}. */
    void acquire(String operation) {
        ensureOpen(operation);
        storage.lifetime.acquire(this::describe, operation);
    }

    void release() {
        storage.lifetime.release();
    }

    /** Address of the first element (data pointer of the descriptor). */
    long dataAddress() {
        return storage.address() + offset * dtype.byteSize();
    }

    Storage storage() {
        return storage;
    }

    /** Fills an {@code sk_tensor} descriptor for this view. */
    void describeInto(MemorySegment descriptor) {
        sk_tensor.data(descriptor, MemorySegment.ofAddress(dataAddress()));
        sk_tensor.dtype(descriptor, dtype.code());
        sk_tensor.device_type(descriptor, device().type().code());
        sk_tensor.device_index(descriptor, device().index());
        sk_tensor.rank(descriptor, shape.length);
        for (int d = 0; d < MAX_RANK; d++) {
            sk_tensor.shape(descriptor, d, d < shape.length ? shape[d] : 0);
            sk_tensor.strides(descriptor, d, d < shape.length ? strides[d] : 0);
        }
    }

    /** A descriptor for this tensor in {@code arena}; NULL for a null tensor. */
    static MemorySegment descriptor(Tensor tensor, Arena arena) {
        if (tensor == null) {
            return MemorySegment.NULL;
        }
        MemorySegment descriptor = sk_tensor.allocate(arena);
        tensor.describeInto(descriptor);
        return descriptor;
    }

    // ---- helpers -----------------------------------------------------------------------------------

    private interface IndexVisitor {
        void visit(long linearIndex, long byteOffset);
    }

    private void forEachIndex(IndexVisitor visitor) {
        long[] index = new long[shape.length];
        int size = dtype.byteSize();
        for (long i = 0, n = elementCount(); i < n; i++) {
            long at = offset;
            for (int d = 0; d < shape.length; d++) {
                at += index[d] * strides[d];
            }
            visitor.visit(i, at * size);
            increment(index, shape);
        }
    }

    private static void increment(long[] index, long[] shape) {
        for (int d = shape.length - 1; d >= 0; d--) {
            if (++index[d] < shape[d]) {
                return;
            }
            index[d] = 0;
        }
    }

    private <T> T withHostContiguous(String operation, java.util.function.Function<MemorySegment, T> read) {
        ensureOpen(operation);
        requireArraySized(operation);
        if (!isHost() || !isContiguous()) {
            try (Tensor copy = toHost()) {
                return copy.withHostContiguous(operation, read);
            }
        }
        acquire(operation);
        try {
            return read.apply(storage.hostSegment().asSlice(offset * dtype.byteSize(), elementCount() * dtype.byteSize()));
        } finally {
            release();
        }
    }

    private void requireArraySized(String operation) {
        if (elementCount() > Integer.MAX_VALUE - 8) {
            throw new IllegalStateException(operation + ": " + describe() + " has " + elementCount()
                    + " elements, more than a Java array holds; read it through segment() instead");
        }
    }

    private MemorySegment hostSegmentForAccess(String operation) {
        if (!isHost()) {
            throw new IllegalStateException(operation + ": " + describe() + " is device memory; copy it with toHost()");
        }
        return storage.hostSegment();
    }

    private long byteOffsetOf(long[] index) {
        if (index.length != shape.length) {
            throw new IllegalArgumentException("index " + Arrays.toString(index) + " has " + index.length
                    + " coordinates, " + describe() + " has rank " + shape.length);
        }
        long at = offset;
        for (int d = 0; d < shape.length; d++) {
            if (index[d] < 0 || index[d] >= shape[d]) {
                throw new IndexOutOfBoundsException("index " + Arrays.toString(index) + " is outside "
                        + describe() + " in dimension " + d);
            }
            at += index[d] * strides[d];
        }
        return at * dtype.byteSize();
    }

    private double readAsDouble(MemorySegment seg, long at) {
        return switch (dtype) {
            case FLOAT32 -> seg.get(ValueLayout.JAVA_FLOAT, at);
            case FLOAT64 -> seg.get(ValueLayout.JAVA_DOUBLE, at);
            case INT32 -> seg.get(ValueLayout.JAVA_INT, at);
            case INT64 -> seg.get(ValueLayout.JAVA_LONG, at);
        };
    }

    private void writeFromDouble(MemorySegment seg, long at, double value) {
        switch (dtype) {
            case FLOAT32 -> seg.set(ValueLayout.JAVA_FLOAT, at, (float) value);
            case FLOAT64 -> seg.set(ValueLayout.JAVA_DOUBLE, at, value);
            case INT32 -> seg.set(ValueLayout.JAVA_INT, at, (int) value);
            case INT64 -> seg.set(ValueLayout.JAVA_LONG, at, (long) value);
        }
    }

    private void requireDtype(DType expected, String operation) {
        if (dtype != expected) {
            throw new IllegalStateException(operation + " reads " + expected + " tensors; " + describe() + " is " + dtype);
        }
    }

    private int normalizeDim(int dim) {
        int d = dim < 0 ? dim + shape.length : dim;
        if (d < 0 || d >= shape.length) {
            throw new IndexOutOfBoundsException("dimension " + dim + " is outside a rank-" + shape.length + " tensor");
        }
        return d;
    }

    static void requireNonNull(Object value, String argument) {
        if (value == null) {
            throw new NullPointerException("argument '" + argument + "' is null");
        }
    }

    private static long[] shapeFor(int length, long[] shape) {
        if (shape == null || shape.length == 0) {
            return new long[] {length};
        }
        long[] s = checkedShape(shape, "shape");
        long count = 1;
        for (long e : s) {
            count *= e;
        }
        if (count != length) {
            throw new IllegalArgumentException("argument 'shape': " + Arrays.toString(s) + " has " + count
                    + " elements but the array has " + length);
        }
        return s;
    }

    /** Validates rank and extents; the element count must fit in a long. */
    static long[] checkedShape(long[] shape, String argument) {
        requireNonNull(shape, argument);
        if (shape.length > MAX_RANK) {
            throw new IllegalArgumentException("argument '" + argument + "': rank " + shape.length
                    + " exceeds the maximum " + MAX_RANK + " (SK_MAX_RANK)");
        }
        long count = 1;
        for (int d = 0; d < shape.length; d++) {
            if (shape[d] < 0) {
                throw new IllegalArgumentException("argument '" + argument + "': negative extent " + shape[d]
                        + " in dimension " + d + " of " + Arrays.toString(shape));
            }
            try {
                count = Math.multiplyExact(count, shape[d]);
            } catch (ArithmeticException e) {
                throw new IllegalArgumentException("argument '" + argument + "': " + Arrays.toString(shape)
                        + " has more than 2^63 - 1 elements");
            }
        }
        return shape.clone();
    }

    private static long[] checkedStrides(long[] strides, long[] shape) {
        requireNonNull(strides, "strides");
        if (strides.length != shape.length) {
            throw new IllegalArgumentException("argument 'strides': " + strides.length + " strides for a rank-"
                    + shape.length + " shape " + Arrays.toString(shape));
        }
        for (int d = 0; d < strides.length; d++) {
            if (strides[d] < 0) {
                throw new IllegalArgumentException("argument 'strides': negative stride " + strides[d]
                        + " in dimension " + d);
            }
        }
        return strides.clone();
    }

    /** Bytes of a contiguous tensor; rejects sizes that overflow 63 bits. */
    static long byteSize(DType dtype, long[] shape) {
        long count = 1;
        for (long e : shape) {
            count *= e; // cannot overflow: checkedShape verified the product
        }
        try {
            return Math.multiplyExact(count, (long) dtype.byteSize());
        } catch (ArithmeticException e) {
            throw new IllegalArgumentException("argument 'shape': " + Arrays.toString(shape) + " of " + dtype
                    + " needs more than 2^63 - 1 bytes");
        }
    }

    /** Bytes from the first element to the end of the last (0 for an empty tensor). */
    private static long spanBytes(DType dtype, long[] shape, long[] strides) {
        long last = 0;
        for (int d = 0; d < shape.length; d++) {
            if (shape[d] == 0) {
                return 0;
            }
            try {
                last = Math.addExact(last, Math.multiplyExact(shape[d] - 1, strides[d]));
            } catch (ArithmeticException e) {
                throw new IllegalArgumentException("shape " + Arrays.toString(shape) + " with strides "
                        + Arrays.toString(strides) + " spans more than 2^63 - 1 elements");
            }
        }
        try {
            return Math.multiplyExact(last + 1, (long) dtype.byteSize());
        } catch (ArithmeticException e) {
            throw new IllegalArgumentException("shape " + Arrays.toString(shape) + " with strides "
                    + Arrays.toString(strides) + " spans more than 2^63 - 1 bytes");
        }
    }

    static long[] contiguousStrides(long[] shape) {
        long[] strides = new long[shape.length];
        long step = 1;
        for (int d = shape.length - 1; d >= 0; d--) {
            strides[d] = step;
            step *= Math.max(shape[d], 1);
        }
        return strides;
    }
}
