// sk_bench: the native benchmark harness of Semiring Kernels. It uses only the public C header.
//
//   sk_bench [--device cpu|cuda] [--config NAME]... [--list] [--quick] [--repeats N]
//            [--json FILE] [--no-check]
//
// Each named configuration is one einsum-shaped semiring matmul (forward, or forward + backward)
// with a fixed semiring, dtype and size. For each: inputs are random and non-zero (uniform in
// [-3, 3]; boolean operands are random 0/1 with 1 % ones), several input sets rotate when one set
// would fit in the GPU's L2, warm-up calls come first, then `repeats` timed loops of R calls, each
// loop between two sk_context_synchronize calls and timed with the host's steady clock (the C API
// does not expose the context's stream, so no CUDA events); the reported time is the median over
// loops of the per-call time. R is chosen so that a loop lasts about 25 ms.
//
// Correctness: on CUDA the output of input set 0 is compared with the CPU path (relative
// Frobenius error over finite entries, argmax mismatches counted); on any device a sample of
// entries is compared with a long-double brute-force reference of the forward.
//
// Output: one JSON line per configuration (to --json FILE, default sk_bench.jsonl) and a table.
// GFLOP/s-equivalent counts 2*B*M*N*K per forward and 6*B*M*N*K per forward + backward.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "semiring_kernels.h"

namespace {

// ---- configurations ----------------------------------------------------------------------------

enum class Phase { Forward, ForwardBackward };

struct Config {
    std::string name;
    int32_t semiring;
    int32_t dtype;
    bool argmax;
    Phase phase;
    std::string einsum;  // "ij,jk->ik" (batch 1, rank 2) or "bij,bjk->bik"
    int64_t batch, m, k, n;
};

const char *semiring_name(int32_t s) {
    switch (s) {
        case SK_SEMIRING_LOG: return "log";
        case SK_SEMIRING_MAX: return "max";
        case SK_SEMIRING_REAL: return "real";
        case SK_SEMIRING_MIN: return "min";
        default: return "boolean";
    }
}

Config make_config(int32_t semiring, bool argmax, Phase phase, int32_t dtype, int64_t batch, int64_t size) {
    Config c;
    c.semiring = semiring;
    c.argmax = argmax;
    c.phase = phase;
    c.dtype = dtype;
    c.einsum = batch == 1 ? "ij,jk->ik" : "bij,bjk->bik";
    c.batch = batch;
    c.m = c.k = c.n = size;
    c.name = std::string(semiring_name(semiring)) + (argmax ? "+argmax" : "") + "/" + c.einsum + "/" +
             (batch == 1 ? "" : std::to_string(batch) + "x") + std::to_string(size) + "^3/" +
             (dtype == SK_DTYPE_FLOAT32 ? "f32" : "f64") + "/" + (phase == Phase::Forward ? "fwd" : "fwd+bwd");
    return c;
}

// The configuration list; --quick shrinks every size (2048 -> 512, 16 x 256 -> 4 x 128, ...).
std::vector<Config> all_configs(bool quick) {
    std::vector<Config> out;
    const int64_t large = quick ? 512 : 2048, batched = quick ? 128 : 256, batch = quick ? 4 : 16;
    const int64_t f64_large = quick ? 256 : 1024, f64_bwd = quick ? 128 : 512;
    struct Shape {
        int64_t batch, size;
    };
    for (Shape sh : {Shape{batch, batched}, Shape{1, large}}) {
        for (int32_t s : {SK_SEMIRING_LOG, SK_SEMIRING_MAX, SK_SEMIRING_REAL, SK_SEMIRING_MIN, SK_SEMIRING_BOOLEAN})
            out.push_back(make_config(s, false, Phase::Forward, SK_DTYPE_FLOAT32, sh.batch, sh.size));
        out.push_back(make_config(SK_SEMIRING_MAX, true, Phase::Forward, SK_DTYPE_FLOAT32, sh.batch, sh.size));
        out.push_back(make_config(SK_SEMIRING_LOG, false, Phase::ForwardBackward, SK_DTYPE_FLOAT32, sh.batch, sh.size));
        out.push_back(make_config(SK_SEMIRING_REAL, false, Phase::ForwardBackward, SK_DTYPE_FLOAT32, sh.batch, sh.size));
        out.push_back(make_config(SK_SEMIRING_MAX, true, Phase::ForwardBackward, SK_DTYPE_FLOAT32, sh.batch, sh.size));
    }
    for (int32_t s : {SK_SEMIRING_REAL, SK_SEMIRING_LOG}) {
        out.push_back(make_config(s, false, Phase::Forward, SK_DTYPE_FLOAT64, 1, f64_large));
        out.push_back(make_config(s, false, Phase::ForwardBackward, SK_DTYPE_FLOAT64, 1, f64_bwd));
    }
    // Tiny problems: the cost of one call through the C API (the JMH CallOverheadBenchmark
    // measures the same ops from Java; the difference is the Java layer's overhead).
    for (int32_t s : {SK_SEMIRING_REAL, SK_SEMIRING_LOG, SK_SEMIRING_MAX})
        out.push_back(make_config(s, false, Phase::Forward, SK_DTYPE_FLOAT32, 1, 4));
    return out;
}

// ---- C API helpers -----------------------------------------------------------------------------

void check(sk_status status, const char *what) {
    if (status != SK_OK)
        throw std::runtime_error(std::string(what) + " failed: " + sk_status_name(status) + ": " + sk_last_error());
}

size_t dtype_bytes(int32_t dtype) { return dtype == SK_DTYPE_FLOAT64 ? 8 : 4; }

// A buffer on the context's device holding one tensor of `shape` (contiguous).
struct DeviceTensor {
    sk_context *ctx = nullptr;
    void *ptr = nullptr;
    sk_tensor desc{};
    size_t bytes = 0;

