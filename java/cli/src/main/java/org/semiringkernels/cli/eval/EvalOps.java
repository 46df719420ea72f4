package org.semiringkernels.cli.eval;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Optional;

/** Every op {@code eval} can run, family by family (each family contributes its FamilyOps.all()). */
public final class EvalOps {

    private static final List<EvalOp> ALL = collect();

    private EvalOps() {
    }

    private static List<EvalOp> collect() {
        List<EvalOp> ops = new ArrayList<>();
        ops.addAll(MatmulOps.all());
        ops.addAll(HmmOps.all());
        ops.addAll(CtcOps.all());
        ops.addAll(EinsumOps.all());
        ops.addAll(SemiconvOps.all());
        ops.addAll(SemiCrfOps.all());
        return Collections.unmodifiableList(ops);
    }

    public static List<EvalOp> all() {
        return ALL;
    }

    public static Optional<EvalOp> find(String name) {
        return ALL.stream().filter(op -> op.name().equals(name)).findFirst();
    }
}
