#!/usr/bin/env python3
"""Per-frame instruction counts of the CTC chain kernels' loops in `cuobjdump -sass` output.

Usage: cuobjdump -sass <ctc_cuda.cu.o or libsemiring_kernels.so> | python3 ctc_chain_sass.py

For every chain_kernel / mixed_chain_kernel instantiation: the frame loop is the largest
backward branch whose range holds the per-frame exchange (BAR.SYNC, or SHFL for the one-warp
variant). Prints the number of SASS instructions in that range (the whole loop body as laid out:
in the Store mode both directions' store blocks are counted, only one runs per block) and the
counts of the instructions that matter (native/src/ctc/NOTES.md, "Instruction counts")."""
import collections
import re
import sys

from sass_functions import kernels

LINE = re.compile(r"/\*([0-9a-f]{4,})\*/\s+(.*?)\s*;")
BRANCH = re.compile(r"(?:@!?U?P\w+\s+)?BRA(?:\.\w+)*\s+(?:`\()?(?:\.L_x_\d+|0x([0-9a-f]+))")
WATCH = ["MUFU", "F2F", "DADD", "DFMA", "DMUL", "DSETP", "FSEL", "FADD", "FMNMX", "LDG", "STG", "CCTL",
         "LDS", "STS", "BAR", "SHFL", "IMAD.WIDE", "IADD3", "LEA", "STL", "LDL"]


def loop_of(instrs):
    """(start, end) indices of the frame loop, or None."""
    addr_index = {a: i for i, (a, _) in enumerate(instrs)}
    best = None
    for i, (a, text) in enumerate(instrs):
        m = BRANCH.search(text)
        if not m or not m.group(1):
            continue
        target = int(m.group(1), 16)
        if target >= a or target not in addr_index:
            continue
        s = addr_index[target]
        body = [t for _, t in instrs[s:i + 1]]
        if not any("BAR.SYNC" in t or "SHFL" in t for t in body):
            continue
        if best is None or i - s > best[1] - best[0]:
            best = (s, i)
    return best


def opcode(text):
    text = re.sub(r"^@!?U?P\w+\s+", "", text)
    return text.split()[0] if text else ""


def main():
    text = sys.stdin.read()
    for pretty, chunk in kernels(text, "chain_kernel"):
        pretty = re.sub(r"sk::ctc::\(anonymous namespace\)::", "", pretty)
        instrs = [(int(m.group(1), 16), m.group(2)) for m in LINE.finditer(chunk)]
        loop = loop_of(instrs)
        if not loop:
            print(f"{pretty}: no frame loop found")
            continue
        body = [t for _, t in instrs[loop[0]:loop[1] + 1]]
        ops = collections.Counter(opcode(t) for t in body)
        counts = {w: sum(n for op, n in ops.items() if op == w or op.startswith(w + ".")) for w in WATCH}
        short = re.sub(r"\(ChainParams<.*$", "", pretty).replace("(ChainMode)", "mode ")
        print(f"{short:52s} loop={len(body):5d} " +
              " ".join(f"{k}={v}" for k, v in counts.items() if v))


if __name__ == "__main__":
    main()
