"""The same data and random_state give the same model: for any n_jobs, run
after run, and in a fresh process.

A mini-batch is split into lanes by its size and the number of Numba threads
(``_engine.max_lanes``), never by ``n_jobs``, and the kernels combine the
lanes in a fixed order: how many threads share the lanes changes nothing.
The tests record how the engine ran its kernels (the ``kernel_runs``
fixture) to show that the lanes and the teams of threads really ran.
"""

import numpy as np
import pytest
from subproc import child_env, last_json, run_script, write_script

from fastnn import MLPClassifier

SETTINGS = {
    "adam": {"solver": "adam"},
    "adam-one-batch": {"solver": "adam", "batch_size": 600},
    "lbfgs": {"solver": "lbfgs"},
    "sgd": {"solver": "sgd", "learning_rate_init": 0.01},
    "sgd-invscaling-no-nesterov": {"solver": "sgd", "learning_rate": "invscaling",
                                   "learning_rate_init": 0.05, "nesterovs_momentum": False},
    "adam-early-stopping": {"solver": "adam", "early_stopping": True, "n_iter_no_change": 3},
    "sgd-adaptive-early-stopping": {"solver": "sgd", "learning_rate": "adaptive",
                                    "early_stopping": True, "n_iter_no_change": 3},
}

# 600 samples of 40 features, 64 hidden units: a mini-batch of 200 rows is
# above PARALLEL_MIN_FLOPS multiply-adds, so it is split into lanes.
N_SAMPLES, N_FEATURES, HIDDEN = 600, 40, 64


def _assert_same_fit(a, b, assert_same_model, X):
    """Same weights, outputs on ``X``, epochs, losses and validation scores."""
    assert_same_model(a, b, X)
    np.testing.assert_array_equal(a.predict(X), b.predict(X))
    assert a.n_iter_ == b.n_iter_
    assert a.loss_ == b.loss_
    for attr in ("loss_curve_", "validation_scores_", "best_validation_score_"):
        assert getattr(a, attr, None) == getattr(b, attr, None), attr


@pytest.mark.parametrize("threads", [2, 8])
@pytest.mark.parametrize("setting", list(SETTINGS))
def test_n_jobs_does_not_change_the_model(Estimator, make_data, setting, threads,
                                          numba_threads, kernel_runs, assert_same_model):
    """n_jobs 1, 2, -1 and None give the same model (weights, loss_,
    loss_curve_ which drives the stopping rule, validation scores) and the
    same predictions, whether the engine sees 2 Numba threads (2 lanes per
    batch) or 8 (4 lanes for a batch of 200 rows, 8 for one of 600)."""
    numba_threads(threads)
    X, y = make_data(Estimator, n_samples=N_SAMPLES, n_features=N_FEATURES)
    X_big = np.tile(X, (3, 1))  # 1800 rows: predicted by a team of threads
    params = {"hidden_layer_sizes": (HIDDEN,), "max_iter": 15, "random_state": 0,
              **SETTINGS[setting]}
    models, lanes = {}, {}
    for n_jobs in (1, 2, -1, None):
        kernel_runs.clear()
        models[n_jobs] = model = Estimator(n_jobs=n_jobs, **params).fit(X, y)
        train = kernel_runs.of("train")
        assert train
        lanes[n_jobs] = [run.lanes for run in train]
        assert min(lanes[n_jobs]) >= min(threads, 4)
        kernel_runs.clear()
        model.predict(X_big)
        predict = kernel_runs.of("predict")
        assert len(predict) == 1
        if n_jobs == 1:
            assert {run.threads for run in train + predict} == {1}
        else:
            assert min(run.threads for run in train + predict) > 1
    one = models.pop(1)
    for n_jobs, other in models.items():
        assert lanes[n_jobs] == lanes[1]  # the split never depends on n_jobs
        _assert_same_fit(other, one, assert_same_model, X_big)
        # and a fitted model predicts alike with any n_jobs
        np.testing.assert_array_equal(one.set_params(n_jobs=n_jobs).predict(X_big),
                                      other.set_params(n_jobs=1).predict(X_big))
        one.set_params(n_jobs=1)


@pytest.mark.parametrize("setting", ["adam", "lbfgs", "sgd", "sgd-invscaling-no-nesterov",
                                     "adam-early-stopping", "sgd-adaptive-early-stopping"])
def test_same_random_state_same_model(Estimator, data, setting, assert_same_model):
    X, y = data
    params = {"hidden_layer_sizes": (9, 5), "max_iter": 15, **SETTINGS[setting]}
    first = Estimator(random_state=7, **params).fit(X, y)
    reused = Estimator(random_state=7, **params)
    for _ in range(3):
        # a new estimator each time, and the same one refitted
        for est in (Estimator(random_state=7, **params).fit(X, y), reused.fit(X, y)):
            _assert_same_fit(est, first, assert_same_model, X)
    # a RandomState instance seeded alike gives the same model
    seeded = Estimator(random_state=np.random.RandomState(7), **params).fit(X, y)
    _assert_same_fit(seeded, first, assert_same_model, X)
    # another seed, another model
    other = Estimator(random_state=8, **params).fit(X, y)
    assert not np.allclose(other.coefs_[0], first.coefs_[0])


FRESH_PROCESS_SCRIPT = """
import sys
import warnings

import numpy as np

from fastnn import MLPClassifier

warnings.simplefilter("ignore")
X = np.load(sys.argv[1])
y = np.load(sys.argv[2])
weights = []
for solver in ["adam", "sgd", "lbfgs"]:
    clf = MLPClassifier(hidden_layer_sizes=(int(sys.argv[3]),), solver=solver,
                        max_iter=10, random_state=0).fit(X, y)
    weights.append(np.concatenate([a.ravel() for a in clf.coefs_ + clf.intercepts_]))
np.save(sys.argv[4], np.concatenate(weights))
print('{"done": true}')
"""


@pytest.mark.slow
def test_same_model_in_a_fresh_process(tmp_path, make_data, numba_threads, kernel_runs):
    """Nothing a process has done before (compiled kernels, thread pools,
    earlier fits) changes a model: a fresh process that sees as many Numba
    threads, and so splits the batches into as many lanes, fits the same one."""
    numba_threads(2)
    X, y = make_data(MLPClassifier, n_samples=N_SAMPLES, n_features=N_FEATURES)
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", y)
    script = write_script(tmp_path, FRESH_PROCESS_SCRIPT)
    out = tmp_path / "weights.npy"
    assert last_json(run_script(script, tmp_path / "X.npy", tmp_path / "y.npy", HIDDEN, out,
                                env=child_env(NUMBA_NUM_THREADS=2)).stdout)["done"]
    here = []
    for solver in ["adam", "sgd", "lbfgs"]:
        clf = MLPClassifier(hidden_layer_sizes=(HIDDEN,), solver=solver, max_iter=10,
                            random_state=0).fit(X, y)
        here.append(np.concatenate([a.ravel() for a in clf.coefs_ + clf.intercepts_]))
    assert {(run.threads, run.lanes) for run in kernel_runs.of("train")} == {(2, 2)}
    np.testing.assert_array_equal(np.load(out), np.concatenate(here))
