package org.semiringkernels;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import org.semiringkernels.bindings.semiring_kernels_h;
import org.semiringkernels.bindings.sk_semiconv_options;

/**
 * N-D (1, 2 or 3 spatial dimensions) semifield convolution and correlation, its vector-Jacobian
 * product, the closing, and quadratic (morphological) 2-D kernels: the C API's "Semifield
 * convolution family" (see the header for every convention; the essentials are repeated here).
 *
 * <p><b>Shapes</b> (r = spatial rank): input (B, C_in, n_1..n_r); kernel (K_out, C_in/groups,
 * k_1..k_r); output (B, C_out, m_1..m_r) with m = floor((n + p_begin + p_end - d (k - 1) - 1) / s) + 1.
 * Without group broadcasting C_out = K_out (divisible by groups); with it one kernel group is
 * applied to every input group and C_out = groups K_out. One float dtype throughout, all tensors
 * on the context's device, any strides for inputs.
 *
 * <p><b>Semifields</b> (sum, product, zero): TROPICAL_MAX (max, x + w, -inf), TROPICAL_MIN
 * (min, x - w, +inf), LINEAR (+, x w, 0), ROOT ((sum v^p)^(1/p), x w; p != 0, non-negative
 * inputs), LOG ((1/mu) log sum exp(mu v), x + w; mu != 0). Padded taps are skipped exactly; NaN
 * propagates. {@link Kind#CONVOLUTION} mirrors the kernel, {@link Kind#CORRELATION} does not.
 *
 * <p><b>Provenance</b> (tropical only): INT32, the index c (k_1...k_r) + flat kernel index of the
 * winning term (the first in scanning order on ties), -1 when nothing beats the zero; shape of the
 * output, or (B, C_out, C_in/groups, m..) with channels_add.
 *
 * <p><b>Errors.</b> Null arguments, closed tensors, dtypes, devices and output shapes are checked
 * here (IllegalArgumentException / NullPointerException / IllegalStateException naming the
 * argument); the library checks everything again (geometry, overlap, the root semifield's
 * negative inputs, the closing's requirements) and its failures are {@link SemiringKernelsException}.
 * On any error no output has been written.
 *
 * <p><b>Example</b> (run and checked by {@code JavadocExamplesTest}):
 * {@snippet class="org.semiringkernels.snippets.JavadocExamples" region="semiconv"}
 */
public final class SemifieldConv {

    private SemifieldConv() {
    }

    /** The semifields, with the header's {@code sk_semifield} codes. */
    public enum Semifield {
        TROPICAL_MAX(0), TROPICAL_MIN(1), LINEAR(2), ROOT(3), LOG(4);

        private final int code;

        Semifield(int code) {
            this.code = code;
        }

        /** The {@code sk_semifield} value. */
        public int code() {
            return code;
        }

        /** True for TROPICAL_MAX and TROPICAL_MIN (provenance, channels_add). */
        public boolean isTropical() {
            return this == TROPICAL_MAX || this == TROPICAL_MIN;
        }
    }

    /** Convolution (mirrored kernel, the reference's default "conv") or correlation ("corr"). */
    public enum Kind {
        CONVOLUTION(0), CORRELATION(1);

        private final int code;

        Kind(int code) {
            this.code = code;
        }

        /** The {@code sk_semiconv_kind} value. */
        public int code() {
            return code;
        }
    }

    /** Quadratic kernel parameterisations, with the header's {@code sk_quadratic_form} codes. */
    public enum QuadraticForm {
        /** (log s): S = s^2 I. */
        ISOTROPIC(0, 1),
        /** (theta, log s1, log s2): S = R(theta) diag(s1^2, s2^2) R(theta)^T; s1 on rows at theta = 0. */
        ANISOTROPIC(1, 3),
        /** (log s1, log s2, r): rho = tanh(r), S = [[s1^2, rho s1 s2], [rho s1 s2, s2^2]]. */
        CHOLESKY(2, 3);

        private final int code;
        private final int parameterCount;

        QuadraticForm(int code, int parameterCount) {
            this.code = code;
            this.parameterCount = parameterCount;
        }

        /** The {@code sk_quadratic_form} value. */
        public int code() {
            return code;
        }

