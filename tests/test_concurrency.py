"""Threads and processes.

A fitted model is read-only at prediction time, so any number of Python
threads may predict with it at once; separate models may be fitted from
separate threads; scikit-learn's process-based parallelism (joblib/loky)
works; and fork, spawn and forkserver children can use a model fitted in the
parent.  Everything that could hang runs in a child process with a timeout.
"""

import copy
import threading
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV
from subproc import last_json, run_script, write_script
from threadpoolctl import threadpool_info, threadpool_limits

from fastnn import MLPClassifier, _engine

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

needs_two_threads = pytest.mark.skipif(
    numba.config.NUMBA_NUM_THREADS < 2, reason="needs at least two Numba threads"
)

# Large enough that training batches of 512 rows and predictions on all rows
# run the parallel kernels (checked in parallel_problem).
N_SAMPLES, N_FEATURES, HIDDEN, BATCH = 3000, 40, 256, 512


def _weights(est):
    return np.concatenate([a.ravel() for a in est.coefs_ + est.intercepts_])


@pytest.fixture(scope="module")
def parallel_problem():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(N_SAMPLES, N_FEATURES)).astype(np.float32)
    y = rng.randint(0, 3, N_SAMPLES)
    flops = BATCH * (N_FEATURES * HIDDEN + HIDDEN * 3)
    assert _engine.Kernels(2, flops).parallel
    assert _engine.Kernels(2, N_SAMPLES * flops // BATCH).parallel
    clf = MLPClassifier(hidden_layer_sizes=(HIDDEN,), batch_size=BATCH, max_iter=3,
                        random_state=0).fit(X, y)
    return X, y, clf


def test_a_parallel_fit_starts_no_numba_threading_layer(parallel_problem):
    """fastnn's teams run on Python threads, not in Numba's parallel regions:
    no OpenMP runtime is started, so a process may fork after a parallel fit."""
    with pytest.raises(ValueError):  # "Threading layer is not initialized."
        numba.threading_layer()


# ---------------------------------------------------------------------------
# Python threads
# ---------------------------------------------------------------------------


@needs_two_threads
def test_threads_predicting_at_once_get_the_serial_result(parallel_problem):
    """8 threads call predict / predict_proba on one model at once, 3 rounds.

    Inputs cover the parallel kernel (all rows), the serial kernel and the
    small-input fast path; half the threads use a copy with ``n_jobs=1``.
    """
    X, _, clf = parallel_problem
    serial_clf = copy.deepcopy(clf).set_params(n_jobs=1)
    inputs = [X, X[:300], X[:5], X[7:8]]
    expected = [(clf.predict(x), clf.predict_proba(x)) for x in inputs]
    n_threads = 8
    barrier = threading.Barrier(n_threads)

    def work(i):
        model = clf if i % 2 else serial_clf
        order = [(i + k) % len(inputs) for k in range(len(inputs))]  # a different start
        barrier.wait(timeout=60)
        return {j: (model.predict(inputs[j]), model.predict_proba(inputs[j])) for j in order}

    with ThreadPoolExecutor(n_threads) as ex:
        for _ in range(3):
            for result in ex.map(work, range(n_threads)):
                for j, (labels, proba) in result.items():
                    np.testing.assert_array_equal(labels, expected[j][0])
                    np.testing.assert_array_equal(proba, expected[j][1])


def _fit_params(solver, seed):
    params = {"hidden_layer_sizes": (HIDDEN,), "solver": solver, "max_iter": 3,
              "random_state": seed}
    if solver != "lbfgs":
        params["batch_size"] = BATCH
    if solver == "sgd":
        params["early_stopping"] = True
    return params


@needs_two_threads
def test_threads_fitting_at_once_match_serial_fits(parallel_problem):
    X, y, _ = parallel_problem
    jobs = [("adam", 1), ("sgd", 2), ("lbfgs", 3), ("adam", 4)]

    def fit(job):
        return MLPClassifier(**_fit_params(*job)).fit(X, y)

    serial = [fit(job) for job in jobs]
    barrier = threading.Barrier(len(jobs))

    def fit_together(job):
        barrier.wait(timeout=60)
        return fit(job)

    with ThreadPoolExecutor(len(jobs)) as ex:
        threaded = list(ex.map(fit_together, jobs))
    for a, b in zip(serial, threaded):
        np.testing.assert_array_equal(_weights(a), _weights(b))
        assert a.n_iter_ == b.n_iter_
        np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))


def _blas_threads():
    return sorted((i["internal_api"], i["filepath"], i["num_threads"])
                  for i in threadpool_info() if i["user_api"] == "blas")


