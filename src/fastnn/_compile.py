"""Compiling every kernel fastnn can call, ahead of its first use.

``compile_kernels`` (and ``python -m fastnn compile``) compiles each kernel
variant the engine calls (every entry point, for float32 and float64, with
the argument types the engine passes) into the on-disk cache, or finds it
there.  Afterwards no fit, prediction or reload, of any model kind, compiles
anything: a test checks that with Numba's compilation events.

Variants compile in parallel worker processes (``python -m fastnn._compile
--worker``, started as plain subprocesses, so that nothing depends on how
the caller's script guards its main module), which share what they compile
(the helpers every kernel inlines) through the cache: ``_cache``'s locks let
one process compile a function while the others wait and then load it.
"""

import functools
import itertools
import json
import os
import queue
import subprocess
import sys
import threading
import time

from . import _cache

#: The dtypes a model can be trained in.
DTYPES = ("float32", "float64")

#: Set to ``0`` to turn off compiling ahead in the background (``compile_ahead``).
BACKGROUND_ENV = "FASTNN_BACKGROUND_COMPILE"

# Set in worker processes: they never start workers of their own.
_WORKER_ENV = "FASTNN_COMPILE_WORKER"


@functools.cache
def kernel_variants(tabular=False):
    """``(label, kernel, argument types)`` for every kernel variant fastnn calls.

    Training is compiled full only: a model the basic training kernel could
    train uses the full one when the basic one is not compiled
    (``_engine.load_training_kernel``).  Ordered with the costliest first,
    float32 and float64 in turn, so that parallel workers start on variants
    that share no helpers.  With ``tabular``, the kernels of networks with a
    front layer (``TabularMLP*``) follow, labelled "front", and on CPUs with
    AVX512_BF16 their training kernel with bfloat16 products (that of
    ``dtype="auto"`` there).
    """
    from . import _kernels, _packed, _shuffle

    variants = []
    groups = [False, True] if tabular else [False]
    for front in groups:
        per_dtype = [_compiled_entries(dtype, front) for dtype in DTYPES]
        for entries in itertools.zip_longest(*per_dtype):
            for dtype, entry in zip(DTYPES, entries):
                if entry is None:
                    continue
                kernel, args = entry
                full = ", full" if kernel is _kernels.train_member else ""
                full += ", front" if front else ""
                variants.append((f"{_name(kernel)}[{dtype}{full}]", kernel, args))
        if not front:
            for kernel, args in _shuffle.entry_signatures():
                variants.append((_name(kernel), kernel, args))
        elif _packed.has_bf16():
            for kernel, args in _kernels.entry_signatures("float32", front, bf16=True):
                flags = "full, front" if kernel is _kernels.train_member else "front"
                variants.append((f"{_name(kernel)}[float32, {flags}, bfloat16]", kernel, args))
    return tuple(variants)


def _compiled_entries(dtype, front=False):
    """The entry signatures of ``dtype`` that ``compile_kernels`` compiles:
    those of ``_kernels.entry_signatures`` but the basic training kernel."""
    from . import _kernels

    return [(kernel, args) for kernel, args in _kernels.entry_signatures(dtype, front)
            if kernel is not _kernels.train_member or _kernels.is_full(args)]


def _dtype_of(kernel, args):
    """The dtype whose entry signatures include ``kernel(args)``, or None."""
    from . import _kernels

    return next((dtype for dtype in DTYPES for front, bf16 in _SIGNATURE_KINDS
                 if (kernel, tuple(args)) in _kernels.entry_signatures(dtype, front,
                                                                       bf16=bf16)), None)


# (with a front layer, with bfloat16 products) of the entry signatures of a dtype
_SIGNATURE_KINDS = ((False, False), (True, False), (False, True), (True, True))


def _name(kernel):
    return kernel.py_func.__name__.lstrip("_")


def _tasks(tabular):
    """What ``compile_kernels`` compiles, in order: the numbers of the
    variants (``kernel_variants``) and, on CPUs where float32 networks
    train with packed products, the library of those products
    (``_packed.load``), after the training kernels; the library of the
    bfloat16 products last, where a variant trains with them."""
    from . import _engine, _kernels

    variants = kernel_variants(tabular)
    tasks = [str(i) for i in range(len(variants))]
    packed = _engine.packed_float32()
    if packed:
        trained = sum(kernel is _kernels.train_member and "front" not in label
                      for label, kernel, _ in variants)
        tasks.insert(trained, f"{_PRODUCTS}{packed}")
    if any("bfloat16" in label for label, _, _ in variants):
        tasks.append(f"{_PRODUCTS}2")
    return tasks


_PRODUCTS = "products:"