        /** The last extent of a params tensor. */
        public int parameterCount() {
            return parameterCount;
        }
    }

    /**
     * Padding: {@link #valid()}, {@link #same()} (total d (k - 1) per axis, the odd extra at the
     * end, as for stride 1), or explicit per axis and side.
     */
    public record Padding(int mode, long[] begin, long[] end) {
        static final int EXPLICIT = 0;
        static final int VALID = 1;
        static final int SAME = 2;

        public Padding {
            if (mode < EXPLICIT || mode > SAME) {
                throw new IllegalArgumentException("argument 'mode': unknown padding mode " + mode);
            }
            begin = begin == null ? new long[0] : begin.clone();
            end = end == null ? new long[0] : end.clone();
        }

        /** No padding. */
        public static Padding valid() {
            return new Padding(VALID, null, null);
        }

        /** 'same' padding. */
        public static Padding same() {
            return new Padding(SAME, null, null);
        }

        /** The same amount before and after, per axis (one value per spatial axis). */
        public static Padding symmetric(long... perAxis) {
            return new Padding(EXPLICIT, perAxis, perAxis);
        }

        /** Explicit amounts before and after, per axis. */
        public static Padding explicit(long[] begin, long[] end) {
            Tensor.requireNonNull(begin, "begin");
            Tensor.requireNonNull(end, "end");
            return new Padding(EXPLICIT, begin, end);
        }

        @Override
        public long[] begin() {
            return begin.clone();
        }

        @Override
        public long[] end() {
            return end.clone();
        }

        long pb(int axis, long k, long dilation) {
            return switch (mode) {
                case VALID -> 0;
                case SAME -> dilation * (k - 1) / 2;
                default -> begin[axis];
            };
        }

        long pe(int axis, long k, long dilation) {
            return switch (mode) {
                case VALID -> 0;
                case SAME -> dilation * (k - 1) - dilation * (k - 1) / 2;
                default -> end[axis];
            };
        }
    }

