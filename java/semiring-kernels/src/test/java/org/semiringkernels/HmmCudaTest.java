package org.semiringkernels;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.util.stream.Stream;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.semiringkernels.HmmCase.Form;

/**
 * {@link Hmm} and Baum-Welch on a CUDA context against the CPU (every form, dtype, semiring and
 * op; lengths on the host and on the device). Skipped by assumption where no device answers,
 * unless -Dsemiringkernels.test.requireCuda=true, which turns the skip into a failure.
 */
@Tag("cuda")
class HmmCudaTest {

    private static final int[] LENGTHS = {7, 1, 5, 3};
    private static final int STEPS = 7;
    private static final int STATES = 4;

    @BeforeEach
    void requireDevice() {
        String cause = Device.unavailabilityCause();
        if (Boolean.getBoolean("semiringkernels.test.requireCuda") && !cause.isEmpty()) {
            fail("semiringkernels.test.requireCuda=true but CUDA is unavailable: " + cause);
        }
        assumeTrue(cause.isEmpty(), "CUDA unavailable: " + cause);
    }

    static Stream<Arguments> cases() {
        return HmmTest.cases();
    }

    /** The model's tensors copied to the context's device (kept by the case for closing). */
    private static Hmm.Model onDevice(HmmCase c, Hmm.Model host, Context cuda) {
        return switch (host) {
            case Hmm.Edge e -> new Hmm.Edge(c.keep(e.potentials().to(cuda)),
                    e.initial() == null ? null : c.keep(e.initial().to(cuda)), e.convention());
            case Hmm.Factored f -> new Hmm.Factored(c.keep(f.initial().to(cuda)), c.keep(f.transition().to(cuda)),
                    c.keep(f.emission().to(cuda)));
        };
    }

    @ParameterizedTest(name = "{0} {1} impossible={2}")
    @MethodSource("cases")
    void everyOpAgreesWithTheCpu(Form form, DType dtype, boolean impossible) {
        double tol = HmmTest.tolerance(dtype);
        double[] g = {0.5, -2.0, 1.5, 1.0};
        try (Context cpu = Context.cpu(); Context cuda = Context.create(Device.cuda(0));
             HmmCase c = new HmmCase(form, dtype, LENGTHS, STEPS, STATES, 21, impossible)) {
            Hmm.Model host = c.model();
            Hmm.Model device = onDevice(c, host, cuda);
            Tensor hostLengths = c.lengthsTensor();
            Tensor deviceLengths = c.keep(hostLengths.to(cuda));
            Tensor hostG = c.tensor(g, g.length);
            Tensor deviceG = c.keep(hostG.to(cuda));
            for (Tensor lengths : new Tensor[] {hostLengths, deviceLengths}) {
                for (Semiring s : new Semiring[] {Semiring.LOG, Semiring.MAX}) {
                    try (Hmm.Marginals a = Hmm.marginals(cpu, s, host, hostLengths);
                         Hmm.Marginals b = Hmm.marginals(cuda, s, device, lengths);
                         Tensor za = Hmm.forward(cpu, s, host, hostLengths);
                         Tensor zb = Hmm.forward(cuda, s, device, lengths)) {
                        close(za.toDoubleArrayConverted(), zb.toDoubleArrayConverted(), tol, s + " forward");
                        close(a.marginals().toDoubleArrayConverted(), b.marginals().toDoubleArrayConverted(), tol,
                                s + " marginals");
                    }
                    compareGradients(cpu, cuda, s, host, device, hostLengths, lengths, hostG, deviceG, tol);
                }
                try (Hmm.Viterbi a = Hmm.viterbi(cpu, host, hostLengths);
                     Hmm.Viterbi b = Hmm.viterbi(cuda, device, lengths)) {
                    close(a.score().toDoubleArrayConverted(), b.score().toDoubleArrayConverted(), tol, "Viterbi score");
                    assertArrayEquals(a.path().toIntArray(), b.path().toIntArray(), "Viterbi path");
                }
            }
        }
    }

