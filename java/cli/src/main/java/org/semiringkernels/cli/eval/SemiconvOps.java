package org.semiringkernels.cli.eval;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.semiringkernels.Context;
import org.semiringkernels.SemifieldConv;
import org.semiringkernels.Tensor;

/** The semifield convolution's ops for eval (spatial rank = rank of input - 2). */
final class SemiconvOps {

    private SemiconvOps() {
    }

    private static final List<EvalOp.Option> OPTIONS = List.of(
            new EvalOp.Option("semifield", "tropical_max", "tropical_max | tropical_min | linear | root | log"),
            new EvalOp.Option("kind", "convolution", "convolution (mirrored kernel) | correlation"),
            new EvalOp.Option("padding", "valid", "valid | same | N | N1,N2,... (symmetric per axis)"),
            new EvalOp.Option("stride", "1", "N or N1,N2,..."),
            new EvalOp.Option("dilation", "1", "N or N1,N2,..."),
            new EvalOp.Option("groups", "1", "channel groups"),
            new EvalOp.Option("group_broadcast", "false", "one kernel group applied to every input group"),
            new EvalOp.Option("channels_add", "false", "tropical only: add across input channels"),
            new EvalOp.Option("p", "2", "root semifield power"),
            new EvalOp.Option("mu", "1", "log semifield temperature"));

    private static final EvalOp.Port INPUT = EvalOp.Port.required("input", "(B,C_in,*spatial)", "float32|float64",
            "1-3 spatial axes");
    private static final EvalOp.Port KERNEL = EvalOp.Port.required("kernel", "(C_out,C_in/groups,*kernel)", "same",
            "kernel values");

    static long[] perAxis(Settings s, String key, int rank) {
        String[] parts = s.string(key).split(",");
        long[] v = new long[rank];
        try {
            for (int d = 0; d < rank; d++) {
                v[d] = Long.parseLong(parts[parts.length == 1 ? 0 : d].strip());
            }
        } catch (NumberFormatException | ArrayIndexOutOfBoundsException e) {
            throw new IllegalArgumentException("option " + key + " needs N or " + rank + " comma-separated integers, got '"
                    + s.string(key) + "'");
        }
        return v;
    }

    static SemifieldConv.Options convOptions(Settings s, Tensor input) {
        int rank = input.rank() - 2;
        if (rank < 1 || rank > 3) {
            throw new IllegalArgumentException("input 'input' needs rank 3 to 5 (B, C, 1-3 spatial axes), got rank "
                    + input.rank());
        }
        String pad = s.string("padding").strip().toLowerCase(java.util.Locale.ROOT);
        SemifieldConv.Padding padding = switch (pad) {
            case "valid" -> SemifieldConv.Padding.valid();
            case "same" -> SemifieldConv.Padding.same();
            default -> SemifieldConv.Padding.symmetric(perAxis(s, "padding", rank));
        };
        return new SemifieldConv.Options(s.enumValue("semifield", SemifieldConv.Semifield.class), rank,
                s.enumValue("kind", SemifieldConv.Kind.class), padding, perAxis(s, "stride", rank),
                perAxis(s, "dilation", rank), s.integer("groups"), s.bool("group_broadcast"), s.bool("channels_add"),
                s.number("p"), s.number("mu"));
    }

    static List<EvalOp> all() {
        return List.of(forward(), backward(), closing(), quadratic(), quadraticBackward());
    }

    private static EvalOp forward() {
        return new BaseOp("semiconv", "semifield convolution / correlation; provenance (winning tap) for the tropical ones",
                List.of(INPUT, KERNEL), OPTIONS,
                List.of(EvalOp.Port.required("output", "(B,C_out,*out)", "input dtype", "the result"),
                        EvalOp.Port.optional("provenance", "like output", "int32", "tropical: winning tap, -1 if none"))) {
            @Override
            public Map<String, Tensor> run(Context c, Map<String, Tensor> in, Settings s) {
                SemifieldConv.Options o = convOptions(s, in.get("input"));
                SemifieldConv.Result r = SemifieldConv.forward(c, o, in.get("input"), in.get("kernel"), o.semifield().isTropical());
                Map<String, Tensor> out = new LinkedHashMap<>();
                out.put("output", r.output());
                if (r.provenance() != null) {
                    out.put("provenance", r.provenance());
                }
                return out;
            }
        };
    }

