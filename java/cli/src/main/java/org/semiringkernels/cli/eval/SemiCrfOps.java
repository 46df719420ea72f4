package org.semiringkernels.cli.eval;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.semiringkernels.Context;
import org.semiringkernels.SemiCrf;
import org.semiringkernels.Semiring;
import org.semiringkernels.Tensor;

/**
 * The semi-CRF family's ops for eval: semicrf.forward, semicrf.backward, semicrf.viterbi
 * (segments as an int32 (n, 4) table of rows [batch, start, end, label]), semicrf.marginals and
 * semicrf.gold_score (gold segments with counts, or per-position gold labels).
 */
final class SemiCrfOps {

    private SemiCrfOps() {
    }

    private static final List<EvalOp.Option> OPTIONS = List.of(
            new EvalOp.Option("semiring", "log", "log (log-partition) | max (best segmentation score)"),
            new EvalOp.Option("input", "scores", "scores (B,T,C) per position | cumulative (B,T+1,C)"),
            new EvalOp.Option("zero_centre", "false", "scores only: subtract each sequence's per-label mean first"),
            new EvalOp.Option("flash_semicrf_compat", "false", "flash-semicrf's first-segment transition"),
            new EvalOp.Option("infeasible_gradient", "zero", "zero | nan: gradients of sequences without a segmentation"));

    private static List<EvalOp.Option> optionsWithoutSemiring() {
        return OPTIONS.subList(1, OPTIONS.size());
    }

    private static List<EvalOp.Port> inputs(EvalOp.Port... extra) {
        List<EvalOp.Port> ports = new ArrayList<>(List.of(
                EvalOp.Port.required("scores", "(B,T,C) or (B,T+1,C)", "float32|float64",
                        "per-position or cumulative scores (option input)"),
                EvalOp.Port.required("transition", "(C,C) or (K,C,C)", "same", "rows = from label"),
                EvalOp.Port.required("duration_bias", "(K,C)", "same", "row k-1: duration k"),
                EvalOp.Port.optional("start", "(C)", "same", "first segment's label scores"),
                EvalOp.Port.optional("proj_start", "(B,T,C)", "same", "score of a segment starting at t"),
                EvalOp.Port.optional("proj_end", "(B,T,C)", "same", "score of a segment ending at t (inclusive)"),
                EvalOp.Port.optional("lengths", "(B)", "int32|int64", "positions per sequence, in [1, T] (default: all T)")));
        ports.addAll(List.of(extra));
        return ports;
    }

    static SemiCrf.Options semiCrfOptions(Settings s, Semiring semiring) {
        return SemiCrf.Options.builder().semiring(semiring).input(s.enumValue("input", SemiCrf.Input.class))
                .zeroCentre(s.bool("zero_centre")).flashSemicrfCompat(s.bool("flash_semicrf_compat"))
                .infeasibleGradient(s.enumValue("infeasible_gradient", SemiCrf.InfeasibleGradient.class)).build();
    }

    static SemiCrf.Options semiCrfOptions(Settings s) {
        return semiCrfOptions(s, s.enumValue("semiring", Semiring.class));
    }

    static SemiCrf.Model model(Map<String, Tensor> in) {
        return new SemiCrf.Model(in.get("scores"), in.get("transition"), in.get("duration_bias"), in.get("start"),
                in.get("proj_start"), in.get("proj_end"));
    }

    static List<EvalOp> all() {
        return List.of(forward(), backward(), viterbi(), marginals(), goldScore());
    }

    private static final EvalOp.Port LOG_PARTITION = EvalOp.Port.required("log_partition", "(B)", "input dtype",
            "log Z_b (log) or the best segmentation score (max)");

    private static EvalOp forward() {
        return new BaseOp("semicrf.forward", "semi-CRF log-partition (log) or best segmentation score (max)", inputs(),
                OPTIONS, List.of(LOG_PARTITION)) {
            @Override
            public Map<String, Tensor> run(Context context, Map<String, Tensor> in, Settings s) {
                return Map.of("log_partition", SemiCrf.forward(context, semiCrfOptions(s), model(in), in.get("lengths")));
            }
        };
    }

    private static final String[] GRADIENTS = {"grad_scores", "grad_transition", "grad_duration_bias", "grad_start",
        "grad_proj_start", "grad_proj_end"};

    private static Map<String, Tensor> gradientOutputs(SemiCrf.Gradients g, String valueName) {
        Tensor[] t = {g.gradScores(), g.gradTransition(), g.gradDurationBias(), g.gradStart(), g.gradProjStart(),
            g.gradProjEnd()};
        Map<String, Tensor> out = new LinkedHashMap<>();
        for (int i = 0; i < t.length; i++) {
            if (t[i] != null) {
                out.put(GRADIENTS[i], t[i]);
            }
        }
        out.put(valueName, g.value());
        return out;
    }

    private static List<EvalOp.Port> gradientPorts(EvalOp.Port value) {
        return List.of(EvalOp.Port.required("grad_scores", "like scores", "input dtype", "g x coverage (scores) or end-start flow (cumulative)"),
                EvalOp.Port.required("grad_transition", "like transition", "input dtype", "g x expected transitions"),
                EvalOp.Port.required("grad_duration_bias", "(K,C)", "input dtype", "g x expected segments per duration"),
                EvalOp.Port.optional("grad_start", "(C)", "input dtype", "when start is given"),
                EvalOp.Port.optional("grad_proj_start", "(B,T,C)", "input dtype", "when proj_start is given"),
                EvalOp.Port.optional("grad_proj_end", "(B,T,C)", "input dtype", "when proj_end is given"),
                value);
    }

