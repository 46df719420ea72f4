#!/usr/bin/env bash
# Runs every CUDA test binary (native/tests/test_*_cuda*.cpp, found by glob) under NVIDIA
# compute-sanitizer: memcheck (with --leak-check full), racecheck and synccheck, on a machine with
# a CUDA device and the CUDA toolkit (no Java needed). SK_REQUIRE_CUDA=1, so a missing device is a
# failure, not a skip. Prints one line per (tool, test) and a summary; logs go to $OUT (when set)
# or build/gpu-sanitize/.
#   ci/gpu-sanitize.sh                         every CUDA test, every tool
#   SK_SANITIZE_TOOLS="memcheck" SK_SANITIZE_TESTS="hmm" ci/gpu-sanitize.sh   a subset (regexes)
# Environment: SK_GPU_BUILD_DIR (default /tmp/sk-gpu-sanitize-build), SK_CUDA_ARCHITECTURES
# (default 90). The build adds -lineinfo so reports name source lines.
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
results=()
failed=0
for tool in $tools; do
    extra=()
    [ "$tool" = memcheck ] && extra=(--leak-check full)
    for name in "${tests[@]}"; do
        log="$out/$tool-$name.log"
        start=$(date +%s)
        "$sanitizer" --tool "$tool" "${extra[@]}" --error-exitcode 99 \
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
