// CPU backend of the batched semiring matmul. It is the reference the CUDA kernels are tested
// against and the path CI and laptops run, so it is blocked for caches and written so the
// compiler vectorises the inner loops:
//   - operands are "prepared" per batch into contiguous row-major buffers (for LOG: the
//     exp-shifted operands EA, EB of the fast path described in matmul.h);
//   - a column block of B (K x kColumnBlock) is packed once and shared by all threads;
//   - threads own disjoint row groups of kRows rows and accumulate a kRows x kVector register
//     tile over k (the micro-kernel), so every output has one fixed summation order and the
//     result is independent of the thread count.
#include "matmul/matmul.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "core/context.h"
#include "core/error.h"

namespace sk::matmul {
namespace {

constexpr index_t kRows = 4;          // rows of the register tile
constexpr index_t kColumnBlock = 256;  // columns of B packed at once (multiple of every vector)
constexpr index_t kDepthBlock = 256;   // k extent that stays in cache per micro-kernel pass

// ---- the accumulate steps the micro-kernel is templated on -------------------------------------

// acc += a * b
template <class T>
struct RealStep {
    static constexpr bool kTracksIndex = false;
    static T init() { return T(0); }
    template <class I>
    static void apply(T &acc, I &, T a, T b, I) { acc += a * b; }
};

// acc = better(a + b, acc) ? a + b : acc, with a plain comparison (exact for finite inputs;
// rows/columns with NaN or opposite infinities are recomputed exactly afterwards).
template <class T, bool Max, bool TrackIndex>
struct SelectStep {
    static constexpr bool kTracksIndex = TrackIndex;
    static T init() { return Max ? -positive_infinity<T>() : positive_infinity<T>(); }
    template <class I>
    static void apply(T &acc, I &idx, T a, T b, I k) {
        const T v = a + b;
        const bool take = Max ? (v > acc) : (v < acc);
        acc = take ? v : acc;
        if (TrackIndex) {  // branch-free select, so the compiler vectorises it
            const I mask = -static_cast<I>(take);
            idx = (k & mask) | (idx & ~mask);
        }
    }
};

// One register tile: rows [0, R) of `a_rows` (each a contiguous row of length >= k_end) times
// the packed block `b_block` (row-major, `ldb` columns), columns [0, ldb) in groups of W.
template <class Step, class T, index_t R>
__attribute__((always_inline)) inline void micro_kernel(const T *const *a_rows, const T *b_block, index_t ldb, index_t k_begin,
                         index_t k_end, T *const *acc_rows, std::int32_t *const *idx_rows) {
    constexpr index_t W = 64 / sizeof(T);  // one 512-bit worth of columns per row
    // Indices live in registers as integers of T's width so compare-and-blend vectorises.
    using Lane = std::conditional_t<sizeof(T) == 4, std::int32_t, std::int64_t>;
    for (index_t j0 = 0; j0 < ldb; j0 += W) {
        T acc[R][W];
        Lane idx[R][W];
        for (index_t r = 0; r < R; ++r)
            for (index_t c = 0; c < W; ++c) {
                acc[r][c] = acc_rows[r][j0 + c];
                idx[r][c] = Step::kTracksIndex ? idx_rows[r][j0 + c] : 0;
            }
        for (index_t k = k_begin; k < k_end; ++k) {
            const T *b = b_block + k * ldb + j0;
            for (index_t r = 0; r < R; ++r) {
                const T a = a_rows[r][k];
                for (index_t c = 0; c < W; ++c)
                    Step::apply(acc[r][c], idx[r][c], a, b[c], static_cast<Lane>(k));
            }
        }
        for (index_t r = 0; r < R; ++r)
            for (index_t c = 0; c < W; ++c) {
                acc_rows[r][j0 + c] = acc[r][c];
                if (Step::kTracksIndex) idx_rows[r][j0 + c] = static_cast<std::int32_t>(idx[r][c]);
            }
    }
}

// The row-group kernel exists twice: compiled for AVX2+FMA and for baseline x86-64 (the build
// has no -march=native, so the library runs on any x86-64). The choice is made per call from
// the CPU's feature flags (GCC's target_clones("arch=...") dispatches on the CPU model and never
// picks the AVX2 clone on AMD EPYC, hence this explicit dispatch).
template <class Step, class T>
__attribute__((always_inline)) inline void row_group_body(const T *const *a_rows, index_t rows,
                                                          const T *b_block, index_t ldb,
                                                          index_t k_begin, index_t k_end,
                                                          T *const *acc_rows,
                                                          std::int32_t *const *idx_rows) {
    if (rows == kRows)
        micro_kernel<Step, T, kRows>(a_rows, b_block, ldb, k_begin, k_end, acc_rows, idx_rows);
    else
        for (index_t r = 0; r < rows; ++r)
            micro_kernel<Step, T, 1>(a_rows + r, b_block, ldb, k_begin, k_end, acc_rows + r,
                                     idx_rows + r);
}

#if defined(__x86_64__) && !defined(__SANITIZE_ADDRESS__)
template <class Step, class T>
__attribute__((target("avx2,fma"))) void row_group_avx2(const T *const *a_rows, index_t rows,
                                                        const T *b_block, index_t ldb,
                                                        index_t k_begin, index_t k_end,
                                                        T *const *acc_rows,
                                                        std::int32_t *const *idx_rows) {
    row_group_body<Step, T>(a_rows, rows, b_block, ldb, k_begin, k_end, acc_rows, idx_rows);
}

bool cpu_has_avx2_fma() {
    static const bool has = [] {
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    }();
    return has;
}
#endif

template <class Step, class T>
void row_group_kernel(const T *const *a_rows, index_t rows, const T *b_block, index_t ldb,
                      index_t k_begin, index_t k_end, T *const *acc_rows,
                      std::int32_t *const *idx_rows) {
#if defined(__x86_64__) && !defined(__SANITIZE_ADDRESS__)
    if (cpu_has_avx2_fma())
        return row_group_avx2<Step, T>(a_rows, rows, b_block, ldb, k_begin, k_end, acc_rows, idx_rows);
#endif
    row_group_body<Step, T>(a_rows, rows, b_block, ldb, k_begin, k_end, acc_rows, idx_rows);
}

// ---- operand preparation -----------------------------------------------------------------------

// A prepared operand: a contiguous row-major matrix, either the caller's memory (when it
// already is one) or a copy/transform in workspace.
template <class T>
struct Prepared {
    const T *data;
    index_t ld;  // row length in elements
};

template <class T>
bool is_row_major(const View3<const T> &v, index_t cols) {
    return v.stride_j == 1 && v.stride_i == cols;
}

// Copies a strided matrix (rows x cols) into dst (row-major), applying f to every element.
template <class T, class F>
void copy_matrix(sk_context &ctx, const T *src, index_t stride_i, index_t stride_j, index_t rows,
                 index_t cols, T *dst, F f) {
    ctx.pool().parallel_for(rows, std::max<index_t>(1, 16384 / std::max<index_t>(cols, 1)),
                            [&](index_t r0, index_t r1) {
                                for (index_t r = r0; r < r1; ++r)
                                    for (index_t c = 0; c < cols; ++c)
                                        dst[r * cols + c] = f(src[r * stride_i + c * stride_j]);
                            });
}

// ---- the blocked driver ------------------------------------------------------------------------

// Runs C-tile accumulation for one batch: out_acc/out_idx (m x n, row-major, in workspace)
// receive PLUS_k of the Step over prepared A (m x k) and B (k x n).
template <class Step, class T>
void blocked_product(sk_context &ctx, index_t m, index_t n, index_t k, Prepared<T> a,
                     Prepared<T> b, T *b_pack, T *out_acc, std::int32_t *out_idx) {
    for (index_t j0 = 0; j0 < n; j0 += kColumnBlock) {
        const index_t width = std::min(kColumnBlock, n - j0);
        constexpr index_t W = 64 / sizeof(T);
        const index_t ldb = (width + W - 1) / W * W;
        // Pack B[:, j0:j0+width] into k x ldb; padded columns are never stored.
        ctx.pool().parallel_for(k, 64, [&](index_t k0, index_t k1) {
            for (index_t t = k0; t < k1; ++t) {
                T *dst = b_pack + t * ldb;
                std::memcpy(dst, b.data + t * b.ld + j0, sizeof(T) * width);
                for (index_t c = width; c < ldb; ++c) dst[c] = Step::init();
            }
        });
        ctx.pool().parallel_for((m + kRows - 1) / kRows, 4, [&](index_t g0, index_t g1) {
            std::vector<T> tile(static_cast<std::size_t>(kRows * ldb));
            std::vector<std::int32_t> tile_idx(static_cast<std::size_t>(kRows * ldb));
            for (index_t g = g0; g < g1; ++g) {
                const index_t i0 = g * kRows;
                const index_t rows = std::min(kRows, m - i0);
                const T *a_rows[kRows];
                T *acc_rows[kRows];
                std::int32_t *idx_rows[kRows];
                for (index_t r = 0; r < rows; ++r) {
                    a_rows[r] = a.data + (i0 + r) * a.ld;
                    acc_rows[r] = tile.data() + r * ldb;
                    idx_rows[r] = tile_idx.data() + r * ldb;
                    std::fill(acc_rows[r], acc_rows[r] + ldb, Step::init());
                    std::fill(idx_rows[r], idx_rows[r] + ldb, -1);
                }
                for (index_t k0 = 0; k0 < k; k0 += kDepthBlock)
                    row_group_kernel<Step, T>(a_rows, rows, b_pack, ldb, k0,
                                              std::min(k, k0 + kDepthBlock), acc_rows, idx_rows);
                for (index_t r = 0; r < rows; ++r) {
                    std::memcpy(out_acc + (i0 + r) * n + j0, acc_rows[r], sizeof(T) * width);
                    if (Step::kTracksIndex)
                        std::memcpy(out_idx + (i0 + r) * n + j0, idx_rows[r],
                                    sizeof(std::int32_t) * width);
                }
            }
        });
    }
}

// Scratch for one batch of the blocked driver.
template <class T>
struct Scratch {
    Workspace::Lease a_lease, b_lease, pack_lease, acc_lease, idx_lease;
    T *a, *b, *pack, *acc;
    std::int32_t *idx;

