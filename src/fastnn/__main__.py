"""Demo: fastnn's MLPClassifier against scikit-learn's, on the same data and settings.

    python -m fastnn [--dataset {digits,breast_cancer,wine}] [--max-iter N] [--seed N]
                     [--n-jobs N]

(also installed as the ``fastnn-demo`` command).  ``python -m fastnn compile``
compiles every kernel into the on-disk cache instead (see
``fastnn.compile_kernels``).  Both estimators train a
one-hidden-layer network (100 units, ReLU, Adam) on the standardised data set
with a stratified 75/25 split, and the table gives test accuracy and fit time.

fastnn's kernels are compiled by Numba on first use and cached on disk, so a
short warm-up fit runs first and its time is shown on a line of its own: the
timed fits then compare training alone.
"""

import argparse
import os
import platform
import sys
import time
import warnings

import numba
import sklearn
from sklearn.datasets import load_breast_cancer, load_digits, load_wine
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier as SklearnMLPClassifier
from sklearn.preprocessing import StandardScaler

import fastnn

DATASETS = {"digits": load_digits, "breast_cancer": load_breast_cancer, "wine": load_wine}


def _timed_fit(model, X, y):
    """Fit ``model`` and return the seconds it took (convergence warnings muted)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        start = time.perf_counter()
        model.fit(X, y)
        return time.perf_counter() - start


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["compile"]:
        from ._compile import main as compile_main

        return compile_main(argv[1:])
    parser = argparse.ArgumentParser(
        prog="python -m fastnn",
        description="Train fastnn.MLPClassifier and scikit-learn's MLPClassifier"
                    " at identical settings and compare accuracy and fit time."
                    " 'python -m fastnn compile' compiles every kernel ahead of use instead.",
    )
    parser.add_argument("--dataset", choices=sorted(DATASETS), default="digits")
    parser.add_argument("--max-iter", type=int, default=200, help="maximum epochs (default 200)")
    parser.add_argument("--seed", type=int, default=0, help="random_state for split and models")
    parser.add_argument("--n-jobs", type=int, default=None,
                        help="fastnn's n_jobs (default: all cores); results do not depend on it")
    args = parser.parse_args(argv)

    X, y = DATASETS[args.dataset](return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, stratify=y, random_state=args.seed,
    )
    scaler = StandardScaler().fit(X_train)
    X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)

    settings = dict(hidden_layer_sizes=(100,), solver="adam", random_state=args.seed)

    print(f"fastnn {fastnn.__version__}, scikit-learn {sklearn.__version__}, "
          f"numba {numba.__version__}, Python {platform.python_version()}, "
          f"{os.cpu_count()} CPU cores")
    print(f"data set: {args.dataset}, {X_train.shape[0]} train / {X_test.shape[0]} test rows, "
          f"{X.shape[1]} features, {len(set(y))} classes")

    # Warm-up: compiles fastnn's kernels (or loads them from Numba's disk
    # cache) on the same shapes as the timed fit, prediction included.
    start = time.perf_counter()
    warm = fastnn.MLPClassifier(**settings, max_iter=2, n_jobs=args.n_jobs)
    _timed_fit(warm, X_train, y_train)
    warm.predict(X_test)
    print(f"fastnn warm-up (Numba JIT compilation or cache load): "
          f"{time.perf_counter() - start:.2f} s\n")

    rows = []
    for name, model in [
        ("fastnn", fastnn.MLPClassifier(**settings, max_iter=args.max_iter, n_jobs=args.n_jobs)),
        ("scikit-learn", SklearnMLPClassifier(**settings, max_iter=args.max_iter)),
    ]:
        seconds = _timed_fit(model, X_train, y_train)
        rows.append((name, model.score(X_test, y_test), seconds, model.n_iter_))

    print(f"{'library':<14}{'test acc':>10}{'fit (s)':>10}{'epochs':>8}{'ms/epoch':>10}")
    for name, acc, seconds, epochs in rows:
        print(f"{name:<14}{acc:>10.4f}{seconds:>10.3f}{epochs:>8d}"
              f"{1000 * seconds / epochs:>10.2f}")
    per_epoch = [seconds / epochs for _, _, seconds, epochs in rows]
    print(f"\ntime per epoch, scikit-learn / fastnn: {per_epoch[1] / per_epoch[0]:.2f}"
          " (fastnn in float32, scikit-learn in float64)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
