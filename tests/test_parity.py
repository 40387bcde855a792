"""Held-out quality of fastnn against scikit-learn's MLP at the same settings.

Four classic data sets, a 75/25 split (stratified for classification), features
standardised on the training part (and, for diabetes, the target too; R^2 does
not depend on its scale), three seeds (split and model).  fastnn's mean score
must be at most ``TOLERANCE`` below scikit-learn's.

Run ``python tests/test_parity.py`` (or ``pytest -s tests/test_parity.py``)
for the table.
"""

import time
import warnings

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits, load_wine
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier as SkMLPClassifier
from sklearn.neural_network import MLPRegressor as SkMLPRegressor
from sklearn.preprocessing import StandardScaler

from fastnn import MLPClassifier, MLPRegressor

TOLERANCE = 0.02
SEEDS = (0, 1, 2)

_CLASSIFIER = {"hidden_layer_sizes": (32,), "max_iter": 300}  # Adam, scikit-learn's defaults
_REGRESSOR = {"solver": "lbfgs", "hidden_layer_sizes": (16,), "alpha": 10.0, "max_iter": 300}

# name -> (loader, is_classifier, shared parameters)
DATASETS = {
    "digits": (load_digits, True, _CLASSIFIER),
    "breast_cancer": (load_breast_cancer, True, _CLASSIFIER),
    "wine": (load_wine, True, _CLASSIFIER),
    "diabetes": (load_diabetes, False, _REGRESSOR),
}

# One thread for fastnn: results do not depend on n_jobs (tests/test_determinism.py),
# and a 2-core machine shared with other jobs makes thread start-up dominate.
_FASTNN_EXTRA = {"n_jobs": 1}


def _splits(name):
    loader, is_classifier, _ = DATASETS[name]
    X, y = loader(return_X_y=True)
    for seed in SEEDS:
        X_tr, X_te, y_tr, y_te = train_test_split(
            X, y, test_size=0.25, random_state=seed, stratify=y if is_classifier else None
        )
        scaler = StandardScaler().fit(X_tr)
        X_tr, X_te = scaler.transform(X_tr), scaler.transform(X_te)
        if not is_classifier:
            y_scaler = StandardScaler().fit(y_tr.reshape(-1, 1))
            y_tr = y_scaler.transform(y_tr.reshape(-1, 1)).ravel()
            y_te = y_scaler.transform(y_te.reshape(-1, 1)).ravel()
        yield seed, X_tr, X_te, y_tr, y_te


def evaluate(name):
    """Mean test score and total fit time of each library on ``name``."""
    _, is_classifier, params = DATASETS[name]
    libraries = {
        "sklearn": (SkMLPClassifier if is_classifier else SkMLPRegressor, {}),
        "fastnn": (MLPClassifier if is_classifier else MLPRegressor, _FASTNN_EXTRA),
    }
    scores = {lib: [] for lib in libraries}
    seconds = dict.fromkeys(libraries, 0.0)
    for seed, X_tr, X_te, y_tr, y_te in _splits(name):
        for lib, (Estimator, extra) in libraries.items():
            est = Estimator(random_state=seed, **params, **extra)
            start = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                est.fit(X_tr, y_tr)
            seconds[lib] += time.perf_counter() - start
            scores[lib].append(est.score(X_te, y_te))
    return {
        "metric": "accuracy" if is_classifier else "R^2",
        "sklearn": float(np.mean(scores["sklearn"])),
        "fastnn": float(np.mean(scores["fastnn"])),
        "sklearn_s": seconds["sklearn"],
        "fastnn_s": seconds["fastnn"],
    }


def format_row(name, r):
    return (f"{name:<14} {r['metric']:<9} sklearn {r['sklearn']:.4f}  fastnn {r['fastnn']:.4f}"
            f"  diff {r['fastnn'] - r['sklearn']:+.4f}"
            f"  fit time {r['sklearn_s']:.2f}s / {r['fastnn_s']:.2f}s")


HEADER = (f"parity over seeds {SEEDS}: mean test score, fastnn may be at most "
          f"{TOLERANCE} below scikit-learn")


@pytest.mark.parametrize("name", list(DATASETS))
def test_parity_with_sklearn(name):
    result = evaluate(name)
    print("\n" + format_row(name, result))
    assert result["fastnn"] >= result["sklearn"] - TOLERANCE, format_row(name, result)
    # and the models did learn something
    floor = {"digits": 0.9, "breast_cancer": 0.9, "wine": 0.9, "diabetes": 0.3}[name]
    assert result["fastnn"] > floor


if __name__ == "__main__":
    print(HEADER)
    for dataset in DATASETS:
        print(format_row(dataset, evaluate(dataset)), flush=True)
