#!/usr/bin/env bash
# Runs every CUDA test binary (native/tests/test_*_cuda*.cpp, found by glob) under NVIDIA
# compute-sanitizer: memcheck (with --leak-check full), racecheck and synccheck, on a machine with
# a CUDA device and the CUDA toolkit (no Java needed). SK_REQUIRE_CUDA=1, so a missing device is a
# failure, not a skip. Prints one line per (tool, test) and a summary; logs go to $OUT (when set)
# or build/gpu-sanitize/.
#   ci/gpu-sanitize.sh                         every CUDA test, every tool
#   SK_SANITIZE_TOOLS="memcheck" SK_SANITIZE_TESTS="hmm" ci/gpu-sanitize.sh   a subset (regexes)
#   SK_SANITIZE_SPLIT=1 SK_SANITIZE_JOBS=4 ci/gpu-sanitize.sh   each TEST as its own process, 4 at
#                                              a time (the single-test filter is how the long racecheck
#                                              runs were split; processes side by side slow each other:
#                                              12 at a time made a 66 s racecheck take over 400 s)
# Environment: SK_GPU_BUILD_DIR (default /tmp/sk-gpu-sanitize-build), SK_CUDA_ARCHITECTURES
# (default 90), SK_SANITIZE_TIMEOUT (seconds per run, default 900). The build adds -lineinfo so
# reports name source lines.
# Sizes: the size-stress tests (T = 10^5 frames, the benchmark shapes, long semi-CRF sequences)
# run the same kernels as the small cases at sizes that take hours under instrumentation, so
# SK_TEST_EXCLUDE leaves them out here (they run in ctest / ci/gpu-check.sh); test_leaks_cuda runs
# 2000 calls and 4 contexts (SK_LEAK_CALLS, SK_LEAK_CONTEXTS). test_determinism_cuda provokes a
# failed 2^50-byte cudaMalloc on purpose (the library reports it and clears the error), so it runs
# with --report-api-errors no; the test itself asserts the failure and what follows.
# Exit status 0 only when every run passed with 0 errors.
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=${OUT:-$root/build/gpu-sanitize}
build=${SK_GPU_BUILD_DIR:-/tmp/sk-gpu-sanitize-build}
arch=${SK_CUDA_ARCHITECTURES:-90}
tools=${SK_SANITIZE_TOOLS:-memcheck racecheck synccheck}
filter=${SK_SANITIZE_TESTS:-.}
mkdir -p "$out"

sanitizer=$(command -v compute-sanitizer || ls /usr/local/cuda/bin/compute-sanitizer 2>/dev/null || true)
if [ -z "$sanitizer" ]; then
    echo "gpu-sanitize: compute-sanitizer not found (it ships with the CUDA toolkit: /usr/local/cuda/bin)"
    exit 1
fi
{ nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>&1 || true
  "$sanitizer" --version 2>&1 | tail -1; date -u; } | tee "$out/machine.txt"

echo "== configure + build ($build, sm_$arch, -lineinfo)"
if ! { cmake -S "$root" -B "$build" -DSK_WITH_CUDA=ON -DSK_CUDA_ARCHITECTURES="$arch" -DSK_BUILD_BENCH=OFF \
         -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CUDA_FLAGS=-lineinfo &&
       cmake --build "$build" -j "$(nproc)"; } >"$out/build.log" 2>&1; then
    tail -40 "$out/build.log"
    echo "gpu-sanitize: build failed (log: $out/build.log)"
    exit 1
fi

tests=()
for source in "$root"/native/tests/test_*_cuda*.cpp; do
    name=$(basename "$source" .cpp)
    [[ "$name" =~ $filter ]] && tests+=("$name")
done
echo "== ${#tests[@]} CUDA test binaries x tools: $tools"

export SK_REQUIRE_CUDA=1
export SK_TEST_EXCLUDE=${SK_TEST_EXCLUDE-cuda_hundred_thousand_frames,cuda_benchmark_shapes,cuda_long_sequences_and_large_rings,cuda_long_sequence_float32,larger_depthwise}
export SK_LEAK_CALLS=${SK_LEAK_CALLS:-2000} SK_LEAK_CONTEXTS=${SK_LEAK_CONTEXTS:-4}
limit=${SK_SANITIZE_TIMEOUT:-900}
jobs=${SK_SANITIZE_JOBS:-1}
split=${SK_SANITIZE_SPLIT:-0}
lines="$out/results.txt"
: >"$lines"

# One (tool, binary, test) run; test "" = the whole binary. Appends its line to $lines.
run_one() {
    local tool=$1 name=$2 test=$3
    local extra=() api=()
    [ "$tool" = memcheck ] && extra=(--leak-check full)
    [ "$name" = test_determinism_cuda ] && api=(--report-api-errors no)
    local log="$out/$tool-$name${test:+-$test}.log" start rc seconds summary verdict
    start=$(date +%s)
    timeout "$limit" "$sanitizer" --tool "$tool" "${extra[@]}" "${api[@]}" --error-exitcode 99 \
        "$build/native/tests/$name" $test >"$log" 2>&1
    rc=$?
    seconds=$(( $(date +%s) - start ))
    summary=$(grep -E "ERROR SUMMARY|RACECHECK SUMMARY|LEAK SUMMARY" "$log" | tr '\n' ' ' | sed 's/========= //g')
    if [ $rc -eq 0 ]; then verdict="PASS"; else verdict="FAIL (exit $rc)"; fi
    local line
    line=$(printf '%-10s %-26s %-40s %-16s %4ss  %s' "$tool" "$name" "${test:-(all)}" "$verdict" "$seconds" "$summary")
    echo "$line"
    echo "$line" >>"$lines"
}

# The units of work: whole binaries, or (SK_SANITIZE_SPLIT=1) each TEST(...) of a binary as its
# own process (the test binaries take a test-name filter as their argument), which lets the
# long racecheck runs proceed side by side (SK_SANITIZE_JOBS processes at a time on the one GPU).
units=()
for name in "${tests[@]}"; do
    if [ "$split" = 1 ]; then
        for test in $(sed -n 's/^TEST(\([A-Za-z0-9_]*\)).*/\1/p' "$root/native/tests/$name.cpp"); do
            skip=0
            IFS=',' read -ra excluded <<<"$SK_TEST_EXCLUDE"
            for e in "${excluded[@]}"; do [ -n "$e" ] && [[ "$test" == *"$e"* ]] && skip=1; done
            [ $skip = 0 ] && units+=("$name:$test")
        done
    else
        units+=("$name:")
    fi
done
echo "== ${#units[@]} units x tools, $jobs at a time"
# test_leaks_cuda reads device-wide memory, so it runs alone after the others (another process's
# allocations would count as its leak; seen on the H100 with 12 processes side by side).
for tool in $tools; do
    for unit in "${units[@]}"; do
        [ "${unit%%:*}" = test_leaks_cuda ] && continue
        while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n; done
        run_one "$tool" "${unit%%:*}" "${unit#*:}" &
    done
done
wait
for tool in $tools; do
    for unit in "${units[@]}"; do
        [ "${unit%%:*}" = test_leaks_cuda ] && run_one "$tool" "${unit%%:*}" "${unit#*:}"
    done
done
failed=0
grep -qv " PASS " "$lines" && failed=1
mapfile -t results < <(sort "$lines")

{
    echo "== gpu-sanitize summary ($(date -u), logs in $out)"
    cat "$out/machine.txt"
    printf '%s\n' "${results[@]}"
    [ $failed -eq 0 ] && echo "ALL PASSED" || echo "FAILURES: see the logs above"
} | tee "$out/summary.txt"
exit $failed
