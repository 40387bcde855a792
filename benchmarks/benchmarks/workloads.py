"""The benchmark workloads: one table shared by asv and ``compare.py``.

Every workload is a float32 classification problem from scikit-learn's
``make_classification``, split 80/20 into training and test sets, trained
with Adam (``learning_rate_init=1e-3``) and the same mini-batch size in
every library.

asv imports this module as ``benchmarks.workloads`` (the benchmark
directory is a package); ``compare.py`` puts ``benchmarks/`` on
``sys.path`` and imports it under the same name.
"""

import functools
import warnings
from dataclasses import dataclass

import numpy as np

LIBRARIES = ("fastnn", "sklearn")

LEARNING_RATE = 1e-3
RANDOM_STATE = 0
TEST_SIZE = 0.2


@dataclass(frozen=True)
class Workload:
    name: str
    n_samples: int
    n_features: int
    n_classes: int
    hidden: tuple
    batch_size: int

    @property
    def n_train(self):
        return self.n_samples - int(np.ceil(TEST_SIZE * self.n_samples))

    @property
    def n_outputs(self):
        # scikit-learn (and fastnn) use one logistic output for two classes.
        return 1 if self.n_classes == 2 else self.n_classes

    @property
    def layer_sizes(self):
        return (self.n_features, *self.hidden, self.n_outputs)

    @property
    def macs_per_sample(self):
        """Multiply-adds of one forward pass of one sample (weights only)."""
        sizes = self.layer_sizes
        return sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))

    @property
    def flops_per_epoch(self):
        """Flops of an epoch's matrix products over the training set.

        Per multiply-add of a weight: 2 flops forward, 2 for the weight
        gradient and 2 for the delta passed to the layer below, which the
        first layer has no need of (no library computes it).
        """
        sizes = self.layer_sizes
        first = sizes[0] * sizes[1]
        return (6 * self.macs_per_sample - 2 * first) * self.n_train


_TABLE = [
    Workload("tab-small", 50_000, 20, 2, (100,), 200),
    Workload("tiny-batch", 20_000, 20, 2, (64,), 32),
    Workload("tab-medium", 100_000, 64, 10, (256, 128), 256),
    Workload("mnist-like", 60_000, 784, 10, (100,), 200),
    Workload("wide", 20_000, 256, 10, (1024, 1024), 512),
]

WORKLOADS = {w.name: w for w in _TABLE}
WORKLOAD_NAMES = tuple(WORKLOADS)


def get(name):
    try:
        return WORKLOADS[name]
    except KeyError:
        raise KeyError(f"unknown workload {name!r}; known: {', '.join(WORKLOADS)}") from None


@functools.lru_cache(maxsize=2)
def make_data(name):
    """``(X_train, X_test, y_train, y_test)`` for a workload; X is float32, C-ordered.

    Deterministic (seeded); cached so that one process builds each set once.
    The arrays are marked read-only so that no benchmark alters a shared copy.
    """
    from sklearn.datasets import make_classification
    from sklearn.model_selection import train_test_split

    w = get(name)
    # Enough informative features for n_classes clusters (make_classification
    # requires n_classes * n_clusters_per_class <= 2 ** n_informative).
    n_informative = min(w.n_features, max(4, min(32, w.n_features // 2)))
    n_redundant = min(w.n_features - n_informative, n_informative // 2)
    X, y = make_classification(
        n_samples=w.n_samples, n_features=w.n_features, n_informative=n_informative,
        n_redundant=n_redundant, n_classes=w.n_classes, n_clusters_per_class=2,
        class_sep=1.0, random_state=RANDOM_STATE,
    )
    X = X.astype(np.float32)
    arrays = train_test_split(X, y, test_size=TEST_SIZE, random_state=RANDOM_STATE,
                              stratify=y)
    arrays = [np.ascontiguousarray(a) for a in arrays]
    for a in arrays:
        a.flags.writeable = False
    return tuple(arrays)


def make_estimator(library, name, *, max_iter=1, warm_start=False, random_state=RANDOM_STATE,
                   n_jobs=None):
    """An unfitted MLPClassifier of ``library`` ('fastnn' or 'sklearn') for a workload.

    Both get the same hyper-parameters (scikit-learn's defaults otherwise);
    fastnn trains in float32 (its default dtype), and scikit-learn keeps the
    float32 input's precision.  ``n_jobs`` applies to fastnn only; bound
    scikit-learn's BLAS threads with threadpoolctl.
    """
    w = get(name)
    kwargs = dict(
        hidden_layer_sizes=w.hidden, solver="adam", learning_rate_init=LEARNING_RATE,
        batch_size=w.batch_size, max_iter=max_iter, warm_start=warm_start,
        random_state=random_state,
    )
    if library == "fastnn":
        from fastnn import MLPClassifier

        return MLPClassifier(dtype="float32", n_jobs=n_jobs, **kwargs)
    if library == "sklearn":
        from sklearn.neural_network import MLPClassifier

        return MLPClassifier(**kwargs)
    raise ValueError(f"unknown library {library!r}")


def quiet_fit(est, X, y, **kwargs):
    """``est.fit`` with ConvergenceWarning (expected: few epochs) silenced."""
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(X, y, **kwargs)


class WorkloadBenchmark:
    """Base of the asv classes parametrised by workload and library."""

    params = (list(WORKLOAD_NAMES), list(LIBRARIES))
    param_names = ["workload", "library"]
    timeout = 600

    @staticmethod
    def check_library(library):
        if library not in LIBRARIES:
            raise NotImplementedError(f"no library {library!r}")
