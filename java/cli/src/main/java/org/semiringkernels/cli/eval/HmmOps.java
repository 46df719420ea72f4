package org.semiringkernels.cli.eval;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.semiringkernels.Context;
import org.semiringkernels.Hmm;
import org.semiringkernels.Semiring;
import org.semiringkernels.Tensor;

/**
 * The HMM family's ops for eval, for both input forms: {@code hmm.factored.*} (initial,
 * transition, emission) and {@code hmm.edge.*} (potentials, optional initial; without initial the
 * hmm-backprop row-0 convention applies). Each: forward, backward, marginals, viterbi.
 */
final class HmmOps {

    private HmmOps() {
    }

    private static final EvalOp.Option SEMIRING = new EvalOp.Option("semiring", "log", "log (sum-product) | max (Viterbi)");
    private static final EvalOp.Port LENGTHS = EvalOp.Port.optional("lengths", "(B)", "int32|int64",
            "positions per sequence, in [1, T] (default: all T)");

    static List<EvalOp> all() {
        return List.of(forward(Form.FACTORED), backward(Form.FACTORED), marginals(Form.FACTORED), viterbi(Form.FACTORED),
                forward(Form.EDGE), backward(Form.EDGE), marginals(Form.EDGE), viterbi(Form.EDGE));
    }

    private enum Form {
        FACTORED, EDGE;

        String prefix() {
            return this == FACTORED ? "hmm.factored." : "hmm.edge.";
        }

        List<EvalOp.Port> inputs(EvalOp.Port... extra) {
            List<EvalOp.Port> ports = new java.util.ArrayList<>();
            if (this == FACTORED) {
                ports.add(EvalOp.Port.required("initial", "(N) or (B,N)", "float32|float64", "log initial scores"));
                ports.add(EvalOp.Port.required("transition", "(N,N) or (B,N,N)", "same", "log transition scores, rows = from"));
                ports.add(EvalOp.Port.required("emission", "(B,T,N)", "same", "log emission scores per position"));
            } else {
                ports.add(EvalOp.Port.required("potentials", "(B,T,N,N)", "float32|float64",
                        "potentials[b,t,i,j]: from i at t-1 to j at t"));
                ports.add(EvalOp.Port.optional("initial", "(N) or (B,N)", "same",
                        "log initial scores; absent: row 0 of potentials[:,0] (hmm-backprop)"));
            }
            ports.add(LENGTHS);
            ports.addAll(List.of(extra));
            return ports;
        }

        Hmm.Model model(Map<String, Tensor> in) {
            if (this == FACTORED) {
                return new Hmm.Factored(in.get("initial"), in.get("transition"), in.get("emission"));
            }
            Tensor initial = in.get("initial");
            return initial == null ? Hmm.Edge.row0(in.get("potentials")) : Hmm.Edge.separate(in.get("potentials"), initial);
        }
    }

    private static EvalOp forward(Form form) {
        return new BaseOp(form.prefix() + "forward", "log-partition (log) or best path score (max) per sequence",
                form.inputs(), List.of(SEMIRING),
                List.of(EvalOp.Port.required("log_partition", "(B)", "input dtype", "log Z_b or the Viterbi score"))) {
            @Override
            public Map<String, Tensor> run(Context context, Map<String, Tensor> in, Settings s) {
                return Map.of("log_partition", Hmm.forward(context, s.enumValue("semiring", Semiring.class), form.model(in),
                        in.get("lengths")));
            }
        };
    }

    private static EvalOp backward(Form form) {
        List<EvalOp.Port> outputs = form == Form.FACTORED
                ? List.of(EvalOp.Port.required("grad_initial", "like initial", "input dtype", "expected start counts x g"),
                        EvalOp.Port.required("grad_transition", "like transition", "input dtype", "expected transition counts x g"),
                        EvalOp.Port.required("grad_emission", "like emission", "input dtype", "posteriors x g"))
                : List.of(EvalOp.Port.required("grad_potentials", "like potentials", "input dtype", "edge marginals x g"),
                        EvalOp.Port.optional("grad_initial", "like initial", "input dtype", "when initial is given"));
        return new BaseOp(form.prefix() + "backward", "gradients of sum_b g_b log Z_b w.r.t. every input",
                form.inputs(EvalOp.Port.required("grad_log_partition", "(B)", "input dtype", "upstream gradient g")),
                List.of(SEMIRING), outputs) {
            @Override
            public Map<String, Tensor> run(Context context, Map<String, Tensor> in, Settings s) {
                Semiring semiring = s.enumValue("semiring", Semiring.class);
                Map<String, Tensor> out = new LinkedHashMap<>();
                if (form == Form.FACTORED) {
                    Hmm.FactoredGradients g = Hmm.backward(context, semiring, (Hmm.Factored) form.model(in),
                            in.get("lengths"), in.get("grad_log_partition"));
                    out.put("grad_initial", g.gradInitial());
                    out.put("grad_transition", g.gradTransition());
                    out.put("grad_emission", g.gradEmission());
                } else {
                    Hmm.EdgeGradients g = Hmm.backward(context, semiring, (Hmm.Edge) form.model(in), in.get("lengths"),
                            in.get("grad_log_partition"));
                    out.put("grad_potentials", g.gradPotentials());
                    if (g.gradInitial() != null) {
                        out.put("grad_initial", g.gradInitial());
                    }
                }
                return out;
            }
        };
    }

    private static EvalOp marginals(Form form) {
        return new BaseOp(form.prefix() + "marginals", "posterior state marginals (log) or the Viterbi one-hot (max)",
                form.inputs(), List.of(SEMIRING),
                List.of(EvalOp.Port.required("marginals", "(B,T,N)", "input dtype", "P(z_t = j), 0 past the length"),
                        EvalOp.Port.required("log_partition", "(B)", "input dtype", "as forward"))) {
            @Override
            public Map<String, Tensor> run(Context context, Map<String, Tensor> in, Settings s) {
                Hmm.Marginals m = Hmm.marginals(context, s.enumValue("semiring", Semiring.class), form.model(in),
                        in.get("lengths"));
                Map<String, Tensor> out = new LinkedHashMap<>();
                out.put("marginals", m.marginals());
                out.put("log_partition", m.logPartition());
                return out;
            }
        };
    }

    private static EvalOp viterbi(Form form) {
        return new BaseOp(form.prefix() + "viterbi", "best path score and path (ties to the lowest state)",
                form.inputs(), List.of(),
                List.of(EvalOp.Port.required("best_score", "(B)", "input dtype", "the best path's score"),
                        EvalOp.Port.required("best_path", "(B,T)", "int32", "state per position, -1 past the length"))) {
            @Override
            public Map<String, Tensor> run(Context context, Map<String, Tensor> in, Settings s) {
                Hmm.Viterbi v = Hmm.viterbi(context, form.model(in), in.get("lengths"));
                Map<String, Tensor> out = new LinkedHashMap<>();
                out.put("best_score", v.score());
                out.put("best_path", v.path());
                return out;
            }
        };
    }
}
