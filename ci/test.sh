#!/usr/bin/env bash
# Builds everything and runs every test on this machine (the README's test command; CI runs it).
#  1. `mvn verify` with a JDK 22+: CMake configure/build (CUDA for one architecture when nvcc is
#     present), ctest, the Java bindings/API tests, the jar with the native library inside.
#  2. The native tests once more under AddressSanitizer + UndefinedBehaviorSanitizer (CPU build).
# Usage: ci/test.sh [extra Maven arguments]
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
source ci/find-jdk.sh
echo "== JDK: $JAVA_HOME"

echo "== mvn verify"
mvn -B -ntp verify "$@"

echo "== native tests under ASan + UBSan (CPU build)"
build=target/native-asan
cmake -S . -B "$build" -DSK_WITH_CUDA=OFF -DSK_BUILD_BENCH=OFF -DSK_SANITIZE=address,undefined \
      -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j "$(nproc)"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir "$build" --output-on-failure
echo "== all tests passed"
