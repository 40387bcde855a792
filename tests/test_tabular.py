"""TabularMLPClassifier / TabularMLPRegressor and their table encoding.

* ``TableEncoder``: categorical columns found from the dtype, robust scaling
  with smooth clipping, the piecewise-linear encoding, one-hot blocks with
  an "other" and a "missing" column, values never seen, and the errors for
  a column without a finite value or whose kind changed since the fit;
* the estimators on DataFrames with missing values and new categories,
  their scikit-learn checks, pickling in a fresh process, bad tables.
"""

import math
import pickle

import numpy as np
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks
from subproc import child_env, last_json, run_script, write_script

from fastnn import TabularMLPClassifier, TabularMLPRegressor
from fastnn._tabular import auto_epochs
from fastnn._packed import has_bf16
from fastnn._table import AUTO_BINS, AUTO_BINS_COLUMNS, MAX_CODES, TableEncoder

pd = pytest.importorskip("pandas")
needs_bf16 = pytest.mark.skipif(not has_bf16(), reason="the CPU has no AVX512_BF16")

SMALL = dict(hidden_layer_sizes=(32,), max_iter=30, random_state=0)


def _table(n=300, seed=0):
    rng = np.random.RandomState(seed)
    X = pd.DataFrame({
        "age": rng.normal(40, 10, n),
        "income": np.where(rng.rand(n) < 0.1, np.nan, rng.lognormal(10, 1, n)),
        "city": pd.Categorical(rng.choice(["a", "b", "c", None], n, p=[0.5, 0.3, 0.15, 0.05])),
        "member": rng.rand(n) < 0.5,
        "plan": rng.choice(["basic", "pro"], n).astype(object),
    })
    score = (X["age"] - 40) / 10 + (X["city"] == "a") - X["member"]
    return X, np.where(score + 0.3 * rng.normal(size=n) > 0, "yes", "no"), score.to_numpy()


# ---------------------------------------------------------------------------
# The encoding
# ---------------------------------------------------------------------------


def test_encoder_finds_categorical_columns_by_dtype():
    X, _, _ = _table()
    enc = TableEncoder().fit(X)
    assert enc.categorical_ == [False, False, True, True, True]


def test_numeric_columns_are_scaled_robustly_and_clipped_smoothly():
    x = np.array([0.0, 1, 2, 3, 4, 100])
    enc = TableEncoder(n_bins=0, dtype="float64").fit(x[:, None])
    q25, median, q75 = np.percentile(x, [25, 50, 75])
    z = (x - median) / (q75 - q25)
    np.testing.assert_allclose(enc.transform(x[:, None])[:, 0], z / np.sqrt(1 + (z / 3) ** 2))
    assert np.abs(enc.transform(np.array([[1e12]]))).max() <= 3


def test_piecewise_linear_encoding_of_numeric_columns():
    x = np.arange(101, dtype=float)
    enc = TableEncoder(n_bins=4, dtype="float64").fit(x[:, None])
    # quantile edges 0, 25, 50, 75, 100: a value fills the bins below it
    np.testing.assert_allclose(enc.transform(np.array([[60.0]]))[0, 1:], [1, 1, 0.4, 0])
    np.testing.assert_allclose(enc.transform(np.array([[-5.0], [500.0]]))[:, 1:],
                               [[0, 0, 0, 0], [1, 1, 1, 1]])


@pytest.mark.parametrize("n_numeric", [1, AUTO_BINS_COLUMNS, AUTO_BINS_COLUMNS + 1])
def test_automatic_bins_for_tables_of_few_numeric_columns(n_numeric):
    rng = np.random.default_rng(0)
    X = pd.DataFrame({f"x{j}": rng.normal(size=200) for j in range(n_numeric)})
    X["c"] = pd.Categorical(rng.choice(["a", "b"], size=200))
    out = TableEncoder(n_bins="auto").fit_transform(X)
    bins = AUTO_BINS if n_numeric <= AUTO_BINS_COLUMNS else 0
    assert out.shape[1] == n_numeric * (1 + bins) + 2


def test_missing_numbers_encode_as_zero_with_an_indicator():
    x = np.array([[1.0], [2.0], [np.nan], [4.0]])
    out = TableEncoder(n_bins=0).fit(x).transform(x)
    np.testing.assert_array_equal(out[:, 1], [0, 0, 1, 0])
    assert out[2, 0] == 0


