package org.semiringkernels.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeSet;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.semiringkernels.Context;
import org.semiringkernels.Ctc;
import org.semiringkernels.Hmm;
import org.semiringkernels.Npy;
import org.semiringkernels.SemiCrf;
import org.semiringkernels.Semiring;
import org.semiringkernels.SemiringEinsum;
import org.semiringkernels.SemifieldConv;
import org.semiringkernels.Tensor;
import org.semiringkernels.cli.eval.EvalOp;
import org.semiringkernels.cli.eval.EvalOps;

/**
 * Every op eval lists runs from .npy files (a recipe per op; a test fails when an op has none),
 * writes exactly its declared outputs, and the values equal the Java API's on the same inputs.
 */
class EvalEveryOpTest {

    @TempDir
    Path dir;

    static final int B = 2, T = 5, N = 3, C = 4;

    /** The inputs (as tensors) and --set options of one invocation, and the API's expected outputs. */
    record Recipe(Map<String, Tensor> inputs, List<String> settings, Map<String, double[]> expected) {
    }

    private final Random rng = new Random(3);

    private double[] normal(int n) {
        double[] v = new double[n];
        for (int i = 0; i < n; i++) {
            v[i] = rng.nextGaussian();
        }
        return v;
    }

    private double[] logSoftmaxRows(int rows, int width) {
        double[] v = normal(rows * width);
        for (int r = 0; r < rows; r++) {
            double max = Double.NEGATIVE_INFINITY, sum = 0;
            for (int c = 0; c < width; c++) {
                max = Math.max(max, v[r * width + c]);
            }
            for (int c = 0; c < width; c++) {
                sum += Math.exp(v[r * width + c] - max);
            }
            for (int c = 0; c < width; c++) {
                v[r * width + c] -= max + Math.log(sum);
            }
        }
        return v;
    }

