// Semifield convolution: the problem description shared by the CPU and CUDA backends, the
// per-element math both run (__host__ __device__), and the backend entry points.
//
// Every spatial rank is handled as 3-D: a rank-r problem puts its axes last and gives the
// missing leading axes extent 1 (kernel 1, stride 1, dilation 1, no padding, stride 0 in the
// views). Conventions (semifields, geometry, provenance, gradients) are documented in the public
// header (native/include/semiring_kernels.h, "Semifield convolution family"); this file states
// the math it implements next to each function.
//
// Each output element, each input-gradient element and each kernel-gradient element is computed
// by one function below from the inputs alone (a gather): the CPU backend calls them from its
// thread pool, the CUDA backend from one thread per element (and, for the kernel gradient, one
// block per element with a fixed-order tree reduction). No element is accumulated into by two
// workers, so there are no atomics and results are deterministic.
#pragma once

#include <cmath>
#include <cstdint>

#include "core/common.h"
#include "semiring/semiring.h"

struct sk_context;

namespace sk::semiconv {

constexpr int kAxes = 3;  // spatial axes of the internal 3-D form

enum class Field : std::int32_t { TropicalMax = 0, TropicalMin = 1, Linear = 2, Root = 3, Log = 4 };

SK_HD bool is_tropical(Field f) { return f == Field::TropicalMax || f == Field::TropicalMin; }

// One spatial axis: input extent n, output extent m, kernel extent k, stride, dilation and the
// padding before the first input element. Tap t of output y reads input y*stride - pad + dil*t.
struct Axis {
    index_t n = 1, m = 1, k = 1, stride = 1, dilation = 1, pad_begin = 0;
};

// Output extent of an axis: floor((n + p_begin + p_end - d (k - 1) - 1) / s) + 1, or a value
// <= 0 when the padded input is shorter than the dilated kernel.
SK_HD index_t output_extent(index_t n, index_t k, index_t stride, index_t dilation,
                            index_t pad_begin, index_t pad_end) {
    const index_t span = n + pad_begin + pad_end - dilation * (k - 1) - 1;
    if (span < 0) return 0;
    return span / stride + 1;
}

// "same" padding: computed as for stride 1, total d (k - 1), the odd extra at the end.
SK_HD index_t same_pad_begin(index_t k, index_t dilation) { return dilation * (k - 1) / 2; }
SK_HD index_t same_pad_end(index_t k, index_t dilation) {
    return dilation * (k - 1) - same_pad_begin(k, dilation);
}

// The taps t in [lo, hi) of output position y that read an input position inside [0, n): the
// padded taps are skipped exactly by never visiting them.
struct TapRange {
    index_t lo, hi;
};
SK_HD TapRange valid_taps(const Axis &a, index_t y) {
    const index_t start = y * a.stride - a.pad_begin;  // input position of tap 0
    if (a.dilation == 1) {  // the common case, without the divisions below (same result)
        const index_t lo = start < 0 ? -start : 0;
        index_t hi = a.n - start;
        if (hi > a.k) hi = a.k;
        return {lo, hi < lo ? lo : hi};
    }
    index_t lo = 0;
    // ceil(-start / d) for -start >= 1, written so that a dilation near 2^63 (accepted when the
    // kernel has one tap: d (k - 1) = 0) cannot overflow.
    if (start < 0) lo = (-start - 1) / a.dilation + 1;
    const index_t last = a.n - 1 - start;  // start + d t <= n - 1
    index_t hi = last < 0 ? 0 : last / a.dilation + 1;
    if (hi > a.k) hi = a.k;
    if (hi < lo) hi = lo;
    return {lo, hi};
}

// Strided views over at most 6 dimensions (element offsets, like sk_tensor).
template <class T>
struct View5 {
    T *data = nullptr;
    index_t s[5] = {0, 0, 0, 0, 0};
    SK_HD T &operator()(index_t a, index_t b, index_t z, index_t y, index_t x) const {
        return data[a * s[0] + b * s[1] + z * s[2] + y * s[3] + x * s[4]];
    }
};
template <class T>
struct View6 {
    T *data = nullptr;
    index_t s[6] = {0, 0, 0, 0, 0, 0};
    SK_HD T &operator()(index_t a, index_t b, index_t c, index_t z, index_t y, index_t x) const {
        return data[a * s[0] + b * s[1] + c * s[2] + z * s[3] + y * s[4] + x * s[5]];
    }
};

template <class T>
SK_HD View5<const T> as_const(const View5<T> &v) {
    View5<const T> r;
    r.data = v.data;
    for (int d = 0; d < 5; ++d) r.s[d] = v.s[d];
    return r;
}
template <class T>
SK_HD View6<const T> as_const(const View6<T> &v) {
    View6<const T> r;
    r.data = v.data;
    for (int d = 0; d < 6; ++d) r.s[d] = v.s[d];
    return r;
}

// The validated problem (the C API layer checked every shape, so the backends trust it).
template <class T>
struct Problem {
    Field field = Field::TropicalMax;
    double p = 1, mu = 1;       // ROOT power, LOG temperature
    bool mirror = false;        // CONVOLUTION: kernel element k-1-t at tap t
    bool channels_add = false;  // tropical only: sum over channels of per-channel (+)
    bool broadcast = false;     // group broadcasting: kernel row o mod kernel_rows
    index_t batch = 0, in_channels = 0, out_channels = 0, groups = 1;
    index_t group_in = 0;     // C_in / groups (the kernel's second extent)
    index_t group_out = 0;    // C_out / groups
    index_t kernel_rows = 0;  // the kernel's first extent
    Axis axis[kAxes];
    View5<const T> input;   // (B, C_in, z, y, x)
    View5<const T> kernel;  // (kernel_rows, group_in, kz, ky, kx)

