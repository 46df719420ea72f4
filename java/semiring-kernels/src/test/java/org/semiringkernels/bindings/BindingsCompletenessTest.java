package org.semiringkernels.bindings;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodType;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.junit.jupiter.api.Test;
import org.semiringkernels.testing.NativeTools;
import org.semiringkernels.loader.NativeLibrary;

/**
 * The bindings against the header and the library: every SK_API prototype has a binding with the
 * same parameter and return types, nothing else is bound, every binding resolves its symbol, and
 * the library exports exactly the bound sk_ symbols.
 */
class BindingsCompletenessTest {

    /** One SK_API prototype: name, C return type, C parameter types. */
    record Prototype(String name, String returnType, List<String> parameterTypes) {
    }

    static Map<String, Prototype> headerPrototypes() throws IOException {
        String text = Files.readString(NativeTools.requiredPath("semiringkernels.test.header", "the C header"));
        text = text.replaceAll("(?s)/\\*.*?\\*/", " ").replaceAll("//[^\\n]*", " ");
        Matcher m = Pattern.compile("(?s)SK_API\\s+([^;(]*?)\\b(sk_\\w+)\\s*\\(([^)]*)\\)\\s*;").matcher(text);
        Map<String, Prototype> prototypes = new TreeMap<>();
        while (m.find()) {
            List<String> parameters = new ArrayList<>();
            String list = m.group(3).replaceAll("\\s+", " ").trim();
            if (!list.equals("void")) {
                assertFalse(list.isEmpty(), m.group(2) + "() must be written (void) (JAVA-NATIVE.md convention 1)");
                for (String p : list.split(",")) {
                    parameters.add(p.trim().replaceAll("\\w+$", "").trim());
                }
            }
            prototypes.put(m.group(2), new Prototype(m.group(2), m.group(1).replaceAll("\\s+", " ").trim(), parameters));
        }
        assertTrue(prototypes.size() >= 20, "parsed only " + prototypes.keySet() + " from the header");
        return prototypes;
    }

    /** What jextract makes of a C type: pointers are MemorySegment, int32_t/enums int, int64_t long. */
    static Class<?> javaType(String cType) {
        if (cType.endsWith("*")) {
            return MemorySegment.class;
        }
        return switch (cType.replace("const ", "")) {
            case "int32_t", "sk_status" -> int.class;
            case "int64_t" -> long.class;
            default -> throw new AssertionError("no Java mapping known for the C type '" + cType
                    + "': extend this test together with the bindings");
        };
    }

    /** Names of the bound functions (each has a name$handle accessor). */
    static TreeSet<String> boundFunctions() {
        TreeSet<String> names = new TreeSet<>();
        for (Method method : semiring_kernels_h.class.getMethods()) {
            if (Modifier.isStatic(method.getModifiers()) && method.getName().endsWith("$handle")) {
                names.add(method.getName().substring(0, method.getName().length() - "$handle".length()));
            }
        }
        return names;
    }

    @Test
    void everyHeaderFunctionIsBoundWithItsSignature() throws Exception {
        for (Prototype p : headerPrototypes().values()) {
            Method handleAccessor = semiring_kernels_h.class.getMethod(p.name() + "$handle");
            MethodType type = ((MethodHandle) handleAccessor.invoke(null)).type();
            Class<?>[] expected = p.parameterTypes().stream().map(BindingsCompletenessTest::javaType).toArray(Class<?>[]::new);
            assertEquals(MethodType.methodType(javaType(p.returnType()), expected), type, p.name() + " handle type");
            Method wrapper = semiring_kernels_h.class.getMethod(p.name(), expected);
            assertEquals(javaType(p.returnType()), wrapper.getReturnType(), p.name() + " wrapper return type");
            assertEquals(p.parameterTypes().size(),
                    ((java.lang.foreign.FunctionDescriptor) semiring_kernels_h.class.getMethod(p.name() + "$descriptor")
                            .invoke(null)).argumentLayouts().size(), p.name() + " descriptor arity");
        }
    }

    @Test
    void nothingButTheHeaderIsBound() throws Exception {
        assertEquals(new TreeSet<>(headerPrototypes().keySet()), boundFunctions());
    }

    @Test
    void everyBindingResolvesItsSymbolInTheLoadedLibrary() throws Exception {
        for (String name : boundFunctions()) {
            MemorySegment address = (MemorySegment) semiring_kernels_h.class.getMethod(name + "$address").invoke(null);
            assertNotEquals(MemorySegment.NULL, address, name);
        }
    }

    @Test
    void theLibraryExportsExactlyTheBoundSymbols() {
        String path = NativeLibrary.load().path().toString();
        TreeSet<String> exported = new TreeSet<>();
        for (String line : NativeTools.run(List.of("nm", "-D", "--defined-only", path)).split("\n")) {
            String[] fields = line.trim().split("\\s+");
            String symbol = fields[fields.length - 1];
            if (symbol.startsWith("sk_")) {
                exported.add(symbol);
            }
        }
        assertEquals(boundFunctions(), exported, "sk_ symbols exported by " + path);
    }

    @Test
    void symbolLookupIsTheLoadersAndWrappersRethrowUncheckedExceptions() {
        assertSame(NativeLibrary.load().lookup(), semiring_kernels_h.SYMBOL_LOOKUP);
        // A heap segment cannot cross the boundary: the linker's IllegalArgumentException comes
        // through unchanged (jextract 22 wrapped it in an AssertionError).
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> semiring_kernels_h.sk_cuda_device_count(MemorySegment.ofArray(new int[1])));
        assertTrue(e.getMessage() != null && !e.getMessage().isEmpty());
        assertEquals("SK_ERROR_SHAPE", semiring_kernels_h.sk_status_name(semiring_kernels_h.SK_ERROR_SHAPE())
                .reinterpret(64).getString(0));
        assertEquals(Arrays.asList(8L), Arrays.stream(sk_tensor.shape$dimensions()).boxed().toList());
    }
}
