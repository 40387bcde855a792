"""``fastnn.compile_kernels``: after it, no fit, prediction or reload compiles anything.

A child process compiles every kernel variant (or finds it in the cache the
tests share), then runs every path a user can take: each model kind, loss,
activation and solver, dense and sparse input, float32 and float64, one and
two threads, read-only and memory-mapped arrays, and models reloaded with
pickle or with ``joblib.load(..., mmap_mode="r")``, training on after the
reload; and the tabular estimators, whose kernels ``compile_kernels(tabular=True)``
adds.  Numba announces every compilation with a ``numba:compile`` event;
the child records them, and there must be none.
"""

import subprocess
import sys

import pytest
from subproc import child_env, last_json, run_script, write_script

import fastnn
from fastnn import _compile, _engine, _kernels, _packed

_CHILD = r"""
import inspect, json, pickle, sys, tempfile, warnings
from pathlib import Path

import joblib
import numpy as np
import scipy.sparse as sp
from numba.core import event

import fastnn
from fastnn import _engine

warnings.simplefilter("ignore")
fastnn.compile_kernels(verbose=False, tabular=True)

compiled = []


class Recorder(event.Listener):
    def on_start(self, ev):
        pass

    def on_end(self, ev):
        compiled.append(f"{ev.data['dispatcher'].py_func.__qualname__}{ev.data['args']}")


event.register("numba:compile", Recorder())
paths = 0

# (kind, team size, lanes) of every kernel run: the paths run on one thread
# and on a team, and training splits its batches into lanes
runs = set()


def _recording(kind, run):
    signature = inspect.signature(run)

    def spy(self, *args):
        bufs = signature.bind(self, *args).arguments.get("bufs")
        runs.add((kind, self.n_threads, 0 if bufs is None else bufs[0].shape[0]))
        return run(self, *args)

    return spy


_engine.Kernels.train = _recording("train", _engine.Kernels.train)
_engine.Kernels.predict = _recording("predict", _engine.Kernels.predict)

# large enough for the parallel kernels: >= 100k multiply-adds per batch,
# >= 1M per prediction or full-batch gradient
rng = np.random.RandomState(0)
X = rng.normal(size=(1000, 20))
y = rng.randint(0, 3, 1000)
Y2 = np.c_[y == 0, y == 1].astype(int)
targets = {
    "classifier": [y, y % 2, Y2],
    "regressor": [X[:, 0], X[:, :2]],
    "poisson": [np.abs(X[:, 0])],
}
estimators = {
    "classifier": fastnn.MLPClassifier,
    "regressor": fastnn.MLPRegressor,
    "poisson": lambda **kw: fastnn.MLPRegressor(loss="poisson", **kw),
}
for dtype in ("float32", "float64"):
    for n_jobs in (1, 2):
        for activation in ("identity", "logistic", "tanh", "relu"):
            for solver in ("sgd", "adam", "lbfgs"):
                for kind, make in estimators.items():
                    for k, target in enumerate(targets[kind]):
                        Xf = sp.csr_matrix(X) if k % 2 else X
                        est = make(hidden_layer_sizes=(64,), activation=activation,
                                   solver=solver, max_iter=2, dtype=dtype, n_jobs=n_jobs,
                                   random_state=0)
                        est.fit(Xf, target)
                        est.predict(Xf)
                        est.predict(X[:3])
                        if solver != "lbfgs":
                            est.partial_fit(Xf, target)
                        paths += 1
    fastnn.MLPClassifier((64,), max_iter=2, dtype=dtype, early_stopping=True).fit(X, y)
    # the toolbox: stored derivatives, dropout, clipping, another optimizer
    fastnn.MLPClassifier((64, 32), max_iter=2, dtype=dtype, activation=["gelu", "elu"],
                         dropout=0.2, dropout_kind="gaussian", solver="nadam",
                         clip_norm=1.0, learning_rate="onecycle").fit(X, y, X_val=X, y_val=y)
    est = fastnn.MLPClassifier((64,), max_iter=2, dtype=dtype).fit(X, y)
    # read-only and memory-mapped input, read-only and memory-mapped models
    frozen = X.copy()
    frozen.flags.writeable = False
    est.predict(frozen)
    est.fit(frozen, y)
    folder = Path(tempfile.mkdtemp())
    np.save(folder / "X.npy", X)
    joblib.dump(est, folder / "model.joblib")
    mapped = np.load(folder / "X.npy", mmap_mode="r")
    loaded = joblib.load(folder / "model.joblib", mmap_mode="r")
    loaded.predict(mapped)
    loaded.predict(mapped[:2])
    loaded.predict_proba(X)
    loaded.partial_fit(mapped, y)
    loaded.fit(mapped, y)
    again = pickle.loads(pickle.dumps(est))
    again.predict(X)
    again.partial_fit(X, y)
    paths += 1
    for n_jobs in (1, 2):
        for make, target in ((fastnn.TabularMLPClassifier, y),
                             (fastnn.TabularMLPRegressor, X[:, 0])):
            tab = make(hidden_layer_sizes=(64,), max_iter=2, dtype=dtype, n_jobs=n_jobs,
                       random_state=0).fit(X, target)
            tab.predict(X)
            tab.predict(X[:1])
            pickle.loads(pickle.dumps(tab)).predict(X[:2])
            paths += 1
# deeper networks, every hidden layer multiplying with packed float32 products
# (on CPUs with AVX-512)
fastnn.MLPClassifier((512, 512), max_iter=2, random_state=0).fit(X, y).predict(X)
fastnn.TabularMLPClassifier(hidden_layer_sizes=(512, 512), max_iter=2, random_state=0).fit(X, y)
paths += 1
# the packed products' library, which compiles outside Numba's dispatchers
from fastnn import _packed  # noqa: E402

compiled += [f"packed products {per}" for per, products in _packed._loaded.items()
             if not products.cache_hits]
print(json.dumps({"paths": paths, "compiled": compiled, "runs": sorted(runs),
                  "products": sorted(_packed._loaded)}))
"""