    DeviceTensor(sk_context *c, int32_t device_type, int32_t dtype, std::vector<int64_t> shape) : ctx(c) {
        desc.dtype = dtype;
        desc.device_type = device_type;
        desc.device_index = 0;
        desc.rank = static_cast<int32_t>(shape.size());
        int64_t count = 1;
        for (int d = desc.rank - 1; d >= 0; --d) {
            desc.shape[d] = shape[static_cast<size_t>(d)];
            desc.strides[d] = count;
            count *= shape[static_cast<size_t>(d)];
        }
        bytes = static_cast<size_t>(count) * (dtype == SK_DTYPE_INT32 ? 4 : dtype_bytes(dtype));
        check(sk_malloc(ctx, static_cast<int64_t>(bytes), &ptr), "sk_malloc");
        desc.data = ptr;
    }
    ~DeviceTensor() { sk_free(ctx, ptr); }
    DeviceTensor(const DeviceTensor &) = delete;
    DeviceTensor &operator=(const DeviceTensor &) = delete;
    void upload(const void *host) {
        check(sk_memcpy(ctx, ptr, desc.device_type, host, SK_DEVICE_CPU, static_cast<int64_t>(bytes)), "sk_memcpy");
    }
    template <class T>
    std::vector<T> download() const {
        std::vector<T> out(bytes / sizeof(T));
        check(sk_memcpy(ctx, out.data(), SK_DEVICE_CPU, ptr, desc.device_type, static_cast<int64_t>(bytes)), "sk_memcpy");
        return out;
    }
    sk_tensor *d() { return &desc; }
};

struct Context {
    sk_context *ctx = nullptr;
    int32_t type;
    explicit Context(int32_t device_type) : type(device_type) {
        check(sk_context_create(device_type, 0, &ctx), "sk_context_create");
    }
    ~Context() { sk_context_destroy(ctx); }
    Context(const Context &) = delete;
    Context &operator=(const Context &) = delete;
};

// ---- one problem instance ----------------------------------------------------------------------

// Host inputs of one set, as doubles (converted to the dtype on upload).
struct HostSet {
    std::vector<double> a, b, g;
};

HostSet random_set(const Config &c, std::mt19937_64 &rng) {
    HostSet h;
    const size_t na = static_cast<size_t>(c.batch * c.m * c.k), nb = static_cast<size_t>(c.batch * c.k * c.n),
                 nc = static_cast<size_t>(c.batch * c.m * c.n);
    std::uniform_real_distribution<double> u(-3.0, 3.0), ug(-1.0, 1.0), unit(0.0, 1.0);
    auto draw = [&](size_t n) {
        std::vector<double> v(n);
        for (auto &x : v) {
            if (c.semiring == SK_SEMIRING_BOOLEAN) {
                x = unit(rng) < 0.01 ? 1.0 : 0.0;
            } else {
                do x = u(rng);
                while (x == 0.0);
            }
        }
        return v;
    };
    h.a = draw(na);
    h.b = draw(nb);
    h.g.resize(nc);
    for (auto &x : h.g) {
        do x = ug(rng);
        while (x == 0.0);
    }
    return h;
}

template <class T>
std::vector<T> converted(const std::vector<double> &v) {
    return std::vector<T>(v.begin(), v.end());
}

// Device buffers of one input set plus the outputs (shared by all sets).
struct Instance {
    const Config &c;
    sk_context *ctx;
    std::vector<DeviceTensor *> a, b, g;
    DeviceTensor *out = nullptr, *idx = nullptr, *ga = nullptr, *gb = nullptr;
    sk_matmul_options options{};

