#!/usr/bin/env bash
# Builds everything and runs every test on this machine (the README's test command; CI runs it).
#  1. `mvn verify` with a JDK 22+: CMake configure/build (CUDA for one architecture when nvcc is
#     present), ctest, the Java bindings/API tests, the jar with the native library inside.
#  2. The native tests once more under AddressSanitizer + UndefinedBehaviorSanitizer + LeakSanitizer
#     (CPU build).
#  3. ci/fuzz.sh: every libFuzzer harness (native/fuzz) for SK_FUZZ_SECONDS seconds (default 60;
#     0 skips), after replaying the committed crash inputs.
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
if [ "${SK_FUZZ_SECONDS:-60}" != 0 ]; then
    echo "== fuzzing the C API (ci/fuzz.sh, ${SK_FUZZ_SECONDS:-60} s per family)"
    bash ci/fuzz.sh "${SK_FUZZ_SECONDS:-60}"
fi
echo "== all tests passed"
