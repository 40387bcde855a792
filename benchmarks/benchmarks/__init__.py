"""asv benchmarks for fastnn (see ../README.md).

The workload table lives in :mod:`benchmarks.workloads`, shared with
``benchmarks/compare.py``.
"""
