"""fastnn inside the tools around scikit-learn: thread limits of process pools,
hyper-parameter searches, Dask, and data-frame pipelines."""

import contextlib
import os
import subprocess
import sys
import threading
import warnings

import numba
import numpy as np
import pytest
from sklearn.compose import ColumnTransformer, make_column_selector
from sklearn.datasets import load_digits, make_classification
from sklearn.experimental import enable_halving_search_cv  # noqa: F401
from sklearn.impute import SimpleImputer
from sklearn.model_selection import GridSearchCV, HalvingRandomSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from fastnn import MLPClassifier
from fastnn import _engine

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return (X / 16).astype(np.float32), y


# ---------------------------------------------------------------------------
# Threads: n_jobs=None within the limits a pool of processes sets
# ---------------------------------------------------------------------------


needs_two_cores = pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2,
                                     reason="one core: no thread to limit")


def test_the_thread_limit_of_the_environment():
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    assert _engine._process_thread_limit({}) == cpus
    for value, limit in [("1", 1), ("1,4", 1), (" 2 ", 2), ("1000", 1000)]:
        expected = limit if cpus is None else min(limit, cpus)
        assert _engine._process_thread_limit({"OMP_NUM_THREADS": value}) == expected
    for junk in ("", "0", "-2", "many"):
        assert _engine._process_thread_limit({"OMP_NUM_THREADS": junk}) == cpus


def test_n_jobs_none_keeps_to_the_limit_and_others_do_not(monkeypatch):
    cores = numba.config.NUMBA_NUM_THREADS
    monkeypatch.setattr(_engine, "_PROCESS_THREAD_LIMIT", None)
    assert _engine.resolve_n_jobs(None) == cores
    monkeypatch.setattr(_engine, "_PROCESS_THREAD_LIMIT", 1)
    assert _engine.resolve_n_jobs(None) == 1
    assert _engine.resolve_n_jobs(-1) == cores  # an explicit request is not limited
    assert _engine.resolve_n_jobs(2) == min(2, cores)
    monkeypatch.setattr(_engine, "_PROCESS_THREAD_LIMIT", 1000)
    assert _engine.resolve_n_jobs(None) == cores


@pytest.mark.slow
@needs_two_cores
def test_the_limit_is_the_environment_the_process_started_with():
    # a process that starts a Dask cluster sets OMP_NUM_THREADS=1 in its own
    # environment (for the workers), after fastnn was imported
    script = ("import os, fastnn._engine as e; os.environ['OMP_NUM_THREADS'] = '1';"
              " print(e.resolve_n_jobs(None))")
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    threads = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                             text=True, check=True).stdout
    limit = _engine._process_thread_limit(env)
    cores = numba.config.NUMBA_NUM_THREADS
    assert int(threads) == (cores if limit is None else min(cores, limit))


def _helper_threads_of_a_fit():
    """Fit a model whose mini-batches are worth several threads, and count
    the threads of fastnn's pool that the fit needed (0: it ran on one)."""
    X, y = make_classification(2000, 64, random_state=0)
    MLPClassifier((256,), max_iter=1, random_state=0).fit(X, y)
    return sum(t.name.startswith("fastnn") for t in threading.enumerate())


@pytest.mark.slow
@needs_two_cores
def test_fits_in_loky_workers_keep_to_their_share_of_the_cores():
    joblib = pytest.importorskip("joblib")
    with joblib.parallel_config(backend="loky", inner_max_num_threads=1):
        helpers = joblib.Parallel(n_jobs=2)(
            joblib.delayed(_helper_threads_of_a_fit)() for _ in range(2))
    assert helpers == [0, 0]
    with joblib.parallel_config(backend="loky", inner_max_num_threads=2):
        helpers = joblib.Parallel(n_jobs=1)(joblib.delayed(_helper_threads_of_a_fit)()
                                            for _ in range(1))
    assert helpers[0] >= 1  # the control: unlimited, the same fit uses the pool


# ---------------------------------------------------------------------------
# Hyper-parameter search
# ---------------------------------------------------------------------------