@needs_two_threads
def test_threads_fitting_at_once_leave_blas_threads_as_they_were(parallel_problem):
    """The kernels run BLAS on one thread; overlapping calls from several Python
    threads must restore the user's BLAS thread count when the last one ends
    (threadpoolctl's limit is process-wide, not per thread)."""
    X, y, _ = parallel_problem

    def fit(seed):
        return MLPClassifier(**_fit_params("adam", seed)).fit(X, y)

    # a known starting point other than the engine's single thread
    with threadpool_limits(limits=2, user_api="blas"):
        before = _blas_threads()
        assert all(n == 2 for *_, n in before)
        for _ in range(3):
            with ThreadPoolExecutor(4) as ex:
                list(ex.map(fit, range(4)))
        after = _blas_threads()
    assert after == before


def test_blas_limit_holds_in_every_thread(parallel_problem):
    """Inside a kernel call BLAS runs on one thread whichever Python thread
    makes the call, also after the main thread made one (threadpoolctl 3.8
    ignores thread counts set from any thread but the first that set one;
    BLAS then kept the user's count in the others, and models fitted there
    differed from the main thread's in the last bits)."""
    _, _, clf = parallel_problem
    clf.predict(np.zeros((1, clf.n_features_in_), dtype=np.float32))  # main thread first

    def counts_inside_a_call():
        with _engine.compute_threads(1):
            return [n for *_, n in _blas_threads()]

    with ThreadPoolExecutor(1) as ex:
        inside = ex.submit(counts_inside_a_call).result()
    assert inside and all(n == 1 for n in inside)


# ---------------------------------------------------------------------------
# Processes
# ---------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_grid_search_with_process_workers_matches_serial():
    """GridSearchCV(n_jobs=2) runs the fits in joblib's loky worker processes."""
    rng = np.random.RandomState(0)
    X = rng.normal(size=(300, 8)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] * X[:, 2] > 0).astype(int)
    grid = {"alpha": [1e-4, 1e-1], "hidden_layer_sizes": [(4,), (16,)]}
    searches = [
        GridSearchCV(MLPClassifier(max_iter=30, random_state=0), grid, cv=3,
                     n_jobs=n_jobs).fit(X, y)
        for n_jobs in (1, 2)
    ]
    serial, parallel = searches
    assert serial.best_params_ == parallel.best_params_
    for key in ["mean_test_score", "split0_test_score", "split1_test_score",
                "split2_test_score"]:
        np.testing.assert_array_equal(serial.cv_results_[key], parallel.cv_results_[key])
    np.testing.assert_array_equal(_weights(serial.best_estimator_),
                                  _weights(parallel.best_estimator_))


START_METHOD_SCRIPT = """
import json
import multiprocessing as mp
import sys
import warnings
from concurrent.futures import ProcessPoolExecutor

import numpy as np


def predict(args):
    clf, X = args
    return clf.predict_proba(X)


def main():
    from fastnn import MLPClassifier

    method, rows = sys.argv[1], int(sys.argv[2])
    rng = np.random.RandomState(0)
    X = rng.normal(size=(3000, 40)).astype(np.float32)
    y = rng.randint(0, 3, 3000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # batches of 512 rows on 256 hidden units: parallel kernels
        clf = MLPClassifier(hidden_layer_sizes=(256,), max_iter=2, batch_size=512,
                            random_state=0).fit(X, y)
    out = {}
    chunks = [X[i * rows:(i + 1) * rows] for i in range(4)]
    expected = [clf.predict_proba(c) for c in chunks]
    try:
        with ProcessPoolExecutor(2, mp_context=mp.get_context(method)) as ex:
            got = list(ex.map(predict, [(clf, c) for c in chunks], timeout=90))
        out["equal"] = all(np.array_equal(a, b) for a, b in zip(expected, got))
    except Exception as exc:  # a worker that died: BrokenProcessPool
        out["error"] = f"{type(exc).__name__}: {exc}"
    print(json.dumps(out))


if __name__ == "__main__":
    main()
"""

# 8 rows per child: serial kernel; 700 rows (of 256 hidden units): parallel.
SERIAL_ROWS, PARALLEL_ROWS = 8, 700


@needs_two_threads
@pytest.mark.parametrize(
    "method, rows",
    [("fork", SERIAL_ROWS), ("fork", PARALLEL_ROWS), ("spawn", PARALLEL_ROWS),
     ("forkserver", PARALLEL_ROWS)],
    ids=["fork-serial-child", "fork-parallel-child", "spawn", "forkserver"],
)
def test_child_processes_after_a_parallel_kernel_in_the_parent(tmp_path, method, rows):
    """The parent has run parallel kernels, then starts workers that predict.

    A forked child does not have the parent's helper threads: the engine
    starts its own.  A hang fails the test through the timeout.
    """
    import multiprocessing as mp

    if method not in mp.get_all_start_methods():
        pytest.skip(f"start method {method!r} not available on this platform")
    script = write_script(tmp_path, START_METHOD_SCRIPT)
    result = last_json(run_script(script, method, rows).stdout)
    assert result.get("error") is None, result["error"]
    assert result["equal"]
