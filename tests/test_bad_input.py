"""Invalid input and parameters: rejected like scikit-learn does, with a clear message.

Every rejection must come before any compiled code changes the model: never
a Numba error, and the estimator must be left unfitted (a fitted one, as it
was).
"""

import pickle

import numba
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn.exceptions import NotFittedError
from sklearn.neural_network import MLPClassifier as SkMLPClassifier
from sklearn.neural_network import MLPRegressor as SkMLPRegressor

from fastnn import MLPClassifier, MLPRegressor

SKLEARN_TWIN = {MLPClassifier: SkMLPClassifier, MLPRegressor: SkMLPRegressor}

RNG = np.random.RandomState(0)
X = RNG.normal(size=(30, 4))
Y = {MLPClassifier: np.arange(30) % 3, MLPRegressor: RNG.normal(size=30)}


def _with(a, index, value):
    a = np.array(a, dtype=float)
    a[index] = value
    return a


def _raises_like_sklearn(Estimator, exc, match, call):
    """``call(estimator)`` raises ``exc`` matching ``match`` for fastnn, and
    scikit-learn's MLP raises the same kind of error."""
    with pytest.raises(exc, match=match) as info:
        call(Estimator())
    assert "numba" not in type(info.value).__module__
    with pytest.raises(exc):
        call(SKLEARN_TWIN[Estimator]())
    return info


def _fitted(Estimator):
    return Estimator(hidden_layer_sizes=(3,), max_iter=2, random_state=0).fit(X, Y[Estimator])


# ---------------------------------------------------------------------------
# X and y at fit
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad_X, match",
    [
        (_with(X, (3, 1), np.nan), "Input X contains NaN"),
        (_with(X, (3, 1), np.inf), "Input X contains infinity"),
        (_with(X, (3, 1), -np.inf), "Input X contains infinity"),
        (sp.csr_matrix(_with(X, (3, 1), np.nan)), "Input X contains NaN"),
        (sp.csc_matrix(_with(X, (3, 1), np.inf)), "Input X contains infinity"),
    ],
    ids=["nan", "inf", "-inf", "csr-nan", "csc-inf"],
)
def test_non_finite_X(Estimator, bad_X, match):
    info = _raises_like_sklearn(Estimator, ValueError, match,
                                lambda est: est.fit(bad_X, Y[Estimator]))
    assert Estimator.__name__ in str(info.value) or "infinity" in str(info.value)


@pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning")
def test_X_finite_in_float64_but_not_in_float32(Estimator):
    # 1e39 overflows float32 (fastnn's default dtype): named as infinity
    with pytest.raises(ValueError, match="infinity or a value too large for dtype\\('float32'\\)"):
        Estimator().fit(_with(X, (0, 0), 1e39), Y[Estimator])
    est = _fitted(Estimator)
    with pytest.raises(ValueError, match="infinity or a value too large for dtype\\('float32'\\)"):
        est.predict(_with(X, (0, 0), -1e39))


@pytest.mark.parametrize("value, match", [(np.nan, "Input y contains NaN"),
                                          (np.inf, "Input y contains infinity")])
def test_non_finite_y(Estimator, value, match):
    _raises_like_sklearn(Estimator, ValueError, match,
                         lambda est: est.fit(X, _with(Y[Estimator], 0, value)))


# Input already in the training dtype (float32, C order) takes a shorter
# validation path: it must reject what the general one rejects, alike.
X32 = X.astype(np.float32)


def _float32_with(a, index, value):
    return _with(a, index, value).astype(np.float32)


@pytest.mark.parametrize("call, match", [
    (lambda est, y: est.fit(_float32_with(X32, (3, 1), np.nan), y), "Input X contains NaN"),
    (lambda est, y: est.fit(_float32_with(X32, (3, 1), np.inf), y), "Input X contains infinity"),
    (lambda est, y: est.fit(X32, _with(y, 0, np.nan)), "Input y contains NaN"),
    (lambda est, y: est.fit(X32, _with(y, 0, -np.inf)), "Input y contains infinity"),
    (lambda est, y: est.fit(X32, y[:-1]), "inconsistent numbers of samples"),
    (lambda est, y: est.fit(X32[:0], y[:0]), "0 sample\\(s\\)"),
], ids=["X-nan", "X-inf", "y-nan", "y-inf", "lengths", "empty"])
def test_input_in_the_training_dtype_is_checked_alike(Estimator, call, match):
    est = Estimator(max_iter=2)
    with pytest.raises(ValueError, match=match):
        call(est, Y[Estimator])
    assert not hasattr(est, "coefs_")


