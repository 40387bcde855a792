#!/usr/bin/env python
"""fastnn's packed products (``fastnn._packed``) against float32 BLAS, on one thread.

For every layer of the benchmark workloads (``benchmarks/benchmarks/workloads.py``)
the three products of a training step on one lane's rows (``--rows``,
default 128): forward ``Z = A W`` (rows x fan_in x fan_out), the weight
gradient ``G = A^T D`` (fan_in x rows x fan_out) and the delta sent down
``D W^T`` (rows x fan_out x fan_in).  Each is timed as NumPy's float32
``np.dot`` (OpenBLAS, one thread) and as fastnn's product with packed
operands (``--precision``: bfloat16 operands with float32 accumulation,
with AVX512_BF16's ``vdpbf16ps`` or on AMX tiles, or float32): packing
both operands then multiplying (``packed + pack``), and multiplying
operands packed beforehand (``packed``; a layer's
weights are packed once per optimizer step, its activations once per
product).  GFLOP/s count 2 flops per multiply-add; the best of
``--repeats`` rounds.

    python benchmarks/bf16_gemm.py [--rows 128] [--repeats 7] [--precision bfloat16|amx|float32]
"""

import argparse
import os
import sys
import time

import numpy as np
from threadpoolctl import threadpool_limits

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from benchmarks.workloads import WORKLOADS  # noqa: E402

from fastnn import _amx, _packed  # noqa: E402
from fastnn._config import JIT_OPTIONS  # noqa: E402

import numba  # noqa: E402

# the packing and product kernels are compiled for other kernels only: wrappers
jit = numba.njit(**{k: v for k, v in JIT_OPTIONS.items() if k != "cache"})


@jit
def pack(A, B, like, amx):
    """``A`` and ``B`` packed as ``like`` (``amx``: padded to whole tiles)."""
    (m, k), n = A.shape, B.shape[1]
    if amx:
        Ap = _amx.panels_a(np.empty(_amx.size_a(m, k), like.dtype), m, k, _packed.MR)
        Bp = _amx.panels_b(np.empty(_amx.size_b(k, n), like.dtype), k, n)
    else:
        Ap, Bp = _packed.packed_a(m, k, like), _packed.packed_b(k, n, like)
    _packed.pack_a(A, Ap)
    _packed.pack_b(B, Bp)
    return Ap, Bp


@jit
def product(Ap, Bp, C):
    _packed.gemm_packed(Ap, Bp, C, False)


@jit
def product_amx(Ap, Bp, C):
    _amx.gemm(Ap, Bp, C, False)


def best_seconds(fn, repeats, min_seconds=0.02):
    fn()
    calls = 1
    while True:
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        if time.perf_counter() - start >= min_seconds:
            break
        calls *= 2
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        best = min(best, (time.perf_counter() - start) / calls)
    return best


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--precision", choices=("bfloat16", "amx", "float32"),
                        default="bfloat16")
    args = parser.parse_args()
    if args.precision == "bfloat16" and not _packed.has_bf16():
        sys.exit("this CPU has no AVX512_BF16")
    if args.precision == "amx" and not _amx.has_amx():
        sys.exit("no AMX-BF16 tiles here")
    like = np.zeros(1, dtype=np.float32 if args.precision == "float32" else np.uint32)
    amx = args.precision == "amx"
    multiply = product_amx if amx else product

    def packer(A, B):
        return pack(A, B, like, amx)
    rng = np.random.default_rng(0)
    print(f"{'workload':<11} {'product':<26} {'BLAS GF/s':>12} {'packed+pack':>11}"
          f" {'packed':>8} {'ratio':>6}")
    with threadpool_limits(1):
        for w in WORKLOADS.values():
            sizes = w.layer_sizes
            for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
                rows = args.rows
                for name, (m, k, n) in [("forward", (rows, fan_in, fan_out)),
                                        ("weight gradient", (fan_in, rows, fan_out)),
                                        ("delta", (rows, fan_out, fan_in))]:
                    A = rng.standard_normal((m, k)).astype(np.float32)
                    B = rng.standard_normal((k, n)).astype(np.float32)
                    C = np.empty((m, n), dtype=np.float32)
                    flops = 2.0 * m * k * n
                    f32 = flops / best_seconds(lambda: np.dot(A, B, C), args.repeats) / 1e9
                    both = (flops / best_seconds(lambda: multiply(*packer(A, B), C),
                                                 args.repeats) / 1e9)
                    Ap, Bp = packer(A, B)
                    packed = flops / best_seconds(lambda: multiply(Ap, Bp, C), args.repeats) / 1e9
                    label = f"{name} {m}x{k}x{n}"
                    print(f"{w.name:<11} {label:<26} {f32:12.1f} {both:11.1f} {packed:8.1f}"
                          f" {packed / f32:6.2f}", flush=True)


if __name__ == "__main__":
    main()
