#!/usr/bin/env bash
# Runs every CUDA test binary (native/tests/test_*_cuda*.cpp, found by glob) under NVIDIA
# compute-sanitizer: memcheck (with --leak-check full), racecheck and synccheck, on a machine with
# a CUDA device and the CUDA toolkit (no Java needed). SK_REQUIRE_CUDA=1, so a missing device is a
# failure, not a skip. Prints one line per (tool, test) and a summary; logs go to $OUT (when set)
# or build/gpu-sanitize/.
#   ci/gpu-sanitize.sh                         every CUDA test, every tool
#   SK_SANITIZE_TOOLS="memcheck" SK_SANITIZE_TESTS="hmm" ci/gpu-sanitize.sh   a subset (regexes)
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
results=()
failed=0
for tool in $tools; do
    extra=()
    [ "$tool" = memcheck ] && extra=(--leak-check full)
    for name in "${tests[@]}"; do
        log="$out/$tool-$name.log"
        start=$(date +%s)
        api=()
        [ "$name" = test_determinism_cuda ] && api=(--report-api-errors no)
        timeout "$limit" "$sanitizer" --tool "$tool" "${extra[@]}" "${api[@]}" --error-exitcode 99 \
            "$build/native/tests/$name" >"$log" 2>&1
        rc=$?
        seconds=$(( $(date +%s) - start ))
        summary=$(grep -E "ERROR SUMMARY|RACECHECK SUMMARY|LEAK SUMMARY" "$log" | tr '\n' ' ' | sed 's/========= //g')
        if [ $rc -eq 0 ]; then
            verdict="PASS"
        else
            verdict="FAIL (exit $rc)"
            failed=1
        fi
        line=$(printf '%-10s %-32s %-16s %4ss  %s' "$tool" "$name" "$verdict" "$seconds" "$summary")
        echo "$line"
        results+=("$line")
    done
done

{
    echo "== gpu-sanitize summary ($(date -u), logs in $out)"
    cat "$out/machine.txt"
    printf '%s\n' "${results[@]}"
    [ $failed -eq 0 ] && echo "ALL PASSED" || echo "FAILURES: see the logs above"
} | tee "$out/summary.txt"
exit $failed