def test_partial_fit_in_the_training_dtype_checks_features(Estimator):
    est = Estimator(hidden_layer_sizes=(3,), random_state=0)
    classes = {"classes": [0, 1, 2]} if Estimator is MLPClassifier else {}
    est.partial_fit(X32, Y[Estimator], **classes)
    # (this input does take the short path)
    assert est._validate_plain(X32, Y[Estimator], False, np.float32) is not None
    with pytest.raises(ValueError, match="X has 3 features, but .* is expecting 4 features"):
        est.partial_fit(np.ascontiguousarray(X32[:, :3]), Y[Estimator])
    named = Estimator(hidden_layer_sizes=(3,), max_iter=2, random_state=0)
    named.fit(pd.DataFrame(X32, columns=list("abcd")), Y[Estimator])
    with pytest.warns(UserWarning, match="X does not have valid feature names"):
        named.partial_fit(X32, Y[Estimator])


def test_predict_in_the_training_dtype_checks_features(Estimator):
    # more rows than the few-rows path takes: validate_data without its conversions
    est = _fitted(Estimator)
    assert X32.shape[0] > 16 and X32.flags.c_contiguous
    for predict in _predict_methods(est):
        np.testing.assert_array_equal(predict(X32), predict(X))
        with pytest.raises(ValueError, match="X has 3 features, but .* is expecting 4 features"):
            predict(np.ascontiguousarray(X32[:, :3]))
        with pytest.raises(ValueError, match="Input X contains NaN"):
            predict(_float32_with(X32, (20, 2), np.nan))
    named = Estimator(hidden_layer_sizes=(3,), max_iter=2, random_state=0)
    named.fit(pd.DataFrame(X32, columns=list("abcd")), Y[Estimator])
    with pytest.warns(UserWarning, match="X does not have valid feature names"):
        named.predict(X32)


def test_empty_X(Estimator):
    _raises_like_sklearn(Estimator, ValueError, "0 sample\\(s\\)",
                         lambda est: est.fit(np.empty((0, 4)), Y[Estimator][:0]))
    _raises_like_sklearn(Estimator, ValueError, "0 feature\\(s\\)",
                         lambda est: est.fit(np.empty((30, 0)), Y[Estimator]))


def test_X_with_wrong_number_of_dimensions(Estimator):
    _raises_like_sklearn(Estimator, ValueError, "Expected 2D array, got 1D array",
                         lambda est: est.fit(X[:, 0], Y[Estimator]))
    _raises_like_sklearn(Estimator, ValueError, "Found array with dim 3",
                         lambda est: est.fit(X.reshape(30, 2, 2), Y[Estimator]))
    _raises_like_sklearn(Estimator, ValueError, "Expected 2D array, got scalar",
                         lambda est: est.fit(np.float64(1.0), Y[Estimator][:1]))


def test_mismatched_X_and_y_lengths(Estimator):
    _raises_like_sklearn(Estimator, ValueError, "inconsistent numbers of samples: \\[30, 29\\]",
                         lambda est: est.fit(X, Y[Estimator][:-1]))


def test_complex_X(Estimator):
    _raises_like_sklearn(Estimator, ValueError, "Complex data not supported",
                         lambda est: est.fit(X + 1j, Y[Estimator]))


@pytest.mark.parametrize("bad_X", [np.array([["a", "b", "c", "d"]] * 30),
                                   np.array([["a", 1.0, 2.0, 3.0]] * 30, dtype=object)],
                         ids=["str", "object"])
def test_string_X(Estimator, bad_X):
    _raises_like_sklearn(Estimator, ValueError, "could not convert string to float",
                         lambda est: est.fit(bad_X, Y[Estimator]))


def test_string_y_for_regressor():
    with pytest.raises(ValueError, match="could not convert string to float"):
        MLPRegressor().fit(X, np.array(["a", "b", "c"] * 10))


def test_continuous_y_for_classifier():
    _raises_like_sklearn(MLPClassifier, ValueError, "Unknown label type",
                         lambda est: est.fit(X, Y[MLPRegressor]))


def test_negative_y_for_poisson_loss():
    with pytest.raises(ValueError, match="negative.*poisson"):
        MLPRegressor(loss="poisson").fit(X, Y[MLPRegressor])


# ---------------------------------------------------------------------------
# predict
# ---------------------------------------------------------------------------


