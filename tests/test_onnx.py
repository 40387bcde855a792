"""ONNX export (``fastnn.onnx``): onnxruntime's outputs against fastnn's.

Every model kind (binary, multiclass and multilabel classifiers; one and
several regression outputs under every loss; every activation; float32 and
float64 models, float and double input) is converted with
``skl2onnx.to_onnx`` and run by onnxruntime; its outputs must equal
``predict`` and ``predict_proba``: the labels exactly, the numbers within
1e-5 (float32 anywhere, or gelu) or 1e-12 (float64 model and input).
"""

import numpy as np
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

pytest.importorskip("skl2onnx")
ort = pytest.importorskip("onnxruntime")

from skl2onnx import to_onnx  # noqa: E402

from fastnn import MLPClassifier, MLPRegressor, TabularMLPRegressor  # noqa: E402
from fastnn._activations import HIDDEN_ACTIVATIONS, REGISTRY  # noqa: E402
from fastnn.onnx import ACTIVATIONS  # noqa: E402

DTYPES = ["float32", "float64"]
REGRESSION_LOSSES = MLPRegressor._parameter_constraints["loss"][0].values

_rng = np.random.RandomState(0)
X = _rng.normal(size=(40, 4))
TARGETS = {
    "binary": (X[:, 0] + X[:, 1] > 0).astype(int),
    "multiclass": np.digitize(X[:, 0] - X[:, 2], [-0.5, 0.5]),
    "multilabel": (X[:, :3] > 0).astype(int),
    "strings": np.array(["cat", "dog", "emu"])[np.digitize(X[:, 1], [-0.5, 0.5])],
    "booleans": X[:, 3] > 0,
    "floats": np.digitize(X[:, 0], [0.0]) * 2.0 - 1.0,
}


def _onnx_outputs(model, X, **kwargs):
    """onnxruntime's outputs for ``X`` (one input) of ``model`` converted by
    ``to_onnx(model, X[:1], **kwargs)``."""
    onx = to_onnx(model, X[:1], **kwargs)
    session = ort.InferenceSession(onx.SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: X})


def _tolerance(model, X):
    """Within 1e-12 for float64 throughout, else 1e-5 (relative too, for the
    regressors' larger outputs).  gelu's erf is float in onnxruntime: 1e-5."""
    gelu = "gelu" in model._hidden_activations(len(model.coefs_) - 1)
    if model.coefs_[0].dtype == np.float64 and X.dtype == np.float64 and not gelu:
        return {"rtol": 1e-12, "atol": 1e-12}
    return {"rtol": 1e-5, "atol": 1e-5}


def test_every_activation_has_an_onnx_form():
    assert set(ACTIVATIONS) == set(REGISTRY)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", HIDDEN_ACTIVATIONS)
def test_activation_values(activation, dtype):
    """A one-unit network with unit weights computes ``f(z)``: onnxruntime's
    ``f`` equals fastnn's and the NumPy reference over [-40, 40] (past the
    thresholds and saturations)."""
    z = np.linspace(-40, 40, 801).reshape(-1, 1).astype(dtype)
    reg = MLPRegressor(hidden_layer_sizes=(1,), activation=activation, max_iter=1,
                       dtype=dtype, random_state=0).fit(z, z.ravel())
    for coef, intercept in zip(reg.coefs_, reg.intercepts_):
        coef[:] = 1
        intercept[:] = 0
    out = _onnx_outputs(reg, z)[0].ravel()
    tol = _tolerance(reg, z)
    np.testing.assert_allclose(out, reg.predict(z), **tol)
    np.testing.assert_allclose(out, REGISTRY[activation].function(z.ravel().astype(float)),
                               **tol)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", [*HIDDEN_ACTIVATIONS, ["gelu", "selu"]],
                         ids=str)
def test_activations_in_a_network(activation, dtype):
    """Two hidden layers of every activation (and one per layer), in
    onnxruntime as in fastnn."""
    reg = MLPRegressor(hidden_layer_sizes=(6, 5), activation=activation, max_iter=20,
                       dtype=dtype, random_state=0).fit(X, X @ [1.0, -2.0, 0.5, 0.0])
    Xd = X.astype(dtype)
    np.testing.assert_allclose(_onnx_outputs(reg, Xd)[0].ravel(), reg.predict(Xd),
                               **_tolerance(reg, Xd))


@pytest.fixture(scope="module", params=[(kind, dtype) for kind in TARGETS for dtype in DTYPES],
                ids="-".join)
def classifier(request):
    kind, dtype = request.param
    return MLPClassifier(hidden_layer_sizes=(5,), activation="tanh", max_iter=50,
                         dtype=dtype, random_state=0).fit(X, TARGETS[kind])