    SK_HD index_t kernel_volume() const { return axis[0].k * axis[1].k * axis[2].k; }
    SK_HD index_t output_volume() const { return axis[0].m * axis[1].m * axis[2].m; }
    SK_HD index_t input_volume() const { return axis[0].n * axis[1].n * axis[2].n; }
    SK_HD index_t kernel_row(index_t o) const { return broadcast ? o % group_out : o; }
    SK_HD index_t group_of_output(index_t o) const { return o / group_out; }
    // Kernel element used at tap t of axis a.
    SK_HD index_t kernel_index(int a, index_t t) const { return mirror ? axis[a].k - 1 - t : t; }
    SK_HD index_t flat_kernel(index_t kz, index_t ky, index_t kx) const {
        return (kz * axis[1].k + ky) * axis[2].k + kx;
    }
};

// ---- the semifields ---------------------------------------------------------------------------

// Tropical accumulators keep the winning term and its index; the first of equal terms wins and a
// NaN term wins over numbers (MaxSemiring/MinSemiring::better).
template <class T, bool Max>
struct SelectAccumulator {
    T best = Max ? -positive_infinity<T>() : positive_infinity<T>();
    std::int32_t where = -1;
    SK_HD void add(T v, std::int32_t tap) {
        const bool take = Max ? MaxSemiring<T>::better(v, best) : MinSemiring<T>::better(v, best);
        if (take) {
            best = v;
            where = tap;
        }
    }
    // add() for a caller that knows no term is NaN (then best is never NaN either and better()
    // is the plain strict comparison): two instructions fewer per term on the GPU.
    SK_HD void add_not_nan(T v, std::int32_t tap) {
        if (Max ? v > best : v < best) {
            best = v;
            where = tap;
        }
    }
    SK_HD T value() const { return best; }
};

template <class T>
struct SumAccumulator {
    T sum = T(0);
    SK_HD void add(T v, std::int32_t) { sum += v; }
    SK_HD T value() const { return sum; }
};

// Root semifield: (sum v^p)^(1/p) as m (sum (v/m)^p)^(1/p), m the dominant term so far (the
// largest for p > 0, the smallest for p < 0), rescaling the running sum when m changes, so
// every power is <= 1. Terms equal to the semifield's zero (0 for p > 0, +inf for p < 0) add
// nothing; a term +inf (p > 0) or 0 (p < 0) decides the result; NaN propagates.
template <class T>
struct RootAccumulator {
    T p;
    T m = T(0);
    T s = T(0);  // sum of (v/m)^p; 0 while no term was added
    bool nan = false, decided = false;
    SK_HD RootAccumulator() : p(T(1)) {}  // for arrays of accumulators; assigned before use
    SK_HD explicit RootAccumulator(T power) : p(power) {}
    SK_HD void add(T v, std::int32_t) {
        if (is_nan(v)) {
            nan = true;
            return;
        }
        const bool positive = p > T(0);
        if (positive ? v == T(0) : v == positive_infinity<T>()) return;  // the zero
        if (positive ? v == positive_infinity<T>() : v == T(0)) {
            decided = true;
            return;
        }
        if (s == T(0)) {
            m = v;
            s = T(1);
        } else if (positive ? v > m : v < m) {
            s = s * std::pow(m / v, p) + T(1);
            m = v;
        } else {
            s += std::pow(v / m, p);
        }
    }
    SK_HD T value() const {
        if (nan) return std::numeric_limits<T>::quiet_NaN();
        const bool positive = p > T(0);
        if (decided) return positive ? positive_infinity<T>() : T(0);
        if (s == T(0)) return positive ? T(0) : positive_infinity<T>();
        return m * std::pow(s, T(1) / p);
    }
};

// Log semifield: (1/mu) log sum exp(mu v) by the max-shifted online log-sum-exp of mu v; for
// either sign of mu the zero term has mu v = -inf.
template <class T>
struct LogAccumulator {
    T mu;
    LogSumExpAccumulator<T> acc;
    SK_HD LogAccumulator() : mu(T(1)) {}  // for arrays of accumulators; assigned before use
    SK_HD explicit LogAccumulator(T temperature) : mu(temperature) {}
    SK_HD void add(T v, std::int32_t) { acc.add(mu * v); }
    SK_HD T value() const { return acc.value() / mu; }
};

// The semifield types: times (the term), its partial derivatives, the accumulator, and the
// derivative of the output w.r.t. one term (the gradient weight of the smooth semifields).
template <class T>
struct TropicalMaxField {
    static constexpr bool kSelect = true;
    static constexpr bool kNeedsOutput = false;
    using Accumulator = SelectAccumulator<T, true>;
    SK_HD Accumulator accumulator() const { return {}; }
    SK_HD T times(T x, T w) const { return x + w; }
    // -inf + w = -inf never wins (strict comparison) unless w is +inf or NaN.
    SK_HD T padding_fill() const { return -positive_infinity<T>(); }
    SK_HD bool padding_is_no_op(T w) const { return w != positive_infinity<T>() && !is_nan(w); }
    // x + w is never NaN when x is not NaN or +inf and w is finite (-inf + finite = -inf).
    SK_HD bool input_keeps_terms_numeric(T x) const { return x == x && x != positive_infinity<T>(); }
    SK_HD T d_input(T, T) const { return T(1); }
    SK_HD T d_kernel(T, T) const { return T(1); }
};

template <class T>
struct TropicalMinField {
    static constexpr bool kSelect = true;
    static constexpr bool kNeedsOutput = false;
    using Accumulator = SelectAccumulator<T, false>;
    SK_HD Accumulator accumulator() const { return {}; }
    SK_HD T times(T x, T w) const { return x - w; }
    // +inf - w = +inf never wins unless w is +inf or NaN.
    SK_HD T padding_fill() const { return positive_infinity<T>(); }
    SK_HD bool padding_is_no_op(T w) const { return w != positive_infinity<T>() && !is_nan(w); }
    // x - w is never NaN when x is not NaN or -inf and w is finite (+inf - finite = +inf).
    SK_HD bool input_keeps_terms_numeric(T x) const { return x == x && x != -positive_infinity<T>(); }
    SK_HD T d_input(T, T) const { return T(1); }
    SK_HD T d_kernel(T, T) const { return T(-1); }
};

template <class T>
struct LinearField {
    static constexpr bool kSelect = false;
    static constexpr bool kNeedsOutput = false;  // d out / d term = 1: output not read
    using Accumulator = SumAccumulator<T>;
    SK_HD Accumulator accumulator() const { return {}; }
    SK_HD T times(T x, T w) const { return x * w; }
    // 0 * w = 0 adds nothing for finite w (it can turn a sum of -0 into +0: equal values).
    SK_HD T padding_fill() const { return T(0); }
    SK_HD bool padding_is_no_op(T w) const { return !is_nan(w) && w != positive_infinity<T>() && w != -positive_infinity<T>(); }
    SK_HD T d_input(T, T w) const { return w; }
    SK_HD T d_kernel(T x, T) const { return x; }
};

template <class T>
struct RootField {
    static constexpr bool kSelect = false;
    static constexpr bool kNeedsOutput = true;
    using Accumulator = RootAccumulator<T>;
    T p;
    SK_HD Accumulator accumulator() const { return Accumulator(p); }
    SK_HD T times(T x, T w) const { return x * w; }
    // The semifield's zero times w is that zero again (skipped by the accumulator): 0 * w = 0 for
    // finite w when p > 0; +inf * w = +inf for w > 0 when p < 0.
    SK_HD T padding_fill() const { return p > T(0) ? T(0) : positive_infinity<T>(); }
    SK_HD bool padding_is_no_op(T w) const {
        return p > T(0) ? (!is_nan(w) && w != positive_infinity<T>()) : w > T(0);
    }
    SK_HD T d_input(T, T w) const { return w; }
    SK_HD T d_kernel(T x, T) const { return x; }
    // d out / d v = (v / out)^(p - 1): from out^p = sum v^p. 0 where out is 0 or infinite and
    // for v = 0 with p < 1 (unbounded derivative); NaN propagates.
    SK_HD T weight(T v, T out) const {
        if (is_nan(v) || is_nan(out)) return std::numeric_limits<T>::quiet_NaN();
        if (out == T(0) || out == positive_infinity<T>()) return T(0);
        if (p == T(1)) return T(1);  // also for v = 0 (0^0 = 1; a device's fast pow gives NaN there)
        if (v == T(0) && p < T(1)) return T(0);
        return std::pow(v / out, p - T(1));
    }
};

template <class T>
struct LogField {
    static constexpr bool kSelect = false;
    static constexpr bool kNeedsOutput = true;
    using Accumulator = LogAccumulator<T>;
    T mu;
    SK_HD Accumulator accumulator() const { return Accumulator(mu); }
    SK_HD T times(T x, T w) const { return x + w; }
    // mu (fill + w) = -inf (skipped by the log-sum-exp) with fill = -inf for mu > 0, +inf for
    // mu < 0, unless w is the opposite infinity or NaN.
    SK_HD T padding_fill() const { return mu > T(0) ? -positive_infinity<T>() : positive_infinity<T>(); }
    SK_HD bool padding_is_no_op(T w) const {
        return !is_nan(w) && (mu > T(0) ? w != positive_infinity<T>() : w != -positive_infinity<T>());
    }
    SK_HD T d_input(T, T) const { return T(1); }
    SK_HD T d_kernel(T, T) const { return T(1); }
    // d out / d v = exp(mu (v - out)), the term's softmax share; 0 where out is infinite.
    SK_HD T weight(T v, T out) const {
        if (is_nan(v) || is_nan(out)) return std::numeric_limits<T>::quiet_NaN();
        if (out == positive_infinity<T>() || out == -positive_infinity<T>()) return T(0);
        return std::exp(mu * (v - out));
    }
};

// Calls f(FieldType{...}) for the problem's semifield.
template <class T, class F>
auto with_field(const Problem<T> &P, F &&f) {
    switch (P.field) {
        case Field::TropicalMax: return f(TropicalMaxField<T>{});
        case Field::TropicalMin: return f(TropicalMinField<T>{});
        case Field::Linear: return f(LinearField<T>{});
        case Field::Root: return f(RootField<T>{static_cast<T>(P.p)});
        case Field::Log: break;
    }
    return f(LogField<T>{static_cast<T>(P.mu)});
}

// ---- forward: one output element --------------------------------------------------------------

// Adds every non-padded term of channel c (local index c_local) of output (b, o, y) to acc, in
// increasing input position; the tap index is c_local * kernel_volume + flat kernel index
// (tap_base = c_local * kernel_volume, or 0 with channels_add).
template <class T, class F, class A>
SK_HD void accumulate_channel(const Problem<T> &P, const F &field, A &acc, index_t b, index_t o,
                              index_t c_local, index_t oz, index_t oy, index_t ox,
                              index_t tap_base) {
    const index_t ic = P.group_of_output(o) * P.group_in + c_local;
    const index_t row = P.kernel_row(o);
    const TapRange rz = valid_taps(P.axis[0], oz), ry = valid_taps(P.axis[1], oy),
                   rx = valid_taps(P.axis[2], ox);
    for (index_t tz = rz.lo; tz < rz.hi; ++tz) {
        const index_t iz = oz * P.axis[0].stride - P.axis[0].pad_begin + P.axis[0].dilation * tz;
        const index_t kz = P.kernel_index(0, tz);
        for (index_t ty = ry.lo; ty < ry.hi; ++ty) {
            const index_t iy = oy * P.axis[1].stride - P.axis[1].pad_begin + P.axis[1].dilation * ty;
            const index_t ky = P.kernel_index(1, ty);
            for (index_t tx = rx.lo; tx < rx.hi; ++tx) {
                const index_t ix = ox * P.axis[2].stride - P.axis[2].pad_begin + P.axis[2].dilation * tx;
                const index_t kx = P.kernel_index(2, tx);
                const T term = field.times(P.input(b, ic, iz, iy, ix), P.kernel(row, c_local, kz, ky, kx));
                acc.add(term, static_cast<std::int32_t>(tap_base + P.flat_kernel(kz, ky, kx)));
            }
        }
    }
}

// Where the forward writes: the output and, for the tropical semifields, the provenance
// (data == nullptr: not wanted). With channels_add the provenance has the channel axis.
template <class T>
struct ForwardOut {
    View5<T> output;
    View6<std::int32_t> provenance;
};

// Computes output element (b, o, oz, oy, ox) and its provenance.
template <class T, class F>
SK_HD void forward_element(const Problem<T> &P, const F &field, const ForwardOut<T> &out, index_t b,
                           index_t o, index_t oz, index_t oy, index_t ox) {
    if constexpr (F::kSelect) {
        if (P.channels_add) {  // sum over channels of each channel's selection
            T total = T(0);
            for (index_t c = 0; c < P.group_in; ++c) {
                auto acc = field.accumulator();
                accumulate_channel(P, field, acc, b, o, c, oz, oy, ox, 0);
                total += acc.value();
                if (out.provenance.data) out.provenance(b, o, c, oz, oy, ox) = acc.where;
            }
            out.output(b, o, oz, oy, ox) = total;
            return;
        }
    }
    auto acc = field.accumulator();
    const index_t volume = P.kernel_volume();
    for (index_t c = 0; c < P.group_in; ++c) accumulate_channel(P, field, acc, b, o, c, oz, oy, ox, c * volume);
    out.output(b, o, oz, oy, ox) = acc.value();
    if constexpr (F::kSelect) {
        if (out.provenance.data) out.provenance(b, o, 0, oz, oy, ox) = acc.where;
    }
}

// Flat output index -> (b, o, z, y, x), x fastest.
struct OutputIndex {
    index_t b, o, z, y, x;
};
template <class T>
SK_HD OutputIndex unflatten_output(const Problem<T> &P, index_t e) {
    OutputIndex r;
    r.x = e % P.axis[2].m;
    e /= P.axis[2].m;
    r.y = e % P.axis[1].m;
    e /= P.axis[1].m;
    r.z = e % P.axis[0].m;
    e /= P.axis[0].m;
    r.o = e % P.out_channels;
    r.b = e / P.out_channels;
    return r;
}

// ---- backward ---------------------------------------------------------------------------------

// What the backward reads besides the problem's inputs: the upstream gradient, the forward
// output (smooth semifields) and the provenance (tropical; with the channel axis when
// channels_add, else its stride is 0).
template <class T>
struct BackwardIn {
    View5<const T> grad_output;
    View5<const T> output;
    View6<const std::int32_t> provenance;
};

// The factor d out / d term of term v of one output, times that output's upstream gradient g,
// from the values the backward reads for it: `winner` (tropical: the provenance's tap id for the
// term's channel) and `out` (root, log: the forward output). Tropical semifields pass g only to
// the provenance's term; linear passes g to every term (its output is not read).
template <class T, class F>
SK_HD T routed_factor(const F &field, T g, std::int32_t winner, T out, std::int32_t tap, T v) {
    if constexpr (F::kSelect) {
        (void)out;
        (void)v;
        return winner == tap ? g : T(0);
    } else if constexpr (F::kNeedsOutput) {
        (void)winner;
        (void)tap;
        return g * field.weight(v, out);
    } else {
        (void)field;
        (void)winner;
        (void)out;
        (void)tap;
        (void)v;
        return g;
    }
}

// routed_factor for term v (channel c_local, tap id `tap`) of output (b, o, oz, oy, ox), reading
// what it needs from the backward's views.
template <class T, class F>
SK_HD T routed_gradient(const Problem<T> &P, const F &field, const BackwardIn<T> &in, index_t b,
                        index_t o, index_t c_local, index_t oz, index_t oy, index_t ox,
                        std::int32_t tap, T v) {
    const T g = in.grad_output(b, o, oz, oy, ox);
    std::int32_t winner = -1;
    T out = T(0);
    if constexpr (F::kSelect) winner = in.provenance(b, o, P.channels_add ? c_local : 0, oz, oy, ox);
    if constexpr (F::kNeedsOutput) out = in.output(b, o, oz, oy, ox);
    return routed_factor(field, g, winner, out, tap, v);
}

// The output position y of an axis whose tap t reads input position i, if any:
// y s - pad + d t = i with 0 <= y < m.
SK_HD bool output_for_tap(const Axis &a, index_t i, index_t t, index_t *y) {
    const index_t num = i + a.pad_begin - a.dilation * t;
    if (num < 0 || num % a.stride != 0) return false;
    *y = num / a.stride;
    return *y < a.m;
}

// d L / d input[b, ic, iz, iy, ix]: gathers over the output channels of ic's group and every
// tap whose window position reads this element.
template <class T, class F>
SK_HD T input_gradient_element(const Problem<T> &P, const F &field, const BackwardIn<T> &in,
                               index_t b, index_t ic, index_t iz, index_t iy, index_t ix) {
    const index_t g = ic / P.group_in, c_local = ic % P.group_in;
    const index_t volume = P.kernel_volume();
    const T x = P.input(b, ic, iz, iy, ix);
    T sum = T(0);
    for (index_t o = g * P.group_out; o < (g + 1) * P.group_out; ++o) {
        const index_t row = P.kernel_row(o);
        for (index_t tz = 0; tz < P.axis[0].k; ++tz) {
            index_t oz;
            if (!output_for_tap(P.axis[0], iz, tz, &oz)) continue;
            const index_t kz = P.kernel_index(0, tz);
            for (index_t ty = 0; ty < P.axis[1].k; ++ty) {
                index_t oy;
                if (!output_for_tap(P.axis[1], iy, ty, &oy)) continue;
                const index_t ky = P.kernel_index(1, ty);
                for (index_t tx = 0; tx < P.axis[2].k; ++tx) {
                    index_t ox;
                    if (!output_for_tap(P.axis[2], ix, tx, &ox)) continue;
                    const index_t kx = P.kernel_index(2, tx);
                    const index_t flat = P.flat_kernel(kz, ky, kx);
                    const T w = P.kernel(row, c_local, kz, ky, kx);
                    const auto tap = static_cast<std::int32_t>(P.channels_add ? flat : c_local * volume + flat);
                    const T factor = routed_gradient(P, field, in, b, o, c_local, oz, oy, ox, tap, field.times(x, w));
                    if (factor != T(0)) sum += factor * field.d_input(x, w);
                }
            }
        }
    }
    return sum;
}

// The kernel gradient of element (row, c_local, kz, ky, kx) is a sum over "items": every batch
// entry, every output channel using this kernel row, and every output position. item_count and
// kernel_gradient_item let the backends split that sum (the CPU in order, the CUDA backend over
// a block with a fixed reduction tree). Items whose tap reads padding contribute 0.
template <class T>
SK_HD index_t kernel_gradient_item_count(const Problem<T> &P) {
    return P.batch * (P.broadcast ? P.groups : 1) * P.output_volume();
}

template <class T, class F>
SK_HD T kernel_gradient_item(const Problem<T> &P, const F &field, const BackwardIn<T> &in,
                             index_t row, index_t c_local, index_t kz, index_t ky, index_t kx,
                             index_t item) {
    const index_t volume = P.output_volume();
    index_t pos = item % volume;
    index_t rest = item / volume;
    const index_t users = P.broadcast ? P.groups : 1;
    const index_t user = rest % users;
    const index_t b = rest / users;
    const index_t o = P.broadcast ? user * P.group_out + row : row;
    const index_t ox = pos % P.axis[2].m;
    pos /= P.axis[2].m;
    const index_t oy = pos % P.axis[1].m;
    const index_t oz = pos / P.axis[1].m;
    // Tap (step) of each axis that uses kernel element k, and the input position it reads.
    const index_t t[kAxes] = {P.kernel_index(0, kz), P.kernel_index(1, ky), P.kernel_index(2, kx)};
    const index_t y[kAxes] = {oz, oy, ox};
    index_t i[kAxes];
    for (int a = 0; a < kAxes; ++a) {
        i[a] = y[a] * P.axis[a].stride - P.axis[a].pad_begin + P.axis[a].dilation * t[a];
        if (i[a] < 0 || i[a] >= P.axis[a].n) return T(0);  // padded tap: no term
    }
    const index_t ic = P.group_of_output(o) * P.group_in + c_local;
    const T x = P.input(b, ic, i[0], i[1], i[2]);
    const T w = P.kernel(row, c_local, kz, ky, kx);
    const index_t flat = P.flat_kernel(kz, ky, kx);
    const auto tap = static_cast<std::int32_t>(P.channels_add ? flat : c_local * P.kernel_volume() + flat);
    const T factor = routed_gradient(P, field, in, b, o, c_local, oz, oy, ox, tap, field.times(x, w));
    return factor != T(0) ? factor * field.d_kernel(x, w) : T(0);
}

// Flat kernel index -> (row, c_local, kz, ky, kx), kx fastest.
struct KernelIndex {
    index_t row, c, z, y, x;
};
template <class T>
SK_HD KernelIndex unflatten_kernel(const Problem<T> &P, index_t e) {
    KernelIndex r;
    r.x = e % P.axis[2].k;
    e /= P.axis[2].k;
    r.y = e % P.axis[1].k;
    e /= P.axis[1].k;
    r.z = e % P.axis[0].k;
    e /= P.axis[0].k;
    r.c = e % P.group_in;
    r.row = e / P.group_in;
    return r;
}

// ---- quadratic kernels ------------------------------------------------------------------------
// Value -u^T S^-1 u at grid offset u = (y, x) (row, column) from the centre, and its derivatives
// w.r.t. the (at most 3) parameters. See the public header for the parameterisations.

enum class QuadraticForm : std::int32_t { Isotropic = 0, Anisotropic = 1, Cholesky = 2 };

SK_HD int quadratic_parameter_count(QuadraticForm f) { return f == QuadraticForm::Isotropic ? 1 : 3; }

// Returns the value; when grad is not null, grad[0..P) receives d value / d param.
template <class T>
SK_HD T quadratic_value(QuadraticForm form, const T *param, T y, T x, T *grad) {
    if (form == QuadraticForm::Isotropic) {
        // -(y^2 + x^2) e^{-2 l};  d/dl = 2 (y^2 + x^2) e^{-2 l}
        const T q = (y * y + x * x) * std::exp(T(-2) * param[0]);
        if (grad) grad[0] = T(2) * q;
        return -q;
    }
    if (form == QuadraticForm::Anisotropic) {
        // a = cos y + sin x, b = -sin y + cos x (coordinates along the rotated axes);
        // value = -(a^2 e1 + b^2 e2), e_i = e^{-2 l_i}; da/dtheta = b, db/dtheta = -a.
        const T c = std::cos(param[0]), s = std::sin(param[0]);
        const T a = c * y + s * x, bb = -s * y + c * x;
        const T e1 = std::exp(T(-2) * param[1]), e2 = std::exp(T(-2) * param[2]);
        if (grad) {
            grad[0] = T(-2) * a * bb * (e1 - e2);
            grad[1] = T(2) * a * a * e1;
            grad[2] = T(2) * bb * bb * e2;
        }
        return -(a * a * e1 + bb * bb * e2);
    }
    // Cholesky: p = y / s1, q = x / s2, rho = tanh(r), D = 1 - rho^2,
    // Q = (p^2 - 2 rho p q + q^2) / D, value = -Q;
    // d/dl1 = (2p^2 - 2 rho p q) / D, d/dl2 = (2q^2 - 2 rho p q) / D, d/dr = 2pq - 2 rho Q.
    const T p = y * std::exp(-param[0]), q = x * std::exp(-param[1]);
    const T rho = std::tanh(param[2]);
    const T d = T(1) - rho * rho;
    const T Q = (p * p - T(2) * rho * p * q + q * q) / d;
    if (grad) {
        grad[0] = (T(2) * p * p - T(2) * rho * p * q) / d;
        grad[1] = (T(2) * q * q - T(2) * rho * p * q) / d;
        grad[2] = T(2) * p * q - T(2) * rho * Q;
    }
    return -Q;
}

// Grid offset of index i along an axis of extent k: i - (k - 1) / 2.
template <class T>
SK_HD T grid_offset(index_t i, index_t k) {
    return static_cast<T>(i) - static_cast<T>(k - 1) / T(2);
}

// The quadratic problem: params (n0, n1, P), kernel / grad_kernel (n0, n1, kh, kw).
template <class T>
struct QuadraticProblem {
    QuadraticForm form = QuadraticForm::Isotropic;
    index_t n0 = 0, n1 = 0, kh = 0, kw = 0;
    const T *params = nullptr;
    index_t ps[3] = {0, 0, 0};
    SK_HD void load_params(index_t i0, index_t i1, T *out) const {
        for (int j = 0; j < quadratic_parameter_count(form); ++j) out[j] = params[i0 * ps[0] + i1 * ps[1] + j * ps[2]];
    }
};

// Kernel element e (flat over (n0, n1, kh, kw), kw fastest) -> value written into kernel.
template <class T>
SK_HD void quadratic_kernel_element(const QuadraticProblem<T> &Q, View5<T> kernel, index_t e) {
    const index_t j = e % Q.kw;
    index_t r = e / Q.kw;
    const index_t i = r % Q.kh;
    r /= Q.kh;
    const index_t i1 = r % Q.n1, i0 = r / Q.n1;
    T param[3];
    Q.load_params(i0, i1, param);
    kernel(i0, i1, 0, i, j) = quadratic_value<T>(Q.form, param, grid_offset<T>(i, Q.kh), grid_offset<T>(j, Q.kw), nullptr);
}

// Parameter gradients of pair e (flat over (n0, n1)): sum over the grid in row-major order.
template <class T>
SK_HD void quadratic_gradient_pair(const QuadraticProblem<T> &Q, View5<const T> grad_kernel,
                                   View5<T> grad_params, index_t e) {
    const index_t i1 = e % Q.n1, i0 = e / Q.n1;
    T param[3];
    Q.load_params(i0, i1, param);
    T sum[3] = {T(0), T(0), T(0)};
    for (index_t i = 0; i < Q.kh; ++i)
        for (index_t j = 0; j < Q.kw; ++j) {
            T d[3] = {T(0), T(0), T(0)};
            quadratic_value<T>(Q.form, param, grid_offset<T>(i, Q.kh), grid_offset<T>(j, Q.kw), d);
            const T g = grad_kernel(i0, i1, 0, i, j);
            for (int k = 0; k < quadratic_parameter_count(Q.form); ++k) sum[k] += g * d[k];
        }
    for (int k = 0; k < quadratic_parameter_count(Q.form); ++k) grad_params(i0, i1, 0, 0, k) = sum[k];
}

// ---- backend entry points (explicitly instantiated for float and double) ---------------------
// backward_*: grad_input / grad_kernel views with data == nullptr are not wanted. The
// provenance (tropical) and output (root, log) must be present: the C API layer recomputes
// them into the workspace when the caller passes NULL.
template <class T>
void forward_cpu(sk_context &ctx, const Problem<T> &P, const ForwardOut<T> &out);
template <class T>
void backward_cpu(sk_context &ctx, const Problem<T> &P, const BackwardIn<T> &in,
                  View5<T> grad_input, View5<T> grad_kernel);
// The root semifield's check: a (B, C, z, y, x) view to scan for negative values.
template <class T>
struct NegativeScan {
    View5<const T> view;
    index_t extent[5];
};
// Bit i of the result is set when scans[i] holds a negative value (count <= 32).
template <class T>
unsigned negative_scans_cpu(sk_context &ctx, const NegativeScan<T> *scans, int count);
template <class T>
void quadratic_kernel_cpu(sk_context &ctx, const QuadraticProblem<T> &Q, View5<T> kernel);
template <class T>
void quadratic_backward_cpu(sk_context &ctx, const QuadraticProblem<T> &Q, View5<const T> grad_kernel,
                            View5<T> grad_params);

template <class T>
void forward_cuda(sk_context &ctx, const Problem<T> &P, const ForwardOut<T> &out);
template <class T>
void backward_cuda(sk_context &ctx, const Problem<T> &P, const BackwardIn<T> &in,
                   View5<T> grad_input, View5<T> grad_kernel);
// As negative_scans_cpu, with one device synchronisation for all the scans.
template <class T>
unsigned negative_scans_cuda(sk_context &ctx, const NegativeScan<T> *scans, int count);
template <class T>
void quadratic_kernel_cuda(sk_context &ctx, const QuadraticProblem<T> &Q, View5<T> kernel);
template <class T>
void quadratic_backward_cuda(sk_context &ctx, const QuadraticProblem<T> &Q, View5<const T> grad_kernel,
                             View5<T> grad_params);

}  // namespace sk::semiconv