    private static EvalOp backward() {
        return new BaseOp("semicrf.backward", "gradients of sum_b g_b log Z_b w.r.t. every input, and log Z",
                inputs(EvalOp.Port.required("grad_log_partition", "(B)", "input dtype", "upstream gradient g")), OPTIONS,
                gradientPorts(LOG_PARTITION)) {
            @Override
            public Map<String, Tensor> run(Context context, Map<String, Tensor> in, Settings s) {
                return gradientOutputs(SemiCrf.backward(context, semiCrfOptions(s), model(in), in.get("lengths"),
                        in.get("grad_log_partition")), "log_partition");
            }
        };
    }

    private static EvalOp viterbi() {
        return new BaseOp("semicrf.viterbi", "best segmentation: score, segments and per-position labels",
                inputs(), optionsWithoutSemiring(),
                List.of(EvalOp.Port.required("best_score", "(B)", "input dtype", "the best segmentation's score"),
                        EvalOp.Port.required("segments", "(n,4)", "int32", "rows [batch, start, end (exclusive), label]"),
                        EvalOp.Port.required("label_path", "(B,T)", "int32", "label per position, -1 past the length"))) {
            @Override
            public Map<String, Tensor> run(Context context, Map<String, Tensor> in, Settings s) {
                SemiCrf.Viterbi v = SemiCrf.viterbi(context, semiCrfOptions(s, Semiring.MAX), model(in), in.get("lengths"));
                Tensor table;
                try {
                    List<List<SemiCrf.Segment>> per = v.segmentsPerSequence();
                    List<int[]> rows = new ArrayList<>();
                    for (int b = 0; b < per.size(); b++) {
                        for (SemiCrf.Segment seg : per.get(b)) {
                            rows.add(new int[] {b, seg.start(), seg.end(), seg.label()});
                        }
                    }
                    int[] flat = new int[rows.size() * 4];
                    for (int i = 0; i < rows.size(); i++) {
                        System.arraycopy(rows.get(i), 0, flat, i * 4, 4);
                    }
                    table = Tensor.fromArray(flat, rows.size(), 4);
                } catch (RuntimeException | Error e) {
                    v.close();
                    throw e;
                }
                v.segments().close();
                v.segmentCounts().close();
                Map<String, Tensor> out = new LinkedHashMap<>();
                out.put("best_score", v.bestScore());
                out.put("segments", table);
                out.put("label_path", v.labelPath());
                return out;
            }
        };
    }

    private static EvalOp marginals() {
        return new BaseOp("semicrf.marginals", "P(segment starts at t) and P(label c covers t); max: Viterbi indicators",
                inputs(), OPTIONS,
                List.of(EvalOp.Port.required("boundary", "(B,T)", "input dtype", "P(a segment starts at t)"),
                        EvalOp.Port.required("coverage", "(B,T,C)", "input dtype", "P(label c covers t), sums to 1 over c"),
                        LOG_PARTITION)) {
            @Override
            public Map<String, Tensor> run(Context context, Map<String, Tensor> in, Settings s) {
                SemiCrf.Marginals m = SemiCrf.marginals(context, semiCrfOptions(s), model(in), in.get("lengths"));
                Map<String, Tensor> out = new LinkedHashMap<>();
                out.put("boundary", m.boundary());
                out.put("coverage", m.coverage());
                out.put("log_partition", m.logPartition());
                return out;
            }
        };
    }

    private static EvalOp goldScore() {
        return new BaseOp("semicrf.gold_score", "score of gold segments (with counts) or gold labels; NLL = log Z - score",
                inputs(EvalOp.Port.optional("gold_segments", "(B,S,3)", "int32|int64", "rows [start, end, label] tiling [0, L_b)"),
                        EvalOp.Port.optional("gold_segment_counts", "(B)", "int32|int64", "rows used per sequence (with gold_segments)"),
                        EvalOp.Port.optional("gold_labels", "(B,T)", "int32|int64", "a label per position (instead of segments)")),
                OPTIONS,
                List.of(EvalOp.Port.required("score", "(B)", "input dtype", "the gold annotation's score"),
                        EvalOp.Port.required("nll", "(B)", "input dtype", "log_partition - score"))) {
            @Override
            public Map<String, Tensor> run(Context context, Map<String, Tensor> in, Settings s) {
                SemiCrf.Gold gold = new SemiCrf.Gold(in.get("gold_segments"), in.get("gold_segment_counts"),
                        in.get("gold_labels"));
                SemiCrf.Options o = semiCrfOptions(s);
                Tensor score = SemiCrf.goldScore(context, o, model(in), in.get("lengths"), gold);
                Tensor nll;
                try (Tensor z = SemiCrf.forward(context, o, model(in), in.get("lengths"))) {
                    double[] v = z.toDoubleArrayConverted();
                    double[] g = score.toDoubleArrayConverted();
                    for (int i = 0; i < v.length; i++) {
                        v[i] -= g[i];
                    }
                    nll = switch (score.dtype()) {
                        case FLOAT32 -> {
                            float[] f = new float[v.length];
                            for (int i = 0; i < v.length; i++) {
                                f[i] = (float) v[i];
                            }
                            yield Tensor.fromArray(f, v.length);
                        }
                        default -> Tensor.fromArray(v, v.length);
                    };
                } catch (RuntimeException | Error e) {
                    score.close();
                    throw e;
                }
                Map<String, Tensor> out = new LinkedHashMap<>();
                out.put("score", score);
                out.put("nll", nll);
                return out;
            }
        };
    }
}