def test_one_hot_keeps_the_most_frequent_values_and_an_other_column():
    col = np.array(["a"] * 5 + ["b"] * 4 + ["c"] * 2 + ["d"] + [None], dtype=object)
    enc = TableEncoder(max_categories=3).fit(col[:, None])
    out = enc.transform(np.array([["a"], ["b"], ["c"], ["d"], [None], ["never seen"]],
                                 dtype=object))
    # columns: a, b, other, missing
    np.testing.assert_array_equal(out, [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0],
                                        [0, 0, 1, 0], [0, 0, 0, 1], [0, 0, 1, 0]])


def test_a_column_of_many_values_encodes_as_codes_for_an_embedding():
    col = np.array(["a"] * 5 + ["b"] * 4 + ["c"] * 2 + ["d"] + [None], dtype=object)
    X = np.column_stack([col, ["x", "y"] * 6 + ["x"]])
    enc = TableEncoder(max_categories=3, embed=True, n_bins=0).fit(X)
    assert enc.n_codes_ == [6]  # a, b, c, d, other, missing
    new = np.array([["a", "x"], ["c", "y"], ["d", "y"], [None, "x"], ["never seen", "x"]],
                   dtype=object)
    # columns: x, y (one-hot: two values), then the first column's codes
    np.testing.assert_array_equal(enc.transform(new), [[1, 0, 0], [0, 1, 2], [0, 1, 3],
                                                       [1, 0, 5], [1, 0, 4]])
    # few rows take another path
    np.testing.assert_array_equal(enc.transform(pd.DataFrame(new[:2])),
                                  enc.transform(new[:2]))


@pytest.mark.parametrize("embed", [False, True])
def test_pandas_categoricals_encode_as_their_values_in_an_object_column(embed):
    # ties in frequency (c, d, e), unused categories (z), missing values,
    # categories listed in another order than first seen
    values = ["c", "a", "d", "a", None, "e", "a", "b", "b", "b", "d", "e", "c"]
    categories = ["z", "e", "d", "c", "b", "a"]
    categorical = pd.DataFrame({"v": pd.Categorical(values, categories=categories)})
    plain = pd.DataFrame({"v": np.array(values, dtype=object)})
    fitted = [TableEncoder(max_categories=3, embed=embed).fit(X) for X in (categorical, plain)]
    assert fitted[0].levels_ == fitted[1].levels_
    new = pd.DataFrame({"v": pd.Categorical(["e", None, "z", "a", "b", "c"],
                                            categories=categories)})
    new_plain = new.astype(object)
    expected = fitted[1].transform(new_plain)
    for enc in fitted:
        np.testing.assert_array_equal(enc.transform(new), expected)
        np.testing.assert_array_equal(enc.transform(new_plain), expected)
        np.testing.assert_array_equal(enc.transform(pd.concat([new] * 3)),
                                      np.concatenate([expected] * 3))


def test_codes_keep_the_most_frequent_values():
    values = np.array([f"v{i}" for i in range(MAX_CODES + 10)] + ["v7"] * 3, dtype=object)
    enc = TableEncoder(embed=True, n_bins=0).fit(values[:, None])
    assert enc.n_codes_ == [MAX_CODES]
    codes = enc.transform(np.array([["v7"], [f"v{MAX_CODES + 9}"]], dtype=object))[:, 0]
    np.testing.assert_array_equal(codes, [0, MAX_CODES - 2])  # the most frequent; "other"


def test_a_value_never_seen_encodes_as_zeros_without_an_other_column():
    enc = TableEncoder().fit(np.array([["x"], ["y"]], dtype=object))
    np.testing.assert_array_equal(enc.transform(np.array([["z"]], dtype=object)), [[0, 0]])


def test_polars_tables_encode_as_pandas_ones():
    pl = pytest.importorskip("polars")
    X, _, _ = _table()
    frame = pl.DataFrame({"age": X["age"], "income": X["income"],
                          "city": [None if pd.isna(v) else v for v in X["city"]],
                          "member": X["member"], "plan": X["plan"].tolist()})
    expected = TableEncoder().fit(X).transform(X)
    np.testing.assert_array_equal(TableEncoder().fit(frame).transform(frame), expected)