    Scratch(sk_context &ctx, const Shape &s, bool need_idx) {
        auto &ws = ctx.workspace();
        a_lease = ws.acquire(sizeof(T) * s.m * s.k, "matmul: prepared A");
        b_lease = ws.acquire(sizeof(T) * s.k * s.n, "matmul: prepared B");
        pack_lease = ws.acquire(sizeof(T) * s.k * (kColumnBlock + 64), "matmul: packed B block");
        acc_lease = ws.acquire(sizeof(T) * s.m * s.n, "matmul: accumulators");
        if (need_idx) idx_lease = ws.acquire(sizeof(std::int32_t) * s.m * s.n, "matmul: argmax");
        a = a_lease.as<T>();
        b = b_lease.as<T>();
        pack = pack_lease.as<T>();
        acc = acc_lease.as<T>();
        idx = need_idx ? idx_lease.as<std::int32_t>() : nullptr;
    }
};

template <class T>
Prepared<T> prepare_plain(sk_context &ctx, View3<const T> v, index_t batch_index, index_t rows,
                          index_t cols, T *scratch) {
    const T *src = v.matrix(batch_index);
    if (is_row_major(v, cols)) return {src, cols};
    copy_matrix(ctx, src, v.stride_i, v.stride_j, rows, cols, scratch, [](T x) { return x; });
    return {scratch, cols};
}

// ---- per-semiring forward ---------------------------------------------------------------------

template <class T>
void forward_real(sk_context &ctx, const ForwardArgs<T> &p) {
    const Shape &s = p.shape;
    Scratch<T> w(ctx, s, false);
    for (index_t bi = 0; bi < s.batch; ++bi) {
        auto a = prepare_plain(ctx, p.a, bi, s.m, s.k, w.a);
        auto b = prepare_plain(ctx, p.b, bi, s.k, s.n, w.b);
        blocked_product<RealStep<T>, T>(ctx, s.m, s.n, s.k, a, b, w.pack, w.acc, nullptr);
        ctx.pool().parallel_for(s.m, 16, [&](index_t i0, index_t i1) {
            for (index_t i = i0; i < i1; ++i)
                for (index_t j = 0; j < s.n; ++j) p.c(bi, i, j) = w.acc[i * s.n + j];
        });
    }
}

// Per-row flags (bit 0 NaN, bit 1 +inf, bit 2 -inf) of a strided matrix, along rows or columns.
template <class T>
void nonfinite_flags(sk_context &ctx, const T *m, index_t stride_outer, index_t stride_inner,
                     index_t outer, index_t inner, std::uint8_t *flags) {
    ctx.pool().parallel_for(outer, 64, [&](index_t o0, index_t o1) {
        for (index_t o = o0; o < o1; ++o) {
            std::uint8_t f = 0;
            for (index_t t = 0; t < inner; ++t)
                f |= nonfinite_flag(static_cast<double>(m[o * stride_outer + t * stride_inner]));
            flags[o] = f;
        }
    });
}

template <class T, bool Max>
void forward_select(sk_context &ctx, const ForwardArgs<T> &p) {
    using S = std::conditional_t<Max, MaxSemiring<T>, MinSemiring<T>>;
    const Shape &s = p.shape;
    const bool want_idx = p.argmax.data != nullptr;
    Scratch<T> w(ctx, s, want_idx);
    std::vector<std::uint8_t> row_flags(static_cast<std::size_t>(s.m));
    std::vector<std::uint8_t> col_flags(static_cast<std::size_t>(s.n));
    for (index_t bi = 0; bi < s.batch; ++bi) {
        auto a = prepare_plain(ctx, p.a, bi, s.m, s.k, w.a);
        auto b = prepare_plain(ctx, p.b, bi, s.k, s.n, w.b);
        if (want_idx)
            blocked_product<SelectStep<T, Max, true>, T>(ctx, s.m, s.n, s.k, a, b, w.pack, w.acc,
                                                         w.idx);
        else
            blocked_product<SelectStep<T, Max, false>, T>(ctx, s.m, s.n, s.k, a, b, w.pack,
                                                          w.acc, nullptr);
        nonfinite_flags(ctx, a.data, a.ld, index_t(1), s.m, s.k, row_flags.data());
        nonfinite_flags(ctx, b.data, index_t(1), b.ld, s.n, s.k, col_flags.data());
        ctx.pool().parallel_for(s.m, 16, [&](index_t i0, index_t i1) {
            for (index_t i = i0; i < i1; ++i)
                for (index_t j = 0; j < s.n; ++j) {
                    T value = w.acc[i * s.n + j];
                    std::int32_t where = want_idx ? w.idx[i * s.n + j] : -1;
                    if (flags_need_exact(row_flags[i], col_flags[j]))
                        value = select_entry_exact<S>(a.data + i * a.ld, index_t(1), b.data + j,
                                                      b.ld, s.k, &where);
                    p.c(bi, i, j) = value;
                    if (want_idx) p.argmax(bi, i, j) = where;
                }
        });
    }
}

// Row maxima of A (m x k) and column maxima of B (k x n), turned into finite shifts.
template <class T>
void log_shifts(sk_context &ctx, Prepared<T> a, Prepared<T> b, const Shape &s, T *shift_a,
                T *shift_b) {
    ctx.pool().parallel_for(s.m, 16, [&](index_t i0, index_t i1) {
        for (index_t i = i0; i < i1; ++i) {
            T hi = -positive_infinity<T>();
            for (index_t t = 0; t < s.k; ++t) hi = std::max(hi, a.data[i * a.ld + t]);
            shift_a[i] = finite_shift(hi);
        }
    });
    std::fill(shift_b, shift_b + s.n, -positive_infinity<T>());
    for (index_t t = 0; t < s.k; ++t)
        for (index_t j = 0; j < s.n; ++j) shift_b[j] = std::max(shift_b[j], b.data[t * b.ld + j]);
    for (index_t j = 0; j < s.n; ++j) shift_b[j] = finite_shift(shift_b[j]);
}

// The exp-shifted operands of the log fast path: EA[i,k] = exp(A[i,k] - a_i), EB likewise.
template <class T>
void exp_shifted(sk_context &ctx, Prepared<T> a, Prepared<T> b, const Shape &s, const T *shift_a,
                 const T *shift_b, T *ea, T *eb) {
    ctx.pool().parallel_for(s.m, 16, [&](index_t i0, index_t i1) {
        for (index_t i = i0; i < i1; ++i)
            for (index_t t = 0; t < s.k; ++t) ea[i * s.k + t] = std::exp(a.data[i * a.ld + t] - shift_a[i]);
    });
    ctx.pool().parallel_for(s.k, 16, [&](index_t t0, index_t t1) {
        for (index_t t = t0; t < t1; ++t)
            for (index_t j = 0; j < s.n; ++j) eb[t * s.n + j] = std::exp(b.data[t * b.ld + j] - shift_b[j]);
    });
}

// Log-semiring operands of one batch, prepared (contiguous) plus shifts and exp-shifted copies.
template <class T>
struct LogOperands {
    Workspace::Lease plain_a, plain_b, exp_a, exp_b;
    Prepared<T> a, b;
    std::vector<T> shift_a, shift_b;
    T *ea, *eb;

