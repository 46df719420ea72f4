// Device code of the HMM family's CUDA backend, and its launch orchestration. Included by
// hmm_cuda.cu (the host side); also compiled for the host against an emulation of the CUDA
// execution model (native/tests/hmm_kernel_emulation.cpp), which is how the kernels run on
// machines without a GPU. All shared memory is dynamic (extern), sized by the launches.
//
//   forward_chain_kernel / pair_chain_kernel: one block per (sequence, direction), the
//       latency-bound recurrence. The vector lives in shared memory, double-buffered, one
//       __syncthreads per step. Each output state is reduced by a group of R lanes of one warp
//       (R a power of two), which merge their partial log-sum-exps (or argmaxes) with
//       xor-shuffles. For N <= 64 every thread's terms of the next two steps are prefetched
//       into registers, so no load latency sits on a step's critical path; larger N streams the
//       terms in register chunks of 16. Normalisation: each warp reduces the maximum of its new
//       values into a shared slot, so a step's shift costs no extra barrier. pair_chain_kernel
//       runs the alpha chains (blocks [0, B)) and the beta chains (blocks [B, 2B)) at once.
//   node_kernel: one block per (sequence, position): posterior state marginals from the stored
//       alpha and beta, normalised per position (or the Viterbi path's one-hot).
//   edge_kernel: the edge form's gradient, every element of (B, T, N, N), fully parallel.
//   count_kernel + reduce_kernel: the factored form's expected transition counts; each thread
//       owns one (i, j) and sums a chunk of positions in float64; the chunks are added in a
//       fixed order (no atomics: bitwise reproducible). initial_kernel: the start gradient.
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "core/error.h"
#include "hmm/hmm.h"

