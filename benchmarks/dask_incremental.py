#!/usr/bin/env python
"""Training rows per second: ``dask_ml.wrappers.Incremental`` against in-memory ``fit``.

The same synthetic data (``--rows`` x 20 float32 features, two classes)
trains tab-small's network (20 -> 100 relu -> 2 classes, Adam, batch 200)
for ``--epochs`` epochs in three ways, taking turns over ``--rounds`` rounds:

* ``fit``: the NumPy arrays in memory, ``fit(max_iter=epochs)``;
* ``partial_fit``: the same arrays cut into blocks of ``--block`` rows, one
  ``partial_fit`` per block, in one process (what Incremental does, without
  Dask);
* ``Incremental``: a Dask array of those blocks on a ``LocalCluster`` (one
  worker process with every core), one ``Incremental.partial_fit`` per
  epoch, each feeding the blocks to ``partial_fit`` in turn.

Each reports rows trained per second (the best round) and its accuracy on
the training rows.  Run from the repository root::

    python benchmarks/dask_incremental.py [--rows 200000] [--block 20000]
                                          [--epochs 3] [--rounds 3]
"""

import argparse
import os
import platform
import time
import warnings

import numpy as np


def make_data(n, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 20), dtype=np.float32)
    w = rng.standard_normal(20)
    y = (np.tanh(X @ w) + 0.3 * rng.standard_normal(n) > 0).astype(np.int64)
    return X, y


def model():
    from fastnn import MLPClassifier

    return MLPClassifier((100,), batch_size=200, random_state=0)


def in_memory_fit(X, y, args):
    return model().set_params(max_iter=args.epochs).fit(X, y)


def in_memory_blocks(X, y, args):
    est, classes = model(), np.unique(y)
    for _ in range(args.epochs):
        for start in range(0, len(X), args.block):
            est.partial_fit(X[start:start + args.block], y[start:start + args.block],
                            classes=classes)
    return est


def incremental(dX, dy, args):
    from dask_ml.wrappers import Incremental

    wrapped = Incremental(model(), shuffle_blocks=False)
    for _ in range(args.epochs):
        wrapped.partial_fit(dX, dy, classes=np.array([0, 1]))
    return wrapped.estimator_


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--block", type=int, default=20_000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    warnings.simplefilter("ignore")

    import dask.array as da
    from distributed import Client, LocalCluster

    X, y = make_data(args.rows)
    cores = os.cpu_count()
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None,
                      # the worker's fits get every core (by default a worker
                      # process is limited to one thread per task)
                      env={"OMP_NUM_THREADS": str(cores)}) as cluster, Client(cluster):
        dX = da.from_array(X, chunks=(args.block, -1)).persist()
        dy = da.from_array(y, chunks=args.block).persist()
        ways = {"fit": lambda: in_memory_fit(X, y, args),
                "partial_fit": lambda: in_memory_blocks(X, y, args),
                "Incremental": lambda: incremental(dX, dy, args)}
        # warm-up: load the kernels here and in the worker
        model().set_params(max_iter=1).fit(X[:2000], y[:2000])
        incremental(dX[:args.block], dy[:args.block], argparse.Namespace(epochs=1))
        best, accuracy = {}, {}
        for _ in range(args.rounds):
            for name, run in ways.items():
                start = time.perf_counter()
                est = run()
                seconds = time.perf_counter() - start
                best[name] = min(best.get(name, np.inf), seconds)
                accuracy[name] = est.score(X, y)

    print(f"{platform.processor() or platform.machine()}, {cores} cores;"
          f" {args.rows} rows x 20, blocks of {args.block}, {args.epochs} epochs,"
          f" best of {args.rounds}")
    print(f"{'way':<12} {'seconds':>8} {'rows/s':>11} {'accuracy':>9}")
    for name in ways:
        rate = args.rows * args.epochs / best[name]
        print(f"{name:<12} {best[name]:8.2f} {rate:11,.0f} {accuracy[name]:9.4f}")


if __name__ == "__main__":
    main()
