"""Saving and loading fitted models: pickle and joblib, across processes and versions.

A saved model is self-contained (no training data), predicts bit for bit
like the original in a fresh interpreter, keeps training like the original,
states the fastnn version that wrote it, and warns when loaded by another
version.
"""

import copy
import pickle
import warnings

import joblib
import numpy as np
import pytest
from sklearn.base import clone
from subproc import last_json, run_script, write_script

import fastnn
from fastnn import MLPClassifier, MLPRegressor, _base
from fastnn._base import InconsistentVersionWarning


def _models():
    """Fitted models of every kind, the data they were trained on, and test input."""
    rng = np.random.RandomState(0)
    X = rng.normal(size=(20000, 20)).astype(np.float32)
    X_test = rng.normal(size=(500, 20)).astype(np.float32)
    binary = np.array(["no", "yes"])[(X[:, 0] > 0).astype(int)]
    multiclass = np.array([-3, 5, 11])[(X[:, 0] > 0).astype(int) + (X[:, 1] > 0.5)]
    multilabel = (X[:, :3] > 0).astype(int)
    target = X[:, 0] - X[:, 1] * X[:, 2]
    small = {"hidden_layer_sizes": (16, 8), "max_iter": 3, "random_state": 0}
    models = {
        "binary-adam": MLPClassifier(**small).fit(X, binary),
        "multiclass-sgd": MLPClassifier(solver="sgd", **small).fit(X, multiclass),
        "multilabel-lbfgs": MLPClassifier(solver="lbfgs", **small).fit(X, multilabel),
        "regressor-float64": MLPRegressor(dtype="float64", **small).fit(X, target),
        "multioutput-lbfgs": MLPRegressor(solver="lbfgs", **small).fit(
            X, np.column_stack([target, X[:, 3]])),
        "poisson": MLPRegressor(loss="poisson", **small).fit(X, np.exp(X[:, 0]).round()),
        "early-stopping": MLPClassifier(early_stopping=True, **small).fit(X, multiclass),
    }
    return models, X, X_test


def _predictions(model, X):
    out = {"predict": model.predict(X)}
    if isinstance(model, MLPClassifier):
        out["predict_proba"] = model.predict_proba(X)
        out["predict_log_proba"] = model.predict_log_proba(X)
    return out


LOAD_SCRIPT = """
import json
import pickle
import sys
import warnings

import joblib
import numpy as np

warnings.simplefilter("error")  # same version: loading must not warn
names = sys.argv[3].split(",")
X_test = np.load(sys.argv[2])
loaded_before = "fastnn" in sys.modules
results = {}
for name in names:
    for fmt in ("pickle", "joblib"):
        path = f"{sys.argv[1]}/{name}.{fmt}"
        if fmt == "pickle":
            with open(path, "rb") as f:
                model = pickle.load(f)
        else:
            model = joblib.load(path)
        out = {"predict": model.predict(X_test), "few": model.predict(X_test[:3])}
        if hasattr(model, "predict_proba"):
            out["predict_proba"] = model.predict_proba(X_test)
            out["predict_log_proba"] = model.predict_log_proba(X_test)
        for key, value in out.items():
            np.save(f"{sys.argv[1]}/{name}.{fmt}.{key}.npy", value, allow_pickle=True)
        results[f"{name}.{fmt}"] = type(model).__module__
print(json.dumps({"fastnn_imported_before_loading": loaded_before, "models": results}))
"""


@pytest.mark.slow
def test_round_trip_in_a_fresh_process(tmp_path):
    models, X, X_test = _models()
    for name, model in models.items():
        with open(tmp_path / f"{name}.pickle", "wb") as f:
            pickle.dump(model, f)
        joblib.dump(model, tmp_path / f"{name}.joblib")
        # self-contained: far smaller than the 1.6 MB of training data
        assert (tmp_path / f"{name}.pickle").stat().st_size < X.nbytes / 20, name
    np.save(tmp_path / "X_test.npy", X_test)
    script = write_script(tmp_path, LOAD_SCRIPT)
    result = last_json(run_script(script, tmp_path, tmp_path / "X_test.npy",
                                  ",".join(models)).stdout)
    assert result["fastnn_imported_before_loading"] is False
    assert len(result["models"]) == 2 * len(models)
    for name, model in models.items():
        expected = _predictions(model, X_test)
        expected["few"] = model.predict(X_test[:3])
        for fmt in ("pickle", "joblib"):
            assert result["models"][f"{name}.{fmt}"] == "fastnn._mlp"
            for key, value in expected.items():
                got = np.load(tmp_path / f"{name}.{fmt}.{key}.npy", allow_pickle=True)
                assert got.dtype == value.dtype, (name, fmt, key)
                np.testing.assert_array_equal(got, value, err_msg=f"{name} {fmt} {key}")


