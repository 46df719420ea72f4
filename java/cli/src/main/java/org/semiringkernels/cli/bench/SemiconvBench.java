package org.semiringkernels.cli.bench;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Random;

import org.semiringkernels.Context;
import org.semiringkernels.DType;
import org.semiringkernels.SemifieldConv;
import org.semiringkernels.SemifieldConv.Semifield;
import org.semiringkernels.Tensor;

/**
 * The semifield convolution's bench configurations (issue 7): depthwise (groups = C), 'same'
 * padding, stride 1, correlation, 2-D, a learned (non-flat) kernel 0.1 N(0, 1), input N(0, 1):
 * T+ forward (with provenance) and forward + backward (routed through the provenance), and the
 * log semifield (mu = 1) forward; anchors torch max_pool2d (a flat kernel) and
 * pytorch_nd_semiconv's broadcast implementation.
 */
final class SemiconvBench extends BaseBench {

    private final Semifield semifield;
    private final boolean backward;
    private final int batch, channels, size, k;
    private Tensor input, kernel, output, provenance, gradOutput, gradInput, gradKernel;

    private SemiconvBench(Semifield semifield, boolean backward, int batch, int channels, int size, int k, Anchor anchor) {
        super("semiconv", "Gterm/s", anchor);
        this.semifield = semifield;
        this.backward = backward;
        this.batch = batch;
        this.channels = channels;
        this.size = size;
        this.k = k;
    }

    static List<BenchCase> all(boolean quick) {
        int b = quick ? 2 : 32, c = quick ? 8 : 64, n = quick ? 32 : 64;
        List<BenchCase> out = new ArrayList<>();
        out.add(new SemiconvBench(Semifield.TROPICAL_MAX, false, b, c, n, 3, quick ? null : Anchors.h100("torch max_pool2d", 0.145)));
        out.add(new SemiconvBench(Semifield.TROPICAL_MAX, true, b, c, n, 3, quick ? null : Anchors.h100("torch max_pool2d fwd+bwd", 0.348)));
        out.add(new SemiconvBench(Semifield.LOG, false, b, c, n, 3, quick ? null : Anchors.h100("nd-semiconv broadcast log", 2.70)));
        out.add(new SemiconvBench(Semifield.TROPICAL_MAX, false, b, c, n, 7, quick ? null : Anchors.h100("torch max_pool2d", 0.40)));
        return out;
    }


    @Override
    public String name() {
        String field = semifield == Semifield.TROPICAL_MAX ? "T+" : semifield.name().toLowerCase(Locale.ROOT);
        return String.format(Locale.ROOT, "semiconv %s depthwise B=%d C=%d %dx%d k=%d f32 %s", field, batch, channels, size, size, k,
                backward ? "fwd+bwd" : "fwd");
    }

    @Override
    public double work() {
        return (backward ? 2.0 : 1.0) * batch * (double) channels * size * size * k * k / 1e9;
    }



    private SemifieldConv.Options options() {
        SemifieldConv.Options o = SemifieldConv.Options.of(semifield, 2);
        return new SemifieldConv.Options(semifield, 2, SemifieldConv.Kind.CORRELATION, SemifieldConv.Padding.same(),
                o.stride(), o.dilation(), channels, false, false, o.p(), o.mu());
    }

    @Override
    public void prepare(Context context) {
        Random rng = new Random(5);
        input = BenchTensors.normal(context, rng, 1.0, batch, channels, size, size);
        kernel = BenchTensors.normal(context, rng, 0.1, channels, 1, k, k);
        output = Tensor.allocate(context, DType.FLOAT32, batch, channels, size, size);
        if (semifield.isTropical()) {
            provenance = Tensor.allocate(context, DType.INT32, batch, channels, size, size);
        }
        if (backward) {
            gradOutput = BenchTensors.filled(context, 1f, batch, channels, size, size);
            gradInput = Tensor.allocate(context, DType.FLOAT32, batch, channels, size, size);
            gradKernel = Tensor.allocate(context, DType.FLOAT32, channels, 1, k, k);
        }
    }

    @Override
    public void run(Context context) {
        SemifieldConv.Options options = options();
        SemifieldConv.forward(context, options, input, kernel, output, provenance);
        if (backward) {
            SemifieldConv.backward(context, options, input, kernel, output, provenance, gradOutput, gradInput, gradKernel);
        }
    }

    @Override
    public void close() {
        BenchTensors.closeAll(input, kernel, output, provenance, gradOutput, gradInput, gradKernel);
    }
}