def test_a_few_rows_encode_as_the_same_rows_of_a_large_table():
    """Tables of a few rows take another path (read row by row)."""
    X, _, _ = _table(60)
    X.loc[[1, 2], "income"] = np.nan
    X.loc[2, "city"] = None
    enc = TableEncoder().fit(X)
    everything = enc.transform(X)
    for start in range(4):
        np.testing.assert_array_equal(enc.transform(X.iloc[start:start + 2]),
                                      everything[start:start + 2])
    new = X.iloc[:1].copy()
    new["plan"] = ["never seen"]
    np.testing.assert_array_equal(enc.transform(new)[:, -2:], [[0, 0]])


@pytest.mark.parametrize("embed", [False, True])
def test_a_few_rows_read_from_the_blocks_encode_as_the_rows_of_a_large_table(embed):
    """Few rows of a table are read from pandas' blocks of columns, the
    categorical codes through a table per column's categories: categories
    (one-hot or embedded) with missing values and values never seen, a
    categorical column whose categories differ from the fit's, nullable
    integers with missing values, and the caches made for one table's
    dtypes then used for another's."""
    rng = np.random.RandomState(1)
    n = 80
    X = pd.DataFrame({
        "n": pd.array(rng.randint(0, 9, n), dtype="Int64"),
        "x": rng.normal(size=n),
        "few": pd.Categorical(rng.choice(["a", "b", None], n)),
        "many": pd.Categorical(rng.choice([f"v{i}" for i in range(40)] + [None], n)),
        "s": rng.choice(["p", "q"], n).astype(object),
        "y": rng.normal(size=n).astype(np.float32),
    })
    X.loc[[3, 5], "n"] = pd.NA
    enc = TableEncoder(max_categories=8, embed=embed).fit(X)
    everything = enc.transform(X)
    for start in range(0, 12, 3):
        np.testing.assert_array_equal(enc.transform(X.iloc[start:start + 3]),
                                      everything[start:start + 3])
    # other categories (one never seen, one missing): a new code table
    other = X.iloc[:3].copy()
    other["few"] = pd.Categorical(["b", "z", None], categories=["z", "b"])
    other["many"] = pd.Categorical(["v3", "v39", "w"])
    expected = enc.transform(pd.concat([other] * 30, ignore_index=True).astype(
        {"few": object, "many": object}).astype({"few": "category", "many": "category"}))[:3]
    np.testing.assert_array_equal(enc.transform(other), expected)
    np.testing.assert_array_equal(enc.transform(X.iloc[4:6]), everything[4:6])
    # a column's kind changed: the error of the fit's checks
    changed = X.iloc[:2].assign(x=["1", "2"])
    with pytest.raises(TypeError, match="'x' was numeric"):
        enc.transform(changed)
    # the caches are not pickled
    state = pickle.loads(pickle.dumps(enc)).__dict__
    assert "_code_table" not in state and "_seen_dtypes" not in state


def test_nullable_and_object_numbers_with_missing_values():
    X = pd.DataFrame({"n": pd.array([1, None, 3, 4], dtype="Int64"),
                      "f": pd.array([0.5, 1.5, None, 2.5], dtype="Float64")})
    out = TableEncoder(n_bins=0, dtype="float64").fit(X).transform(X)
    np.testing.assert_array_equal(out[:, 2:], [[0, 0], [1, 0], [0, 1], [0, 0]])
    A = np.array([[1.0], [None], [3.0]], dtype=object)
    enc = TableEncoder(n_bins=0).fit(A)
    assert enc.categorical_ == [False]
    np.testing.assert_array_equal(enc.transform(A)[:, 1], [0, 1, 0])


def test_a_column_without_a_finite_value_is_an_error():
    X = pd.DataFrame({"ok": [1.0, 2.0, 3.0], "empty": [np.nan] * 3})
    with pytest.raises(ValueError, match="'empty' has no value"):
        TableEncoder().fit(X)


def test_an_infinite_value_is_an_error():
    X = pd.DataFrame({"x": [1.0, 2.0, 3.0]})
    with pytest.raises(ValueError, match="'x' holds an infinite value"):
        TableEncoder().fit(X.assign(x=[1.0, np.inf, 3.0]))
    with pytest.raises(ValueError, match="'x' holds an infinite value"):
        TableEncoder().fit(X).transform(X.assign(x=[-np.inf, 1.0, 2.0]))


