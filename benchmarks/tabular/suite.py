#!/usr/bin/env python
"""Benchmark suite: tabular models against HistGradientBoosting on real tables.

    python benchmarks/tabular/suite.py [--datasets adult,churn|check] [--models hgb,tabular]
                                       [--seeds 3] [--max-rows 60000] [--threads 2]
                                       [--data-home DIR] [--json PATH]

The data sets (``datasets.py``) are the six of the development suite, on
which the tabular estimators' defaults were chosen, or with ``--datasets
check`` eight other tables, which check that they hold beyond those six.
Protocol, for every data set and model (``MODELS``):

* seeds 0 .. ``--seeds``-1; for each seed the rows are first capped at
  ``--max-rows`` (a random subsample drawn with that seed, stratified for
  classification; the data sets all have fewer than the default 60,000
  rows), then split 80/20 into train and test with ``train_test_split``
  (stratified for classification, ``random_state=seed``);
* the model, built with ``random_state=seed``, is fitted on the raw training
  DataFrame (categorical columns as ``category`` dtype, NaN for missing);
  models that need numbers get the standard pipeline: median imputation with
  missing-value indicators and standardisation for numeric columns,
  most-frequent imputation and one-hot encoding for categorical ones, and a
  standardised target for regression;
* score on the test rows: accuracy for classification, R^2 for regression;
* fit time: wall-clock seconds of ``fit``, with at most ``--threads`` threads
  (threadpoolctl bounds BLAS and OpenMP; models with a thread parameter get
  it too).  Before the timed fits every model is fitted once, untimed, on a
  few hundred training rows of each data set, so that one-off costs
  (imports, compiling or loading fastnn's Numba kernels) do not land on the
  first timed fit;
* single-row latency, once per model and data set (seed 0): the median time
  of a call of ``predict_proba`` (``predict`` for regression) on a 1-row
  DataFrame, after 10 untimed calls, over at least 20 calls and otherwise
  a second of them (``benchmarks/timing.py``).

Output: a markdown table per data set (score mean ± sample standard deviation
over seeds, mean fit seconds, single-row latency), then a summary table per
model: its mean score on every data set, on how many data sets it beats hgb's
mean score, its mean score over the data sets next to hgb's on the same data
sets, and the median over data sets of its fit time divided by hgb's.
``--json PATH`` writes every raw result (data set, model, seed: score,
fit_s, predict_1row_s) with the settings and library versions.

Models that cannot be imported (``tabular`` until fastnn has
``TabularMLPClassifier``; ``realmlp`` without pytabkit) are skipped with a
message; a model that fails on a data set is reported and the run goes on.
"""

import argparse
import json
import os
import platform
import statistics
import sys
import time
import warnings

import numpy as np
from sklearn.compose import ColumnTransformer, TransformedTargetRegressor, make_column_selector
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.impute import SimpleImputer
from sklearn.metrics import accuracy_score, r2_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from threadpoolctl import threadpool_limits

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

if os.path.dirname(HERE) not in sys.path:
    sys.path.insert(0, os.path.dirname(HERE))

import datasets  # noqa: E402  (benchmarks/tabular/datasets.py)
from benchmarks.timing import single_row_latency_us  # noqa: E402

WARMUP_ROWS = 300
LATENCY_CALLS = 20  # at least; more within a second (``single_row_latency_us``)


# -- models: name -> factory(task, seed, threads) -> unfitted estimator --------------


def standard_pipeline(model, task):
    """Wrap ``model`` in the usual preprocessing for models that need numbers.

    Numeric columns: median imputation (with missing-value indicators) and
    standardisation; categorical columns: most-frequent imputation and dense
    one-hot encoding (unknown categories ignored).  For regression the model
    is fitted on the standardised target.
    """
    numeric = make_pipeline(SimpleImputer(strategy="median", add_indicator=True), StandardScaler())
    categorical = make_pipeline(
        SimpleImputer(strategy="most_frequent"),
        OneHotEncoder(handle_unknown="ignore", sparse_output=False),
    )
    prep = ColumnTransformer([
        ("num", numeric, make_column_selector(dtype_exclude="category")),
        ("cat", categorical, make_column_selector(dtype_include="category")),
    ])
    if task == "regression":
        model = TransformedTargetRegressor(regressor=model, transformer=StandardScaler())
    return make_pipeline(prep, model)


def hgb(task, seed, threads):
    """HistGradientBoosting at its defaults, categories from the dtype (threads: OpenMP)."""
    cls = HistGradientBoostingRegressor if task == "regression" else HistGradientBoostingClassifier
    return cls(categorical_features="from_dtype", random_state=seed)


def sk_mlp(task, seed, threads):
    """scikit-learn's MLP at its defaults in the standard pipeline (threads: BLAS)."""
    from sklearn.neural_network import MLPClassifier, MLPRegressor

    cls = MLPRegressor if task == "regression" else MLPClassifier
    return standard_pipeline(cls(random_state=seed), task)