    /**
     * The options. Start from {@link #of(Semifield, int)} (convolution kind, valid padding, stride
     * and dilation 1, one group) and change fields with the {@code with*} methods.
     */
    public record Options(Semifield semifield, int spatialRank, Kind kind, Padding padding, long[] stride,
                          long[] dilation, int groups, boolean groupBroadcast, boolean channelsAdd, double p, double mu) {

        public Options {
            Tensor.requireNonNull(semifield, "semifield");
            Tensor.requireNonNull(kind, "kind");
            Tensor.requireNonNull(padding, "padding");
            Tensor.requireNonNull(stride, "stride");
            Tensor.requireNonNull(dilation, "dilation");
            if (spatialRank < 1 || spatialRank > 3) {
                throw new IllegalArgumentException("argument 'spatialRank': must be 1, 2 or 3, got " + spatialRank);
            }
            stride = perAxis(stride, "stride", spatialRank, 1);
            dilation = perAxis(dilation, "dilation", spatialRank, 1);
            if (padding.mode() == Padding.EXPLICIT) {
                perAxis(padding.begin, "padding.begin", spatialRank, 0);
                perAxis(padding.end, "padding.end", spatialRank, 0);
            }
            if (groups < 1) {
                throw new IllegalArgumentException("argument 'groups': must be >= 1, got " + groups);
            }
            if (channelsAdd && !semifield.isTropical()) {
                throw new IllegalArgumentException("argument 'channelsAdd': only the tropical semifields add channels, "
                        + "semifield is " + semifield);
            }
            if (semifield == Semifield.ROOT && (p == 0 || !Double.isFinite(p))) {
                throw new IllegalArgumentException("argument 'p': the ROOT semifield needs a finite p != 0, got " + p);
            }
            if (semifield == Semifield.LOG && (mu == 0 || !Double.isFinite(mu))) {
                throw new IllegalArgumentException("argument 'mu': the LOG semifield needs a finite mu != 0, got " + mu);
            }
        }

        /** Defaults: convolution, valid padding, stride 1, dilation 1, one group, p = 2, mu = 1. */
        public static Options of(Semifield semifield, int spatialRank) {
            long[] ones = new long[Math.max(0, Math.min(spatialRank, 3))];
            Arrays.fill(ones, 1);
            return new Options(semifield, spatialRank, Kind.CONVOLUTION, Padding.valid(), ones, ones, 1, false, false,
                    2.0, 1.0);
        }

        @Override
        public long[] stride() {
            return stride.clone();
        }

        @Override
        public long[] dilation() {
            return dilation.clone();
        }

        public Options withKind(Kind value) {
            return new Options(semifield, spatialRank, value, padding, stride, dilation, groups, groupBroadcast,
                    channelsAdd, p, mu);
        }

        public Options withPadding(Padding value) {
            return new Options(semifield, spatialRank, kind, value, stride, dilation, groups, groupBroadcast,
                    channelsAdd, p, mu);
        }

        public Options withStride(long... value) {
            return new Options(semifield, spatialRank, kind, padding, value, dilation, groups, groupBroadcast,
                    channelsAdd, p, mu);
        }

        public Options withDilation(long... value) {
            return new Options(semifield, spatialRank, kind, padding, stride, value, groups, groupBroadcast,
                    channelsAdd, p, mu);
        }

        public Options withGroups(int value, boolean broadcast) {
            return new Options(semifield, spatialRank, kind, padding, stride, dilation, value, broadcast, channelsAdd,
                    p, mu);
        }

        public Options withChannelsAdd(boolean value) {
            return new Options(semifield, spatialRank, kind, padding, stride, dilation, groups, groupBroadcast, value,
                    p, mu);
        }

        /** The ROOT semifield's power. */
        public Options withP(double value) {
            return new Options(semifield, spatialRank, kind, padding, stride, dilation, groups, groupBroadcast,
                    channelsAdd, value, mu);
        }

        /** The LOG semifield's temperature. */
        public Options withMu(double value) {
            return new Options(semifield, spatialRank, kind, padding, stride, dilation, groups, groupBroadcast,
                    channelsAdd, p, value);
        }

        private static long[] perAxis(long[] values, String name, int rank, long minimum) {
            if (values.length != rank) {
                throw new IllegalArgumentException("argument '" + name + "': expected " + rank + " values (one per "
                        + "spatial axis), got " + values.length);
            }
            for (int a = 0; a < rank; a++) {
                if (values[a] < minimum) {
                    throw new IllegalArgumentException("argument '" + name + "[" + a + "]': must be >= " + minimum
                            + ", got " + values[a]);
                }
            }
            return values.clone();
        }

        MemorySegment toNative(Arena arena) {
            MemorySegment o = sk_semiconv_options.allocate(arena);
            o.fill((byte) 0);
            sk_semiconv_options.struct_size(o, sk_semiconv_options.sizeof());
            sk_semiconv_options.semifield(o, semifield.code());
            sk_semiconv_options.spatial_rank(o, spatialRank);
            sk_semiconv_options.kind(o, kind.code());
            sk_semiconv_options.padding_mode(o, padding.mode());
            sk_semiconv_options.groups(o, groups);
            sk_semiconv_options.group_broadcast(o, groupBroadcast ? 1 : 0);
            sk_semiconv_options.channels_add(o, channelsAdd ? 1 : 0);
            sk_semiconv_options.p(o, p);
            sk_semiconv_options.mu(o, mu);
            for (int a = 0; a < spatialRank; a++) {
                sk_semiconv_options.stride(o, a, stride[a]);
                sk_semiconv_options.dilation(o, a, dilation[a]);
                if (padding.mode() == Padding.EXPLICIT) {
                    sk_semiconv_options.padding_begin(o, a, padding.begin[a]);
                    sk_semiconv_options.padding_end(o, a, padding.end[a]);
                }
            }
            return o;
        }
    }

    /** The forward's outputs (provenance is null unless requested for a tropical semifield). Closes both. */
    public record Result(Tensor output, Tensor provenance) implements AutoCloseable {
        @Override
        public void close() {
            try {
                output.close();
            } finally {
                if (provenance != null) {
                    provenance.close();
                }
            }
        }
    }

    /** Gradients of the backward (either may be null when skipped). Closes both. */
    public record Gradients(Tensor gradInput, Tensor gradKernel) implements AutoCloseable {
        @Override
        public void close() {
            try {
                if (gradInput != null) {
                    gradInput.close();
                }
            } finally {
                if (gradKernel != null) {
                    gradKernel.close();
                }
            }
        }
    }

