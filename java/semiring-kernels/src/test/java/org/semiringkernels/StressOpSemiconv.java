package org.semiringkernels;

import java.io.ByteArrayOutputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Random;

import org.semiringkernels.SemifieldConv.Semifield;
import org.semiringkernels.bindings.semiring_kernels_h;
import org.semiringkernels.bindings.sk_semiconv_options;

/**
 * Semifield convolution workload through the Java API: 2-D depthwise T+ with provenance and its
 * backward, the log semifield forward and backward, float32.
 */
public final class StressOpSemiconv implements StressOp {

    @Override
    public String name() {
        return "semiconv";
    }

    @Override
    public byte[] run(Context context) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        Random rng = new Random(19);
        try (Tensor input = StressOp.gaussian(rng, 2, 3, 7, 6);
             Tensor kernel = StressOp.gaussian(rng, 3, 1, 3, 3);
             Tensor upstream = StressOp.gaussian(rng, 2, 3, 7, 6)) {
            for (Semifield field : new Semifield[] {Semifield.TROPICAL_MAX, Semifield.LOG}) {
                SemifieldConv.Options base = SemifieldConv.Options.of(field, 2);
                SemifieldConv.Options o = new SemifieldConv.Options(field, 2, SemifieldConv.Kind.CORRELATION,
                        SemifieldConv.Padding.same(), base.stride(), base.dilation(), 3, false, false, base.p(), base.mu());
                try (Tensor output = Tensor.allocateHost(DType.FLOAT32, 2, 3, 7, 6);
                     Tensor provenance = field.isTropical() ? Tensor.allocateHost(DType.INT32, 2, 3, 7, 6) : null;
                     Tensor gradInput = Tensor.allocateHost(DType.FLOAT32, 2, 3, 7, 6);
                     Tensor gradKernel = Tensor.allocateHost(DType.FLOAT32, 3, 1, 3, 3)) {
                    SemifieldConv.forward(context, o, input, kernel, output, provenance);
                    SemifieldConv.backward(context, o, input, kernel, output, provenance, upstream, gradInput, gradKernel);
                    StressOpMatmul.add(out, output);
                    if (provenance != null) {
                        StressOpMatmul.add(out, provenance);
                    }
                    StressOpMatmul.add(out, gradInput);
                    StressOpMatmul.add(out, gradKernel);
                }
            }
        }
        return out.toByteArray();
    }

    /**
     * Through the raw bindings (the Java API would reject it first): a kernel whose second extent
     * is not C_in / groups = 100 + marker; the library names the expected extent.
     */
    @Override
    public void provokeError(Context context, int marker) {
        int channels = 100 + marker;
        try (Tensor input = Tensor.allocateHost(DType.FLOAT32, 1, channels, 4);
             Tensor kernel = Tensor.allocateHost(DType.FLOAT32, 1, 1, 3);
             Tensor output = Tensor.allocateHost(DType.FLOAT32, 1, 1, 2)) {
            context.call("semiconv", h -> {
                try (Arena arena = Arena.ofConfined()) {
                    MemorySegment o = sk_semiconv_options.allocate(arena);
                    sk_semiconv_options.struct_size(o, sk_semiconv_options.sizeof());
                    sk_semiconv_options.semifield(o, Semifield.TROPICAL_MAX.code());
                    sk_semiconv_options.spatial_rank(o, 1);
                    sk_semiconv_options.padding_mode(o, semiring_kernels_h.SK_SEMICONV_PADDING_VALID());
                    sk_semiconv_options.groups(o, 1);
                    sk_semiconv_options.stride(o, 0, 1);
                    sk_semiconv_options.dilation(o, 0, 1);
                    Native.check(semiring_kernels_h.sk_semiconv_forward(h, o, Tensor.descriptor(input, arena),
                            Tensor.descriptor(kernel, arena), Tensor.descriptor(output, arena), MemorySegment.NULL), h);
                }
                return null;
            });
        }
    }

    @Override
    public String errorFragment(int marker) {
        return "C_in / groups = " + (100 + marker) + ",";
    }
}