def fastnn_mlp(task, seed, threads):
    """fastnn's MLP at its defaults in the standard pipeline."""
    from fastnn import MLPClassifier, MLPRegressor

    cls = MLPRegressor if task == "regression" else MLPClassifier
    return standard_pipeline(cls(random_state=seed, n_jobs=threads), task)


def tabular(task, seed, threads):
    """fastnn's tabular MLP, fitted on the raw DataFrame."""
    from fastnn import TabularMLPClassifier, TabularMLPRegressor

    cls = TabularMLPRegressor if task == "regression" else TabularMLPClassifier
    return cls(random_state=seed, n_jobs=threads)


def realmlp(task, seed, threads, **params):
    """pytabkit's RealMLP-TD at its defaults, on the CPU, fitted on the raw
    DataFrame but for missing numbers (which it rejects): those get their
    column's training median."""
    from pytabkit import RealMLP_TD_Classifier, RealMLP_TD_Regressor

    cls = RealMLP_TD_Regressor if task == "regression" else RealMLP_TD_Classifier
    impute = ColumnTransformer(
        [("numeric", SimpleImputer(strategy="median"),
          make_column_selector(dtype_include="number"))],
        remainder="passthrough", verbose_feature_names_out=False,
    ).set_output(transform="pandas")
    return make_pipeline(impute, cls(random_state=seed, n_threads=threads, device="cpu", **params))


MODELS = {
    "hgb": hgb,
    "sk_mlp": sk_mlp,
    "fastnn_mlp": fastnn_mlp,
    "tabular": tabular,
    "realmlp": realmlp,
}


# -- protocol --------------------------------------------------------------------------


def split(X, y, task, seed, max_rows):
    """Cap the rows at ``max_rows`` (seeded subsample), then split 80/20.

    Both steps are stratified for classification.

    Returns
    -------
    X_train, X_test, y_train, y_test
    """
    classify = task != "regression"
    if len(y) > max_rows:
        X, _, y, _ = train_test_split(
            X, y, train_size=max_rows, stratify=y if classify else None, random_state=seed
        )
    return train_test_split(
        X, y, test_size=0.2, stratify=y if classify else None, random_state=seed
    )


def score(model, X, y, task):
    """Accuracy for classification, R^2 for regression."""
    metric = r2_score if task == "regression" else accuracy_score
    return float(metric(y, model.predict(X)))


def predict_1row_seconds(model, X, task):
    """Median seconds of one prediction on a 1-row DataFrame (``single_row_latency_us``)."""
    predict = model.predict if task == "regression" else model.predict_proba
    return single_row_latency_us(predict, X.iloc[:1], min_calls=LATENCY_CALLS) / 1e6


def run_one(factory, X, y, task, seed, max_rows, threads, warm_up=False, latency=False):
    """Fit and score one model on one seed's split; return a result dict."""
    X_train, X_test, y_train, y_test = split(X, y, task, seed, max_rows)
    with threadpool_limits(limits=threads), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning and the like
        if warm_up:
            factory(task, seed, threads).fit(X_train.iloc[:WARMUP_ROWS], y_train[:WARMUP_ROWS])
        model = factory(task, seed, threads)
        start = time.perf_counter()
        model.fit(X_train, y_train)
        fit_s = time.perf_counter() - start
        result = {
            "seed": seed,
            "n_train": len(y_train),
            "n_test": len(y_test),
            "score": score(model, X_test, y_test, task),
            "fit_s": fit_s,
            "predict_1row_s": predict_1row_seconds(model, X_test, task) if latency else None,
        }
    return result


def available_models(names, threads):
    """The models of ``names`` whose factory builds an estimator; say why others can't."""
    usable = []
    for name in names:
        try:
            MODELS[name]("binary", 0, threads)
        except ImportError as exc:
            print(f"skipping model {name!r}: {exc}", file=sys.stderr)
        else:
            usable.append(name)
    return usable


# -- report ----------------------------------------------------------------------------


def _mean_std(values):
    """Mean and sample standard deviation (0 for a single value)."""
    std = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
    return float(np.mean(values)), std


def dataset_table(name, task, n_rows, n_features, by_model):
    """Markdown table of one data set: score, fit time and latency per model."""
    metric = "R^2" if task == "regression" else "accuracy"
    lines = [
        f"### {name} ({task}, {n_rows} rows, {n_features} features)",
        "",
        f"| model | {metric} (mean ± std) | fit s | predict 1 row ms |",
        "| --- | --- | ---: | ---: |",
    ]
    for model, runs in by_model.items():
        ok = [r for r in runs if "error" not in r]
        if not ok:
            lines.append(f"| {model} | failed: {runs[0]['error']} | | |")
            continue
        mean, std = _mean_std([r["score"] for r in ok])
        fit = np.mean([r["fit_s"] for r in ok])
        lat = [r["predict_1row_s"] for r in ok if r["predict_1row_s"] is not None]
        lat_ms = f"{lat[0] * 1e3:.2f}" if lat else "-"
        lines.append(f"| {model} | {mean:.4f} ± {std:.4f} | {fit:.2f} | {lat_ms} |")
    return "\n".join(lines)