def test_a_column_whose_kind_changed_is_an_error():
    X, y, _ = _table()
    model = TabularMLPClassifier(**SMALL).fit(X, y)
    changed = X.assign(age=X["age"].astype(str))
    with pytest.raises(TypeError, match="'age' was numeric"):
        model.predict(changed)


# ---------------------------------------------------------------------------
# The estimators
# ---------------------------------------------------------------------------


def test_classifier_learns_a_table_with_missing_values_and_new_categories():
    X, y, _ = _table(600)
    model = TabularMLPClassifier(random_state=0, max_iter=20).fit(X[:500], y[:500])
    assert model.score(X[500:], y[500:]) > 0.8
    new = X[500:].copy()
    new["city"] = pd.Categorical(["never seen"] * len(new))
    proba = model.predict_proba(new)
    assert np.all(np.isfinite(proba)) and np.allclose(proba.sum(axis=1), 1)
    assert list(model.feature_names_in_) == list(X.columns)


@pytest.mark.parametrize("n_rows, batch_size", [(100, 16), (500, 50), (3000, 256)])
def test_automatic_batches_leave_at_least_8_an_epoch(n_rows, batch_size):
    X, y, _ = _table(n_rows)
    # the network trains on the rows not held out (20%)
    model = TabularMLPClassifier(hidden_layer_sizes=(8,), max_iter=1).fit(X, y)
    assert model.networks_[0].batch_size == batch_size


def test_automatic_epochs_give_small_problems_up_to_1e11_flops():
    # 6 flops per row and weight of the hidden layers, an epoch
    assert auto_epochs(659, [256, 256, 256, 256]) == 100  # 129 epochs to 1e11
    assert auto_epochs(3000, [100, 256, 256, 256]) == 36  # 35.5
    assert auto_epochs(3000, [100, 256, 256, 256], copies=2) == 30  # 17.7
    assert auto_epochs(40_000, [500, 256, 256, 256]) == 30


@pytest.mark.parametrize("flops, epochs", [(1e6, 30), (3e8, None), (1e12, 100)])
def test_automatic_epochs_count_the_front_layers_outputs(monkeypatch, flops, epochs):
    import fastnn._tabular

    monkeypatch.setattr(fastnn._tabular, "AUTO_FLOPS", flops)
    X, _, y = _table(500)
    model = TabularMLPRegressor(hidden_layer_sizes=(32, 16), random_state=0).fit(X, y)
    n_train = 500  # (the regressor holds no rows out)
    inputs = model.networks_[0].front.n_outputs
    expected = math.ceil(flops / (6 * n_train * (inputs * 32 + 32 * 16)))
    assert 30 < expected < 100 or epochs is not None
    assert model.networks_[0].max_iter == (epochs or expected)
    # (40 epochs without progress stop it sooner)
    assert min(model.networks_[0].max_iter, 41) <= model.n_iter_ <= model.networks_[0].max_iter
    # a given number of epochs is kept
    assert TabularMLPRegressor(hidden_layer_sizes=(8,), max_iter=3).fit(X, y).n_iter_ == 3


def test_automatic_networks_are_two_unless_the_network_is_large_or_costly():
    from fastnn._tabular import auto_networks

    widths = [512, 256, 256, 256]  # 2**18 weights
    assert auto_networks(widths, 1000, 30) == 2
    assert auto_networks([513, 256, 256, 256], 1000, 30) == 1
    # 6 flops per row, weight and epoch: 1e12 at 635,783 row-epochs
    assert auto_networks(widths, 21_192, 30) == 2
    assert auto_networks(widths, 21_193, 30) == 1
    assert auto_networks(widths, 10_597, 30, copies=2) == 1
    assert auto_networks([10, 64], 10**6, 100) == 2


@pytest.mark.parametrize("bound, margin, expected", [
    ("AUTO_NETWORKS_MAX_WEIGHTS", 0, 2), ("AUTO_NETWORKS_MAX_WEIGHTS", -1, 1),
    ("AUTO_NETWORKS_MAX_FLOPS", 0, 2), ("AUTO_NETWORKS_MAX_FLOPS", -1, 1)])
