package org.semiringkernels.cli.bench;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Random;

import org.semiringkernels.Context;
import org.semiringkernels.DType;
import org.semiringkernels.Semiring;
import org.semiringkernels.SemiringEinsum;
import org.semiringkernels.Tensor;

/**
 * The semiring einsum's bench configurations beyond the plain matmul (issue 6): the compiled
 * equation {@code bij,bjk->bik} (log forward, log forward + backward, max with argmax) and the
 * three-operand {@code bi,bij,bj->b}, inputs N(0, 1). The equation is compiled once in
 * {@link #prepare} (a compiled equation is reusable across calls), so the timed unit is the call.
 */
final class EinsumBench extends BaseBench {

    private final String equation;
    private final Semiring semiring;
    private final boolean backward, argmax;
    private final long[][] shapes;
    private SemiringEinsum compiled;
    private final List<Tensor> operands = new ArrayList<>();
    private Tensor out, argmaxOut, gradOut;
    private final List<Tensor> grads = new ArrayList<>();

    private EinsumBench(String equation, Semiring semiring, boolean backward, boolean argmax, Anchor anchor,
                        long[]... shapes) {
        super("einsum", "GFLOP/s-eq", anchor);
        this.equation = equation;
        this.semiring = semiring;
        this.backward = backward;
        this.argmax = argmax;
        this.shapes = shapes;
    }

    static List<BenchCase> all(boolean quick) {
        long b = quick ? 4 : 16, n = quick ? 64 : 256, pb = quick ? 8 : 64, pn = quick ? 64 : 512;
        long[] m = {b, n, n};
        List<BenchCase> out = new ArrayList<>();
        // torch-semiring-einsum on an H100 (issue 6).
        out.add(new EinsumBench("bij,bjk->bik", Semiring.LOG, false, false,
                quick ? null : Anchors.h100("torch-semiring-einsum log", 7.75), m, m));
        out.add(new EinsumBench("bij,bjk->bik", Semiring.LOG, true, false,
                quick ? null : Anchors.h100("torch-semiring-einsum log fwd+bwd", 19.3), m, m));
        out.add(new EinsumBench("bij,bjk->bik", Semiring.MAX, false, true,
                quick ? null : Anchors.h100("torch-semiring-einsum Viterbi", 5.06), m, m));
        out.add(new EinsumBench("bi,bij,bj->b", Semiring.LOG, false, false,
                quick ? null : Anchors.h100("torch-semiring-einsum log", 26.4), new long[] {pb, pn},
                new long[] {pb, pn, pn}, new long[] {pb, pn}));
        return out;
    }


    @Override
    public String name() {
        StringBuilder dims = new StringBuilder();
        for (long[] s : shapes) {
            if (dims.length() > 0) {
                dims.append(',');
            }
            for (int a = 0; a < s.length; a++) {
                dims.append(a == 0 ? "" : "x").append(s[a]);
            }
        }
        String phase = backward ? "fwd+bwd" : argmax ? "viterbi" : "fwd";
        return String.format(Locale.ROOT, "einsum %s %s %s f32 %s", semiring.name().toLowerCase(Locale.ROOT), equation, dims, phase);
    }

    @Override
    public double work() {
        // Two FLOP-equivalents per term of the naive sum (the product of every letter's extent).
        java.util.Map<Character, Long> extent = new java.util.HashMap<>();
        String[] inputs = equation.substring(0, equation.indexOf("->")).split(",");
        for (int i = 0; i < inputs.length; i++) {
            for (int a = 0; a < inputs[i].length(); a++) {
                extent.put(inputs[i].charAt(a), shapes[i][a]);
            }
        }
        double terms = 1;
        for (long e : extent.values()) {
            terms *= e;
        }
        return (backward ? 3.0 : 1.0) * 2.0 * terms / 1e9;
    }



    @Override
    public void prepare(Context context) {
        compiled = SemiringEinsum.compile(equation, semiring, shapes);
        Random rng = new Random(3);
        for (long[] s : shapes) {
            operands.add(BenchTensors.normal(context, rng, 1.0, s));
        }
        out = Tensor.allocate(context, DType.FLOAT32, compiled.outputShape());
        if (argmax) {
            argmaxOut = Tensor.allocate(context, DType.INT32, compiled.argmaxShape());
        }
        if (backward) {
            gradOut = BenchTensors.filled(context, 1f, compiled.outputShape());
            for (long[] s : shapes) {
                grads.add(Tensor.allocate(context, DType.FLOAT32, s));
            }
        }
    }

    @Override
    public void run(Context context) {
        compiled.forward(context, operands, out, argmaxOut);
        if (backward) {
            compiled.backward(context, operands, out, null, gradOut, grads);
        }
    }

    @Override
    public void close() {
        operands.forEach(Tensor::close);
        grads.forEach(Tensor::close);
        BenchTensors.closeAll(out, argmaxOut, gradOut);
        if (compiled != null) {
            compiled.close();
        }
    }
}