    // ---- shapes --------------------------------------------------------------------------------

    /** The output shape for these input and kernel shapes (checks ranks, channels and geometry). */
    public static long[] outputShape(Options options, long[] inputShape, long[] kernelShape) {
        return geometry(options, inputShape, kernelShape, false);
    }

    /** The provenance shape: the output's, with the C_in/groups axis inserted when channelsAdd. */
    public static long[] provenanceShape(Options options, long[] inputShape, long[] kernelShape) {
        return geometry(options, inputShape, kernelShape, options.channelsAdd());
    }

    private static long[] geometry(Options o, long[] in, long[] k, boolean channelAxis) {
        Tensor.requireNonNull(o, "options");
        int r = o.spatialRank();
        if (in.length != 2 + r) {
            throw new IllegalArgumentException("argument 'input': expected rank " + (2 + r) + " (B, C_in, spatial...), "
                    + "got shape " + Arrays.toString(in));
        }
        if (k.length != 2 + r) {
            throw new IllegalArgumentException("argument 'kernel': expected rank " + (2 + r)
                    + " (K_out, C_in / groups, spatial...), got shape " + Arrays.toString(k));
        }
        if (in[1] % o.groups() != 0) {
            throw new IllegalArgumentException("argument 'input': " + in[1] + " channels are not divisible by groups = "
                    + o.groups());
        }
        if (k[1] != in[1] / o.groups()) {
            throw new IllegalArgumentException("argument 'kernel': second extent must be C_in / groups = "
                    + in[1] / o.groups() + ", got shape " + Arrays.toString(k));
        }
        if (!o.groupBroadcast() && k[0] % o.groups() != 0) {
            throw new IllegalArgumentException("argument 'kernel': " + k[0] + " output channels are not divisible by "
                    + "groups = " + o.groups());
        }
        long[] out = new long[2 + r + (channelAxis ? 1 : 0)];
        out[0] = in[0];
        out[1] = o.groupBroadcast() ? k[0] * o.groups() : k[0];
        int first = 2;
        if (channelAxis) {
            out[2] = k[1];
            first = 3;
        }
        for (int a = 0; a < r; a++) {
            long kk = k[2 + a], n = in[2 + a], s = o.stride[a], d = o.dilation[a];
            if (kk < 1) {
                throw new IllegalArgumentException("argument 'kernel': spatial extent " + a + " must be >= 1, got shape "
                        + Arrays.toString(k));
            }
            long span = n + o.padding().pb(a, kk, d) + o.padding().pe(a, kk, d) - d * (kk - 1) - 1;
            if (span < 0) {
                throw new IllegalArgumentException("argument 'kernel': spatial axis " + a + ": the dilated kernel is "
                        + "larger than the padded input (input " + Arrays.toString(in) + ", kernel "
                        + Arrays.toString(k) + ")");
            }
            out[first + a] = span / s + 1;
        }
        return out;
    }

    // ---- forward, backward, closing ---------------------------------------------------------------

    /** Fills output (and, for a tropical semifield, provenance, which may be null). */
    public static void forward(Context context, Options options, Tensor input, Tensor kernel, Tensor output,
                               Tensor provenance) {
        Tensor.requireNonNull(context, "context");
        DType dtype = requireInputs(options, input, kernel);
        Tensor.requireNonNull(output, "output");
        requireTensor(output, "output", dtype, outputShape(options, input.shape(), kernel.shape()));
        if (provenance != null) {
            requireProvenance(options, provenance, input, kernel);
        }
        requireOnDevice(context, new Tensor[] {input, kernel, output, provenance},
                new String[] {"input", "kernel", "output", "provenance"});
        invoke(context, "SemifieldConv.forward", Arrays.asList(input, kernel, output, provenance), (h, arena) ->
                semiring_kernels_h.sk_semiconv_forward(h, options.toNative(arena), Tensor.descriptor(input, arena),
                        Tensor.descriptor(kernel, arena), Tensor.descriptor(output, arena),
                        Tensor.descriptor(provenance, arena)));
    }

