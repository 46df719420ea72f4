#!/usr/bin/env bash
# Fuzzes the C API with libFuzzer + AddressSanitizer + UndefinedBehaviorSanitizer (+ LeakSanitizer),
# one harness per family (native/fuzz/fuzz_<family>.cpp, found by glob), each for a fixed time.
#   ci/fuzz.sh [SECONDS_PER_FAMILY] [FAMILY...]      (default 60 s, every family)
# ci/test.sh runs it with a short time; a long run is e.g. `nice ci/fuzz.sh 600`.
# Before fuzzing, every committed crash input (native/fuzz/regressions/<family>/) is replayed.
# Seeds come from native/fuzz/corpus/<family>/; the grown corpus stays in the build directory
# (target/native-fuzz/corpus/<family>), crash inputs land in target/native-fuzz/artifacts/.
# Needs clang (libFuzzer ships with it); installs it with apt-get when missing (CI machines are
# fresh). Exit status 0 only when no harness found anything.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
seconds=${1:-60}
shift || true

if ! command -v clang++ >/dev/null 2>&1; then
    echo "== installing clang (libFuzzer)"
    sudo_cmd=""
    [ "$(id -u)" = 0 ] || sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq clang >/dev/null
fi

families=("$@")
if [ ${#families[@]} -eq 0 ]; then
    for source in native/fuzz/fuzz_*.cpp; do
        name=$(basename "$source" .cpp)
        [ "$name" = fuzz_common ] || families+=("${name#fuzz_}")
    done
fi

build=target/native-fuzz
echo "== building fuzzers (${families[*]}) in $build"
CC=clang CXX=clang++ cmake -S . -B "$build" -DSK_BUILD_FUZZ=ON -DSK_WITH_CUDA=OFF \
    -DSK_BUILD_TESTS=OFF -DSK_BUILD_BENCH=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
targets=()
for family in "${families[@]}"; do targets+=(--target "fuzz_$family"); done
cmake --build "$build" -j "${SK_FUZZ_JOBS:-$(nproc)}" "${targets[@]}" >/dev/null

# Sizes above the sanitizer's limit must make sk_malloc fail, not abort the process.
export ASAN_OPTIONS=allocator_may_return_null=1:detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

summary=()
failed=0
for family in "${families[@]}"; do
    binary="$build/native/fuzz/fuzz_$family"
    corpus="$build/corpus/$family"
    artifacts="$build/artifacts/$family"
    log="$build/fuzz_$family.log"
    mkdir -p "$corpus" "$artifacts"
    [ -d "native/fuzz/corpus/$family" ] && cp -n native/fuzz/corpus/"$family"/* "$corpus"/ 2>/dev/null || true

    regressions=(native/fuzz/regressions/"$family"/*)
    if [ -e "${regressions[0]}" ]; then
        echo "== fuzz_$family: replaying ${#regressions[@]} committed crash input(s)"
        if ! "$binary" "${regressions[@]}" >"$log.replay" 2>&1; then
            tail -40 "$log.replay"
            summary+=("fuzz_$family: FAILED replaying native/fuzz/regressions/$family (log $log.replay)")
            failed=1
            continue
        fi
    fi

    echo "== fuzz_$family: ${seconds} s"
    status=0
    "$binary" -max_total_time="$seconds" -timeout=60 -rss_limit_mb=4096 -max_len=4096 \
        -print_final_stats=1 -artifact_prefix="$artifacts/" "$corpus" >"$log" 2>&1 || status=$?
    runs=$(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -Eo '[0-9]+$' || echo "?")
    cov=$(grep -Eo 'cov: [0-9]+' "$log" | tail -1 | grep -Eo '[0-9]+' || echo "?")
    units=$(ls "$corpus" | wc -l)
    if [ "$status" -ne 0 ]; then
        grep -E 'ERROR|runtime error|CONTRACT VIOLATION|SUMMARY' "$log" | head -20 || true
        tail -60 "$log"
        summary+=("fuzz_$family: FAILED after $runs runs (exit $status; input in $artifacts, log $log)")
        failed=1
    else
        summary+=("fuzz_$family: ok, $runs runs in ${seconds} s, coverage $cov edges, corpus $units inputs")
    fi
done

echo "== fuzz summary"
printf '   %s\n' "${summary[@]}"
exit $failed