    private static void compareGradients(Context cpu, Context cuda, Semiring s, Hmm.Model host, Hmm.Model device,
                                         Tensor hostLengths, Tensor lengths, Tensor hostG, Tensor deviceG, double tol) {
        switch (host) {
            case Hmm.Edge e -> {
                try (Hmm.EdgeGradients a = Hmm.backward(cpu, s, e, hostLengths, hostG);
                     Hmm.EdgeGradients b = Hmm.backward(cuda, s, (Hmm.Edge) device, lengths, deviceG)) {
                    close(a.gradPotentials().toDoubleArrayConverted(), b.gradPotentials().toDoubleArrayConverted(), tol,
                            s + " gradPotentials");
                    if (a.gradInitial() != null) {
                        close(a.gradInitial().toDoubleArrayConverted(), b.gradInitial().toDoubleArrayConverted(), tol,
                                s + " gradInitial");
                    }
                }
            }
            case Hmm.Factored f -> {
                try (Hmm.FactoredGradients a = Hmm.backward(cpu, s, f, hostLengths, hostG);
                     Hmm.FactoredGradients b = Hmm.backward(cuda, s, (Hmm.Factored) device, lengths, deviceG)) {
                    close(a.gradInitial().toDoubleArrayConverted(), b.gradInitial().toDoubleArrayConverted(), tol,
                            s + " gradInitial");
                    close(a.gradTransition().toDoubleArrayConverted(), b.gradTransition().toDoubleArrayConverted(), tol,
                            s + " gradTransition");
                    close(a.gradEmission().toDoubleArrayConverted(), b.gradEmission().toDoubleArrayConverted(), tol,
                            s + " gradEmission");
                }
            }
        }
    }

    @Test
    void hostTensorsOnACudaContextAreRejectedByName() {
        try (Context cuda = Context.create(Device.cuda(0));
             HmmCase c = new HmmCase(Form.FACTORED_SHARED, DType.FLOAT64, LENGTHS, STEPS, STATES, 22, false)) {
            Hmm.Model host = c.model();
            ValidationTest.assertRejected(IllegalArgumentException.class,
                    () -> Hmm.forward(cuda, Semiring.LOG, host, c.lengthsTensor()), "argument 'emission'",
                    "the context is on");
        }
    }

    @Test
    void baumWelchOnCudaFollowsTheCpu() {
        int[][] data = BaumWelchTest.categoricalData(11, 60, 1, 80);
        BaumWelchHmm.Settings settings = BaumWelchHmm.Settings.defaults().withSeed(4).withMaxIterations(8)
                .withTolerance(0);
        CategoricalHmm onCpu = new CategoricalHmm(3, 4, settings);
        CategoricalHmm onCuda = new CategoricalHmm(3, 4, settings);
        try (Context cpu = Context.cpu(); Context cuda = Context.create(Device.cuda(0))) {
            double[] a = onCpu.fit(cpu, data).logLikelihoods();
            double[] b = onCuda.fit(cuda, data).logLikelihoods();
            assertEquals(a.length, b.length);
            for (int k = 0; k < a.length; k++) {
                assertEquals(a[k], b[k], 1e-9 * Math.abs(a[k]), "log-likelihood at iteration " + k);
            }
            double[][] ea = onCpu.emissionProbabilities();
            double[][] eb = onCuda.emissionProbabilities();
            for (int i = 0; i < 3; i++) {
                assertArrayEquals(ea[i], eb[i], 1e-9, "emission row " + i);
            }
            assertArrayEquals(onCpu.predict(cpu, data)[0], onCuda.predict(cuda, data)[0]);
        }
    }

    private static void close(double[] expected, double[] actual, double tol, String what) {
        assertEquals(expected.length, actual.length, what);
        for (int i = 0; i < expected.length; i++) {
            Assertions2.assertClose(expected[i], actual[i], tol, what + " element " + i);
        }
    }
}