def summary_table(results, names, models):
    """Markdown table per model: mean score per data set and comparison with hgb."""
    def mean_of(model, name, key):
        values = [r[key] for r in results if r["dataset"] == name and r["model"] == model
                  and "error" not in r]
        return float(np.mean(values)) if values else None

    header = ["model", *names, "beats hgb", "mean score", "hgb mean", "fit time / hgb (median)"]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for model in models:
        scores = {n: mean_of(model, n, "score") for n in names}
        cells = [model] + [f"{s:.4f}" if s is not None else "-" for s in scores.values()]
        hgb_ok = {n for n in names if mean_of("hgb", n, "score") is not None}
        both = [n for n in names if scores[n] is not None and n in hgb_ok]
        own = [scores[n] for n in names if scores[n] is not None]
        if model == "hgb" or not both:
            cells += ["-", f"{np.mean(own):.4f}" if own else "-", "-", "-"]
        else:
            hgb_scores = [mean_of("hgb", n, "score") for n in both]
            wins = sum(scores[n] > h for n, h in zip(both, hgb_scores))
            ratio = statistics.median(mean_of(model, n, "fit_s") / mean_of("hgb", n, "fit_s")
                                      for n in both)
            cells += [f"{wins}/{len(both)}", f"{np.mean([scores[n] for n in both]):.4f}",
                      f"{np.mean(hgb_scores):.4f}", f"{ratio:.2f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _versions():
    """Versions of Python and of the libraries the models use."""
    import importlib.metadata as md

    names = ["numpy", "pandas", "scikit-learn", "numba", "fastnn", "pytabkit"]
    found = {}
    for n in names:
        try:
            found[n] = md.version(n)
        except md.PackageNotFoundError:
            pass
    return {"python": platform.python_version(), **found}


# -- command line ----------------------------------------------------------------------


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--datasets", default="development",
                   help="comma-separated data sets, or 'development' (the default: "
                        f"{','.join(datasets.NAMES)}) or 'check' "
                        f"({','.join(datasets.CHECK_NAMES)})")
    p.add_argument("--models", default=",".join(MODELS),
                   help=f"comma-separated models (default: all of {','.join(MODELS)})")
    p.add_argument("--seeds", type=int, default=3, help="number of seeds, 0..N-1 (default 3)")
    p.add_argument("--max-rows", type=int, default=60_000,
                   help="cap on the rows of a data set, before the split (default 60000)")
    p.add_argument("--threads", type=int, default=2, help="thread limit per fit (default 2)")
    p.add_argument("--data-home", help="data cache folder (default: datasets.py's)")
    p.add_argument("--json", metavar="PATH", help="also write the raw results as JSON here")
    args = p.parse_args(argv)
    groups = {"development": datasets.NAMES, "check": datasets.CHECK_NAMES}
    args.datasets = [n for s in args.datasets.split(",") if s for n in groups.get(s, [s])]
    args.models = [s for s in args.models.split(",") if s]
    for kind, given, known in (("data set", args.datasets, datasets.NAMES + datasets.CHECK_NAMES),
                               ("model", args.models, MODELS)):
        unknown = sorted(set(given) - set(known))
        if unknown:
            p.error(f"unknown {kind}(s) {unknown}; known: {', '.join(known)}")
    return args


def main(argv=None):
    args = parse_args(argv)
    models = available_models(args.models, args.threads)
    results = []
    for name in args.datasets:
        X, y, task = datasets.load(name, args.data_home)
        by_model = {}
        for model in models:
            runs = by_model.setdefault(model, [])
            for seed in range(args.seeds):
                print(f"{name} / {model} / seed {seed} ...", file=sys.stderr, flush=True)
                try:
                    run = run_one(MODELS[model], X, y, task, seed, args.max_rows, args.threads,
                                  warm_up=seed == 0, latency=seed == 0)
                except Exception as exc:  # noqa: BLE001  (report it, go on with the suite)
                    run = {"seed": seed, "error": f"{type(exc).__name__}: {exc}"}
                    print(f"  failed: {run['error']}", file=sys.stderr)
                runs.append(run)
                results.append({"dataset": name, "task": task, "model": model, **run})
        print(dataset_table(name, task, min(len(y), args.max_rows), X.shape[1], by_model))
        print(flush=True)
    print("### summary\n")
    print(summary_table(results, args.datasets, models))
    if args.json:
        settings = {k: getattr(args, k) for k in ("datasets", "seeds", "max_rows", "threads")}
        with open(args.json, "w") as f:
            json.dump({"settings": {**settings, "models": models},
                       "versions": _versions(), "results": results}, f, indent=1)


if __name__ == "__main__":
    main()
