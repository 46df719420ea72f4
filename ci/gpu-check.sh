#!/usr/bin/env bash
# GPU check, for a machine with a CUDA device, the CUDA toolkit, CMake and a C++ compiler (no
# Java needed). In one run, so that every number comes from the same machine and session:
#   1. configure (CUDA for sm_90 unless SK_CUDA_ARCHITECTURES says otherwise) and build;
#   2. ctest: the CPU tests and the CPU-vs-CUDA equivalence tests (SK_REQUIRE_CUDA=1 turns a
#      missing device into a failure instead of a skip);
#   3. sk_bench on every configuration (timings + correctness against the CPU path);
#   4. the PyTorch anchors (torch.einsum FP32 etc.) when python3 can import torch;
#   5. a summary with both tables, printed last.
# Logs go to $OUT when it is set (else build/gpu-check/). Environment knobs:
#   SK_GPU_BUILD_DIR (default /tmp/sk-gpu-build), SK_CUDA_ARCHITECTURES (default 90),
#   SK_BENCH_ARGS (extra sk_bench arguments, e.g. "--quick" or "--config log").
# Exit status: 0 when the build, the tests and the benchmark checks all passed.
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=${OUT:-$root/build/gpu-check}
build=${SK_GPU_BUILD_DIR:-/tmp/sk-gpu-build}
arch=${SK_CUDA_ARCHITECTURES:-90}
jobs=$(nproc 2>/dev/null || echo 4)
mkdir -p "$out"
status=0

echo "== machine" | tee "$out/build.log"
{ nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv 2>&1 || true
  nvcc --version 2>&1 | tail -2; cmake --version | head -1; date -u; } | tee -a "$out/build.log"

echo "== configure + build ($build, sm_$arch)" | tee -a "$out/build.log"
if ! { cmake -S "$root" -B "$build" -DSK_WITH_CUDA=ON -DSK_CUDA_ARCHITECTURES="$arch" \
         -DCMAKE_BUILD_TYPE=Release && cmake --build "$build" -j "$jobs"; } >>"$out/build.log" 2>&1; then
    tail -40 "$out/build.log"
    echo "gpu-check: build failed (log: $out/build.log)"
    exit 1
fi
echo "build ok"

echo "== ctest"
SK_REQUIRE_CUDA=1 ctest --test-dir "$build" --output-on-failure -j 4 >"$out/ctest.log" 2>&1 || status=1
tail -25 "$out/ctest.log"

echo "== sk_bench"
# shellcheck disable=SC2086
"$build/native/bench/sk_bench" --device cuda --json "$out/sk_bench.jsonl" ${SK_BENCH_ARGS:-} \
    >"$out/sk_bench.log" 2>&1 || status=1
anchors=""
if python3 -c "import torch; assert torch.cuda.is_available()" >/dev/null 2>&1; then
    echo "== torch anchors"
    quick=""
    case " ${SK_BENCH_ARGS:-} " in *" --quick "*) quick="--quick" ;; esac
    python3 "$root/native/bench/torch_anchors.py" --json "$out/torch_anchors.jsonl" $quick \
        >"$out/torch_anchors.log" 2>&1 || status=1
    anchors="$out/torch_anchors.log"
else
    echo "== torch anchors skipped: python3 cannot import torch with CUDA"
fi

{
    echo
    echo "== summary (ctest: $(grep -E 'tests passed|tests failed' "$out/ctest.log" | tail -1))"
    sed -n '/^sk_bench on/,$p' "$out/sk_bench.log"
    [ -n "$anchors" ] && sed -n '/^torch anchors on/,$p' "$anchors"
    [ "$status" = 0 ] && echo "gpu-check: all passed" || echo "gpu-check: FAILED (logs in $out)"
} | tee "$out/summary.txt"
exit $status
