// The tiled, register-blocked SIMT GEMM core of the CUDA matmul backend, templated on the inner
// "multiply-accumulate" so one kernel serves every semiring:
//
//   acc[i][j] = ACC_k op(A[i,k], B[k,j])      for the (BM x BN) output tile of one thread block
//
// Operands arrive as panels (packed by matmul_pack_cuda.cuh, or the caller's memory when it already
// has this layout): a panel holds, per batch, a k-major matrix
// P[k][r] (r = output row for the A operand, output column for the B operand) whose rows are
// padded to a multiple of 128 elements and whose k extent is padded to a multiple of kTileK, the
// padding holding a value that never changes the accumulator (0 for real products, -inf / +inf
// for max / min). So the main loop has no bounds checks and every global load is a 16-byte
// cp.async from an aligned address.
//
// Block tile BM x BN x BK, STAGES-deep cp.async pipeline in shared memory (As[stage][k][m],
// Bs[stage][k][n]); warps tile the block as WARPS_M x WARPS_N, each warp's 32 lanes as LM x LN,
// each thread holds TM x TN accumulators made of (TM/V) x (TN/V) sub-tiles of V x V (V = one
// 16-byte vector). A warp's fragment loads are 16-byte shared loads touching at most 8 distinct
// vectors (broadcast to the other lanes), so they are free of bank conflicts.
//
// The k loop runs in increasing k inside each thread and the block covers the whole reduction,
// so each output has one fixed summation order (bitwise reproducible) and an index-tracking
// accumulator that compares strictly keeps the lowest k on ties, whatever the tiling.
#pragma once

#include <cstdint>

#include "core/common.h"
#include "core/cuda_check.h"
#include "semiring/semiring.h"

