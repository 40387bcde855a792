"""The on-disk kernel cache: its key, its directory and sharing it between processes.

``fastnn._cache`` keeps Numba's cache in a per-user directory named by a key
that hashes the kernel sources, the Python, NumPy, Numba and llvmlite
versions, the CPU and the code generation settings.  These tests check that

* the key depends on the content of the kernel modules, not on where the
  package is installed, and changes with any of the facts it hashes;
* the cache root honours ``FASTNN_CACHE_DIR``, then ``NUMBA_CACHE_DIR``, then
  ``XDG_CACHE_HOME``;
* every module defining a Numba dispatcher is hashed into the key;
* processes starting together on a cold cache compile each kernel once and
  load it from the cache everywhere else (``LockingDispatcher``);
* ``file_lock`` excludes other processes.

Everything that starts a process runs it with a timeout (``subproc``), so a
deadlock fails a test instead of stalling the suite.
"""

import importlib
import os
import pkgutil
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numba
import pytest
from numba.core.registry import CPUDispatcher
from subproc import TIMEOUT, child_env, last_json, run_script, write_script

import fastnn
from fastnn import _cache

# ---------------------------------------------------------------------------
# The key
# ---------------------------------------------------------------------------


def _copy_kernel_modules(dest):
    dest.mkdir()
    for name in _cache.KERNEL_MODULES:
        shutil.copyfile(_cache.PACKAGE_DIR / name, dest / name)
    return dest


def test_key_depends_on_content_not_location(tmp_path):
    copy = _copy_kernel_modules(tmp_path / "elsewhere")
    assert copy.resolve() != _cache.PACKAGE_DIR
    digest = _cache.source_digest()
    assert _cache.source_digest(copy) == digest
    assert _cache.build_key(_cache.build_facts(copy)) == _cache.build_key(_cache.build_facts())

    # a module that is not compiled into kernels does not count
    (copy / "_mlp.py").write_text("# not a kernel module\n")
    assert _cache.source_digest(copy) == digest

    # one byte changed in any kernel module gives a new digest and key
    keys = {_cache.build_key(_cache.build_facts(copy))}
    for name in _cache.KERNEL_MODULES:
        path = copy / name
        original = path.read_bytes()
        middle = len(original) // 2
        path.write_bytes(original[:middle] + bytes([original[middle] ^ 1])
                         + original[middle + 1:])
        assert _cache.source_digest(copy) != digest, name
        keys.add(_cache.build_key(_cache.build_facts(copy)))
        path.write_bytes(original)
    assert len(keys) == len(_cache.KERNEL_MODULES) + 1
    assert _cache.source_digest(copy) == digest


def test_key_changes_with_every_fact(monkeypatch):
    facts = _cache.build_facts()
    names = [name for name, _ in facts]
    for expected in ("sources", "python", "numpy", "numba", "llvmlite", "target", "cpu",
                     "cpu_features", "boundscheck", "opt", "debuginfo"):
        assert expected in names
    key = _cache.build_key(facts)
    assert len(key) == 16 and int(key, 16) >= 0
    assert _cache.build_key(list(facts)) == key  # deterministic, any sequence

    def replaced(name, value):
        return tuple((n, value if n == name else v) for n, v in facts)

    assert _cache.build_key(replaced("numba", "0.0.0")) != key
    assert _cache.build_key(replaced("cpu", "some-other-cpu")) != key
    assert _cache.build_key(replaced("boundscheck", "1")) != key
    keys = {_cache.build_key(replaced(name, str(value) + "~")) for name, value in facts}
    assert key not in keys and len(keys) == len(facts)

    # the facts come from Numba's live configuration
    monkeypatch.setattr(numba.core.config, "BOUNDSCHECK", 1)
    assert dict(_cache.build_facts())["boundscheck"] == "1"
    assert _cache.build_key(_cache.build_facts()) != key


# ---------------------------------------------------------------------------
# The directory
# ---------------------------------------------------------------------------


def test_cache_root_precedence(monkeypatch, tmp_path):
    explicit, numba_dir, xdg = tmp_path / "explicit", tmp_path / "numba", tmp_path / "xdg"
    monkeypatch.setenv("FASTNN_CACHE_DIR", str(explicit))
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(numba_dir))
    monkeypatch.setattr(numba.core.config, "CACHE_DIR", str(numba_dir))
    monkeypatch.setenv("XDG_CACHE_HOME", str(xdg))
    assert _cache.cache_root() == str(explicit)

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FASTNN_CACHE_DIR", "relative")
    assert _cache.cache_root() == str(tmp_path / "relative")

    monkeypatch.setenv("FASTNN_CACHE_DIR", "")  # empty: not set
    assert _cache.cache_root() == str(numba_dir / "fastnn")
    monkeypatch.delenv("FASTNN_CACHE_DIR")
    assert _cache.cache_root() == str(numba_dir / "fastnn")

    monkeypatch.delenv("NUMBA_CACHE_DIR")
    monkeypatch.setattr(numba.core.config, "CACHE_DIR", "")
    if sys.platform in ("win32", "darwin"):
        pytest.skip("the platform's user cache directory is not XDG_CACHE_HOME")
    assert _cache.cache_root() == str(xdg / "fastnn")

    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert _cache.cache_root() == str(tmp_path / "home" / ".cache" / "fastnn")