def test_predict_before_fit(Estimator):
    methods = ["predict"] + (["predict_proba", "predict_log_proba"]
                             if Estimator is MLPClassifier else [])
    for method in methods:
        with pytest.raises(NotFittedError, match=f"This {Estimator.__name__} instance is not"
                                                 " fitted yet"):
            getattr(Estimator(), method)(X)
    with pytest.raises(NotFittedError):
        Estimator().score(X, Y[Estimator])


@pytest.mark.parametrize("sparse", [False, True])
def test_predict_with_wrong_number_of_features(Estimator, sparse):
    est = _fitted(Estimator)
    X_bad = X[:, :3]
    if sparse:
        X_bad = sp.csr_matrix(X_bad)
    with pytest.raises(ValueError, match="X has 3 features, but .* is expecting 4 features"):
        est.predict(X_bad)
    with pytest.raises(ValueError, match="X has 5 features, but .* is expecting 4 features"):
        est.predict(np.hstack([X, X[:, :1]]))
    if Estimator is MLPClassifier:
        with pytest.raises(ValueError, match="X has 3 features"):
            est.predict_proba(X_bad)


def test_predict_with_bad_X(Estimator):
    est = _fitted(Estimator)
    with pytest.raises(ValueError, match="Input X contains NaN"):
        est.predict(_with(X, (0, 0), np.nan))
    with pytest.raises(ValueError, match="Input X contains infinity"):
        est.predict(_with(X, (0, 0), np.inf))
    with pytest.raises(ValueError, match="Expected 2D array, got 1D array"):
        est.predict(X[0])
    with pytest.raises(ValueError, match="Complex data not supported"):
        est.predict(X + 1j)
    with pytest.raises(ValueError, match="Found array with dim 3"):
        est.predict(X.reshape(30, 2, 2))


def test_partial_fit_with_wrong_number_of_features(Estimator):
    est = _fitted(Estimator)
    with pytest.raises(ValueError, match="X has 3 features, but .* is expecting 4 features"):
        est.partial_fit(X[:, :3], Y[Estimator])


def test_partial_fit_not_available_for_lbfgs(Estimator):
    est = Estimator(solver="lbfgs")
    assert not hasattr(est, "partial_fit")
    with pytest.raises(AttributeError, match="has no attribute 'partial_fit'") as info:
        est.partial_fit(X, Y[Estimator])
    assert "only available for stochastic optimizers" in str(info.value.__cause__)
    assert hasattr(Estimator(solver="sgd"), "partial_fit")


def test_partial_fit_with_early_stopping(Estimator):
    kw = {"classes": [0, 1, 2]} if Estimator is MLPClassifier else {}
    with pytest.raises(ValueError, match="partial_fit does not support early_stopping=True"):
        Estimator(early_stopping=True).partial_fit(X, Y[Estimator], **kw)


def test_early_stopping_validation_set_too_small():
    with pytest.raises(ValueError, match="validation set is too small"):
        MLPRegressor(early_stopping=True, validation_fraction=0.01).fit(X, Y[MLPRegressor])


# ---------------------------------------------------------------------------
# sample_weight
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sample_weight, match",
    [
        (np.ones(29), "sample_weight"),
        (np.ones((30, 2)), "sample_weight"),
        (_with(np.ones(30), 2, np.nan), "sample_weight.*NaN|NaN.*sample_weight"),
        (_with(np.ones(30), 2, np.inf), "sample_weight.*infinity|infinity.*sample_weight"),
        (np.zeros(30), "(?i)sample.weight"),
    ],
    ids=["short", "2d", "nan", "inf", "all-zero"],
)
def test_bad_sample_weight(Estimator, sample_weight, match):
    est = Estimator()
    with pytest.raises(ValueError, match=match):
        est.fit(X, Y[Estimator], sample_weight=sample_weight)
    assert not hasattr(est, "coefs_")


# ---------------------------------------------------------------------------
# Parameters
# ---------------------------------------------------------------------------