@pytest.mark.parametrize("input_dtype", [np.float32, np.float64])
def test_classifier(classifier, input_dtype):
    """Labels (indicator rows for multilabel targets) and probabilities."""
    Xi = X.astype(input_dtype)
    label, proba = _onnx_outputs(classifier, Xi, options={"zipmap": False})
    assert proba.dtype == input_dtype
    np.testing.assert_allclose(proba, classifier.predict_proba(Xi), rtol=0,
                               atol=_tolerance(classifier, Xi)["atol"])
    np.testing.assert_array_equal(label, classifier.predict(Xi))


def test_classifier_zipmap(classifier):
    """The default output: a dict of probabilities per row, keyed by class."""
    Xf = X.astype(np.float32)
    label, dicts = _onnx_outputs(classifier, Xf)
    # (keys: int64 for integer, boolean and float labels; dicts find 1 under True and 1.0)
    proba = np.array([[row[c] for c in classifier.classes_] for row in dicts])
    np.testing.assert_allclose(proba, classifier.predict_proba(Xf), rtol=0, atol=1e-5)
    np.testing.assert_array_equal(label, classifier.predict(Xf))


def test_classifier_options():
    """``zipmap='columns'``, ``nocl`` and ``output_class_labels`` as for
    scikit-learn's classifiers."""
    clf = MLPClassifier(hidden_layer_sizes=(5,), max_iter=50, random_state=0).fit(
        X, TARGETS["strings"])
    Xf = X.astype(np.float32)
    proba = clf.predict_proba(Xf)
    label, *columns = _onnx_outputs(clf, Xf, options={"zipmap": "columns"})
    np.testing.assert_array_equal(label, clf.predict(Xf))
    np.testing.assert_allclose(np.column_stack(columns), proba, rtol=0, atol=1e-5)
    index, _ = _onnx_outputs(clf, Xf, options={"zipmap": False, "nocl": True})
    np.testing.assert_array_equal(index, proba.argmax(axis=1))
    *_, classes = _onnx_outputs(clf, Xf, options={"zipmap": False,
                                                  "output_class_labels": True})
    np.testing.assert_array_equal(classes, clf.classes_)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n_outputs", [1, 3])
@pytest.mark.parametrize("loss", REGRESSION_LOSSES)
def test_regressor(loss, n_outputs, dtype):
    """Every loss's output (exp for Poisson), one or several outputs, shape (n, n_outputs)."""
    y = np.exp(0.5 * X[:, :n_outputs])
    reg = MLPRegressor(loss=loss, hidden_layer_sizes=(5,), max_iter=50, dtype=dtype,
                       random_state=0).fit(X, y.ravel() if n_outputs == 1 else y)
    for Xi in (X.astype(np.float32), X):
        out, = _onnx_outputs(reg, Xi)
        assert out.shape == (len(X), n_outputs) and out.dtype == Xi.dtype
        np.testing.assert_allclose(out, reg.predict(Xi).reshape(len(X), -1),
                                   **_tolerance(reg, Xi))


def test_pipeline():
    """A Pipeline with a scaler in front, from float input."""
    pipe = Pipeline([("scale", StandardScaler()),
                     ("mlp", MLPClassifier(hidden_layer_sizes=(5,), max_iter=50,
                                           random_state=0))])
    pipe.fit(3 * X + 1, TARGETS["multiclass"])
    Xf = (3 * X + 1).astype(np.float32)
    label, proba = _onnx_outputs(pipe, Xf, options={MLPClassifier: {"zipmap": False}})
    np.testing.assert_array_equal(label, pipe.predict(Xf))
    np.testing.assert_allclose(proba, pipe.predict_proba(Xf), rtol=0, atol=1e-5)


def test_column_transformer():
    """A ColumnTransformer of a scaler and a one-hot encoder of a string
    column, from a DataFrame: one ONNX input per column."""
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame({"a": X[:, 0], "b": 5 * X[:, 1] + 2,
                       "colour": np.array(["red", "green", "blue"])[TARGETS["multiclass"]]})
    pipe = Pipeline([
        ("columns", ColumnTransformer([("num", StandardScaler(), ["a", "b"]),
                                       ("cat", OneHotEncoder(), ["colour"])])),
        ("mlp", MLPRegressor(hidden_layer_sizes=(5,), max_iter=50, random_state=0)),
    ]).fit(df, X[:, 0] + X[:, 2])
    onx = to_onnx(pipe, df[:1])
    session = ort.InferenceSession(onx.SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    out, = session.run(None, {c: df[[c]].to_numpy() for c in df.columns})
    np.testing.assert_allclose(out.ravel(), pipe.predict(df), rtol=1e-5, atol=1e-5)


def test_unsupported():
    """Clear errors: one class, tabular estimators."""
    clf = MLPClassifier(hidden_layer_sizes=(3,), max_iter=5).fit(X, np.zeros(len(X)))
    with pytest.raises(ValueError, match="single class"):
        to_onnx(clf, X[:1], options={"zipmap": False})
    with pytest.raises(TypeError, match="TabularMLPRegressor cannot be exported"):
        to_onnx(TabularMLPRegressor(), X[:1])