    std::vector<int64_t> shape(int64_t rows, int64_t cols) const {
        return c.batch == 1 ? std::vector<int64_t>{rows, cols} : std::vector<int64_t>{c.batch, rows, cols};
    }

    Instance(const Config &config, Context &context, const std::vector<HostSet> &sets) : c(config), ctx(context.ctx) {
        options.struct_size = sizeof(sk_matmul_options);
        options.semiring = c.semiring;
        for (const HostSet &h : sets) {
            a.push_back(new DeviceTensor(ctx, context.type, c.dtype, shape(c.m, c.k)));
            b.push_back(new DeviceTensor(ctx, context.type, c.dtype, shape(c.k, c.n)));
            g.push_back(new DeviceTensor(ctx, context.type, c.dtype, shape(c.m, c.n)));
            upload(*a.back(), h.a);
            upload(*b.back(), h.b);
            upload(*g.back(), h.g);
        }
        out = new DeviceTensor(ctx, context.type, c.dtype, shape(c.m, c.n));
        if (c.argmax) idx = new DeviceTensor(ctx, context.type, SK_DTYPE_INT32, shape(c.m, c.n));
        if (c.phase == Phase::ForwardBackward) {
            ga = new DeviceTensor(ctx, context.type, c.dtype, shape(c.m, c.k));
            gb = new DeviceTensor(ctx, context.type, c.dtype, shape(c.k, c.n));
        }
    }
    ~Instance() {
        for (auto *t : a) delete t;
        for (auto *t : b) delete t;
        for (auto *t : g) delete t;
        delete out;
        delete idx;
        delete ga;
        delete gb;
    }
    Instance(const Instance &) = delete;
    Instance &operator=(const Instance &) = delete;

    void upload(DeviceTensor &t, const std::vector<double> &v) {
        if (c.dtype == SK_DTYPE_FLOAT32)
            t.upload(converted<float>(v).data());
        else
            t.upload(v.data());
    }

    // One timed unit of work on input set s.
    void call(size_t s) {
        check(sk_semiring_matmul(ctx, &options, a[s]->d(), b[s]->d(), out->d(), idx ? idx->d() : nullptr),
              "sk_semiring_matmul");
        if (c.phase == Phase::ForwardBackward)
            check(sk_semiring_matmul_backward(ctx, &options, a[s]->d(), b[s]->d(), out->d(), idx ? idx->d() : nullptr,
                                              g[s]->d(), ga->d(), gb->d()),
                  "sk_semiring_matmul_backward");
    }

