#!/usr/bin/env python3
"""Instruction mix of the GEMM kernels in `cuobjdump -sass` output (read from stdin).

For each gemm_kernel instantiation: registers are in the ptxas report; here the counts of the
instructions that matter for the inner loop (FFMA, FADD, FMNMX, FSETP, FSEL, SEL, DFMA, LDS.128,
LDGSTS = cp.async) and of local-memory traffic (STL/LDL: spills)."""
import re
import sys

from sass_functions import kernels

text = sys.stdin.read()
for pretty, chunk in kernels(text, "gemm_kernel"):
    config = re.search(r"TileConfig<([^>]*)>", pretty)
    step = re.search(r"(FmaStep|SelectStep|SelectIndexStep|SelectIndexPredicatedStep)<[^>]*>", pretty)
    epilogue = re.search(r"(\w+Epilogue|PlainStore)", pretty)
    counts = {op: len(re.findall(r"\b" + re.escape(op) + r"\b", chunk))
              for op in ["FFMA", "FADD", "FMNMX", "FSETP", "FSEL", "SEL", "DFMA", "LDS.128", "LDGSTS", "STL", "LDL", "MOV", "IMAD.MOV.U32"]}
    print(f"{config.group(1) if config else '?':40s} {step.group(0) if step else '?':30s} "
          f"{epilogue.group(1) if epilogue else '':22s} " + " ".join(f"{k}={v}" for k, v in counts.items() if v))
