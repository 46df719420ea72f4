package org.semiringkernels;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.util.stream.Stream;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * {@link SemiCrf} on a CUDA context against the CPU context, through every entry point (forward
 * in both semirings, backward, Viterbi, marginals, gold scores and their backward), with the
 * lengths and gold tensors in host memory and on the device. Skipped by assumption where no
 * device answers, unless -Dsemiringkernels.test.requireCuda=true, which turns the skip into a
 * failure.
 */
@Tag("cuda")
class SemiCrfCudaTest {

    @BeforeEach
    void requireDevice() {
        String cause = Device.unavailabilityCause();
        if (Boolean.getBoolean("semiringkernels.test.requireCuda") && !cause.isEmpty()) {
            fail("semiringkernels.test.requireCuda=true but CUDA is unavailable: " + cause);
        }
        assumeTrue(cause.isEmpty(), "CUDA unavailable: " + cause);
    }

    /** The brute-force cases of SemiCrfTest plus longer random ones (T = 300, K = 24, C = 12). */
    static Stream<Arguments> cases() {
        int[] lengths = {300, 1, 177, 64};
        return Stream.concat(SemiCrfTest.cases(), Stream.of(
                Arguments.of(new SemiCrfCase.Config(DType.FLOAT64, SemiCrf.Input.SCORES, false, true, true, false,
                        lengths, 300, 12, 24)),
                Arguments.of(new SemiCrfCase.Config(DType.FLOAT32, SemiCrf.Input.CUMULATIVE, true, false, true, true,
                        lengths, 300, 12, 24))));
    }

    private static double tolerance(DType dtype) {
        return dtype == DType.FLOAT64 ? 1e-9 : 2e-5;
    }

    private static void close(Tensor expected, Tensor actual, double tol, String what) {
        if (expected == null) {
            assertEquals(null, actual, what);
            return;
        }
        double[] a = expected.toDoubleArrayConverted();
        double[] b = actual.toDoubleArrayConverted();
        assertEquals(a.length, b.length, what + ": lengths");
        for (int i = 0; i < a.length; i++) {
            boolean same = a[i] == b[i] || Double.isNaN(a[i]) && Double.isNaN(b[i])
                    || Math.abs(a[i] - b[i]) <= tol * Math.max(1, Math.abs(a[i]));
            assertTrue(same, what + "[" + i + "]: CPU " + a[i] + ", CUDA " + b[i]);
        }
    }

    private static void close(SemiCrf.Gradients a, SemiCrf.Gradients b, double tol, String what) {
        close(a.gradScores(), b.gradScores(), tol, what + " gradScores");
        close(a.gradTransition(), b.gradTransition(), tol, what + " gradTransition");
        close(a.gradDurationBias(), b.gradDurationBias(), tol, what + " gradDurationBias");
        close(a.gradStart(), b.gradStart(), tol, what + " gradStart");
        close(a.gradProjStart(), b.gradProjStart(), tol, what + " gradProjStart");
        close(a.gradProjEnd(), b.gradProjEnd(), tol, what + " gradProjEnd");
        close(a.value(), b.value(), tol, what + " value");
    }