BAD_PARAMS = [
    ("hidden_layer_sizes", (-1,)),
    ("hidden_layer_sizes", (10, 0)),
    ("hidden_layer_sizes", -3),
    ("hidden_layer_sizes", (2.5,)),
    ("hidden_layer_sizes", "10"),
    ("activation", "softmax"),
    ("activation", "Relu"),
    ("solver", "newton"),
    ("batch_size", 0),
    ("batch_size", -5),
    ("batch_size", "big"),
    ("learning_rate", "fast"),
    ("learning_rate_init", -0.1),
    ("learning_rate_init", 0.0),
    ("learning_rate_init", np.nan),
    ("alpha", -1e-3),
    ("alpha", np.inf),
    ("power_t", -0.5),
    ("max_iter", 0),
    ("max_iter", 5.0),
    ("tol", -1.0),
    ("momentum", 1.5),
    ("momentum", -0.1),
    ("validation_fraction", 1.0),
    ("beta_1", 1.0),
    ("beta_2", -0.1),
    ("epsilon", 0.0),
    ("n_iter_no_change", 0),
    ("max_fun", 0),
    ("shuffle", "yes"),
    ("warm_start", 1),
    ("random_state", "a"),
    ("random_state", -1),
    ("verbose", -1),
]

FASTNN_ONLY_BAD_PARAMS = [
    ("dtype", "int32"),
    ("dtype", np.int64),
    ("dtype", "float16"),
    ("dtype", "double-ish"),
    ("n_jobs", 0),
    ("n_jobs", 1.5),
    ("n_jobs", "all"),
]


def _id(p):
    return f"{p[0]}={p[1]!r}"


@pytest.mark.parametrize("param", BAD_PARAMS + FASTNN_ONLY_BAD_PARAMS, ids=_id)
def test_bad_parameter_is_named(Estimator, param):
    name, value = param
    est = Estimator(**{name: value})  # __init__ never validates
    assert est.get_params()[name] is value
    with pytest.raises((ValueError, TypeError), match=f"'{name}' parameter of {Estimator.__name__}"
                                                      " must be") as info:
        est.fit(X, Y[Estimator])
    assert "numba" not in type(info.value).__module__
    assert not hasattr(est, "coefs_")
    # scikit-learn rejects it too, with the same kind of error
    if param in BAD_PARAMS:
        with pytest.raises((ValueError, TypeError)) as sk_info:
            SKLEARN_TWIN[Estimator](**{name: value}).fit(X, Y[Estimator])
        for kind in (ValueError, TypeError):
            if isinstance(sk_info.value, kind):
                assert isinstance(info.value, kind)


@pytest.mark.parametrize("name, value", [("activation", "softmax"), ("solver", "newton"),
                                         ("dtype", "int32")])
def test_bad_parameter_message_lists_the_options(Estimator, name, value):
    with pytest.raises(ValueError, match=f"Got '{value}' instead") as info:
        Estimator(**{name: value}).fit(X, Y[Estimator])
    message = str(info.value)
    expected = {"activation": ["identity", "logistic", "tanh", "relu"],
                "solver": ["lbfgs", "sgd", "adam"],
                "dtype": ["float32", "float64"]}[name]
    assert all(option in message for option in expected), message


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("name, value", [("validation_fraction", 0.0), ("beta_1", 0.0),
                                         ("momentum", 0.0), ("momentum", 1.0),
                                         ("power_t", 0.0), ("alpha", 0.0), ("tol", 0.0),
                                         ("n_iter_no_change", np.inf),
                                         ("hidden_layer_sizes", ()), ("verbose", 0)],
                         ids=lambda v: repr(v))
def test_boundary_values_scikit_learn_accepts(Estimator, name, value):
    # Drop-in replacement: what scikit-learn's constraints accept is accepted.
    SKLEARN_TWIN[Estimator](**{name: value}, max_iter=2).fit(X, Y[Estimator])
    est = Estimator(**{name: value}, max_iter=2, random_state=0).fit(X, Y[Estimator])
    assert est.n_iter_ == 2


def test_bad_loss():
    with pytest.raises(ValueError, match="'loss' parameter of MLPRegressor must be"):
        MLPRegressor(loss="huber").fit(X, Y[MLPRegressor])


def test_bad_parameter_in_partial_fit(Estimator):
    kw = {"classes": [0, 1, 2]} if Estimator is MLPClassifier else {}
    with pytest.raises(ValueError, match="'alpha' parameter"):
        Estimator(alpha=-1.0).partial_fit(X, Y[Estimator], **kw)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_unusual_but_valid_input_is_accepted(Estimator):
    # integer, boolean and float16 X, Fortran order, strided views, lists
    y = Y[Estimator]
    for X_ok in [(X * 10).astype(np.int64), X > 0, X.astype(np.float16),
                 np.asfortranarray(X), np.hstack([X, X])[:, ::2], X.tolist()]:
        est = Estimator(hidden_layer_sizes=(3,), max_iter=2, random_state=0)
        est.fit(X_ok, y)
        assert np.all(np.isfinite(est.predict(X_ok) if Estimator is MLPRegressor
                                  else est.predict_proba(X_ok)))


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_divergence_is_a_clear_error(Estimator):
    # A huge step on huge inputs overflows the weights: a ValueError naming
    # the problem, or a finite model, never a Numba error or a NaN model.
    X_big = X * 1e18
    est = Estimator(solver="sgd", learning_rate_init=10.0, momentum=0.0, max_iter=20,
                    random_state=0)
    try:
        est.fit(X_big, Y[Estimator])
    except ValueError as exc:
        assert "non-finite parameter weights" in str(exc)
    else:
        assert all(np.all(np.isfinite(c)) for c in est.coefs_)