    LogOperands(sk_context &ctx, View3<const T> va, View3<const T> vb, index_t bi, const Shape &s)
        : shift_a(static_cast<std::size_t>(s.m)), shift_b(static_cast<std::size_t>(s.n)) {
        auto &ws = ctx.workspace();
        plain_a = ws.acquire(sizeof(T) * s.m * s.k, "log matmul: prepared A");
        plain_b = ws.acquire(sizeof(T) * s.k * s.n, "log matmul: prepared B");
        exp_a = ws.acquire(sizeof(T) * s.m * s.k, "log matmul: exp-shifted A");
        exp_b = ws.acquire(sizeof(T) * s.k * s.n, "log matmul: exp-shifted B");
        a = prepare_plain(ctx, va, bi, s.m, s.k, plain_a.as<T>());
        b = prepare_plain(ctx, vb, bi, s.k, s.n, plain_b.as<T>());
        ea = exp_a.as<T>();
        eb = exp_b.as<T>();
        log_shifts(ctx, a, b, s, shift_a.data(), shift_b.data());
        exp_shifted(ctx, a, b, s, shift_a.data(), shift_b.data(), ea, eb);
    }
};

template <class T>
void forward_log(sk_context &ctx, const ForwardArgs<T> &p) {
    const Shape &s = p.shape;
    auto &ws = ctx.workspace();
    auto pack = ws.acquire(sizeof(T) * s.k * (kColumnBlock + 64), "log matmul: packed block");
    auto sums = ws.acquire(sizeof(T) * s.m * s.n, "log matmul: sums");
    for (index_t bi = 0; bi < s.batch; ++bi) {
        LogOperands<T> op(ctx, p.a, p.b, bi, s);
        T *sum = sums.as<T>();
        blocked_product<RealStep<T>, T>(ctx, s.m, s.n, s.k, {op.ea, s.k}, {op.eb, s.n},
                                        pack.as<T>(), sum, nullptr);
        ctx.pool().parallel_for(s.m, 16, [&](index_t i0, index_t i1) {
            for (index_t i = i0; i < i1; ++i)
                for (index_t j = 0; j < s.n; ++j) {
                    const T total = sum[i * s.n + j];
                    p.c(bi, i, j) = total >= LogFastPath<T>::floor
                                        ? op.shift_a[i] + op.shift_b[j] + std::log(total)
                                        : log_entry_exact(op.a.data + i * op.a.ld, index_t(1),
                                                          op.b.data + j, op.b.ld, s.k);
                }
        });
    }
}

template <class T>
void forward_boolean(sk_context &ctx, const ForwardArgs<T> &p) {
    const Shape &s = p.shape;
    for (index_t bi = 0; bi < s.batch; ++bi)
        ctx.pool().parallel_for(s.m, 4, [&](index_t i0, index_t i1) {
            for (index_t i = i0; i < i1; ++i)
                for (index_t j = 0; j < s.n; ++j)
                    p.c(bi, i, j) = semiring_entry_exact<BooleanSemiring<T>>(
                        &p.a(bi, i, 0), p.a.stride_j, &p.b(bi, 0, j), p.b.stride_i, s.k);
        });
}

// K = 0: every entry is the semiring zero (argmax -1).
template <class T>
void fill_zero(sk_context &ctx, const ForwardArgs<T> &p) {
    T zero = with_semiring<T>(p.semiring, [](auto sr) { return decltype(sr)::zero(); });
    for (index_t bi = 0; bi < p.shape.batch; ++bi)
        for (index_t i = 0; i < p.shape.m; ++i)
            for (index_t j = 0; j < p.shape.n; ++j) {
                p.c(bi, i, j) = zero;
                if (p.argmax.data) p.argmax(bi, i, j) = -1;
            }
    (void)ctx;
}


// ---- backward --------------------------------------------------------------------------------

// One batch of a problem as a batch-1 view.
template <class T>
View3<T> batch_slice(View3<T> v, index_t bi) {
    return View3<T>{v.matrix(bi), 0, v.stride_i, v.stride_j};
}

template <class T>
View3<T> transposed(View3<T> v) {
    return View3<T>{v.data, v.stride_b, v.stride_j, v.stride_i};
}

// Where one operand's gradient goes, batch by batch. For an operand with its own matrix per
// batch, batch bi is written straight into its slice; for a shared operand (stride_b 0 while
// batch > 1) each batch's term is computed into scratch and summed in batch order.
template <class T>
class GradientSink {
public:
    GradientSink(sk_context &ctx, View3<T> grad, index_t batch, index_t rows, index_t cols)
        : ctx_(ctx), grad_(grad), rows_(rows), cols_(cols),
          shared_(grad.data != nullptr && grad.stride_b == 0 && batch > 1) {
        if (shared_) {
            lease_ = ctx.workspace().acquire(sizeof(T) * rows * cols, "matmul backward: batch term");
            term_ = View3<T>{lease_.as<T>(), 0, cols, 1};
        }
    }
    bool wanted() const { return grad_.data != nullptr; }
    // The (rows x cols) batch-1 view that batch bi's gradient is written to.
    View3<T> target(index_t bi) const { return shared_ ? term_ : batch_slice(grad_, bi); }
    // Folds batch bi's term into a shared gradient (no-op otherwise).
    void commit(index_t bi) {
        if (!shared_) return;
        ctx_.pool().parallel_for(rows_, 16, [&](index_t i0, index_t i1) {
            for (index_t i = i0; i < i1; ++i)
                for (index_t j = 0; j < cols_; ++j)
                    grad_(0, i, j) = bi == 0 ? term_(0, i, j) : grad_(0, i, j) + term_(0, i, j);
        });
    }

private:
    sk_context &ctx_;
    View3<T> grad_;
    index_t rows_, cols_;
    bool shared_;
    Workspace::Lease lease_;
    View3<T> term_{};
};

// Runs per_batch(bi, sink_a, sink_b) for every batch, then folds shared gradients.
template <class T, class PerBatch>
void for_each_batch_gradient(sk_context &ctx, const BackwardArgs<T> &p, PerBatch per_batch) {
    const Shape &s = p.shape;
    GradientSink<T> sink_a(ctx, p.grad_a, s.batch, s.m, s.k);
    GradientSink<T> sink_b(ctx, p.grad_b, s.batch, s.k, s.n);
    for (index_t bi = 0; bi < s.batch; ++bi) {
        per_batch(bi, sink_a, sink_b);
        sink_a.commit(bi);
        sink_b.commit(bi);
    }
}

template <class T>
void backward_real(sk_context &ctx, const BackwardArgs<T> &p) {
    const Shape &s = p.shape;
    for_each_batch_gradient(ctx, p, [&](index_t bi, GradientSink<T> &ga, GradientSink<T> &gb) {
        if (ga.wanted()) {  // grad_a = grad_c B^T
            ForwardArgs<T> f{{1, s.m, s.k, s.n}, Semiring::Real, batch_slice(p.grad_c, bi),
                             transposed(batch_slice(p.b, bi)), ga.target(bi), {}};
            forward_real(ctx, f);
        }
        if (gb.wanted()) {  // grad_b = A^T grad_c
            ForwardArgs<T> f{{1, s.k, s.n, s.m}, Semiring::Real, transposed(batch_slice(p.a, bi)),
                             batch_slice(p.grad_c, bi), gb.target(bi), {}};
            forward_real(ctx, f);
        }
    });
}

// Log backward for one batch (see matmul.h): fast part through real products of the
// exp-shifted operands, exact part term by term for the entries the forward computed exactly.
template <class T>
struct LogBackwardBatch {
    sk_context &ctx;
    const BackwardArgs<T> &p;
    index_t bi;
    LogOperands<T> op;
    Workspace::Lease weight_lease;
    T *weight;                                    // W (m x n)
    std::vector<std::vector<index_t>> exact_cols;  // per row i: columns j of exact entries

