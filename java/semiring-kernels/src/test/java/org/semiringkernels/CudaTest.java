package org.semiringkernels;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.util.Random;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * CUDA against the CPU. Skipped by assumption where no device answers, unless
 * -Dsemiringkernels.test.requireCuda=true, which turns the skip into a failure (a GPU machine
 * must not silently fall back to the CPU).
 */
@Tag("cuda")
class CudaTest {

    @BeforeEach
    void requireDevice() {
        String cause = Device.unavailabilityCause();
        if (Boolean.getBoolean("semiringkernels.test.requireCuda") && !cause.isEmpty()) {
            fail("semiringkernels.test.requireCuda=true but CUDA is unavailable: " + cause);
        }
        assumeTrue(cause.isEmpty(), "CUDA unavailable: " + cause);
    }

    @Test
    void deviceInfoIsPlausible() {
        DeviceInfo info = Device.cuda(0).info();
        assertFalse(info.name().isBlank());
        assertTrue(info.totalMemoryBytes() > 0);
        assertTrue(info.computeCapabilityMajor() >= 5, info.computeCapability());
        assertTrue(info.multiprocessorCount() > 0);
    }

    @Test
    void tensorsRoundTripThroughTheDevice() {
        try (Context cuda = Context.create(Device.cuda(0));
             Tensor host = Tensor.fromArray(new float[] {1, 2, 3, 4, 5, 6}, 2, 3);
             Tensor device = host.to(cuda)) {
            assertEquals(Device.cuda(0), device.device());
            assertFalse(device.isHost());
            assertThrows(IllegalStateException.class, device::segment);
            assertArrayEquals(host.toFloatArray(), device.toFloatArray());
            try (Tensor back = device.transpose().toHost()) {
                fail("a strided device copy should be refused, got " + back);
            } catch (IllegalArgumentException expected) {
                assertTrue(expected.getMessage().contains("contiguous"), expected.getMessage());
            }
            try (Tensor strided = Tensor.allocate(cuda, DType.FLOAT32, 3, 2)) {
                host.transpose().copyTo(strided); // a strided host side is staged
                try (Tensor back = strided.toHost()) {
                    assertArrayEquals(new float[] {1, 4, 2, 5, 3, 6}, back.toFloatArray());
                }
            }
        }
    }

    @ParameterizedTest
    @EnumSource(value = Semiring.class, names = {"LOG", "MAX", "REAL", "MIN"})
    void forwardAndBackwardAgreeWithTheCpu(Semiring semiring) {
        Random rng = new Random(semiring.ordinal());
        double[] av = new double[4 * 33 * 65], bv = new double[65 * 17], gv = new double[4 * 33 * 17];
        for (double[] arr : new double[][] {av, bv, gv}) {
            for (int i = 0; i < arr.length; i++) {
                arr[i] = semiring.hasArgmax() ? Math.floor(rng.nextDouble() * 8 - 4) : rng.nextGaussian();
            }
        }
        try (Context cpu = Context.cpu(); Context cuda = Context.create(Device.cuda(0));
             Tensor a = Tensor.fromArray(av, 4, 33, 65); Tensor b = Tensor.fromArray(bv, 65, 17);
             Tensor g = Tensor.fromArray(gv, 4, 33, 17);
             Tensor da = a.to(cuda); Tensor db = b.to(cuda); Tensor dg = g.to(cuda);
             SemiringMatmul.Result hostResult = SemiringMatmul.forward(cpu, semiring, a, b);
             SemiringMatmul.Result deviceResult = SemiringMatmul.forward(cuda, semiring, da, db);
             SemiringMatmul.Gradients hostGrads = SemiringMatmul.backward(cpu, semiring, a, b, hostResult.c(), hostResult.argmax(), g);
             SemiringMatmul.Gradients deviceGrads = SemiringMatmul.backward(cuda, semiring, da, db, deviceResult.c(),
                     deviceResult.argmax(), dg)) {
            assertArrayEquals(hostResult.c().toDoubleArray(), deviceResult.c().toDoubleArray(), 1e-9);
            if (semiring.hasArgmax()) {
                assertArrayEquals(hostResult.argmax().toIntArray(), deviceResult.argmax().toIntArray());
            }
            assertArrayEquals(hostGrads.gradA().toDoubleArray(), deviceGrads.gradA().toDoubleArray(), 1e-9);
            assertArrayEquals(hostGrads.gradB().toDoubleArray(), deviceGrads.gradB().toDoubleArray(), 1e-9);
        }
    }

    @Test
    void closingTheContextFreesItsDeviceTensors() {
        Context cuda = Context.create(Device.cuda(0));
        Tensor t = Tensor.allocate(cuda, DType.FLOAT64, 1024);
        cuda.close();
        assertTrue(t.isClosed());
        assertThrows(IllegalStateException.class, t::toDoubleArray);
        t.close();
    }
}
