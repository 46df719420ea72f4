// Shortest paths of length <= 2 hops with a min-plus matrix product, through the C API.
#include <semiring_kernels.h>

#include <cmath>
#include <cstdio>

int main() {
    const float inf = INFINITY;
    // dist[i][j]: weight of the edge i -> j (inf: no edge, 0 on the diagonal).
    float dist[3][3] = {{0, 4, inf}, {inf, 0, 1}, {2, inf, 0}};
    float two_hops[3][3];

    sk_context *ctx = nullptr;
    if (sk_context_create(SK_DEVICE_CPU, 0, &ctx) != SK_OK) {
        std::fprintf(stderr, "context: %s\n", sk_last_error());
        return 1;
    }
    sk_tensor a{};
    a.data = dist;
    a.dtype = SK_DTYPE_FLOAT32;
    a.device_type = SK_DEVICE_CPU;
    a.rank = 2;
    a.shape[0] = a.shape[1] = 3;
    a.strides[0] = 3;
    a.strides[1] = 1;
    sk_tensor c = a;
    c.data = two_hops;

    sk_matmul_options options{};
    options.struct_size = sizeof options;
    options.semiring = SK_SEMIRING_MIN;
    sk_status status = sk_semiring_matmul(ctx, &options, &a, &a, &c, nullptr);
    if (status != SK_OK) {
        std::fprintf(stderr, "matmul: %s\n", sk_context_last_error(ctx));
        sk_context_destroy(ctx);
        return 1;
    }
    sk_context_destroy(ctx);
    std::printf("semiring kernels %s: 0 -> 2 in two hops costs %g\n", sk_version_string(),
                two_hops[0][2]);
    return two_hops[0][2] == 5.0f ? 0 : 1;
}