def _run_task(task):
    """Compile (or load) ``task``, one of ``_tasks``; returns its label, what
    happened and seconds."""
    from . import _packed

    if not task.startswith(_PRODUCTS):
        return _compile_variant(int(task))
    per = int(task[len(_PRODUCTS):])
    start = time.perf_counter()
    outcome = _packed.load(per)
    precision = "bfloat16" if per == 2 else "float32"
    return f"packed_products[{precision}]", outcome, time.perf_counter() - start


def _compile_variant(index):
    """Compile (or load) variant ``index``; returns its label, what happened and seconds."""
    label, kernel, args = kernel_variants(tabular=True)[index]
    start = time.perf_counter()
    if args in kernel.overloads:
        outcome = "already loaded"
    else:
        kernel.compile(args)
        outcome = "compiled" if kernel.stats.cache_misses[args] else "found in the cache"
    return label, outcome, time.perf_counter() - start


# (dtype, whether for networks with a front layer) -> the worker compiling
# those variants ahead, in this process
_ahead = {}
_compiling_all = False  # compile_kernels is running in this process


def compile_ahead(kernel, args, products=None):
    """Called when variant ``kernel(args)`` is missing from the cache and is
    about to compile here: start a background process compiling the other
    variants of its dtype (and the shuffle) into the cache, and for a
    training kernel first the larger parts of it (``_kernels.training_parts``)
    and the library of the packed products of ``per_element`` ``products``
    if the fit uses them (``_engine.load_training_kernel``).

    A first fit on a cold cache then compiles its training kernel here while
    another core compiles those parts and then the kernels the fit will call
    next; by the time they are needed, they load from the cache (or this
    process waits for the one being compiled, through the cache's locks).
    The parts are compiled with the signatures the kernel calls them with,
    so that this process's compilation of the kernel finds them.  Only once
    per dtype (and kind of network) and process, never in a worker or while
    ``compile_kernels`` runs, and not on a single core, in a frozen
    application (whose executable is not a Python interpreter) or with
    ``FASTNN_BACKGROUND_COMPILE=0``.
    """
    if (_compiling_all or os.environ.get(_WORKER_ENV) or _default_jobs() < 2
            or os.environ.get(BACKGROUND_ENV, "1").strip() == "0"
            or not sys.executable or getattr(sys, "frozen", False)):
        return
    from . import _kernels

    dtype = _dtype_of(kernel, args)
    front = _kernels.has_front(args)
    # (the finiteness check, which a fit of float32 data calls before its
    # training kernel, says nothing of the kernels to come)
    if dtype is None or (dtype, front) in _ahead or kernel is _kernels.all_finite:
        return
    # For a training kernel, first the parts of it that this process will
    # load rather than compile (and, with packed products, their library,
    # which the fit loads once its kernel is compiled).  Then the other
    # kernels of the dtype, the shuffle first (a fit calls it next), but no
    # training kernel: the one this fit calls compiles here, the other it
    # does not call.  For networks with a front layer (a worker of their
    # own), their kernels.
    tasks = []
    if kernel is _kernels.train_member:
        tasks.append(f"{_PARTS}{dtype}:{int(_kernels.is_full(args))}:{int(front)}:"
                     f"{products or 0}")
    variants = kernel_variants(tabular=True)
    others = [i for i, (lb, k, a) in enumerate(variants)
              if (f"[{dtype}" in lb and ("front" in lb) == front or "[" not in lb)
              and k is not kernel and k is not _kernels.train_member]
    tasks += sorted(others, key=lambda i: "[" in variants[i][0])  # unlabelled: the shuffle
    try:
        _ahead[dtype, front] = _start_worker(tasks, stdout=subprocess.DEVNULL,
                                             stderr=subprocess.DEVNULL)
    except OSError:  # no interpreter to start: this process compiles alone
        _ahead[dtype, front] = None


_cache.on_cache_miss = compile_ahead