# ---------------------------------------------------------------------------
# The few-rows predict path, float32 range, unknown names, state after errors
# ---------------------------------------------------------------------------


def _predict_methods(est):
    names = ["predict"]
    if isinstance(est, MLPClassifier):
        names += ["predict_proba", "predict_log_proba"]
    return [getattr(est, name) for name in names]


@pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning")
@pytest.mark.parametrize("n_rows", [1, 5, 16, 17])
def test_predict_on_a_few_rows_with_bad_X(Estimator, n_rows):
    # Up to 16 plain float rows take a latency path that skips validate_data;
    # it must reject the same input, with the same kind of message.
    est = _fitted(Estimator)
    X_few = X[:n_rows]
    cases = [
        (_with(X_few, (0, 1), np.nan), "NaN"),
        (_with(X_few, (n_rows - 1, 3), np.inf), "infinity"),
        (_with(X_few, (0, 0), -np.inf).astype(np.float32), "infinity"),
        (_with(X_few, (0, 0), 1e39), "infinity"),  # finite, but not in float32
        (X_few[:, :3], "X has 3 features, but .* is expecting 4 features"),
        (X_few[:, :3].astype(np.float32), "X has 3 features"),
        (np.hstack([X_few, X_few]), "X has 8 features"),
        (np.empty((n_rows, 0)), "0 feature\\(s\\)"),
        (X[:0], "0 sample\\(s\\)"),
        (X_few[0], "Expected 2D array, got 1D array"),
        (np.zeros((n_rows, 2, 2)), "Found array with dim 3"),
        (X_few + 1j, "Complex data not supported"),
        (np.full((n_rows, 4), "a"), "could not convert string to float"),
    ]
    for predict in _predict_methods(est):
        for bad, match in cases:
            with pytest.raises(ValueError, match=match):
                predict(bad)
        assert np.all(np.isfinite(est.predict(X_few)))


@pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning")
def test_y_finite_in_float64_but_not_in_float32():
    y = _with(Y[MLPRegressor], 4, 1e39)
    for y_bad in (y, np.column_stack([Y[MLPRegressor], y])):
        est = MLPRegressor(max_iter=2)
        with pytest.raises(ValueError,
                           match="Input y contains infinity or a value too large for"
                                 " dtype\\('float32'\\)"):
            est.fit(X, y_bad)
        assert not hasattr(est, "coefs_")
    # the same targets are in range for a float64 network
    est = MLPRegressor(hidden_layer_sizes=(3,), max_iter=2, dtype="float64").fit(X, y)
    assert np.all(np.isfinite(est.predict(X)))


@pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning")
def test_sample_weight_finite_in_float64_but_not_in_float32():
    with pytest.raises(ValueError, match="sample_weight contains NaN or infinity"):
        MLPRegressor().fit(X, Y[MLPRegressor], sample_weight=_with(np.ones(30), 0, 1e39))


def test_unknown_parameter_names(Estimator):
    with pytest.raises(ValueError, match="Invalid parameter 'hidden_layers' for estimator"):
        Estimator().set_params(hidden_layers=(3,))
    with pytest.raises(TypeError, match="unexpected keyword argument 'learning_rate_int'"):
        Estimator(learning_rate_int=0.1)
    with pytest.raises(TypeError):
        Estimator("squared_error", (3,), "relu", "adam")  # solver onwards: keyword-only


