"""Reliability of the estimators: numerical faults, memory layouts, labels.

* A fit that overflows ends in a clear ValueError or in a finite model, never
  in NaN weights or NaN predictions; losses and output activations are exact
  and finite at extreme logits.
* Every way of holding the same numbers (orders, strides, read-only memmaps,
  lists, DataFrames, float64 values that are exactly float32) gives the same
  model bit for bit; so does every sparse format, and dense input agrees with
  sparse input up to rounding.
* Class labels of any kind come back as they went in.
"""

import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from jitted import bias_activate, loss_and_delta
from scipy.special import expit, log_softmax, logsumexp, softmax
from sklearn.neural_network import MLPClassifier as SkMLPClassifier

from fastnn import MLPClassifier, MLPRegressor
from fastnn._activations import ACTIVATIONS
from fastnn._losses import LOSSES


def _weights(est):
    return np.concatenate([a.ravel() for a in est.coefs_ + est.intercepts_])


def _outputs(est, X):
    return est.predict_proba(X) if isinstance(est, MLPClassifier) else est.predict(X)


def _assert_error_or_finite_model(fit, X_pred):
    """``fit()`` raises a ValueError naming the fault, or leaves a finite model."""
    try:
        est = fit()
    except ValueError as exc:
        assert "non-finite" in str(exc), exc
        assert "numba" not in type(exc).__module__
        return None
    assert np.all(np.isfinite(_weights(est)))
    if getattr(est, "early_stopping", False) and est.solver != "lbfgs":
        # the weights of a finite best validation score are restored; loss_
        # is that of the last epoch, which may be the one that overflowed
        assert np.isfinite(est.best_validation_score_)
    else:
        assert np.isfinite(est.loss_)
    out = _outputs(est, X_pred)
    assert np.all(np.isfinite(out))
    if isinstance(est, MLPClassifier):
        np.testing.assert_allclose(out.sum(axis=1), 1, rtol=1e-5)
        assert set(np.unique(est.predict(X_pred))) <= set(est.classes_)
    return est


# ---------------------------------------------------------------------------
# Numerical faults
# ---------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("scale", [1e15, 1e30])
def test_huge_inputs_give_an_error_or_a_finite_model(Estimator, solver, dtype, scale, make_data):
    X, y = make_data(Estimator, n_samples=60)
    X_big = X * scale
    _assert_error_or_finite_model(
        lambda: Estimator(hidden_layer_sizes=(8,), solver=solver, max_iter=10,
                          random_state=0, dtype=dtype).fit(X_big, y),
        X_big,
    )


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("solver, lr", [("sgd", 1e3), ("sgd", 1e6), ("sgd", 1e30),
                                        ("adam", 1e6), ("adam", 1e12)])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("early_stopping", [False, True])
def test_diverging_learning_rate_gives_an_error_or_a_finite_model(
    Estimator, solver, lr, dtype, early_stopping, make_data
):
    X, y = make_data(Estimator, n_samples=60)
    _assert_error_or_finite_model(
        lambda: Estimator(hidden_layer_sizes=(8,), solver=solver, learning_rate_init=lr,
                          max_iter=20, random_state=0, dtype=dtype,
                          early_stopping=early_stopping, validation_fraction=0.2).fit(X, y),
        X,
    )


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_overflowing_outputs_with_finite_weights_are_an_error(make_data):
    # SGD at lr=1e6 in float64: the epoch loss reaches inf while the weights
    # (~1e236) are still finite; the predictions would be -inf.
    X, y = make_data(MLPRegressor, n_samples=30, n_features=4)
    est = MLPRegressor(solver="sgd", learning_rate_init=1e6, max_iter=20, random_state=0,
                       dtype="float64")
    with pytest.raises(ValueError, match="non-finite"):
        est.fit(X, y)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_last_step_overflowing_the_outputs_is_an_error():
    # Found by test_fuzz: the last (never evaluated) mini-batch step leaves
    # weights of ~1e17, finite, and a finite epoch loss; the outputs of
    # three stacked identity layers overflow to +-inf.  scikit-learn, in
    # float64 on the same problem, returns a model predicting +-inf.
    X = np.array([[1624.3453], [-611.7564], [-528.17175]], dtype=np.float32)
    y = np.array([[-1.07296862, 0.86540763], [-2.3015387, 1.74481176],
                  [-0.7612069, 0.3190391]])
    est = MLPRegressor(hidden_layer_sizes=(1, 1), activation="identity", solver="sgd",
                       batch_size=2, alpha=0.0, max_iter=1, shuffle=False, momentum=0.0,
                       random_state=1)
    with pytest.raises(ValueError, match="non-finite outputs on the training data"):
        est.fit(X, y)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_lbfgs_that_cannot_take_a_step_is_an_error(make_data):
    # In float32, inputs of 1e30 overflow the gradient at the first
    # evaluation: L-BFGS-B stops at once with a NaN loss and the initial
    # weights.  That untrained model must not be returned as a fit.
    X, y = make_data(MLPRegressor, n_samples=30, n_features=4)
    with pytest.raises(ValueError, match="non-finite loss"):
        MLPRegressor(solver="lbfgs", max_iter=5, random_state=0).fit(X * 1e30, y)
    # float64 has the range: a finite fit, as scikit-learn's
    est = MLPRegressor(solver="lbfgs", max_iter=5, random_state=0,
                       dtype="float64").fit(X * 1e30, y)
    assert est.n_iter_ > 0 and np.isfinite(est.loss_)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_early_stopping_without_a_finite_validation_score_is_an_error(Estimator, make_data):
    # Outputs overflow from the first epoch: no validation score is finite,
    # and restoring "the best weights" would return the untrained network.
    X, y = make_data(Estimator, n_samples=60)
    est = Estimator(hidden_layer_sizes=(8,), solver="sgd", learning_rate_init=1e30,
                    max_iter=20, random_state=0, early_stopping=True,
                    validation_fraction=0.2)
    with pytest.raises(ValueError, match="non-finite outputs on the validation set"):
        est.fit(X, y)


