#!/usr/bin/env python
"""Compare fastnn with scikit-learn's MLP and PyTorch (CPU, eager) on the same data.

    python benchmarks/compare.py [--workloads tab-small,wide] [--epochs N]
                                 [--threads N] [--json results.json]
                                 [--variant NAME:param=value[,param=value...]]...

For each workload (the table in ``benchmarks/benchmarks/workloads.py``, shared
with the asv benchmarks) every library trains the same MLP on the same float32
data with Adam (lr 1e-3) and the same mini-batch size, in this one process and
on the same number of threads:

* fastnn: ``n_jobs=threads`` (Numba threads; fastnn keeps BLAS serial inside
  its kernels);
* scikit-learn: BLAS threads bounded by threadpoolctl;
* PyTorch (only if ``import torch`` works): ``torch.set_num_threads``; a plain
  ``nn.Sequential`` of Linear+ReLU layers, ``CrossEntropyLoss`` (or
  ``BCEWithLogitsLoss`` for two classes, one output as in scikit-learn),
  manual batching over a shuffled index, no DataLoader;
* ``torch-bf16``: the same PyTorch model under CPU mixed precision,
  ``torch.autocast("cpu", dtype=torch.bfloat16)`` around the forward pass
  and the loss (bf16 products, float32 weights and optimizer), as PyTorch
  users train on CPUs with AVX512_BF16 or AMX;
* ``torch-cuda`` (only where PyTorch sees a GPU): the same float32 model on
  the GPU, with the data, the shuffling and every batch on the device; its
  epoch ends with ``torch.cuda.synchronize()``.  Its "% peak" is left out
  (the peak is the CPU's).

An epoch of fastnn and scikit-learn is one ``partial_fit`` call (the same
mini-batch semantics in both; the Adam state carries over between calls).
The first ``--warmup`` epochs are not timed (fastnn compiles, or loads its
kernels from Numba's cache, on the first); the reported time is the median of
the next ``--epochs`` epochs, and test accuracy is taken after all of them, so
every library has trained for the same number of epochs.  The timed epochs
are interleaved: each round runs one epoch of every library, in an order
that rotates from round to round, so that a machine whose speed drifts
(a shared virtual machine) slows every library alike rather than whichever
happened to run during a slow spell.

GFLOP/s counts the flops of the matrix products an epoch needs: per weight
multiply-add and training sample, 2 forward, 2 for the weight gradient and 2
for the delta sent down (except into the input layer, which needs none).
"% peak" divides it by the float32 GEMM rate NumPy reaches on a 1024x1024
product on the same threads: the median of measurements taken at the start
of every round (a shared or throttled machine changes speed within a run).
Differences the table does not hide: scikit-learn and fastnn add an L2 penalty
(alpha=1e-4) and use Glorot initialisation; the PyTorch model has no weight
decay and PyTorch's default initialisation.

``--variant NAME:param=value[,param=value...]`` (repeatable) adds a fastnn
runner built like the plain one and then given those estimator parameters
(each value read by ``ast.literal_eval``, else kept as a string), e.g.
``--variant gelu:activation=gelu --variant drop:dropout=0.2,solver=nadam``.
Variants train in the same interleaved rounds as the libraries; the table and
the JSON give their time relative to plain fastnn (``time / fastnn``,
``time_vs_fastnn``).  A variant with no parameters (``--variant again:``) is a
second plain fastnn: the spread between the two shows the noise.  GFLOP/s
counts the workload's network, whatever a variant changes.
"""

import argparse
import ast
import json
import os
import platform
import re
import statistics
import sys
import threading
import time
import warnings

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

from benchmarks.workloads import (  # noqa: E402
    LEARNING_RATE,
    WORKLOADS,
    get,
    make_data,
    make_estimator,
)
from benchmarks.timing import batch_rows_per_s, single_row_latency_us  # noqa: E402

TORCH_LIBRARIES = ("torch", "torch-bf16", "torch-cuda")
ALL_LIBRARIES = ("fastnn", "sklearn", *TORCH_LIBRARIES)


# ---------------------------------------------------------------------------
# measurements
# ---------------------------------------------------------------------------