namespace sk::hmm::gpu {

constexpr unsigned kFullMask = 0xffffffffu;
constexpr int kChunk = 16;           // register terms per thread per pass
constexpr int kPrefetchMaxStates = 64;
constexpr int kLeanTerms = 16;       // register terms per thread of the N <= 64 path (see chain_shape)

template <class T>
__device__ __forceinline__ T neg_inf() {
    return -positive_infinity<T>();
}

template <class T>
__device__ __forceinline__ LsePartial<T> shfl_xor(LsePartial<T> p, int offset) {
    return {__shfl_xor_sync(kFullMask, p.max, offset), __shfl_xor_sync(kFullMask, p.sum, offset)};
}

template <class T>
__device__ __forceinline__ T warp_max(T v) {
    for (int offset = 16; offset > 0; offset >>= 1) v = max_ignoring_nan(v, __shfl_xor_sync(kFullMask, v, offset));
    return v;
}

// Two-pass partial log-sum-exp of the first `count` of 16 register terms.
template <class T, int Size>
__device__ __forceinline__ LsePartial<T> chunk_lse(const T (&v)[Size], int count) {
    T m = neg_inf<T>();
#pragma unroll
    for (int k = 0; k < Size; ++k)
        if (k < count) m = max_ignoring_nan(m, v[k]);
    const T shift = finite_or_zero(m);
    T s = T(0);
#pragma unroll
    for (int k = 0; k < Size; ++k)
        if (k < count) s += std::exp(v[k] - shift);
    return {m, s};
}

// MAX over the first `count` register terms whose indices are first + k * step; strict
// better() in increasing index order keeps the lowest index on ties and the first NaN.
template <class T, int Size>
__device__ __forceinline__ void chunk_max(const T (&v)[Size], int count, int first, int step, T &best, int &arg) {
#pragma unroll
    for (int k = 0; k < Size; ++k)
        if (k < count && MaxSemiring<T>::better(v[k], best)) {
            best = v[k];
            arg = first + k * step;
        }
}

template <class T>
__device__ __forceinline__ void shfl_arg_merge(T &best, int &arg, int offset) {
    const T ob = __shfl_xor_sync(kFullMask, best, offset);
    const int oa = __shfl_xor_sync(kFullMask, arg, offset);
    if (arg_better(ob, oa, best, arg)) {
        best = ob;
        arg = oa;
    }
}

// ---- the chain ---------------------------------------------------------------------------------

template <class T>
struct ChainParams {
    Model<T> m;              // m.lengths is host memory: never read here
    const index_t *lengths;  // device
    int lanes;               // R: lanes per output state (a power of two <= 32)
    T *alpha;                // (B, steps, N) normalised alpha, or null
    T *alpha_shift;          // (B, steps) the shift that normalised it
    T *beta;                 // (B, steps, N) normalised beta, or null
    T *beta_shift;           // (B, steps)
    std::int32_t *bp;        // (B, steps, N) MAX backpointers, or null
    std::int32_t *path;      // (B, steps) Viterbi path (workspace), or null
    View2<std::int32_t> path_out;  // the caller's path, optional
    double *score;           // (B) log-partition / best score (workspace), or null
    View1<T> score_out;      // the caller's scores, optional
};

// Shared memory: vec[2][N], warp maxima [2][32], reduction scratch [2][32] of T, [32] of int.
template <class T>
std::size_t chain_smem(index_t n) {
    return static_cast<std::size_t>(2 * n + 128) * sizeof(T) + 32 * sizeof(int);
}

// The matrix terms one thread reduces: M_t[x, out] (forward) or M_t[out, x] (backward) for
// x = r + k R, at base + t * step_stride + k * term_stride. Edge form: the potentials of
// position t; factored form: the transition (step_stride 0; stride_b 0 when shared).
template <class T>
struct MatrixTerms {
    const T *base;
    index_t step_stride;
    index_t term_stride;
    __device__ __forceinline__ const T *at(index_t t) const { return base + t * step_stride; }
};

template <class T, bool Backward>
__device__ __forceinline__ MatrixTerms<T> matrix_terms(const Model<T> &m, index_t b, index_t out, int r, int lanes) {
    if (m.form == Form::Factored) {
        const View3<const T> &tr = m.transition;
        return {tr.data + b * tr.stride_b + (Backward ? out * tr.stride_i + r * tr.stride_j : r * tr.stride_i + out * tr.stride_j),
                0, static_cast<index_t>(lanes) * (Backward ? tr.stride_j : tr.stride_i)};
    }
    const View4<const T> &pot = m.potentials;
    return {pot.data + b * pot.s0 + (Backward ? out * pot.s2 + r * pot.s3 : r * pot.s2 + out * pot.s3), pot.s1,
            static_cast<index_t>(lanes) * (Backward ? pot.s3 : pot.s2)};
}

// The recurrence of sequence b in one direction. Forward: alpha_0 = start scores, then
// alpha_s from alpha_{s-1} with M_s. Backward: beta_{L-1} = 0, then step s gives
// beta_{L-1-s} from beta_{L-s} with M_{L-s}. Every vector is kept normalised (its shift
// subtracted on read), the shifts summed in float64.
template <class T, bool Max, bool Backward, bool Prefetch>
__device__ __forceinline__ void chain_body(const ChainParams<T> &p, index_t b) {
    extern __shared__ __align__(16) unsigned char smem_raw[];
    const Model<T> &m = p.m;
    const index_t n = m.shape.states, steps = m.shape.steps;
    const index_t length = p.lengths[b];
    T *vec = reinterpret_cast<T *>(smem_raw);
    T *wmax = vec + 2 * n;        // [2][32]
    T *red = wmax + 64;           // [2][32]
    int *red_i = reinterpret_cast<int *>(red + 64);
    const int tid = threadIdx.x, nthreads = blockDim.x, lane = tid & 31, warp = tid >> 5;
    const int nwarps = (nthreads + 31) >> 5;
    const int lanes = p.lanes, r = tid & (lanes - 1), group = tid / lanes, groups = nthreads / lanes;
    const int my_terms = r < n ? static_cast<int>((n - 1 - r) / lanes + 1) : 0;  // indices r, r + R, ...
    T *stored = Backward ? p.beta : p.alpha;
    T *stored_shift = Backward ? p.beta_shift : p.alpha_shift;
    const std::size_t base = static_cast<std::size_t>(b) * steps;

    T local = neg_inf<T>();
    for (index_t j = tid; j < n; j += nthreads) {
        const T v = Backward ? T(0) : m.start_score(b, j);
        vec[j] = v;
        local = max_ignoring_nan(local, v);
    }
    local = warp_max(local);
    if (lane == 0) wmax[warp] = local;
    __syncthreads();
    auto shift_from = [&](int parity) {
        T mx = neg_inf<T>();
        for (int w = 0; w < nwarps; ++w) mx = max_ignoring_nan(mx, wmax[parity * 32 + w]);
        return step_shift(mx);
    };
    T shift = shift_from(0);
    double offset = static_cast<double>(shift);
    // Writes the normalised vector of chain step s (read-only until two steps later).
    auto store_vector = [&](const T *v, index_t s, T sh) {
        if (!stored) return;
        const index_t time = Backward ? length - 1 - s : s;
        for (index_t j = tid; j < n; j += nthreads) stored[(base + time) * n + j] = v[j] - sh;
        if (tid == 0) stored_shift[base + time] = sh;
    };
    store_vector(vec, 0, shift);

    // A term of the reduction from the current vector and the loaded matrix entry.
    auto combine = [&](const T *cur, index_t x, T mat, T em) {
        // Same grouping as the CPU: forward (alpha - shift) + M; backward M + (e + (beta - shift)).
        return Backward ? mat + (em + (cur[x] - shift)) : (cur[x] - shift) + mat;
    };

    // The end of chain step s: the block maximum of the new vector (per-warp maxima through
    // parity-double-buffered slots, one barrier), its shift into the float64 offset, the store.
    auto end_step = [&](index_t s, T thread_max, const T *nxt) {
        thread_max = warp_max(thread_max);
        if (lane == 0) wmax[(s & 1) * 32 + warp] = thread_max;
        __syncthreads();
        shift = shift_from(static_cast<int>(s & 1));
        offset += static_cast<double>(shift);
        store_vector(nxt, s, shift);
    };

    // The generic step (N > 64): terms streamed from memory in register chunks of kStream,
    // software-pipelined: chunk c + 1's loads are issued before chunk c is reduced, and
    // addresses are a per-thread base plus multiples of one stride (MatrixTerms).
    constexpr int kStream = sizeof(T) == 4 ? kChunk : kChunk / 2;  // float64: 4 x 16 would spill
    auto step = [&](index_t s) {
        const T *cur = vec + ((s - 1) & 1) * n;
        T *nxt = vec + (s & 1) * n;
        const index_t t = Backward ? length - s : s;  // position of the step matrix
        T thread_max = neg_inf<T>();
        for (index_t out0 = 0; out0 < n; out0 += groups) {  // uniform across the block
            const index_t out = out0 + group;
            const bool active = out < n;
            const MatrixTerms<T> terms = matrix_terms<T, Backward>(m, b, out, r, lanes);
            const T *row = terms.at(t);
            const T *em_row = Backward ? m.emission.data + b * m.emission.stride_b + t * m.emission.stride_i +
                                             r * m.emission.stride_j
                                       : nullptr;
            const index_t em_stride = static_cast<index_t>(lanes) * m.emission.stride_j;
            const bool factored = m.form == Form::Factored;
            // The forward's emission is added after the reduction; loaded now so that its
            // latency overlaps the reduction.
            const T emission = (!Backward && active) ? m.step_emission(b, t, out) : T(0);
            T mat[kStream], em[kStream], next_mat[kStream], next_em[kStream];
            auto load_chunk = [&](int k0, T (&dm)[kStream], T (&de)[kStream]) {
                const int count = active ? min(kStream, my_terms - k0) : 0;
#pragma unroll
                for (int k = 0; k < kStream; ++k) {
                    if (k < count) {
                        dm[k] = row[(k0 + k) * terms.term_stride];
                        de[k] = (Backward && factored) ? em_row[(k0 + k) * em_stride] : T(0);
                    }
                }
            };
            load_chunk(0, next_mat, next_em);
            LsePartial<T> part = lse_empty<T>();
            T best = neg_inf<T>();
            int arg = -1;
            for (int k0 = 0; k0 < my_terms; k0 += kStream) {
                const int count = active ? min(kStream, my_terms - k0) : 0;
#pragma unroll
                for (int k = 0; k < kStream; ++k) {
                    mat[k] = next_mat[k];
                    em[k] = next_em[k];
                }
                if (k0 + kStream < my_terms) load_chunk(k0 + kStream, next_mat, next_em);
                T v[kStream];
#pragma unroll
                for (int k = 0; k < kStream; ++k) {
                    const index_t x = min(r + static_cast<index_t>(k0 + k) * lanes, n - 1);
                    v[k] = k < count ? combine(cur, x, mat[k], em[k]) : neg_inf<T>();
                }
                if (Max)
                    chunk_max(v, kStream, r + k0 * lanes, lanes, best, arg);
                else
                    part = lse_merge(part, chunk_lse(v, kStream));
            }
            T raw;
            if (Max) {
                for (int o = 1; o < lanes; o <<= 1) shfl_arg_merge(best, arg, o);
                raw = best;
            } else {
                for (int o = 1; o < lanes; o <<= 1) part = lse_merge(part, shfl_xor(part, o));
                raw = lse_value(part);
            }
            if (!Backward) raw = raw + emission;
            if (active && r == 0) {
                nxt[out] = raw;
                if (Max && p.bp) p.bp[(base + t) * n + out] = arg;
            }
            if (active) thread_max = max_ignoring_nan(thread_max, raw);
        }
        end_step(s, thread_max, nxt);
    };

    if constexpr (Prefetch) {
        // N <= 64: one pass (groups >= n) and at most kLeanTerms terms per thread, every loop over
        // the terms unrolled with no branch on the term index: terms past the thread's count
        // are -inf (exp gives an exact 0, max and argmax ignore them), so the arithmetic is the
        // generic step's, term for term. Addresses are a base plus compile-time multiples of one
        // stride. Edge form: the matrix terms of the next kDepth steps wait in register buffers
        // (loads issued kDepth steps ahead, off the critical path); factored form: the
        // transition terms are loaded once and only the emissions stream.
        const index_t out = group;
        const bool active = out < n;
        const int count = active ? my_terms : 0;
        auto run = [&](auto factored_tag) {
            constexpr bool kFactored = decltype(factored_tag)::value;
            constexpr int kDepth = sizeof(T) == 4 ? 4 : 2;  // float64 at 4 would spill (512 threads, 128 registers)
            T fixed[kLeanTerms];
            T buf[kDepth][kLeanTerms];
#pragma unroll
            for (int k = 0; k < kLeanTerms; ++k) {
                fixed[k] = T(0);
#pragma unroll
                for (int d = 0; d < kDepth; ++d) buf[d][k] = T(0);
            }
            const MatrixTerms<T> terms = matrix_terms<T, Backward>(m, b, out, r, lanes);
            if constexpr (kFactored) {
#pragma unroll
                for (int k = 0; k < kLeanTerms; ++k) {
                    if (k < count) fixed[k] = terms.base[k * terms.term_stride];
                }
            }
            // Buffer contents of chain step s: edge, M_t's terms; factored backward, the
            // emissions of the terms' states; factored forward, the emission of `out` (slot 0).
            auto load = [&](index_t s, T (&dst)[kLeanTerms]) {
                if (s >= length) return;
                const index_t t = Backward ? length - s : s;
                if constexpr (!kFactored) {
                    const T *row = terms.at(t);
#pragma unroll
                    for (int k = 0; k < kLeanTerms; ++k)
                        if (k < count) dst[k] = row[k * terms.term_stride];
                } else if constexpr (Backward) {
#pragma unroll
                    for (int k = 0; k < kLeanTerms; ++k)
                        if (k < count) dst[k] = m.emission(b, t, r + static_cast<index_t>(k) * lanes);
                } else {
                    if (active) dst[0] = m.emission(b, t, out);
                }
            };
            auto lean_step = [&](index_t s, const T (&src)[kLeanTerms]) {
                const T *cur = vec + ((s - 1) & 1) * n;
                T *nxt = vec + (s & 1) * n;
                const index_t t = Backward ? length - s : s;
                T v[kLeanTerms];
#pragma unroll
                for (int k = 0; k < kLeanTerms; ++k) {
                    // Clamped so that padded terms read a valid slot; their value is replaced.
                    const index_t x = min(r + static_cast<index_t>(k) * lanes, n - 1);
                    const T c = cur[x] - shift;
                    const T mat = kFactored ? fixed[k] : src[k];
                    const T em = (kFactored && Backward) ? src[k] : T(0);
                    // Same grouping as the CPU: forward (alpha - shift) + M; backward M + (e + (beta - shift)).
                    const T term = Backward ? mat + (em + c) : c + mat;
                    v[k] = k < count ? term : neg_inf<T>();
                }
                T raw;
                int arg = -1;
                if constexpr (Max) {
                    T best = neg_inf<T>();
                    chunk_max(v, kLeanTerms, r, lanes, best, arg);
                    for (int o = 1; o < lanes; o <<= 1) shfl_arg_merge(best, arg, o);
                    raw = best;
                } else {
                    LsePartial<T> part = chunk_lse(v, kLeanTerms);
                    for (int o = 1; o < lanes; o <<= 1) part = lse_merge(part, shfl_xor(part, o));
                    raw = lse_value(part);
                }
                if (!Backward) raw = raw + ((kFactored && active) ? src[0] : T(0));
                if (active && r == 0) {
                    nxt[out] = raw;
                    if (Max && p.bp) p.bp[(base + t) * n + out] = arg;
                }
                end_step(s, active ? raw : neg_inf<T>(), nxt);
            };
#pragma unroll
            for (int d = 0; d < kDepth; ++d) load(1 + d, buf[d]);
            for (index_t s = 1; s < length; s += kDepth) {
#pragma unroll
                for (int d = 0; d < kDepth; ++d) {
                    if (s + d < length) {  // uniform across the block
                        lean_step(s + d, buf[d]);
                        load(s + d + kDepth, buf[d]);
                    }
                }
            }
        };
        if (m.form == Form::Factored)
            run(std::integral_constant<bool, true>{});
        else
            run(std::integral_constant<bool, false>{});
    } else {
        for (index_t s = 1; s < length; ++s) step(s);
    }

    if (Backward) return;
    // The result: (+)_j of the last normalised vector, plus the float64 offset.
    const T *last = vec + ((length - 1) & 1) * n;
    if (!Max) {
        LsePartial<T> part = lse_empty<T>();
        for (index_t j = tid; j < n; j += nthreads) part = lse_merge(part, lse_single(last[j] - shift));
        for (int o = 16; o > 0; o >>= 1) part = lse_merge(part, shfl_xor(part, o));
        if (lane == 0) {
            red[warp] = part.max;
            red[32 + warp] = part.sum;
        }
        __syncthreads();
        if (tid == 0) {
            LsePartial<T> all = lse_empty<T>();
            for (int w = 0; w < nwarps; ++w) all = lse_merge(all, LsePartial<T>{red[w], red[32 + w]});
            const double total = total_score(offset, lse_value(all));
            if (p.score) p.score[b] = total;
            if (p.score_out.data) p.score_out(b) = static_cast<T>(total);
        }
        return;
    }
    T best = neg_inf<T>();
    int arg = -1;
    for (index_t j = tid; j < n; j += nthreads) {
        const T v = last[j] - shift;
        if (arg_better(v, static_cast<int>(j), best, arg)) {
            best = v;
            arg = static_cast<int>(j);
        }
    }
    for (int o = 16; o > 0; o >>= 1) shfl_arg_merge(best, arg, o);
    if (lane == 0) {
        red[warp] = best;
        red_i[warp] = arg;
    }
    __syncthreads();
    if (tid == 0) {
        T all = neg_inf<T>();
        int where = -1;
        for (int w = 0; w < nwarps; ++w)
            if (arg_better(red[w], red_i[w], all, where)) {
                all = red[w];
                where = red_i[w];
            }
        const double total = total_score(offset, all);
        if (p.score) p.score[b] = total;
        if (p.score_out.data) p.score_out(b) = static_cast<T>(total);
        // Backtrack on one thread; the backpointers were written before the barriers above.
        if (p.path) {
            std::int32_t *path = p.path + base;
            if (outcome_of(total) != Outcome::Finite) {
                for (index_t t = 0; t < length; ++t) path[t] = -1;
            } else {
                path[length - 1] = where;
                for (index_t t = length - 1; t >= 1; --t) path[t - 1] = p.bp[(base + t) * n + path[t]];
            }
        }
    }
    if (!p.path_out.data) return;
    __syncthreads();
    for (index_t t = tid; t < steps; t += nthreads) p.path_out(b, t) = t < length ? p.path[base + t] : -1;
}

// Forward chains only: blocks = B.
template <class T, bool Max, bool Prefetch>
__global__ void __launch_bounds__(Prefetch ? 256 : 512, 1) forward_chain_kernel(ChainParams<T> p) {
    chain_body<T, Max, false, Prefetch>(p, blockIdx.x);
}

// Alpha and beta chains at once (LOG): blocks [0, B) forward, [B, 2B) backward, so the two
// latency-bound recurrences overlap.
template <class T, bool Prefetch>
__global__ void __launch_bounds__(Prefetch ? 256 : 512, 1) pair_chain_kernel(ChainParams<T> p) {
    const index_t batch = p.m.shape.batch;
    if (static_cast<index_t>(blockIdx.x) < batch)
        chain_body<T, false, false, Prefetch>(p, blockIdx.x);
    else
        chain_body<T, false, true, Prefetch>(p, blockIdx.x - batch);
}

// ---- posteriors --------------------------------------------------------------------------------

template <class T>
struct PosteriorParams {
    Model<T> m;                   // m.lengths is host memory: never read here
    const index_t *lengths;
    View1<const T> grad;          // null data: g = 1
    const T *alpha, *alpha_shift, *beta;  // LOG
    const std::int32_t *path;     // MAX
    const double *score;          // MAX: the best scores (NaN check)
    T *z;                         // (B, steps) node normalisers (LOG)
    T *p0;                        // (B, N) weights of position 0
    View3<T> nodes;               // optional (B, T, N)
    View4<T> edges;               // optional (B, T, N, N)
    int row0;                     // edge ROW0: edges(b, 0, 0, j) = p0
    index_t rows_per_block;       // edge_kernel
    index_t chunks, chunk_steps;  // count_kernel
    double *partials;             // count_kernel output (B, chunks, N, N)
    View3<T> grad_transition;     // reduce_kernel
    int transition_shared;
    View2<T> grad_initial;        // initial_kernel
    int initial_shared;
};

template <class T>
__device__ __forceinline__ T upstream(const PosteriorParams<T> &p, index_t b) {
    return p.grad.data ? p.grad(b) : T(1);
}

template <class T>
__device__ __forceinline__ bool max_is_nan(const PosteriorParams<T> &p, index_t b) {
    return outcome_of(p.score[b]) == Outcome::Nan;
}

// One block per (sequence b, position t), flattened b * steps + t: node posteriors (or the
// path's one-hot), the position normaliser z, and the weights of position 0.
template <class T, bool Max>
__global__ void __launch_bounds__(256) node_kernel(PosteriorParams<T> p) {
    extern __shared__ __align__(16) unsigned char smem_raw[];
    T *red_max = reinterpret_cast<T *>(smem_raw), *red_sum = red_max + 32, &z_shared = red_max[64];
    const index_t n = p.m.shape.states, steps = p.m.shape.steps;
    const index_t b = blockIdx.x / steps, t = blockIdx.x % steps, length = p.lengths[b];
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, nwarps = (blockDim.x + 31) >> 5;
    const std::size_t bt = static_cast<std::size_t>(b) * steps + t, row = bt * n;
    if (t >= length) {
        if (p.nodes.data)
            for (index_t j = tid; j < n; j += blockDim.x) p.nodes(b, t, j) = T(0);
        return;
    }
    const T g = upstream(p, b);
    if (Max) {
        const bool nan = max_is_nan(p, b);
        const std::int32_t z = p.path[bt];
        for (index_t j = tid; j < n; j += blockDim.x) {
            const T w = nan ? std::numeric_limits<T>::quiet_NaN() : (z == j ? g : T(0));
            if (p.nodes.data) p.nodes(b, t, j) = w;
            if (t == 0) p.p0[b * n + j] = w;
        }
        return;
    }
    LsePartial<T> part = lse_empty<T>();
    for (index_t j0 = tid; j0 < n; j0 += static_cast<index_t>(blockDim.x) * kChunk) {
        T v[kChunk];
        int count = 0;
#pragma unroll
        for (int k = 0; k < kChunk; ++k) {
            const index_t j = j0 + static_cast<index_t>(k) * blockDim.x;
            if (j < n) {
                v[k] = p.alpha[row + j] + p.beta[row + j];
                count = k + 1;
            }
        }
        part = lse_merge(part, chunk_lse(v, count));
    }
    for (int o = 16; o > 0; o >>= 1) part = lse_merge(part, shfl_xor(part, o));
    if (lane == 0) {
        red_max[warp] = part.max;
        red_sum[warp] = part.sum;
    }
    __syncthreads();
    if (tid == 0) {
        LsePartial<T> all = lse_empty<T>();
        for (int w = 0; w < nwarps; ++w) all = lse_merge(all, LsePartial<T>{red_max[w], red_sum[w]});
        z_shared = lse_value(all);
        p.z[bt] = z_shared;
    }
    __syncthreads();
    const T z = z_shared;
    for (index_t j = tid; j < n; j += blockDim.x) {
        const T w = posterior_weight(p.alpha[row + j], p.beta[row + j], z, g);
        if (p.nodes.data) p.nodes(b, t, j) = w;
        if (t == 0) p.p0[b * n + j] = w;
    }
}

// The edge form's gradient, every element of (B, T, N, N): blockIdx.x = b * steps + t,
// blockIdx.y = a block of rows_per_block rows.
template <class T, bool Max>
__global__ void __launch_bounds__(256) edge_kernel(PosteriorParams<T> p) {
    const Model<T> &m = p.m;
    const index_t n = m.shape.states, steps = m.shape.steps;
    const index_t b = blockIdx.x / steps, t = blockIdx.x % steps, length = p.lengths[b];
    const index_t i0 = static_cast<index_t>(blockIdx.y) * p.rows_per_block;
    const int rows = static_cast<int>(min(p.rows_per_block, n - i0)), cols = static_cast<int>(n);
    const T g = upstream(p, b);
    const std::size_t bt = static_cast<std::size_t>(b) * steps + t;
    const bool nan = Max && t < length && max_is_nan(p, b);
    T z_edge = T(0);
    if (!Max && t >= 1 && t < length) z_edge = edge_normaliser(p.z[bt], p.alpha_shift[bt]);
    for (int e = threadIdx.x; e < rows * cols; e += blockDim.x) {
        const index_t i = i0 + e / cols, j = e % cols;
        T w = T(0);
        if (t < length) {
            if (t == 0) {
                if (p.row0 && i == 0) w = p.p0[b * n + j];
            } else if (nan) {
                w = std::numeric_limits<T>::quiet_NaN();
            } else if (Max) {
                w = (p.path[bt - 1] == i && p.path[bt] == j) ? g : T(0);
            } else {
                w = posterior_weight(p.alpha[(bt - 1) * n + i], m.step_matrix(b, t, i, j) + p.beta[bt * n + j], z_edge, g);
            }
        }
        p.edges(b, t, i, j) = w;
    }
}

// Factored: partial sums, over a chunk of positions, of the transition posteriors of one
// sequence; one (i, j) per thread, float64, in position order. blockIdx.x covers (i, j),
// blockIdx.y = b * chunks + c.
template <class T, bool Max>
__global__ void __launch_bounds__(256) count_kernel(PosteriorParams<T> p) {
    const Model<T> &m = p.m;
    const index_t n = m.shape.states, steps = m.shape.steps, nn = n * n;
    const index_t idx = static_cast<index_t>(blockIdx.x) * blockDim.x + threadIdx.x;
    const index_t b = blockIdx.y / p.chunks, c = blockIdx.y % p.chunks;
    if (idx >= nn) return;
    const index_t i = idx / n, j = idx % n, length = p.lengths[b];
    const index_t t_begin = 1 + c * p.chunk_steps, t_end = min(length, t_begin + p.chunk_steps);
    const T g = upstream(p, b);
    const std::size_t base = static_cast<std::size_t>(b) * steps;
    double acc = 0.0;
    if (Max) {
        const bool nan = max_is_nan(p, b);
        for (index_t t = t_begin; t < t_end; ++t)
            acc += nan ? static_cast<double>(std::numeric_limits<T>::quiet_NaN())
                       : ((p.path[base + t - 1] == i && p.path[base + t] == j) ? static_cast<double>(g) : 0.0);
    } else {
        const T trans = m.transition(b, i, j);
        for (index_t t = t_begin; t < t_end; ++t) {
            const std::size_t bt = base + t;
            const T z_edge = edge_normaliser(p.z[bt], p.alpha_shift[bt]);
            const T w = m.emission(b, t, j) + p.beta[bt * n + j];
            acc += static_cast<double>(posterior_weight(p.alpha[(bt - 1) * n + i], trans + w, z_edge, g));
        }
    }
    p.partials[(static_cast<std::size_t>(b) * p.chunks + c) * nn + idx] = acc;
}

// grad_transition from the partials: per sequence over its chunks in order, then (shared)
// over the batch in order. With B = 0 a shared gradient is written as zeros.
template <class T>
__global__ void __launch_bounds__(256) reduce_kernel(PosteriorParams<T> p) {
    const index_t n = p.m.shape.states, nn = n * n, batch = p.m.shape.batch;
    const index_t idx = static_cast<index_t>(blockIdx.x) * blockDim.x + threadIdx.x;
    if (idx >= nn) return;
    const index_t i = idx / n, j = idx % n;
    double total = 0.0;
    for (index_t b = 0; b < batch; ++b) {
        double sum = 0.0;
        for (index_t c = 0; c < p.chunks; ++c) sum += p.partials[(static_cast<std::size_t>(b) * p.chunks + c) * nn + idx];
        if (p.transition_shared)
            total += sum;
        else
            p.grad_transition(b, i, j) = static_cast<T>(sum);
    }
    if (p.transition_shared) p.grad_transition(0, i, j) = static_cast<T>(total);
}

// grad_initial from the position-0 weights: per sequence, or summed over the batch in order.
template <class T>
__global__ void __launch_bounds__(256) initial_kernel(PosteriorParams<T> p) {
    const index_t n = p.m.shape.states, batch = p.m.shape.batch;
    const index_t j = static_cast<index_t>(blockIdx.x) * blockDim.x + threadIdx.x;
    if (j >= n) return;
    double total = 0.0;
    for (index_t b = 0; b < batch; ++b) {
        const T w = p.p0[b * n + j];
        if (p.initial_shared)
            total += static_cast<double>(w);
        else
            p.grad_initial(b, j) = w;
    }
    if (p.initial_shared) p.grad_initial(0, j) = static_cast<T>(total);
}

// ---- launch orchestration ------------------------------------------------------------------------
// Which kernels an op runs, on which grid, with which parameters: host code shared by the CUDA
// backend (hmm_cuda.cu, launching with <<<>>> on the context's stream) and the host emulation.
// A Launch is called as launch(kernel, grid, threads, shared_bytes, params, name).

struct Grid3 {
    unsigned x = 1, y = 1, z = 1;
};

inline unsigned blocks_for(index_t n, int threads) { return static_cast<unsigned>((n + threads - 1) / threads); }

inline void require_grid(index_t blocks, const char *what) {
    if (blocks > 2147483647LL)
        fail(SK_ERROR_UNSUPPORTED, "hmm: %s needs %lld blocks, more than a CUDA grid holds", what,
             static_cast<long long>(blocks));
}

struct ChainShape {
    int threads;
    int lanes;
    bool prefetch;
};

// Threads, and lanes per output state: the largest power of two R <= 32 with R * N <= threads,
// so that one pass covers every state up to N = 512. N <= 64 takes the register-prefetch path
// with 128 (N <= 32) or 256 threads, at most kLeanTerms = 16 terms per thread (measured on an
// H100 at N = 50: 512 threads with 8 terms each was 8% slower, more warps paying the per-step
// overhead); larger N streams the terms in register chunks (512 threads, so that 128 registers
// per thread are available and nothing spills).
inline ChainShape chain_shape(index_t n) {
    ChainShape s{};
    s.threads = n <= 32 ? 128 : n <= 64 ? 256 : 512;
    s.lanes = 1;
    while (s.lanes < 32 && static_cast<index_t>(s.lanes) * 2 * n <= s.threads) s.lanes *= 2;
    s.prefetch = n <= kPrefetchMaxStates;
    if (s.prefetch && (n + s.lanes - 1) / s.lanes > kLeanTerms)
        fail(SK_ERROR_INTERNAL, "hmm: chain shape gives %lld terms per thread, the register path holds %d",
             static_cast<long long>((n + s.lanes - 1) / s.lanes), kLeanTerms);
    return s;
}

inline int node_threads(index_t n) { return n <= 32 ? 32 : n <= 64 ? 64 : n <= 128 ? 128 : 256; }

// The scratch buffers of one op (device memory; host memory in the emulation).
template <class T>
struct Buffers {
    index_t *lengths = nullptr;  // (B), uploaded from the validated host lengths
    double *score = nullptr;     // (B)
    T *p0 = nullptr;             // (B, N)
    T *alpha = nullptr, *beta = nullptr;  // (B, T, N)
    T *alpha_shift = nullptr, *beta_shift = nullptr, *z = nullptr;  // (B, T)
    std::int32_t *path = nullptr;  // (B, T)
    std::int32_t *bp = nullptr;    // (B, T, N)
    double *partials = nullptr;    // (B, chunks, N, N)
    index_t chunks = 1, chunk_steps = 1;
};

enum class Op { Forward, Viterbi, Marginals, Backward };

// Element counts of the buffers an op needs (0: not needed), and the transition-count chunking.
struct BufferPlan {
    index_t lengths = 0, score = 0, p0 = 0, vectors = 0, shifts = 0, path = 0, bp = 0, partials = 0;
    index_t chunks = 1, chunk_steps = 1;
};

template <class T>
BufferPlan plan_buffers(const Model<T> &m, Op op, bool want_path, bool want_transition) {
    const index_t batch = m.shape.batch, steps = m.shape.steps, n = m.shape.states, bt = batch * steps;
    BufferPlan b;
    b.lengths = batch;
    if (op == Op::Viterbi && want_path) {
        b.path = bt;
        b.bp = bt * n;
    }
    if (op == Op::Marginals || op == Op::Backward) {
        b.score = batch;
        b.p0 = batch * n;
        if (m.semiring == Semiring::Log) {
            b.vectors = bt * n;
            b.shifts = bt;
        } else {
            b.path = bt;
            b.bp = bt * n;
        }
    }
    if (op == Op::Backward && want_transition) {
        // Enough (tile, chunk, sequence) blocks to fill the device, chunks of >= 16 positions.
        const index_t nn = n * n, tiles = (nn + 255) / 256;
        b.chunks = std::max<index_t>(1, std::min<index_t>(1024 / std::max<index_t>(1, tiles * batch),
                                                          std::max<index_t>(1, (steps - 1) / 16)));
        b.chunk_steps = std::max<index_t>(1, (steps - 1 + b.chunks - 1) / b.chunks);
        b.partials = batch * b.chunks * nn;
        if (batch * b.chunks > 65535)
            fail(SK_ERROR_UNSUPPORTED, "hmm: the transition-count grid needs batch * chunks = %lld <= 65535",
                 static_cast<long long>(batch * b.chunks));
    }
    return b;
}

template <class T>
ChainParams<T> chain_params(const Model<T> &m, const Buffers<T> &buf) {
    ChainParams<T> p{};
    p.m = m;
    p.m.lengths = nullptr;  // host memory: never read on the device
    p.lengths = buf.lengths;
    return p;
}

// Forward chains (B blocks), or with `pair` the alpha and beta chains together (2B blocks).
template <class T, bool Max, class Launch>
void launch_chains(Launch &launch, ChainParams<T> p, bool pair) {
    const index_t batch = p.m.shape.batch;
    if (batch == 0) return;
    const ChainShape s = chain_shape(p.m.shape.states);
    p.lanes = s.lanes;
    require_grid(pair ? 2 * batch : batch, "the chain");
    const Grid3 grid{static_cast<unsigned>(pair ? 2 * batch : batch), 1, 1};
    const std::size_t smem = chain_smem<T>(p.m.shape.states);
    if constexpr (Max) {
        launch(s.prefetch ? forward_chain_kernel<T, true, true> : forward_chain_kernel<T, true, false>, grid, s.threads,
               smem, p, "forward_chain_kernel");
    } else if (pair) {
        launch(s.prefetch ? pair_chain_kernel<T, true> : pair_chain_kernel<T, false>, grid, s.threads, smem, p,
               "pair_chain_kernel");
    } else {
        launch(s.prefetch ? forward_chain_kernel<T, false, true> : forward_chain_kernel<T, false, false>, grid,
               s.threads, smem, p, "forward_chain_kernel");
    }
}

template <class T, class Launch>
void run_forward(Launch &launch, const ForwardArgs<T> &a, const Buffers<T> &buf) {
    ChainParams<T> p = chain_params(a.model, buf);
    p.score_out = a.log_partition;
    if (a.model.semiring == Semiring::Log)
        launch_chains<T, false>(launch, p, false);
    else
        launch_chains<T, true>(launch, p, false);
}

template <class T, class Launch>
void run_viterbi(Launch &launch, const ViterbiArgs<T> &a, const Buffers<T> &buf) {
    ChainParams<T> p = chain_params(a.model, buf);
    p.score_out = a.score;
    p.path_out = a.path;
    p.path = buf.path;
    p.bp = buf.bp;
    launch_chains<T, true>(launch, p, false);
}

// The chains of a posterior op: alpha and beta (LOG) or the Viterbi path (MAX).
template <class T, class Launch>
void run_sweep(Launch &launch, const Model<T> &m, const Buffers<T> &buf, View1<T> score_out) {
    ChainParams<T> p = chain_params(m, buf);
    p.score = buf.score;
    p.score_out = score_out;
    if (m.semiring == Semiring::Log) {
        p.alpha = buf.alpha;
        p.alpha_shift = buf.alpha_shift;
        p.beta = buf.beta;
        p.beta_shift = buf.beta_shift;
        launch_chains<T, false>(launch, p, true);
    } else {
        p.path = buf.path;
        p.bp = buf.bp;
        launch_chains<T, true>(launch, p, false);
    }
}

template <class T>
PosteriorParams<T> posterior_params(const Model<T> &m, const Buffers<T> &buf) {
    PosteriorParams<T> p{};
    p.m = m;
    p.m.lengths = nullptr;
    p.lengths = buf.lengths;
    p.alpha = buf.alpha;
    p.alpha_shift = buf.alpha_shift;
    p.beta = buf.beta;
    p.path = buf.path;
    p.score = buf.score;
    p.z = buf.z;
    p.p0 = buf.p0;
    p.chunks = buf.chunks;
    p.chunk_steps = buf.chunk_steps;
    p.partials = buf.partials;
    return p;
}

// Node posteriors (or the path's one-hot), the normalisers z and the position-0 weights.
template <class T, class Launch>
void launch_nodes(Launch &launch, const PosteriorParams<T> &p) {
    const index_t batch = p.m.shape.batch, steps = p.m.shape.steps, n = p.m.shape.states;
    if (batch == 0) return;
    require_grid(batch * steps, "node_kernel");
    const Grid3 grid{static_cast<unsigned>(batch * steps), 1, 1};
    const std::size_t smem = 65 * sizeof(T);  // red_max[32], red_sum[32], z
    if (p.m.semiring == Semiring::Log)
        launch(node_kernel<T, false>, grid, node_threads(n), smem, p, "node_kernel");
    else
        launch(node_kernel<T, true>, grid, node_threads(n), smem, p, "node_kernel");
}

template <class T, class Launch>
void run_marginals(Launch &launch, const MarginalsArgs<T> &a, const Buffers<T> &buf) {
    run_sweep(launch, a.model, buf, a.log_partition);
    PosteriorParams<T> p = posterior_params(a.model, buf);
    p.nodes = a.marginals;
    launch_nodes(launch, p);
}

template <class T, class Launch>
void run_backward(Launch &launch, const BackwardArgs<T> &a, const Buffers<T> &buf) {
    const Model<T> &m = a.model;
    const index_t batch = m.shape.batch, steps = m.shape.steps, n = m.shape.states;
    const bool max = m.semiring == Semiring::Max;
    run_sweep(launch, m, buf, View1<T>{});
    PosteriorParams<T> p = posterior_params(m, buf);
    p.grad = a.grad;
    p.nodes = a.grad_emission;
    launch_nodes(launch, p);
    if (a.grad_potentials.data && batch > 0) {
        p.edges = a.grad_potentials;
        p.row0 = m.convention == InitialConvention::Row0 ? 1 : 0;
        p.rows_per_block = std::max<index_t>(1, std::min<index_t>(n, 4096 / n));
        require_grid(batch * steps, "edge_kernel");
        const Grid3 grid{static_cast<unsigned>(batch * steps), static_cast<unsigned>((n + p.rows_per_block - 1) / p.rows_per_block), 1};
        launch(max ? edge_kernel<T, true> : edge_kernel<T, false>, grid, 256, 0, p, "edge_kernel");
    }
    if (a.grad_transition.data) {
        const index_t nn = n * n;
        p.grad_transition = a.grad_transition;
        p.transition_shared = m.transition_shared ? 1 : 0;
        if (batch > 0) {
            const Grid3 grid{blocks_for(nn, 256), static_cast<unsigned>(batch * p.chunks), 1};
            launch(max ? count_kernel<T, true> : count_kernel<T, false>, grid, 256, 0, p, "count_kernel");
        }
        launch(reduce_kernel<T>, Grid3{blocks_for(nn, 256), 1, 1}, 256, 0, p, "reduce_kernel");
    }
    if (a.grad_initial.data) {
        p.grad_initial = a.grad_initial;
        p.initial_shared = m.initial_shared ? 1 : 0;
        launch(initial_kernel<T>, Grid3{blocks_for(n, 256), 1, 1}, 256, 0, p, "initial_kernel");
    }
}

}  // namespace sk::hmm::gpu