    private Map<String, Recipe> recipes() {
        Map<String, Recipe> r = new LinkedHashMap<>();
        try (Context ctx = Context.cpu()) {
            Tensor a = Tensor.fromArray(normal(12), 3, 4), b = Tensor.fromArray(normal(8), 4, 2);
            Tensor gc = Tensor.fromArray(normal(6), 3, 2);
            try (SemiringMatmulHolder h = new SemiringMatmulHolder(ctx, a, b, gc)) {
                r.put("matmul", new Recipe(Map.of("a", a, "b", b), List.of("semiring=log"), Map.of("c", h.c)));
                r.put("matmul.backward", new Recipe(Map.of("a", a, "b", b, "grad_c", gc), List.of("semiring=log"),
                        Map.of("grad_a", h.gradA, "grad_b", h.gradB)));
            }
            // HMM, factored and edge forms
            Tensor init = Tensor.fromArray(normal(N), N), trans = Tensor.fromArray(normal(N * N), N, N);
            Tensor emission = Tensor.fromArray(normal(B * T * N), B, T, N);
            Tensor pot = Tensor.fromArray(normal(B * T * N * N), B, T, N, N);
            Tensor lengths = Tensor.fromArray(new int[] {T, 3}, B), g = Tensor.fromArray(new double[] {1.0, -0.5}, B);
            for (boolean factored : new boolean[] {true, false}) {
                String p = factored ? "hmm.factored." : "hmm.edge.";
                Hmm.Model model = factored ? new Hmm.Factored(init, trans, emission) : Hmm.Edge.separate(pot, init);
                Map<String, Tensor> in = factored ? Map.of("initial", init, "transition", trans, "emission", emission, "lengths", lengths)
                        : Map.of("potentials", pot, "initial", init, "lengths", lengths);
                try (Tensor ll = Hmm.forward(ctx, Semiring.LOG, model, lengths);
                     Hmm.Marginals m = Hmm.marginals(ctx, Semiring.LOG, model, lengths);
                     Hmm.Viterbi v = Hmm.viterbi(ctx, model, lengths)) {
                    r.put(p + "forward", new Recipe(in, List.of(), Map.of("log_partition", ll.toDoubleArray())));
                    r.put(p + "marginals", new Recipe(in, List.of(), Map.of("marginals", m.marginals().toDoubleArray(),
                            "log_partition", m.logPartition().toDoubleArray())));
                    r.put(p + "viterbi", new Recipe(in, List.of(), Map.of("best_score", v.score().toDoubleArray(),
                            "best_path", v.path().toDoubleArrayConverted())));
                }
                Map<String, Tensor> withG = new LinkedHashMap<>(in);
                withG.put("grad_log_partition", g);
                if (factored) {
                    try (Hmm.FactoredGradients fg = Hmm.backward(ctx, Semiring.LOG, (Hmm.Factored) model, lengths, g)) {
                        r.put(p + "backward", new Recipe(withG, List.of(), Map.of("grad_initial", fg.gradInitial().toDoubleArray(),
                                "grad_transition", fg.gradTransition().toDoubleArray(),
                                "grad_emission", fg.gradEmission().toDoubleArray())));
                    }
                } else {
                    try (Hmm.EdgeGradients eg = Hmm.backward(ctx, Semiring.LOG, (Hmm.Edge) model, lengths, g)) {
                        r.put(p + "backward", new Recipe(withG, List.of(), Map.of("grad_potentials", eg.gradPotentials().toDoubleArray(),
                                "grad_initial", eg.gradInitial().toDoubleArray())));
                    }
                }
            }
            // CTC, time-major, padded targets
            Tensor lp = Tensor.fromArray(logSoftmaxRows(T * B, C), T, B, C);
            Tensor logits = Tensor.fromArray(normal(T * B * C), T, B, C);
            Tensor targets = Tensor.fromArray(new int[] {1, 2, 3, 2, 0, 0}, B, 3);
            Tensor il = Tensor.fromArray(new int[] {T, 4}, B), tl = Tensor.fromArray(new int[] {3, 1}, B);
            Tensor gl = Tensor.fromArray(new double[] {1.0, 2.0}, B);
            Ctc.Options o = Ctc.Options.builder().reduction(Ctc.Reduction.NONE).build();
            Map<String, Tensor> in = Map.of("log_probs", lp, "targets", targets, "input_lengths", il, "target_lengths", tl);
            try (Tensor loss = Ctc.loss(ctx, o, lp, targets, il, tl);
                 Ctc.LossAndGradient bw = Ctc.backward(ctx, o, Ctc.Gradient.FUSED_LOGITS, lp, targets, il, tl, gl);
                 Ctc.LossAndGradient fused = Ctc.fusedBackward(ctx, o, logits, targets, il, tl, gl);
                 Ctc.Alignment al = Ctc.forcedAlign(ctx, o, lp, targets, il, tl);
                 Tensor post = Ctc.posteriors(ctx, o, lp, targets, il, tl)) {
                r.put("ctc.loss", new Recipe(in, List.of("reduction=none"), Map.of("loss", loss.toDoubleArray())));
                Map<String, Tensor> withG = new LinkedHashMap<>(in);
                withG.put("grad_loss", gl);
                r.put("ctc.backward", new Recipe(withG, List.of("reduction=none", "gradient=fused_logits"),
                        Map.of("loss", bw.loss().toDoubleArray(), "grad", bw.gradient().toDoubleArray())));
                Map<String, Tensor> fin = new LinkedHashMap<>(withG);
                fin.remove("log_probs");
                fin.put("logits", logits);
                r.put("ctc.fused_logits", new Recipe(fin, List.of("reduction=none"),
                        Map.of("loss", fused.loss().toDoubleArray(), "grad_logits", fused.gradient().toDoubleArray())));
                r.put("ctc.align", new Recipe(in, List.of(), Map.of("path", al.path().toDoubleArrayConverted(),
                        "spans", al.spans().toDoubleArrayConverted(), "frame_scores", al.frameScores().toDoubleArray(),
                        "score", al.score().toDoubleArray())));
                r.put("ctc.posteriors", new Recipe(in, List.of(), Map.of("posteriors", post.toDoubleArray())));
            }
            // einsum
            Tensor x0 = Tensor.fromArray(normal(6), 2, 3), x1 = Tensor.fromArray(normal(12), 3, 4);
            Tensor go = Tensor.fromArray(normal(8), 2, 4);
            try (SemiringEinsum max = SemiringEinsum.compile("ij,jk->ik", Semiring.MAX, x0.shape(), x1.shape());
                 SemiringEinsum.Result mr = max.forward(ctx, x0, x1);
                 SemiringEinsum log = SemiringEinsum.compile("ij,jk->ik", Semiring.LOG, x0.shape(), x1.shape());
                 SemiringEinsum.Result lr = log.forward(ctx, x0, x1);
                 SemiringEinsum.Gradients lg = log.backward(ctx, List.of(x0, x1), lr.out(), null, go)) {
                r.put("einsum", new Recipe(Map.of("x0", x0, "x1", x1), List.of("equation=ij,jk->ik", "semiring=max"),
                        Map.of("out", mr.out().toDoubleArray(), "argmax", mr.argmax().toDoubleArrayConverted())));
                r.put("einsum.backward", new Recipe(Map.of("x0", x0, "x1", x1, "grad_out", go),
                        List.of("equation=ij,jk->ik", "semiring=log"),
                        Map.of("grad_x0", lg.get(0).toDoubleArray(), "grad_x1", lg.get(1).toDoubleArray())));
            }
            // semifield convolution, 1-D
            Tensor input = Tensor.fromArray(normal(6), 1, 1, 6), kernel = Tensor.fromArray(normal(3), 1, 1, 3);
            Tensor gout = Tensor.fromArray(normal(4), 1, 1, 4);
            SemifieldConv.Options tmax = SemifieldConv.Options.of(SemifieldConv.Semifield.TROPICAL_MAX, 1);
            SemifieldConv.Options lin = SemifieldConv.Options.of(SemifieldConv.Semifield.LINEAR, 1);
            SemifieldConv.Options same = new SemifieldConv.Options(SemifieldConv.Semifield.TROPICAL_MAX, 1,
                    SemifieldConv.Kind.CONVOLUTION, SemifieldConv.Padding.same(), new long[] {1}, new long[] {1}, 1, false,
                    false, 2, 1);
            Tensor params = Tensor.fromArray(new double[] {0.3}, 1, 1, 1), gk = Tensor.fromArray(normal(25), 1, 1, 5, 5);
            try (SemifieldConv.Result fr = SemifieldConv.forward(ctx, tmax, input, kernel, true);
                 SemifieldConv.Result lr = SemifieldConv.forward(ctx, lin, input, kernel, false);
                 SemifieldConv.Gradients cg = SemifieldConv.backward(ctx, lin, input, kernel, lr.output(), null, gout);
                 Tensor closed = SemifieldConv.closing(ctx, same, input, kernel);
                 Tensor qk = SemifieldConv.quadraticKernel(ctx, SemifieldConv.QuadraticForm.ISOTROPIC, params, 5, 5);
                 Tensor gp = Tensor.allocate(ctx, params.dtype(), params.shape())) {
                SemifieldConv.quadraticKernelBackward(ctx, SemifieldConv.QuadraticForm.ISOTROPIC, params, gk, gp);
                r.put("semiconv", new Recipe(Map.of("input", input, "kernel", kernel), List.of(),
                        Map.of("output", fr.output().toDoubleArray(), "provenance", fr.provenance().toDoubleArrayConverted())));
                r.put("semiconv.backward", new Recipe(Map.of("input", input, "kernel", kernel, "grad_output", gout),
                        List.of("semifield=linear"), Map.of("grad_input", cg.gradInput().toDoubleArray(),
                                "grad_kernel", cg.gradKernel().toDoubleArray())));
                r.put("semiconv.closing", new Recipe(Map.of("input", input, "kernel", kernel), List.of("padding=same"),
                        Map.of("output", closed.toDoubleArray())));
                r.put("quadratic_kernel", new Recipe(Map.of("params", params), List.of("size=5"),
                        Map.of("kernel", qk.toDoubleArray())));
                r.put("quadratic_kernel.backward", new Recipe(Map.of("params", params, "grad_kernel", gk), List.of(),
                        Map.of("grad_params", gp.toDoubleArray())));
            }
            // semi-CRF: per-position scores, (C, C) transition, start and boundary scores, mixed lengths
            int k = 3;
            Tensor sx = Tensor.fromArray(normal(B * T * C), B, T, C), st = Tensor.fromArray(normal(C * C), C, C);
            Tensor sd = Tensor.fromArray(normal(k * C), k, C), ss = Tensor.fromArray(normal(C), C);
            Tensor sps = Tensor.fromArray(normal(B * T * C), B, T, C), spe = Tensor.fromArray(normal(B * T * C), B, T, C);
            Tensor sl = Tensor.fromArray(new int[] {T, 3}, B), sg = Tensor.fromArray(new double[] {1.0, -0.5}, B);
            Tensor goldLabels = Tensor.fromArray(new int[] {0, 0, 1, 1, 1, 2, 3, 3, 0, 0}, B, T);
            SemiCrf.Model sm = new SemiCrf.Model(sx, st, sd, ss, sps, spe);
            Map<String, Tensor> sin = Map.of("scores", sx, "transition", st, "duration_bias", sd, "start", ss,
                    "proj_start", sps, "proj_end", spe, "lengths", sl);
            SemiCrf.Options slog = SemiCrf.Options.defaults();
            SemiCrf.Options smax = slog.toBuilder().semiring(Semiring.MAX).build();
            try (Tensor z = SemiCrf.forward(ctx, smax, sm, sl);
                 SemiCrf.Gradients sgr = SemiCrf.backward(ctx, slog, sm, sl, sg);
                 SemiCrf.Viterbi sv = SemiCrf.viterbi(ctx, slog, sm, sl);
                 SemiCrf.Marginals smg = SemiCrf.marginals(ctx, slog, sm, sl);
                 Tensor gold = SemiCrf.goldScore(ctx, slog, sm, sl, SemiCrf.Gold.labels(goldLabels));
                 Tensor zl = SemiCrf.forward(ctx, slog, sm, sl)) {
                r.put("semicrf.forward", new Recipe(sin, List.of("semiring=max"), Map.of("log_partition", z.toDoubleArray())));
                Map<String, Tensor> withG = new LinkedHashMap<>(sin);
                withG.put("grad_log_partition", sg);
                r.put("semicrf.backward", new Recipe(withG, List.of(), Map.of("grad_scores", sgr.gradScores().toDoubleArray(),
                        "grad_transition", sgr.gradTransition().toDoubleArray(),
                        "grad_duration_bias", sgr.gradDurationBias().toDoubleArray(),
                        "grad_start", sgr.gradStart().toDoubleArray(), "grad_proj_start", sgr.gradProjStart().toDoubleArray(),
                        "grad_proj_end", sgr.gradProjEnd().toDoubleArray(), "log_partition", sgr.value().toDoubleArray())));
                List<Double> table = new ArrayList<>();
                List<List<SemiCrf.Segment>> per = sv.segmentsPerSequence();
                for (int seq = 0; seq < per.size(); seq++) {
                    for (SemiCrf.Segment seg : per.get(seq)) {
                        table.addAll(List.of((double) seq, (double) seg.start(), (double) seg.end(), (double) seg.label()));
                    }
                }
                r.put("semicrf.viterbi", new Recipe(sin, List.of(), Map.of("best_score", sv.bestScore().toDoubleArray(),
                        "segments", table.stream().mapToDouble(Double::doubleValue).toArray(),
                        "label_path", sv.labelPath().toDoubleArrayConverted())));
                r.put("semicrf.marginals", new Recipe(sin, List.of(), Map.of("boundary", smg.boundary().toDoubleArray(),
                        "coverage", smg.coverage().toDoubleArray(), "log_partition", smg.logPartition().toDoubleArray())));
                Map<String, Tensor> withGold = new LinkedHashMap<>(sin);
                withGold.put("gold_labels", goldLabels);
                double[] nll = zl.toDoubleArray();
                double[] gv = gold.toDoubleArray();
                for (int seq = 0; seq < B; seq++) {
                    nll[seq] -= gv[seq];
                }
                r.put("semicrf.gold_score", new Recipe(withGold, List.of(), Map.of("score", gv, "nll", nll)));
            }
        }
        return r;
    }

