package org.semiringkernels.cli.eval;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.semiringkernels.Context;
import org.semiringkernels.Semiring;
import org.semiringkernels.SemiringEinsum;
import org.semiringkernels.Tensor;

/** The semiring einsum's ops for eval: operands x0, x1, ... in the equation's order. */
final class EinsumOps {

    static final int MAX_OPERANDS = 8;

    private EinsumOps() {
    }

    private static final List<EvalOp.Option> OPTIONS = List.of(
            new EvalOp.Option("equation", "", "einsum equation with '->', e.g. bij,bjk->bik (required)"),
            new EvalOp.Option("semiring", "log", "log | max | min | real | boolean"));

    private static List<EvalOp.Port> operands(EvalOp.Port... extra) {
        List<EvalOp.Port> ports = new ArrayList<>();
        ports.add(EvalOp.Port.required("x0", "per the equation", "float32|float64", "first operand"));
        for (int i = 1; i < MAX_OPERANDS; i++) {
            ports.add(EvalOp.Port.optional("x" + i, "per the equation", "same", "operand " + i));
        }
        ports.addAll(List.of(extra));
        return ports;
    }

    private static List<Tensor> given(Map<String, Tensor> in) {
        List<Tensor> ops = new ArrayList<>();
        for (int i = 0; i < MAX_OPERANDS && in.containsKey("x" + i); i++) {
            ops.add(in.get("x" + i));
        }
        return ops;
    }

    private static SemiringEinsum compile(Settings s, List<Tensor> ops) {
        String equation = s.string("equation");
        if (equation.isBlank()) {
            throw new IllegalArgumentException("einsum needs --set equation=..., e.g. equation=ij,jk->ik");
        }
        return SemiringEinsum.compile(equation, s.enumValue("semiring", Semiring.class),
                ops.stream().map(Tensor::shape).toArray(long[][]::new));
    }

    static List<EvalOp> all() {
        return List.of(forward(), backward());
    }

    private static EvalOp forward() {
        return new BaseOp("einsum", "any einsum equation in a semiring; for max/min also the argmax of the summed labels",
                operands(), OPTIONS,
                List.of(EvalOp.Port.required("out", "per the equation", "operand dtype", "the result"),
                        EvalOp.Port.optional("argmax", "out shape + [summed labels]", "int32",
                                "max/min: the summed labels' values at a maximiser, -1 for the zero"))) {
            @Override
            public Map<String, Tensor> run(Context c, Map<String, Tensor> in, Settings s) {
                List<Tensor> ops = given(in);
                try (SemiringEinsum e = compile(s, ops)) {
                    SemiringEinsum.Result r = e.forward(c, ops.toArray(Tensor[]::new));
                    Map<String, Tensor> out = new LinkedHashMap<>();
                    out.put("out", r.out());
                    if (r.argmax() != null) {
                        out.put("argmax", r.argmax());
                    }
                    return out;
                }
            }
        };
    }

    private static EvalOp backward() {
        List<EvalOp.Port> outs = new ArrayList<>();
        for (int i = 0; i < MAX_OPERANDS; i++) {
            outs.add(new EvalOp.Port("grad_x" + i, "like x" + i, "operand dtype", i == 0, "gradient w.r.t. x" + i));
        }
        return new BaseOp("einsum.backward", "gradients of sum(grad_out * out) w.r.t. every operand (forward recomputed)",
                operands(EvalOp.Port.required("grad_out", "like out", "operand dtype", "upstream gradient")), OPTIONS, outs) {
            @Override
            public Map<String, Tensor> run(Context c, Map<String, Tensor> in, Settings s) {
                List<Tensor> ops = given(in);
                try (SemiringEinsum e = compile(s, ops);
                     SemiringEinsum.Result r = e.forward(c, ops.toArray(Tensor[]::new))) {
                    SemiringEinsum.Gradients g = e.backward(c, ops, r.out(), r.argmax(), in.get("grad_out"));
                    Map<String, Tensor> out = new LinkedHashMap<>();
                    for (int i = 0; i < ops.size(); i++) {
                        out.put("grad_x" + i, g.get(i));
                    }
                    return out;
                }
            }
        };
    }
}
