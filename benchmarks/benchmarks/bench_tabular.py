"""The tabular estimators on a raw table: a whole fit of the default recipe
and a one-row prediction.

The table is synthetic, so that the suite needs no download: numeric
columns (one with missing values), categorical columns of few and of many
values (one-hot and embedded), and a binary target from an interaction
of both kinds.  ``benchmarks/tabular/suite.py`` measures the recipe on real
tables; this keeps its speed in asv's history.
"""

import functools

import numpy as np

from .timing import single_row_latency_us

N_ROWS = 5000


@functools.lru_cache(maxsize=1)
def make_table(n_rows=N_ROWS, seed=0):
    """``(X, y)``: a pandas DataFrame of 8 numeric and 3 categorical columns."""
    import pandas as pd

    rng = np.random.RandomState(seed)
    numbers = rng.normal(size=(n_rows, 8))
    numbers[rng.rand(n_rows) < 0.1, 1] = np.nan
    X = pd.DataFrame(numbers, columns=[f"x{j}" for j in range(8)])
    for name, n_values in (("plan", 4), ("region", 20), ("shop", 300)):
        X[name] = pd.Categorical(rng.randint(n_values, size=n_rows).astype(str))
    signal = (numbers[:, 0] * numbers[:, 2] + np.nan_to_num(numbers[:, 1])
              + (X["plan"] == "0") - 0.5 * (X["region"].cat.codes % 3 == 0))
    y = np.where(signal + 0.5 * rng.normal(size=n_rows) > 0, "yes", "no")
    return X, y


def _estimator(n_networks, **params):
    from fastnn import TabularMLPClassifier

    return TabularMLPClassifier(n_networks=n_networks, random_state=0, **params)


@functools.lru_cache(maxsize=2)
def _fitted(n_networks):
    X, y = make_table()
    return _estimator(n_networks).fit(X, y), X.iloc[:1].copy()


class _NetworksParameter:
    """One network, or two trained at the same time (``n_networks="auto"`` on
    this table)."""

    params = [1, "auto"]
    param_names = ["n_networks"]
    warmup_time = 0


class TabularFit(_NetworksParameter):
    """A whole fit of ``TabularMLPClassifier`` at its defaults."""

    number = 1
    repeat = (1, 3, 60.0)

    def setup(self, n_networks):
        self.X, self.y = make_table()
        # compile (or load) the kernels outside the timed fit
        _estimator(n_networks, max_iter=1).fit(self.X[:500], self.y[:500])

    def time_fit(self, n_networks):
        _estimator(n_networks).fit(self.X, self.y)


class TabularPredictSingleRow(_NetworksParameter):
    """``predict_proba`` of a 1-row DataFrame: the encoding and every network.

    ``track_*``: the median of up to 2000 calls in microseconds.
    """

    number = 200
    repeat = (1, 10, 10.0)

    def setup(self, n_networks):
        self.est, self.row = _fitted(n_networks)

    def time_predict_proba_single_row(self, n_networks):
        self.est.predict_proba(self.row)

    def track_predict_proba_single_row_us(self, n_networks):
        return single_row_latency_us(self.est.predict_proba, self.row)

    track_predict_proba_single_row_us.unit = "us"