def test_every_module_with_a_dispatcher_is_hashed_into_the_key():
    with_kernels = {}
    for info in pkgutil.iter_modules(fastnn.__path__, prefix="fastnn."):
        module = importlib.import_module(info.name)
        dispatchers = [value for value in vars(module).values()
                       if isinstance(value, CPUDispatcher)
                       and value.py_func.__module__ == module.__name__]
        if dispatchers:
            with_kernels[Path(module.__file__).name] = dispatchers
    if numba.core.config.DISABLE_JIT:
        pytest.skip("NUMBA_DISABLE_JIT: no dispatchers")
    assert {"_kernels.py", "_shuffle.py"} <= set(with_kernels)
    assert set(with_kernels) <= set(_cache.KERNEL_MODULES)
    for name in _cache.KERNEL_MODULES:
        assert (_cache.PACKAGE_DIR / name).is_file(), name
    for dispatchers in with_kernels.values():  # all created by _config
        for dispatcher in dispatchers:
            assert isinstance(dispatcher, _cache.LockingDispatcher), dispatcher


# ---------------------------------------------------------------------------
# Processes sharing the cache
# ---------------------------------------------------------------------------

COMPILE_SCRIPT = """
import json
import sys
import time
from pathlib import Path

import numpy as np

import fastnn
from fastnn import _cache, _kernels, _shuffle

ready, go = Path(sys.argv[1]), Path(sys.argv[2])
entries = [(f"all_finite[{dtype}]", kernel, args)
           for dtype in ("float32", "float64")
           for kernel, args in _kernels.entry_signatures(dtype)
           if kernel is _kernels.all_finite]
entries += [("shuffle_mt19937", kernel, args) for kernel, args in _shuffle.entry_signatures()]
# each child starts at another variant: variants of one function compile at
# the same time in different processes, and must all reach the index
start = int("".join(ch for ch in Path(sys.argv[1]).name if ch.isdigit()) or 0)
entries = entries[start:] + entries[:start]

ready.touch()
deadline = time.monotonic() + 100
while not go.exists():  # start compiling together
    if time.monotonic() > deadline:
        sys.exit("never told to start")
    time.sleep(0.002)

report = {}
for label, kernel, args in entries:
    kernel.compile(args)
    report[label] = {
        "misses": kernel.stats.cache_misses[args],
        "hits": kernel.stats.cache_hits[args],
        "locking": isinstance(kernel, _cache.LockingDispatcher),
        "lock": kernel._lock_path(""),  # the lock of the function's index
    }

checks = {}
if len(sys.argv) > 3:  # the check run: call the kernels
    for dtype in ("float32", "float64"):
        a = np.linspace(-1, 1, 37).astype(dtype)
        a.setflags(write=False)
        b = a.copy()
        b[20] = np.nan
        b.setflags(write=False)
        c = a.copy()
        c[-1] = -np.inf
        c.setflags(write=False)
        checks[dtype] = [bool(_kernels.all_finite(x)) for x in (a, b, c)]
    ours, theirs = np.random.RandomState(5), np.random.RandomState(5)
    x, y = np.arange(1000), np.arange(1000)
    _shuffle.shuffle(ours, x)
    theirs.shuffle(y)
    checks["shuffle"] = bool(_shuffle._LAYOUT_OK and np.array_equal(x, y))
    checks["misses_after_calls"] = sum(sum(kernel.stats.cache_misses.values())
                                       for _, kernel, _ in entries)

print(json.dumps({
    "cache_dir": _cache.cache_dir(),
    "expected_name": f"{fastnn.__version__}-{sys.implementation.cache_tag}-"
                     + _cache.build_key(_cache.build_facts()),
    "kernels": report,
    "checks": checks,
}))
"""

LABELS = ("all_finite[float32]", "all_finite[float64]", "shuffle_mt19937")


