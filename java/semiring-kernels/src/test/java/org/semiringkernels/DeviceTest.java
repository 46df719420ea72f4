package org.semiringkernels;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;

import org.junit.jupiter.api.Test;
import org.semiringkernels.loader.NativeLibrary;

/** Device values, capability queries and the backend property (these hold with or without CUDA). */
class DeviceTest {

    @Test
    void deviceValues() {
        assertEquals("cpu", Device.CPU.toString());
        assertEquals("cuda:1", Device.cuda(1).toString());
        assertEquals(Device.cuda(1), Device.cuda(1));
        assertTrue(Device.CPU.isCpu() && Device.cuda(0).isCuda());
        IllegalArgumentException cpuIndex = assertThrows(IllegalArgumentException.class, () -> new Device(Device.Type.CPU, 1));
        assertTrue(cpuIndex.getMessage().contains("argument 'index'"), cpuIndex.getMessage());
        assertThrows(IllegalArgumentException.class, () -> Device.cuda(-1));
    }

    @Test
    void availabilityAndCauseAgree() {
        String cause = Device.unavailabilityCause();
        assertEquals(Device.cudaAvailable(), cause.isEmpty());
        if (!Device.cudaCompiled()) {
            assertTrue(!Device.cudaAvailable() && !cause.isEmpty(), "without CUDA compiled in there is a cause: " + cause);
            assertEquals(0, Device.cudaDeviceCount());
        }
        List<Device> visible = Device.visibleDevices();
        assertEquals(Device.CPU, visible.get(0));
        assertEquals(1 + Device.cudaDeviceCount(), visible.size());
        assertEquals(Device.cudaAvailable() ? Device.cuda(0) : Device.CPU, Device.best());
    }

    @Test
    void infoOfAMissingDeviceIsAClearError() {
        SemiringKernelsException e = assertThrows(SemiringKernelsException.class, () -> Device.cudaDeviceInfo(999));
        assertTrue(e.nativeMessage().startsWith("sk_cuda_device_info"), e.nativeMessage());
        assertThrows(IllegalStateException.class, Device.CPU::info);
    }

    @Test
    void backendPropertyChoosesTheDevice() {
        String saved = System.getProperty(NativeLibrary.BACKEND_PROPERTY);
        try {
            System.setProperty(NativeLibrary.BACKEND_PROPERTY, "cpu");
            assertEquals(Backend.CPU, Backend.configured());
            assertEquals(Device.CPU, Device.best());
            assertTrue(!Device.cudaAvailable() && Device.unavailabilityCause().contains("semiringkernels.backend=cpu"));
            assertEquals(List.of(Device.CPU), Device.visibleDevices());

            System.setProperty(NativeLibrary.BACKEND_PROPERTY, "cuda");
            assertEquals(Backend.CUDA, Backend.configured());
            if (Device.cudaAvailable()) {
                assertEquals(Device.cuda(0), Device.best());
            } else {
                IllegalStateException e = assertThrows(IllegalStateException.class, Device::best);
                assertTrue(e.getMessage().contains("semiringkernels.backend=cuda") && e.getMessage().contains("unavailable"),
                        e.getMessage());
            }

            System.setProperty(NativeLibrary.BACKEND_PROPERTY, "tpu");
            IllegalArgumentException bad = assertThrows(IllegalArgumentException.class, Backend::configured);
            assertTrue(bad.getMessage().contains("tpu") && bad.getMessage().contains("auto, cpu, cuda"), bad.getMessage());
        } finally {
            if (saved == null) {
                System.clearProperty(NativeLibrary.BACKEND_PROPERTY);
            } else {
                System.setProperty(NativeLibrary.BACKEND_PROPERTY, saved);
            }
        }
    }

    @Test
    void loadedLibraryDescribesItself() {
        var library = SemiringKernels.nativeLibrary();
        assertEquals(1, library.abiVersion());
        assertEquals(Device.cudaCompiled(), library.cudaCompiled());
        assertTrue(library.extracted(), "the test JVM uses the library bundled in the classes folder");
        assertEquals(library.bundleProperty("library.sha256").orElseThrow().length(), 64);
        assertTrue(SemiringKernels.version().startsWith("0."), SemiringKernels.version());
    }
}
