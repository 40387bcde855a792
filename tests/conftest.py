"""Settings and shared fixtures for the whole test suite.

Compiling ahead in the background (``fastnn._compile.compile_ahead``) is
turned off, here and in every child process the tests start: it would make
which process compiles a kernel, and how busy the cores are, depend on
timing.  ``test_compile`` turns it on where it tests it.

Fixtures:

* ``Estimator``: MLPClassifier, then MLPRegressor (a test taking it runs for each);
* ``make_data`` / ``data``: small standardised problems for an estimator class;
* ``assert_same_model``: weights (and outputs) of two models, equal or within a tolerance;
* ``kernel_runs``: records how the engine ran its compiled kernels (threads, lanes);
* ``numba_threads``: makes the engine see another number of Numba threads.
"""

import collections
import inspect
import os

import numba
import numpy as np
import pytest
from sklearn.datasets import make_classification, make_regression
from sklearn.preprocessing import StandardScaler

from fastnn import MLPClassifier, MLPRegressor, _engine

os.environ["FASTNN_BACKGROUND_COMPILE"] = "0"


@pytest.fixture(params=[MLPClassifier, MLPRegressor], ids=lambda E: E.__name__)
def Estimator(request):
    """The estimator class under test."""
    return request.param


def _make_data(Estimator, n_samples=150, n_features=6, n_classes=3, n_targets=1,
               random_state=0):
    """Standardised X and, for a classifier, ``n_classes`` labels 0, 1, ...; for a
    regressor, ``n_targets`` targets of unit standard deviation (1-D for one)."""
    if Estimator is MLPClassifier:
        X, y = make_classification(
            n_samples=n_samples, n_features=n_features, n_informative=min(4, n_features),
            n_redundant=0, n_classes=n_classes, random_state=random_state,
        )
    else:
        X, y = make_regression(
            n_samples=n_samples, n_features=n_features, n_informative=min(4, n_features),
            n_targets=n_targets, noise=1.0, random_state=random_state,
        )
        y = y / y.std(axis=0)
    return StandardScaler().fit_transform(X), y


@pytest.fixture(scope="session")
def make_data():
    """``make_data(Estimator, n_samples=150, n_features=6, n_classes=3, n_targets=1,
    random_state=0)`` -> ``X, y``: a small problem for ``Estimator``."""
    return _make_data


@pytest.fixture
def data(Estimator, make_data):
    """``X, y``: 150 samples of 6 features for ``Estimator`` (3 classes, or one target)."""
    return make_data(Estimator)


def _outputs(est, X):
    return est.predict_proba(X) if isinstance(est, MLPClassifier) else est.predict(X)


def _assert_same_model(a, b, X=None, rtol=0, atol=0, err_msg=""):
    """The weights and intercepts of ``a`` and ``b`` (and, given ``X``, their
    outputs on it: probabilities for classifiers) agree within ``rtol`` and
    ``atol``; by default they are equal."""
    assert len(a.coefs_) == len(b.coefs_), err_msg
    for wa, wb in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_):
        np.testing.assert_allclose(wa, wb, rtol=rtol, atol=atol, err_msg=err_msg)
    if X is not None:
        np.testing.assert_allclose(_outputs(a, X), _outputs(b, X), rtol=rtol, atol=atol,
                                   err_msg=err_msg)


@pytest.fixture(scope="session")
def assert_same_model():
    """``assert_same_model(a, b, X=None, rtol=0, atol=0, err_msg="")``."""
    return _assert_same_model


Run = collections.namedtuple("Run", "kind threads lanes block_rows")


class KernelRuns(list):
    """Every run of the compiled kernels through ``_engine.Kernels``, in order,
    as ``Run(kind, threads, lanes, block_rows)``: kind "train" (mini-batches
    or a full-batch gradient) or "predict"; threads, the size of the team
    that ran it; lanes, the number of gradient buffers the rows were split
    over (for "predict", the team size); block_rows, the most rows a lane
    takes at once (the longest lane of any batch, when it fits one block)."""

    def of(self, kind):
        return [run for run in self if run.kind == kind]


@pytest.fixture
def kernel_runs(monkeypatch):
    """Records how ``_engine.Kernels`` runs the kernels, as a ``KernelRuns`` list."""
    runs = KernelRuns()
    train, predict = _engine.Kernels.train, _engine.Kernels.predict
    train_args, predict_args = inspect.signature(train), inspect.signature(predict)

    def spy_train(self, *args, **kwargs):
        bound = train_args.bind(self, *args, **kwargs).arguments
        grads, _, cap = bound["bufs"]
        runs.append(Run("train", self.n_threads, grads.shape[0], cap))
        return train(self, *args, **kwargs)

    def spy_predict(self, *args, **kwargs):
        bound = predict_args.bind(self, *args, **kwargs).arguments
        runs.append(Run("predict", self.n_threads, self.n_threads, bound["cap"]))
        return predict(self, *args, **kwargs)

    monkeypatch.setattr(_engine.Kernels, "train", spy_train)
    monkeypatch.setattr(_engine.Kernels, "predict", spy_predict)
    return runs


@pytest.fixture
def numba_threads(monkeypatch):
    """``numba_threads(n)``: the engine sees ``n`` Numba threads for the rest of
    the test.  That count caps the lanes of a mini-batch (``_engine.max_lanes``)
    and is the team size of ``n_jobs=None`` or ``-1``; fastnn runs no Numba
    parallel region, so more threads than cores only share the cores."""

    def set_threads(n):
        monkeypatch.setattr(numba.config, "NUMBA_NUM_THREADS", n)

    return set_threads
