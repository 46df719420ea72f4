// A minimal self-registering test framework (no downloads needed): TEST(name) { ... } and
// CHECK-style assertions that record failures with file:line and keep going. The runner returns
// 1 if anything failed, or kSkipCode when every test that ran asked to skip (ctest marks it
// skipped via SKIP_RETURN_CODE).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

namespace sktest {

constexpr int kSkipCode = 77;

struct Registry {
    std::vector<std::pair<std::string, std::function<void()>>> tests;
    int failures = 0;
    bool skipped = false;
    static Registry &get() {
        static Registry r;
        return r;
    }
};

struct Register {
    Register(const char *name, std::function<void()> f) {
        Registry::get().tests.emplace_back(name, std::move(f));
    }
};

inline void report(const char *file, int line, const std::string &what) {
    ++Registry::get().failures;
    std::fprintf(stderr, "  FAILED %s:%d: %s\n", file, line, what.c_str());
}

// Marks the current test binary as skipped (used only by device tests on machines without one).
inline void skip(const std::string &why) {
    Registry::get().skipped = true;
    std::fprintf(stderr, "  SKIPPED: %s\n", why.c_str());
}

// SK_TEST_EXCLUDE: comma-separated name fragments of tests not to run, each listed as excluded
// (ci/gpu-sanitize.sh leaves out the size-stress tests, whose kernels the small cases already run
// under the sanitizer; see docs/reliability.md).
inline bool excluded(const std::string &name) {
    const char *env = std::getenv("SK_TEST_EXCLUDE");
    if (!env) return false;
    std::string list(env);
    for (std::size_t start = 0; start <= list.size();) {
        const std::size_t end = std::min(list.find(',', start), list.size());
        const std::string fragment = list.substr(start, end - start);
        if (!fragment.empty() && name.find(fragment) != std::string::npos) return true;
        start = end + 1;
    }
    return false;
}

inline int run_all(int argc, char **argv) {
    auto &r = Registry::get();
    int ran = 0;
    for (auto &[name, f] : r.tests) {
        if (argc > 1 && name.find(argv[1]) == std::string::npos) continue;
        if (excluded(name)) {
            std::fprintf(stderr, "[ EXCL ] %s (SK_TEST_EXCLUDE)\n", name.c_str());
            continue;
        }
        const int before = r.failures;
        std::fprintf(stderr, "[ RUN  ] %s\n", name.c_str());
        f();
        std::fprintf(stderr, "[ %s ] %s\n", r.failures == before ? " OK " : "FAIL", name.c_str());
        ++ran;
    }
    std::fprintf(stderr, "%d tests, %d failed checks\n", ran, r.failures);
    if (r.failures) return 1;
    if (ran == 0) {
        std::fprintf(stderr, "no test matched\n");
        return 1;
    }
    return r.skipped ? kSkipCode : 0;
}

}  // namespace sktest

#define SK_CONCAT2(a, b) a##b
#define SK_CONCAT(a, b) SK_CONCAT2(a, b)
#define TEST(name)                                                                \
    static void name();                                                           \
    static sktest::Register SK_CONCAT(register_, name)(#name, name);              \
    static void name()

#define CHECK(cond)                                                               \
    do {                                                                          \
        if (!(cond)) sktest::report(__FILE__, __LINE__, "CHECK(" #cond ")");      \
    } while (0)

#define CHECK_MSG(cond, msg)                                                      \
    do {                                                                          \
        if (!(cond)) {                                                            \
            std::ostringstream os_;                                               \
            os_ << "CHECK(" #cond ") " << msg;                                    \
            sktest::report(__FILE__, __LINE__, os_.str());                        \
        }                                                                         \
    } while (0)

#define CHECK_EQ(a, b)                                                            \
    do {                                                                          \
        auto va_ = (a);                                                           \
        auto vb_ = (b);                                                           \
        if (!(va_ == vb_)) {                                                      \
            std::ostringstream os_;                                               \
            os_ << #a " == " #b " (" << va_ << " vs " << vb_ << ")";              \
            sktest::report(__FILE__, __LINE__, os_.str());                        \
        }                                                                         \
    } while (0)

#define CHECK_OK(call)                                                            \
    do {                                                                          \
        sk_status st_ = (call);                                                   \
        if (st_ != SK_OK) {                                                       \
            std::ostringstream os_;                                               \
            os_ << #call " returned " << sk_status_name(st_) << ": " << sk_last_error(); \
            sktest::report(__FILE__, __LINE__, os_.str());                        \
        }                                                                         \
    } while (0)

#define TEST_MAIN() \
    int main(int argc, char **argv) { return sktest::run_all(argc, argv); }