def test_automatic_networks_count_the_front_layers_outputs(monkeypatch, bound, margin,
                                                           expected):
    import fastnn._tabular

    X, y, _ = _table(300)
    params = dict(hidden_layer_sizes=(32, 16), max_iter=2, random_state=0)
    inputs = TabularMLPClassifier(**params, n_networks=1).fit(X, y).networks_[0].front.n_outputs
    weights = inputs * 32 + 32 * 16
    n_train = 300 - 60  # (20% held out)
    limit = weights if bound.endswith("WEIGHTS") else 6 * n_train * weights * 2
    monkeypatch.setattr(fastnn._tabular, bound, limit + margin)
    assert len(TabularMLPClassifier(**params).fit(X, y).networks_) == expected


@pytest.mark.parametrize("name, value", [
    ("n_jobs", 0), ("n_jobs", 2.5), ("n_jobs", "all"), ("max_time", 0), ("max_time", "1s"),
    ("random_state", "seed"), ("validation_fraction", 1.5), ("n_networks", 0),
    ("n_networks", "many")])
def test_parameters_the_estimator_uses_before_the_networks_are_checked_first(name, value):
    X, y, _ = _table(50)
    model = TabularMLPClassifier(hidden_layer_sizes=(8,), max_iter=2, **{name: value})
    with pytest.raises(ValueError, match=f"'{name}' parameter"):
        model.fit(X, y)
    assert not hasattr(model, "networks_")


@pytest.mark.parametrize("max_iter", [0, "many", 2.5])
def test_bad_max_iter_is_rejected(max_iter):
    X, y, _ = _table(50)
    with pytest.raises(ValueError, match="'max_iter' parameter"):
        TabularMLPClassifier(max_iter=max_iter).fit(X, y)


@pytest.mark.parametrize("front", [
    {},  # scaled columns and periodic embeddings
    {"embedding_size": 0},  # scaled columns only
    {"column_scaling": False},  # periodic embeddings only
    {"embedding_size": 0, "column_scaling": False},  # no front layer
    {"n_heads": 4},  # and copies of the network
    {"n_heads": 3, "embedding_size": 0, "column_scaling": False},  # copies only
])
def test_each_front_layer_learns_and_pickles(front):
    X, y, _ = _table(600)
    model = TabularMLPClassifier(random_state=0, max_iter=20, **front).fit(X[:500], y[:500])
    assert model.score(X[500:], y[500:]) > 0.8
    has_front = (bool(front.get("embedding_size", 1)) or front.get("column_scaling", True)
                 or front.get("n_heads", 1) > 1)
    assert (model.networks_[0].front is not None) == has_front
    if has_front:
        assert model.networks_[0].front.copies == front.get("n_heads", 1)
    loaded = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(loaded.predict_proba(X[500:]), model.predict_proba(X[500:]))
    np.testing.assert_array_equal(loaded.predict_proba(X[500:501]),
                                  model.predict_proba(X[500:501]))


def test_a_column_of_many_categories_is_embedded():
    X, y, score = _table(600)
    rng = np.random.RandomState(1)
    shop = rng.randint(0, 80, len(X))
    X["shop"] = pd.Categorical([f"s{i}" for i in shop])
    y = np.where(score + rng.normal(size=80)[shop] > 0, "yes", "no")
    model = TabularMLPClassifier(random_state=0, max_iter=20).fit(X[:500], y[:500])
    assert model.networks_[0].front.codes == (82,)  # 80 shops, other, missing
    assert model.score(X[500:], y[500:]) > 0.75
    loaded = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(loaded.predict_proba(X[500:]), model.predict_proba(X[500:]))
    one_hot = TabularMLPClassifier(random_state=0, max_iter=20, embedding_size=0).fit(X, y)
    assert one_hot.networks_[0].front.codes == () and one_hot.encoder_.n_codes_ == []


def test_a_table_without_numeric_columns_gets_column_scaling_only():
    X, y, _ = _table(600)
    X = X[["city", "member", "plan"]]
    model = TabularMLPClassifier(random_state=0, max_iter=20).fit(X[:500], y[:500])
    assert model.networks_[0].front.n_periodic == 0 and model.networks_[0].front.scale
    assert model.score(X[500:], y[500:]) > 0.6


def test_copies_of_a_regressor_predict_every_output():
    X, _, score = _table(600)
    Y = np.column_stack([1000 + 50 * score, -score])
    model = TabularMLPRegressor(random_state=0, max_iter=20, n_heads=4).fit(X[:500], Y[:500])
    assert model.predict(X[500:]).shape == (100, 2)
    assert model.score(X[500:], Y[500:]) > 0.8
    one = TabularMLPRegressor(random_state=0, max_iter=20, n_heads=4).fit(X[:500], Y[:500, 0])
    assert one.predict(X[500:]).shape == (100,)