namespace sk::matmul::cuda {

// Every panel's k extent is padded to a multiple of this, and its rows to kRowPadding.
constexpr index_t kTileK = 16;
constexpr index_t kRowPadding = 128;

SK_HD index_t round_up(index_t x, index_t multiple) { return (x + multiple - 1) / multiple * multiple; }

// A packed operand: element (k, r) of batch b at data[b * batch_stride + k * ld + r].
// batch_stride is 0 when every batch shares one panel.
template <class T>
struct Panel {
    const T *data = nullptr;
    index_t batch_stride = 0;
    index_t ld = 0;
};

// The product a tile grid covers: batch x (m x n) outputs, reduction over k (padded, a multiple
// of kTileK).
struct GemmShape {
    index_t batch = 1;
    index_t m = 0;
    index_t n = 0;
    index_t k = 0;
};

// ---- the multiply-accumulate steps -------------------------------------------------------------

// Every step names the type that carries an argmax in registers (Index), how the k of a
// reduction step becomes that type (key, computed once per k for all accumulators) and how it
// becomes the int32 argmax again (index_value). Steps without an argmax use int and ignore it.
struct IntIndex {
    using Index = int;
    static __device__ __forceinline__ int key(int k) { return k; }
    static __device__ __forceinline__ int index_value(int where) { return where; }
};

// Real product: acc += a * b (one FFMA / DFMA).
template <class T>
struct FmaStep : IntIndex {
    static constexpr bool kTracksIndex = false;
    static __device__ __forceinline__ T init() { return T(0); }
    static __device__ __forceinline__ void apply(T &acc, int &, T a, T b, int) { acc = fma(a, b, acc); }
};

// Max / min of sums: acc = max(acc, a + b) (FADD + FMNMX). Exact for every pair without NaN and
// without +inf meeting -inf; the caller recomputes the entries where that can happen.
template <class T, bool Max>
struct SelectStep : IntIndex {
    static constexpr bool kTracksIndex = false;
    static __device__ __forceinline__ T init() {
        return Max ? -positive_infinity<T>() : positive_infinity<T>();
    }
    static __device__ __forceinline__ void apply(T &acc, int &, T a, T b, int) {
        acc = Max ? fmax(acc, a + b) : fmin(acc, a + b);
    }
};

// Max / min with the argmax: a strictly better sum replaces the best and records its k, so ties
// keep the lowest k (k grows monotonically in every thread). -1 stays where no term beats the
// semiring zero.
template <class T, bool Max>
struct SelectIndexStep : IntIndex {
    static constexpr bool kTracksIndex = true;
    static __device__ __forceinline__ T init() { return SelectStep<T, Max>::init(); }
    static __device__ __forceinline__ void apply(T &acc, int &where, T a, T b, int k) {
        const T v = a + b;
        const bool take = Max ? (v > acc) : (v < acc);
        acc = take ? v : acc;
        where = take ? k : where;
    }
};

// The same step for float with fewer instructions on the half-rate ALU pipe: the compiler's
// form above costs FADD + FSETP + FSEL + SEL, three of them ALU instructions, which bound the
// kernel. Here one FSETP sets a predicate and two predicated FADDs of -0.0 (exact moves, on the
// FMA pipe) replace the selects; the argmax travels as a float (exact for k < 2^24, which the
// caller guarantees).
template <bool Max>
struct SelectIndexPredicatedStep {
    static constexpr bool kTracksIndex = true;
    using Index = float;
    static __device__ __forceinline__ float key(int k) { return static_cast<float>(k); }
    static __device__ __forceinline__ int index_value(float where) { return static_cast<int>(where); }
    static __device__ __forceinline__ float init() { return SelectStep<float, Max>::init(); }
    static __device__ __forceinline__ void apply(float &acc, float &where, float a, float b, float k) {
        const float v = a + b;
        if constexpr (Max)
            asm("{\n\t.reg .pred p;\n\tsetp.gt.f32 p, %2, %0;\n\t@p add.f32 %0, %2, 0f80000000;\n\t"
                "@p add.f32 %1, %3, 0f80000000;\n\t}"
                : "+f"(acc), "+f"(where) : "f"(v), "f"(k));
        else
            asm("{\n\t.reg .pred p;\n\tsetp.lt.f32 p, %2, %0;\n\t@p add.f32 %0, %2, 0f80000000;\n\t"
                "@p add.f32 %1, %3, 0f80000000;\n\t}"
                : "+f"(acc), "+f"(where) : "f"(v), "f"(k));
    }
};

// ---- tile configurations -----------------------------------------------------------------------

template <class T_, int BM_, int BN_, int WARPS_M_, int WARPS_N_, int TM_, int TN_, int STAGES_,
          int MIN_BLOCKS_>
struct TileConfig {
    using T = T_;
    static constexpr int BM = BM_, BN = BN_, BK = static_cast<int>(kTileK);
    static constexpr int WARPS_M = WARPS_M_, WARPS_N = WARPS_N_;
    static constexpr int TM = TM_, TN = TN_;
    static constexpr int STAGES = STAGES_, MIN_BLOCKS = MIN_BLOCKS_;
    static constexpr int kThreads = WARPS_M * WARPS_N * 32;
    static constexpr int V = 16 / static_cast<int>(sizeof(T));  // elements per 16-byte vector
    static constexpr int WM = BM / WARPS_M, WN = BN / WARPS_N;  // warp tile
    static constexpr int LM = WM / TM, LN = WN / TN;            // lanes along m and n
    static constexpr int kSmemBytes = STAGES * BK * (BM + BN) * static_cast<int>(sizeof(T));
    static_assert(LM * LN == 32, "a warp's lanes must tile the warp tile exactly");
    static_assert(TM % V == 0 && TN % V == 0, "thread tiles are made of whole vectors");
    static_assert((BK * BM / V) % kThreads == 0 && (BK * BN / V) % kThreads == 0,
                  "every thread copies the same number of vectors per stage");
    static_assert(kRowPadding % BM == 0 && kRowPadding % BN == 0, "panels are padded for this tile");
};

// ---- 16-byte copies ----------------------------------------------------------------------------

__device__ __forceinline__ void cp_async_16(void *smem, const void *global) {
    const unsigned address = static_cast<unsigned>(__cvta_generic_to_shared(smem));
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(address), "l"(global));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int Pending>
__device__ __forceinline__ void cp_async_wait() {
    asm volatile("cp.async.wait_group %0;\n" ::"n"(Pending));
}

// Loads V consecutive elements (16 bytes, aligned) from shared memory into registers.
template <class T, int V>
__device__ __forceinline__ void load_vector(const T *p, T *out) {
    if constexpr (sizeof(T) == 4) {
        const float4 x = *reinterpret_cast<const float4 *>(p);
        out[0] = x.x;
        out[1] = x.y;
        out[2] = x.z;
        out[3] = x.w;
    } else {
        const double2 x = *reinterpret_cast<const double2 *>(p);
        out[0] = x.x;
        out[1] = x.y;
    }
}

// ---- the kernel --------------------------------------------------------------------------------

// One thread block computes one (BM x BN) tile of one batch; blockIdx.x enumerates
// (batch, tile row, tile column) with the tile column fastest, so neighbouring blocks share their
// A panel in L2. The epilogue receives, for each row i and each run of V columns starting at j0,
// the V accumulators (and argmax indices) and writes the outputs it owns:
//     epi.store(b, i, j0, const T (&acc)[V], const int (&where)[V])
template <class Cfg, class Step, class Epilogue>
__global__ void __launch_bounds__(Cfg::kThreads, Cfg::MIN_BLOCKS)
gemm_kernel(Panel<typename Cfg::T> a, Panel<typename Cfg::T> b, GemmShape shape,
            index_t tiles_m, index_t tiles_n, Epilogue epi) {
    using T = typename Cfg::T;
    constexpr int BM = Cfg::BM, BN = Cfg::BN, BK = Cfg::BK, V = Cfg::V, TM = Cfg::TM, TN = Cfg::TN;
    constexpr int STAGES = Cfg::STAGES;
    constexpr int kTrack = Step::kTracksIndex ? 1 : 0;

    extern __shared__ __align__(16) unsigned char smem_raw[];
    T *const As = reinterpret_cast<T *>(smem_raw);  // [STAGES][BK][BM]
    T *const Bs = As + STAGES * BK * BM;            // [STAGES][BK][BN]

    // Which tile.
    const index_t tile = blockIdx.x;
    const index_t per_batch = tiles_m * tiles_n;
    const index_t batch = tile / per_batch;
    const index_t tile_m = (tile % per_batch) / tiles_n;
    const index_t tile_n = tile % tiles_n;
    const T *const a_tile = a.data + batch * a.batch_stride + tile_m * BM;
    const T *const b_tile = b.data + batch * b.batch_stride + tile_n * BN;

    // Global -> shared: vector c of a stage is (k = c / (B?/V), r = (c % (B?/V)) * V).
    auto load_stage = [&](int stage, index_t k_tile) {
        const index_t k0 = k_tile * BK;
#pragma unroll
        for (int u = 0; u < BK * BM / V / Cfg::kThreads; ++u) {
            const int c = static_cast<int>(threadIdx.x) + u * Cfg::kThreads;
            const int kk = c / (BM / V), r = (c % (BM / V)) * V;
            cp_async_16(As + (stage * BK + kk) * BM + r, a_tile + (k0 + kk) * a.ld + r);
        }
#pragma unroll
        for (int u = 0; u < BK * BN / V / Cfg::kThreads; ++u) {
            const int c = static_cast<int>(threadIdx.x) + u * Cfg::kThreads;
            const int kk = c / (BN / V), r = (c % (BN / V)) * V;
            cp_async_16(Bs + (stage * BK + kk) * BN + r, b_tile + (k0 + kk) * b.ld + r);
        }
    };

    // This thread's place: sub-tile p along m starts at row m_base + p * LM * V (likewise n).
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const int m_base = (warp / Cfg::WARPS_N) * Cfg::WM + (lane / Cfg::LN) * V;
    const int n_base = (warp % Cfg::WARPS_N) * Cfg::WN + (lane % Cfg::LN) * V;

    using Index = typename Step::Index;
    T acc[TM][TN];
    Index where[kTrack ? TM : 1][kTrack ? TN : 1];
#pragma unroll
    for (int i = 0; i < TM; ++i)
#pragma unroll
        for (int j = 0; j < TN; ++j) acc[i][j] = Step::init();
#pragma unroll
    for (int i = 0; i < (kTrack ? TM : 1); ++i)
#pragma unroll
        for (int j = 0; j < (kTrack ? TN : 1); ++j) where[i][j] = Step::key(-1);

    const index_t k_tiles = shape.k / BK;
#pragma unroll
    for (int s = 0; s < STAGES - 1; ++s) {
        if (s < k_tiles) load_stage(s, s);
        cp_async_commit();
    }
    for (index_t kt = 0; kt < k_tiles; ++kt) {
        cp_async_wait<STAGES - 2>();
        __syncthreads();  // stage kt is visible; stage kt-1 is no longer read by anyone
        const index_t next = kt + STAGES - 1;
        if (next < k_tiles) load_stage(static_cast<int>(next % STAGES), next);
        cp_async_commit();

        const T *const as = As + static_cast<int>(kt % STAGES) * BK * BM + m_base;
        const T *const bs = Bs + static_cast<int>(kt % STAGES) * BK * BN + n_base;
        const int k0 = static_cast<int>(kt * BK);
#pragma unroll
        for (int kk = 0; kk < BK; ++kk) {
            const Index key = Step::key(k0 + kk);
            T fa[TM], fb[TN];
#pragma unroll
            for (int p = 0; p < TM / V; ++p) load_vector<T, V>(as + kk * BM + p * Cfg::LM * V, fa + p * V);
#pragma unroll
            for (int q = 0; q < TN / V; ++q) load_vector<T, V>(bs + kk * BN + q * Cfg::LN * V, fb + q * V);
#pragma unroll
            for (int i = 0; i < TM; ++i)
#pragma unroll
                for (int j = 0; j < TN; ++j)
                    Step::apply(acc[i][j], where[kTrack ? i : 0][kTrack ? j : 0], fa[i], fb[j], key);
        }
    }
    cp_async_wait<0>();

    // Epilogue: row i = tile origin + m_base + p*LM*V + v, columns j0 .. j0+V-1.
#pragma unroll
    for (int p = 0; p < TM / V; ++p)
#pragma unroll
        for (int v = 0; v < V; ++v) {
            const index_t i = tile_m * BM + m_base + p * Cfg::LM * V + v;
            if (i >= shape.m) continue;
#pragma unroll
            for (int q = 0; q < TN / V; ++q) {
                const index_t j0 = tile_n * BN + n_base + q * Cfg::LN * V;
                if (j0 >= shape.n) continue;
                T values[V];
                int indices[V];
#pragma unroll
                for (int e = 0; e < V; ++e) {
                    values[e] = acc[p * V + v][q * V + e];
                    indices[e] = kTrack ? Step::index_value(where[kTrack ? p * V + v : 0][kTrack ? q * V + e : 0]) : -1;
                }
                epi.store(batch, i, j0, values, indices);
            }
        }
}

// ---- launching ---------------------------------------------------------------------------------

// Launches the GEMM of `shape` with tile configuration Cfg on the stream. The panels must be
// padded for Cfg (rows to kRowPadding, k to kTileK).
template <class Cfg, class Step, class Epilogue>
void launch_gemm(const Panel<typename Cfg::T> &a, const Panel<typename Cfg::T> &b,
                 const GemmShape &shape, const Epilogue &epi, cudaStream_t stream) {
    auto kernel = gemm_kernel<Cfg, Step, Epilogue>;
    // Above 48 KB a block's dynamic shared memory must be allowed explicitly (idempotent, cheap).
    SK_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                       Cfg::kSmemBytes));
    const index_t tiles_m = (shape.m + Cfg::BM - 1) / Cfg::BM;
    const index_t tiles_n = (shape.n + Cfg::BN - 1) / Cfg::BN;
    const index_t blocks = shape.batch * tiles_m * tiles_n;
    SK_REQUIRE(blocks <= 0x7fffffff, SK_ERROR_UNSUPPORTED,
               "matmul: %lld output tiles exceed the CUDA grid limit", static_cast<long long>(blocks));
    if (blocks == 0) return;
    kernel<<<static_cast<unsigned>(blocks), Cfg::kThreads, Cfg::kSmemBytes, stream>>>(
        a, b, shape, tiles_m, tiles_n, epi);
    SK_CUDA_CHECK_LAUNCH("matmul: gemm kernel launch");
}

}  // namespace sk::matmul::cuda