def test_rejected_fit_leaves_the_estimator_unfitted(Estimator):
    y = Y[Estimator]
    bad_fits = [
        lambda est: est.fit(_with(X, (1, 1), np.nan), y),
        lambda est: est.fit(X, _with(y, 1, np.inf)),
        lambda est: est.fit(X[:, :0], y),
        lambda est: est.fit(X + 1j, y),
        lambda est: est.fit(X, y[:-2]),
        lambda est: est.fit(pd.DataFrame({"a": ["x"] * 30, "b": X[:, 0]}), y),
        lambda est: est.fit(pd.DataFrame(_with(X, (0, 0), np.nan)), y),
    ]
    for bad_fit in bad_fits:
        est = Estimator()
        with pytest.raises(ValueError) as info:
            bad_fit(est)
        assert "numba" not in type(info.value).__module__
        assert not hasattr(est, "coefs_")
        with pytest.raises(NotFittedError):
            est.predict(X)


def test_partial_fit_with_bad_X_and_y(Estimator):
    kw = {"classes": [0, 1, 2]} if Estimator is MLPClassifier else {}
    y = Y[Estimator]
    with pytest.raises(ValueError, match="Input X contains NaN"):
        Estimator().partial_fit(_with(X, (2, 2), np.nan), y, **kw)
    with pytest.raises(ValueError, match="0 sample\\(s\\)"):
        Estimator().partial_fit(X[:0], y[:0], **kw)
    est = Estimator(hidden_layer_sizes=(3,), random_state=0).partial_fit(X, y, **kw)
    before = [c.copy() for c in est.coefs_]
    with pytest.raises(ValueError, match="Input y contains"):
        est.partial_fit(X, _with(y, 0, np.nan))
    # a rejected call does not touch the fitted weights
    for a, b in zip(before, est.coefs_):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("shuffle", [True, False])
@pytest.mark.parametrize("n_jobs", [1, 2])
@pytest.mark.parametrize("where, bad", [((0, 0), np.nan), ((1500, 3), np.inf),
                                        ((2999, 9), -np.inf)])
@pytest.mark.parametrize("lanes", ["one block", "blocks", "lanes"])
def test_partial_fit_with_bad_X_leaves_a_fitted_model_as_it_was(Estimator, shuffle, n_jobs,
                                                                where, bad, lanes, make_data,
                                                                monkeypatch, assert_same_model):
    """``partial_fit`` on a fitted network checks the input in its training
    kernel, in the lanes that train on the rows (``_defers_finite_check``):
    a NaN or an infinity in any row (the first, one in the middle, the
    last) is still rejected with scikit-learn's error, and the call leaves
    the model as it was: its next call trains as if the rejected one had
    not been made.  Lanes of one block check their rows in one run; those
    of several blocks (a batch over ``BLOCK_ROWS`` rows) row by row; a
    batch may be split into several lanes."""
    import fastnn._engine
    import fastnn._mlp

    monkeypatch.setattr(fastnn._mlp, "DEFERRED_CHECK_MIN_BYTES", 0)  # (so small an input)
    if lanes == "lanes":  # (as many lanes as threads, however small the network)
        monkeypatch.setattr(fastnn._engine, "PARALLEL_MIN_FLOPS", 0)
    if lanes == "blocks":  # (blocks of BLOCK_ROWS rows, however small the network)
        monkeypatch.setattr(fastnn._engine, "LANE_WORKSPACE_BUDGET", 0)
    batch_size = fastnn._engine.BLOCK_ROWS + 100 if lanes == "blocks" else 64
    X, y = make_data(Estimator, n_samples=3000, n_features=10)
    X = X.astype(np.float32)
    kw = {"classes": np.unique(y)} if Estimator is MLPClassifier else {}
    est = Estimator(hidden_layer_sizes=(8,), batch_size=batch_size, shuffle=shuffle,
                    n_jobs=n_jobs, random_state=np.random.RandomState(0))
    est.partial_fit(X, y, **kw)
    assert est._defers_finite_check(X, True, False, np.float32)
    if lanes == "blocks":
        assert est._runner.cap < batch_size
    elif lanes == "lanes" and numba.config.NUMBA_NUM_THREADS > 1:
        assert est._runner.grads.shape[0] > 1
    twin = pickle.loads(pickle.dumps(est))
    message = "Input X contains NaN" if np.isnan(bad) else "Input X contains infinity"
    bad_X = X.copy()  # (float32 and C-contiguous: the deferred check's input)
    bad_X[where] = bad
    with pytest.raises(ValueError, match=message):
        est.partial_fit(bad_X, y)
    assert_same_model(twin, est)
    assert est._optimizer.t == twin._optimizer.t
    est.partial_fit(X, y)
    twin.partial_fit(X, y)
    assert_same_model(twin, est)
    assert est.loss_curve_ == twin.loss_curve_
