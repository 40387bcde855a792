"""Small timing helpers shared by the asv benchmarks and ``compare.py``."""

import statistics
import time


def single_row_latency_us(fn, row, max_calls=2000, min_calls=50, budget_s=1.0):
    """Median wall time of ``fn(row)`` in microseconds (each call timed alone).

    Ten untimed calls first; then calls until ``max_calls``, or ``budget_s``
    seconds once ``min_calls`` are done.
    """
    for _ in range(10):
        fn(row)
    times = []
    start = time.perf_counter()
    while len(times) < max_calls:
        t0 = time.perf_counter()
        fn(row)
        times.append(time.perf_counter() - t0)
        if len(times) >= min_calls and time.perf_counter() - start > budget_s:
            break
    return statistics.median(times) * 1e6


def batch_rows_per_s(fn, X, repeats=3):
    """Rows per second of ``fn(X)``: median of ``repeats`` calls after one untimed."""
    fn(X)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn(X)
        times.append(time.perf_counter() - t0)
    return X.shape[0] / statistics.median(times)
