package org.semiringkernels;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The .npy reader against files NumPy 2.4 wrote (src/test/resources/npy, script in its README):
 * both byte orders, C and Fortran order, header versions 1.0 and 2.0, scalars and empty arrays;
 * the writer against numpy.save's exact bytes; and every malformed-file error.
 */
class NpyTest {

    @TempDir
    Path dir;

    private Path fixture(String name) throws IOException {
        Path p = dir.resolve(name);
        try (InputStream in = NpyTest.class.getResourceAsStream("/npy/" + name)) {
            if (in == null) {
                throw new IOException("test resource /npy/" + name + " is missing");
            }
            Files.copy(in, p);
        }
        return p;
    }

    @Test
    void readsLittleEndianFloat32InCOrder() throws IOException {
        try (Tensor t = Npy.read(fixture("f32_2x3.npy"))) {
            assertEquals(DType.FLOAT32, t.dtype());
            assertArrayEquals(new long[] {2, 3}, t.shape());
            assertArrayEquals(new float[] {0f, 0.25f, 0.5f, 0.75f, 1f, 1.25f}, t.toFloatArray());
        }
    }

    @Test
    void swapsBigEndianData() throws IOException {
        try (Tensor t = Npy.read(fixture("f64_be_3x2.npy"))) {
            assertEquals(DType.FLOAT64, t.dtype());
            assertArrayEquals(new long[] {3, 2}, t.shape());
            assertArrayEquals(new double[] {-2.5, -1.5, -0.5, 0.5, 1.5, 2.5}, t.toDoubleArray());
        }
        try (Tensor t = Npy.read(fixture("f32_be_4.npy"))) {
            float[] v = t.toFloatArray();
            assertArrayEquals(new float[] {1.5f, -2.25f, 1e30f, -0.0f}, v);
            assertEquals(Float.floatToRawIntBits(-0.0f), Float.floatToRawIntBits(v[3]), "sign of -0.0 kept");
        }
        try (Tensor t = Npy.read(fixture("i64_be_3.npy"))) {
            assertEquals(DType.INT64, t.dtype());
            assertArrayEquals(new long[] {-(1L << 40), 7, 1L << 62}, t.toLongArray());
        }
    }

    @Test
    void readsIntegersScalarsAndEmptyArrays() throws IOException {
        try (Tensor t = Npy.read(fixture("i32_2x2x2.npy"))) {
            assertEquals(DType.INT32, t.dtype());
            assertArrayEquals(new long[] {2, 2, 2}, t.shape());
            assertArrayEquals(new int[] {-4, -3, -2, -1, 0, 1, 2, 3}, t.toIntArray());
            assertEquals(-2, t.getLong(0, 1, 0));
        }
        try (Tensor t = Npy.read(fixture("i64_scalar.npy"))) {
            assertEquals(0, t.rank());
            assertArrayEquals(new long[] {42}, t.toLongArray());
        }
        try (Tensor t = Npy.read(fixture("f32_empty_0x4.npy"))) {
            assertArrayEquals(new long[] {0, 4}, t.shape());
            assertEquals(0, t.elementCount());
        }
    }

    @Test
    void transposesFortranOrderIntoCOrder() throws IOException {
        // NumPy's a = arange(6).reshape(2, 3) stored column-major: a[i, j] = 3 i + j.
        Npy.Header h = Npy.readHeader(fixture("f64_fortran_2x3.npy"));
        assertTrue(h.fortranOrder());
        try (Tensor t = Npy.read(dir.resolve("f64_fortran_2x3.npy"))) {
            assertArrayEquals(new long[] {2, 3}, t.shape());
            assertArrayEquals(new double[] {0, 1, 2, 3, 4, 5}, t.toDoubleArray());
            assertEquals(5.0, t.getDouble(1, 2));
        }
    }

    @Test
    void readsVersionTwoHeaders() throws IOException {
        Npy.Header h = Npy.readHeader(fixture("f64_v2_2x2.npy"));
        assertEquals(2, h.majorVersion());
        try (Tensor t = Npy.read(dir.resolve("f64_v2_2x2.npy"))) {
            assertArrayEquals(new double[] {1, 2, 3, 4}, t.toDoubleArray());
        }
    }

    @Test
    void writesExactlyWhatNumpySaveWrites() throws IOException {
        for (String name : new String[] {"f32_2x3.npy", "i32_2x2x2.npy", "i64_scalar.npy", "f32_empty_0x4.npy"}) {
            Path original = fixture(name);
            Path copy = dir.resolve("copy-" + name);
            try (Tensor t = Npy.read(original)) {
                Npy.write(copy, t);
            }
            assertArrayEquals(Files.readAllBytes(original), Files.readAllBytes(copy), name);
        }
    }