def _start_together(script, cache, n, tmp_path):
    """Start ``n`` children on ``script``; let them compile once all are ready."""
    go = tmp_path / "go"
    ready = [tmp_path / f"ready{i}" for i in range(n)]
    env = child_env(FASTNN_CACHE_DIR=cache)
    procs = [subprocess.Popen([sys.executable, str(script), str(r), str(go)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              cwd=tmp_path)
             for r in ready]
    try:
        deadline = time.monotonic() + TIMEOUT
        while not all(r.exists() for r in ready):
            for proc in procs:
                if proc.poll() is not None:
                    pytest.fail(f"a child exited early; stderr:\n{proc.communicate()[1]}")
            if time.monotonic() > deadline:
                pytest.fail("the children did not get ready")
            time.sleep(0.01)
        go.touch()
        results = []
        for proc in procs:
            out, err = proc.communicate(timeout=max(1.0, deadline - time.monotonic()))
            if proc.returncode != 0:
                pytest.fail(f"a child exited with {proc.returncode}; stderr:\n{err}")
            results.append(last_json(out))
        return results
    except subprocess.TimeoutExpired:
        pytest.fail("a child compiling into the shared cache hung")
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()


@pytest.mark.slow
def test_processes_on_a_cold_cache_compile_each_kernel_once(tmp_path):
    cache = tmp_path / "cache"
    script = write_script(tmp_path, COMPILE_SCRIPT)
    results = _start_together(script, cache, 3, tmp_path)

    cache_dirs = {r["cache_dir"] for r in results}
    assert len(cache_dirs) == 1
    (cache_path,) = cache_dirs
    assert cache_path == str(cache / results[0]["expected_name"])
    for label in LABELS:
        per_process = [r["kernels"][label] for r in results]
        assert all(k["locking"] for k in per_process)
        assert sum(k["misses"] for k in per_process) == 1, (label, per_process)
        assert sum(k["hits"] for k in per_process) == 2, (label, per_process)
        assert all(k["misses"] + k["hits"] == 1 for k in per_process), (label, per_process)
        lock = Path(per_process[0]["lock"])
        assert lock.is_file() and str(lock.parent) == cache_path
    assert any(name.endswith(".nbi") for name in os.listdir(cache_path))

    # a later process finds everything in the cache, and the kernels work
    (tmp_path / "go").touch()
    proc = run_script(script, tmp_path / "ready_check", tmp_path / "go", "check",
                      env=child_env(FASTNN_CACHE_DIR=cache))
    later = last_json(proc.stdout)
    assert later["cache_dir"] == cache_path
    for label in LABELS:
        assert later["kernels"][label]["misses"] == 0, label
        assert later["kernels"][label]["hits"] == 1, label
    checks = later["checks"]
    assert checks["float32"] == checks["float64"] == [True, False, False]
    assert checks["shuffle"] is True
    assert checks["misses_after_calls"] == 0


# ---------------------------------------------------------------------------
# The lock
# ---------------------------------------------------------------------------

TRY_LOCK_SCRIPT = """
import fcntl
import json
import sys

with open(sys.argv[1], "a+b") as f:
    try:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        print(json.dumps({"acquired": False}))
    else:
        fcntl.flock(f.fileno(), fcntl.LOCK_UN)
        print(json.dumps({"acquired": True}))
"""


@pytest.mark.skipif(sys.platform == "win32", reason="fcntl locks")
def test_file_lock_excludes_other_processes(tmp_path):
    script = write_script(tmp_path, TRY_LOCK_SCRIPT)
    path = tmp_path / "kernel.lock"

    def other_process_acquires():
        return last_json(run_script(script, path).stdout)["acquired"]

    with _cache.file_lock(path):
        assert path.exists()
        assert not other_process_acquires()
    assert other_process_acquires()

    # released when the block raises, too
    with pytest.raises(RuntimeError), _cache.file_lock(path):
        assert not other_process_acquires()
        raise RuntimeError
    assert other_process_acquires()


# ---------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------

_LOAD_CHILD = r"""
import json

import numpy as np
from numba.core.registry import cpu_target

import fastnn

rng = np.random.RandomState(0)
X = rng.normal(size=(100, 4))
y = X[:, 0] > 0
refreshes = []
if __import__("sys").argv[1] == "record":
    refresh = cpu_target.target_context.refresh
    cpu_target.target_context.refresh = lambda: refreshes.append(1) or refresh()
model = fastnn.MLPClassifier((8,), max_iter=3, random_state=0).fit(X, y)
print(json.dumps({"refreshes": len(refreshes), "score": model.score(X, y)}))
"""


@pytest.mark.slow
def test_loading_compiled_kernels_does_not_refresh_numbas_context(tmp_path):
    """The refresh (importing and registering everything Numba can compile)
    is half of a warm first fit's time; loading needs none of it, and the
    kernels loaded without it train the same model."""
    env = child_env(FASTNN_CACHE_DIR=tmp_path / "cache", FASTNN_BACKGROUND_COMPILE="0")
    script = write_script(tmp_path, _LOAD_CHILD)
    compiled = last_json(run_script(script, "compile", env=env, timeout=900).stdout)
    loaded = last_json(run_script(script, "record", env=env).stdout)
    assert loaded == {"refreshes": 0, "score": compiled["score"]}


def test_the_loader_is_numbas_where_its_internals_differ():
    class Cache:
        def load_overload(self, sig, target_context):
            return "compiled"

    cache = Cache()
    assert _cache._loader(cache)((), None) == "compiled"