def test_regressor_predicts_on_the_scale_of_the_target():
    X, _, score = _table(600)
    y = 1000 + 50 * score
    model = TabularMLPRegressor(random_state=0, max_iter=20).fit(X[:500], y[:500])
    assert model.score(X[500:], y[500:]) > 0.8
    assert abs(model.predict(X[500:]).mean() - y[500:].mean()) < 20


def test_the_networks_differ_and_their_mean_is_the_prediction():
    X, y, score = _table(400)
    clf = TabularMLPClassifier(**SMALL, n_networks=3).fit(X, y)
    Z = clf._encode(X, reset=False)
    assert len(clf.networks_) == 3 and clf.n_iter_ == 30
    probas = [network.predict_proba(Z) for network in clf.networks_]
    assert not np.allclose(probas[0], probas[1], atol=1e-3)
    np.testing.assert_allclose(clf.predict_proba(X), np.mean(probas, axis=0), rtol=1e-6)
    np.testing.assert_array_equal(clf.predict(X),
                                  clf.classes_[np.argmax(np.mean(probas, axis=0), axis=1)])
    reg = TabularMLPRegressor(**SMALL, n_networks=2).fit(X, score)
    mean = np.mean([network.predict(Z) for network in reg.networks_], axis=0)
    np.testing.assert_allclose(reg.predict(X), mean * reg.target_scale_[0] + reg.target_mean_[0],
                               rtol=1e-5)
    one = TabularMLPRegressor(**SMALL, n_networks=1).fit(X, score)
    assert len(one.networks_) == 1


def test_the_networks_share_max_time():
    X, y, _ = _table(400)
    # one thread: the networks train one after another, and the budget ends
    # within the first one's epoch
    clf = TabularMLPClassifier(**SMALL, n_networks=3, max_time=1e-6, n_jobs=1).fit(X, y)
    assert len(clf.networks_) == 1 and clf.n_iter_ == 1
    clf = TabularMLPClassifier(**SMALL, n_networks=2, max_time=60, n_jobs=1).fit(X, y)
    assert len(clf.networks_) == 2 and clf.n_iter_ == 30


def test_a_set_stop_event_ends_a_network_after_its_epoch():
    import threading

    from fastnn._tabular import _FrontMLPClassifier

    X, y, _ = _table(400)
    network = _FrontMLPClassifier((16,), max_iter=20, random_state=0)
    network.stop = threading.Event()
    network.stop.set()
    assert network.fit(X[["age"]].to_numpy(), y).n_iter_ == 1


def test_a_model_of_one_network_pickled_as_model_loads():
    X, y, _ = _table(300)
    clf = TabularMLPClassifier(**SMALL, n_networks=1).fit(X, y)
    state = clf.__getstate__()
    state["model_"] = state.pop("networks_")[0]
    loaded = TabularMLPClassifier.__new__(TabularMLPClassifier)
    loaded.__setstate__(state)
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))


@pytest.mark.parametrize("dtype", ["float32", pytest.param("bfloat16", marks=needs_bf16)])
@pytest.mark.parametrize("n_heads, n_networks", [(1, 1), (4, 1), (1, 2)])
def test_weights_do_not_depend_on_n_jobs(numba_threads, kernel_runs, n_heads, n_networks,
                                         dtype):
    numba_threads(2)
    X, y, _ = _table(4000)
    models = [TabularMLPClassifier(hidden_layer_sizes=(64, 64), max_iter=3, random_state=0,
                                   n_heads=n_heads, n_networks=n_networks, dropout=0.2,
                                   dtype=dtype, n_jobs=n_jobs).fit(X, y)
              for n_jobs in (1, 2)]
    np.testing.assert_array_equal(models[0].predict_proba(X), models[1].predict_proba(X))
    for one, two in zip(models[0].networks_, models[1].networks_, strict=True):
        np.testing.assert_array_equal(one._net.theta, two._net.theta)
    trained = [run for run in kernel_runs if run.kind == "train"]
    # one network: a team of 2 threads; two: one thread each, at the same time
    assert {run.threads for run in trained} == ({1, 2} if n_networks == 1 else {1})
    assert min(run.lanes for run in trained) > 1


