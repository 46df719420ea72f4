package org.semiringkernels;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * NumPy's {@code .npy} format: tensors to and from files, so that data moves between NumPy and
 * Java unchanged (the format is NumPy's {@code numpy.lib.format}, versions 1.0, 2.0 and 3.0).
 *
 * <p><b>Reading</b> accepts float32, float64, int32 and int64 arrays ({@code descr} {@code <f4},
 * {@code >f4}, {@code <f8}, {@code >f8}, {@code <i4}, {@code >i4}, {@code <i8}, {@code >i8}, and
 * {@code =} for native order), of rank 0 to {@value Tensor#MAX_RANK}, in C order or Fortran order.
 * The result is always a contiguous row-major host tensor in native byte order (big-endian data
 * is swapped; a Fortran-order array is transposed into C order, so {@code tensor.getDouble(i, j)}
 * is NumPy's {@code a[i, j]} either way). Any other dtype (bool, unsigned, float16, complex,
 * structured, object) is rejected with an {@link IOException} naming the file and the dtype, as
 * are a bad magic string, a malformed header and a file shorter than its header says.
 *
 * <p><b>Writing</b> produces exactly what {@code numpy.save} produces for the same array: version
 * 1.0 (2.0 when the header would exceed 65535 bytes), little-endian {@code descr}, C order, the
 * header padded with spaces to a multiple of 64 bytes and ended by a newline. Any tensor can be
 * written: device tensors are copied to the host and strided views are written in row-major
 * order.
 *
 * <pre>{@code
 * try (Tensor x = Npy.read(Path.of("emissions.npy"))) {   // e.g. np.save("emissions.npy", a)
 *     ...
 *     Npy.write(Path.of("posteriors.npy"), posteriors);     // np.load("posteriors.npy")
 * }
 * }</pre>
 */
public final class Npy {

    private static final byte[] MAGIC = {(byte) 0x93, 'N', 'U', 'M', 'P', 'Y'};
    private static final int ALIGNMENT = 64;
    private static final Pattern DESCR = Pattern.compile("'descr'\\s*:\\s*'([^']*)'");
    private static final Pattern FORTRAN = Pattern.compile("'fortran_order'\\s*:\\s*(True|False)");
    private static final Pattern SHAPE = Pattern.compile("'shape'\\s*:\\s*\\(([^)]*)\\)");

    private Npy() {
    }

    /** What a {@code .npy} header says: element type and byte order, layout and shape. */
    public record Header(int majorVersion, DType dtype, ByteOrder byteOrder, boolean fortranOrder, long[] shape) {
        public Header {
            shape = shape.clone();
        }

        @Override
        public long[] shape() {
            return shape.clone();
        }

        /** Number of elements. */
        public long elementCount() {
            long n = 1;
            for (long s : shape) {
                n = Math.multiplyExact(n, s);
            }
            return n;
        }
    }

    // ---- reading ---------------------------------------------------------------------------------

    /** Reads a {@code .npy} file into a new contiguous host tensor (the caller closes it). */
    public static Tensor read(Path path) throws IOException {
        Tensor.requireNonNull(path, "path");
        try (FileChannel channel = FileChannel.open(path, StandardOpenOption.READ)) {
            String name = path.toString();
            Header header = readHeader(channel, name);
            long bytes = Math.multiplyExact(header.elementCount(), header.dtype().byteSize());
            long available = channel.size() - channel.position();
            if (available < bytes) {
                throw new IOException(name + ": the header announces " + bytes + " data bytes (shape "
                        + shapeText(header.shape()) + " of " + header.dtype() + ") but the file has " + available);
            }
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment raw = arena.allocate(Math.max(bytes, 1), header.dtype().byteSize());
                readFully(channel, raw.asSlice(0, bytes), name);
                return toCOrderTensor(raw, header);
            }
        }
    }

    /** Reads only the header of a {@code .npy} file. */
    public static Header readHeader(Path path) throws IOException {
        Tensor.requireNonNull(path, "path");
        try (FileChannel channel = FileChannel.open(path, StandardOpenOption.READ)) {
            return readHeader(channel, path.toString());
        }
    }

    private static Header readHeader(FileChannel channel, String name) throws IOException {
        ByteBuffer preamble = ByteBuffer.allocate(8);
        readFully(channel, preamble, name, "the magic string and version");
        byte[] magic = new byte[6];
        preamble.flip().get(magic);
        if (!java.util.Arrays.equals(magic, MAGIC)) {
            throw new IOException(name + ": not a .npy file (it does not start with \\x93NUMPY)");
        }
        int major = Byte.toUnsignedInt(preamble.get());
        int minor = Byte.toUnsignedInt(preamble.get());
        if (major < 1 || major > 3 || minor != 0) {
            throw new IOException(name + ": unsupported .npy format version " + major + "." + minor
                    + " (1.0, 2.0 and 3.0 are supported)");
        }
        ByteBuffer lengthBytes = ByteBuffer.allocate(major == 1 ? 2 : 4).order(ByteOrder.LITTLE_ENDIAN);
        readFully(channel, lengthBytes, name, "the header length");
        lengthBytes.flip();
        long headerLength = major == 1 ? Short.toUnsignedInt(lengthBytes.getShort())
                : Integer.toUnsignedLong(lengthBytes.getInt());
        if (headerLength > (1 << 24)) {
            throw new IOException(name + ": implausible header length " + headerLength);
        }
        ByteBuffer headerBytes = ByteBuffer.allocate((int) headerLength);
        readFully(channel, headerBytes, name, "the header");
        String text = new String(headerBytes.array(), major == 3 ? StandardCharsets.UTF_8 : StandardCharsets.ISO_8859_1);
        return parseHeader(text, major, name);
    }

    static Header parseHeader(String text, int major, String name) throws IOException {
        String descr = group(DESCR, text, "descr", name);
        boolean fortran = group(FORTRAN, text, "fortran_order", name).equals("True");
        String shapeText = group(SHAPE, text, "shape", name);
        if (descr.length() < 2) {
            throw new IOException(name + ": unsupported dtype '" + descr + "'");
        }
        char order = descr.charAt(0);
        DType dtype = switch (descr.substring(1)) {
            case "f4" -> DType.FLOAT32;
            case "f8" -> DType.FLOAT64;
            case "i4" -> DType.INT32;
            case "i8" -> DType.INT64;
            default -> null;
        };
        if (dtype == null || (order != '<' && order != '>' && order != '=')) {
            throw new IOException(name + ": unsupported dtype '" + descr
                    + "' (supported: float32, float64, int32, int64 in either byte order)");
        }
        ByteOrder byteOrder = order == '<' ? ByteOrder.LITTLE_ENDIAN
                : order == '>' ? ByteOrder.BIG_ENDIAN : ByteOrder.nativeOrder();
        List<Long> dims = new ArrayList<>();
        for (String part : shapeText.split(",")) {
            String p = part.strip();
            if (p.isEmpty()) {
                continue;
            }
            if (p.endsWith("L")) {  // headers written by Python 2
                p = p.substring(0, p.length() - 1);
            }
            try {
                long d = Long.parseLong(p);
                if (d < 0) {
                    throw new IOException(name + ": negative extent " + d + " in shape (" + shapeText + ")");
                }
                dims.add(d);
            } catch (NumberFormatException e) {
                throw new IOException(name + ": malformed shape (" + shapeText + ")");
            }
        }
        if (dims.size() > Tensor.MAX_RANK) {
            throw new IOException(name + ": rank " + dims.size() + " exceeds the library's maximum " + Tensor.MAX_RANK);
        }
        long[] shape = dims.stream().mapToLong(Long::longValue).toArray();
        Header header = new Header(major, dtype, byteOrder, fortran, shape);
        try {
            Math.multiplyExact(header.elementCount(), dtype.byteSize());
        } catch (ArithmeticException e) {
            throw new IOException(name + ": shape " + shapeText(shape) + " overflows 64-bit byte counts");
        }
        return header;
    }

    private static String group(Pattern pattern, String text, String key, String name) throws IOException {
        Matcher m = pattern.matcher(text);
        if (!m.find()) {
            throw new IOException(name + ": malformed .npy header, no '" + key + "' entry: " + text.strip());
        }
        return m.group(1);
    }

    /** The raw file data (file byte order, C or Fortran order) as a C-order native tensor. */
    private static Tensor toCOrderTensor(MemorySegment raw, Header h) {
        if (h.byteOrder() != ByteOrder.nativeOrder()) {
            swapBytes(raw, h.dtype(), h.elementCount());
        }
        long[] shape = h.shape();
        Tensor out = Tensor.allocateHost(h.dtype(), shape);
        if (h.elementCount() == 0) {
            return out;
        }
        try {
            if (!h.fortranOrder() || shape.length < 2) {
                MemorySegment.copy(raw, 0, out.segment(), 0, h.elementCount() * h.dtype().byteSize());
            } else {
                // Fortran order: element (i0, ..., ik) at sum(i_d * prod_{e<d} shape[e]).
                long[] strides = new long[shape.length];
                long stride = 1;
                for (int d = 0; d < shape.length; d++) {
                    strides[d] = stride;
                    stride *= shape[d];
                }
                try (Tensor view = Tensor.wrap(raw, h.dtype(), shape, strides)) {
                    view.copyTo(out);
                }
            }
            return out;
        } catch (RuntimeException | Error e) {
            out.close();
            throw e;
        }
    }

    private static void swapBytes(MemorySegment seg, DType dtype, long count) {
        switch (dtype) {
            case FLOAT32, INT32 -> {
                for (long i = 0; i < count; i++) {
                    seg.setAtIndex(ValueLayout.JAVA_INT, i, Integer.reverseBytes(seg.getAtIndex(ValueLayout.JAVA_INT, i)));
                }
            }
            case FLOAT64, INT64 -> {
                for (long i = 0; i < count; i++) {
                    seg.setAtIndex(ValueLayout.JAVA_LONG, i, Long.reverseBytes(seg.getAtIndex(ValueLayout.JAVA_LONG, i)));
                }
            }
        }
    }

    // ---- writing ---------------------------------------------------------------------------------

    /**
     * Writes {@code tensor} (any device, any strides) as a {@code .npy} file that
     * {@code numpy.load} reads back with the same dtype, shape and values. Overwrites the file.
     */
    public static void write(Path path, Tensor tensor) throws IOException {
        Tensor.requireNonNull(path, "path");
        Tensor.requireNonNull(tensor, "tensor");
        if (tensor.isClosed()) {
            throw new IllegalStateException("argument 'tensor' is closed; Npy.write cannot read it");
        }
        byte[] header = headerBytes(tensor.dtype(), tensor.shape());
        try (Tensor host = contiguousHostCopy(tensor);
             FileChannel channel = FileChannel.open(path, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                     StandardOpenOption.TRUNCATE_EXISTING)) {
            writeFully(channel, ByteBuffer.wrap(header));
            long bytes = host.elementCount() * host.dtype().byteSize();
            if (bytes > 0) {
                MemorySegment data = host.segment().asSlice(0, bytes);
                if (ByteOrder.nativeOrder() != ByteOrder.LITTLE_ENDIAN) {
                    swapBytes(data, host.dtype(), host.elementCount());
                }
                long chunk = 1L << 30;  // ByteBuffers address at most 2^31 - 1 bytes
                for (long at = 0; at < bytes; at += chunk) {
                    writeFully(channel, data.asSlice(at, Math.min(chunk, bytes - at)).asByteBuffer());
                }
            }
        }
    }

    /** The complete header (magic, version, length, dictionary, padding) numpy.save writes. */
    static byte[] headerBytes(DType dtype, long[] shape) {
        String dict = "{'descr': '" + descr(dtype) + "', 'fortran_order': False, 'shape': " + shapeText(shape) + ", }";
        int version = 1;
        int prefix = MAGIC.length + 2 + 2;
        // +1 for the terminating newline; pad with spaces so that the data starts 64-aligned.
        int total = roundUp(prefix + dict.length() + 1, ALIGNMENT);
        if (total - prefix > 0xFFFF) {
            version = 2;
            prefix = MAGIC.length + 2 + 4;
            total = roundUp(prefix + dict.length() + 1, ALIGNMENT);
        }
        int headerLength = total - prefix;
        ByteBuffer out = ByteBuffer.allocate(total).order(ByteOrder.LITTLE_ENDIAN);
        out.put(MAGIC).put((byte) version).put((byte) 0);
        if (version == 1) {
            out.putShort((short) headerLength);
        } else {
            out.putInt(headerLength);
        }
        out.put(dict.getBytes(StandardCharsets.ISO_8859_1));
        while (out.position() < total - 1) {
            out.put((byte) ' ');
        }
        out.put((byte) '\n');
        return out.array();
    }

    private static String descr(DType dtype) {
        return switch (dtype) {
            case FLOAT32 -> "<f4";
            case FLOAT64 -> "<f8";
            case INT32 -> "<i4";
            case INT64 -> "<i8";
        };
    }

    /** Python's tuple syntax: (), (3,), (2, 3). */
    static String shapeText(long[] shape) {
        if (shape.length == 1) {
            return "(" + shape[0] + ",)";
        }
        StringBuilder b = new StringBuilder("(");
        for (int d = 0; d < shape.length; d++) {
            b.append(d == 0 ? "" : ", ").append(shape[d]);
        }
        return b.append(')').toString();
    }

    private static Tensor contiguousHostCopy(Tensor tensor) {
        Tensor host = Tensor.allocateHost(tensor.dtype(), tensor.shape());
        try {
            tensor.copyTo(host);
            return host;
        } catch (RuntimeException | Error e) {
            host.close();
            throw e;
        }
    }

    private static int roundUp(int n, int multiple) {
        return (n + multiple - 1) / multiple * multiple;
    }

    private static void readFully(FileChannel channel, ByteBuffer buffer, String name, String what) throws IOException {
        while (buffer.hasRemaining()) {
            if (channel.read(buffer) < 0) {
                throw new IOException(name + ": the file ends inside " + what);
            }
        }
    }

    private static void readFully(FileChannel channel, MemorySegment segment, String name) throws IOException {
        // ByteBuffers address at most 2^31 - 1 bytes: read large arrays in slices.
        long chunk = 1L << 30;
        for (long at = 0; at < segment.byteSize(); at += chunk) {
            long n = Math.min(chunk, segment.byteSize() - at);
            readFully(channel, segment.asSlice(at, n).asByteBuffer(), name, "the data");
        }
    }

    private static void writeFully(FileChannel channel, ByteBuffer buffer) throws IOException {
        while (buffer.hasRemaining()) {
            channel.write(buffer);
        }
    }
}
