package org.semiringkernels;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.util.Random;
import java.util.stream.Stream;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.semiringkernels.Ctc.Gradient;
import org.semiringkernels.Ctc.Options;
import org.semiringkernels.Ctc.Reduction;
import org.semiringkernels.CtcFixtures.Batch;
import org.semiringkernels.CtcFixtures.InputForm;

/**
 * The CTC API on a CUDA context against the CPU context, through every entry point, with the
 * index tensors in host memory and on the device. Skipped by assumption where no device answers,
 * unless -Dsemiringkernels.test.requireCuda=true, which turns the skip into a failure.
 */
@Tag("cuda")
class CtcCudaTest {

    @BeforeEach
    void requireDevice() {
        String cause = Device.unavailabilityCause();
        if (Boolean.getBoolean("semiringkernels.test.requireCuda") && !cause.isEmpty()) {
            fail("semiringkernels.test.requireCuda=true but CUDA is unavailable: " + cause);
        }
        assumeTrue(cause.isEmpty(), "CUDA unavailable: " + cause);
    }

    static Stream<Arguments> cases() {
        return Stream.of(
                Arguments.of(DType.FLOAT64, InputForm.TIME_MAJOR, true, false),
                Arguments.of(DType.FLOAT64, InputForm.BATCH_MAJOR, false, true),
                Arguments.of(DType.FLOAT32, InputForm.TIME_MAJOR, false, false),
                Arguments.of(DType.FLOAT32, InputForm.BATCH_MAJOR, true, true));
    }

    /** A batch of 9: the mixed edge cases plus three longer random sequences (T = 60, C = 12). */
    static Batch batch(int blank) {
        Random rng = new Random(77);
        int frames = 60, classes = 12;
        int[][] targets = new int[9][];
        int[] inputLengths = new int[9];
        Batch mixed = CtcFixtures.mixed(5, blank);
        for (int b = 0; b < 6; b++) {
            targets[b] = mixed.targets()[b];
            inputLengths[b] = mixed.inputLengths()[b];
        }
        for (int b = 6; b < 9; b++) {
            targets[b] = CtcFixtures.randomTarget(rng, classes, blank, 10 + 7 * (b - 6));
            inputLengths[b] = frames - 9 * (b - 6);
        }
        return CtcFixtures.randomValues(rng, frames, classes, blank, targets, inputLengths, true);
    }

    @ParameterizedTest(name = "{0} {1} padded={2} indices on device={3}")
    @MethodSource("cases")
    void everyEntryPointAgreesWithTheCpu(DType dtype, InputForm form, boolean padded, boolean indicesOnDevice) {
        int blank = padded ? 0 : 11;
        Batch batch = batch(blank);
        double tol = dtype == DType.FLOAT64 ? 1e-9 : 2e-5; // both backends recurse in float64
        Options o = Options.builder().blank(blank).reduction(Reduction.NONE).layout(form.layout).build();
        try (Context cpu = Context.cpu(); Context cuda = Context.create(Device.cuda(0));
             CtcFixtures fx = new CtcFixtures()) {
            Tensor lp = fx.input(batch, dtype, form);
            Tensor targets = fx.targets(batch, padded, DType.INT64);
            Tensor inLen = fx.indices(batch.inputLengths(), DType.INT32);
            Tensor tgtLen = fx.indices(batch.targetLengths(), DType.INT64);
            Tensor dlp = fx.keep(lp.to(cuda));
            Tensor dTargets = indicesOnDevice ? fx.keep(targets.to(cuda)) : targets;
            Tensor dInLen = indicesOnDevice ? fx.keep(inLen.to(cuda)) : inLen;
            Tensor dTgtLen = indicesOnDevice ? fx.keep(tgtLen.to(cuda)) : tgtLen;
            for (Gradient g : Gradient.values()) {
                try (Ctc.LossAndGradient host = Ctc.lossAndGradient(cpu, o, g, lp, targets, inLen, tgtLen);
                     Ctc.LossAndGradient device = Ctc.lossAndGradient(cuda, o, g, dlp, dTargets, dInLen, dTgtLen)) {
                    assertEquals(Device.cuda(0), device.gradient().device());
                    assertClose(host.loss(), device.loss(), tol, g + " loss");
                    assertClose(host.gradient(), device.gradient(), tol, g + " gradient");
                }
            }
            try (Ctc.LossAndGradient host = Ctc.fusedLossAndGradient(cpu, o, lp, targets, inLen, tgtLen);
                 Ctc.LossAndGradient device = Ctc.fusedLossAndGradient(cuda, o, dlp, dTargets, dInLen, dTgtLen)) {
                assertClose(host.loss(), device.loss(), tol, "fused loss");
                assertClose(host.gradient(), device.gradient(), tol, "fused gradient");
            }
            try (Tensor host = Ctc.posteriors(cpu, o, lp, targets, inLen, tgtLen);
                 Tensor device = Ctc.posteriors(cuda, o, dlp, dTargets, dInLen, dTgtLen)) {
                assertClose(host, device, tol, "posteriors");
            }
            try (Ctc.Alignment host = Ctc.forcedAlign(cpu, o, lp, targets, inLen, tgtLen);
                 Ctc.Alignment device = Ctc.forcedAlign(cuda, o, dlp, dTargets, dInLen, dTgtLen)) {
                assertClose(host.score(), device.score(), tol, "path score");
                if (dtype == DType.FLOAT64) { // float32 outputs: a near-tie could round differently
                    assertArrayEquals(host.path().toIntArray(), device.path().toIntArray(), "path");
                    assertArrayEquals(host.spans().toIntArray(), device.spans().toIntArray(), "spans");
                    assertEquals(host.tokenSpans().size(), device.tokenSpans().size());
                    for (int b = 0; b < batch.batch(); b++) {
                        assertEquals(host.tokenSpans().get(b).size(), device.tokenSpans().get(b).size());
                    }
                }
            }
        }
    }

    @Test
    void hostFloatTensorsAreRejectedOnACudaContext() {
        Batch batch = batch(0);
        try (Context cuda = Context.create(Device.cuda(0)); CtcFixtures fx = new CtcFixtures()) {
            Tensor lp = fx.input(batch, DType.FLOAT32, InputForm.TIME_MAJOR);
            Tensor loss = fx.keep(fx.filled(DType.FLOAT32, 5, batch.batch()).to(cuda));
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Ctc.loss(cuda,
                    Options.builder().reduction(Reduction.NONE).build(), lp, fx.targets(batch, true, DType.INT32),
                    fx.indices(batch.inputLengths(), DType.INT32), fx.indices(batch.targetLengths(), DType.INT32), loss));
            assertTrue(e.getMessage().contains("argument 'logProbs'") && e.getMessage().contains("cuda:0"), e.getMessage());
            for (float v : loss.toFloatArray()) {
                assertEquals(5f, v);
            }
        }
    }

    private static void assertClose(Tensor expected, Tensor actual, double tol, String what) {
        assertArrayEquals(expected.shape(), actual.shape(), what + " shape");
        double[] e = expected.toDoubleArrayConverted(), a = actual.toDoubleArrayConverted();
        for (int i = 0; i < e.length; i++) {
            Assertions2.assertClose(e[i], a[i], tol, what + " element " + i);
        }
    }
}