@pytest.mark.slow
def test_nothing_compiles_after_compile_kernels(tmp_path):
    script = write_script(tmp_path, _CHILD)
    # two threads for n_jobs=2 whatever the machine's cores
    result = last_json(run_script(script, env=child_env(NUMBA_NUM_THREADS=2),
                                  timeout=900).stdout)
    # dtypes x thread counts x activations x solvers x targets, + one reload path per
    # dtype, + dtypes x thread counts x tabular estimators, + the large networks
    assert result["paths"] == 2 * 2 * 4 * 3 * 6 + 2 + 2 * 2 * 2 + 1
    assert result["compiled"] == []
    # (the tabular estimators train with bfloat16 products where the CPU has them)
    expected = ([1] if _engine.packed_float32() else []) + ([2] if _packed.has_bf16() else [])
    assert result["products"] == expected
    for kind in ("train", "predict"):
        teams = {threads for k, threads, _ in result["runs"] if k == kind}
        assert {1, 2} <= teams, (kind, teams)
    assert max(lanes for k, _, lanes in result["runs"] if k == "train") > 1


def test_variants_cover_both_dtypes_and_every_entry_point():
    labels = [label for label, _, _ in _compile.kernel_variants()]
    assert len(labels) == len(set(labels))
    for dtype in _compile.DTYPES:
        assert any(label.startswith("train_member") and dtype in label for label in labels)
        assert any(label.startswith("predict_few") and dtype in label for label in labels)
    assert any(label.startswith("shuffle") for label in labels)
    assert not any("front" in label for label in labels)


def test_tabular_variants_follow_the_others():
    """``compile_kernels(tabular=True)`` adds the kernels of networks with a
    front layer after the others (workers address variants by position)."""
    plain, tabular = _compile.kernel_variants(), _compile.kernel_variants(tabular=True)
    assert tabular[:len(plain)] == plain
    added = tabular[len(plain):]
    assert all("front" in label and _kernels.has_front(args) for label, _, args in added)
    for dtype in _compile.DTYPES:
        for kernel in (_kernels.train_member, _kernels.predict_member, _kernels.predict_few):
            assert any(k is kernel and dtype in label for label, k, _ in added)


_PRUNED_CHILD = r"""
import json

from fastnn import _embeddings, _ensemble, _kernels

front = (_embeddings.front_forward, _embeddings.front_backward)
copies = (_ensemble.expand, _ensemble.collapse, _ensemble.mean_of_copies,
          _kernels._loss_of_copies, _kernels._heads_forward, _kernels._heads_backward,
          _kernels._bias_activate_copies)
counts = {}
for tabular in (False, True):
    for kernel, args in _kernels.entry_signatures("float32", front=tabular):
        kernel.compile(args)
    counts["tabular" if tabular else "mlp"] = {
        "front": sum(len(f.overloads) for f in front),
        "copies": sum(len(f.overloads) for f in copies)}
print(json.dumps(counts))
"""