def _extreme_logits(dtype, m=3):
    big = 1e4
    return np.array([[big, -big, 0.0], [-big, -big, -big], [big, big, -big],
                     [-big, 0.0, big], [0.5, -0.25, 0.0]], dtype=dtype)[:, :m]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("loss", ["log_loss", "binary_log_loss", "squared_error"])
def test_loss_and_gradient_exact_at_extreme_logits(dtype, loss):
    Z = _extreme_logits(dtype)
    n, m = Z.shape
    rng = np.random.RandomState(0)
    if loss == "log_loss":
        Y = np.eye(m, dtype=dtype)[rng.randint(m, size=n)]
    else:
        Y = (rng.uniform(size=(n, m)) < 0.5).astype(dtype)
    rows = np.arange(n, dtype=np.int64)
    delta = np.full_like(Z, np.nan)
    value = loss_and_delta(Z, Y, np.empty(0, dtype=dtype), rows, LOSSES[loss], delta)

    z = Z.astype(np.float64)
    if loss == "log_loss":
        expected = np.sum(Y * (logsumexp(z, axis=1, keepdims=True) - z))
        expected_delta = softmax(z, axis=1) - Y
    elif loss == "binary_log_loss":
        expected = np.sum(np.logaddexp(0, z) - Y * z)
        expected_delta = expit(z) - Y
    else:
        expected = 0.5 * np.sum((z - Y) ** 2)
        expected_delta = z - Y
    assert np.isfinite(value)
    assert value == pytest.approx(expected, rel=1e-6)
    assert np.all(np.isfinite(delta))
    np.testing.assert_allclose(delta, expected_delta, rtol=1e-5, atol=1e-6)

    # sample weights scale both
    sw = np.full(n, 2.0, dtype=dtype)
    delta_w = np.empty_like(Z)
    value_w = loss_and_delta(Z, Y, sw, rows, LOSSES[loss], delta_w)
    assert value_w == pytest.approx(2 * value, rel=1e-6)
    np.testing.assert_allclose(delta_w, 2 * delta, rtol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("activation", ["softmax", "logistic", "tanh"])
def test_output_activations_finite_at_extreme_logits(dtype, activation):
    Z = _extreme_logits(dtype)
    b = np.array([0.0, 1e4, -1e4], dtype=dtype)
    A = Z.copy()
    bias_activate(A, b, ACTIVATIONS[activation])
    z = Z.astype(np.float64) + b
    expected = {"softmax": lambda: softmax(z, axis=1), "logistic": lambda: expit(z),
                "tanh": lambda: np.tanh(z)}[activation]()
    assert np.all(np.isfinite(A))
    np.testing.assert_allclose(A, expected, rtol=1e-5, atol=1e-6)
    if activation == "softmax":
        np.testing.assert_allclose(A.sum(axis=1), 1, rtol=1e-6)
    if activation == "logistic":
        assert np.all((A >= 0) & (A <= 1))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("n_classes", [2, 4])
def test_predicted_probabilities_at_extreme_logits(dtype, n_classes):
    rng = np.random.RandomState(0)
    X = rng.normal(size=(50, 5))
    y = rng.randint(n_classes, size=50)
    clf = MLPClassifier(hidden_layer_sizes=(6,), activation="identity", max_iter=5,
                        random_state=0, dtype=dtype).fit(X, y)
    # scale the output layer in place: logits of order 1e4 to 1e5
    clf.coefs_[-1] *= 1e4
    clf.intercepts_[-1] *= 1e4
    for rows in (X, X[:3]):  # the general and the few-rows path
        proba = clf.predict_proba(rows)
        assert np.all(np.isfinite(proba)) and np.all((proba >= 0) & (proba <= 1))
        np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-6)
        saturated = proba.max(axis=1)
        assert np.all(saturated > 0.999)  # the logits really are extreme
        log_proba = clf.predict_log_proba(rows)
        assert not np.any(np.isnan(log_proba)) and np.all(log_proba <= 0)
        with np.errstate(divide="ignore"):
            np.testing.assert_array_equal(log_proba, np.log(proba))
        np.testing.assert_array_equal(clf.predict(rows), clf.classes_[proba.argmax(axis=1)])
    # and the float64 reference agrees on the winning class
    logits = X @ clf.coefs_[0].astype(np.float64) + clf.intercepts_[0]
    logits = logits @ clf.coefs_[1].astype(np.float64) + clf.intercepts_[1]
    if n_classes == 2:
        logits = np.hstack([np.zeros_like(logits), logits])
    np.testing.assert_array_equal(clf.predict(X), clf.classes_[log_softmax(logits, 1).argmax(1)])


