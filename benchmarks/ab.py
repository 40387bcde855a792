#!/usr/bin/env python
"""Paired A/B timing of two source trees of fastnn on the compare.py workloads.

    python benchmarks/ab.py --a /work/base --b /work/dev [--rounds 5]
                            [--workloads tab-small,wide] [--epochs N]
                            [--threads N] [--params P=V,...] [--params-b P=V,...]
                            [--settle S] [--json out.json]
    python benchmarks/ab.py --a . --b . --params-b activation=gelu   # a feature's cost

Every round runs one child process per tree (``python ab.py --child`` with
``PYTHONPATH=<tree>/src``; the child checks that it imported that tree's
fastnn), A then B in even rounds, B then A in odd ones, so that a machine
whose speed drifts slows both trees alike.  For each workload a child trains
fastnn as ``compare.py`` does (one ``partial_fit`` call per epoch, the
workloads and runner of this script's tree: the estimator parameters they
use are the same in both trees), untimed for ``--warmup`` epochs and then
timed for ``--epochs``, and reports the median epoch.  With ``--settle S``
each timed epoch comes ``S`` seconds after the previous one, seconds in
which the cores are kept busy as in ``compare.py``: an epoch then starts
with the caches as compare.py's do, rather than warm from the last one.
``--params-b`` gives tree B's estimator more parameters: with the same tree
as A and B it times a feature against the network without it, each round in
fresh processes (within one process, two runners of the same network can
differ by 10-15%, by where their buffers happened to be allocated).  The
summary gives, per workload, the median over the rounds of each tree's time
and the median and range of the per-round ratios B / A (below 1: B is
faster).

Each tree loads its kernels from its own entries of Numba's cache (the key
includes the source hash).  Before the timed rounds one untimed child per
tree compiles whatever it is missing; the children run with
``FASTNN_BACKGROUND_COMPILE=0``, so that no background compile worker
outlives that warm-up and takes cores from the timed rounds.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

from benchmarks.workloads import WORKLOADS, get, make_data  # noqa: E402
from compare import SklearnLike, parse_variant, settle, timed  # noqa: E402


def child(args):
    """Time fastnn (whichever ``import fastnn`` finds) on each workload; print JSON."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from threadpoolctl import threadpool_limits

    import fastnn

    warnings.simplefilter("ignore", ConvergenceWarning)
    out = {"fastnn_file": fastnn.__file__, "workloads": {}}
    with threadpool_limits(limits=args.threads, user_api="blas"):
        for name in args.workloads:
            X_train, _, y_train, _ = make_data(name)
            runner = SklearnLike("fastnn", get(name), X_train, y_train, args.threads,
                                 parse_variant("params:" + args.params)[1])
            warmup_s = sum(timed(runner.epoch) for _ in range(args.warmup))
            times = []
            for _ in range(args.epochs):
                settle(args.settle, args.threads)
                times.append(timed(runner.epoch))
            out["workloads"][name] = {"warmup_s": warmup_s, "epoch_times": times,
                                      "s_per_epoch": statistics.median(times)}
    print(json.dumps(out))


def run_tree(tree, args, epochs, params):
    """One child process on ``tree`` with estimator ``params``; returns its JSON report."""
    src = os.path.realpath(os.path.join(tree, "src"))
    env = dict(os.environ, PYTHONPATH=src, FASTNN_BACKGROUND_COMPILE="0")
    cmd = [sys.executable, os.path.abspath(__file__), "--child",
           "--workloads", ",".join(args.workloads), "--epochs", str(epochs),
           "--warmup", str(args.warmup), "--threads", str(args.threads),
           "--params", params, "--settle", str(args.settle)]
    proc = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, text=True, check=False)
    if proc.returncode:
        sys.exit(f"{tree}: the child process failed (exit status {proc.returncode})")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    if not os.path.realpath(out["fastnn_file"]).startswith(src + os.sep):
        sys.exit(f"{tree}: the child imported fastnn from {out['fastnn_file']}, not {src}")
    return out