def test_joblib_memory_mapped_model_predicts_and_keeps_training(tmp_path):
    """``joblib.load(..., mmap_mode="r")`` gives read-only weight arrays:
    predicting reads them in place; further training works on a copy and
    leaves the file as it was."""
    rng = np.random.RandomState(0)
    X = rng.normal(size=(400, 6)).astype(np.float32)
    y = rng.randint(0, 3, 400)
    path = tmp_path / "model.joblib"
    for solver in ["adam", "sgd", "lbfgs"]:
        model = MLPClassifier(hidden_layer_sizes=(32,), solver=solver, max_iter=3,
                              random_state=0).fit(X, y)
        joblib.dump(model, path)
        loaded = joblib.load(path, mmap_mode="r")
        assert isinstance(loaded.coefs_[0], np.memmap)
        assert not loaded.coefs_[0].flags.writeable
        np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
        assert loaded._network() is loaded._net  # predicts from the map, no copy
        updates = [("warm_start", lambda m: m.set_params(warm_start=True).fit(X, y))]
        if solver != "lbfgs":
            updates.append(("partial_fit", lambda m: m.partial_fit(X, y)))
        for what, update in updates:
            loaded = joblib.load(path, mmap_mode="r")
            reference = copy.deepcopy(model)
            update(loaded)
            update(reference)
            np.testing.assert_array_equal(np.concatenate([c.ravel() for c in loaded.coefs_]),
                                          np.concatenate([c.ravel() for c in reference.coefs_]),
                                          err_msg=f"{solver} {what}")
            assert loaded.coefs_[0].flags.writeable
        np.testing.assert_array_equal(joblib.load(path).coefs_[0], model.coefs_[0])


def _fitted(Estimator, make_data):
    X, y = make_data(Estimator, n_samples=60, n_features=4)
    return Estimator(hidden_layer_sizes=(5,), max_iter=5, random_state=0).fit(X, y), X


def test_pickle_round_trip(Estimator, data, assert_same_model):
    """A pickled model states the fastnn version that wrote it, loads in that
    version without a warning, predicts like the original and keeps training
    exactly like it."""
    X, y = data
    model = Estimator(hidden_layer_sizes=(8, 4), max_iter=10, random_state=0).fit(X, y)
    assert model.__getstate__()["_fastnn_version"] == fastnn.__version__
    saved = pickle.dumps(model)
    assert b"_fastnn_version" in saved and fastnn.__version__.encode() in saved
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning for the same version
        restored = pickle.loads(saved)
    assert restored.get_params() == model.get_params()
    for key, value in _predictions(model, X).items():
        np.testing.assert_array_equal(_predictions(restored, X)[key], value, err_msg=key)
    # the stamp is metadata of the file, not a fitted attribute
    assert "_fastnn_version" not in vars(restored)
    assert pickle.loads(pickle.dumps(restored)).__getstate__()["_fastnn_version"] \
        == fastnn.__version__
    # the restored model keeps training exactly like the original
    kw = {"classes": np.unique(y)} if Estimator is MLPClassifier else {}
    model.partial_fit(X, y, **kw)
    restored.partial_fit(X, y, **kw)
    assert_same_model(restored, model, X)


def test_loading_another_version_warns(Estimator, make_data, monkeypatch):
    model, X = _fitted(Estimator, make_data)
    with monkeypatch.context() as m:
        m.setattr(_base, "__version__", "0.0.1.dev0")
        data = pickle.dumps(model)
    with pytest.warns(InconsistentVersionWarning) as record:
        restored = pickle.loads(data)
    assert len(record) == 1
    warning = record[0].message
    assert isinstance(warning, UserWarning)
    assert warning.estimator_name == Estimator.__name__
    assert warning.original_version == "0.0.1.dev0"
    assert warning.current_version == fastnn.__version__
    assert "0.0.1.dev0" in str(warning) and fastnn.__version__ in str(warning)
    np.testing.assert_array_equal(restored.predict(X), model.predict(X))
    # a state without any stamp is from an unknown version
    state = model.__getstate__()
    del state["_fastnn_version"]
    blank = Estimator.__new__(Estimator)
    with pytest.warns(InconsistentVersionWarning, match="unknown version"):
        blank.__setstate__(state)
    np.testing.assert_array_equal(blank.predict(X), model.predict(X))


def test_unfitted_and_modified_models_round_trip(tmp_path, make_data):
    unfitted = MLPRegressor(hidden_layer_sizes=(3, 2), alpha=0.5)
    restored = pickle.loads(pickle.dumps(unfitted))
    assert restored.get_params() == unfitted.get_params()
    assert not hasattr(restored, "coefs_")
    # weights replaced by the user (no longer views of the packed vector)
    model, X = _fitted(MLPRegressor, make_data)
    model.coefs_ = [c * 2 for c in model.coefs_]
    expected = model.predict(X)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(model)).predict(X), expected)
    joblib.dump(model, tmp_path / "model.joblib")
    np.testing.assert_array_equal(joblib.load(tmp_path / "model.joblib").predict(X), expected)