    private static Tensor on(SemiCrfCase c, Tensor t, Context cuda) {
        return t == null ? null : c.keep(t.to(cuda));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void everyOpAgreesWithTheCpu(SemiCrfCase.Config config) {
        double tol = tolerance(config.dtype());
        try (Context cpu = Context.cpu(); Context cuda = Context.create(Device.cuda(0));
             SemiCrfCase c = new SemiCrfCase(config, 31)) {
            SemiCrf.Model host = c.model();
            SemiCrf.Model device = new SemiCrf.Model(on(c, host.scores(), cuda), on(c, host.transition(), cuda),
                    on(c, host.durationBias(), cuda), on(c, host.start(), cuda), on(c, host.projStart(), cuda),
                    on(c, host.projEnd(), cuda));
            Tensor hostLengths = c.lengths();
            double[] g = new double[c.batch];
            for (int b = 0; b < g.length; b++) {
                g[b] = 0.5 - b;
            }
            Tensor hostG = c.tensor(g, g.length);
            Tensor deviceG = on(c, hostG, cuda);
            for (Tensor lengths : new Tensor[] {hostLengths, on(c, hostLengths, cuda)}) {
                String where = lengths.isHost() ? " (host lengths)" : " (device lengths)";
                for (Semiring s : new Semiring[] {Semiring.LOG, Semiring.MAX}) {
                    SemiCrf.Options o = config.options(s);
                    try (Tensor za = SemiCrf.forward(cpu, o, host, hostLengths);
                         Tensor zb = SemiCrf.forward(cuda, o, device, lengths);
                         SemiCrf.Gradients ga = SemiCrf.backward(cpu, o, host, hostLengths, hostG);
                         SemiCrf.Gradients gb = SemiCrf.backward(cuda, o, device, lengths, deviceG);
                         SemiCrf.Marginals ma = SemiCrf.marginals(cpu, o, host, hostLengths);
                         SemiCrf.Marginals mb = SemiCrf.marginals(cuda, o, device, lengths)) {
                        close(za, zb, tol, s + " forward" + where);
                        close(ga, gb, tol, s + " backward" + where);
                        close(ma.boundary(), mb.boundary(), tol, s + " boundary" + where);
                        close(ma.coverage(), mb.coverage(), tol, s + " coverage" + where);
                        close(ma.logPartition(), mb.logPartition(), tol, s + " marginals' log Z" + where);
                    }
                }
                try (SemiCrf.Viterbi a = SemiCrf.viterbi(cpu, config.options(Semiring.MAX), host, hostLengths);
                     SemiCrf.Viterbi b = SemiCrf.viterbi(cuda, config.options(Semiring.MAX), device, lengths)) {
                    close(a.bestScore(), b.bestScore(), tol, "Viterbi score" + where);
                    assertArrayEquals(a.segments().toIntArray(), b.segments().toIntArray(), "segments" + where);
                    assertArrayEquals(a.segmentCounts().toIntArray(), b.segmentCounts().toIntArray(), "counts" + where);
                    assertArrayEquals(a.labelPath().toIntArray(), b.labelPath().toIntArray(), "label path" + where);
                    assertEquals(a.segmentsPerSequence(), b.segmentsPerSequence());
                    // gold annotations: the CPU's Viterbi segmentation and label path (-1 past the
                    // length is ignored there), on the host and on the device
                    int[] path = a.labelPath().toIntArray();
                    for (int i = 0; i < path.length; i++) {
                        path[i] = Math.max(path[i], 0);
                    }
                    Tensor labels = c.keep(Tensor.fromArray(path, c.batch, config.steps()));
                    SemiCrf.Gold[] hostGold = {SemiCrf.Gold.segments(a.segments(), a.segmentCounts()),
                        SemiCrf.Gold.labels(labels)};
                    SemiCrf.Gold[] deviceGold = {SemiCrf.Gold.segments(on(c, a.segments(), cuda),
                            on(c, a.segmentCounts(), cuda)), SemiCrf.Gold.labels(on(c, labels, cuda))};
                    for (int i = 0; i < 2; i++) {
                        for (Semiring s : new Semiring[] {Semiring.LOG, Semiring.MAX}) {
                            SemiCrf.Options o = config.options(s);
                            try (Tensor sa = SemiCrf.goldScore(cpu, o, host, hostLengths, hostGold[i]);
                                 Tensor sb = SemiCrf.goldScore(cuda, o, device, lengths, deviceGold[i]);
                                 SemiCrf.Gradients ga = SemiCrf.goldScoreBackward(cpu, o, host, hostLengths,
                                         hostGold[i], hostG);
                                 SemiCrf.Gradients gb = SemiCrf.goldScoreBackward(cuda, o, device, lengths,
                                         deviceGold[i], deviceG)) {
                                String what = s + (i == 0 ? " gold segments" : " gold labels") + where;
                                close(sa, sb, tol, what);
                                close(ga, gb, tol, what + " backward");
                            }
                        }
                    }
                }
            }
        }
    }
}
