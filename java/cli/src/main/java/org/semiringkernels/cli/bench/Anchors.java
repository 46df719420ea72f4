package org.semiringkernels.cli.bench;

/**
 * The public anchors' times for the configurations {@code bench} runs, measured on an NVIDIA H100
 * 80GB HBM3 (../shared/anchors/h100-baselines.md, and bench/results/2026-11-23-h100-matmul.md for
 * torch.einsum). They are printed beside our numbers for orientation; a comparison is only fair
 * on the same GPU, which is why the table names the anchors' device.
 */
final class Anchors {

    static final String H100 = "H100";

    private Anchors() {
    }

    static BenchCase.Anchor h100(String name, double ms) {
        return new BenchCase.Anchor(name, ms, H100);
    }
}