def test_copies_are_independent(make_data):
    model, X = _fitted(MLPClassifier, make_data)
    expected = model.predict_proba(X)
    twin = copy.deepcopy(model)
    np.testing.assert_array_equal(twin.predict_proba(X), expected)
    twin.coefs_[0][...] = 0  # in place: must not reach the original
    twin.partial_fit(X, model.predict(X))
    np.testing.assert_array_equal(model.predict_proba(X), expected)
    fresh = clone(model)
    assert not hasattr(fresh, "coefs_")
    assert fresh.get_params() == model.get_params()


def _leaves(value, path="state"):
    """``(path, object)`` of every value in ``value`` that is not a builtin
    container, descending into lists, tuples and dicts."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _leaves(v, f"{path}[{k!r}]")
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            yield from _leaves(v, f"{path}[{i}]")
    else:
        yield path, value


def _assert_plain(state):
    """Every value in ``state`` is a builtin, a NumPy array, scalar or random
    state, or a scikit-learn object: what skops loads trusting no fastnn type."""
    plain = (type(None), bool, int, float, str, np.ndarray, np.generic, np.random.RandomState)
    for path, value in _leaves(state):
        assert isinstance(value, plain) or type(value).__module__.startswith("sklearn."), \
            (path, type(value))


@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs"])
def test_the_state_is_plain_values_arrays_and_scikit_learn_objects(Estimator, data, solver):
    X, y = data
    model = Estimator(hidden_layer_sizes=(5,), max_iter=3, solver=solver, random_state=0,
                      early_stopping=solver == "adam").fit(X, y)
    _assert_plain(model.__getstate__())


# what a state's (or a file's) values may not be: name -> (change of the state, error)
_TAMPERED = {
    "short-weights": (lambda s: s["_net"].update(theta=s["_net"]["theta"][:-1]),
                      "53 parameters; the vector given has 52"),
    "integer-weights": (lambda s: s["_net"].update(theta=s["_net"]["theta"].astype(int)),
                        "float32 or float64"),
    "empty-layer": (lambda s: s["_net"].update(sizes=[6, 0, 3]), "Not a network"),
    "unknown-activation": (lambda s: s["_net"].update(activations=["relu", "nonsense"]),
                           "Unknown activation 'nonsense'"),
    "one-row-adam-state": (lambda s: s["_optimizer"].update(state=s["_optimizer"]["state"][:1]),
                           "adam is 2 float vectors"),
    "unknown-solver": (lambda s: s["_optimizer"].update(solver="nonsense"),
                       "Unknown solver 'nonsense'"),
    "other-columns": (lambda s: s.update(n_features_in_=7), "takes 6 columns"),
    "log-lacks-an-attribute": (lambda s: s["_log"].pop("best_theta"), "A training log has"),
}


@pytest.mark.parametrize("what", _TAMPERED)
def test_a_state_that_does_not_describe_a_model_is_rejected(make_data, what):
    """The kernels index the weights and the optimizer's state by the
    network's layout without bounds checks: a state whose arrays do not fit
    that layout (or whose network does not take the input's columns) is
    refused on load."""
    X, y = make_data(MLPClassifier)
    model = MLPClassifier(hidden_layer_sizes=(5,), max_iter=3, random_state=0).fit(X, y)

    def load(change):
        state = copy.deepcopy(model.__getstate__())
        change(state)
        blank = MLPClassifier.__new__(MLPClassifier)
        blank.__setstate__(state)
        return blank

    np.testing.assert_array_equal(load(lambda s: None).predict_proba(X), model.predict_proba(X))
    change, error = _TAMPERED[what]
    with pytest.raises(ValueError, match=error):
        load(change)


def test_a_tabular_state_is_plain_values_arrays_and_scikit_learn_objects():
    pd = pytest.importorskip("pandas")
    rng = np.random.RandomState(0)
    X = pd.DataFrame({"x": rng.normal(size=200), "plan": rng.choice(["a", "b"], 200),
                      "shop": [f"s{i}" for i in rng.randint(0, 50, 200)]})
    y = rng.randint(0, 2, 200)
    for model in (fastnn.TabularMLPClassifier(hidden_layer_sizes=(8,), max_iter=2,
                                              random_state=0, n_heads=2).fit(X, y),
                  fastnn.TabularMLPRegressor(hidden_layer_sizes=(8,), max_iter=2,
                                             random_state=0).fit(X, X["x"])):
        _assert_plain(model.__getstate__())
