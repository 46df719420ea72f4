// sk_bench: the native benchmark harness of Semiring Kernels. It uses only the public C header.
//
//   sk_bench [--device cpu|cuda] [--family F]... [--config NAME]... [--list] [--quick]
//            [--repeats N] [--json FILE] [--no-check]
//
// Each family contributes named configurations (bench_FAMILY.cpp: matmul, hmm, ctc, semicrf,
// einsum, semiconv): a fixed operation, dtype and size, with reproducible random inputs. For
// each configuration: several input sets rotate when one set would fit in the GPU's L2, warm-up
// calls come first, then
// `repeats` timed loops of R calls, each loop between two sk_context_synchronize calls and timed
// with the host's steady clock (the C API does not expose the context's stream, so no CUDA
// events); the reported time is the median over loops of the per-call time. R is chosen so that
// a loop lasts about 25 ms.
//
// Correctness: on CUDA the outputs of input set 0 are compared with the CPU path on the same
// inputs (relative Frobenius error of every real output over the entries finite in the CPU's,
// non-finite entries must match, index outputs such as argmax and paths must match exactly);
// families with a long-double reference in the harness (matmul) also check sampled entries.
//
// Output: one JSON line per configuration (to --json FILE, default sk_bench.jsonl) and a table.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "bench.h"

using namespace skbench;

