// sk_gemm_variants: times tile configurations of the CUDA GEMM core (matmul_gemm_cuda.cuh) on
// already-packed operands, to choose the configurations matmul_cuda.cu uses. A tuning tool for
// the kernel's author, not part of the library's API; it includes the internal headers and
// times with CUDA events (median of 30 launches after 5 warm-ups, 3 rotating input sets).
//
//   sk_gemm_variants [M N K [BATCH]]      default: 2048 2048 2048 1, then 256 256 256 16
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "matmul/matmul_gemm_cuda.cuh"

using namespace sk;
using namespace sk::matmul::cuda;

namespace {

#define CHECK_CUDA(call)                                                                   \
    do {                                                                                   \
        cudaError_t e = (call);                                                            \
        if (e != cudaSuccess) {                                                            \
            std::fprintf(stderr, "%s: %s (%s:%d)\n", #call, cudaGetErrorString(e), __FILE__, __LINE__); \
            std::exit(1);                                                                  \
        }                                                                                  \
    } while (0)

// acc (and the argmax, when idx is not null) written to plain row-major outputs.
struct PlainStore {
    float *out;
    int *idx;
    index_t m, n;
    template <int V>
    __device__ __forceinline__ void store(index_t b, index_t i, index_t j0, const float (&acc)[V],
                                          const int (&where)[V]) const {
        for (int e = 0; e < V; ++e)
            if (j0 + e < n) {
                out[(b * m + i) * n + j0 + e] = acc[e];
                if (idx) idx[(b * m + i) * n + j0 + e] = where[e];
            }
    }
};

struct Problem {
    index_t batch, m, n, k;
};

template <class Cfg, class Step>
void time_variant(const char *label, const Problem &p, const std::vector<float *> &pa,
                  const std::vector<float *> &pb, float *out, int *idx, cudaStream_t stream) {
    const index_t ld_a = round_up(p.m, kRowPadding), ld_b = round_up(p.n, kRowPadding);
    const index_t kp = round_up(p.k, kTileK);
    const GemmShape shape{p.batch, p.m, p.n, kp};
    std::vector<float> ms;
    cudaEvent_t start, stop;
    CHECK_CUDA(cudaEventCreate(&start));
    CHECK_CUDA(cudaEventCreate(&stop));
    for (int r = 0; r < 35; ++r) {
        const size_t s = static_cast<size_t>(r) % pa.size();
        Panel<float> a{pa[s], p.batch > 1 ? ld_a * kp : 0, ld_a}, b{pb[s], p.batch > 1 ? ld_b * kp : 0, ld_b};
        CHECK_CUDA(cudaEventRecord(start, stream));
        launch_gemm<Cfg, Step>(a, b, shape, PlainStore{out, Step::kTracksIndex ? idx : nullptr, p.m, p.n}, stream);
        CHECK_CUDA(cudaEventRecord(stop, stream));
        CHECK_CUDA(cudaEventSynchronize(stop));
        float t = 0;
        CHECK_CUDA(cudaEventElapsedTime(&t, start, stop));
        if (r >= 5) ms.push_back(t);
    }
    std::sort(ms.begin(), ms.end());
    const double median = ms[ms.size() / 2];
    const double ops = 2.0 * p.batch * p.m * p.n * p.k;
    std::printf("%-44s %4lldx%5lldx%5lldx%5lld  %8.4f ms  %7.2f T(FL)OP/s-eq  (min %.4f)\n", label,
                static_cast<long long>(p.batch), static_cast<long long>(p.m), static_cast<long long>(p.n),
                static_cast<long long>(p.k), median, ops / median / 1e9, ms.front());
    CHECK_CUDA(cudaEventDestroy(start));
    CHECK_CUDA(cudaEventDestroy(stop));
}

template <class Cfg>
void time_all_steps(const char *label, const Problem &p, const std::vector<float *> &pa,
                    const std::vector<float *> &pb, float *out, int *idx, cudaStream_t stream,
                    bool with_index) {
    char name[128];
    std::snprintf(name, sizeof name, "%s real", label);
    time_variant<Cfg, FmaStep<float>>(name, p, pa, pb, out, idx, stream);
    std::snprintf(name, sizeof name, "%s max", label);
    time_variant<Cfg, SelectStep<float, true>>(name, p, pa, pb, out, idx, stream);
    if (with_index) {
        std::snprintf(name, sizeof name, "%s max+argmax", label);
        time_variant<Cfg, SelectIndexStep<float, true>>(name, p, pa, pb, out, idx, stream);
    }
}

// <BM, BN, WARPS_M, WARPS_N, TM, TN, STAGES, MIN_BLOCKS>
using L_2x4_s3 = TileConfig<float, 128, 128, 2, 4, 8, 8, 3, 2>;
using L_4x2_s3 = TileConfig<float, 128, 128, 4, 2, 8, 8, 3, 2>;
using L_2x4_s4 = TileConfig<float, 128, 128, 2, 4, 8, 8, 4, 2>;
using L_2x4_s2 = TileConfig<float, 128, 128, 2, 4, 8, 8, 2, 2>;
using I_128x64 = TileConfig<float, 128, 64, 2, 4, 8, 4, 3, 2>;
using I_64x128 = TileConfig<float, 64, 128, 2, 4, 4, 8, 3, 2>;
using I_128x128_1 = TileConfig<float, 128, 128, 2, 4, 8, 8, 3, 1>;
using S_64x64 = TileConfig<float, 64, 64, 2, 4, 4, 4, 3, 3>;
using L_4x2_s2 = TileConfig<float, 128, 128, 4, 2, 8, 8, 2, 2>;
using L_4x2_s4 = TileConfig<float, 128, 128, 4, 2, 8, 8, 4, 2>;
using S_64x64_4x2 = TileConfig<float, 64, 64, 4, 2, 4, 4, 3, 3>;
using S_64x64_s2 = TileConfig<float, 64, 64, 2, 4, 4, 4, 2, 3>;

void run(const Problem &p) {
    cudaStream_t stream;
    CHECK_CUDA(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
    const index_t kp = round_up(p.k, kTileK);
    const size_t na = static_cast<size_t>(p.batch * kp * round_up(p.m, kRowPadding));
    const size_t nb = static_cast<size_t>(p.batch * kp * round_up(p.n, kRowPadding));
    std::mt19937 rng(7);
    std::uniform_real_distribution<float> u(0.01f, 1.0f);
    std::vector<float> host(std::max(na, nb));
    std::vector<float *> pa, pb;
    for (int s = 0; s < 3; ++s) {
        float *a, *b;
        CHECK_CUDA(cudaMalloc(&a, na * sizeof(float)));
        CHECK_CUDA(cudaMalloc(&b, nb * sizeof(float)));
        for (auto &x : host) x = u(rng);
        CHECK_CUDA(cudaMemcpy(a, host.data(), na * sizeof(float), cudaMemcpyHostToDevice));
        CHECK_CUDA(cudaMemcpy(b, host.data(), nb * sizeof(float), cudaMemcpyHostToDevice));
        pa.push_back(a);
        pb.push_back(b);
    }
    float *out;
    int *idx;
    CHECK_CUDA(cudaMalloc(&out, static_cast<size_t>(p.batch * p.m * p.n) * sizeof(float)));
    CHECK_CUDA(cudaMalloc(&idx, static_cast<size_t>(p.batch * p.m * p.n) * sizeof(int)));
    time_all_steps<L_2x4_s3>("128x128 warps2x4 8x8 s3", p, pa, pb, out, idx, stream, false);
    time_all_steps<L_4x2_s3>("128x128 warps4x2 8x8 s3", p, pa, pb, out, idx, stream, false);
    time_all_steps<L_2x4_s4>("128x128 warps2x4 8x8 s4", p, pa, pb, out, idx, stream, false);
    time_all_steps<L_2x4_s2>("128x128 warps2x4 8x8 s2", p, pa, pb, out, idx, stream, false);
    time_variant<I_128x64, SelectIndexStep<float, true>>("128x64 8x4 s3 max+argmax", p, pa, pb, out, idx, stream);
    time_variant<I_64x128, SelectIndexStep<float, true>>("64x128 4x8 s3 max+argmax", p, pa, pb, out, idx, stream);
    time_variant<I_128x128_1, SelectIndexStep<float, true>>("128x128 8x8 s3 1blk max+argmax", p, pa, pb, out, idx, stream);
    time_variant<I_128x64, SelectIndexPredicatedStep<true>>("128x64 8x4 s3 max+argmax predicated", p, pa, pb, out, idx, stream);
    time_variant<I_128x128_1, SelectIndexPredicatedStep<true>>("128x128 8x8 s3 1blk max+argmax pred.", p, pa, pb, out, idx, stream);
    time_variant<S_64x64_4x2, SelectIndexPredicatedStep<true>>("64x64 warps4x2 max+argmax predicated", p, pa, pb, out, idx, stream);
    time_all_steps<L_4x2_s2>("128x128 warps4x2 8x8 s2", p, pa, pb, out, idx, stream, false);
    time_all_steps<L_4x2_s4>("128x128 warps4x2 8x8 s4", p, pa, pb, out, idx, stream, false);
    time_all_steps<S_64x64>("64x64 4x4 s3", p, pa, pb, out, idx, stream, true);
    time_all_steps<S_64x64_4x2>("64x64 warps4x2 4x4 s3", p, pa, pb, out, idx, stream, true);
    time_all_steps<S_64x64_s2>("64x64 4x4 s2", p, pa, pb, out, idx, stream, true);
    for (auto *x : pa) CHECK_CUDA(cudaFree(x));
    for (auto *x : pb) CHECK_CUDA(cudaFree(x));
    CHECK_CUDA(cudaFree(out));
    CHECK_CUDA(cudaFree(idx));
    CHECK_CUDA(cudaStreamDestroy(stream));
}

}  // namespace

int main(int argc, char **argv) {
    if (argc >= 4) {
        run({argc >= 5 ? std::atoll(argv[4]) : 1, std::atoll(argv[1]), std::atoll(argv[2]), std::atoll(argv[3])});
        return 0;
    }
    run({1, 2048, 2048, 2048});
    run({16, 256, 256, 256});
    return 0;
}