    std::vector<double> values(const DeviceTensor &t) const {
        if (c.dtype == SK_DTYPE_FLOAT32) {
            auto v = t.download<float>();
            return std::vector<double>(v.begin(), v.end());
        }
        return t.download<double>();
    }
};

// ---- timing ------------------------------------------------------------------------------------

double now_ms() {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

struct Timing {
    double median_ms, min_ms, max_ms;
    int calls_per_loop, loops;
};

Timing time_instance(Instance &inst, Context &ctx, size_t sets, int repeats, int warmups) {
    size_t next = 0;
    auto one = [&] {
        inst.call(next);
        next = (next + 1) % sets;
    };
    for (int w = 0; w < warmups; ++w) one();
    check(sk_context_synchronize(ctx.ctx), "sk_context_synchronize");
    // Estimate one call, then size the loops to about 25 ms each.
    double t0 = now_ms();
    one();
    check(sk_context_synchronize(ctx.ctx), "sk_context_synchronize");
    const double single = std::max(now_ms() - t0, 1e-3);
    const int calls = static_cast<int>(std::clamp(25.0 / single, 1.0, 2000.0));
    std::vector<double> per_call;
    for (int r = 0; r < repeats; ++r) {
        check(sk_context_synchronize(ctx.ctx), "sk_context_synchronize");
        const double start = now_ms();
        for (int i = 0; i < calls; ++i) one();
        check(sk_context_synchronize(ctx.ctx), "sk_context_synchronize");
        per_call.push_back((now_ms() - start) / calls);
    }
    std::sort(per_call.begin(), per_call.end());
    return {per_call[per_call.size() / 2], per_call.front(), per_call.back(), calls, repeats};
}

// ---- correctness -------------------------------------------------------------------------------

// Relative Frobenius error over entries finite in the reference; non-finite entries must match.
struct Comparison {
    double rel_error = 0;
    int64_t nonfinite_mismatches = 0;
};

Comparison compare(const std::vector<double> &got, const std::vector<double> &want) {
    long double num = 0, den = 0;
    Comparison c;
    for (size_t e = 0; e < got.size(); ++e) {
        if (!std::isfinite(want[e])) {
            const bool same = std::isnan(want[e]) ? std::isnan(got[e]) : got[e] == want[e];
            if (!same) ++c.nonfinite_mismatches;
            continue;
        }
        const long double d = static_cast<long double>(got[e]) - want[e];
        num += d * d;
        den += static_cast<long double>(want[e]) * want[e];
    }
    c.rel_error = static_cast<double>(den == 0 ? std::sqrt(num) : std::sqrt(num / den));
    return c;
}

// Brute-force entry in long double from the semiring definitions (value and argmax).
std::pair<long double, int32_t> reference_entry(const Config &c, const HostSet &h, int64_t bi, int64_t i, int64_t j) {
    const long double inf = std::numeric_limits<long double>::infinity();
    auto A = [&](int64_t t) { return static_cast<long double>(h.a[static_cast<size_t>((bi * c.m + i) * c.k + t)]); };
    auto B = [&](int64_t t) { return static_cast<long double>(h.b[static_cast<size_t>((bi * c.k + t) * c.n + j)]); };
    switch (c.semiring) {
        case SK_SEMIRING_REAL: {
            long double s = 0;
            for (int64_t t = 0; t < c.k; ++t) s += A(t) * B(t);
            return {s, -1};
        }
        case SK_SEMIRING_LOG: {
            long double hi = -inf, s = 0;
            for (int64_t t = 0; t < c.k; ++t) hi = std::max(hi, A(t) + B(t));
            for (int64_t t = 0; t < c.k; ++t) s += std::exp(A(t) + B(t) - hi);
            return {hi + std::log(s), -1};
        }
        case SK_SEMIRING_MAX:
        case SK_SEMIRING_MIN: {
            const bool is_max = c.semiring == SK_SEMIRING_MAX;
            long double best = is_max ? -inf : inf;
            int32_t where = -1;
            for (int64_t t = 0; t < c.k; ++t) {
                const long double v = A(t) + B(t);
                if (is_max ? v > best : v < best) {
                    best = v;
                    where = static_cast<int32_t>(t);
                }
            }
            return {best, where};
        }
        default: {
            bool any = false;
            for (int64_t t = 0; t < c.k; ++t) any = any || (A(t) != 0 && B(t) != 0);
            return {any ? 1.0L : 0.0L, -1};
        }
    }
}

// Largest |got - ref| / scale over 64 random entries of the forward (set 0); the scale is
// sum_k |A B| for REAL (the size rounding errors grow with, so cancellation does not inflate the
// error), max(|ref|, 1) otherwise.
double sampled_error(const Config &c, const HostSet &h, const std::vector<double> &got) {
    std::mt19937_64 rng(99);
    double worst = 0;
    for (int s = 0; s < 64; ++s) {
        const int64_t bi = static_cast<int64_t>(rng() % static_cast<uint64_t>(c.batch));
        const int64_t i = static_cast<int64_t>(rng() % static_cast<uint64_t>(c.m));
        const int64_t j = static_cast<int64_t>(rng() % static_cast<uint64_t>(c.n));
        const long double ref = reference_entry(c, h, bi, i, j).first;
        long double scale = std::max(std::fabs(ref), 1.0L);
        if (c.semiring == SK_SEMIRING_REAL) {
            scale = 0;
            for (int64_t t = 0; t < c.k; ++t)
                scale += std::fabs(h.a[static_cast<size_t>((bi * c.m + i) * c.k + t)] *
                                   h.b[static_cast<size_t>((bi * c.k + t) * c.n + j)]);
        }
        const double x = got[static_cast<size_t>((bi * c.m + i) * c.n + j)];
        const double err = static_cast<double>(std::fabs(static_cast<long double>(x) - ref) / scale);
        worst = std::max(worst, std::isnan(err) ? std::numeric_limits<double>::infinity() : err);
    }
    return worst;
}

struct Check {
    double rel_error_cpu = -1;  // -1: not compared
    int64_t argmax_mismatches = -1;
    int64_t nonfinite_mismatches = 0;
    double sample_error = -1;
};

// Runs set 0 once more on the timed device and (for CUDA) on the CPU, and compares.
Check check_instance(const Config &c, Instance &inst, Context &device, const HostSet &h0) {
    Check result;
    inst.call(0);
    check(sk_context_synchronize(device.ctx), "sk_context_synchronize");
    const std::vector<double> out = inst.values(*inst.out);
    result.sample_error = sampled_error(c, h0, out);
    if (device.type != SK_DEVICE_CUDA) return result;
    Context cpu(SK_DEVICE_CPU);
    std::vector<HostSet> one{h0};
    Instance ref(c, cpu, one);
    ref.call(0);
    Comparison cmp = compare(out, ref.values(*ref.out));
    result.rel_error_cpu = cmp.rel_error;
    result.nonfinite_mismatches = cmp.nonfinite_mismatches;
    if (c.phase == Phase::ForwardBackward) {
        for (auto pair : {std::make_pair(inst.ga, ref.ga), std::make_pair(inst.gb, ref.gb)}) {
            Comparison g = compare(inst.values(*pair.first), ref.values(*pair.second));
            result.rel_error_cpu = std::max(result.rel_error_cpu, g.rel_error);
            result.nonfinite_mismatches += g.nonfinite_mismatches;
        }
    }
    if (c.argmax) {
        auto got = inst.idx->download<int32_t>(), want = ref.idx->download<int32_t>();
        result.argmax_mismatches = 0;
        for (size_t e = 0; e < got.size(); ++e) result.argmax_mismatches += got[e] != want[e];
    }
    return result;
}

// ---- driver ------------------------------------------------------------------------------------

struct Options {
    int32_t device = SK_DEVICE_CUDA;
    std::vector<std::string> selected;
    bool list = false, quick = false, verify = true;
    int repeats = 7;
    std::string json = "sk_bench.jsonl";
};

[[noreturn]] void usage(const char *message) {
    std::fprintf(stderr,
                 "%s\nusage: sk_bench [--device cpu|cuda] [--config NAME]... [--list] [--quick]\n"
                 "                [--repeats N] [--json FILE] [--no-check]\n"
                 "A NAME selects every configuration whose name contains it (--config may repeat).\n",
                 message);
    std::exit(2);
}

Options parse(int argc, char **argv) {
    Options o;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) usage(("missing value after " + arg).c_str());
            return argv[++i];
        };
        if (arg == "--device") {
            const std::string d = value();
            if (d == "cpu") o.device = SK_DEVICE_CPU;
            else if (d == "cuda") o.device = SK_DEVICE_CUDA;
            else usage(("unknown device " + d).c_str());
        } else if (arg == "--config") {  // repeatable; names contain commas (the einsum), so no list
            o.selected.push_back(value());
        } else if (arg == "--list") {
            o.list = true;
        } else if (arg == "--quick") {
            o.quick = true;
        } else if (arg == "--repeats") {
            o.repeats = std::max(1, std::atoi(value().c_str()));
        } else if (arg == "--json") {
            o.json = value();
        } else if (arg == "--no-check") {
            o.verify = false;
        } else {
            usage(("unknown argument " + arg).c_str());
        }
    }
    return o;
}