    LogBackwardBatch(sk_context &c, const BackwardArgs<T> &args, index_t b)
        : ctx(c), p(args), bi(b), op(c, args.a, args.b, b, args.shape),
          exact_cols(static_cast<std::size_t>(args.shape.m)) {
        const Shape &s = p.shape;
        weight_lease = ctx.workspace().acquire(sizeof(T) * s.m * s.n, "log matmul backward: W");
        weight = weight_lease.as<T>();
        ctx.pool().parallel_for(s.m, 16, [&](index_t i0, index_t i1) {
            for (index_t i = i0; i < i1; ++i)
                for (index_t j = 0; j < s.n; ++j) {
                    bool exact = false;
                    weight[i * s.n + j] = log_backward_weight(
                        op.shift_a[i], op.shift_b[j], p.c(bi, i, j), p.grad_c(bi, i, j), &exact);
                    if (exact) exact_cols[static_cast<std::size_t>(i)].push_back(j);
                }
        });
    }

    T exact_term(index_t i, index_t t, index_t j) const {
        return log_term_gradient(op.a.data[i * op.a.ld + t], op.b.data[t * op.b.ld + j],
                                 p.c(bi, i, j), p.grad_c(bi, i, j));
    }

    // out (m x k) = EA (.) (W EB^T) + exact terms.
    void grad_a(View3<T> out) {
        const Shape &s = p.shape;
        auto eb_t = ctx.workspace().acquire(sizeof(T) * s.n * s.k, "log matmul backward: EB^T");
        auto product = ctx.workspace().acquire(sizeof(T) * s.m * s.k, "log matmul backward: W EB^T");
        auto pack = ctx.workspace().acquire(sizeof(T) * s.n * (kColumnBlock + 64), "log matmul backward: pack");
        copy_matrix(ctx, op.eb, index_t(1), s.n, s.n, s.k, eb_t.as<T>(), [](T x) { return x; });
        blocked_product<RealStep<T>, T>(ctx, s.m, s.k, s.n, {weight, s.n}, {eb_t.as<T>(), s.k},
                                        pack.as<T>(), product.as<T>(), nullptr);
        const T *pr = product.as<T>();
        ctx.pool().parallel_for(s.m, 16, [&](index_t i0, index_t i1) {
            for (index_t i = i0; i < i1; ++i)
                for (index_t t = 0; t < s.k; ++t) {
                    T g = op.ea[i * s.k + t] * pr[i * s.k + t];
                    for (index_t j : exact_cols[static_cast<std::size_t>(i)]) g += exact_term(i, t, j);
                    out(0, i, t) = g;
                }
        });
    }

