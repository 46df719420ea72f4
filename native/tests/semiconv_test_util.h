// Shared by the semifield convolution tests: problem configurations, tensors for them, and the
// brute-force reference computed from the definitions in long double (every output element,
// every tap of the full kernel, padded taps skipped by bounds checks), written independently of
// the library's code.
#pragma once

#include <array>
#include <cstring>
#include <string>
#include <vector>

#include "test_util.h"

namespace sktest {

struct ConvCase {
    std::string name;
    int32_t semifield = SK_SEMIFIELD_TROPICAL_MAX;
    int rank = 2;
    int32_t kind = SK_SEMICONV_CORRELATION;
    int32_t padding_mode = SK_SEMICONV_PADDING_EXPLICIT;
    int64_t batch = 2, in_channels = 2, kernel_rows = 2, groups = 1;
    bool broadcast = false, channels_add = false;
    double p = 2, mu = 1;
    std::array<int64_t, 3> n{5, 5, 5}, k{3, 3, 3}, stride{1, 1, 1}, dilation{1, 1, 1};
    std::array<int64_t, 3> pad_begin{0, 0, 0}, pad_end{0, 0, 0};

    int64_t group_in() const { return in_channels / groups; }
    int64_t group_out() const { return broadcast ? kernel_rows : kernel_rows / groups; }
    int64_t out_channels() const { return broadcast ? kernel_rows * groups : kernel_rows; }
    bool tropical() const {
        return semifield == SK_SEMIFIELD_TROPICAL_MAX || semifield == SK_SEMIFIELD_TROPICAL_MIN;
    }
    // Padding actually applied on axis a (the documented rule for SAME, independent of the
    // library's code).
    int64_t pb(int a) const {
        if (padding_mode == SK_SEMICONV_PADDING_VALID) return 0;
        if (padding_mode == SK_SEMICONV_PADDING_SAME) return dilation[a] * (k[a] - 1) / 2;
        return pad_begin[a];
    }
    int64_t pe(int a) const {
        if (padding_mode == SK_SEMICONV_PADDING_VALID) return 0;
        if (padding_mode == SK_SEMICONV_PADDING_SAME) return dilation[a] * (k[a] - 1) - pb(a);
        return pad_end[a];
    }
    int64_t m(int a) const { return (n[a] + pb(a) + pe(a) - dilation[a] * (k[a] - 1) - 1) / stride[a] + 1; }

