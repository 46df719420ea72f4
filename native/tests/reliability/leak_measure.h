// What the leak tests (test_leaks, test_leaks_cuda) measure and how many calls they make.
#pragma once

#include <cstdlib>
#include <fstream>
#include <unistd.h>

namespace sktest::reliability {

// Resident set size of this process in MiB (/proc/self/statm).
inline double rss_mib() {
    std::ifstream statm("/proc/self/statm");
    long pages_total = 0, pages_resident = 0;
    statm >> pages_total >> pages_resident;
    return static_cast<double>(pages_resident) * static_cast<double>(sysconf(_SC_PAGESIZE)) / (1024.0 * 1024.0);
}

// Mixed C API calls to make: SK_LEAK_CALLS, default 10^5.
inline long calls_wanted() {
    const char *env = std::getenv("SK_LEAK_CALLS");
    return env ? std::atol(env) : 100000;
}

}  // namespace sktest::reliability