def gemm_peak_gflops(n=1024, repeats=10):
    """Best float32 ``a @ b`` rate (GFLOP/s) of NumPy's BLAS at n x n."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    out = np.empty((n, n), dtype=np.float32)
    np.matmul(a, b, out=out)  # warm-up
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        np.matmul(a, b, out=out)
        best = min(best, time.perf_counter() - t0)
    return 2.0 * n**3 / best / 1e9


# ---------------------------------------------------------------------------
# the libraries, behind one small interface
# ---------------------------------------------------------------------------


class SklearnLike:
    """fastnn or scikit-learn: one epoch is one ``partial_fit`` call."""

    def __init__(self, library, w, X, y, threads, params=None):
        # A RandomState instance (not an int) so that every partial_fit call
        # continues the stream: a new shuffle each epoch, as in one long fit.
        self.est = make_estimator(library, w.name, max_iter=1,
                                  random_state=np.random.RandomState(0), n_jobs=threads)
        if params:
            self.est.set_params(**params)
        self.X, self.y = X, y
        self.classes = np.unique(y)

    def epoch(self):
        self.est.partial_fit(self.X, self.y, classes=self.classes)

    def accuracy(self, X, y):
        return float(self.est.score(X, y))

    def predict_proba(self, X):
        return self.est.predict_proba(X)

    def predict(self, X):
        return self.est.predict(X)


class TorchMLP:
    """PyTorch eager: nn.Sequential of Linear+ReLU, Adam, manual mini-batches;
    with ``bf16``, the forward pass and the loss under CPU bfloat16 autocast;
    with ``device="cuda"``, model, data and shuffling on the GPU in float32
    (PyTorch's defaults: no TF32 products), the epoch timed up to
    ``torch.cuda.synchronize()``."""

    def __init__(self, w, X, y, threads, bf16=False, device="cpu"):
        import contextlib

        import torch
        from torch import nn

        self.torch = torch
        self.device = torch.device(device)
        self.precision = ((lambda: torch.autocast("cpu", dtype=torch.bfloat16)) if bf16
                          else contextlib.nullcontext)
        torch.set_num_threads(threads)
        torch.manual_seed(0)
        sizes = w.layer_sizes
        layers = []
        for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            layers.append(nn.Linear(fan_in, fan_out))
            if i < len(sizes) - 2:
                layers.append(nn.ReLU())
        self.model = nn.Sequential(*layers).to(self.device)
        self.opt = torch.optim.Adam(self.model.parameters(), lr=LEARNING_RATE,
                                    betas=(0.9, 0.999), eps=1e-8)
        self.binary = w.n_outputs == 1
        self.X = torch.from_numpy(np.array(X, dtype=np.float32)).to(self.device)
        if self.binary:
            y = torch.from_numpy(np.array(y, dtype=np.float32).reshape(-1, 1))
            self.loss_fn = nn.BCEWithLogitsLoss()
        else:
            y = torch.from_numpy(np.array(y, dtype=np.int64))
            self.loss_fn = nn.CrossEntropyLoss()
        self.y = y.to(self.device)
        self.batch_size = w.batch_size
        self.gen = torch.Generator(device=self.device).manual_seed(0)

    def _synchronize(self):
        if self.device.type == "cuda":
            self.torch.cuda.synchronize(self.device)

    def epoch(self):
        torch, model, opt = self.torch, self.model, self.opt
        model.train()
        n = self.X.shape[0]
        perm = torch.randperm(n, generator=self.gen, device=self.device)
        for start in range(0, n, self.batch_size):
            idx = perm[start:start + self.batch_size]
            opt.zero_grad(set_to_none=True)
            with self.precision():
                loss = self.loss_fn(model(self.X[idx]), self.y[idx])
            loss.backward()
            opt.step()
        self._synchronize()

    def _logits(self, X):
        self.model.eval()
        X = self.torch.from_numpy(np.asarray(X, dtype=np.float32)).to(self.device)
        with self.torch.inference_mode(), self.precision():
            z = self.model(X)
        return z.float().cpu()

    def predict_proba(self, X):
        z = self._logits(X)
        if self.binary:
            p = self.torch.sigmoid(z).numpy().ravel()
            return np.column_stack([1 - p, p])
        return self.torch.softmax(z, dim=1).numpy()

    def predict(self, X):
        z = self._logits(X)
        if self.binary:
            return (z.numpy().ravel() > 0).astype(np.int64)
        return z.argmax(dim=1).numpy()

    def accuracy(self, X, y):
        return float(np.mean(self.predict(X) == np.asarray(y)))


def torch_available(cuda=False):
    """Whether ``import torch`` works (and, with ``cuda``, whether it sees a GPU)."""
    try:
        import torch
    except Exception:
        return False
    return bool(torch.cuda.is_available()) if cuda else True


def make_runner(library, w, X_train, y_train, threads, params=None):
    if library in TORCH_LIBRARIES:
        return TorchMLP(w, X_train, y_train, threads, bf16=library == "torch-bf16",
                        device="cuda" if library == "torch-cuda" else "cpu")
    return SklearnLike(library, w, X_train, y_train, threads, params)


def parse_variant(text):
    """``"NAME:param=value[,param=value...]"`` -> ``(NAME, {param: value})``.

    Values are Python literals where ``ast.literal_eval`` reads them, strings
    otherwise; a comma splits parameters only before ``name=``, so tuples
    such as ``hidden_layer_sizes=(64, 64)`` stay whole.
    """
    name, sep, spec = text.partition(":")
    name = name.strip()
    if not name or not sep:
        raise ValueError(f"expected NAME:param=value[,param=value...], got {text!r}")
    params = {}
    for item in re.split(r",\s*(?=[A-Za-z_]\w*\s*=)", spec.strip()):
        if not item.strip():
            continue
        key, eq, value = item.partition("=")
        if not eq or not key.strip().isidentifier():
            raise ValueError(f"variant {name!r}: expected param=value, got {item!r}")
        try:
            params[key.strip()] = ast.literal_eval(value.strip())
        except (ValueError, SyntaxError):
            params[key.strip()] = value.strip()
    return name, params


def settle(seconds, threads):
    """Keep ``threads`` cores busy for ``seconds`` with work that uses no thread pool.

    Between two libraries' epochs the idle threads of the one that ran last
    (or of the GEMM) must time out, or they would take cores from the next
    one: OpenBLAS's spin for about 0.1 s.  Waiting in ``time.sleep`` lets
    them, but on the 2-core virtual machine of the README the work right
    after a sleep ran slower: tab-small's fastnn epoch took 4.9 ms back to
    back, 8.7-9.0 ms right after a 0.3 s sleep and 6.0-6.6 ms right after
    0.3 s of this busy wait -- a penalty that falls on whichever library has
    the shortest epoch.  So the cores are kept busy instead, by plain Python
    threads running NumPy element-wise loops (which release the GIL).
    """
    if seconds <= 0:
        return
    end = time.perf_counter() + seconds

    def spin():
        a = np.linspace(0.0, 1.0, 20_000)
        b = np.empty_like(a)
        while time.perf_counter() < end:
            np.exp(a, out=b)

    workers = [threading.Thread(target=spin) for _ in range(threads)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()


def timed(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def bench_workload(w, data, libraries, *, threads, warmup, epochs, settle_s=0.0,
                   variants=None):
    """Train every library (and fastnn variant) on ``data``, their timed epochs interleaved.

    Round ``i`` measures the GEMM peak, then runs one epoch of each library
    (the order rotating from round to round), so that every library, and the
    peak, sees the same phases of a machine whose speed drifts.  ``variants``
    maps a name to fastnn estimator parameters: one more runner each, in the
    same rounds.  Returns the per-runner results (``time_vs_fastnn`` for all
    but fastnn) and the median of the peak measurements.

    Each timed epoch starts ``settle_s`` seconds after the previous one ends,
    seconds in which ``settle`` keeps the cores busy: the thread pools of the
    library (or of the GEMM) that ran last keep their idle threads spinning
    for a while (OpenBLAS up to 2**28 cycles, about 0.1 s), and on a small
    machine they would take cores from the next library.
    """
    X_train, X_test, y_train, y_test = data
    X_test = np.array(X_test)  # a writable copy (the shared arrays are read-only)
    runners, results = {}, {}

    def fail(library, exc):
        runners.pop(library, None)
        results[library] = {"error": f"{type(exc).__name__}: {exc}"}

    variants = variants or {}
    specs = [(lib, lib, None) for lib in libraries]
    specs += [(name, "fastnn", params) for name, params in variants.items()]
    for library, kind, params in specs:
        try:
            runner = make_runner(kind, w, X_train, y_train, threads, params)
            warmup_s = sum(timed(runner.epoch) for _ in range(warmup))
        except Exception as exc:  # report and go on with the others
            fail(library, exc)
            continue
        runners[library] = runner
        results[library] = {"warmup_s": warmup_s, "epoch_times": []}
    peaks = []
    for i in range(epochs):
        peaks.append(gemm_peak_gflops())
        order = list(runners)
        k = i % len(order) if order else 0
        for library in order[k:] + order[:k]:
            settle(settle_s, threads)
            try:
                results[library]["epoch_times"].append(timed(runners[library].epoch))
            except Exception as exc:
                fail(library, exc)
    row = X_test[:1].copy()
    for library, runner in list(runners.items()):
        r = results[library]
        r["s_per_epoch"] = statistics.median(r["epoch_times"])
        r["gflops"] = w.flops_per_epoch / r["s_per_epoch"] / 1e9
        try:
            r["test_accuracy"] = runner.accuracy(X_test, y_test)
            r["predict_proba_1row_us"] = single_row_latency_us(runner.predict_proba, row)
            r["predict_rows_per_s"] = batch_rows_per_s(runner.predict, X_test)
        except Exception as exc:
            fail(library, exc)
    base = results.get("fastnn", {}).get("s_per_epoch")
    for library, r in results.items():
        if library != "fastnn" and base and "s_per_epoch" in r and "error" not in r:
            r["time_vs_fastnn"] = r["s_per_epoch"] / base
    # in the order asked for, fastnn (the reference of the ratios) first, variants last
    names = [*libraries, *variants]
    return {lib: results[lib] for lib in names if lib in results}, statistics.median(peaks)


# ---------------------------------------------------------------------------
# report
# ---------------------------------------------------------------------------


def markdown_table(w, results, peak, epochs, warmup, variants=None):
    lines = [
        f"### {w.name}: {w.n_train:,} train rows x {w.n_features} features, "
        f"{w.n_classes} classes, hidden {w.hidden}, batch {w.batch_size}; "
        f"{w.flops_per_epoch / 1e9:.2f} GFLOP/epoch",
        "",
        f"GEMM peak (median over the rounds): {peak:.1f} GFLOP/s; median of {epochs} epoch(s)"
        f" after {warmup} warm-up, the libraries' epochs interleaved;"
        f" accuracy after {warmup + epochs} epochs",
        "",
        "| library | s/epoch | time / fastnn | GFLOP/s | % of GEMM peak | test acc "
        "| predict_proba 1 row (us) | predict (rows/s) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    variants = variants or {}
    for library, r in results.items():
        label = library
        if library in variants:
            given = variants[library].items()
            label += " (fastnn" + "".join(f", {k}={v!r}" for k, v in given) + ")"
        if "error" in r:
            lines.append(f"| {label} | error: {r['error']} | | | | | | |")
            continue
        ratio = "1.00" if library == "fastnn" else (
            f"{r['time_vs_fastnn']:.2f}" if "time_vs_fastnn" in r else "-")
        share = "GPU" if library == "torch-cuda" else f"{100 * r['gflops'] / peak:.1f}%"
        lines.append(
            f"| {label} | {r['s_per_epoch']:.4f} | {ratio} | {r['gflops']:.1f} "
            f"| {share} | {r['test_accuracy']:.4f} "
            f"| {r['predict_proba_1row_us']:.1f} | {r['predict_rows_per_s']:,.0f} |"
        )
    return "\n".join(lines)


def versions():
    import numba
    import sklearn

    import fastnn

    v = {"python": platform.python_version(), "numpy": np.__version__,
         "numba": numba.__version__, "sklearn": sklearn.__version__,
         "fastnn": getattr(fastnn, "__version__", "?")}
    if torch_available():
        import torch

        v["torch"] = torch.__version__
    return v


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--workloads", default=",".join(WORKLOADS),
                   help=f"comma-separated, from: {', '.join(WORKLOADS)} (default: all)")
    p.add_argument("--libraries", default=",".join(ALL_LIBRARIES),
                   help="comma-separated subset of fastnn,sklearn,torch,torch-bf16,torch-cuda"
                        " (the torch ones are skipped when it cannot be imported,"
                        " torch-cuda when it sees no GPU)")
    p.add_argument("--epochs", type=int, default=5, help="timed epochs (default 5)")
    p.add_argument("--warmup", type=int, default=1, help="untimed epochs first (default 1)")
    p.add_argument("--settle", type=float, default=0.3,
                   help="seconds between timed epochs, for the previous library's"
                        " spinning threads to go to sleep; the cores are kept busy"
                        " meanwhile (default 0.3)")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                   help="threads for every library (default: all cores)")
    p.add_argument("--variant", action="append", default=[], metavar="NAME:P=V[,P=V...]",
                   help="also time fastnn with these estimator parameters, e.g."
                        " gelu:activation=gelu or drop:dropout=0.2,solver=nadam"
                        " (repeatable; values are Python literals, else strings)")
    p.add_argument("--json", metavar="PATH", help="also write the results as JSON here")
    args = p.parse_args(argv)
    args.variants = {}
    for text in args.variant:
        try:
            name, params = parse_variant(text)
        except ValueError as exc:
            p.error(str(exc))
        if name in ALL_LIBRARIES or name in args.variants:
            p.error(f"--variant name {name!r} is taken")
        args.variants[name] = params
    args.workloads = [get(n.strip()).name for n in args.workloads.split(",") if n.strip()]
    args.libraries = [s.strip() for s in args.libraries.split(",") if s.strip()]
    for lib in args.libraries:
        if lib not in ALL_LIBRARIES:
            p.error(f"unknown library {lib!r}")
    if args.epochs < 1 or args.warmup < 1 or args.threads < 1:
        p.error("--epochs, --warmup and --threads must be >= 1")
    if args.settle < 0:
        p.error("--settle must be >= 0")
    return args


def main(argv=None):
    args = parse_args(argv)
    import numba
    from sklearn.exceptions import ConvergenceWarning
    from threadpoolctl import threadpool_limits

    warnings.simplefilter("ignore", ConvergenceWarning)
    libraries = list(args.libraries)
    for library in [lib for lib in libraries if lib in TORCH_LIBRARIES]:
        if not torch_available():
            print(f"torch is not importable: skipping {library}", file=sys.stderr)
            libraries.remove(library)
        elif library == "torch-cuda" and not torch_available(cuda=True):
            print("torch sees no CUDA device: skipping torch-cuda", file=sys.stderr)
            libraries.remove(library)
    if args.variants:
        from fastnn import MLPClassifier

        known = MLPClassifier().get_params()
        for name, params in args.variants.items():
            unknown = sorted(set(params) - set(known))
            if unknown:
                sys.exit(f"--variant {name}: unknown fastnn parameter(s) {', '.join(unknown)}")
    if args.threads > numba.config.NUMBA_NUM_THREADS:
        print(f"note: Numba has {numba.config.NUMBA_NUM_THREADS} threads; fastnn uses at"
              f" most that many (set NUMBA_NUM_THREADS)", file=sys.stderr)

    report = {"threads": args.threads, "epochs": args.epochs, "warmup": args.warmup,
              "variants": args.variants,
              "machine": {"platform": platform.platform(), "processor": platform.processor(),
                          "cpu_count": os.cpu_count()},
              "versions": versions(), "workloads": {}}
    with threadpool_limits(limits=args.threads, user_api="blas"):
        peak = gemm_peak_gflops()
        report["gemm_peak_gflops"] = peak
        versions_text = ", ".join(f"{k} {v}" for k, v in report["versions"].items())
        print(f"threads: {args.threads}; float32 GEMM peak (NumPy 1024x1024): "
              f"{peak:.1f} GFLOP/s; {versions_text}")
        print()
        for name in args.workloads:
            w = get(name)
            results, peak = bench_workload(w, make_data(name), libraries, threads=args.threads,
                                           warmup=args.warmup, epochs=args.epochs,
                                           settle_s=args.settle, variants=args.variants)
            print(markdown_table(w, results, peak, args.epochs, args.warmup, args.variants))
            print(flush=True)
            report["workloads"][name] = {
                "n_train": w.n_train, "n_features": w.n_features, "n_classes": w.n_classes,
                "hidden": list(w.hidden), "batch_size": w.batch_size,
                "flops_per_epoch": w.flops_per_epoch, "gemm_peak_gflops": peak,
                "results": results,
            }
    if args.json:
        write_json(args.json, report)


def write_json(path, report):
    """Write ``report`` to ``path`` as indented JSON (what JSON cannot hold as its repr)."""
    with open(path, "w") as f:
        json.dump(report, f, indent=2, default=repr)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
