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

needs_two_threads = pytest.mark.skipif(
    numba.config.NUMBA_NUM_THREADS < 2, reason="needs at least two Numba threads"
)

# Large enough that training batches of 512 rows and predictions on all rows
# run on a team of threads, a batch split into lanes (the tests check it).
N_SAMPLES, N_FEATURES, HIDDEN, BATCH = 3000, 40, 256, 512


@pytest.fixture(scope="module")
def parallel_problem():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(N_SAMPLES, N_FEATURES)).astype(np.float32)
    y = rng.randint(0, 3, N_SAMPLES)
    clf = MLPClassifier(hidden_layer_sizes=(HIDDEN,), batch_size=BATCH, max_iter=3,
                        random_state=0).fit(X, y)
    return X, y, clf


@needs_two_threads
def test_a_parallel_fit_starts_no_numba_threading_layer(parallel_problem, kernel_runs):
    """fastnn's teams run on Python threads, not in Numba's parallel regions:
    no OpenMP runtime is started, so a process may fork after a parallel fit."""
    X, _, clf = parallel_problem
    clf.predict(X)
    assert min(run.threads for run in kernel_runs) > 1
    with pytest.raises(ValueError):  # "Threading layer is not initialized."
        numba.threading_layer()


# ---------------------------------------------------------------------------
# Python threads
# ---------------------------------------------------------------------------


@needs_two_threads
def test_threads_predicting_at_once_get_the_serial_result(parallel_problem, kernel_runs):
    """8 threads call predict / predict_proba on one model at once, 3 rounds.

    Inputs cover the kernel on a team of threads (all rows), the kernel on
    one thread (50 rows) and the few-rows path (no kernel team); half the
    threads use a copy with ``n_jobs=1``.
    """
    X, _, clf = parallel_problem
    serial_clf = copy.deepcopy(clf).set_params(n_jobs=1)
    inputs = [X, X[:50], X[:5], X[7:8]]
    expected = []
    for x in inputs:
        kernel_runs.clear()
        expected.append((clf.predict(x), clf.predict_proba(x)))
        teams = [run.threads for run in kernel_runs]
        if len(x) == N_SAMPLES:
            assert len(teams) == 2 and min(teams) > 1
        elif len(x) == 50:
            assert teams == [1, 1]
        else:
            assert teams == []
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
def test_threads_fitting_at_once_match_serial_fits(parallel_problem, kernel_runs,
                                                   assert_same_model):
    X, y, _ = parallel_problem
    jobs = [("adam", 1), ("sgd", 2), ("lbfgs", 3), ("adam", 4)]

    def fit(job):
        return MLPClassifier(**_fit_params(*job)).fit(X, y)

    serial = [fit(job) for job in jobs]
    # every fit trains on a team of threads over several lanes
    train = kernel_runs.of("train")
    assert train and min(run.threads for run in train) > 1
    assert min(run.lanes for run in train) > 1
    barrier = threading.Barrier(len(jobs))

    def fit_together(job):
        barrier.wait(timeout=60)
        return fit(job)

    with ThreadPoolExecutor(len(jobs)) as ex:
        threaded = list(ex.map(fit_together, jobs))
    for a, b in zip(serial, threaded):
        assert_same_model(b, a, X)
        assert a.n_iter_ == b.n_iter_


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


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::UserWarning")
def test_grid_search_with_process_workers_matches_serial(assert_same_model):
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
    assert_same_model(parallel.best_estimator_, serial.best_estimator_)


START_METHOD_SCRIPT = """
import json
import multiprocessing as mp
import sys
import warnings
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from fastnn import MLPClassifier, _engine

# the team size of every kernel run of this process since the last clear()
TEAMS = []


def _recording(run):
    def spy(self, *args):
        TEAMS.append(self.n_threads)
        return run(self, *args)
    return spy


_engine.Kernels.train = _recording(_engine.Kernels.train)
_engine.Kernels.predict = _recording(_engine.Kernels.predict)


def predict(args):
    clf, X = args
    TEAMS.clear()
    return clf.predict_proba(X), max(TEAMS, default=0)


def main():
    method, rows = sys.argv[1], int(sys.argv[2])
    rng = np.random.RandomState(0)
    X = rng.normal(size=(3000, 40)).astype(np.float32)
    y = rng.randint(0, 3, 3000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # batches of 512 rows on 256 hidden units: trained on a team of threads
        clf = MLPClassifier(hidden_layer_sizes=(256,), max_iter=2, batch_size=512,
                            random_state=0).fit(X, y)
    out = {"parent_team": max(TEAMS)}
    chunks = [X[i * rows:(i + 1) * rows] for i in range(4)]
    expected = [clf.predict_proba(c) for c in chunks]
    try:
        with ProcessPoolExecutor(2, mp_context=mp.get_context(method)) as ex:
            got = list(ex.map(predict, [(clf, c) for c in chunks], timeout=90))
        out["equal"] = all(np.array_equal(a, b) for a, (b, _) in zip(expected, got))
        out["child_teams"] = [team for _, team in got]
    except Exception as exc:  # a worker that died: BrokenProcessPool
        out["error"] = f"{type(exc).__name__}: {exc}"
    print(json.dumps(out))


if __name__ == "__main__":
    main()
"""

# 8 rows per child: the few-rows path, no kernel team; 700 rows (of 256
# hidden units): the prediction kernel on a team of threads.
SERIAL_ROWS, PARALLEL_ROWS = 8, 700


@pytest.mark.slow
@needs_two_threads
@pytest.mark.parametrize(
    "method, rows",
    [("fork", SERIAL_ROWS), ("fork", PARALLEL_ROWS), ("spawn", PARALLEL_ROWS),
     ("forkserver", PARALLEL_ROWS)],
    ids=["fork-serial-child", "fork-parallel-child", "spawn", "forkserver"],
)
def test_child_processes_after_a_parallel_kernel_in_the_parent(tmp_path, method, rows):
    """The parent has run kernels on a team of threads, then starts workers
    that predict.

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
    assert result["parent_team"] > 1
    if rows == PARALLEL_ROWS:
        assert min(result["child_teams"]) > 1
    else:
        assert result["child_teams"] == [0] * 4