    private static EvalOp backward() {
        return new BaseOp("semiconv.backward", "gradients w.r.t. input and kernel (forward recomputed)",
                List.of(INPUT, KERNEL, EvalOp.Port.required("grad_output", "like output", "input dtype", "upstream gradient")),
                OPTIONS,
                List.of(EvalOp.Port.required("grad_input", "like input", "input dtype", "gradient w.r.t. input"),
                        EvalOp.Port.required("grad_kernel", "like kernel", "input dtype", "gradient w.r.t. kernel"))) {
            @Override
            public Map<String, Tensor> run(Context c, Map<String, Tensor> in, Settings s) {
                SemifieldConv.Options o = convOptions(s, in.get("input"));
                try (SemifieldConv.Result r = SemifieldConv.forward(c, o, in.get("input"), in.get("kernel"),
                        o.semifield().isTropical())) {
                    SemifieldConv.Gradients g = SemifieldConv.backward(c, o, in.get("input"), in.get("kernel"), r.output(),
                            r.provenance(), in.get("grad_output"));
                    Map<String, Tensor> out = new LinkedHashMap<>();
                    out.put("grad_input", g.gradInput());
                    out.put("grad_kernel", g.gradKernel());
                    return out;
                }
            }
        };
    }

    private static EvalOp closing() {
        return new BaseOp("semiconv.closing", "morphological closing: dilation then erosion with the same kernel",
                List.of(INPUT, KERNEL), OPTIONS,
                List.of(EvalOp.Port.required("output", "like input", "input dtype", "the closing"))) {
            @Override
            public Map<String, Tensor> run(Context c, Map<String, Tensor> in, Settings s) {
                return Map.of("output", SemifieldConv.closing(c, convOptions(s, in.get("input")), in.get("input"), in.get("kernel")));
            }
        };
    }

    private static final List<EvalOp.Option> QUADRATIC = List.of(
            new EvalOp.Option("form", "isotropic", "isotropic (log s) | anisotropic (theta, log s1, log s2) | cholesky (log s1, log s2, r)"),
            new EvalOp.Option("size", "5", "kernel grid k or kh,kw"));

    private static long[] grid(Settings s) {
        return perAxis(s, "size", 2);
    }

    private static EvalOp quadratic() {
        return new BaseOp("quadratic_kernel", "2-D quadratic kernel values -u^T S^-1 u on the grid",
                List.of(EvalOp.Port.required("params", "(C_out,C_in,form's count)", "float32|float64", "parameters")),
                QUADRATIC, List.of(EvalOp.Port.required("kernel", "(C_out,C_in,kh,kw)", "params dtype", "kernel values"))) {
            @Override
            public Map<String, Tensor> run(Context c, Map<String, Tensor> in, Settings s) {
                long[] g = grid(s);
                return Map.of("kernel", SemifieldConv.quadraticKernel(c, s.enumValue("form", SemifieldConv.QuadraticForm.class),
                        in.get("params"), g[0], g[1]));
            }
        };
    }

    private static EvalOp quadraticBackward() {
        return new BaseOp("quadratic_kernel.backward", "gradient w.r.t. the quadratic kernel's parameters",
                List.of(EvalOp.Port.required("params", "(C_out,C_in,form's count)", "float32|float64", "parameters"),
                        EvalOp.Port.required("grad_kernel", "(C_out,C_in,kh,kw)", "params dtype", "upstream gradient")),
                QUADRATIC.subList(0, 1), List.of(EvalOp.Port.required("grad_params", "like params", "params dtype", "gradient"))) {
            @Override
            public Map<String, Tensor> run(Context c, Map<String, Tensor> in, Settings s) {
                Tensor params = in.get("params");
                Tensor grad = Tensor.allocate(c, params.dtype(), params.shape());
                try {
                    SemifieldConv.quadraticKernelBackward(c, s.enumValue("form", SemifieldConv.QuadraticForm.class), params,
                            in.get("grad_kernel"), grad);
                    return Map.of("grad_params", grad);
                } catch (RuntimeException | Error e) {
                    grad.close();
                    throw e;
                }
            }
        };
    }
}
