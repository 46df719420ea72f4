// Helpers for the einsum tests: a test-side description of an equation (written independently
// of the library's parser), a seeded generator of random valid equations, strided host
// tensors, and the naive long double reference that enumerates every assignment of every label
// (forward values, argmax, and the exact gradients of REAL, LOG and MAX/MIN).
#pragma once

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "test_util.h"

namespace sktest {

// An equation bound to shapes. Label ids: letters in order of first appearance in the operands,
// then the "..." dimensions (the library's documented argmax order).
struct Case {
    std::string equation;
    std::vector<std::vector<int>> dims;        // per operand, per dimension: label id
    std::vector<std::vector<int64_t>> shapes;  // per operand
    std::vector<int> output;                   // label ids in output order
    std::vector<int64_t> extent;               // per label id
    std::vector<int> summed;                   // label ids not in the output, ascending
    int num_labels() const { return static_cast<int>(extent.size()); }
};

// Reads a valid equation (letters, spaces, "...") for the given shapes.
inline Case make_case(const std::string &eq, const std::vector<std::vector<int64_t>> &shapes) {
    Case c;
    c.equation = eq;
    c.shapes = shapes;
    std::string s;
    for (char ch : eq)
        if (ch != ' ') s += ch;
    const auto arrow = s.find("->");
    std::vector<std::string> terms;
    std::string cur;
    for (char ch : s.substr(0, arrow)) {
        if (ch == ',') {
            terms.push_back(cur);
            cur.clear();
        } else {
            cur += ch;
        }
    }
    terms.push_back(cur);
    const std::string out = s.substr(arrow + 2);
    std::map<char, int> id;
    int n = 0;
    for (auto &t : terms)
        for (char ch : t)
            if (ch != '.' && !id.count(ch)) id[ch] = n++;
    int ell = 0;
    std::vector<int> term_ell(terms.size(), 0);
    for (size_t i = 0; i < terms.size(); ++i) {
        int letters = 0;
        for (char ch : terms[i]) letters += ch != '.';
        if (terms[i].find("...") != std::string::npos) term_ell[i] = static_cast<int>(shapes[i].size()) - letters;
        ell = std::max(ell, term_ell[i]);
    }
    c.extent.assign(static_cast<size_t>(n + ell), 1);
    for (size_t i = 0; i < terms.size(); ++i) {
        std::vector<int> dims;
        for (size_t p = 0; p < terms[i].size(); ++p) {
            if (terms[i][p] == '.') {
                for (int e = 0; e < term_ell[i]; ++e) dims.push_back(n + ell - term_ell[i] + e);
                p += 2;
            } else {
                dims.push_back(id[terms[i][p]]);
            }
        }
        for (size_t d = 0; d < dims.size(); ++d)
            if (shapes[i][d] != 1) c.extent[static_cast<size_t>(dims[d])] = shapes[i][d];
        c.dims.push_back(dims);
    }
    for (size_t p = 0; p < out.size(); ++p) {
        if (out[p] == '.') {
            for (int e = 0; e < ell; ++e) c.output.push_back(n + e);
            p += 2;
        } else {
            c.output.push_back(id[out[p]]);
        }
    }
    for (int l = 0; l < n + ell; ++l)
        if (std::find(c.output.begin(), c.output.end(), l) == c.output.end()) c.summed.push_back(l);
    return c;
}

// A random valid equation: 1-4 operands, letters of both cases, diagonals, "...", size-1
// broadcasting, scalars, occasionally an extent-0 label; at most `max_terms` assignments.
inline Case random_case(std::mt19937_64 &rng, int64_t max_terms = 4000, int max_extent = 3) {
    const std::string alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
    for (;;) {
        const int num_letters = pick(0, 5);
        std::vector<char> letters;
        while (static_cast<int>(letters.size()) < num_letters) {
            const char ch = alphabet[static_cast<size_t>(pick(0, 51))];
            if (std::find(letters.begin(), letters.end(), ch) == letters.end()) letters.push_back(ch);
        }
        std::vector<int64_t> letter_extent;
        for (int l = 0; l < num_letters; ++l) letter_extent.push_back(pick(0, 30) == 0 ? 0 : pick(1, max_extent));
        const bool use_ellipsis = pick(0, 4) == 0;
        const int ell_rank = use_ellipsis ? pick(0, 2) : 0;
        std::vector<int64_t> ell_extent;
        for (int e = 0; e < ell_rank; ++e) ell_extent.push_back(pick(1, max_extent));
        const int num_operands = pick(1, 4);
        std::string eq;
        std::vector<std::vector<int64_t>> shapes;
        std::vector<bool> letter_used(static_cast<size_t>(num_letters), false);
        for (int i = 0; i < num_operands; ++i) {
            if (i) eq += pick(0, 3) == 0 ? " , " : ",";
            const int rank = num_letters ? pick(0, 3) : 0;
            std::vector<int64_t> shape;
            const bool has_ell = use_ellipsis && pick(0, 2) != 0;
            const int ell_here = has_ell ? pick(0, ell_rank) : 0;
            const int ell_pos = pick(0, rank);
            for (int d = 0; d <= rank; ++d) {
                if (has_ell && d == ell_pos) {
                    eq += "...";
                    for (int e = ell_rank - ell_here; e < ell_rank; ++e)
                        shape.push_back(pick(0, 3) == 0 ? 1 : ell_extent[static_cast<size_t>(e)]);
                }
                if (d == rank) break;
                const int l = pick(0, num_letters - 1);
                letter_used[static_cast<size_t>(l)] = true;
                eq += letters[static_cast<size_t>(l)];
                if (pick(0, 5) == 0) eq += ' ';
                shape.push_back(pick(0, 4) == 0 ? 1 : letter_extent[static_cast<size_t>(l)]);
            }
            shapes.push_back(shape);
        }
        eq += pick(0, 3) == 0 ? " -> " : "->";
        std::vector<int> out_letters;
        for (int l = 0; l < num_letters; ++l)
            if (letter_used[static_cast<size_t>(l)] && pick(0, 1)) out_letters.push_back(l);
        std::shuffle(out_letters.begin(), out_letters.end(), rng);
        const int ell_out = use_ellipsis && pick(0, 3) != 0 ? pick(0, static_cast<int>(out_letters.size())) : -1;
        for (int p = 0; p <= static_cast<int>(out_letters.size()); ++p) {
            if (p == ell_out) eq += "...";
            if (p < static_cast<int>(out_letters.size())) eq += letters[static_cast<size_t>(out_letters[static_cast<size_t>(p)])];
        }
        Case c = make_case(eq, shapes);
        int64_t terms = 1;
        for (int64_t e : c.extent) terms *= std::max<int64_t>(e, 1);
        if (terms <= max_terms && c.extent.size() <= 7) return c;
    }
}

// A host tensor with the given shape whose strides follow a random dimension order (and a
// random gap), so kernels see non-contiguous operands.
template <class T>
HostTensor<T> strided_tensor(const std::vector<int64_t> &shape, std::mt19937_64 &rng, bool permute) {
    HostTensor<T> t(shape);
    const int r = static_cast<int>(shape.size());
    if (!permute || r == 0) return t;
    std::vector<int> order(static_cast<size_t>(r));
    std::iota(order.begin(), order.end(), 0);
    std::shuffle(order.begin(), order.end(), rng);
    const int64_t gap = std::uniform_int_distribution<int>(0, 1)(rng);
    int64_t stride = 1;
    for (int k = r - 1; k >= 0; --k) {
        const int d = order[static_cast<size_t>(k)];
        t.desc.strides[d] = stride;
        stride *= std::max<int64_t>(shape[static_cast<size_t>(d)], 1) + (k == r - 1 ? gap : 0);
    }
    t.storage.assign(static_cast<size_t>(std::max<int64_t>(stride, 1)), T(0));
    t.desc.data = t.storage.data();
    return t;
}

// Iterates over every index tuple of `shape` (row-major), calling f(index vector).
template <class F>
void for_each_index(const std::vector<int64_t> &shape, F &&f) {
    int64_t count = 1;
    for (int64_t e : shape) count *= e;
    std::vector<int64_t> idx(shape.size(), 0);
    for (int64_t n = 0; n < count; ++n) {
        int64_t flat = n;
        for (int d = static_cast<int>(shape.size()) - 1; d >= 0; --d) {
            idx[static_cast<size_t>(d)] = flat % shape[static_cast<size_t>(d)];
            flat /= shape[static_cast<size_t>(d)];
        }
        f(idx);
    }
}

template <class T>
int64_t offset_of(const sk_tensor &t, const std::vector<int64_t> &idx) {
    int64_t off = 0;
    for (int d = 0; d < t.rank; ++d) off += idx[static_cast<size_t>(d)] * t.strides[d];
    return off;
}

// The operand index of an assignment (a broadcast dimension reads index 0).
inline std::vector<int64_t> operand_index(const Case &c, size_t i, const std::vector<int64_t> &assign) {
    std::vector<int64_t> idx;
    for (size_t d = 0; d < c.dims[i].size(); ++d)
        idx.push_back(c.shapes[i][d] == 1 ? 0 : assign[static_cast<size_t>(c.dims[i][d])]);
    return idx;
}

inline std::vector<int64_t> output_shape(const Case &c) {
    std::vector<int64_t> s;
    for (int l : c.output) s.push_back(c.extent[static_cast<size_t>(l)]);
    return s;
}

// The reference: values (output row-major), argmax (output x S), and the gradients of
// sum_o g[o] out[o] for every operand (dense row-major over each operand's shape).
struct EinsumRef {
    std::vector<Ld> value;
    std::vector<Ld> magnitude;  // sum of |terms| (REAL) per output, for tolerances
    std::vector<int64_t> argmax;
    std::vector<std::vector<Ld>> grad;
};

template <class T>
EinsumRef reference_einsum(const Case &c, int32_t semiring, const std::vector<HostTensor<T> *> &ops,
                           const HostTensor<T> *grad_out, bool zero_gradient_nan = false) {
    const Ld inf = std::numeric_limits<Ld>::infinity();
    const auto out_shape = output_shape(c);
    int64_t out_count = 1;
    for (int64_t e : out_shape) out_count *= e;
    const size_t S = c.summed.size();
    EinsumRef r;
    r.value.assign(static_cast<size_t>(out_count), 0);
    r.magnitude.assign(static_cast<size_t>(out_count), 0);
    r.argmax.assign(static_cast<size_t>(out_count) * S, -1);
    std::vector<int64_t> sum_shape;
    for (int l : c.summed) sum_shape.push_back(c.extent[static_cast<size_t>(l)]);
    const bool sel = semiring == SK_SEMIRING_MAX || semiring == SK_SEMIRING_MIN;
    auto term_of = [&](const std::vector<int64_t> &assign) {
        Ld t = (semiring == SK_SEMIRING_REAL || semiring == SK_SEMIRING_BOOLEAN) ? 1 : 0;
        bool nan = false;
        for (size_t i = 0; i < ops.size(); ++i) {
            const Ld v = ops[i]->storage[static_cast<size_t>(offset_of<T>(ops[i]->desc, operand_index(c, i, assign)))];
            if (std::isnan(v)) nan = true;
            if (semiring == SK_SEMIRING_REAL) t *= v;
            else if (semiring == SK_SEMIRING_BOOLEAN) t = (t != 0 && v != 0) ? 1 : 0;
            else t += v;
        }
        return nan ? std::numeric_limits<Ld>::quiet_NaN() : t;
    };
    int64_t o = 0;
    for_each_index(out_shape, [&](const std::vector<int64_t> &oi) {
        std::vector<int64_t> assign(c.extent.size(), 0);
        for (size_t d = 0; d < c.output.size(); ++d) assign[static_cast<size_t>(c.output[d])] = oi[d];
        std::vector<Ld> terms;
        std::vector<std::vector<int64_t>> where;
        for_each_index(sum_shape, [&](const std::vector<int64_t> &si) {
            for (size_t s = 0; s < S; ++s) assign[static_cast<size_t>(c.summed[s])] = si[s];
            terms.push_back(term_of(assign));
            where.push_back(si);
        });
        Ld v = 0;
        bool nan = false;
        for (Ld t : terms) nan = nan || std::isnan(t);
        if (semiring == SK_SEMIRING_REAL) {
            for (Ld t : terms) {
                v += t;
                r.magnitude[static_cast<size_t>(o)] += std::fabs(t);
            }
        } else if (semiring == SK_SEMIRING_BOOLEAN) {
            for (Ld t : terms) v = (v != 0 || t != 0) ? 1 : 0;
            if (nan) v = std::numeric_limits<Ld>::quiet_NaN();
        } else if (semiring == SK_SEMIRING_LOG) {
            Ld hi = -inf;
            for (Ld t : terms) hi = std::max(hi, t);
            if (nan) v = std::numeric_limits<Ld>::quiet_NaN();
            else if (hi == -inf || hi == inf) v = hi;
            else {
                Ld s = 0;
                for (Ld t : terms) s += std::exp(t - hi);
                v = hi + std::log(s);
            }
        } else {
            const bool is_max = semiring == SK_SEMIRING_MAX;
            Ld best = is_max ? -inf : inf;
            int64_t at = -1;
            for (size_t n = 0; n < terms.size(); ++n) {
                if (std::isnan(terms[n])) {
                    best = terms[n];
                    at = static_cast<int64_t>(n);
                    break;
                }
                if (is_max ? terms[n] > best : terms[n] < best) {
                    best = terms[n];
                    at = static_cast<int64_t>(n);
                }
            }
            v = best;
            if (at >= 0)
                for (size_t s = 0; s < S; ++s) r.argmax[static_cast<size_t>(o) * S + s] = where[static_cast<size_t>(at)][s];
        }
        r.value[static_cast<size_t>(o)] = v;
        ++o;
    });
    if (!grad_out || semiring == SK_SEMIRING_BOOLEAN) return r;
    // Gradients: every assignment term contributes to the operand elements it reads.
    r.grad.resize(ops.size());
    for (size_t i = 0; i < ops.size(); ++i) {
        int64_t n = 1;
        for (int64_t e : c.shapes[i]) n *= e;
        r.grad[i].assign(static_cast<size_t>(n), 0);
    }
    auto dense = [&](size_t i, const std::vector<int64_t> &idx) {
        int64_t off = 0;
        for (size_t d = 0; d < idx.size(); ++d) off = off * c.shapes[i][d] + idx[d];
        return static_cast<size_t>(off);
    };
    std::vector<int64_t> all_shape = c.extent;
    std::vector<int64_t> assign;
    o = 0;
    for_each_index(out_shape, [&](const std::vector<int64_t> &oi) {
        const Ld g = grad_out->storage[static_cast<size_t>(offset_of<T>(grad_out->desc, oi))];
        const Ld z = r.value[static_cast<size_t>(o)];
        std::vector<int64_t> a(c.extent.size(), 0);
        for (size_t d = 0; d < c.output.size(); ++d) a[static_cast<size_t>(c.output[d])] = oi[d];
        if (sel) {
            const int64_t *am = r.argmax.data() + static_cast<size_t>(o) * S;
            const bool valid = S == 0 || am[0] >= 0;  // no summed variable: a plain sum of terms
            if (valid) {
                for (size_t s = 0; s < S; ++s) a[static_cast<size_t>(c.summed[s])] = am[s];
                for (size_t i = 0; i < ops.size(); ++i) r.grad[i][dense(i, operand_index(c, i, a))] += g;
            }
        } else {
            for_each_index(sum_shape, [&](const std::vector<int64_t> &si) {
                for (size_t s = 0; s < S; ++s) a[static_cast<size_t>(c.summed[s])] = si[s];
                for (size_t i = 0; i < ops.size(); ++i) {
                    Ld w;
                    if (semiring == SK_SEMIRING_REAL) {
                        w = 1;
                        for (size_t j = 0; j < ops.size(); ++j)
                            if (j != i) w *= ops[j]->storage[static_cast<size_t>(offset_of<T>(ops[j]->desc, operand_index(c, j, a)))];
                    } else if (z == -inf) {
                        w = zero_gradient_nan ? std::numeric_limits<Ld>::quiet_NaN() : 0;
                    } else {
                        w = std::exp(term_of(a) - z);
                    }
                    r.grad[i][dense(i, operand_index(c, i, a))] += g * w;
                }
            });
        }
        ++o;
    });
    return r;
}

// A plan for a Case (NULL on failure, reported).
inline sk_einsum_plan *make_plan(const Case &c, int32_t semiring, int32_t zero_gradient = 0,
                                 int64_t workspace_limit = 0) {
    sk_einsum_options o{};
    o.struct_size = sizeof(o);
    o.semiring = semiring;
    o.zero_gradient = zero_gradient;
    o.workspace_limit_bytes = workspace_limit;
    std::vector<int32_t> ranks;
    std::vector<int64_t> shapes;
    for (auto &s : c.shapes) {
        ranks.push_back(static_cast<int32_t>(s.size()));
        shapes.insert(shapes.end(), s.begin(), s.end());
    }
    sk_einsum_plan *plan = nullptr;
    CHECK_OK(sk_einsum_plan_create(c.equation.c_str(), static_cast<int32_t>(ranks.size()), ranks.data(),
                                   shapes.data(), &o, &plan));
    return plan;
}

// Random operand values for a semiring: REAL in [-1, 1]; LOG/MAX/MIN in [-2, 2] with some
// semiring zeros (-inf, +inf for MIN); BOOLEAN 0/1.
template <class T>
void fill_for(HostTensor<T> &t, int32_t semiring, std::mt19937_64 &rng, double zero_rate = 0.1) {
    std::uniform_real_distribution<double> u(0, 1);
    for (auto &x : t.storage) {
        const double r = u(rng);
        switch (semiring) {
            case SK_SEMIRING_REAL: x = static_cast<T>(2 * r - 1); break;
            case SK_SEMIRING_BOOLEAN: x = static_cast<T>(r < 0.5 ? 0 : 1); break;
            default:
                if (u(rng) < zero_rate)
                    x = semiring == SK_SEMIRING_MIN ? INFINITY : -INFINITY;
                else
                    x = static_cast<T>(4 * r - 2);
        }
    }
}

}  // namespace sktest
