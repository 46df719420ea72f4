// Versions, capability queries, errors, contexts and memory helpers of the C API.
#include <cstring>
#include <thread>

#include "test_util.h"

using namespace sktest;

TEST(version_and_capabilities) {
    CHECK_EQ(sk_abi_version(), SK_ABI_VERSION);
    CHECK_EQ(sk_version_major(), SK_VERSION_MAJOR);
    CHECK_EQ(sk_version_minor(), SK_VERSION_MINOR);
    CHECK_EQ(sk_version_patch(), SK_VERSION_PATCH);
    const std::string expected = std::to_string(SK_VERSION_MAJOR) + "." + std::to_string(SK_VERSION_MINOR) +
                                 "." + std::to_string(SK_VERSION_PATCH);
    CHECK_EQ(std::string(sk_version_string()), expected);
    CHECK(sk_cuda_compiled() == 0 || sk_cuda_compiled() == 1);
    int32_t count = -1;
    CHECK_OK(sk_cuda_device_count(&count));
    CHECK(count >= 0);
    if (count == 0) CHECK(std::strlen(sk_cuda_unavailable_reason()) > 0);
    for (int32_t d = 0; d < count; ++d) {
        sk_device_info info;
        CHECK_OK(sk_cuda_device_info(d, &info));
        CHECK(std::strlen(info.name) > 0);
        CHECK(info.compute_capability_major >= 3);
        CHECK(info.total_memory_bytes > 0);
    }
    CHECK(sk_cuda_device_count(nullptr) == SK_ERROR_NULL_POINTER);
}

TEST(status_names) {
    CHECK_EQ(std::string(sk_status_name(SK_OK)), std::string("SK_OK"));
    CHECK_EQ(std::string(sk_status_name(SK_ERROR_SHAPE)), std::string("SK_ERROR_SHAPE"));
    CHECK_EQ(std::string(sk_status_name(1234)), std::string("SK_UNKNOWN_STATUS"));
}

TEST(errors_are_per_thread_and_per_context) {
    Context a, b;
    CHECK(sk_context_set_num_threads(a, -1) == SK_ERROR_INVALID_ARGUMENT);
    const std::string message = sk_context_last_error(a);
    CHECK(message.find("num_threads") != std::string::npos);
    CHECK_EQ(std::string(sk_context_last_error(b)), std::string(""));
    CHECK_EQ(std::string(sk_last_error()), message);
    std::string other_thread;
    std::thread([&] { other_thread = sk_last_error(); }).join();
    CHECK_EQ(other_thread, std::string(""));
    char buf[8];
    const int64_t full = sk_last_error_copy(buf, sizeof buf);
    CHECK_EQ(full, static_cast<int64_t>(message.size()));
    CHECK_EQ(std::string(buf), message.substr(0, 7));
}

TEST(context_lifecycle_and_settings) {
    sk_context *ctx = nullptr;
    CHECK_OK(sk_context_create(SK_DEVICE_CPU, 0, &ctx));
    int32_t type = -1, index = -1, threads = -1;
    CHECK_OK(sk_context_device(ctx, &type, &index));
    CHECK_EQ(type, SK_DEVICE_CPU);
    CHECK_EQ(index, 0);
    CHECK_OK(sk_context_set_num_threads(ctx, 3));
    CHECK_OK(sk_context_num_threads(ctx, &threads));
    CHECK_EQ(threads, 3);
    CHECK_OK(sk_context_synchronize(ctx));
    CHECK(sk_context_create(SK_DEVICE_CPU, 1, &ctx) == SK_ERROR_DEVICE);
    CHECK_OK(sk_context_destroy(ctx));
    CHECK_OK(sk_context_destroy(nullptr));
    CHECK(sk_context_create(SK_DEVICE_CPU, 0, nullptr) == SK_ERROR_NULL_POINTER);
}

TEST(workspace_is_cached_and_released) {
    Context ctx;
    HostTensor<float> a({64, 64}, 0.1f), b({64, 64}, 0.2f), c({64, 64});
    auto o = matmul_options(SK_SEMIRING_LOG);
    CHECK_OK(sk_semiring_matmul(ctx, &o, a.d(), b.d(), c.d(), nullptr));
    int64_t held = -1;
    CHECK_OK(sk_context_workspace_bytes(ctx, &held));
    CHECK(held > 0);
    CHECK_OK(sk_context_release_workspace(ctx));
    CHECK_OK(sk_context_workspace_bytes(ctx, &held));
    CHECK_EQ(held, int64_t(0));
}

TEST(host_memory_helpers) {
    Context ctx;
    void *p = nullptr;
    CHECK_OK(sk_malloc(ctx, 1000, &p));
    CHECK(p != nullptr);
    CHECK_EQ(reinterpret_cast<std::uintptr_t>(p) % 256, std::uintptr_t(0));
    const char text[] = "semiring";
    CHECK_OK(sk_memcpy(ctx, p, SK_DEVICE_CPU, text, SK_DEVICE_CPU, sizeof text));
    CHECK_EQ(std::string(static_cast<char *>(p)), std::string(text));
    CHECK(sk_memcpy(ctx, p, SK_DEVICE_CUDA, text, SK_DEVICE_CPU, 4) == SK_ERROR_DEVICE);
    CHECK(sk_memcpy(ctx, nullptr, SK_DEVICE_CPU, text, SK_DEVICE_CPU, 4) == SK_ERROR_NULL_POINTER);
    CHECK(sk_memcpy(ctx, p, SK_DEVICE_CPU, text, SK_DEVICE_CPU, -1) == SK_ERROR_INVALID_ARGUMENT);
    CHECK(sk_malloc(ctx, -1, &p) == SK_ERROR_INVALID_ARGUMENT);
    CHECK_OK(sk_free(ctx, p));
    CHECK_OK(sk_free(ctx, nullptr));
}

// Many threads, each with its own context, give the single-threaded results.
TEST(concurrent_contexts) {
    std::mt19937_64 rng(1);
    HostTensor<double> a({2, 30, 40}), b({2, 40, 20}), ref({2, 30, 20});
    fill_uniform(a, rng, -1, 1);
    fill_uniform(b, rng, -1, 1);
    auto o = matmul_options(SK_SEMIRING_LOG);
    {
        Context ctx;
        CHECK_OK(sk_semiring_matmul(ctx, &o, a.d(), b.d(), ref.d(), nullptr));
    }
    std::vector<int> ok(8, 0);
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t)
        threads.emplace_back([&, t] {
            Context ctx;
            sk_context_set_num_threads(ctx, 2);
            bool all = true;
            for (int rep = 0; rep < 20; ++rep) {
                HostTensor<double> c({2, 30, 20});
                all = all && sk_semiring_matmul(ctx, &o, a.d(), b.d(), c.d(), nullptr) == SK_OK &&
                      c.storage == ref.storage;
            }
            ok[static_cast<size_t>(t)] = all;
        });
    for (auto &th : threads) th.join();
    for (int v : ok) CHECK(v == 1);
}

TEST_MAIN()
