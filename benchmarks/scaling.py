#!/usr/bin/env python
"""How fit's time and memory grow with the number of rows.

Trains tab-small's network (20 features -> 100 relu -> 1, Adam, batch 200,
float32) on 10k, 100k and 1M rows and prints, per size:

* seconds per epoch (a fit of ``--epochs`` epochs, or of as many as make
  ``--min-rows`` rows, after one warm-up epoch; the sizes take turns over
  ``--rounds`` rounds and each reports its fastest fit), the time per
  1,000 rows and its ratio to the per-row time at the middle size (1.00 =
  exactly linear).  A fit's fixed costs (input validation, the divergence
  check, waking the threads: ~2 ms) are spread over that many rows, so that
  they do not pose as per-row cost of the small sizes;
* the memory a fresh ``fit`` (two epochs, in a new process) adds beyond the
  input arrays: NumPy allocations traced by ``tracemalloc`` and the growth of
  peak resident memory (which also sees Numba's and BLAS's buffers).

Run from the repository root::

    python benchmarks/scaling.py [--sizes 10000 100000 1000000] [--epochs 5]
                                 [--min-rows 1000000] [--rounds 7]
"""

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
import tracemalloc
import warnings

import numpy as np

FEATURES, HIDDEN, BATCH = 20, (100,), 200


def make_data(n, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, FEATURES), dtype=np.float32)
    y = (X[:, 0] + X[:, 1] * X[:, 2] > 0).astype(np.int64)
    return X, y


def estimator(max_iter, warm_start=False):
    from fastnn import MLPClassifier

    # n_iter_no_change=inf: every fit runs all its epochs, however converged
    return MLPClassifier(hidden_layer_sizes=HIDDEN, batch_size=BATCH, max_iter=max_iter,
                         warm_start=warm_start, random_state=0, tol=0.0,
                         n_iter_no_change=np.inf)


def quiet_fit(est, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return est.fit(X, y)


def epoch_seconds(datasets, epochs, rounds=7):
    """Seconds per epoch inside a ``fit`` of ``epochs[i]`` epochs on ``datasets[i]``.

    Several epochs per call, as in a normal fit, so that the per-call input
    validation does not pose as per-row cost at small sizes.  The sizes are
    timed in interleaved rounds (one fit of each size per round) and each
    size reports its fastest round: on a machine whose speed drifts (a shared
    virtual machine) timing the sizes one after another measures the drift as
    much as the scaling.
    """
    estimators = []
    for (X, y), n_epochs in zip(datasets, epochs):
        est = estimator(max_iter=1, warm_start=True)
        quiet_fit(est, X, y)  # compiles or loads the kernels, allocates the optimizer state
        estimators.append(est.set_params(max_iter=n_epochs))
    best = [np.inf] * len(datasets)
    for _ in range(rounds):
        for i, ((X, y), est) in enumerate(zip(datasets, estimators)):
            t0 = time.perf_counter()
            quiet_fit(est, X, y)
            seconds = time.perf_counter() - t0
            if est.n_iter_ != epochs[i]:
                raise RuntimeError(f"a fit on {len(X):,} rows stopped after {est.n_iter_}"
                                   f" of {epochs[i]} epochs")
            best[i] = min(best[i], seconds / epochs[i])
    return best


def _rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _peak_rss_bytes():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def fit_memory(n):
    """(traced NumPy peak, growth of peak RSS) of a two-epoch fit on ``n`` rows, in bytes.

    Measured in a fresh process, after the kernels are loaded and the data
    built, so that nothing else has raised the peak already.
    """
    code = (
        "import json, sys; sys.path.insert(0, %r); import scaling; "
        "print(json.dumps(scaling._fit_memory_here(%d)))" % (os.path.dirname(__file__), n)
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                         text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def _fit_memory_here(n):
    quiet_fit(estimator(max_iter=1), *make_data(1000))  # load the kernels
    X, y = make_data(n)
    baseline = max(_rss_bytes(), _peak_rss_bytes())
    tracemalloc.start()
    quiet_fit(estimator(max_iter=2), X, y)
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return traced_peak, max(0, _peak_rss_bytes() - baseline)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--epochs", type=int, default=5, help="epochs per timed fit, at least")
    parser.add_argument("--min-rows", type=int, default=1_000_000,
                        help="rows per timed fit, at least (more epochs for small sizes)")
    parser.add_argument("--rounds", type=int, default=7,
                        help="interleaved rounds; each size reports its fastest (default 7)")
    args = parser.parse_args(argv)

    import fastnn

    print(f"fastnn {fastnn.__version__}, {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs; network {FEATURES}-{'-'.join(map(str, HIDDEN))}-1, "
          f"batch {BATCH}, float32\n")
    sizes = sorted(args.sizes)
    datasets = [make_data(n) for n in sizes]
    seconds = epoch_seconds(datasets, [max(args.epochs, -(-args.min_rows // n)) for n in sizes],
                            rounds=args.rounds)
    rows = [(n, X.nbytes, s, *fit_memory(n)) for n, (X, _), s in zip(sizes, datasets, seconds)]
    ref_n, _, ref_s, _, _ = rows[len(rows) // 2]
    per_row_ref = ref_s / ref_n
    print("| rows | data (MB) | s/epoch | us per 1k rows | vs linear | NumPy peak beyond data"
          " (MB) | peak RSS growth (MB) |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for n, nbytes, seconds, traced, rss in rows:
        print(f"| {n:,} | {nbytes / 1e6:.0f} | {seconds:.4f} | {seconds / n * 1e9:.1f} | "
              f"{seconds / n / per_row_ref:.2f} | {traced / 1e6:.1f} | {rss / 1e6:.1f} |")


if __name__ == "__main__":
    main()
