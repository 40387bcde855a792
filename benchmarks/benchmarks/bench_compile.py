"""First-call costs in a fresh process: a first fit, compiling every kernel, a model reload.

Each measurement runs a new Python process so that nothing compiled or
imported by the benchmark runner is reused, with ``FASTNN_CACHE_DIR`` (where
fastnn caches its compiled kernels) set to a temporary directory.  A cold run
starts from an empty cache (every kernel is compiled: the cost a user pays on
the first run after installing or upgrading); a warm run reuses the cache the
cold one filled (kernels loaded from disk: the cost of every later run).
scikit-learn has no compilation; its numbers are the baseline.
"""

import json
import os
import subprocess
import sys
import tempfile

from .workloads import LIBRARIES

WORKLOAD = "tab-small"

# The directory holding the ``benchmarks`` package, for the children's sys.path.
BENCH_PARENT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Run in the child: build the data first (not timed), then time the import of
# the estimator's module and a one-epoch fit, then a second epoch for scale.
_CHILD = r"""
import json, sys, time, warnings
sys.path.insert(0, sys.argv[1])
from benchmarks.workloads import make_data, make_estimator
X, _, y, _ = make_data(sys.argv[2])
library = sys.argv[3]
warnings.simplefilter("ignore")
t0 = time.perf_counter()
if library == "fastnn":
    import fastnn
else:
    import sklearn.neural_network
t1 = time.perf_counter()
est = make_estimator(library, sys.argv[2], max_iter=1, warm_start=True)
est.fit(X, y)
t2 = time.perf_counter()
est.fit(X, y)
t3 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "first_fit": t2 - t1, "second_fit": t3 - t2}))
"""

# What ``python -m fastnn compile`` does (one worker process per core), timed
# from the import of fastnn.
_COMPILE_ALL = r"""
import json, time
t0 = time.perf_counter()
import fastnn
report = fastnn.compile_kernels(verbose=False)
print(json.dumps({"seconds": time.perf_counter() - t0, "variants": len(report),
                  "compiled": sum(outcome == "compiled" for _, outcome, _ in report)}))
"""

# Fit a workload's fastnn model for one epoch and save it with joblib.
_DUMP = r"""
import sys, joblib
sys.path.insert(0, sys.argv[1])
from benchmarks.workloads import make_data, make_estimator, quiet_fit
X, _, y, _ = make_data(sys.argv[2])
joblib.dump(quiet_fit(make_estimator("fastnn", sys.argv[2]), X, y), sys.argv[3])
print("{}")
"""

# Build the data (not timed), then time import + memory-mapped load + first
# predict of the test set, then a first partial_fit epoch on the training set.
_RELOAD = r"""
import json, sys, time, warnings
sys.path.insert(0, sys.argv[1])
from benchmarks.workloads import make_data
X, X_test, y, _ = make_data(sys.argv[2])
warnings.simplefilter("ignore")
t0 = time.perf_counter()
import joblib
import fastnn
est = joblib.load(sys.argv[3], mmap_mode="r")
est.predict(X_test)
t1 = time.perf_counter()
est.partial_fit(X, y)
t2 = time.perf_counter()
print(json.dumps({"load_predict": t1 - t0, "partial_fit": t2 - t1}))
"""