def git_rev(tree):
    try:
        return subprocess.run(["git", "-C", tree, "describe", "--always", "--dirty"],
                              capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "?"


def summarize(rounds, workloads):
    """Per workload: the median time of each tree and the per-round ratios B / A."""
    summary = {}
    for name in workloads:
        a = [r["a"][name]["s_per_epoch"] for r in rounds]
        b = [r["b"][name]["s_per_epoch"] for r in rounds]
        ratios = [y / x for x, y in zip(a, b)]
        summary[name] = {"a_s_per_epoch": statistics.median(a),
                         "b_s_per_epoch": statistics.median(b),
                         "ratio_median": statistics.median(ratios),
                         "ratio_min": min(ratios), "ratio_max": max(ratios),
                         "ratios": ratios}
    return summary


def markdown_table(summary, n_rounds, epochs):
    lines = [(f"median over {n_rounds} round(s) of each tree's median of {epochs} epoch(s);"
              " ratio B / A per round (below 1: B is faster)"), "",
             "| workload | A s/epoch | B s/epoch | B / A median | B / A range |",
             "|---|---:|---:|---:|---|"]
    for name, s in summary.items():
        lines.append(f"| {name} | {s['a_s_per_epoch']:.4f} | {s['b_s_per_epoch']:.4f} "
                     f"| {s['ratio_median']:.3f} | {s['ratio_min']:.3f} - {s['ratio_max']:.3f} |")
    return "\n".join(lines)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--a", metavar="TREE", help="source tree A (the baseline): TREE/src/fastnn")
    p.add_argument("--b", metavar="TREE", help="source tree B, timed against A")
    p.add_argument("--rounds", type=int, default=5, help="timed rounds (default 5)")
    p.add_argument("--workloads", default=",".join(WORKLOADS),
                   help=f"comma-separated, from: {', '.join(WORKLOADS)} (default: all)")
    p.add_argument("--epochs", type=int, default=5,
                   help="timed epochs per workload and round (default 5)")
    p.add_argument("--warmup", type=int, default=1, help="untimed epochs first (default 1)")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                   help="fastnn's n_jobs and the BLAS threads (default: all cores)")
    p.add_argument("--params", default="", metavar="P=V[,P=V...]",
                   help="fastnn estimator parameters for both trees, as compare.py's"
                        " --variant takes them, e.g. dtype=bfloat16")
    p.add_argument("--params-b", default="", metavar="P=V[,P=V...]",
                   help="more estimator parameters for tree B only (after --params)")
    p.add_argument("--settle", type=float, default=0.0, metavar="S",
                   help="seconds of busy cores before each timed epoch, as compare.py's"
                        " --settle (default 0: epochs back to back)")
    p.add_argument("--json", metavar="PATH", help="also write the results as JSON here")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    args.workloads = [get(n.strip()).name for n in args.workloads.split(",") if n.strip()]
    if args.rounds < 1 or args.epochs < 1 or args.warmup < 1 or args.threads < 1:
        p.error("--rounds, --epochs, --warmup and --threads must be >= 1")
    if args.settle < 0:
        p.error("--settle must be >= 0")
    if not args.child:
        for tree in (args.a, args.b):
            if not tree or not os.path.isdir(os.path.join(tree, "src", "fastnn")):
                p.error(f"--a and --b must be source trees with src/fastnn (got {tree!r})")
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.child:
        return child(args)
    trees = {"a": args.a, "b": args.b}
    params = {"a": args.params, "b": ",".join(p for p in (args.params, args.params_b) if p)}
    for key, tree in trees.items():
        extra = f" {params[key]}" if params[key] else ""
        print(f"{key.upper()}: {tree} ({git_rev(tree)}){extra}")
    for key, tree in trees.items():  # compiles (or loads) each tree's kernels
        t0 = time.perf_counter()
        run_tree(tree, args, epochs=1, params=params[key])
        print(f"warm-up {key.upper()}: {time.perf_counter() - t0:.1f} s", flush=True)
    rounds = []
    for i in range(args.rounds):
        order = ("a", "b") if i % 2 == 0 else ("b", "a")
        r = {key: run_tree(trees[key], args, args.epochs, params[key])["workloads"]
             for key in order}
        rounds.append(r)
        print(f"round {i + 1}/{args.rounds} ({' then '.join(k.upper() for k in order)}): "
              + ", ".join(f"{n} B/A {r['b'][n]['s_per_epoch'] / r['a'][n]['s_per_epoch']:.3f}"
                          for n in args.workloads), flush=True)
    summary = summarize(rounds, args.workloads)
    print()
    print(markdown_table(summary, args.rounds, args.epochs))
    if args.json:
        report = {"a": {"tree": args.a, "rev": git_rev(args.a), "params": params["a"]},
                  "b": {"tree": args.b, "rev": git_rev(args.b), "params": params["b"]},
                  "threads": args.threads, "epochs": args.epochs, "warmup": args.warmup,
                  "settle": args.settle,
                  "summary": summary, "rounds": rounds}
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
