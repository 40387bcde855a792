"""Ctrl-C during a long fit: the fit returns promptly with a usable model.

The compiled kernels return to Python at least once per epoch (or per
``SAMPLES_PER_CALL`` samples, or per L-BFGS evaluation); the engine turns the
KeyboardInterrupt into a "Training interrupted by user." warning and keeps
the weights reached so far (the best ones with early stopping, the last
accepted iterate with L-BFGS).  A child process runs the fit and receives a
real SIGINT once it has printed a few iterations.
"""

import itertools
import json
import queue
import re
import signal
import subprocess
import sys
import threading
import time

import pytest
from subproc import TIMEOUT, child_env, write_script

pytestmark = pytest.mark.slow

CHILD = """
import json
import signal
import sys
import time
import warnings

# Python installs its Ctrl-C handler only where SIGINT is not ignored, and a
# suite started in the background of a non-interactive shell inherits it
# ignored: install the handler whatever the parent left.
signal.signal(signal.SIGINT, signal.default_int_handler)

import numba
import numpy as np
from threadpoolctl import threadpool_info

from fastnn import MLPClassifier


def blas_threads():
    return sorted(i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas")


solver, early_stopping = sys.argv[1], sys.argv[2] == "1"
rng = np.random.RandomState(0)
# more rows than one compiled call trains on (SAMPLES_PER_CALL = 2**18)
X = rng.normal(size=(300_000, 20)).astype(np.float32)
y = (X[:, 0] + X[:, 1] * X[:, 2] > 0).astype(int)
threads_before, blas_before = numba.get_num_threads(), blas_threads()
clf = MLPClassifier(hidden_layer_sizes=(128,), solver=solver, max_iter=100_000, tol=0.0,
                    n_iter_no_change=10**9, max_fun=10**9, early_stopping=early_stopping,
                    verbose=True, random_state=0)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    clf.fit(X, y)
proba = clf.predict_proba(X[:1000])
weights = np.concatenate([a.ravel() for a in clf.coefs_ + clf.intercepts_])
result = {
    "n_iter": clf.n_iter_,
    "max_iter": clf.max_iter,
    "loss": clf.loss_,
    "warnings": [f"{w.category.__name__}: {w.message}" for w in caught],
    "finite": bool(np.isfinite(proba).all() and np.isfinite(weights).all()),
    "proba_sums_to_one": bool(np.allclose(proba.sum(axis=1), 1, rtol=1e-5)),
    "accuracy": float(clf.score(X[:5000], y[:5000])),
    "threads_restored": numba.get_num_threads() == threads_before,
    "blas_restored": blas_threads() == blas_before,
}
if early_stopping:
    result["best_score"] = clf.best_validation_score_
    result["best_is_max"] = clf.best_validation_score_ == max(clf.validation_scores_)
else:
    result["loss_curve_len"] = len(getattr(clf, "loss_curve_", []))
# the estimator is not left in a broken state: it fits again
clf.set_params(verbose=False, max_iter=1).fit(X[:1000], y[:1000])
result["refit_ok"] = bool(np.isfinite(clf.predict_proba(X[:10])).all())
print("RESULT " + json.dumps(result), flush=True)
"""

# Two tabular networks trained at the same time, in two threads: only the
# main thread receives the signal, and both fits must end.
TABULAR_CHILD = """
import json
import signal
import warnings

signal.signal(signal.SIGINT, signal.default_int_handler)

import numpy as np

from fastnn import TabularMLPClassifier

rng = np.random.RandomState(0)
X = rng.normal(size=(20_000, 10)).astype(np.float32)
y = (X[:, 0] + X[:, 1] * X[:, 2] > 0).astype(int)
clf = TabularMLPClassifier(hidden_layer_sizes=(64, 64), n_networks=2, n_jobs=2,
                           max_iter=100_000, n_iter_no_change=10**9, verbose=True,
                           random_state=0)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    clf.fit(X, y)
proba = clf.predict_proba(X[:1000])
result = {
    "n_iter": [network.n_iter_ for network in clf.networks_],
    "warnings": [f"{w.category.__name__}: {w.message}" for w in caught],
    "finite": bool(np.isfinite(proba).all()),
    "accuracy": float(clf.score(X[:5000], y[:5000])),
}
print("RESULT " + json.dumps(result), flush=True)
"""