# ---------------------------------------------------------------------------
# Memory layouts: the same numbers give the same model
# ---------------------------------------------------------------------------


def _layouts(X, tmp_path):
    """The values of ``X`` (float64, C order) held in every supported way."""
    n, d = X.shape
    rows = np.zeros((2 * n, d))
    rows[::2] = X
    cols = np.zeros((n, 2 * d))
    cols[:, ::2] = X
    both = np.zeros((2 * n, 3 * d))
    both[::2, ::3] = X
    read_only = X.copy()
    read_only.flags.writeable = False
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "X32.npy", X.astype(np.float32))
    raw = np.memmap(tmp_path / "X.raw", dtype=np.float64, mode="w+", shape=X.shape)
    raw[:] = X
    raw.flush()
    return {
        "fortran": np.asfortranarray(X),
        "row-strided": rows[::2],
        "column-strided": cols[:, ::2],
        "both-strided": both[::2, ::3],
        "negative-strides": X[::-1].copy()[::-1],
        "read-only": read_only,
        "npy-memmap": np.load(tmp_path / "X.npy", mmap_mode="r"),
        "float32-npy-memmap": np.load(tmp_path / "X32.npy", mmap_mode="r"),
        "np.memmap": np.memmap(tmp_path / "X.raw", dtype=np.float64, mode="r", shape=X.shape),
        "float32": X.astype(np.float32),
        "float32-fortran": np.asfortranarray(X.astype(np.float32)),
        "list": X.tolist(),
        "dataframe": pd.DataFrame(X),
        "float32-dataframe": pd.DataFrame(X.astype(np.float32)),
    }


@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs"])
def test_every_memory_layout_gives_the_same_model(Estimator, solver, tmp_path, make_data):
    X, y = make_data(Estimator, n_samples=150)
    # values exactly representable in float32, so every float32 copy is exact
    X = X.astype(np.float32).astype(np.float64)
    params = {"hidden_layer_sizes": (7,), "solver": solver, "max_iter": 8, "random_state": 0}
    reference = Estimator(**params).fit(X, y)
    expected = _outputs(reference, X)
    for name, X_other in _layouts(X, tmp_path).items():
        snapshot = np.array(X_other, dtype=np.float64, copy=True)
        est = Estimator(**params).fit(X_other, y)
        np.testing.assert_array_equal(_weights(est), _weights(reference), err_msg=name)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # feature-name warnings
            np.testing.assert_array_equal(_outputs(est, X_other), expected, err_msg=name)
        # the input is never written to
        np.testing.assert_array_equal(np.asarray(X_other, dtype=np.float64), snapshot)


