#!/usr/bin/env bash
# Timings of every family on a GPU machine, each step in its own time box so that one slow step
# costs only itself (a lent machine runs a command for at most 10 minutes). Builds (Release,
# sm_90 unless SK_CUDA_ARCHITECTURES says otherwise) unless the build directory already holds
# sk_bench, then runs, in order and each under `timeout`:
#   sk_bench per family (CPU-checked), the large HMM cases unchecked, torch_anchors.py, and the
#   anchors that need their own sources (.anchors/anchor_bench.py, when .anchors/ was carried).
# Logs and JSON lines go to $OUT/r (or build/gpu-timings/r), packed into $OUT/timings.tgz at the
# end (a lent machine returns at most 8 files). Environment:
#   SK_GPU_BUILD_DIR (/tmp/sk-gpu-build)  SK_CUDA_ARCHITECTURES (90)
#   SK_TIMINGS_FAMILIES ("matmul hmm ctc semicrf einsum semiconv")
#   SK_TIMINGS_BOX (seconds per family step, 120)  SK_TIMINGS_ANCHORS ("ctc hmm semicrf einsum semiconv")
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=${OUT:-$root/build/gpu-timings}
logs=$out/r
build=${SK_GPU_BUILD_DIR:-/tmp/sk-gpu-build}
arch=${SK_CUDA_ARCHITECTURES:-90}
families=${SK_TIMINGS_FAMILIES:-matmul hmm ctc semicrf einsum semiconv}
box=${SK_TIMINGS_BOX:-120}
anchors=${SK_TIMINGS_ANCHORS:-ctc hmm semicrf einsum semiconv}
mkdir -p "$logs"
start=$(date +%s)
step() { echo "[$(( $(date +%s) - start ))s] $*"; }

{ nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv 2>&1 || true
  git -C "$root" log --oneline -1 2>/dev/null; date -u; } >"$logs/machine.txt"
if [ ! -x "$build/native/bench/sk_bench" ]; then
    step "configure + build sk_bench ($build, sm_$arch)"
    if ! { cmake -S "$root" -B "$build" -DSK_WITH_CUDA=ON -DSK_CUDA_ARCHITECTURES="$arch" -DCMAKE_BUILD_TYPE=Release \
             -DSK_BUILD_TESTS=OFF && cmake --build "$build" -j "$(nproc)" --target sk_bench; } >"$logs/build.log" 2>&1; then
        tail -40 "$logs/build.log"
        echo "gpu-timings: build failed"
        exit 1
    fi
fi
bench=$build/native/bench/sk_bench
for family in $families; do
    step "sk_bench $family"
    if [ "$family" = hmm ]; then
        # The B=32, N=256 and T=10^5 cases: their CPU reference alone would take minutes.
        timeout "$box" "$bench" --device cuda --family hmm --config N=50 --config N=64,T=1000 \
            --json "$logs/sk_bench_hmm.jsonl" >"$logs/sk_bench_hmm.log" 2>&1
        timeout "$box" "$bench" --device cuda --family hmm --config N=256 --config T=100000 --no-check \
            --json "$logs/sk_bench_hmm_large.jsonl" >"$logs/sk_bench_hmm_large.log" 2>&1
    else
        timeout "$box" "$bench" --device cuda --family "$family" --json "$logs/sk_bench_$family.jsonl" \
            >"$logs/sk_bench_$family.log" 2>&1
    fi
    echo "  exit $?"
done
if python3 -c "import torch; assert torch.cuda.is_available()" >/dev/null 2>&1; then
    step "torch anchors"
    timeout "$box" python3 "$root/native/bench/torch_anchors.py" --json "$logs/torch_anchors.jsonl" \
        >"$logs/torch_anchors.log" 2>&1
    if [ -f "$root/.anchors/anchor_bench.py" ]; then
        for a in $anchors; do
            step "anchor_bench $a"
            (cd "$root/.anchors" && ANCHORS_DIR=$PWD OUT=$logs PYTHONUNBUFFERED=1 timeout "$box" \
                python3 anchor_bench.py "$a" >"$logs/anchor_bench_$a.log" 2>&1)
        done
    fi
fi
step "summary"
cat "$logs"/sk_bench_*.log 2>/dev/null | grep -E "^[a-z]+/.* (cuda|cpu) " | sort -u >"$logs/summary.txt"
cat "$logs/summary.txt"
(cd "$out" && tar czf timings.tgz r)
echo "gpu-timings: logs in $out/timings.tgz"
