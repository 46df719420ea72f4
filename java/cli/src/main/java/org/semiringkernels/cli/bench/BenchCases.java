package org.semiringkernels.cli.bench;

import java.util.ArrayList;
import java.util.List;

/** Every family's bench configurations (each family contributes its FamilyBench.all(quick)). */
public final class BenchCases {

    private BenchCases() {
    }

    public static List<String> families() {
        return List.of("matmul", "hmm", "ctc", "semicrf", "einsum", "semiconv");
    }

    public static List<BenchCase> all(boolean quick) {
        List<BenchCase> out = new ArrayList<>();
        out.addAll(MatmulBench.all(quick));
        out.addAll(HmmBench.all(quick));
        out.addAll(CtcBench.all(quick));
        out.addAll(SemicrfBench.all(quick));
        out.addAll(EinsumBench.all(quick));
        out.addAll(SemiconvBench.all(quick));
        return out;
    }
}
