#!/usr/bin/env python
"""Epoch time of a tabular network whose categorical columns are embedded, against one-hot.

    python benchmarks/embeddings.py [--rows 20000] [--categories 40,100,1000]
                                    [--epochs 3] [--rounds 3] [--threads 2]

The table: 8 numeric columns and 2 categorical columns of ``C`` values each
(binary labels that depend on both).  ``TabularMLPClassifier`` at its
defaults (but no early stopping) trains on it twice: with the categorical
columns embedded (``max_categories=32`` < ``C``: a learned table of
``embedding_size`` values per category, looked up on the forward pass and
scatter-added into on the backward pass) and one-hot (``max_categories=C +
1``: ``C`` input columns each).  Everything else (the numeric columns'
encoding, the network) is the same.  An epoch is timed as in
``benchmarks/heads.py``; each round trains both once, in turn, and the table
gives the median over the rounds.
"""

import argparse
import statistics

import numpy as np
import pandas as pd
from heads import epoch_seconds


def make_table(n_rows, n_categories, seed=0):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.standard_normal((n_rows, 8)).astype(np.float32),
                     columns=[f"x{i}" for i in range(8)])
    logit = X["x0"] - X["x1"] * X["x2"]
    for name in ("a", "b"):
        codes = rng.integers(0, n_categories, n_rows)
        logit += rng.standard_normal(n_categories)[codes]
        X[name] = pd.Categorical([f"{name}{c}" for c in codes])
    y = (logit + 0.5 * rng.standard_normal(n_rows) > 0).astype(np.int64)
    return X, y


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=20_000)
    p.add_argument("--categories", default="40,100,1000")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()

    from fastnn import TabularMLPClassifier

    def model(max_categories):
        return lambda max_iter: TabularMLPClassifier(
            max_categories=max_categories, max_iter=max_iter, early_stopping=False,
            random_state=0, n_jobs=args.threads)

    print(f"{args.rows:,} rows, 8 numeric and 2 categorical columns, {args.threads} threads; "
          f"median of {args.rounds} rounds of {args.epochs} epochs")
    print()
    print("| categories per column | embedded s/epoch | one-hot s/epoch | embedded / one-hot |")
    print("|---:|---:|---:|---:|")
    for n_categories in (int(c) for c in args.categories.split(",")):
        X, y = make_table(args.rows, n_categories)
        variants = {"embedded": model(32), "one-hot": model(n_categories + 1)}
        for make in variants.values():
            make(1).fit(X, y)  # compile or load the kernels
        times = {name: [] for name in variants}
        for _ in range(args.rounds):
            for name, make in variants.items():
                times[name].append(epoch_seconds(make, X, y, args.epochs))
        emb, hot = (statistics.median(times[name]) for name in variants)
        print(f"| {n_categories:,} | {emb:.3f} | {hot:.3f} | {emb / hot:.2f} |", flush=True)


if __name__ == "__main__":
    main()