    @Test
    void writesStridedViewsInRowMajorOrderAndRoundTrips() throws IOException {
        try (Tensor base = Tensor.fromArray(new double[] {1, 2, 3, 4, 5, 6}, 2, 3);
             Tensor transposed = base.transpose()) {
            Path p = dir.resolve("t.npy");
            Npy.write(p, transposed);
            try (Tensor back = Npy.read(p)) {
                assertArrayEquals(new long[] {3, 2}, back.shape());
                assertArrayEquals(new double[] {1, 4, 2, 5, 3, 6}, back.toDoubleArray());
            }
        }
        long[][] shapes = {{}, {1}, {7}, {2, 3, 4}, {1, 1, 1, 1, 1, 1, 1, 2}};
        for (DType dtype : DType.values()) {
            for (long[] shape : shapes) {
                try (Tensor t = Tensor.allocateHost(dtype, shape)) {
                    for (long i = 0; i < t.elementCount(); i++) {
                        t.reshape(t.elementCount()).setDouble(i * 3 - 5, i);
                    }
                    Path p = dir.resolve("rt.npy");
                    Npy.write(p, t);
                    try (Tensor back = Npy.read(p)) {
                        assertEquals(dtype, back.dtype());
                        assertArrayEquals(shape, back.shape());
                        assertArrayEquals(t.toDoubleArrayConverted(), back.toDoubleArrayConverted(),
                                dtype + " " + Arrays.toString(shape));
                    }
                }
            }
        }
    }

    @Test
    void headersArePaddedTo64BytesAndEndWithANewline() {
        byte[] h = Npy.headerBytes(DType.FLOAT64, new long[] {123456789, 3});
        assertEquals(0, h.length % 64);
        assertEquals('\n', h[h.length - 1]);
        assertEquals("(123456789, 3)", Npy.shapeText(new long[] {123456789, 3}));
        assertEquals("(5,)", Npy.shapeText(new long[] {5}));
        assertEquals("()", Npy.shapeText(new long[] {}));
    }

    @Test
    void rejectsUnsupportedDtypesNamingThem() throws IOException {
        IOException u8 = assertThrows(IOException.class, () -> Npy.read(fixture("u8_unsupported.npy")));
        assertTrue(u8.getMessage().contains("u8_unsupported.npy") && u8.getMessage().contains("'|u1'"), u8.getMessage());
        IOException f16 = assertThrows(IOException.class, () -> Npy.read(fixture("f16_unsupported.npy")));
        assertTrue(f16.getMessage().contains("'<f2'") && f16.getMessage().contains("supported: float32"), f16.getMessage());
    }

    @Test
    void rejectsMalformedFiles() throws IOException {
        Path notNpy = dir.resolve("not.npy");
        Files.writeString(notNpy, "hello, world");
        assertTrue(assertThrows(IOException.class, () -> Npy.read(notNpy)).getMessage().contains("not a .npy file"));

        byte[] good = Files.readAllBytes(fixture("f32_2x3.npy"));
        Path truncated = dir.resolve("truncated.npy");
        Files.write(truncated, Arrays.copyOf(good, good.length - 4));
        String m = assertThrows(IOException.class, () -> Npy.read(truncated)).getMessage();
        assertTrue(m.contains("announces 24 data bytes") && m.contains("has 20"), m);

        Path cutHeader = dir.resolve("cut.npy");
        Files.write(cutHeader, Arrays.copyOf(good, 30));
        assertTrue(assertThrows(IOException.class, () -> Npy.read(cutHeader)).getMessage().contains("ends inside the header"));

        byte[] badVersion = good.clone();
        badVersion[6] = 9;
        Path v9 = dir.resolve("v9.npy");
        Files.write(v9, badVersion);
        assertTrue(assertThrows(IOException.class, () -> Npy.read(v9)).getMessage().contains("version 9.0"));

        assertThrows(IOException.class, () -> Npy.parseHeader("{'descr': '<f4', 'shape': (2,), }", 1, "x"));
        String negative = assertThrows(IOException.class,
                () -> Npy.parseHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (2, -1), }", 1, "x")).getMessage();
        assertTrue(negative.contains("negative extent -1"), negative);
        String rank = assertThrows(IOException.class, () -> Npy.parseHeader(
                "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 1, 1, 1, 1, 1, 1, 1), }", 1, "x")).getMessage();
        assertTrue(rank.contains("rank 9 exceeds"), rank);
        String overflow = assertThrows(IOException.class, () -> Npy.parseHeader(
                "{'descr': '<f8', 'fortran_order': False, 'shape': (4294967296, 4294967296), }", 1, "x")).getMessage();
        assertTrue(overflow.contains("overflows"), overflow);
    }

    @Test
    void writeRejectsClosedTensors() {
        Tensor t = Tensor.fromArray(new float[] {1f}, 1);
        t.close();
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> Npy.write(dir.resolve("c.npy"), t));
        assertTrue(e.getMessage().contains("'tensor' is closed"), e.getMessage());
    }
}