namespace {

// ---- timing ------------------------------------------------------------------------------------

double now_ms() {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

struct Timing {
    double median_ms, min_ms, max_ms;
    int calls_per_loop, loops;
};

Timing time_case(Case &inst, Context &ctx, int repeats, int warmups) {
    const size_t sets = inst.sets();
    size_t next = 0;
    auto one = [&] {
        inst.run(next);
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

struct Check {
    double rel_error_cpu = -1;  // -1: not compared
    int64_t index_mismatches = -1;
    int64_t nonfinite_mismatches = 0;
    double sample_error = -1;
};

// Runs set 0 once more on the timed device and, for CUDA, on the CPU, and compares.
Check check_case(const Spec &spec, Case &inst, Context &device) {
    Check result;
    result.sample_error = inst.reference_error();
    if (device.type != SK_DEVICE_CUDA) return result;
    inst.run(0);
    const Outputs got = inst.outputs();
    Context cpu(SK_DEVICE_CPU);
    std::unique_ptr<Case> ref = spec.make(cpu, false);
    ref->run(0);
    const Outputs want = ref->outputs();
    result.rel_error_cpu = 0;
    for (size_t i = 0; i < got.values.size(); ++i) {
        const Comparison c = compare(got.values[i].second, want.values[i].second);
        result.rel_error_cpu = std::max(result.rel_error_cpu, c.rel_error);
        result.nonfinite_mismatches += c.nonfinite_mismatches;
    }
    if (!got.indices.empty()) {
        result.index_mismatches = 0;
        for (size_t i = 0; i < got.indices.size(); ++i)
            result.index_mismatches += count_mismatches(got.indices[i].second, want.indices[i].second);
    }
    return result;
}

// ---- driver ------------------------------------------------------------------------------------

struct Options {
    int32_t device = SK_DEVICE_CUDA;
    std::vector<std::string> selected, families;
    bool list = false, quick = false, verify = true;
    int repeats = 7;
    std::string json = "sk_bench.jsonl";
};

[[noreturn]] void usage(const char *message) {
    std::fprintf(stderr,
                 "%s\nusage: sk_bench [--device cpu|cuda] [--family matmul|hmm|ctc|semicrf|einsum|semiconv]... [--config NAME]...\n"
                 "                [--list] [--quick] [--repeats N] [--json FILE] [--no-check]\n"
                 "A NAME selects every configuration whose name contains it (--config may repeat);\n"
                 "--family keeps only the named families (may repeat).\n",
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
        } else if (arg == "--family") {
            const std::string f = value();
            if (f != "matmul" && f != "hmm" && f != "ctc" && f != "semicrf" && f != "einsum" && f != "semiconv")
                usage(("unknown family " + f).c_str());
            o.families.push_back(f);
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

bool selected(const Options &o, const Spec &c) {
    if (!o.families.empty() && std::find(o.families.begin(), o.families.end(), c.family) == o.families.end())
        return false;
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

std::vector<Spec> all_specs(bool quick) {
    std::vector<Spec> out;
    for (auto family : {matmul_specs, hmm_specs, ctc_specs, semicrf_specs, einsum_specs, semiconv_specs}) {
        std::vector<Spec> specs = family(quick);
        out.insert(out.end(), specs.begin(), specs.end());
    }
    return out;
}

}  // namespace

int main(int argc, char **argv) {
    const Options o = parse(argc, argv);
    const std::vector<Spec> specs = all_specs(o.quick);
    if (o.list) {
        for (const auto &s : specs)
            if (selected(o, s)) std::printf("%s\n", s.name.c_str());
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
        const char *device_kind = o.device == SK_DEVICE_CUDA ? "cuda" : "cpu";
        FILE *json = std::fopen(o.json.c_str(), "a");
        if (!json) throw std::runtime_error("cannot open " + o.json);
        std::vector<std::string> rows;
        int failures = 0;
        for (const Spec &s : specs) {
            if (!selected(o, s)) continue;
            Context ctx(o.device);
            std::unique_ptr<Case> inst = s.make(ctx, o.device == SK_DEVICE_CUDA);
            const int repeats = o.quick ? std::min(o.repeats, 3) : o.repeats;
            const Timing t = time_case(*inst, ctx, repeats, 3);
            Check chk;
            if (o.verify) chk = check_case(s, *inst, ctx);
            const double throughput = s.work > 0 ? s.work / (t.median_ms * 1e-3) : 0;
            const bool bad = chk.nonfinite_mismatches > 0 || chk.index_mismatches > 0 ||
                             chk.rel_error_cpu > s.tolerance || chk.sample_error > s.tolerance;
            failures += bad ? 1 : 0;
            std::fprintf(json,
                         "{\"config\":\"%s\",\"family\":\"%s\",\"phase\":\"%s\",\"dtype\":\"%s\","
                         "\"params\":%s,\"device\":\"%s\",\"device_name\":\"%s\",\"ms\":%s,\"ms_min\":%s,"
                         "\"ms_max\":%s,\"loops\":%d,\"calls_per_loop\":%d,\"input_sets\":%zu,"
                         "\"throughput\":%s,\"throughput_unit\":\"%s\",\"rel_error_vs_cpu\":%s,"
                         "\"index_mismatches\":%lld,\"nonfinite_mismatches\":%lld,"
                         "\"sampled_error_vs_longdouble\":%s,\"ok\":%s,\"date\":\"%s\",\"library\":\"%s\"}\n",
                         s.name.c_str(), s.family.c_str(), s.phase.c_str(), dtype_name(s.dtype), s.params.c_str(),
                         device_kind, device.c_str(), json_number(t.median_ms).c_str(), json_number(t.min_ms).c_str(),
                         json_number(t.max_ms).c_str(), t.loops, t.calls_per_loop, inst->sets(),
                         json_number(throughput).c_str(), s.work_unit.c_str(),
                         chk.rel_error_cpu < 0 ? "null" : json_number(chk.rel_error_cpu).c_str(),
                         static_cast<long long>(chk.index_mismatches), static_cast<long long>(chk.nonfinite_mismatches),
                         chk.sample_error < 0 ? "null" : json_number(chk.sample_error).c_str(), bad ? "false" : "true",
                         today().c_str(), sk_version_string());
            std::fflush(json);
            char row[512];
            std::snprintf(row, sizeof row, "%-52s %-5s %10.4f %10.4g %-10s %11s %9s %11s %s", s.name.c_str(),
                          device_kind, t.median_ms, throughput, s.work_unit.c_str(),
                          chk.rel_error_cpu < 0 ? "-" : json_number(chk.rel_error_cpu).c_str(),
                          chk.index_mismatches < 0 ? "-" : std::to_string(chk.index_mismatches).c_str(),
                          chk.sample_error < 0 ? "-" : json_number(chk.sample_error).c_str(), bad ? "FAIL" : "ok");
            std::printf("%s\n", row);
            std::fflush(stdout);
            rows.push_back(row);
        }
        std::fclose(json);
        std::printf("\nsk_bench on %s (%s), %s, median ms per call\n", device.c_str(), device_kind, today().c_str());
        std::printf("%-52s %-5s %10s %10s %-10s %11s %9s %11s %s\n", "config", "dev", "ms", "throughput", "unit",
                    "err vs cpu", "index!=", "sample err", "check");
        for (const auto &r : rows) std::printf("%s\n", r.c_str());
        return failures == 0 ? 0 : 3;
    } catch (const std::exception &e) {
        std::fprintf(stderr, "sk_bench: %s\n", e.what());
        return 1;
    }
}