def run_python(code, *args, cache_dir=None, timeout=600):
    """The JSON line printed last by ``python -c code *args`` in a fresh process.

    ``cache_dir`` sets the child's ``FASTNN_CACHE_DIR``; the child is killed
    after ``timeout`` seconds.
    """
    env = dict(os.environ)
    if cache_dir is not None:
        env["FASTNN_CACHE_DIR"] = cache_dir
    out = subprocess.run(
        [sys.executable, "-c", code, *args],
        env=env, capture_output=True, text=True, timeout=timeout, check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"child process failed ({out.returncode}):\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_child(library, workload=WORKLOAD, cache_dir=None, timeout=600):
    """Timings (seconds) from a fresh process; ``cache_dir`` sets FASTNN_CACHE_DIR."""
    return run_python(_CHILD, BENCH_PARENT, workload, library, cache_dir=cache_dir,
                      timeout=timeout)


def measure(library, workload=WORKLOAD):
    """``{'cold': timings, 'warm': timings}``, each from its own fresh process."""
    with tempfile.TemporaryDirectory(prefix="fastnn-bench-cache-") as cache_dir:
        cold = run_child(library, workload, cache_dir)  # empty cache: compiles, fills it
        warm = run_child(library, workload, cache_dir)  # same cache, now populated
    return {"cold": cold, "warm": warm}


class Compile:
    """Seconds for ``import`` + first one-epoch ``fit`` in a fresh process.

    ``track_first_fit_cold``: empty fastnn cache; ``track_first_fit_warm``:
    populated cache; ``track_steady_epoch``: the second epoch in the same
    process, for scale (compile overhead ~ first fit - steady epoch).
    """

    params = ([WORKLOAD], list(LIBRARIES))
    param_names = ("workload", "library")
    timeout = 900
    unit = "seconds"

    def setup_cache(self):
        return {library: measure(library) for library in LIBRARIES}

    def setup(self, results, workload, library):
        if library not in results:
            raise NotImplementedError(f"no library {library!r}")

    @staticmethod
    def _first(t):
        return t["import"] + t["first_fit"]

    def track_first_fit_cold(self, results, workload, library):
        return self._first(results[library]["cold"])

    def track_first_fit_warm(self, results, workload, library):
        return self._first(results[library]["warm"])

    def track_steady_epoch(self, results, workload, library):
        return results[library]["warm"]["second_fit"]


class CompileAll:
    """Seconds for ``python -m fastnn compile`` (``fastnn.compile_kernels``) in a fresh process.

    ``track_compile_all_cold``: empty cache, every kernel variant compiled by
    one worker process per core; ``track_compile_all_warm``: the same command
    again on the filled cache (every variant found: checks only);
    ``track_variants``: the number of kernel variants; ``track_compiled_warm``:
    how many of them the warm run compiled (0 unless the cache is not reused).
    """

    timeout = 1800
    unit = "seconds"

    def setup_cache(self):
        with tempfile.TemporaryDirectory(prefix="fastnn-bench-cache-") as cache_dir:
            cold = run_python(_COMPILE_ALL, cache_dir=cache_dir, timeout=self.timeout)
            warm = run_python(_COMPILE_ALL, cache_dir=cache_dir)
        return {"cold": cold, "warm": warm}

    def track_compile_all_cold(self, results):
        return results["cold"]["seconds"]

    def track_compile_all_warm(self, results):
        return results["warm"]["seconds"]

    def track_variants(self, results):
        return results["cold"]["variants"]

    track_variants.unit = "variants"

    def track_compiled_warm(self, results):
        return results["warm"]["compiled"]

    track_compiled_warm.unit = "variants"


class MmapReload:
    """Seconds to reload a saved fastnn model memory-mapped and use it, in a fresh process.

    The kernels are compiled first into an empty cache (``compile_kernels``,
    as a deployment would), and a tab-small model fitted for one epoch (in
    another process, with the runner's cache) is saved with ``joblib.dump``.
    ``track_mmap_reload_predict``: import fastnn, ``joblib.load(path,
    mmap_mode="r")`` and a first ``predict`` of the test set;
    ``track_mmap_reload_partial_fit``: a first ``partial_fit`` epoch on the
    training set after that (the read-only weights are copied to train).
    fastnn only: scikit-learn has nothing to compile.
    """

    timeout = 1800
    unit = "seconds"

    def setup_cache(self):
        with tempfile.TemporaryDirectory(prefix="fastnn-bench-cache-") as tmp:
            cache_dir = os.path.join(tmp, "cache")
            model = os.path.join(tmp, "model.joblib")
            run_python(_COMPILE_ALL, cache_dir=cache_dir, timeout=self.timeout)
            # Fitted with the runner's own cache: whatever the fit compiles
            # stays out of the one measured, which holds compile_kernels' only.
            run_python(_DUMP, BENCH_PARENT, WORKLOAD, model, timeout=self.timeout)
            return run_python(_RELOAD, BENCH_PARENT, WORKLOAD, model, cache_dir=cache_dir)

    def track_mmap_reload_predict(self, results):
        return results["load_predict"]

    def track_mmap_reload_partial_fit(self, results):
        return results["partial_fit"]
