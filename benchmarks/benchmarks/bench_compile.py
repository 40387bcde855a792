"""First-call cost in a fresh process: import plus a one-epoch fit of tab-small.

Each measurement runs a new Python process so that nothing compiled or
imported by the benchmark runner is reused.  For fastnn it is run with an
empty ``NUMBA_CACHE_DIR`` (every kernel is compiled: the cost a user pays on
the first run after installing or upgrading) and with a warm one (kernels
loaded from Numba's on-disk cache: the cost of every later run).
scikit-learn has no compilation; its numbers are the baseline.
"""

import json
import os
import subprocess
import sys
import tempfile

from .workloads import LIBRARIES

WORKLOAD = "tab-small"

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


def run_child(library, workload=WORKLOAD, cache_dir=None, timeout=600):
    """Timings (seconds) from a fresh process; ``cache_dir`` sets NUMBA_CACHE_DIR."""
    env = dict(os.environ)
    if cache_dir is not None:
        env["NUMBA_CACHE_DIR"] = cache_dir
    bench_parent = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, bench_parent, workload, library],
        env=env, capture_output=True, text=True, timeout=timeout, check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"child process failed ({out.returncode}):\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure(library, workload=WORKLOAD):
    """``{'cold': timings, 'warm': timings}``, each from its own fresh process."""
    with tempfile.TemporaryDirectory(prefix="fastnn-bench-numba-") as cache_dir:
        cold = run_child(library, workload, cache_dir)  # empty cache: compiles, fills it
        warm = run_child(library, workload, cache_dir)  # same cache, now populated
    return {"cold": cold, "warm": warm}


class Compile:
    """Seconds for ``import`` + first one-epoch ``fit`` in a fresh process.

    ``track_first_fit_cold``: empty Numba cache; ``track_first_fit_warm``:
    populated cache; ``track_steady_epoch``: the second epoch in the same
    process, for scale (compile overhead ~ first fit - steady epoch).
    """

    params = ([WORKLOAD], list(LIBRARIES))
    param_names = ["workload", "library"]
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
