#!/usr/bin/env python
"""Epoch time of an ensemble of ``k`` heads: fastnn's ``n_heads`` against TabM in PyTorch.

    python benchmarks/heads.py [--rows 20000] [--features 16] [--hidden 256,256]
                               [--heads 32] [--batch 256] [--epochs 3] [--rounds 3]
                               [--threads 2] [--dtype auto]

Both train the same ensemble on the same synthetic numeric table (binary
labels): every row's ``k`` copies scaled by their own adapter, the hidden
layers shared (ReLU, dropout 0.1), ``k`` output layers, the mean of the ``k``
cross-entropies, AdamW at lr 1e-3 and weight decay 0.02; PyTorch in
float32, fastnn in ``--dtype`` (its default "auto": bfloat16 products on
CPUs with AVX512_BF16, float32 on the others):

* fastnn: ``TabularMLPClassifier(n_heads=k)`` with its table encoding reduced
  to the scaled columns (``n_bins=0``, ``embedding_size=0``,
  ``column_scaling=False``), so that its network has the shape of TabM's;
* ``tabm-mini``: the ``tabm`` package's ``TabM.make(arch_type="tabm-mini")``,
  the same architecture (adapters on the input only);
* ``tabm``: its default architecture, BatchEnsemble adapters in every
  hidden layer as well (more work per row; for reference).

PyTorch (``torch.set_num_threads``) and fastnn (``n_jobs``) run on the same
threads.  An epoch of fastnn is the difference between a fit of ``1 +
epochs`` and a fit of 1 epoch, over ``epochs``: the encoding, the split and
the first epoch's fixed costs cancel out.  PyTorch's is timed in its loop
over shuffled mini-batches.  Each round times every model once, in turn;
the table gives the median over the rounds and the ratio to fastnn.
Needs ``pip install torch==2.13.0 tabm`` (CPU build).
"""

import argparse
import statistics
import time

import numpy as np


def make_table(n_rows, n_features, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_rows, n_features)).astype(np.float32)
    w = rng.standard_normal(n_features)
    y = (np.sin(X @ w) + 0.3 * rng.standard_normal(n_rows) > 0).astype(np.int64)
    return X, y


def epoch_seconds(make_model, X, y, epochs):
    """Seconds per epoch of ``make_model(max_iter).fit(X, y)``: the difference
    between a fit of ``1 + epochs`` and one of 1 epoch, over ``epochs``."""
    def fit(max_iter):
        model = make_model(max_iter)
        start = time.perf_counter()
        model.fit(X, y)
        return time.perf_counter() - start

    return (fit(1 + epochs) - fit(1)) / epochs


def fastnn_epoch(X, y, args):
    from fastnn import TabularMLPClassifier

    return epoch_seconds(lambda max_iter: TabularMLPClassifier(
        hidden_layer_sizes=args.hidden, activation="relu", dropout=0.1, solver="adamw",
        learning_rate="constant", weight_decay=0.02, label_smoothing=0.0,
        batch_size=args.batch, max_iter=max_iter, early_stopping=False, n_bins=0,
        embedding_size=0, column_scaling=False, n_heads=args.heads, random_state=0,
        n_jobs=args.threads, dtype=args.dtype), X, y, args.epochs)


def torch_epoch(X, y, args, arch_type):
    import tabm
    import torch

    torch.manual_seed(0)
    model = tabm.TabM.make(
        n_num_features=X.shape[1], d_out=2, n_blocks=len(args.hidden),
        d_block=args.hidden[0], dropout=0.1, activation="ReLU", k=args.heads,
        arch_type=arch_type, start_scaling_init="random-signs")
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.02)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    k = args.heads

    def epoch():
        model.train()
        for idx in torch.randperm(len(Xt)).split(args.batch):
            out = model(x_num=Xt[idx])  # (batch, k, 2)
            loss = torch.nn.functional.cross_entropy(out.flatten(0, 1),
                                                     yt[idx].repeat_interleave(k))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

    epoch()  # warm-up
    start = time.perf_counter()
    for _ in range(args.epochs):
        epoch()
    return (time.perf_counter() - start) / args.epochs


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=20_000)
    p.add_argument("--features", type=int, default=16)
    p.add_argument("--hidden", default="256,256")
    p.add_argument("--heads", type=int, default=32)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--dtype", default="auto", help="fastnn's dtype (default: auto)")
    args = p.parse_args()
    args.hidden = tuple(int(h) for h in args.hidden.split(","))

    import torch

    torch.set_num_threads(args.threads)
    X, y = make_table(args.rows, args.features)
    fastnn_epoch(X, y, argparse.Namespace(**{**vars(args), "epochs": 1}))  # compile or load
    models = {"fastnn": lambda: fastnn_epoch(X, y, args),
              "tabm-mini": lambda: torch_epoch(X, y, args, "tabm-mini"),
              "tabm": lambda: torch_epoch(X, y, args, "tabm")}
    times = {name: [] for name in models}
    for _ in range(args.rounds):
        for name, run in models.items():
            times[name].append(run())
    print(f"{args.rows:,} rows x {args.features} features, hidden {args.hidden}, "
          f"k = {args.heads}, batch {args.batch}, {args.threads} threads; "
          f"median of {args.rounds} rounds of {args.epochs} epochs")
    print()
    print("| model | s/epoch | range | time / fastnn |")
    print("|---|---:|---|---:|")
    base = statistics.median(times["fastnn"])
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"| {name} | {med:.3f} | {min(ts):.3f} - {max(ts):.3f} | {med / base:.2f} |")


if __name__ == "__main__":
    main()