    /** The LOG matmul forward/backward of the recipe's operands (closes its outputs). */
    static final class SemiringMatmulHolder implements AutoCloseable {
        final double[] c, gradA, gradB;

        SemiringMatmulHolder(Context ctx, Tensor a, Tensor b, Tensor gc) {
            try (var f = org.semiringkernels.SemiringMatmul.forward(ctx, Semiring.LOG, a, b);
                 var g = org.semiringkernels.SemiringMatmul.backward(ctx, Semiring.LOG, a, b, f.c(), null, gc)) {
                c = f.c().toDoubleArray();
                gradA = g.gradA().toDoubleArray();
                gradB = g.gradB().toDoubleArray();
            }
        }

        @Override
        public void close() {
        }
    }

    @Test
    void everyListedOpRoundTripsThroughNpyFiles() throws IOException {
        Map<String, Recipe> recipes = recipes();
        Set<String> listed = new TreeSet<>();
        EvalOps.all().forEach(op -> listed.add(op.name()));
        assertEquals(listed, new TreeSet<>(recipes.keySet()), "every op eval lists has a recipe here, and no other");
        for (EvalOp op : EvalOps.all()) {
            Recipe recipe = recipes.get(op.name());
            Path out = dir.resolve(op.name());
            List<String> args = new ArrayList<>(List.of("eval", op.name(), "--out", out.toString(), "--device", "cpu"));
            for (Map.Entry<String, Tensor> e : recipe.inputs().entrySet()) {
                Path f = dir.resolve(op.name() + "-" + e.getKey() + ".npy");
                Npy.write(f, e.getValue());
                args.addAll(List.of("--in", e.getKey() + "=" + f));
            }
            for (String s : recipe.settings()) {
                args.addAll(List.of("--set", s));
            }
            ByteArrayOutputStream o = new ByteArrayOutputStream(), err = new ByteArrayOutputStream();
            int exit = Main.run(args.toArray(String[]::new), new PrintStream(o, true, StandardCharsets.UTF_8),
                    new PrintStream(err, true, StandardCharsets.UTF_8));
            assertEquals(0, exit, op.name() + ": " + err);
            Set<String> written = new TreeSet<>();
            try (var files = Files.list(out)) {
                files.forEach(f -> written.add(f.getFileName().toString().replace(".npy", "")));
            }
            assertEquals(new TreeSet<>(recipe.expected().keySet()), written, op.name() + " outputs");
            for (Map.Entry<String, double[]> e : recipe.expected().entrySet()) {
                try (Tensor got = Npy.read(out.resolve(e.getKey() + ".npy"))) {
                    assertArrayEquals(e.getValue(), got.toDoubleArrayConverted(), op.name() + " " + e.getKey());
                }
            }
            for (EvalOp.Port p : op.outputs()) {
                assertTrue(!p.required() || written.contains(p.name()), op.name() + " lacks required output " + p.name());
            }
        }
    }
}
