"""Safe persistence: skops files, model cards and MLflow.

skops (``skops.io``) stores a model's state as JSON and NumPy arrays and
loads only the types it trusts (NumPy's, scikit-learn's) and those the
caller names.  A fitted fastnn model's state holds nothing else, so a file
loads trusting the estimator's class alone; the loaded model predicts
exactly like the original, from a weight vector of its own, and trains on
exactly like a pickled copy.  The optional packages are skipped when absent.
"""

import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
from subproc import last_json, run_script, write_script

from fastnn import MLPClassifier, MLPRegressor, TabularMLPClassifier, TabularMLPRegressor

skops_io = pytest.importorskip("skops.io")

# name -> (estimator, problem, parameters)
CASES = {
    "binary-adam": (MLPClassifier, {"n_classes": 2}, {}),
    "multiclass-sgd": (MLPClassifier, {}, {"solver": "sgd"}),
    "multiclass-adamw-dropout": (MLPClassifier, {}, {"solver": "adamw", "dropout": 0.1}),
    "multiclass-early-stopping": (MLPClassifier, {}, {"early_stopping": True}),
    "regressor-adam": (MLPRegressor, {}, {}),
    "regressor-nadam-cosine-float64": (
        MLPRegressor, {"n_targets": 2},
        {"solver": "nadam", "learning_rate": "cosine", "dtype": "float64"}),
    "regressor-lbfgs": (MLPRegressor, {}, {"solver": "lbfgs"}),
}


def _class_path(model):
    """The name skops gives the model's class."""
    return f"{type(model).__module__}.{type(model).__qualname__}"


def _fitted(name, make_data):
    Estimator, problem, params = CASES[name]
    X, y = make_data(Estimator, **problem)
    model = Estimator(hidden_layer_sizes=(8, 4), max_iter=5, random_state=0, **params)
    return model.fit(X, y), X, y


def _outputs(model, X):
    out = {"predict": model.predict(X), "predict (2 rows)": model.predict(X[:2])}
    if hasattr(model, "predict_proba"):
        out["predict_proba"] = model.predict_proba(X)
    return out


def _assert_same_outputs(got, expected, X):
    for key, value in _outputs(expected, X).items():
        result = _outputs(got, X)[key]
        assert result.dtype == value.dtype, key
        np.testing.assert_array_equal(result, value, err_msg=key)


