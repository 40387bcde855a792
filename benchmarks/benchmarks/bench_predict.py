"""Prediction speed: a batch (the test set) and a single row."""

import functools

from .timing import single_row_latency_us
from .workloads import WorkloadBenchmark, make_data, make_estimator, quiet_fit

# Prediction cost does not depend on how well the model is trained: the model
# is fitted for one epoch on at most this many rows, to keep setup short.
FIT_ROWS = 4096


@functools.lru_cache(maxsize=1)
def _fitted(workload, library):
    """``(model, X_test, one_row)`` with predict and predict_proba called once.

    Cached because asv re-runs ``setup`` before every sample (and, with
    ``number > 1``, before every call): the fit happens once per parameter
    combination.
    """
    X_train, X_test, y_train, _ = make_data(workload)
    est = make_estimator(library, workload, max_iter=1)
    quiet_fit(est, X_train[:FIT_ROWS], y_train[:FIT_ROWS])
    row = X_test[:1].copy()
    est.predict(X_test)
    est.predict_proba(row)
    return est, X_test, row


class Predict(WorkloadBenchmark):
    """``predict`` over the test set and ``predict_proba`` of one row."""


    def setup(self, workload, library):
        self.check_library(library)
        self.est, self.X_test, self.row = _fitted(workload, library)

    def time_predict_batch(self, workload, library):
        self.est.predict(self.X_test)


class PredictSingleRow(WorkloadBenchmark):
    """Latency of ``predict_proba`` on one row.

    ``time_*``: ``number`` individually timed calls per sample (asv re-runs
    the cheap, cached ``setup`` between them); ``asv run --quick`` forces one
    call, which mostly measures a cold call.  ``track_*``: the median of up
    to 2000 calls in microseconds, as ``compare.py`` reports it, robust even
    under ``--quick``.
    """

    number = 200
    repeat = (1, 10, 10.0)
    warmup_time = 0

    setup = Predict.setup

    def time_predict_proba_single_row(self, workload, library):
        self.est.predict_proba(self.row)

    def track_predict_proba_single_row_us(self, workload, library):
        return single_row_latency_us(self.est.predict_proba, self.row)

    track_predict_proba_single_row_us.unit = "microseconds"

