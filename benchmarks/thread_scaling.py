#!/usr/bin/env python
"""fastnn's epoch over thread counts, and PyTorch on a GPU beside it.

    python benchmarks/thread_scaling.py [--threads 1,2,4,8,16] [--workloads ...]
                                        [--epochs 3] [--settle 0.3] [--json out.json]

For each workload of ``compare.py``, fastnn trains one model per thread count
(``n_jobs``), and PyTorch one on the GPU (compare.py's ``torch-cuda``) where
PyTorch sees one.  Their timed epochs take turns in rounds, as compare.py's
libraries do (``compare.bench_workload``: the most threads are its
``fastnn``, the other counts its variants), so that a machine whose speed
drifts slows every thread count alike.  Thread counts above the machine's
cores or Numba's threads are left out.

Prints, per workload, seconds per epoch at each thread count with the
speedup over the fewest threads, and ``torch-cuda``'s seconds per epoch over
fastnn's at the most threads (above 1: fastnn is faster).  ``--json`` also
writes every runner's results (test accuracy included).
"""

import argparse
import os
import sys
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import compare  # noqa: E402
from benchmarks.workloads import WORKLOADS, get, make_data  # noqa: E402


def thread_counts(text, limit):
    """The distinct counts of ``text`` ("1,2,4") up to ``limit``, ascending."""
    counts = sorted({int(t) for t in text.split(",") if t.strip()})
    if not counts or counts[0] < 1:
        raise ValueError(f"--threads: expected positive integers, got {text!r}")
    kept = [t for t in counts if t <= limit]
    return kept or [min(counts[0], limit)]


def variant_name(threads):
    return f"{threads} threads"


def scaling_row(w, results, counts):
    """One markdown row: seconds per epoch (and speedup) per count, torch-cuda's ratio."""
    times = [results.get("fastnn" if t == counts[-1] else variant_name(t), {}).get("s_per_epoch")
             for t in counts]
    first, most = times[0], times[-1]
    cells = []
    for s in times:
        if s is None:
            cells.append("error")
        elif first is None:
            cells.append(f"{s:.4f}")
        else:
            cells.append(f"{s:.4f} ({first / s:.2f}x)")
    cuda = results.get("torch-cuda", {})
    if "s_per_epoch" in cuda and most:
        cells += [f"{cuda['s_per_epoch']:.4f}", f"{cuda['s_per_epoch'] / most:.2f}"]
    else:
        cells += [cuda.get("error", "-"), "-"]
    return f"| {w.name} | " + " | ".join(cells) + " |"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", default="1,2,4,8,16",
                   help="comma-separated thread counts (default 1,2,4,8,16)")
    p.add_argument("--workloads", default=",".join(WORKLOADS),
                   help=f"comma-separated, from: {', '.join(WORKLOADS)} (default: all)")
    p.add_argument("--epochs", type=int, default=3, help="timed epochs (default 3)")
    p.add_argument("--warmup", type=int, default=1, help="untimed epochs first (default 1)")
    p.add_argument("--settle", type=float, default=0.3,
                   help="seconds of busy cores before each timed epoch (as compare.py)")
    p.add_argument("--json", metavar="PATH", help="also write the results as JSON here")
    args = p.parse_args(argv)
    if args.epochs < 1 or args.warmup < 1 or args.settle < 0:
        p.error("--epochs and --warmup must be >= 1, --settle >= 0")

    import numba
    from sklearn.exceptions import ConvergenceWarning
    from threadpoolctl import threadpool_limits

    warnings.simplefilter("ignore", ConvergenceWarning)
    limit = min(os.cpu_count() or 1, numba.config.NUMBA_NUM_THREADS)
    try:
        counts = thread_counts(args.threads, limit)
    except ValueError as exc:
        p.error(str(exc))
    libraries = ["fastnn"]
    if compare.torch_available(cuda=True):
        libraries.append("torch-cuda")
    else:
        print("torch sees no CUDA device (or is not importable): no torch-cuda column",
              file=sys.stderr)
    variants = {variant_name(t): {"n_jobs": t} for t in counts[:-1]}
    workloads = [get(n.strip()).name for n in args.workloads.split(",") if n.strip()]

    versions = compare.versions()
    print(f"cores: {os.cpu_count()}; Numba threads: {numba.config.NUMBA_NUM_THREADS}; "
          + ", ".join(f"{k} {v}" for k, v in versions.items()))
    if "torch-cuda" in libraries:
        import torch

        print(f"GPU: {torch.cuda.get_device_name(0)}")
    print()
    header = ["workload", *(f"{t} thread{'s' if t > 1 else ''}: s/epoch (speedup)"
                            for t in counts), "torch-cuda s/epoch",
              f"torch-cuda / fastnn at {counts[-1]}"]
    rows = []
    report = {"threads": counts, "epochs": args.epochs, "warmup": args.warmup,
              "cpu_count": os.cpu_count(), "versions": versions, "workloads": {}}
    with threadpool_limits(limits=counts[-1], user_api="blas"):
        for name in workloads:
            w = get(name)
            results, peak = compare.bench_workload(
                w, make_data(name), libraries, threads=counts[-1], warmup=args.warmup,
                epochs=args.epochs, settle_s=args.settle, variants=variants)
            rows.append(scaling_row(w, results, counts))
            print(rows[-1], flush=True)
            report["workloads"][name] = {"gemm_peak_gflops": peak, "results": results}
    print()
    print("| " + " | ".join(header) + " |")
    print("|---|" + "---:|" * (len(header) - 1))
    print("\n".join(rows))
    if args.json:
        compare.write_json(args.json, report)


if __name__ == "__main__":
    main()
