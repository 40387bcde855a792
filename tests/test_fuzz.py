"""Property-based fuzzing of shapes, dtypes, formats and settings.

Any combination of network shape (0-3 hidden layers of 1-40 units), batch
size (1 to beyond n_samples), data shape (one sample, one feature, up to 30
classes, multilabel, several outputs), dtype, input format, solver and
activation must fit, or fail with the documented non-finite ValueError, and
then predict finite values of the right shape.  The CI script reruns this
file with ``NUMBA_BOUNDSCHECK=1``, so an out-of-bounds access in a kernel
fails here.  A second test forces the parallel kernels onto these small
problems (many lanes on tiny batches, short compiled calls) and checks they
give bit for bit the model of the serial kernels.

Examples are derandomized: every run tries the same cases.
"""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fastnn import MLPClassifier, MLPRegressor, _engine
from fastnn._activations import HIDDEN_ACTIVATIONS
from fastnn._init import REGISTRY as INITIALIZERS
from fastnn._noise import REGISTRY as DROPOUT_KINDS
from fastnn._optimizers import REGISTRY as OPTIMIZERS
from fastnn._schedules import REGISTRY as SCHEDULES

FUZZ = settings(max_examples=40, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

TASKS = ["binary", "multiclass", "multilabel", "regression", "multioutput"]


@st.composite
def problems(draw, task):
    n = draw(st.integers(1, 60))
    d = draw(st.integers(1, 8))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.RandomState(seed)
    scale = draw(st.sampled_from([1e-3, 1.0, 1e3]))
    X = rng.normal(size=(n, d)) * scale
    fmt = draw(st.sampled_from(["dense", "fortran", "strided", "csr", "csc", "list"]))
    if fmt in ("csr", "csc"):
        X[rng.uniform(size=X.shape) < 0.5] = 0.0
    in_dtype = draw(st.sampled_from([np.float32, np.float64]))
    X = X.astype(in_dtype)
    if task in ("binary", "multiclass"):
        n_classes = min(n, 2 if task == "binary" else draw(st.integers(3, 30)))
        y = rng.randint(n_classes, size=n)
        y[:n_classes] = np.arange(n_classes)  # every class appears
        y = draw(st.sampled_from([lambda c: c, lambda c: np.array([f"c{i}" for i in c]),
                                  lambda c: c * 3 - 20]))(y)
    elif task == "multilabel":
        y = (rng.uniform(size=(n, draw(st.integers(2, 5)))) < 0.5).astype(int)
    elif task == "regression":
        y = rng.normal(size=n)
    else:
        y = rng.normal(size=(n, draw(st.integers(2, 3))))
    sample_weight = rng.uniform(0.1, 2.0, size=n) if draw(st.booleans()) else None
    solver = draw(st.sampled_from(["lbfgs", *OPTIMIZERS]))
    hidden = tuple(draw(st.lists(st.integers(1, 40), max_size=3)))
    activation = st.sampled_from(HIDDEN_ACTIVATIONS)
    params = {
        "hidden_layer_sizes": hidden,
        "activation": draw(st.one_of(activation, st.lists(activation, min_size=len(hidden),
                                                          max_size=len(hidden)))
                           if hidden else activation),
        "weight_init": draw(st.sampled_from(sorted(INITIALIZERS))),
        "clip_norm": draw(st.sampled_from([None, 0.5])),
        "clip_value": draw(st.sampled_from([None, 0.1])),
        "solver": solver,
        "batch_size": draw(st.one_of(st.just("auto"), st.integers(1, n + 10))),
        "learning_rate_init": draw(st.sampled_from([1e-3, 1e-2, 0.1])),
        "alpha": draw(st.sampled_from([0.0, 1e-4, 1.0])),
        "max_iter": draw(st.integers(1, 4)),
        "shuffle": draw(st.booleans()),
        "dtype": draw(st.sampled_from(["float32", "float64"])),
        "n_jobs": draw(st.sampled_from([1, 2, None])),
        "random_state": seed,
    }
    if solver == "sgd":
        params["momentum"] = draw(st.sampled_from([0.0, 0.9]))
        params["nesterovs_momentum"] = draw(st.booleans())
    if solver != "lbfgs":
        params["learning_rate"] = draw(st.sampled_from(sorted(SCHEDULES)))
        params["dropout"] = draw(st.sampled_from([0.0, 0.2, 0.6]))
        params["dropout_kind"] = draw(st.sampled_from(sorted(DROPOUT_KINDS)))
    if task in ("binary", "multiclass"):
        params["label_smoothing"] = draw(st.sampled_from([0.0, 0.1]))
        params["class_weight"] = draw(st.sampled_from([None, "balanced"]))
    n_new = draw(st.sampled_from([1, 5, 16, 17, 257]))
    X_new = (rng.normal(size=(n_new, d)) * scale).astype(in_dtype)
    return _format(X, fmt), y, sample_weight, params, X_new


def _format(X, fmt):
    if fmt == "fortran":
        return np.asfortranarray(X)
    if fmt == "strided":
        wide = np.zeros((X.shape[0] * 2, X.shape[1] * 2), dtype=X.dtype)
        wide[::2, ::2] = X
        return wide[::2, ::2]
    if fmt == "csr":
        return sp.csr_matrix(X)
    if fmt == "csc":
        return sp.csc_matrix(X)
    if fmt == "list":
        return X.tolist()
    return X


def _fit(Estimator, X, y, sample_weight, params):
    """The fitted model, or None when the fit diverged with the documented error."""
    est = Estimator(**params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence, batch_size clipping
        try:
            return est.fit(X, y, sample_weight=sample_weight)
        except ValueError as exc:
            assert "non-finite" in str(exc), exc
            return None


def _check_model(est, X, y, X_new, params):
    n_features = X_new.shape[1]
    units = [n_features, *params["hidden_layer_sizes"]]
    dtype = np.dtype(params["dtype"])
    assert [c.shape[0] for c in est.coefs_] == units
    assert all(a.dtype == dtype for a in est.coefs_ + est.intercepts_)
    assert all(np.all(np.isfinite(a)) for a in est.coefs_ + est.intercepts_)
    y = np.asarray(y)
    for rows in (X, X_new):
        n_rows = rows.shape[0] if hasattr(rows, "shape") else len(rows)
        pred = est.predict(rows)
        if isinstance(est, MLPRegressor):
            assert pred.shape == (n_rows,) + y.shape[1:]
            assert np.all(np.isfinite(pred))
            continue
        proba = est.predict_proba(rows)
        assert np.all(np.isfinite(proba))
        assert np.all((proba >= 0) & (proba <= 1))
        if y.ndim == 2:  # multilabel: one probability per label
            assert pred.shape == proba.shape == (n_rows, y.shape[1])
            assert set(np.unique(pred)) <= {0, 1}
            continue
        n_classes = len(est.classes_)
        assert proba.shape == (n_rows, max(n_classes, 2))
        np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-5)
        assert pred.shape == (n_rows,) and pred.dtype == est.classes_.dtype
        assert set(pred.tolist()) <= set(est.classes_.tolist())
        if n_classes > 2:
            np.testing.assert_array_equal(pred, est.classes_[proba.argmax(axis=1)])
    # a row predicts the same alone as within a batch (up to rounding)
    if isinstance(est, MLPClassifier):
        alone, together = est.predict_proba(X_new[-1:]), est.predict_proba(X_new)[-1:]
    else:
        alone, together = est.predict(X_new[-1:]), est.predict(X_new)[-1:]
    np.testing.assert_allclose(alone, together, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("task", TASKS)
@FUZZ
@given(data=st.data())
def test_fuzz_fit_and_predict(task, data):
    X, y, sample_weight, params, X_new = data.draw(problems(task))
    Estimator = MLPRegressor if task in ("regression", "multioutput") else MLPClassifier
    est = _fit(Estimator, X, y, sample_weight, params)
    if est is not None:
        _check_model(est, X, y, X_new, params)


@pytest.mark.parametrize("task", ["multiclass", "regression"])
@FUZZ
@given(data=st.data(), samples_per_call=st.sampled_from([1, 7, 64, 1 << 18]))
def test_fuzz_forced_parallel_kernels_match_serial(task, data, samples_per_call):
    """Below ``PARALLEL_MIN_FLOPS`` the engine never runs the parallel kernels;
    with the threshold at 0 they run on every problem, with as many lanes as
    the parameter budget allows (often more lanes than rows) and compiled
    calls cut into ``samples_per_call`` samples."""
    X, y, sample_weight, params, X_new = data.draw(problems(task))
    Estimator = MLPRegressor if task == "regression" else MLPClassifier
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_engine, "PARALLEL_MIN_FLOPS", 0)
        patch.setattr(_engine, "SAMPLES_PER_CALL", samples_per_call)
        serial = _fit(Estimator, X, y, sample_weight, {**params, "n_jobs": 1})
        parallel = _fit(Estimator, X, y, sample_weight, {**params, "n_jobs": 2})
        assert (serial is None) == (parallel is None)
        if serial is None:
            return
        _check_model(parallel, X, y, X_new, params)
        for a, b in zip(serial.coefs_ + serial.intercepts_,
                        parallel.coefs_ + parallel.intercepts_):
            np.testing.assert_array_equal(a, b)
        assert serial.n_iter_ == parallel.n_iter_
        out = "predict_proba" if Estimator is MLPClassifier else "predict"
        np.testing.assert_array_equal(getattr(serial, out)(X_new),
                                      getattr(parallel, out)(X_new))
