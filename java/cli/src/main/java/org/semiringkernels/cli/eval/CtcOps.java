package org.semiringkernels.cli.eval;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.semiringkernels.Context;
import org.semiringkernels.Ctc;
import org.semiringkernels.Tensor;

/** The CTC family's ops for eval: loss, backward (both gradient forms), fused logits, align, posteriors. */
final class CtcOps {

    private CtcOps() {
    }

    private static final List<EvalOp.Option> OPTIONS = List.of(
            new EvalOp.Option("blank", "0", "blank class index"),
            new EvalOp.Option("reduction", "none", "none | sum | mean (torch's: loss / max(L, 1), averaged)"),
            new EvalOp.Option("zero_infinity", "false", "infinite losses (no alignment) become 0"),
            new EvalOp.Option("layout", "time_major", "time_major (T,B,C) | batch_major (B,T,C)"));

    private static List<EvalOp.Port> inputs(String scores, String doc, EvalOp.Port... extra) {
        List<EvalOp.Port> ports = new java.util.ArrayList<>(List.of(
                EvalOp.Port.required(scores, "(T,B,C) or (B,T,C)", "float32|float64", doc),
                EvalOp.Port.required("targets", "(B,S) padded or (sum L) concatenated", "int32|int64", "labels, not the blank"),
                EvalOp.Port.required("input_lengths", "(B)", "int32|int64", "frames per sequence"),
                EvalOp.Port.required("target_lengths", "(B)", "int32|int64", "labels per sequence")));
        ports.addAll(List.of(extra));
        return ports;
    }

    private static final EvalOp.Port LOSS = EvalOp.Port.required("loss", "(B) or scalar", "input dtype",
            "-log p(targets | input), per reduction");
    private static final EvalOp.Port GRAD_LOSS = EvalOp.Port.required("grad_loss", "shape of loss", "input dtype",
            "upstream gradient");

    static Ctc.Options ctcOptions(Settings s) {
        return Ctc.Options.builder().blank(s.integer("blank")).reduction(s.enumValue("reduction", Ctc.Reduction.class))
                .zeroInfinity(s.bool("zero_infinity")).layout(s.enumValue("layout", Ctc.Layout.class)).build();
    }

    static List<EvalOp> all() {
        return List.of(loss(), backward(), fused(), align(), posteriors());
    }

    private static EvalOp loss() {
        return new BaseOp("ctc.loss", "CTC loss, torch.nn.functional.ctc_loss semantics",
                inputs("log_probs", "log-probabilities"), OPTIONS, List.of(LOSS)) {
            @Override
            public Map<String, Tensor> run(Context c, Map<String, Tensor> in, Settings s) {
                return Map.of("loss", Ctc.loss(c, ctcOptions(s), in.get("log_probs"), in.get("targets"),
                        in.get("input_lengths"), in.get("target_lengths")));
            }
        };
    }

    private static EvalOp backward() {
        List<EvalOp.Option> opts = new java.util.ArrayList<>(OPTIONS);
        opts.add(new EvalOp.Option("gradient", "log_probs",
                "log_probs (true d loss / d log_probs = -u gamma) | fused_logits (torch's u (exp(lp) - gamma))"));
        return new BaseOp("ctc.backward", "loss and its gradient w.r.t. log_probs (form chosen by 'gradient')",
                inputs("log_probs", "log-probabilities", GRAD_LOSS), opts,
                List.of(LOSS, EvalOp.Port.required("grad", "like log_probs", "input dtype", "the chosen gradient form"))) {
            @Override
            public Map<String, Tensor> run(Context c, Map<String, Tensor> in, Settings s) {
                Ctc.LossAndGradient r = Ctc.backward(c, ctcOptions(s), s.enumValue("gradient", Ctc.Gradient.class),
                        in.get("log_probs"), in.get("targets"), in.get("input_lengths"), in.get("target_lengths"),
                        in.get("grad_loss"));
                Map<String, Tensor> out = new LinkedHashMap<>();
                out.put("loss", r.loss());
                out.put("grad", r.gradient());
                return out;
            }
        };
    }

    private static EvalOp fused() {
        return new BaseOp("ctc.fused_logits", "log-softmax + CTC from logits: loss and gradient w.r.t. the logits",
                inputs("logits", "unnormalised scores (log-softmax over C inside)", GRAD_LOSS), OPTIONS,
                List.of(LOSS, EvalOp.Port.required("grad_logits", "like logits", "input dtype", "u (softmax - gamma)"))) {
            @Override
            public Map<String, Tensor> run(Context c, Map<String, Tensor> in, Settings s) {
                Ctc.LossAndGradient r = Ctc.fusedBackward(c, ctcOptions(s), in.get("logits"), in.get("targets"),
                        in.get("input_lengths"), in.get("target_lengths"), in.get("grad_loss"));
                Map<String, Tensor> out = new LinkedHashMap<>();
                out.put("loss", r.loss());
                out.put("grad_logits", r.gradient());
                return out;
            }
        };
    }

    private static EvalOp align() {
        return new BaseOp("ctc.align", "forced alignment (torchaudio's forced_align): frame path and token spans",
                inputs("log_probs", "log-probabilities"), OPTIONS,
                List.of(EvalOp.Port.required("path", "(B,T)", "int32", "class per frame, -1 past the length"),
                        EvalOp.Port.required("spans", "(B,W,2)", "int32", "[start, end) frames per target label"),
                        EvalOp.Port.required("frame_scores", "(B,T)", "input dtype", "log_probs of the path's classes"),
                        EvalOp.Port.required("score", "(B)", "input dtype", "the path's log probability"))) {
            @Override
            public Map<String, Tensor> run(Context c, Map<String, Tensor> in, Settings s) {
                Ctc.Alignment a = Ctc.forcedAlign(c, ctcOptions(s), in.get("log_probs"), in.get("targets"),
                        in.get("input_lengths"), in.get("target_lengths"));
                Map<String, Tensor> out = new LinkedHashMap<>();
                out.put("path", a.path());
                out.put("spans", a.spans());
                out.put("frame_scores", a.frameScores());
                out.put("score", a.score());
                return out;
            }
        };
    }

    private static EvalOp posteriors() {
        return new BaseOp("ctc.posteriors", "state posteriors (soft alignment) per frame over the 2L+1 extended states",
                inputs("log_probs", "log-probabilities"), OPTIONS,
                List.of(EvalOp.Port.required("posteriors", "(B,T,2 max L + 1)", "input dtype", "P(state s at frame t)"))) {
            @Override
            public Map<String, Tensor> run(Context c, Map<String, Tensor> in, Settings s) {
                return Map.of("posteriors", Ctc.posteriors(c, ctcOptions(s), in.get("log_probs"), in.get("targets"),
                        in.get("input_lengths"), in.get("target_lengths")));
            }
        };
    }
}