    sk_semiconv_options options() const {
        sk_semiconv_options o;
        std::memset(&o, 0, sizeof o);
        o.struct_size = sizeof(sk_semiconv_options);
        o.semifield = semifield;
        o.spatial_rank = rank;
        o.kind = kind;
        o.padding_mode = padding_mode;
        o.groups = static_cast<int32_t>(groups);
        o.group_broadcast = broadcast ? 1 : 0;
        o.channels_add = channels_add ? 1 : 0;
        o.p = p;
        o.mu = mu;
        for (int a = 0; a < rank; ++a) {
            o.stride[a] = stride[a];
            o.dilation[a] = dilation[a];
            o.padding_begin[a] = pad_begin[a];
            o.padding_end[a] = pad_end[a];
        }
        return o;
    }
    std::vector<int64_t> input_shape() const {
        std::vector<int64_t> s{batch, in_channels};
        for (int a = 0; a < rank; ++a) s.push_back(n[a]);
        return s;
    }
    std::vector<int64_t> kernel_shape() const {
        std::vector<int64_t> s{kernel_rows, group_in()};
        for (int a = 0; a < rank; ++a) s.push_back(k[a]);
        return s;
    }
    std::vector<int64_t> output_shape() const {
        std::vector<int64_t> s{batch, out_channels()};
        for (int a = 0; a < rank; ++a) s.push_back(m(a));
        return s;
    }
    std::vector<int64_t> provenance_shape() const {
        std::vector<int64_t> s{batch, out_channels()};
        if (channels_add) s.push_back(group_in());
        for (int a = 0; a < rank; ++a) s.push_back(m(a));
        return s;
    }
    int64_t kernel_volume() const {
        int64_t v = 1;
        for (int a = 0; a < rank; ++a) v *= k[a];
        return v;
    }
};

inline const char *semifield_label(int32_t f) {
    switch (f) {
        case SK_SEMIFIELD_TROPICAL_MAX: return "T+";
        case SK_SEMIFIELD_TROPICAL_MIN: return "T-";
        case SK_SEMIFIELD_LINEAR: return "linear";
        case SK_SEMIFIELD_ROOT: return "root";
        default: return "log";
    }
}

// Row-major multi-index helpers over a shape.
inline int64_t flat_index(const std::vector<int64_t> &shape, const std::vector<int64_t> &idx) {
    int64_t f = 0;
    for (size_t d = 0; d < shape.size(); ++d) f = f * shape[d] + idx[d];
    return f;
}
inline std::vector<int64_t> multi_index(const std::vector<int64_t> &shape, int64_t f) {
    std::vector<int64_t> idx(shape.size());
    for (size_t d = shape.size(); d-- > 0;) {
        idx[d] = f % shape[d];
        f /= shape[d];
    }
    return idx;
}
template <class T>
T &element(HostTensor<T> &t, const std::vector<int64_t> &idx) {
    int64_t off = 0;
    for (size_t d = 0; d < idx.size(); ++d) off += idx[d] * t.desc.strides[d];
    return t.storage[static_cast<size_t>(off)];
}
template <class T>
int64_t numel(const HostTensor<T> &t) {
    int64_t n = 1;
    for (int d = 0; d < t.desc.rank; ++d) n *= t.desc.shape[d];
    return n;
}

struct RefConv {
    std::vector<Ld> value;          // row-major over output_shape
    std::vector<int32_t> provenance;  // row-major over provenance_shape (tropical)
};

// One term of a window, in the documented scanning order.
struct RefTerm {
    Ld v;
    int32_t tap;
};

// Semifield sum of a list of terms, from the definitions; *where receives the first best term's
// tap for the tropical semifields (-1 if none beats the zero).
inline Ld reference_reduce(const ConvCase &cc, const std::vector<RefTerm> &terms, int32_t *where) {
    const Ld inf = std::numeric_limits<Ld>::infinity();
    const Ld nan = std::numeric_limits<Ld>::quiet_NaN();
    *where = -1;
    switch (cc.semifield) {
        case SK_SEMIFIELD_TROPICAL_MAX:
        case SK_SEMIFIELD_TROPICAL_MIN: {
            const bool max = cc.semifield == SK_SEMIFIELD_TROPICAL_MAX;
            Ld best = max ? -inf : inf;
            for (const auto &t : terms) {
                if (std::isnan(t.v)) {
                    if (!std::isnan(best)) {
                        best = t.v;
                        *where = t.tap;
                    }
                    continue;
                }
                if (std::isnan(best)) continue;
                if (max ? t.v > best : t.v < best) {
                    best = t.v;
                    *where = t.tap;
                }
            }
            return best;
        }
        case SK_SEMIFIELD_LINEAR: {
            Ld s = 0;
            for (const auto &t : terms) s += t.v;
            return s;
        }
        case SK_SEMIFIELD_ROOT: {
            const Ld p = cc.p;
            Ld s = 0;
            for (const auto &t : terms) {
                if (std::isnan(t.v)) return nan;
                s += std::pow(t.v, p);
            }
            return std::pow(s, 1 / p);
        }
        default: {
            const Ld mu = cc.mu;
            Ld hi = -inf;
            for (const auto &t : terms) {
                if (std::isnan(t.v)) return nan;
                hi = std::max(hi, mu * t.v);
            }
            if (hi == -inf || hi == inf) return hi / mu;
            Ld s = 0;
            for (const auto &t : terms) s += std::exp(mu * t.v - hi);
            return (hi + std::log(s)) / mu;
        }
    }
}

inline Ld reference_times(const ConvCase &cc, Ld x, Ld w) {
    switch (cc.semifield) {
        case SK_SEMIFIELD_TROPICAL_MIN: return x - w;
        case SK_SEMIFIELD_LINEAR:
        case SK_SEMIFIELD_ROOT: return x * w;
        default: return x + w;
    }
}

template <class T>
RefConv reference_semiconv(const ConvCase &cc, HostTensor<T> &input, HostTensor<T> &kernel) {
    RefConv r;
    const auto oshape = cc.output_shape();
    int64_t total = 1;
    for (auto e : oshape) total *= e;
    r.value.resize(static_cast<size_t>(total));
    const auto pshape = cc.provenance_shape();
    int64_t ptotal = 1;
    for (auto e : pshape) ptotal *= e;
    r.provenance.assign(static_cast<size_t>(ptotal), -1);
    const int64_t volume = cc.kernel_volume();
    std::vector<int64_t> kspatial(cc.k.begin(), cc.k.begin() + cc.rank);
    for (int64_t f = 0; f < total; ++f) {
        const auto oi = multi_index(oshape, f);
        const int64_t b = oi[0], o = oi[1];
        const int64_t g = o / cc.group_out();
        const int64_t row = cc.broadcast ? o % cc.group_out() : o;
        std::vector<std::vector<RefTerm>> per_channel(static_cast<size_t>(cc.group_in()));
        for (int64_t c = 0; c < cc.group_in(); ++c) {
            // taps in increasing input position = increasing step t, row-major over the axes
            for (int64_t step = 0; step < volume; ++step) {
                const auto t = multi_index(kspatial, step);
                std::vector<int64_t> in_idx{b, g * cc.group_in() + c};
                std::vector<int64_t> k_idx{row, c};
                bool inside = true;
                for (int a = 0; a < cc.rank; ++a) {
                    const int64_t i = oi[2 + a] * cc.stride[a] - cc.pb(a) + cc.dilation[a] * t[a];
                    if (i < 0 || i >= cc.n[a]) inside = false;
                    in_idx.push_back(i);
                    k_idx.push_back(cc.kind == SK_SEMICONV_CONVOLUTION ? cc.k[a] - 1 - t[a] : t[a]);
                }
                if (!inside) continue;
                std::vector<int64_t> kflat_idx(k_idx.begin() + 2, k_idx.end());
                const int64_t kflat = flat_index(kspatial, kflat_idx);
                const Ld v = reference_times(cc, element(input, in_idx), element(kernel, k_idx));
                per_channel[static_cast<size_t>(c)].push_back(
                    {v, static_cast<int32_t>(cc.channels_add ? kflat : c * volume + kflat)});
            }
        }
        if (cc.channels_add) {
            Ld sum = 0;
            for (int64_t c = 0; c < cc.group_in(); ++c) {
                int32_t where;
                sum += reference_reduce(cc, per_channel[static_cast<size_t>(c)], &where);
                std::vector<int64_t> pi{b, o, c};
                for (int a = 0; a < cc.rank; ++a) pi.push_back(oi[2 + a]);
                r.provenance[static_cast<size_t>(flat_index(pshape, pi))] = where;
            }
            r.value[static_cast<size_t>(f)] = sum;
        } else {
            std::vector<RefTerm> all;
            for (auto &pc : per_channel) all.insert(all.end(), pc.begin(), pc.end());
            int32_t where;
            r.value[static_cast<size_t>(f)] = reference_reduce(cc, all, &where);
            if (cc.tropical()) r.provenance[static_cast<size_t>(f)] = where;
        }
    }
    return r;
}

// Random inputs suited to the semifield (positive for the root semifield).
template <class T>
void fill_for(const ConvCase &cc, HostTensor<T> &t, std::mt19937_64 &rng) {
    if (cc.semifield == SK_SEMIFIELD_ROOT)
        fill_uniform(t, rng, 0.3, 2.0);
    else
        fill_uniform(t, rng, -2.0, 2.0);
}

// The configurations every semifield is checked on: 1-D, 2-D, 3-D; strides, dilations; every
// padding form (explicit asymmetric, valid, same with odd and even kernels and strides > 1);
// groups, group broadcasting; conv and corr; windows that are entirely padding.
inline std::vector<ConvCase> geometry_cases() {
    std::vector<ConvCase> v;
    {
        ConvCase c;
        c.name = "1d explicit (1,2) stride 2 corr";
        c.rank = 1;
        c.n = {9, 1, 1};
        c.k = {3, 1, 1};
        c.stride = {2, 1, 1};
        c.pad_begin = {1, 0, 0};
        c.pad_end = {2, 0, 0};
        v.push_back(c);
    }
    {
        ConvCase c;
        c.name = "1d same even kernel conv";
        c.rank = 1;
        c.kind = SK_SEMICONV_CONVOLUTION;
        c.padding_mode = SK_SEMICONV_PADDING_SAME;
        c.n = {8, 1, 1};
        c.k = {4, 1, 1};
        v.push_back(c);
    }
    {
        ConvCase c;
        c.name = "1d same even kernel stride 3 dilation 2 corr";
        c.rank = 1;
        c.padding_mode = SK_SEMICONV_PADDING_SAME;
        c.n = {10, 1, 1};
        c.k = {4, 1, 1};
        c.stride = {3, 1, 1};
        c.dilation = {2, 1, 1};
        v.push_back(c);
    }
    {
        ConvCase c;
        c.name = "1d padding wider than the kernel (all-padding windows)";
        c.rank = 1;
        c.n = {4, 1, 1};
        c.k = {2, 1, 1};
        c.pad_begin = {3, 0, 0};
        c.pad_end = {4, 0, 0};
        c.kind = SK_SEMICONV_CONVOLUTION;
        v.push_back(c);
    }
    {
        ConvCase c;
        c.name = "2d valid stride (1,2) dilation (2,1) conv";
        c.n = {7, 8, 1};
        c.k = {3, 2, 1};
        c.stride = {1, 2, 1};
        c.dilation = {2, 1, 1};
        c.padding_mode = SK_SEMICONV_PADDING_VALID;
        c.kind = SK_SEMICONV_CONVOLUTION;
        v.push_back(c);
    }
    {
        ConvCase c;
        c.name = "2d same (4,3) stride 2 groups 2 conv";
        c.n = {7, 6, 1};
        c.k = {4, 3, 1};
        c.stride = {2, 2, 1};
        c.padding_mode = SK_SEMICONV_PADDING_SAME;
        c.kind = SK_SEMICONV_CONVOLUTION;
        c.in_channels = 4;
        c.kernel_rows = 4;
        c.groups = 2;
        v.push_back(c);
    }
    {
        ConvCase c;
        c.name = "2d group broadcasting (3 kernel rows x 2 groups) corr";
        c.n = {5, 6, 1};
        c.k = {2, 3, 1};
        c.pad_begin = {1, 0, 0};
        c.pad_end = {0, 2, 0};
        c.in_channels = 4;
        c.kernel_rows = 3;
        c.groups = 2;
        c.broadcast = true;
        v.push_back(c);
    }
    {
        ConvCase c;
        c.name = "2d depthwise same 3x3";
        c.n = {6, 5, 1};
        c.padding_mode = SK_SEMICONV_PADDING_SAME;
        c.in_channels = 3;
        c.kernel_rows = 3;
        c.groups = 3;
        c.batch = 1;
        v.push_back(c);
    }
    {
        ConvCase c;
        c.name = "3d explicit stride (2,1,1) dilation (1,2,1) conv";
        c.rank = 3;
        c.n = {4, 6, 4};
        c.k = {2, 3, 2};
        c.stride = {2, 1, 1};
        c.dilation = {1, 2, 1};
        c.pad_begin = {1, 2, 0};
        c.pad_end = {0, 1, 1};
        c.kind = SK_SEMICONV_CONVOLUTION;
        c.batch = 1;
        v.push_back(c);
    }
    {
        ConvCase c;
        c.name = "3d same even kernel groups 2 broadcast";
        c.rank = 3;
        c.n = {3, 4, 5};
        c.k = {2, 2, 3};
        c.padding_mode = SK_SEMICONV_PADDING_SAME;
        c.in_channels = 2;
        c.kernel_rows = 1;
        c.groups = 2;
        c.broadcast = true;
        c.batch = 1;
        v.push_back(c);
    }
    return v;
}

// The semifield variants: both tropicals, linear, root with p > 0, p < 0 and p < 1, log with
// both signs of mu.
inline std::vector<ConvCase> with_semifields(const ConvCase &base) {
    std::vector<ConvCase> v;
    auto add = [&](int32_t f, double p, double mu) {
        ConvCase c = base;
        c.semifield = f;
        c.p = p;
        c.mu = mu;
        v.push_back(c);
    };
    add(SK_SEMIFIELD_TROPICAL_MAX, 2, 1);
    add(SK_SEMIFIELD_TROPICAL_MIN, 2, 1);
    add(SK_SEMIFIELD_LINEAR, 2, 1);
    add(SK_SEMIFIELD_ROOT, 3, 1);
    add(SK_SEMIFIELD_ROOT, -1.5, 1);
    add(SK_SEMIFIELD_ROOT, 0.7, 1);
    add(SK_SEMIFIELD_LOG, 2, 1.5);
    add(SK_SEMIFIELD_LOG, 2, -2);
    return v;
}

inline std::string describe(const ConvCase &c) {
    std::ostringstream os;
    os << c.name << " [" << semifield_label(c.semifield);
    if (c.semifield == SK_SEMIFIELD_ROOT) os << " p=" << c.p;
    if (c.semifield == SK_SEMIFIELD_LOG) os << " mu=" << c.mu;
    if (c.channels_add) os << " channels_add";
    os << "]";
    return os.str();
}

}  // namespace sktest
