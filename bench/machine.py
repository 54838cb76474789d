"""This machine's peak FP32 rate, from its CPU's flags: cores x clock x FP32 FLOPs per cycle per core.

FLOPs per cycle: a fused multiply-add counts 2, and server cores of this class issue two vector FMAs a
cycle (Zen 2-4 with AVX2, Intel Xeon with two AVX-512 units): 2 x 8 lanes x 2 = 32 with AVX2+FMA, 64 with
AVX-512. Some Xeons have one AVX-512 unit (then the real peak is half), a VM's "cores" may be hyperthreads
of fewer physical ones, and the clock /proc/cpuinfo gives is the nominal one, which cores may boost above (on
this project's EPYC a forward pass measured 96 % of this peak and budgeted best runs 88 %, 2026-12-02): "% of
peak" is a yardstick for comparing runs on one machine, not a verdict. Linux only (/proc/cpuinfo); elsewhere the
peak is reported as unknown.
"""

from __future__ import annotations

import os

from cnn_core.training.precision import cpu_flags_and_clock


def fp32_flops_per_cycle(flags: set[str]) -> int:
    """FP32 FLOPs one core can issue per cycle (two FMA units assumed), from the widest vector unit it has."""
    if "avx512f" in flags:
        return 64
    if "avx2" in flags and "fma" in flags:
        return 32
    return 8  # SSE: 4 lanes, separate multiply and add


def peak_gflops() -> tuple[float | None, str]:
    """(peak FP32 GFLOP/s of all cores, a one-line description), or (None, why) where it cannot be told."""
    name, flags, clock = cpu_flags_and_clock()
    if clock is None:
        return None, "peak unknown (no /proc/cpuinfo)"
    cores = os.cpu_count() or 1
    per_cycle = fp32_flops_per_cycle(flags)
    extras = [flag for flag in ("avx512f", "avx512_bf16", "amx_bf16") if flag in flags]
    peak = cores * clock * per_cycle
    return peak, (f"{name}: {cores} cores x {clock:.2f} GHz x {per_cycle} FP32 FLOPs/cycle = {peak:.0f} GFLOP/s"
                  f" ({', '.join(extras) or 'no AVX-512, no bf16 instructions'})")
