package org.semiringkernels.bindings;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;

import org.junit.jupiter.api.Test;
import org.semiringkernels.testing.NativeTools;

/**
 * The struct classes and constants against the C compiler: the native build's sk_abi_layout
 * prints sizeof/offsetof of every struct field and the value of every enum and macro constant;
 * each must match the bindings, and every binding field and constant must appear there.
 */
class StructLayoutTest {

    static final List<Class<?>> STRUCTS = List.of(sk_tensor.class, sk_device_info.class, sk_matmul_options.class,
            sk_ctc_options.class, sk_hmm_options.class, sk_semicrf_options.class, sk_einsum_options.class,
            sk_semiconv_options.class);

    @Test
    void bindingsMatchTheCompilersLayout() throws Exception {
        Path build = NativeTools.requiredPath("semiringkernels.test.nativeBuildDir", "the CMake build directory");
        Path printer = build.resolve("native/tests/sk_abi_layout");
        assertTrue(printer.toFile().canExecute(), printer + " is missing: the native build makes it (native/tests)");
        String output = NativeTools.run(List.of(printer.toString()));

        Set<String> checkedFields = new TreeSet<>();
        Set<String> checkedConstants = new TreeSet<>();
        int lines = 0;
        for (String line : output.strip().split("\n")) {
            String[] f = line.trim().split(" ");
            assertEquals(3, f.length, "unexpected line from sk_abi_layout: " + line);
            long value = Long.parseLong(f[2]);
            switch (f[0]) {
                case "sizeof" -> assertEquals(value, (long) struct(f[1]).getMethod("sizeof").invoke(null), line);
                case "offsetof" -> {
                    String[] sf = f[1].split("\\.");
                    assertEquals(value, (long) struct(sf[0]).getMethod(sf[1] + "$offset").invoke(null), line);
                    checkedFields.add(f[1]);
                }
                case "enum", "define" -> {
                    assertEquals(value, ((Number) semiring_kernels_h.class.getMethod(f[1]).invoke(null)).longValue(), line);
                    checkedConstants.add(f[1]);
                }
                default -> fail("unexpected line from sk_abi_layout: " + line);
            }
            lines++;
        }
        assertTrue(lines > 40, "sk_abi_layout printed only " + lines + " lines");
        assertEquals(bindingFields(), checkedFields, "struct fields in the bindings vs. those the layout printer knows");
        assertEquals(bindingConstants(), checkedConstants, "constants in the bindings vs. those the layout printer knows");
        assertEquals(semiring_kernels_h.SK_MAX_RANK(), sk_tensor.shape$dimensions()[0]);
        assertEquals(semiring_kernels_h.SK_MAX_RANK(), sk_tensor.strides$dimensions()[0]);
        assertEquals(semiring_kernels_h.SK_DEVICE_NAME_CAPACITY(), sk_device_info.name$dimensions()[0]);
    }

    @Test
    void structAccessorsReadAndWriteTheirOwnBytes() {
        try (var arena = java.lang.foreign.Arena.ofConfined()) {
            var t = sk_tensor.allocate(arena);
            sk_tensor.rank(t, 3);
            for (int d = 0; d < 8; d++) {
                sk_tensor.shape(t, d, 100 + d);
                sk_tensor.strides(t, d, 200 + d);
            }
            assertEquals(3, sk_tensor.rank(t));
            for (int d = 0; d < 8; d++) {
                assertEquals(100 + d, sk_tensor.shape(t, d));
                assertEquals(200 + d, sk_tensor.strides(t, d));
                assertEquals(100 + d, t.get(java.lang.foreign.ValueLayout.JAVA_LONG, sk_tensor.shape$offset() + 8L * d));
            }
            var array = sk_matmul_options.allocateArray(2, arena);
            sk_matmul_options.semiring(sk_matmul_options.asSlice(array, 1), 4);
            assertEquals(4, array.get(java.lang.foreign.ValueLayout.JAVA_INT, sk_matmul_options.sizeof() + 8));
        }
    }

    private static Class<?> struct(String name) throws ClassNotFoundException {
        return Class.forName(StructLayoutTest.class.getPackageName() + "." + name);
    }

    private static Set<String> bindingFields() {
        Set<String> fields = new TreeSet<>();
        for (Class<?> struct : STRUCTS) {
            for (Method m : struct.getMethods()) {
                if (m.getName().endsWith("$offset")) {
                    fields.add(struct.getSimpleName() + "." + m.getName().replace("$offset", ""));
                }
            }
        }
        return fields;
    }

    private static Set<String> bindingConstants() {
        Set<String> constants = new TreeSet<>();
        for (Method m : semiring_kernels_h.class.getMethods()) {
            if (Modifier.isStatic(m.getModifiers()) && m.getParameterCount() == 0 && m.getName().startsWith("SK_")
                    && m.getReturnType() == int.class) {
                constants.add(m.getName());
            }
        }
        return constants;
    }
}
