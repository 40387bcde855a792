"""Compilation options and tuning constants shared by every kernel module.

Kernels import their ``njit`` decorator from here so that the fastmath flag set,
caching and error model are decided in one place.  Every kernel is compiled
serially: the engine runs a team of threads over one kernel (``_engine``),
so there is one compiled variant of each, not a serial and a parallel one.
"""

import os as _os

from numba.core import config as _numba_config

from . import _cache

_cache.register()

# LLVM fast-math flags we allow. ``nnan`` and ``ninf`` are deliberately absent:
# with them LLVM may assume no NaN/inf ever appears and delete the very checks
# that catch a diverging model.
FASTMATH_FLAGS = {"nsz", "arcp", "contract", "afn", "reassoc"}

JIT_OPTIONS = dict(
    cache=True,
    nogil=True,
    fastmath=FASTMATH_FLAGS,
    error_model="numpy",
)

# A mini-batch of n rows is split into lanes, each with its own gradient
# buffer: the largest power of two <= n / MIN_LANE_ROWS, at most MAX_LANES
# and no more than the machine's cores need.  The split never depends on
# ``n_jobs``, so the result is the same for any ``n_jobs``.
MIN_LANE_ROWS = 32
MAX_LANES = 16

# Parameters summed over all lanes' gradient buffers.  Large networks get
# fewer lanes (their buffers would not stay in cache and summing them would
# dominate); with a single lane the threads go to BLAS instead.
LANE_PARAM_BUDGET = 2_000_000

# The budget with packed products (``_packed``: bfloat16, or float32 on CPUs
# with AVX-512), which run on the lanes' threads only: a large network is
# worth a lane per core, the lanes' sum (memory-bound) costing less than the
# products it spreads.
LANE_PARAM_BUDGET_PACKED = 8_000_000

# The products of float32 stochastic training: "auto", fastnn's own
# register-blocked kernels (``_packed``) on CPUs with AVX-512 whose BLAS
# runs 256-bit kernels (``_engine._blas_in_512_bits``), BLAS otherwise;
# "packed" or "blas", those everywhere
# (``FASTNN_FLOAT32_PRODUCTS``).  Models trained with either differ in the
# last bits of their products.
FLOAT32_PRODUCTS = _os.environ.get("FASTNN_FLOAT32_PRODUCTS", "auto")

# The products of bfloat16 training: "auto", on AMX tiles (``_amx``) where
# the CPU has AMX-BF16 and the OS lends the tiles, else with AVX512_BF16's
# ``vdpbf16ps``; "avx512", the latter everywhere (``FASTNN_BF16_PRODUCTS``).
# The two sum the same bfloat16 products in float32, in different orders.
BF16_PRODUCTS = _os.environ.get("FASTNN_BF16_PRODUCTS", "auto")

# Layers with fewer outputs multiply with BLAS rather than with float32 packed
# products, whose tiles are 32 columns wide: part of a tile would be padding.
PACKED_MIN_OUTPUTS = 32

# A prediction of at least this many rows packs the weights of those layers
# (once per call) to multiply them with the packed float32 products.
PREDICT_PACKED_MIN_ROWS = 64

# Rows per block when a lane walks over many rows (full-batch gradient for
# lbfgs, prediction).  Bounds the workspace independently of n_samples.
BLOCK_ROWS = 256

# A mini-batch lane's rows are one block, as long as its workspace (activations
# and deltas) stays within this many elements: a lane that walks several blocks
# runs smaller matrix products and adds each block's gradient in an extra pass
# (a 512-row batch of a 256-1024-1024-10 network in one block: ~5% faster).
LANE_WORKSPACE_BUDGET = 1 << 22

# Below this many multiply-adds per mini-batch the training kernel runs on
# one thread.  Measured on 2 cores, 20 -> 100 -> 1 at batch 200
# (420k per batch): 12 ms per 40k-row epoch on one thread, 9 ms with two
# threads sharing the lanes of every batch.
PARALLEL_MIN_FLOPS = 100_000

# Prediction and the full-batch gradient wake the team's helper threads once
# per call, which pays only above this many multiply-adds per call.
PARALLEL_MIN_FLOPS_PER_REGION = 1_000_000

# Inputs of at least this many elements are checked for NaN and infinity by
# as many threads as the call may use (``_engine.all_finite``).
FINITE_PARALLEL_MIN = 1 << 22

# partial_fit leaves the check of an input of at least this many bytes (about
# a core's L2 cache, beyond which a pass of its own reads it from memory) to
# the lanes of its training kernel (``_mlp``'s ``_defers_finite_check``).
DEFERRED_CHECK_MIN_BYTES = 1 << 21

# One compiled call trains on at most this many samples before Python regains
# control (Ctrl-C, verbose output, time budget).
SAMPLES_PER_CALL = 1 << 18


def _dispatcher(func, python_callable, **options):
    """``numba.njit(**options)(func)``, as a dispatcher that shares the on-disk
    cache safely with other processes (``_cache.LockingDispatcher``).

    Unless ``python_callable``, no CPython or C wrappers are generated: a
    helper called only from other kernels does not need them, and they are
    a good part of a small function's compile time.
    """
    if _numba_config.DISABLE_JIT:
        return func
    wrappers = not python_callable
    options = {"nopython": True, "boundscheck": None, "no_cpython_wrapper": wrappers,
               "no_cfunc_wrapper": True, **options}
    cache = options.pop("cache")
    dispatcher = _cache.LockingDispatcher(py_func=func, locals={}, targetoptions=options)
    if cache:
        dispatcher.enable_caching()
    return dispatcher


def jit(func):
    """Compile ``func`` with the project's options (serial, cached), to be
    called from other kernels only."""
    return _dispatcher(func, False, **JIT_OPTIONS)


def jit_inline(func):
    """``jit``, inlined by Numba into each jitted caller (no library of its own)."""
    return _dispatcher(func, False, inline="always", **JIT_OPTIONS)


def jit_exact(func):
    """``jit`` without fast-math: its rounding is the same wherever it is
    inlined (no fused multiply-adds chosen per call site)."""
    return _dispatcher(func, False, **{**JIT_OPTIONS, "fastmath": False})


def jit_entry(func):
    """``jit`` for a kernel called from Python (an entry point)."""
    return _dispatcher(func, True, **JIT_OPTIONS)