def test_float64_input_gives_the_model_of_its_float32_cast(Estimator, data):
    X, y = data  # full float64 values: rounded when cast
    params = {"hidden_layer_sizes": (7,), "max_iter": 8, "random_state": 0}
    from64 = Estimator(**params).fit(X, y)
    from32 = Estimator(**params).fit(X.astype(np.float32), y)
    np.testing.assert_array_equal(_weights(from64), _weights(from32))
    np.testing.assert_array_equal(_outputs(from64, X), _outputs(from32, X.astype(np.float32)))
    # and a float64 model of float32 values equals one of their float64 copy
    X32 = X.astype(np.float32)
    params["dtype"] = "float64"
    np.testing.assert_array_equal(_weights(Estimator(**params).fit(X32, y)),
                                  _weights(Estimator(**params).fit(X32.astype(np.float64), y)))


# dense input against CSR: in float32 the models differ by rounding, which
# grows over the epochs; in float64 by far less
DENSE_VS_SPARSE = {
    "float32": {"weights": {"rtol": 1e-4, "atol": 1e-4}, "outputs": {"rtol": 1e-3, "atol": 1e-4},
                "one model": {"rtol": 1e-5, "atol": 1e-6}},
    "float64": {"weights": {"rtol": 1e-8, "atol": 1e-10}, "outputs": {"rtol": 1e-8, "atol": 1e-10},
                "one model": {"rtol": 1e-12, "atol": 1e-12}},
}


@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_sparse_input(Estimator, solver, dtype, make_data, assert_same_model):
    """CSR, CSC, COO, sparse arrays, float32 values and 64-bit indices give
    the same model bit for bit (all are trained as CSR); dense input gives a
    model equal up to rounding (the sums over a row run in a different
    order), and a model predicts sparse input as its dense copy."""
    X, y = make_data(Estimator, n_samples=150, n_features=10)
    X[np.abs(X) < 0.8] = 0.0  # about half the entries are zero
    X = X.astype(np.float32).astype(np.float64)  # exact in float32
    params = {"hidden_layer_sizes": (9,), "solver": solver, "max_iter": 20, "random_state": 0,
              "dtype": dtype}
    X_csr = sp.csr_matrix(X)
    csr = Estimator(**params).fit(X_csr, y)
    X64 = sp.csr_matrix(X)
    X64.indices = X64.indices.astype(np.int64)
    X64.indptr = X64.indptr.astype(np.int64)
    formats = {"csc": sp.csc_matrix(X), "coo": sp.coo_matrix(X), "csr_array": sp.csr_array(X),
               "csc_array": sp.csc_array(X), "float32-csr": sp.csr_matrix(X, dtype=np.float32),
               "int64-indices": X64}
    for name, X_sparse in formats.items():
        other = Estimator(**params).fit(X_sparse, y)
        assert_same_model(other, csr, err_msg=name)
        np.testing.assert_array_equal(_outputs(other, X_sparse), _outputs(csr, X_csr),
                                      err_msg=name)
    tol = DENSE_VS_SPARSE[dtype]
    dense = Estimator(**params).fit(X, y)
    assert_same_model(dense, csr, **tol["weights"])
    np.testing.assert_allclose(_outputs(dense, X), _outputs(csr, X_csr), **tol["outputs"])
    if dtype == "float64":
        np.testing.assert_allclose(dense.predict(X), csr.predict(X_csr), **tol["outputs"])
    for model in (dense, csr):
        np.testing.assert_allclose(_outputs(model, X_csr), _outputs(model, X), **tol["one model"])
        np.testing.assert_allclose(model.predict(X_csr), model.predict(X), **tol["one model"])


def _feature_name_behaviour(est, X_fit, X_pred, y):
    """What predicting ``X_pred`` after fitting ``X_fit`` does: warnings or error."""
    est.fit(X_fit, y)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            est.predict(X_pred)
        except ValueError as exc:
            return "ValueError", str(exc).splitlines()[0]
    return "ok", sorted({str(w.message).split(",")[0] for w in caught
                         if issubclass(w.category, UserWarning)})