    /** Allocates the output (and the provenance when {@code withProvenance}, tropical only) and runs the forward. */
    public static Result forward(Context context, Options options, Tensor input, Tensor kernel, boolean withProvenance) {
        Tensor.requireNonNull(context, "context");
        requireInputs(options, input, kernel);
        if (withProvenance && !options.semifield().isTropical()) {
            throw new IllegalArgumentException("argument 'withProvenance': only the tropical semifields have a "
                    + "provenance (semifield is " + options.semifield() + ")");
        }
        Tensor output = Tensor.allocate(context, input.dtype(), outputShape(options, input.shape(), kernel.shape()));
        Tensor provenance = null;
        try {
            if (withProvenance) {
                provenance = Tensor.allocate(context, DType.INT32,
                        provenanceShape(options, input.shape(), kernel.shape()));
            }
            forward(context, options, input, kernel, output, provenance);
            return new Result(output, provenance);
        } catch (RuntimeException | Error e) {
            output.close();
            if (provenance != null) {
                provenance.close();
            }
            throw e;
        }
    }

    /**
     * Fills gradInput and/or gradKernel (either may be null) for the upstream gradient gradOutput.
     * {@code output}: the forward's (ROOT, LOG; null to recompute); {@code provenance}: the
     * forward's (tropical; null to recompute).
     */
    public static void backward(Context context, Options options, Tensor input, Tensor kernel, Tensor output,
                                Tensor provenance, Tensor gradOutput, Tensor gradInput, Tensor gradKernel) {
        Tensor.requireNonNull(context, "context");
        DType dtype = requireInputs(options, input, kernel);
        Tensor.requireNonNull(gradOutput, "gradOutput");
        long[] outShape = outputShape(options, input.shape(), kernel.shape());
        requireTensor(gradOutput, "gradOutput", dtype, outShape);
        boolean needsOutput = options.semifield() == Semifield.ROOT || options.semifield() == Semifield.LOG;
        Tensor usedOutput = needsOutput ? output : null;
        if (usedOutput != null) {
            requireTensor(usedOutput, "output", dtype, outShape);
        }
        if (provenance != null) {
            requireProvenance(options, provenance, input, kernel);
        }
        if (gradInput != null) {
            requireTensor(gradInput, "gradInput", dtype, input.shape());
        }
        if (gradKernel != null) {
            requireTensor(gradKernel, "gradKernel", dtype, kernel.shape());
        }
        requireOnDevice(context, new Tensor[] {input, kernel, usedOutput, provenance, gradOutput, gradInput, gradKernel},
                new String[] {"input", "kernel", "output", "provenance", "gradOutput", "gradInput", "gradKernel"});
        invoke(context, "SemifieldConv.backward",
                Arrays.asList(input, kernel, usedOutput, provenance, gradOutput, gradInput, gradKernel), (h, arena) ->
                        semiring_kernels_h.sk_semiconv_backward(h, options.toNative(arena),
                                Tensor.descriptor(input, arena), Tensor.descriptor(kernel, arena),
                                Tensor.descriptor(usedOutput, arena), Tensor.descriptor(provenance, arena),
                                Tensor.descriptor(gradOutput, arena), Tensor.descriptor(gradInput, arena),
                                Tensor.descriptor(gradKernel, arena)));
    }

    /** Allocates both gradients (shaped like input and kernel) and fills them. */
    public static Gradients backward(Context context, Options options, Tensor input, Tensor kernel, Tensor output,
                                     Tensor provenance, Tensor gradOutput) {
        Tensor.requireNonNull(context, "context");
        requireInputs(options, input, kernel);
        Tensor gradInput = Tensor.allocate(context, input.dtype(), input.shape());
        Tensor gradKernel = null;
        try {
            gradKernel = Tensor.allocate(context, kernel.dtype(), kernel.shape());
            backward(context, options, input, kernel, output, provenance, gradOutput, gradInput, gradKernel);
            return new Gradients(gradInput, gradKernel);
        } catch (RuntimeException | Error e) {
            gradInput.close();
            if (gradKernel != null) {
                gradKernel.close();
            }
            throw e;
        }
    }