    // out (k x n) = EB (.) (EA^T W) + exact terms.
    void grad_b(View3<T> out) {
        const Shape &s = p.shape;
        auto ea_t = ctx.workspace().acquire(sizeof(T) * s.k * s.m, "log matmul backward: EA^T");
        auto product = ctx.workspace().acquire(sizeof(T) * s.k * s.n, "log matmul backward: EA^T W");
        auto pack = ctx.workspace().acquire(sizeof(T) * s.m * (kColumnBlock + 64), "log matmul backward: pack");
        copy_matrix(ctx, op.ea, index_t(1), s.k, s.k, s.m, ea_t.as<T>(), [](T x) { return x; });
        blocked_product<RealStep<T>, T>(ctx, s.k, s.n, s.m, {ea_t.as<T>(), s.m}, {weight, s.n},
                                        pack.as<T>(), product.as<T>(), nullptr);
        const T *pr = product.as<T>();
        ctx.pool().parallel_for(s.k, 16, [&](index_t t0, index_t t1) {
            for (index_t t = t0; t < t1; ++t) {
                for (index_t j = 0; j < s.n; ++j) out(0, t, j) = op.eb[t * s.n + j] * pr[t * s.n + j];
                for (index_t i = 0; i < s.m; ++i)
                    for (index_t j : exact_cols[static_cast<std::size_t>(i)])
                        out(0, t, j) += exact_term(i, t, j);
            }
        });
    }
};

template <class T>
void backward_log(sk_context &ctx, const BackwardArgs<T> &p) {
    for_each_batch_gradient(ctx, p, [&](index_t bi, GradientSink<T> &ga, GradientSink<T> &gb) {
        LogBackwardBatch<T> batch(ctx, p, bi);
        if (ga.wanted()) batch.grad_a(ga.target(bi));
        if (gb.wanted()) batch.grad_b(gb.target(bi));
    });
}

// Caller-provided argmax entries index A's columns and B's rows: each must be in [-1, k).
inline void require_argmax_in_range(sk_context &ctx, View3<const std::int32_t> argmax, const Shape &s) {
    std::vector<std::int32_t> bad(static_cast<std::size_t>(s.m), 0);
    for (index_t bi = 0; bi < s.batch; ++bi)
        ctx.pool().parallel_for(s.m, 16, [&](index_t i0, index_t i1) {
            for (index_t i = i0; i < i1; ++i)
                for (index_t j = 0; j < s.n; ++j) {
                    const std::int32_t t = argmax(bi, i, j);
                    if (t < -1 || t >= s.k) bad[static_cast<std::size_t>(i)] = 1;
                }
        });
    for (index_t i = 0; i < s.m; ++i)
        if (bad[static_cast<std::size_t>(i)])
            fail(SK_ERROR_INVALID_ARGUMENT, "argument 'argmax': row %lld holds an index outside "
                 "[-1, %lld)", static_cast<long long>(i), static_cast<long long>(s.k));
}

// Max/min: grad_c[i,j] goes to A[i, argmax[i,j]] and B[argmax[i,j], j] (nothing where -1).
// Each output row (grad_a) or column (grad_b) is owned by one thread and summed in order.
template <class T>
void backward_select(sk_context &ctx, const BackwardArgs<T> &p) {
    const Shape &s = p.shape;
    View3<const std::int32_t> argmax = p.argmax;
    Workspace::Lease idx_lease, value_lease;
    if (!argmax.data) {
        idx_lease = ctx.workspace().acquire(sizeof(std::int32_t) * s.batch * s.m * s.n, "matmul backward: argmax");
        value_lease = ctx.workspace().acquire(sizeof(T) * s.batch * s.m * s.n, "matmul backward: values");
        View3<std::int32_t> idx{idx_lease.as<std::int32_t>(), s.m * s.n, s.n, 1};
        ForwardArgs<T> f{s, p.semiring, p.a, p.b, View3<T>{value_lease.as<T>(), s.m * s.n, s.n, 1}, idx};
        forward_cpu(ctx, f);
        argmax = idx.as_const();
    } else {
        require_argmax_in_range(ctx, argmax, s);
    }
    for_each_batch_gradient(ctx, p, [&](index_t bi, GradientSink<T> &ga, GradientSink<T> &gb) {
        if (ga.wanted()) {
            const View3<T> out = ga.target(bi);
            ctx.pool().parallel_for(s.m, 16, [&](index_t i0, index_t i1) {
                for (index_t i = i0; i < i1; ++i) {
                    for (index_t t = 0; t < s.k; ++t) out(0, i, t) = T(0);
                    for (index_t j = 0; j < s.n; ++j) {
                        const std::int32_t t = argmax(bi, i, j);
                        if (t >= 0) out(0, i, t) += p.grad_c(bi, i, j);
                    }
                }
            });
        }
        if (gb.wanted()) {
            const View3<T> out = gb.target(bi);
            ctx.pool().parallel_for(s.n, 16, [&](index_t j0, index_t j1) {
                for (index_t j = j0; j < j1; ++j) {
                    for (index_t t = 0; t < s.k; ++t) out(0, t, j) = T(0);
                    for (index_t i = 0; i < s.m; ++i) {
                        const std::int32_t t = argmax(bi, i, j);
                        if (t >= 0) out(0, t, j) += p.grad_c(bi, i, j);
                    }
                }
            });
        }
    });
}

}  // namespace

template <class T>
void forward_cpu(sk_context &ctx, const ForwardArgs<T> &p) {
    if (p.shape.k == 0) return fill_zero(ctx, p);
    switch (p.semiring) {
        case Semiring::Real: return forward_real(ctx, p);
        case Semiring::Log: return forward_log(ctx, p);
        case Semiring::Max: return forward_select<T, true>(ctx, p);
        case Semiring::Min: return forward_select<T, false>(ctx, p);
        case Semiring::Boolean: return forward_boolean(ctx, p);
    }
    fail(SK_ERROR_INTERNAL, "matmul: unhandled semiring %d", static_cast<int>(p.semiring));
}

template void forward_cpu<float>(sk_context &, const ForwardArgs<float> &);
template void forward_cpu<double>(sk_context &, const ForwardArgs<double> &);

}  // namespace sk::matmul

