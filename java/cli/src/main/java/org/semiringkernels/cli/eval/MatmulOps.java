package org.semiringkernels.cli.eval;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.semiringkernels.Context;
import org.semiringkernels.Semiring;
import org.semiringkernels.SemiringMatmul;
import org.semiringkernels.Tensor;

/** The batched semiring matmul's ops for eval: {@code matmul} and {@code matmul.backward}. */
final class MatmulOps {

    private MatmulOps() {
    }

    private static final EvalOp.Option SEMIRING = new EvalOp.Option("semiring", "log",
            "log | max | min | real | boolean");

    static List<EvalOp> all() {
        return List.of(forward(), backward());
    }

    private static EvalOp forward() {
        return new BaseOp("matmul", "c[b,i,j] = PLUS_k TIMES(a[b,i,k], b[b,k,j]), and the argmax for max/min",
                List.of(EvalOp.Port.required("a", "(M,K) or (B,M,K)", "float32|float64", "left operand"),
                        EvalOp.Port.required("b", "(K,N) or (B,K,N)", "same as a", "right operand")),
                List.of(SEMIRING),
                List.of(EvalOp.Port.required("c", "(M,N) or (B,M,N)", "dtype of a", "the product"),
                        EvalOp.Port.optional("argmax", "like c", "int32", "max/min only: the k attaining c, -1 for the zero"))) {
            @Override
            public Map<String, Tensor> run(Context context, Map<String, Tensor> in, Settings s) {
                Semiring semiring = s.enumValue("semiring", Semiring.class);
                SemiringMatmul.Result r = SemiringMatmul.forward(context, semiring, in.get("a"), in.get("b"));
                Map<String, Tensor> out = new LinkedHashMap<>();
                out.put("c", r.c());
                if (r.argmax() != null) {
                    out.put("argmax", r.argmax());
                }
                return out;
            }
        };
    }

    private static EvalOp backward() {
        return new BaseOp("matmul.backward", "gradients of sum(grad_c * c) w.r.t. a and b (log, real; max/min through the argmax)",
                List.of(EvalOp.Port.required("a", "(M,K) or (B,M,K)", "float32|float64", "left operand"),
                        EvalOp.Port.required("b", "(K,N) or (B,K,N)", "same as a", "right operand"),
                        EvalOp.Port.required("grad_c", "like c", "same as a", "upstream gradient"),
                        EvalOp.Port.optional("c", "like c", "same as a", "the forward's c (log: recomputed when absent)"),
                        EvalOp.Port.optional("argmax", "like c", "int32", "the forward's argmax (max/min: recomputed when absent)")),
                List.of(SEMIRING),
                List.of(EvalOp.Port.required("grad_a", "like a", "dtype of a", "gradient w.r.t. a"),
                        EvalOp.Port.required("grad_b", "like b", "dtype of a", "gradient w.r.t. b"))) {
            @Override
            public Map<String, Tensor> run(Context context, Map<String, Tensor> in, Settings s) {
                Semiring semiring = s.enumValue("semiring", Semiring.class);
                Tensor c = in.get("c");
                Tensor recomputed = null;
                try {
                    if (c == null && semiring == Semiring.LOG) {
                        recomputed = SemiringMatmul.forward(context, semiring, in.get("a"), in.get("b")).c();
                        c = recomputed;
                    }
                    SemiringMatmul.Gradients g = SemiringMatmul.backward(context, semiring, in.get("a"), in.get("b"), c,
                            in.get("argmax"), in.get("grad_c"));
                    Map<String, Tensor> out = new LinkedHashMap<>();
                    out.put("grad_a", g.gradA());
                    out.put("grad_b", g.gradB());
                    return out;
                } finally {
                    if (recomputed != null) {
                        recomputed.close();
                    }
                }
            }
        };
    }
}
