#!/usr/bin/env python
"""Fit on 10 million rows without copying the input.

Builds a 10,000,000 x 20 float32 matrix (800 MB, 763 MiB) chunk by chunk in one
preallocated C-contiguous array (or, with ``--memmap DIR``, in a file mapped
with ``np.memmap``), fits ``MLPClassifier(hidden_layer_sizes=(32,))`` for
one or two epochs with batches of 1,000 rows, and reports:

* the data size;
* the peak of NumPy (and other Python-traced) allocations during ``fit``,
  from ``tracemalloc``: a copy of X would add its full size;
* the process's peak resident memory (``ru_maxrss``) before and after
  ``fit`` (for in-memory X; mapped file pages count as resident too);
* seconds per epoch.

It exits with status 1 if ``fit`` allocated as much as half of X.  Run from
the repository root::

    python benchmarks/scale_10m.py [--n-samples 10000000] [--epochs 2] [--memmap DIR]
"""

import argparse
import os
import resource
import sys
import time
import tracemalloc
import warnings

import numpy as np

FEATURES = 20
CHUNK = 1_000_000
MB = 1024 * 1024


def peak_rss_bytes():
    # ru_maxrss is in kilobytes on Linux, bytes on macOS
    scale = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def make_data(n, memmap_dir=None, seed=0):
    """X (n x FEATURES float32, C order) filled chunk by chunk, and binary labels."""
    if memmap_dir:
        path = os.path.join(memmap_dir, f"X_{n}x{FEATURES}.f32")
        X = np.memmap(path, dtype=np.float32, mode="w+", shape=(n, FEATURES))
    else:
        X = np.empty((n, FEATURES), dtype=np.float32)
    y = np.empty(n, dtype=np.int8)
    rng = np.random.default_rng(seed)
    for start in range(0, n, CHUNK):
        stop = min(n, start + CHUNK)
        block = X[start:stop]
        rng.standard_normal(out=block, dtype=np.float32)
        y[start:stop] = (block[:, 0] + block[:, 1] * block[:, 2] > 0)
    if memmap_dir:
        X.flush()
    return X, y


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n-samples", type=int, default=10_000_000)
    parser.add_argument("--epochs", type=int, default=2, help="max_iter of the fit")
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--hidden", type=int, default=32)
    parser.add_argument("--memmap", metavar="DIR", help="hold X in a file mapped from DIR")
    args = parser.parse_args(argv)

    import numba

    import fastnn
    from fastnn import MLPClassifier

    def estimator(max_iter):
        return MLPClassifier(hidden_layer_sizes=(args.hidden,), batch_size=args.batch_size,
                             max_iter=max_iter, tol=0.0, random_state=0)

    t0 = time.perf_counter()
    X, y = make_data(args.n_samples, args.memmap)
    t_data = time.perf_counter() - t0
    assert X.flags.c_contiguous and X.dtype == np.float32
    print(f"fastnn {fastnn.__version__}, numba {numba.__version__}, "
          f"{numba.config.NUMBA_NUM_THREADS} threads")
    print(f"data: {X.shape[0]:,} x {X.shape[1]} float32 = {X.nbytes / MB:,.0f} MiB"
          f" ({'np.memmap in ' + args.memmap if args.memmap else 'in memory'}),"
          f" built in {t_data:.1f} s")

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        estimator(1).fit(X[:20_000], y[:20_000])  # compile / load kernels, start threads

        rss_before = peak_rss_bytes()
        tracemalloc.start()
        t0 = time.perf_counter()
        clf = estimator(args.epochs).fit(X, y)
        t_fit = time.perf_counter() - t0
        traced_now, traced_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    rss_after = peak_rss_bytes()

    epoch = t_fit / clf.n_iter_
    print(f"fit: {clf.n_iter_} epoch(s) in {t_fit:.1f} s = {epoch:.2f} s per epoch"
          f" ({args.n_samples / epoch / 1e6:.2f} M rows/s), loss {clf.loss_:.4f}")
    print(f"traced allocations during fit: peak {traced_peak / MB:,.0f} MiB"
          f" ({traced_peak / X.nbytes:.1%} of X), still held {traced_now / MB:,.0f} MiB")
    print(f"peak RSS: {rss_before / MB:,.0f} MiB before fit, {rss_after / MB:,.0f} MiB after"
          f" (+{(rss_after - rss_before) / MB:,.0f} MiB)")
    copied = traced_peak >= X.nbytes / 2
    if not args.memmap:
        copied |= rss_after - rss_before >= X.nbytes / 2
    print("no copy of X: " + ("FAILED, fit allocated half of X or more" if copied else "OK"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        print(f"training accuracy on the first 100,000 rows:"
              f" {clf.score(X[:100_000], y[:100_000]):.3f}")
    return 1 if copied else 0


if __name__ == "__main__":
    sys.exit(main())