namespace sk::matmul {

template <class T>
void backward_cpu(sk_context &ctx, const BackwardArgs<T> &p) {
    if (p.shape.k == 0) return;  // grad_a is (m x 0) and grad_b (0 x n): nothing to write
    switch (p.semiring) {
        case Semiring::Real: return backward_real(ctx, p);
        case Semiring::Log: return backward_log(ctx, p);
        case Semiring::Max:
        case Semiring::Min: return backward_select(ctx, p);
        case Semiring::Boolean: break;
    }
    fail(SK_ERROR_UNSUPPORTED, "matmul backward: the %s semiring has no gradient",
         semiring_name(p.semiring));
}

template void backward_cpu<float>(sk_context &, const BackwardArgs<float> &);
template void backward_cpu<double>(sk_context &, const BackwardArgs<double> &);

template <class T>
void fill_cpu(sk_context &ctx, View3<T> v, index_t batch, index_t rows, index_t cols, T value) {
    const index_t matrices = v.stride_b == 0 ? 1 : batch;
    for (index_t bi = 0; bi < matrices; ++bi)
        ctx.pool().parallel_for(rows, 64, [&](index_t i0, index_t i1) {
            for (index_t i = i0; i < i1; ++i)
                for (index_t j = 0; j < cols; ++j) v(bi, i, j) = value;
        });
}

template void fill_cpu<float>(sk_context &, View3<float>, index_t, index_t, index_t, float);
template void fill_cpu<double>(sk_context &, View3<double>, index_t, index_t, index_t, double);

}  // namespace sk::matmul