def test_optuna_search_with_pruning_trains_by_partial_fit(digits):
    optuna = pytest.importorskip("optuna")
    optuna_integration = pytest.importorskip("optuna_integration")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    X, y = digits
    distributions = {
        "alpha": optuna.distributions.FloatDistribution(1e-5, 1e-1, log=True),
        "learning_rate_init": optuna.distributions.FloatDistribution(1e-3, 3e-2, log=True),
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=optuna.exceptions.ExperimentalWarning)
        search = optuna_integration.OptunaSearchCV(
            MLPClassifier((32,), random_state=0), distributions, enable_pruning=True,
            max_iter=4, n_trials=6, cv=3, random_state=0,
            study=optuna.create_study(direction="maximize",
                                      pruner=optuna.pruners.MedianPruner(n_startup_trials=2)),
        )
        search.fit(X, y)
    finished = [t for t in search.trials_ if t.state == optuna.trial.TrialState.COMPLETE]
    assert finished
    # one intermediate score per partial_fit epoch
    assert all(sorted(t.intermediate_values) == [0, 1, 2, 3] for t in finished)
    assert search.score(X, y) > 0.8


def test_halving_search_over_max_iter(digits):
    X, y = digits
    search = HalvingRandomSearchCV(
        MLPClassifier((32,), random_state=0),
        {"alpha": [1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0], "learning_rate_init": [1e-3, 1e-2]},
        n_candidates=9, resource="max_iter", min_resources=3, max_resources=27, factor=3, cv=3,
        random_state=0,
    ).fit(X, y)
    assert list(search.n_resources_) == [3, 9, 27]
    assert search.best_estimator_.max_iter == 27
    assert search.best_estimator_.n_iter_ <= 27
    assert search.best_score_ > 0.85


# ---------------------------------------------------------------------------
# Dask
# ---------------------------------------------------------------------------


@contextlib.contextmanager
def local_cluster(**kwargs):
    """A ``distributed.LocalCluster`` and its client; the environment variables
    its nannies set in this process for their workers (OMP_NUM_THREADS=1...)
    are undone on exit, for the tests that follow."""
    distributed = pytest.importorskip("distributed")
    saved = dict(os.environ)
    try:
        with distributed.LocalCluster(host="127.0.0.1", dashboard_address=None,
                                      **kwargs) as cluster:
            with distributed.Client(cluster) as client:
                yield client
    finally:
        os.environ.clear()
        os.environ.update(saved)


@pytest.fixture(scope="module")
def dask_client():
    pytest.importorskip("dask")
    with local_cluster(n_workers=1, threads_per_worker=2) as client:
        yield client


@pytest.mark.slow
def test_incremental_on_dask_trains_on_every_block_in_turn(dask_client, digits):
    da = pytest.importorskip("dask.array")
    wrappers = pytest.importorskip("dask_ml.wrappers")
    X, y = digits
    classes = np.unique(y)
    blocks = 300
    incremental = wrappers.Incremental(MLPClassifier((32,), random_state=0),
                                       shuffle_blocks=False)
    incremental.fit(da.from_array(X, chunks=(blocks, -1)), da.from_array(y, chunks=blocks),
                    classes=classes)
    local = MLPClassifier((32,), random_state=0)
    for start in range(0, len(X), blocks):
        local.partial_fit(X[start:start + blocks], y[start:start + blocks], classes=classes)
    for a, b in zip(incremental.estimator_.coefs_, local.coefs_):
        np.testing.assert_array_equal(a, b)
    predicted = incremental.predict(da.from_array(X, chunks=(blocks, -1))).compute()
    np.testing.assert_array_equal(predicted, local.predict(X))