@pytest.mark.parametrize("name", CASES)
def test_a_model_loads_trusting_its_class_alone(name, make_data, tmp_path):
    model, X, _ = _fitted(name, make_data)
    path = tmp_path / "model.skops"
    skops_io.dump(model, path)
    assert skops_io.get_untrusted_types(file=path) == [_class_path(model)]
    with pytest.raises(Exception, match="Untrusted types"):
        skops_io.load(path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # same versions: no warning
        loaded = skops_io.load(path, trusted=[_class_path(model)])
    assert type(loaded) is type(model)
    assert loaded.get_params() == model.get_params()
    _assert_same_outputs(loaded, model, X)


@pytest.mark.parametrize("name", CASES)
def test_a_loaded_model_trains_on_like_a_pickled_one(name, make_data, assert_same_model):
    """partial_fit (or, where there is none, a warm-started fit) continues
    from the optimizer's state, the training log and the random state."""
    model, X, y = _fitted(name, make_data)
    loaded = skops_io.loads(skops_io.dumps(model), trusted=[type(model)])
    pickled = pickle.loads(pickle.dumps(model))
    if model.solver == "lbfgs" or model.early_stopping:
        for m in (loaded, pickled):
            m.set_params(warm_start=True, max_iter=3).fit(X, y)
    else:
        kw = {"classes": model.classes_} if isinstance(model, MLPClassifier) else {}
        for m in (loaded, pickled):
            m.partial_fit(X, y, **kw)
            m.partial_fit(X, y)
    assert_same_model(loaded, pickled, X)
    assert (loaded.n_iter_, loaded.t_) == (pickled.n_iter_, pickled.t_)
    if model.solver != "lbfgs":
        assert loaded.loss_curve_ == pickled.loss_curve_
        for key in ("loss", "val_loss", "val_score", "learning_rate"):  # (not "time")
            np.testing.assert_array_equal(loaded.history_[key], pickled.history_[key])


_LOAD_CHILD = """
import json
import sys

import numpy as np
import skops.io

loaded_before = "fastnn" in sys.modules
model = skops.io.load(sys.argv[1], trusted=[sys.argv[2]])
X = np.load(sys.argv[3])
np.save(sys.argv[4], model.predict_proba(X))
print(json.dumps({"fastnn_imported_before_loading": loaded_before,
                  "class": type(model).__name__}))
"""


@pytest.mark.slow
def test_a_model_loads_in_a_fresh_process(make_data, tmp_path):
    """skops imports the trusted class's module itself."""
    model, X, _ = _fitted("multiclass-adamw-dropout", make_data)
    skops_io.dump(model, tmp_path / "model.skops")
    np.save(tmp_path / "X.npy", X)
    script = write_script(tmp_path, _LOAD_CHILD)
    result = last_json(run_script(script, tmp_path / "model.skops", _class_path(model),
                                  tmp_path / "X.npy", tmp_path / "proba.npy").stdout)
    assert result == {"fastnn_imported_before_loading": False, "class": "MLPClassifier"}
    np.testing.assert_array_equal(np.load(tmp_path / "proba.npy"), model.predict_proba(X))


def test_a_loaded_model_predicts_from_a_weight_vector_of_its_own(Estimator, data):
    """skops reads an array as a view of another; the network copies it
    once on load, so that ``coefs_`` and ``intercepts_`` are views of the
    vector and every prediction uses the loaded network as it is (instead
    of packing the weights into a new one)."""
    X, y = data
    model = Estimator(hidden_layer_sizes=(8,), max_iter=5, random_state=0).fit(X, y)
    loaded = skops_io.loads(skops_io.dumps(model), trusted=[Estimator])
    net = loaded._net
    assert net.theta.flags.owndata and net.theta.flags.writeable
    assert all(a.base is net.theta for a in (*loaded.coefs_, *loaded.intercepts_))
    for rows in (X, X[:1]):
        loaded.predict(rows)
        assert loaded._network() is net


def _table(n=300, random_state=0):
    """A table of numeric columns (one with missing values), a categorical
    column of few values, one of many (embedded), a boolean one, and a
    score behind its target."""
    rng = np.random.RandomState(random_state)
    X = pd.DataFrame({
        "age": rng.normal(40, 10, n),
        "income": np.where(rng.rand(n) < 0.1, np.nan, rng.lognormal(10, 1, n)),
        "plan": pd.Categorical(rng.choice(["basic", "plus", "pro"], n)),
        "shop": [f"s{i}" for i in rng.randint(0, 60, n)],
        "member": rng.rand(n) < 0.5,
    })
    score = (X["age"] - 40) / 10 + (X["plan"] == "pro") - X["member"]
    return X, score.to_numpy()


@pytest.mark.parametrize("Estimator", [TabularMLPClassifier, TabularMLPRegressor])
@pytest.mark.parametrize("n_heads", [1, 2])
def test_a_tabular_model_loads_trusting_its_class_alone(Estimator, n_heads, tmp_path):
    X, score = _table()
    y = np.where(score > 0, "yes", "no") if Estimator is TabularMLPClassifier else score
    model = Estimator(hidden_layer_sizes=(16, 16), max_iter=3, early_stopping=False,
                      n_heads=n_heads, random_state=0).fit(X, y)
    assert model.networks_[0].front.codes  # the column of many values is embedded
    path = tmp_path / "model.skops"
    skops_io.dump(model, path)
    assert skops_io.get_untrusted_types(file=path) == [_class_path(model)]
    loaded = skops_io.load(path, trusted=[_class_path(model)])
    _assert_same_outputs(loaded, model, X)
    assert loaded.networks_[0]._network() is loaded.networks_[0]._net
    # the network trains on like a pickled copy's
    pickled = pickle.loads(pickle.dumps(model))
    Z = model.encoder_.transform(X)
    target = y if Estimator is TabularMLPClassifier else (y - y.mean()) / y.std()
    for m in (loaded, pickled):
        m.networks_[0].partial_fit(Z, target)
    np.testing.assert_array_equal(loaded.networks_[0]._net.theta, pickled.networks_[0]._net.theta)


@pytest.mark.parametrize("Estimator", [MLPClassifier, TabularMLPClassifier])
def test_a_model_card_renders(Estimator, tmp_path):
    card_module = pytest.importorskip("skops.card")
    X, score = _table(100)
    if Estimator is MLPClassifier:
        X = X[["age"]].to_numpy()
    model = Estimator(hidden_layer_sizes=(8,), max_iter=2, random_state=0).fit(X, score > 0)
    path = tmp_path / "README.md"
    card_module.Card(model).save(path)
    text = path.read_text()
    assert Estimator.__name__ in text
    assert "hidden_layer_sizes" in text


def test_mlflow_round_trip(make_data, tmp_path, monkeypatch):
    """``mlflow.sklearn`` saves in the skops format: the model is logged and
    loaded trusting its class alone.  The tracking store and every file
    MLflow writes stay in ``tmp_path``."""
    mlflow = pytest.importorskip("mlflow")
    mlflow_sklearn = pytest.importorskip("mlflow.sklearn")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", (tmp_path / "mlruns").as_uri())
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    model, X, _ = _fitted("multiclass-sgd", make_data)
    options = {"name": "model", "serialization_format": "skops",
               "pip_requirements": ["fastnn"]}  # (not inferred: a child process)
    with mlflow.start_run():
        # only the class is to be trusted, and it must be
        with pytest.raises(mlflow.exceptions.MlflowException,
                           match=r"Untrusted types found in the file: \['fastnn\._mlp\."
                                 r"MLPClassifier'\]"):
            mlflow_sklearn.log_model(model, **options)
        info = mlflow_sklearn.log_model(model, skops_trusted_types=[_class_path(model)],
                                        **options)
    loaded = mlflow_sklearn.load_model(info.model_uri)
    assert type(loaded) is MLPClassifier
    _assert_same_outputs(loaded, model, X)
    served = mlflow.pyfunc.load_model(info.model_uri)
    np.testing.assert_array_equal(served.predict(X), model.predict(X))