def _default_jobs():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def compile_kernels(n_jobs=None, verbose=True, tabular=False):
    """Compile every kernel variant fastnn can call into the on-disk cache.

    After this, fitting, predicting with or reloading any model (binary,
    multiclass, multi-label or regression; any activation and solver; dense
    or sparse, float32 or float64 input; read-only and memory-mapped arrays
    and models) compiles nothing: the kernels load from the cache in well
    under a second.  Run it once per machine and fastnn version, for example
    in a Docker build step (``python -m fastnn compile``).

    Parameters
    ----------
    n_jobs : int, default=None
        Number of worker processes compiling in parallel; None uses every
        core available to this process, 1 compiles in this process.
    verbose : bool, default=True
        Print a line per kernel variant and where the cache is.
    tabular : bool, default=False
        Also compile the kernels of ``TabularMLPClassifier`` and
        ``TabularMLPRegressor`` (whose networks start with a front layer).

    Returns
    -------
    report : list of tuple
        ``(variant, outcome, seconds)`` for every kernel variant, in the
        order they finished; ``outcome`` is ``"compiled"``, ``"found in the
        cache"`` or ``"already loaded"`` (compiled earlier in this process).
    """
    tasks = _tasks(bool(tabular))
    n_jobs = _default_jobs() if n_jobs is None else int(n_jobs)
    if n_jobs < 1:
        raise ValueError(f"n_jobs must be None or a positive integer, got {n_jobs}")
    n_jobs = min(n_jobs, len(tasks))
    say = print if verbose else (lambda *args, **kwargs: None)
    say(f"fastnn: {len(tasks)} kernel variants, cache directory {_cache.cache_dir()}",
        flush=True)
    start = time.perf_counter()
    report = []

    def record(result):
        report.append(result)
        label, outcome, seconds = result
        say(f"[{len(report):{len(str(len(tasks)))}d}/{len(tasks)}] {label:<36}"
            f" {outcome} ({seconds:.1f} s)", flush=True)

    if n_jobs == 1:
        global _compiling_all
        _compiling_all = True
        try:
            for task in tasks:
                record(_run_task(task))
        finally:
            _compiling_all = False
    else:
        for result in _run_workers(tasks, n_jobs):
            record(result)
    compiled = sum(outcome == "compiled" for _, outcome, _ in report)
    say(f"fastnn: {compiled} compiled, {len(report) - compiled} already cached,"
        f" in {time.perf_counter() - start:.1f} s ({n_jobs} process{'es' * (n_jobs > 1)})",
        flush=True)
    return report


def _run_workers(tasks, n_jobs):
    """Yield ``_run_task``'s results for ``tasks`` from ``n_jobs`` worker
    processes, each given the next task (in order: the costliest first) when
    it has finished one."""
    results = queue.Queue()
    pending = iter(tasks)
    workers = []

    def give(proc):
        task = next(pending, None)
        if task is None:
            proc.stdin.close()
        else:
            proc.stdin.write(f"{task}\n")
            proc.stdin.flush()

    for _ in range(n_jobs):
        proc = _start_worker([], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        thread = threading.Thread(target=_relay, args=(proc, results), daemon=True)
        thread.start()
        workers.append((proc, thread))
        give(proc)
    for _ in tasks:
        proc, result = results.get()
        if isinstance(result, BaseException):
            for other, _ in workers:
                other.kill()
            raise result
        give(proc)
        yield result
    for proc, thread in workers:
        proc.wait()
        thread.join()


def _relay(proc, results):
    """Put ``(proc, result)`` into ``results`` for each result line of worker
    ``proc``; an error if it fails."""
    for line in proc.stdout:
        results.put((proc, tuple(json.loads(line))))
    if proc.wait() != 0:
        results.put((proc, RuntimeError(f"a fastnn compile worker failed:\n{proc.stderr.read()}")))


_PARTS = "parts:"


def _start_worker(tasks, **popen_options):
    """A worker process compiling ``tasks``: variant numbers, or the parts of
    a training kernel (``_worker``); with none, those it reads from its
    standard input, a line each."""
    return subprocess.Popen(
        [sys.executable, "-m", "fastnn._compile", "--worker", *map(str, tasks)],
        env={**os.environ, _WORKER_ENV: "1"}, **popen_options,
    )


def _worker(tasks):
    from . import _engine, _kernels, _packed

    for task in tasks or (line.strip() for line in sys.stdin):
        if task.startswith(_PARTS):
            dtype, full, front, packed = task[len(_PARTS):].split(":")
            for helper, args in _kernels.training_parts(dtype, full == "1", front == "1"):
                helper.compile(args)
            if int(packed):  # (needed once the kernel is compiled, before it runs)
                _packed.load(int(packed))
            if int(packed) == 2 and _engine.packed_float32():
                _packed.load(1)  # (the fitted model's float32 predictions)
        else:
            print(json.dumps(_run_task(task)), flush=True)


def main(argv=None):
    """``python -m fastnn compile [--jobs N] [--tabular] [--quiet]``."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m fastnn compile",
        description="Compile every fastnn kernel variant into the on-disk cache, so that"
                    " no later fit or prediction compiles anything.",
    )
    parser.add_argument("--jobs", type=int, default=None,
                        help="worker processes (default: every available core)")
    parser.add_argument("--tabular", action="store_true",
                        help="also the kernels of TabularMLPClassifier / TabularMLPRegressor")
    parser.add_argument("--quiet", action="store_true", help="print nothing")
    args = parser.parse_args(argv)
    try:
        compile_kernels(n_jobs=args.jobs, verbose=not args.quiet, tabular=args.tabular)
    except ValueError as exc:
        parser.error(str(exc))
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--worker"]:
        _worker(sys.argv[2:])
    else:
        sys.exit(main())