@pytest.mark.slow
def test_kernels_leave_out_the_code_their_networks_do_not_have(tmp_path):
    """Networks without a front layer (every MLP*) do not pay for compiling
    it, nor tabular networks without copies for the code of copies
    (``_ensemble``)."""
    env = child_env(FASTNN_CACHE_DIR=tmp_path / "cache", FASTNN_BACKGROUND_COMPILE="0")
    script = write_script(tmp_path, _PRUNED_CHILD)
    counts = last_json(run_script(script, env=env, timeout=900).stdout)
    assert counts["mlp"] == {"front": 0, "copies": 0}
    assert counts["tabular"]["front"] > 0 and counts["tabular"]["copies"] == 0


def test_compile_kernels_rejects_a_bad_job_count():
    with pytest.raises(ValueError, match="n_jobs"):
        fastnn.compile_kernels(n_jobs=0, verbose=False)


@pytest.mark.slow
def test_compile_command_reports_the_cache_directory(tmp_path):
    """``python -m fastnn compile`` in a fresh process: one line per variant,
    the cache directory named, nothing left to compile (the cache is warm)."""
    proc = subprocess.run(
        [sys.executable, "-m", "fastnn", "compile", "--jobs", "1"],
        capture_output=True, text=True, timeout=900, env=child_env(), cwd=tmp_path,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert "cache directory" in lines[0]
    assert sum(line.startswith("[") for line in lines) == len(_compile._tasks(False))
    assert lines[-1].startswith("fastnn: 0 compiled")


_AHEAD_CHILD = r"""
import json, warnings

import numpy as np

import fastnn
from fastnn import _compile

warnings.simplefilter("ignore")
rng = np.random.RandomState(0)
X = rng.normal(size=(300, 8))
fastnn.MLPRegressor(hidden_layer_sizes=(8,), max_iter=2, random_state=0).fit(X, X[:, 0])
worker = _compile._ahead["float32", False]
print(json.dumps({"worker_exit": worker.wait(timeout=600)}))
"""

_CHECK_CHILD = r"""
import json

from fastnn import _compile

missing = []
for label, kernel, args in _compile.kernel_variants():
    # the float32 kernels, but for the full training kernels (with BLAS or
    # packed products), which a fit of scikit-learn's recipe does not call
    if "float64" not in label and not label.startswith("train_member[float32, full"):
        kernel.compile(args)
        if kernel.stats.cache_misses[args]:
            missing.append(label)
print(json.dumps({"missing": missing}))
"""


@pytest.mark.slow
def test_a_first_fit_on_a_cold_cache_compiles_ahead_in_the_background(tmp_path):
    """The first fit's cache miss starts a worker that compiles the other
    float32 kernels (prediction among them, which this fit never calls for
    a single row): afterwards a fresh process finds every float32 variant
    in the cache, but for the full training kernels, which the fit did not
    need."""
    env = child_env(FASTNN_CACHE_DIR=tmp_path / "cache", FASTNN_BACKGROUND_COMPILE="1")
    fit = write_script(tmp_path, _AHEAD_CHILD, "fit.py")
    assert last_json(run_script(fit, env=env, timeout=900).stdout) == {"worker_exit": 0}
    check = write_script(tmp_path, _CHECK_CHILD, "check.py")
    assert last_json(run_script(check, env=env, timeout=900).stdout) == {"missing": []}


_FALLBACK_CHILD = r"""
import json, warnings

import numpy as np

import fastnn
from fastnn import _engine, _kernels

warnings.simplefilter("ignore")
# the training kernels this fit uses (FASTNN_FLOAT32_PRODUCTS: BLAS or packed products)
basic, full = [args for kernel, args in _kernels.entry_signatures("float32")
               if kernel is _kernels.train_member]
_kernels.train_member.compile(full)
rng = np.random.RandomState(0)
X = rng.normal(size=(200, 5))
fastnn.MLPClassifier((8,), max_iter=2, random_state=0).fit(X, X[:, 0] > 0)
print(json.dumps({"full": _engine._LOADED[np.dtype("float32"), False, False, False, False],
                  "basic_compiled": basic in _kernels.train_member.overloads}))
"""


@pytest.mark.slow
@pytest.mark.parametrize("products", ["blas", "packed"])
def test_a_basic_model_trains_with_the_full_kernel_when_only_that_one_is_compiled(
        tmp_path, products):
    """What ``compile_kernels`` relies on to build the full training kernel
    only (the two give the same model: ``test_toolbox``)."""
    env = child_env(FASTNN_CACHE_DIR=tmp_path / "cache", FASTNN_BACKGROUND_COMPILE="0",
                    FASTNN_FLOAT32_PRODUCTS=products)
    script = write_script(tmp_path, _FALLBACK_CHILD)
    assert last_json(run_script(script, env=env, timeout=900).stdout) == {
        "full": True, "basic_compiled": False}


_PARTS_CHILD = r"""
import json

from fastnn import _kernels

unused = []
for dtype, front, bf16 in [("float32", False, False), ("float32", True, False),
                           ("float64", False, False), ("float64", True, False),
                           ("float32", False, True)]:
    for kernel, args in _kernels.entry_signatures(dtype, front, bf16=bf16):
        if kernel is _kernels.train_member:
            kernel.compile(args)
            full = _kernels.is_full(args)
            for helper, part in _kernels.training_parts(dtype, full, front):
                if tuple(part) not in helper.overloads:
                    unused.append(f"{helper.py_func.__name__}{part} ({dtype}, full={full},"
                                  f" front={front}, bf16={bf16})")
print(json.dumps({"unused": unused}))
"""


@pytest.mark.slow
def test_training_parts_are_what_the_training_kernels_call(tmp_path):
    """The parts a background worker compiles while a first fit compiles its
    training kernel have the signatures the kernel's compilation asks for
    (else the worker would compile variants nobody loads)."""
    env = child_env(FASTNN_CACHE_DIR=tmp_path / "cache", FASTNN_BACKGROUND_COMPILE="0")
    script = write_script(tmp_path, _PARTS_CHILD)
    assert last_json(run_script(script, env=env, timeout=900).stdout) == {"unused": []}


def test_variants_compile_the_full_training_kernel_only():
    trained = [args for _, kernel, args in _compile.kernel_variants()
               if kernel is _kernels.train_member]
    # one per dtype (float32's takes packed products, which layers use them
    # being the engine's choice)
    assert [_kernels.packed_kind(args) for args in trained] == [1, None]
    assert all(_kernels.is_full(args) for args in trained)


def test_no_background_compile_when_turned_off(tmp_path, monkeypatch):
    monkeypatch.setenv("FASTNN_BACKGROUND_COMPILE", "0")
    kernel, args = _compile.kernel_variants()[0][1:]
    _compile.compile_ahead(kernel, args)
    assert _compile._ahead == {}


def test_background_compile_of_a_tabular_fit_compiles_its_own_kernels(monkeypatch):
    """The finiteness check (which a fit of float32 data calls first) starts
    no worker; a tabular network's training kernel starts one for its parts
    and its own prediction kernels (and the shuffle)."""
    monkeypatch.setenv("FASTNN_BACKGROUND_COMPILE", "1")
    monkeypatch.delenv("FASTNN_COMPILE_WORKER", raising=False)
    monkeypatch.setattr(_compile, "_default_jobs", lambda: 2)
    monkeypatch.setattr(_compile, "_ahead", {})
    started = []
    monkeypatch.setattr(_compile, "_start_worker", lambda tasks, **_: started.append(tasks))
    finite = next(a for k, a in _kernels.entry_signatures("float32") if k is _kernels.all_finite)
    _compile.compile_ahead(_kernels.all_finite, finite)
    assert started == []
    train = next(a for k, a in _kernels.entry_signatures("float32", front=True)
                 if k is _kernels.train_member)
    _compile.compile_ahead(_kernels.train_member, train)
    (tasks,) = started
    assert tasks[0] == "parts:float32:1:1:0"  # (dtype, full, front, no packed products)
    labels = [_compile.kernel_variants(tabular=True)[i][0] for i in tasks[1:]]
    assert "predict_member[float32, front]" in labels
    assert all("front" in label or "[" not in label for label in labels), labels
