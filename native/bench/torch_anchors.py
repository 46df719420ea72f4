#!/usr/bin/env python3
"""Public anchors that come with PyTorch, measured in the same run as sk_bench.

  python3 torch_anchors.py [--json FILE] [--quick]

Times, with CUDA events around a loop of calls (median over loops, after warm-up, rotating
input sets so that they do not all sit in L2), the same way sk_bench times a loop:
  - torch.einsum real FP32 (cuBLAS, TF32 off) for ij,jk->ik 2048^3 and bij,bjk->bik 16x256^3;
  - torch broadcast logsumexp (A[:, :, :, None] + B[:, None]).logsumexp(2) for 16x256^3;
  - the two ceilings of the device: a large device-to-device copy (bytes read + written) and a
    large FP32 matrix product (8192^3);
  - torch.nn.functional.ctc_loss (native kernel, cuDNN off), reduction sum, forward and
    forward + backward, on sk_bench's CTC sizes (time-major log_softmax of N(0, 1) logits,
    int64 padded targets uniform in [1, C), every input length T);
  - torch.nn.functional.max_pool2d (flat 'kernel', stride 1, padding k // 2) forward and
    forward + backward on sk_bench's semifield-convolution sizes (B=32, C=64, 64x64, k=3 and 7;
    B=8, C=32, 256x256, k=5): the anchor a learned T+ dilation must match.
The anchors that need their own sources (hmm-backprop, torch-struct, seqdist, ...) are run by
../shared/anchors/anchor_bench.py, not here.
Writes one JSON line per measurement and prints a table.
"""
import argparse
import datetime
import json
import statistics

import torch


def time_loop(fn, sets, loops=9, target_ms=25.0):
    """Median per-call time (ms) over `loops` loops of R calls, R sized to ~target_ms a loop."""
    for s in range(3):
        fn(*sets[s % len(sets)])
    torch.cuda.synchronize()
    start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    fn(*sets[0])
    stop.record()
    stop.synchronize()
    single = max(start.elapsed_time(stop), 1e-3)
    calls = int(min(max(target_ms / single, 1), 2000))
    per_call = []
    for _ in range(loops):
        start.record()
        for r in range(calls):
            fn(*sets[r % len(sets)])
        stop.record()
        stop.synchronize()
        per_call.append(start.elapsed_time(stop) / calls)
    return statistics.median(per_call), calls