bool selected(const Options &o, const Config &c) {
    if (o.selected.empty()) return true;
    for (const auto &s : o.selected)
        if (c.name == s || c.name.find(s) != std::string::npos) return true;
    return false;
}

std::string device_name(int32_t device) {
    if (device == SK_DEVICE_CPU) return "cpu";
    sk_device_info info{};
    check(sk_cuda_device_info(0, &info), "sk_cuda_device_info");
    return info.name;
}

std::string today() {
    std::time_t t = std::time(nullptr);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%d", std::gmtime(&t));
    return buf;
}

std::string json_number(double x) {
    if (!std::isfinite(x)) return "null";
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.6g", x);
    return buf;
}

}  // namespace

int main(int argc, char **argv) {
    const Options o = parse(argc, argv);
    const std::vector<Config> configs = all_configs(o.quick);
    if (o.list) {
        for (const auto &c : configs) std::printf("%s\n", c.name.c_str());
        return 0;
    }
    try {
        if (o.device == SK_DEVICE_CUDA) {
            int32_t count = 0;
            check(sk_cuda_device_count(&count), "sk_cuda_device_count");
            if (count == 0) {
                std::fprintf(stderr, "sk_bench: no CUDA device: %s\n", sk_cuda_unavailable_reason());
                return 1;
            }
        }
        const std::string device = device_name(o.device);
        FILE *json = std::fopen(o.json.c_str(), "a");
        if (!json) throw std::runtime_error("cannot open " + o.json);
        std::vector<std::string> rows;
        int failures = 0;
        for (const Config &c : configs) {
            if (!selected(o, c)) continue;
            std::mt19937_64 rng(12345);
            // Rotate input sets so that they do not all stay in a 50 MB L2 (GPU only).
            const double set_bytes = static_cast<double>(dtype_bytes(c.dtype)) *
                                     static_cast<double>(c.batch * (c.m * c.k + c.k * c.n + c.m * c.n));
            const size_t sets = o.device == SK_DEVICE_CUDA
                                    ? static_cast<size_t>(std::clamp(std::ceil(150e6 / set_bytes), 1.0, 16.0))
                                    : 1;
            std::vector<HostSet> host;
            for (size_t s = 0; s < sets; ++s) host.push_back(random_set(c, rng));
            Context ctx(o.device);
            Instance inst(c, ctx, host);
            const int repeats = o.quick ? std::min(o.repeats, 3) : o.repeats;
            const Timing t = time_instance(inst, ctx, sets, repeats, 3);
            Check chk;
            if (o.verify) chk = check_instance(c, inst, ctx, host[0]);
            const double flops = (c.phase == Phase::Forward ? 2.0 : 6.0) * c.batch * c.m * c.n * c.k;
            const double gflops = flops / (t.median_ms * 1e6);
            const bool bad = chk.nonfinite_mismatches > 0 || chk.argmax_mismatches > 0 ||
                             chk.rel_error_cpu > (c.dtype == SK_DTYPE_FLOAT32 ? 1e-4 : 1e-10) ||
                             chk.sample_error > (c.dtype == SK_DTYPE_FLOAT32 ? 1e-4 : 1e-10);
            failures += bad ? 1 : 0;
            std::fprintf(json,
                         "{\"config\":\"%s\",\"device\":\"%s\",\"device_name\":\"%s\",\"semiring\":\"%s\","
                         "\"argmax\":%s,\"dtype\":\"%s\",\"phase\":\"%s\",\"einsum\":\"%s\",\"batch\":%lld,"
                         "\"m\":%lld,\"k\":%lld,\"n\":%lld,\"ms\":%s,\"ms_min\":%s,\"ms_max\":%s,\"loops\":%d,"
                         "\"calls_per_loop\":%d,\"input_sets\":%zu,\"gflops_equivalent\":%s,"
                         "\"rel_error_vs_cpu\":%s,\"argmax_mismatches\":%lld,\"nonfinite_mismatches\":%lld,"
                         "\"sampled_error_vs_longdouble\":%s,\"ok\":%s,\"date\":\"%s\",\"library\":\"%s\"}\n",
                         c.name.c_str(), o.device == SK_DEVICE_CUDA ? "cuda" : "cpu", device.c_str(),
                         semiring_name(c.semiring), c.argmax ? "true" : "false",
                         c.dtype == SK_DTYPE_FLOAT32 ? "float32" : "float64",
                         c.phase == Phase::Forward ? "fwd" : "fwd+bwd", c.einsum.c_str(),
                         static_cast<long long>(c.batch), static_cast<long long>(c.m), static_cast<long long>(c.k),
                         static_cast<long long>(c.n), json_number(t.median_ms).c_str(), json_number(t.min_ms).c_str(),
                         json_number(t.max_ms).c_str(), t.loops, t.calls_per_loop, sets, json_number(gflops).c_str(),
                         chk.rel_error_cpu < 0 ? "null" : json_number(chk.rel_error_cpu).c_str(),
                         static_cast<long long>(chk.argmax_mismatches), static_cast<long long>(chk.nonfinite_mismatches),
                         chk.sample_error < 0 ? "null" : json_number(chk.sample_error).c_str(), bad ? "false" : "true",
                         today().c_str(), sk_version_string());
            std::fflush(json);
            char row[512];
            std::snprintf(row, sizeof row, "%-46s %-5s %-8s %10.4f %10.1f %11s %9s %11s %s", c.name.c_str(),
                          o.device == SK_DEVICE_CUDA ? "cuda" : "cpu", semiring_name(c.semiring), t.median_ms, gflops,
                          chk.rel_error_cpu < 0 ? "-" : json_number(chk.rel_error_cpu).c_str(),
                          chk.argmax_mismatches < 0 ? "-" : std::to_string(chk.argmax_mismatches).c_str(),
                          chk.sample_error < 0 ? "-" : json_number(chk.sample_error).c_str(), bad ? "FAIL" : "ok");
            std::printf("%s\n", row);
            std::fflush(stdout);
            rows.push_back(row);
        }
        std::fclose(json);
        std::printf("\nsk_bench on %s (%s), %s, median ms per call\n", device.c_str(),
                    o.device == SK_DEVICE_CUDA ? "cuda" : "cpu", today().c_str());
        std::printf("%-46s %-5s %-8s %10s %10s %11s %9s %11s %s\n", "config", "dev", "semiring", "ms", "GFLOP/s-eq",
                    "err vs cpu", "argmax!=", "sample err", "check");
        for (const auto &r : rows) std::printf("%s\n", r.c_str());
        return failures == 0 ? 0 : 3;
    } catch (const std::exception &e) {
        std::fprintf(stderr, "sk_bench: %s\n", e.what());
        return 1;
    }
}