@pytest.mark.parametrize("n_rows", [5, 100])  # the few-rows path and the general one
def test_dataframes_and_feature_names(n_rows, make_data):
    X, y = make_data(MLPClassifier, n_samples=100, n_features=4)
    columns = ["a", "b", "c", "d"]
    df = pd.DataFrame(X, columns=columns)
    params = {"hidden_layer_sizes": (5,), "max_iter": 10, "random_state": 0}
    clf = MLPClassifier(**params).fit(df, y)
    np.testing.assert_array_equal(clf.feature_names_in_, columns)
    assert clf.feature_names_in_.dtype == object
    # predicting a DataFrame with the same columns: no warning, same result
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        from_df = clf.predict_proba(df.iloc[:n_rows])
    plain = MLPClassifier(**params).fit(X, y)
    assert not hasattr(plain, "feature_names_in_")
    np.testing.assert_array_equal(from_df, plain.predict_proba(X[:n_rows]))

    cases = {
        "array after DataFrame": (df, X[:n_rows]),
        "DataFrame after array": (X, df.iloc[:n_rows]),
        "renamed columns": (df, df.iloc[:n_rows].set_axis(["a", "b", "c", "e"], axis=1)),
        "reordered columns": (df, df.iloc[:n_rows][["b", "a", "c", "d"]]),
    }
    for name, (X_fit, X_pred) in cases.items():
        ours = _feature_name_behaviour(MLPClassifier(**params), X_fit, X_pred, y)
        theirs = _feature_name_behaviour(SkMLPClassifier(**params), X_fit, X_pred, y)
        assert ours == theirs, name
        assert ours != ("ok", []), name  # each case is flagged


# ---------------------------------------------------------------------------
# Class labels
# ---------------------------------------------------------------------------


def _labels(kind, codes):
    values = {
        "str": np.array(["apple", "banana", "cherry", "date"]),
        "negative-int": np.array([-7, -1, 0, 3]),
        "uint8": np.array([0, 7, 200, 255], dtype=np.uint8),
        "object-str": np.array(["x", "y", "z", "w"], dtype=object),
        "bool": np.array([False, True]),
        "categorical-str": pd.Categorical(["lo", "mid", "hi", "top"]),
        "categorical-int": pd.Categorical([30, 10, 20, 40]),
        "pandas-string": pd.array(["p", "q", "r", "s"], dtype="string"),
    }[kind]
    y = values[codes % len(values)]
    return pd.Series(y) if kind.startswith(("categorical", "pandas")) else y


LABEL_KINDS = ["str", "negative-int", "uint8", "object-str", "categorical-str",
               "categorical-int", "pandas-string"]


@pytest.mark.parametrize("kind, n_classes",
                         [(kind, n) for kind in LABEL_KINDS for n in (2, 4)] + [("bool", 2)])
def test_labels_come_back_as_they_went_in(kind, n_classes):
    rng = np.random.RandomState(0)
    X = rng.normal(size=(120, 4))
    codes = np.argmax(X[:, :n_classes] + 0.3 * rng.normal(size=(120, n_classes)), axis=1)
    y = _labels(kind, codes)
    params = {"hidden_layer_sizes": (8,), "learning_rate_init": 0.02, "max_iter": 40,
              "random_state": 0}
    clf = MLPClassifier(**params).fit(X, y)
    ref = SkMLPClassifier(**params).fit(X, y)
    np.testing.assert_array_equal(clf.classes_, ref.classes_)
    assert clf.classes_.dtype == ref.classes_.dtype
    assert len(clf.classes_) == n_classes
    pred = clf.predict(X)
    assert pred.dtype == clf.classes_.dtype == ref.predict(X).dtype
    assert set(pred.tolist()) <= set(np.asarray(y).tolist())
    assert clf.score(X, y) > 0.6
    # the labels are only names: the model is the one of the class indices
    index = np.searchsorted(clf.classes_, np.asarray(y, dtype=clf.classes_.dtype))
    np.testing.assert_array_equal(clf.classes_[index], np.asarray(y, dtype=clf.classes_.dtype))
    by_index = MLPClassifier(**params).fit(X, index)
    np.testing.assert_array_equal(_weights(clf), _weights(by_index))
    np.testing.assert_array_equal(pred, clf.classes_[by_index.predict(X)])
    np.testing.assert_array_equal(clf.predict(X[:3]), pred[:3])  # few-rows path
    # partial_fit with the labels as classes
    inc = MLPClassifier(**params).partial_fit(X, y, classes=np.unique(np.asarray(y)))
    np.testing.assert_array_equal(inc.classes_, clf.classes_)
    assert inc.predict(X).dtype == clf.classes_.dtype


def test_mixed_label_types_are_rejected_like_scikit_learn():
    X = np.random.RandomState(0).normal(size=(30, 3))
    y = np.array([1, "a", 2.5] * 10, dtype=object)
    with pytest.raises((TypeError, ValueError)):
        SkMLPClassifier(max_iter=2).fit(X, y)
    with pytest.raises((TypeError, ValueError)) as info:
        MLPClassifier(max_iter=2).fit(X, y)
    assert "numba" not in type(info.value).__module__