ITERATION = re.compile(r"^Iteration (\d+), loss = (\S+)$")


def _run_and_interrupt(tmp_path, solver, early_stopping, n_before_signal=3, child=CHILD):
    script = write_script(tmp_path, child)
    proc = subprocess.Popen(
        [sys.executable, str(script), solver, str(int(early_stopping))],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=child_env(),
        cwd=tmp_path, start_new_session=True,
    )
    lines = queue.Queue()

    def read():
        for line in proc.stdout:
            lines.put((time.monotonic(), line.rstrip("\n")))
        lines.put((time.monotonic(), None))

    threading.Thread(target=read, daemon=True).start()
    deadline = time.monotonic() + TIMEOUT
    iterations, arrivals, result, t_signal, t_result = [], [], None, None, None
    try:
        while result is None:
            try:
                t, line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                pytest.fail(f"no result within {TIMEOUT} s (hung?)")
            if line is None:
                break
            match = ITERATION.match(line)
            if match and t_signal is None:
                iterations.append((int(match.group(1)), float(match.group(2))))
                arrivals.append(t)
                if len(iterations) == n_before_signal:
                    t_signal = time.monotonic()
                    proc.send_signal(signal.SIGINT)
            elif match:
                iterations.append((int(match.group(1)), float(match.group(2))))
            elif line.startswith("RESULT "):
                result, t_result = json.loads(line[len("RESULT "):]), t
        proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    stderr = proc.stderr.read()
    assert result is not None, f"child exited with {proc.returncode}; stderr:\n{stderr}"
    assert proc.returncode == 0, stderr
    epoch = max(b - a for a, b in itertools.pairwise(arrivals))
    return result, iterations, t_result - t_signal, epoch


@pytest.mark.parametrize("solver, early_stopping",
                         [("adam", False), ("lbfgs", False), ("adam", True)],
                         ids=["adam", "lbfgs", "adam-early-stopping"])
def test_ctrl_c_stops_a_long_fit_with_a_usable_model(tmp_path, solver, early_stopping):
    result, iterations, latency, epoch = _run_and_interrupt(tmp_path, solver, early_stopping)
    # about one epoch (or L-BFGS iteration) after the signal, plus the
    # child's own predictions and scoring
    assert latency < 3 * epoch + 3.0, (latency, epoch)
    assert "UserWarning: Training interrupted by user." in result["warnings"]
    assert not any("ConvergenceWarning" in w for w in result["warnings"])
    assert 3 <= result["n_iter"] < result["max_iter"]
    # the epoch (iteration) running when the signal came is the only one lost
    printed = [i for i, _ in iterations]
    assert printed == list(range(1, len(printed) + 1))
    assert abs(result["n_iter"] - len(printed)) <= 1
    assert result["finite"] and result["proba_sums_to_one"]
    assert result["accuracy"] > 0.7  # it learned something before the interrupt
    assert result["threads_restored"] and result["blas_restored"]
    assert result["refit_ok"]
    if early_stopping:
        assert result["best_is_max"]
    elif solver == "adam":
        assert result["loss_curve_len"] == result["n_iter"]
    if not early_stopping and result["n_iter"] <= len(printed):
        # loss_ is that of the last completed epoch; for L-BFGS, of the last
        # accepted iterate, whose weights are the ones kept
        printed_loss = iterations[result["n_iter"] - 1][1]
        assert result["loss"] == pytest.approx(printed_loss, rel=1e-6, abs=1e-8)


def test_ctrl_c_stops_every_network_of_a_tabular_fit(tmp_path):
    result, iterations, latency, epoch = _run_and_interrupt(
        tmp_path, "adamw", True, n_before_signal=6, child=TABULAR_CHILD)
    # Both networks print their epochs (two threads' lines can interleave,
    # so not every epoch is counted).  The fit returns about an epoch after
    # the signal, so both networks stopped: either alone would train on to
    # max_iter.
    assert latency < 3 * epoch + 3.0, (latency, epoch)
    assert "UserWarning: Training interrupted by user." in result["warnings"]
    assert len(result["n_iter"]) == 2
    assert all(1 <= n < 100_000 for n in result["n_iter"])
    assert result["finite"] and result["accuracy"] > 0.7