def test_auto_precision_is_bfloat16_where_the_cpu_has_it(monkeypatch):
    from fastnn import _tabular

    X, y, _ = _table(400)
    for cpu_has_bf16 in ([False, True] if has_bf16() else [False]):
        monkeypatch.setattr(_tabular, "has_bf16", lambda: cpu_has_bf16)
        model = TabularMLPClassifier(**SMALL).fit(X, y)
        assert model.dtype == "auto"
        assert model.networks_[0].dtype == ("bfloat16" if cpu_has_bf16 else "float32")
        assert model.networks_[0].coefs_[0].dtype == np.float32
        assert model.score(X, y) > 0.8


def test_zero_rows_and_sparse_input_are_rejected():
    X, y, _ = _table()
    with pytest.raises(ValueError, match="at least 1 row"):
        TabularMLPClassifier(**SMALL).fit(X[:0], y[:0])
    sparse = pytest.importorskip("scipy.sparse")
    with pytest.raises(TypeError, match="(?i)sparse"):
        TabularMLPClassifier(**SMALL).fit(sparse.csr_matrix(np.ones((5, 2))), [0, 1, 0, 1, 0])


def test_a_rejected_call_leaves_the_model_as_it_was():
    X, y, _ = _table()
    model = TabularMLPClassifier(**SMALL).fit(X, y)
    before = model.predict_proba(X)
    with pytest.raises(ValueError, match="'extra' has no value"):
        model.fit(X.assign(extra=np.nan), y)
    assert model.n_features_in_ == X.shape[1]
    assert list(model.feature_names_in_) == list(X.columns)
    np.testing.assert_array_equal(model.predict_proba(X), before)


_RELOAD_CHILD = r"""
import json, pickle, sys

import numpy as np
import pandas as pd

model, X = pickle.load(open(sys.argv[1], "rb"))
print(json.dumps({"proba": model.predict_proba(X).tolist()}))
"""


def test_a_pickled_model_predicts_the_same_in_a_fresh_process(tmp_path):
    X, y, _ = _table()
    model = TabularMLPClassifier(**SMALL).fit(X, y)
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps((model, X[:20])))
    script = write_script(tmp_path, _RELOAD_CHILD)
    proba = last_json(run_script(script, path).stdout)["proba"]
    np.testing.assert_allclose(proba, model.predict_proba(X[:20]), rtol=1e-6)


_FIT_CHILD = r"""
import json

import numpy as np
from sklearn.datasets import make_classification

from fastnn import TabularMLPClassifier

X, y = make_classification(1000, 12, random_state=0)
model = TabularMLPClassifier(hidden_layer_sizes=(32, 32), max_iter=3, dtype="float32",
                             random_state=0).fit(X, y)
print(json.dumps({"coefs": [c.tolist() for c in model.networks_[0].coefs_]}))
"""


@pytest.mark.slow
def test_weights_are_the_same_with_kernels_compiled_or_loaded_from_the_cache(tmp_path):
    # the first process compiles the kernels of a network with a front layer
    # into an empty cache, the second loads them
    script = write_script(tmp_path, _FIT_CHILD)
    env = child_env(FASTNN_CACHE_DIR=tmp_path / "cache", FASTNN_BACKGROUND_COMPILE=0)
    fits = [last_json(run_script(script, env=env, timeout=600).stdout)["coefs"]
            for _ in range(2)]
    for compiled, loaded in zip(*fits):
        np.testing.assert_array_equal(compiled, loaded)


def _expected_failed_checks(estimator):
    failing = {
        "check_sample_weight_equivalence_on_dense_data":
            "mini-batches (and held-out rows) are drawn: a repeated row is not a weighted one",
    }
    # outputs of float32 products, whose last bit can depend on a row's
    # place in a block (the regressor's check fails at its tolerance only
    # now and then)
    failing["check_methods_sample_order_invariance"] = (
        "float32: another row order changes the last bit of a product")
    # (and on a prediction's number of rows, which chooses the products:
    # test_packed.py checks the two within float32's rounding)
    failing["check_methods_subset_invariance"] = (
        "float32: 64 rows or more multiply with packed products, fewer with BLAS's")
    return failing


@parametrize_with_checks(
    [TabularMLPClassifier(**SMALL), TabularMLPRegressor(**SMALL)],
    expected_failed_checks=_expected_failed_checks,
)
def test_sklearn_compatible(estimator, check):
    check(estimator)