    /**
     * The closing: TROPICAL_MAX dilation, then the TROPICAL_MIN erosion with exactly adjoint offsets
     * (so closing(x) >= x). Needs TROPICAL_MAX options, stride 1, 'same'-sized padding and a
     * depthwise kernel (groups = C_in; kernel (C_in, 1, ..) or, broadcast, (1, 1, ..)); output has
     * the input's shape.
     */
    public static void closing(Context context, Options options, Tensor input, Tensor kernel, Tensor output) {
        Tensor.requireNonNull(context, "context");
        DType dtype = requireInputs(options, input, kernel);
        Tensor.requireNonNull(output, "output");
        requireTensor(output, "output", dtype, input.shape());
        requireOnDevice(context, new Tensor[] {input, kernel, output}, new String[] {"input", "kernel", "output"});
        invoke(context, "SemifieldConv.closing", Arrays.asList(input, kernel, output), (h, arena) ->
                semiring_kernels_h.sk_semiconv_closing(h, options.toNative(arena), Tensor.descriptor(input, arena),
                        Tensor.descriptor(kernel, arena), Tensor.descriptor(output, arena)));
    }

    /** Allocates the output (shape of the input) and runs the closing. */
    public static Tensor closing(Context context, Options options, Tensor input, Tensor kernel) {
        Tensor.requireNonNull(context, "context");
        requireInputs(options, input, kernel);
        Tensor output = Tensor.allocate(context, input.dtype(), input.shape());
        try {
            closing(context, options, input, kernel, output);
            return output;
        } catch (RuntimeException | Error e) {
            output.close();
            throw e;
        }
    }

    // ---- quadratic kernels ---------------------------------------------------------------------

    /**
     * Fills kernel (N0, N1, kh, kw) with -u^T S^-1 u, u = (i - (kh-1)/2, j - (kw-1)/2), from params
     * (N0, N1, form.parameterCount()).
     */
    public static void quadraticKernel(Context context, QuadraticForm form, Tensor params, Tensor kernel) {
        Tensor.requireNonNull(context, "context");
        DType dtype = requireParams(form, params);
        Tensor.requireNonNull(kernel, "kernel");
        requireGrid(kernel, "kernel", dtype, params);
        requireOnDevice(context, new Tensor[] {params, kernel}, new String[] {"params", "kernel"});
        invoke(context, "SemifieldConv.quadraticKernel", Arrays.asList(params, kernel), (h, arena) ->
                semiring_kernels_h.sk_quadratic_kernel(h, form.code(), Tensor.descriptor(params, arena),
                        Tensor.descriptor(kernel, arena)));
    }

    /** Allocates a (N0, N1, kh, kw) kernel and fills it. */
    public static Tensor quadraticKernel(Context context, QuadraticForm form, Tensor params, long kh, long kw) {
        Tensor.requireNonNull(context, "context");
        requireParams(form, params);
        Tensor kernel = Tensor.allocate(context, params.dtype(), params.shape(0), params.shape(1), kh, kw);
        try {
            quadraticKernel(context, form, params, kernel);
            return kernel;
        } catch (RuntimeException | Error e) {
            kernel.close();
            throw e;
        }
    }

    /** Fills gradParams (shape of params) with the parameter gradient for gradKernel. */
    public static void quadraticKernelBackward(Context context, QuadraticForm form, Tensor params, Tensor gradKernel,
                                               Tensor gradParams) {
        Tensor.requireNonNull(context, "context");
        DType dtype = requireParams(form, params);
        Tensor.requireNonNull(gradKernel, "gradKernel");
        requireGrid(gradKernel, "gradKernel", dtype, params);
        Tensor.requireNonNull(gradParams, "gradParams");
        requireTensor(gradParams, "gradParams", dtype, params.shape());
        requireOnDevice(context, new Tensor[] {params, gradKernel, gradParams},
                new String[] {"params", "gradKernel", "gradParams"});
        invoke(context, "SemifieldConv.quadraticKernelBackward", Arrays.asList(params, gradKernel, gradParams),
                (h, arena) -> semiring_kernels_h.sk_quadratic_kernel_backward(h, form.code(),
                        Tensor.descriptor(params, arena), Tensor.descriptor(gradKernel, arena),
                        Tensor.descriptor(gradParams, arena)));
    }

    // ---- validation ----------------------------------------------------------------------------

