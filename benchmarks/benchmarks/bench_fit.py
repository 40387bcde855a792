"""Training speed: seconds per epoch (steady state) and peak memory of a fit."""

import functools

from .workloads import WorkloadBenchmark, make_data, make_estimator, quiet_fit


@functools.lru_cache(maxsize=1)
def _warm_model(workload, library):
    """A model that has trained one epoch (fastnn: kernels compiled or loaded).

    Cached because asv re-runs ``setup`` before every sample: the warm-up
    then happens once per parameter combination, not once per sample.
    """
    X, _, y, _ = make_data(workload)
    est = make_estimator(library, workload, max_iter=1, warm_start=True)
    quiet_fit(est, X, y)
    return est


class Fit(WorkloadBenchmark):
    """One epoch of Adam over a workload's training set.

    ``setup`` builds the data and runs a warm-up epoch (this compiles
    fastnn's kernels, or loads them from Numba's cache), so ``time_epoch``
    measures a steady-state epoch: ``fit`` with ``max_iter=1`` and
    ``warm_start=True`` continues from the warmed-up weights.
    """

    # An epoch is long compared with timer resolution: one call per sample.
    number = 1
    repeat = (1, 5, 60.0)
    warmup_time = 0

    def setup(self, workload, library):
        self.check_library(library)
        self.X, _, self.y, _ = make_data(workload)
        self.est = _warm_model(workload, library)

    def time_epoch(self, workload, library):
        quiet_fit(self.est, self.X, self.y)


class FitMemory(WorkloadBenchmark):
    """Peak resident memory of a process that builds the data and fits one epoch.

    asv reports the whole process's peak (interpreter, imports and data
    included), so differences between libraries are what matters.
    """


    def setup(self, workload, library):
        self.check_library(library)
        self.X, _, self.y, _ = make_data(workload)

    def peakmem_fit(self, workload, library):
        est = make_estimator(library, workload, max_iter=1)
        quiet_fit(est, self.X, self.y)