@pytest.mark.slow
def test_incremental_takes_a_dask_dataframe(dask_client, digits):
    dd = pytest.importorskip("dask.dataframe")
    pd = pytest.importorskip("pandas")
    wrappers = pytest.importorskip("dask_ml.wrappers")
    X, y = digits
    frame = dd.from_pandas(pd.DataFrame(X).add_prefix("pixel"), npartitions=4)
    target = dd.from_pandas(pd.Series(y), npartitions=4)
    model = wrappers.Incremental(MLPClassifier((32,), random_state=0), shuffle_blocks=False)
    model.fit(frame, target, classes=np.unique(y))
    local = MLPClassifier((32,), random_state=0)
    for i in range(frame.npartitions):
        local.partial_fit(frame.partitions[i].compute(), target.partitions[i].compute(),
                          classes=np.unique(y))
    assert len(model.estimator_.loss_curve_) == 4  # a partial_fit per partition
    for a, b in zip(model.estimator_.coefs_, local.coefs_):
        np.testing.assert_array_equal(a, b)
    assert model.score(frame, target) == local.score(frame.compute(), y)


@pytest.mark.slow
def test_grid_search_on_the_dask_joblib_backend_gives_the_local_results(dask_client, digits):
    joblib = pytest.importorskip("joblib")
    X, y = digits
    grid = {"alpha": [1e-4, 1e-1], "hidden_layer_sizes": [(16,), (32,)]}
    search = GridSearchCV(MLPClassifier(max_iter=5, random_state=0), grid, cv=2, n_jobs=-1)
    with joblib.parallel_config(backend="dask"):
        distributed = search.fit(X, y).cv_results_["mean_test_score"]
    local = search.fit(X, y).cv_results_["mean_test_score"]
    np.testing.assert_array_equal(distributed, local)


@pytest.mark.slow
@needs_two_cores
def test_fits_in_dask_worker_processes_keep_to_one_thread():
    # the nanny sets OMP_NUM_THREADS=1 in its worker processes
    with local_cluster(n_workers=1, threads_per_worker=1, processes=True) as client:
        assert client.submit(_helper_threads_of_a_fit).result() == 0


# ---------------------------------------------------------------------------
# Data frames
# ---------------------------------------------------------------------------


def _mixed_table(frame_module):
    """Numbers with missing values, a categorical column and a binary target."""
    rng = np.random.default_rng(0)
    n = 400
    size = rng.normal(size=n)
    colour = rng.choice(["red", "green", "blue"], size=n)
    y = (size + (colour == "red") > 0.5).astype(int)
    size[rng.random(n) < 0.1] = np.nan
    return frame_module.DataFrame({"size": size, "colour": colour,
                                   "noise": rng.normal(size=n)}), y


def test_column_transformer_recipe_for_categories_and_missing_values():
    X, y = _mixed_table(pytest.importorskip("pandas"))
    preprocess = ColumnTransformer([
        ("numbers", make_pipeline(SimpleImputer(add_indicator=True), StandardScaler()),
         make_column_selector(dtype_include="number")),
        ("categories", OneHotEncoder(handle_unknown="ignore"),
         make_column_selector(dtype_exclude="number")),
    ])
    model = make_pipeline(preprocess, MLPClassifier((16,), max_iter=200, random_state=0))
    assert model.fit(X, y).score(X, y) > 0.9


@pytest.mark.parametrize("library", ["pandas", "polars"])
def test_data_frames_of_numbers_fit_as_arrays_do(library, digits):
    frames = pytest.importorskip(library)
    X, y = digits
    frame = frames.DataFrame({f"pixel{i}": X[:, i] for i in range(X.shape[1])})
    from_frame = MLPClassifier((16,), max_iter=3, random_state=0).fit(frame, y)
    from_array = MLPClassifier((16,), max_iter=3, random_state=0).fit(X, y)
    np.testing.assert_array_equal(from_frame.coefs_[0], from_array.coefs_[0])
    assert list(from_frame.feature_names_in_) == list(frame.columns)
    np.testing.assert_array_equal(from_frame.predict(frame), from_array.predict(X))


def test_skrub_tabular_pipeline():
    skrub = pytest.importorskip("skrub")
    pd = pytest.importorskip("pandas")
    X, y = _mixed_table(pd)
    model = skrub.tabular_pipeline(MLPClassifier((16,), max_iter=200, random_state=0))
    assert model.fit(X, y).score(X, y) > 0.9