    private static DType requireInputs(Options options, Tensor input, Tensor kernel) {
        Tensor.requireNonNull(options, "options");
        Tensor.requireNonNull(input, "input");
        Tensor.requireNonNull(kernel, "kernel");
        input.ensureOpen("SemifieldConv");
        kernel.ensureOpen("SemifieldConv");
        if (!input.dtype().isFloatingPoint()) {
            throw new IllegalArgumentException("argument 'input': expected dtype FLOAT32 or FLOAT64, got " + input.dtype());
        }
        if (kernel.dtype() != input.dtype()) {
            throw new IllegalArgumentException("argument 'kernel': expected dtype " + input.dtype()
                    + " (the dtype of 'input'), got " + kernel.dtype());
        }
        outputShape(options, input.shape(), kernel.shape()); // checks the geometry
        return input.dtype();
    }

    private static void requireTensor(Tensor t, String name, DType dtype, long[] shape) {
        t.ensureOpen("SemifieldConv");
        if (t.dtype() != dtype) {
            throw new IllegalArgumentException("argument '" + name + "': expected dtype " + dtype + ", got " + t.dtype());
        }
        if (!Arrays.equals(t.shape(), shape)) {
            throw new IllegalArgumentException("argument '" + name + "': expected shape " + Arrays.toString(shape)
                    + ", got " + Arrays.toString(t.shape()));
        }
    }

    private static void requireProvenance(Options options, Tensor provenance, Tensor input, Tensor kernel) {
        if (!options.semifield().isTropical()) {
            throw new IllegalArgumentException("argument 'provenance': only the tropical semifields have one "
                    + "(semifield is " + options.semifield() + ")");
        }
        requireTensor(provenance, "provenance", DType.INT32, provenanceShape(options, input.shape(), kernel.shape()));
    }

    private static DType requireParams(QuadraticForm form, Tensor params) {
        Tensor.requireNonNull(form, "form");
        Tensor.requireNonNull(params, "params");
        params.ensureOpen("SemifieldConv");
        if (!params.dtype().isFloatingPoint()) {
            throw new IllegalArgumentException("argument 'params': expected dtype FLOAT32 or FLOAT64, got "
                    + params.dtype());
        }
        if (params.rank() != 3 || params.shape(2) != form.parameterCount()) {
            throw new IllegalArgumentException("argument 'params': expected shape (N0, N1, " + form.parameterCount()
                    + ") for " + form + ", got " + Arrays.toString(params.shape()));
        }
        return params.dtype();
    }

    private static void requireGrid(Tensor t, String name, DType dtype, Tensor params) {
        t.ensureOpen("SemifieldConv");
        if (t.dtype() != dtype) {
            throw new IllegalArgumentException("argument '" + name + "': expected dtype " + dtype + ", got " + t.dtype());
        }
        if (t.rank() != 4 || t.shape(0) != params.shape(0) || t.shape(1) != params.shape(1)) {
            throw new IllegalArgumentException("argument '" + name + "': expected shape (" + params.shape(0) + ", "
                    + params.shape(1) + ", kh, kw), got " + Arrays.toString(t.shape()));
        }
    }

    private static void requireOnDevice(Context context, Tensor[] tensors, String[] names) {
        Device device = context.device();
        for (int i = 0; i < tensors.length; i++) {
            if (tensors[i] != null && !tensors[i].device().equals(device)) {
                throw new IllegalArgumentException("argument '" + names[i] + "': tensor is on " + tensors[i].device()
                        + " but the context is on " + device);
            }
        }
    }

    // ---- the native call ----------------------------------------------------------------------

    @FunctionalInterface
    private interface ConvCall {
        int apply(MemorySegment context, Arena arena);
    }

    /** Keeps every tensor alive, builds descriptors in a confined arena, calls, checks the status. */
    private static void invoke(Context context, String operation, List<Tensor> tensors, ConvCall call) {
        List<Tensor> acquired = new ArrayList<>(tensors.size());
        try {
            for (Tensor t : tensors) {
                if (t != null) {
                    t.acquire(operation);
                    acquired.add(t);
                }
            }
            context.call(operation, h -> {
                try (Arena arena = Arena.ofConfined()) {
                    Native.check(call.apply(h, arena), h);
                }
                return null;
            });
        } finally {
            for (Tensor t : acquired) {
                t.release();
            }
        }
    }
}