def input_sets(shapes, bytes_per_set):
    count = max(1, min(16, int(-(-150e6 // bytes_per_set))))
    return [tuple(torch.rand(s, device="cuda") * 6 - 3 for s in shapes) for _ in range(count)]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--json", default="torch_anchors.jsonl")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    device = torch.cuda.get_device_name(0)
    date = datetime.date.today().isoformat()
    rows = []

    def record(name, config, ms, flops=None, bytes_moved=None, calls=None):
        row = {"anchor": name, "config": config, "ms": ms, "device_name": device, "date": date,
               "torch": torch.__version__, "calls_per_loop": calls}
        if flops:
            row["gflops"] = flops / ms / 1e6
        if bytes_moved:
            row["gbytes_per_s"] = bytes_moved / ms / 1e6
        rows.append(row)
        print(f"{name:34s} {config:40s} {ms:10.4f} ms", flush=True)

    big, batch, small = (512, 4, 128) if args.quick else (2048, 16, 256)

    sets = input_sets([(big, big), (big, big)], 3 * big * big * 4)
    ms, calls = time_loop(lambda a, b: torch.einsum("ij,jk->ik", a, b), sets)
    record("torch.einsum(real,FP32,cuBLAS)", f"ij,jk->ik {big}^3", ms, 2 * big**3, calls=calls)

    sets = input_sets([(batch, small, small)] * 2, 3 * batch * small * small * 4)
    ms, calls = time_loop(lambda a, b: torch.einsum("bij,bjk->bik", a, b), sets)
    record("torch.einsum(real,FP32,cuBLAS)", f"bij,bjk->bik {batch}x{small}^3", ms, 2 * batch * small**3, calls=calls)

    ms, calls = time_loop(lambda a, b: (a[:, :, :, None] + b[:, None, :, :]).logsumexp(2), sets[:4])
    record("torch broadcast logsumexp", f"bij,bjk->bik {batch}x{small}^3", ms, 2 * batch * small**3, calls=calls)

    n = 1 << 28  # 1 GiB of float32 per buffer
    src, dst = torch.rand(n, device="cuda"), torch.empty(n, device="cuda")
    ms, calls = time_loop(lambda s, d: d.copy_(s), [(src, dst)], loops=5)
    record("ceiling: device copy", "1 GiB fp32", ms, bytes_moved=2 * 4 * n, calls=calls)
    del src, dst

    size = 4096 if args.quick else 8192
    a, b = torch.rand(size, size, device="cuda"), torch.rand(size, size, device="cuda")
    ms, calls = time_loop(lambda x, y: x @ y, [(a, b)], loops=5)
    record("ceiling: FP32 matmul (cuBLAS)", f"{size}^3", ms, 2 * size**3, calls=calls)

    import torch.nn.functional as F
    ctc_sizes = [(500, 128, 20, 80, 100), (1000, 64, 64, 150, 200), (2000, 32, 5, 300, 400),
                 (800, 64, 1024, 50, 150), (1500, 32, 5000, 100, 200)]
    if args.quick:
        ctc_sizes = [(T // 4, B // 4, C, lo // 4, hi // 4) for T, B, C, lo, hi in ctc_sizes]
    for T, B, C, lo, hi in ctc_sizes:
        g = torch.Generator(device="cuda").manual_seed(0)
        lp = torch.randn(T, B, C, device="cuda", generator=g).log_softmax(2).requires_grad_(True)
        targets = torch.randint(1, C, (B, hi), device="cuda", generator=g)
        il = torch.full((B,), T, dtype=torch.long, device="cuda")
        tl = torch.randint(lo, hi + 1, (B,), device="cuda", generator=g)
        config = f"T={T},B={B},C={C},L={lo}-{hi}"

        def ctc_fwd(x, y, a, b):
            return F.ctc_loss(x, y, a, b, reduction="sum")

        def ctc_fwd_bwd(x, y, a, b):
            x.grad = None
            F.ctc_loss(x, y, a, b, reduction="sum").backward()

        with torch.backends.cudnn.flags(enabled=False):
            ms, calls = time_loop(lambda *t: ctc_fwd(*t).detach(), [(lp, targets, il, tl)])
            record("torch.ctc_loss(native)", config + " fwd", ms, calls=calls)
            ms, calls = time_loop(ctc_fwd_bwd, [(lp, targets, il, tl)])
            record("torch.ctc_loss(native)", config + " fwd+bwd", ms, calls=calls)

    pool_sizes = [(32, 64, 64, 3), (32, 64, 64, 7), (8, 32, 256, 5)]
    if args.quick:
        pool_sizes = [(max(B // 4, 1), C, N // (4 if N > 64 else 1), k) for B, C, N, k in pool_sizes]
    for B, C, N, k in pool_sizes:
        g = torch.Generator(device="cuda").manual_seed(0)
        x = torch.randn(B, C, N, N, device="cuda", generator=g).requires_grad_(True)
        config = f"B={B},C={C},{N}x{N},k={k}"

        def pool_fwd(t):
            return F.max_pool2d(t, k, stride=1, padding=k // 2)

        def pool_fwd_bwd(t):
            t.grad = None
            F.max_pool2d(t, k, stride=1, padding=k // 2).sum().backward()

        ms, calls = time_loop(lambda t: pool_fwd(t).detach(), [(x,)])
        record("torch max_pool2d", config + " fwd", ms, calls=calls)
        ms, calls = time_loop(pool_fwd_bwd, [(x,)])
        record("torch max_pool2d", config + " fwd+bwd", ms, calls=calls)

    with open(args.json, "a") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")
    print(f"\ntorch anchors on {device} ({date}, torch {torch.__version__}), median ms per call")
    for row in rows:
        extra = (f"{row['gflops']:10.1f} GFLOP/s" if "gflops" in row
                 else f"{row['gbytes_per_s']:10.1f} GB/s" if "gbytes_per_s" in row else "")
        print(f"{row['anchor']:34s} {row['config']:40s} {row['ms']:10.4f} ms {extra}")


if __name__ == "__main__":
    main()
