"""Training engine: data packing, thread control, the epoch loop and stopping.

Python runs only between compiled calls: each call trains on up to
``SAMPLES_PER_CALL`` samples, so Ctrl-C, verbose output and the stopping
rules are handled at epoch (or chunk) boundaries.  Parameter and input
validation belong to the estimators in ``_mlp.py``, which pass in what they
decide.
"""

import contextlib
import functools
import itertools
import os
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np
import scipy.optimize
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning

from . import _packed as B
from . import _config
from . import _kernels as K
from ._config import (
    BLOCK_ROWS,
    FINITE_PARALLEL_MIN,
    LANE_PARAM_BUDGET,
    LANE_PARAM_BUDGET_PACKED,
    LANE_WORKSPACE_BUDGET,
    MAX_LANES,
    PACKED_MIN_OUTPUTS,
    PARALLEL_MIN_FLOPS,
    PARALLEL_MIN_FLOPS_PER_REGION,
    PREDICT_PACKED_MIN_ROWS,
    SAMPLES_PER_CALL,
)
from ._network import Network, _readonly
from ._optimizers import GRADIENT, N_HYPER
from ._shuffle import shuffle as shuffle_in_place

__all__ = ["Network"]

# ---------------------------------------------------------------------------
# Data in the kernels' form
# ---------------------------------------------------------------------------


_EMPTY = {}


def _empty(dtype, ndim=1):
    """Shared read-only empty array standing in for an unused input."""
    key = (np.dtype(dtype), ndim)
    if key not in _EMPTY:
        _EMPTY[key] = _readonly(np.empty((0,) * ndim, dtype=dtype))
    return _EMPTY[key]


class Data:
    """Input matrix (dense or CSR), targets and sample weights for the kernels.

    Dense input that already has the right dtype and is C-contiguous is used
    as it is (no copy); every array is passed to the kernels read-only.
    """

    def __init__(self, X, Y=None, sample_weight=None, dtype=np.float32):
        if sp.issparse(X):
            X = sp.csr_matrix(X)
            self.arrays = (
                _empty(dtype, 2),
                _readonly(np.asarray(X.data, dtype=dtype)),
                _readonly(np.asarray(X.indices, dtype=np.int64)),
                _readonly(np.asarray(X.indptr, dtype=np.int64)),
            )
        else:
            self.arrays = (
                _readonly(np.ascontiguousarray(X, dtype=dtype)),
                _empty(dtype), _empty(np.int64), _empty(np.int64),
            )
        self.n = X.shape[0]
        if Y is None:
            self.Y = _empty(dtype, 2)
        else:
            Y = np.asarray(Y, dtype=dtype)
            self.Y = _readonly(np.ascontiguousarray(Y.reshape(len(Y), -1)))
        if sample_weight is None:
            self.sw = _empty(dtype)
        else:
            self.sw = _readonly(np.ascontiguousarray(sample_weight, dtype=dtype))


# ---------------------------------------------------------------------------
# Threads
# ---------------------------------------------------------------------------

def _process_thread_limit(environ=os.environ):
    """The threads this process should use, as far as its environment says, or None.

    That is the ``OMP_NUM_THREADS`` variable (its first entry), which
    joblib's loky workers and Dask's worker processes are started with, set
    to their share of the cores so that parallel fits do not oversubscribe
    them, and the CPUs the process may run on (a container's or
    ``taskset``'s).
    """
    limits = []
    value = environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
    if value.isdigit() and int(value) > 0:
        limits.append(int(value))
    if hasattr(os, "sched_getaffinity"):
        limits.append(len(os.sched_getaffinity(0)))
    return min(limits, default=None)


# Read once, from the environment the process started with, as OpenMP
# runtimes read it: a process that starts a Dask cluster has
# OMP_NUM_THREADS=1 set in its own environment for the workers it spawns,
# which must not limit its own fits.
_PROCESS_THREAD_LIMIT = _process_thread_limit()


def resolve_n_jobs(n_jobs):
    """Number of threads for ``n_jobs``.

    None: ``NUMBA_NUM_THREADS`` (by default every core), but no more than
    the process's limit (``_process_thread_limit``, when fastnn was
    imported); -1: every one of ``NUMBA_NUM_THREADS``; -k: all but k - 1 of
    them.
    """
    available = numba.config.NUMBA_NUM_THREADS
    if n_jobs is None:
        limit = _PROCESS_THREAD_LIMIT
        return available if limit is None else max(1, min(available, limit))
    if n_jobs < 0:
        return max(1, available + 1 + n_jobs)
    return max(1, min(int(n_jobs), available))


def _process_wide_setter(lib):
    """A function setting the thread count of ``lib`` (a threadpoolctl controller).

    threadpoolctl 3.8 lets only the first Python thread that sets the count
    of an OpenBLAS with its own (pthreads) pool change it: in every other
    thread ``set_num_threads`` silently does nothing, so BLAS would keep the
    user's thread count there and give other (last-bit) results than in the
    first thread.  That count is process-wide and ``_BlasThreads`` orders
    the threads itself, so such a library is called directly.
    """
    dynlib = getattr(lib, "dynlib", None)  # threadpoolctl < 3.2: no such attribute
    if lib.internal_api == "openblas" and lib.threading_layer != "openmp" and dynlib:
        for prefix, suffix in itertools.product(("", "scipy_"), ("", "64_", "_64")):
            func = getattr(dynlib, f"{prefix}openblas_set_num_threads{suffix}", None)
            if func is not None:
                return func
    return lib.set_num_threads


class _BlasThreads:
    """Process-wide BLAS thread count, set while any kernel call needs it.

    threadpoolctl's ``limit`` re-inspects every loaded library on each use
    (tens of microseconds); this keeps its library handles and only sets and
    restores the counts.  Calls from several Python threads nest: the first
    one in saves the user's settings, the last one out restores them.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._depth = 0
        self._libraries = None
        self._saved = ()

    def _blas_libraries(self):
        """``(controller, set_num_threads)`` for every BLAS library loaded."""
        if self._libraries is None:
            from threadpoolctl import ThreadpoolController

            controllers = ThreadpoolController().select(user_api="blas").lib_controllers
            self._libraries = [(lib, _process_wide_setter(lib)) for lib in controllers]
        return self._libraries

    @contextlib.contextmanager
    def limit(self, n_threads):
        with self._lock:
            if self._depth == 0:
                libraries = self._blas_libraries()
                self._saved = [lib.num_threads for lib, _ in libraries]
                for _, set_num_threads in libraries:
                    set_num_threads(n_threads)
            self._depth += 1
        try:
            yield
        finally:
            with self._lock:
                self._depth -= 1
                if self._depth == 0:
                    for (_, set_num_threads), n in zip(self._libraries, self._saved):
                        set_num_threads(n)


_BLAS_THREADS = _BlasThreads()


@contextlib.contextmanager
def compute_threads(blas_threads=1):
    """Run BLAS on ``blas_threads`` threads (process-wide) for the duration.

    The kernels of a team call BLAS on small blocks from every thread, where
    BLAS's own threads would only add synchronisation and oversubscribe the
    cores; a single-lane kernel on a large network gives BLAS the threads.
    """
    with _BLAS_THREADS.limit(blas_threads):
        yield


class _Team:
    """Runs a team kernel on several threads: the calling thread is member 0,
    helper threads of one process-wide pool are the others.

    Team kernels never wait on a particular member, so a member that waits
    for a free pool thread (the helpers are busy with another Python
    thread's fit) only starts late, and one that has not started when member
    0 is done is cancelled.  The members of a call share its arrays, so every
    member that started must finish before the call returns, also when
    Ctrl-C arrives meanwhile (it is raised once they have).  The pool is
    created on first use with a thread per core but one, and anew in a
    forked child, where the parent's threads do not exist.
    """

    def __init__(self):
        self._pool = None
        self._lock = threading.Lock()

    def _helpers(self):
        with self._lock:
            if self._pool is None:
                n = max(1, numba.config.NUMBA_NUM_THREADS - 1)
                self._pool = ThreadPoolExecutor(n, thread_name_prefix="fastnn")
            return self._pool

    def forget(self):
        """Drop the pool without waiting for it (in a forked child)."""
        self._pool = None
        self._lock = threading.Lock()

    def run(self, kernel, n_members, *args):
        """``kernel(member, *args)`` for every member; returns member 0's result."""
        helpers = []
        if n_members > 1:
            pool = self._helpers()
            helpers = [pool.submit(kernel, member, *args) for member in range(1, n_members)]
        try:
            return kernel(0, *args)
        finally:
            interrupted = False
            for future in helpers:
                while not future.cancel():
                    try:
                        future.result()
                        break
                    except KeyboardInterrupt:
                        interrupted = True
            if interrupted:
                raise KeyboardInterrupt


_TEAM = _Team()
os.register_at_fork(after_in_child=_TEAM.forget)


class NonFiniteInput(Exception):
    """A training call's input held NaN or infinity (``Kernels.train``)."""


class Kernels:
    """How to run the kernels for a given amount of work: a team of threads,
    one thread, or one thread with multi-threaded BLAS.

    Below ``min_flops`` multiply-adds (per mini-batch for training, per call
    otherwise) one thread runs everything.  Above it, a team of up to
    ``n_threads`` threads (no more than the lanes) shares the lanes with
    single-threaded BLAS, and a single lane (large networks) runs on one
    thread with multi-threaded BLAS.  The kernels are the same in every
    case, and so are the results.
    """

    def __init__(self, n_threads, flops, n_lanes=MAX_LANES, min_flops=PARALLEL_MIN_FLOPS):
        self.small = flops < min_flops
        worth_it = n_threads > 1 and not self.small
        self.parallel = worth_it and n_lanes > 1
        self.n_threads = min(n_threads, n_lanes) if self.parallel else 1
        self.blas_threads = n_threads if worth_it and n_lanes == 1 else 1

    def threads(self):
        return compute_threads(self.blas_threads)

    def train(self, data, order, batch_size, net, opt, bufs, full, packed=None,
              check_input=False):
        """Mini-batches over ``order`` (see ``_kernels.train_member``, which
        takes ``opt``, ``bufs``, ``packed`` and ``full``): the loss sum (for the
        GRADIENT code: the mean loss) and the number of steps taken.

        With ``check_input``, the lanes check the rows of a dense input they
        train on and a NonFiniteInput is raised when one holds NaN or
        infinity; the batches before it have been trained.
        """
        n_blocks = K.max_param_blocks(net.n_params)
        acc = (np.zeros(bufs[0].shape[0]), np.zeros(n_blocks), np.zeros(n_blocks), np.zeros(1))
        sync = K.new_sync()
        sync[K.CHECK_INPUT] = check_input
        steps = _TEAM.run(K.train_member, self.n_threads, sync, acc,
                          (*data.arrays, data.Y, data.sw, order), net.spec(), opt, bufs,
                          batch_size, packed, full, net.front_spec, net.copies_spec)
        if sync[K.BAD_INPUT]:
            raise NonFiniteInput
        return acc[3][0], steps

    def predict(self, data, rows, net, ws, cap, out, packed):
        """Network output for ``rows`` into ``out`` (see ``_kernels.predict_member``)."""
        _TEAM.run(K.predict_member, self.n_threads, K.new_sync(), data.arrays, rows,
                  net.spec(writable=False), ws, cap, out, packed, True, net.front_spec,
                  net.copies_spec)


def max_lanes(net, n_rows, packed=None):
    """Most lanes for batches of ``n_rows`` on ``net``: a power of two.

    One lane when the batch is too small to run in parallel (more would only
    add gradient buffers to sum); else enough for every core of the machine
    (Numba's full thread count), as far as ``LANE_PARAM_BUDGET`` allows
    (``LANE_PARAM_BUDGET_PACKED`` with packed products).  Never depends on
    ``n_jobs``, so the weights do not either.
    """
    if n_rows * net.flops_per_row() < PARALLEL_MIN_FLOPS:
        return 1
    budget = LANE_PARAM_BUDGET_PACKED if packed else LANE_PARAM_BUDGET
    limit = min(MAX_LANES, budget // net.n_params)
    lanes = 1
    while lanes < numba.config.NUMBA_NUM_THREADS and lanes * 2 <= limit:
        lanes *= 2
    return lanes


def lane_buffers(net, *batch_sizes, block_rows=BLOCK_ROWS, packed=None):
    """Block size, workspaces and gradient buffers for batches of the given sizes.

    Lanes: as many as ``lane_split`` gives for the largest batch within
    ``max_lanes`` (smaller batches use fewer).  Blocks: large enough for the
    longest lane of any of the batch sizes, up to ``block_rows``; a scratch
    matrix is added when a lane must walk several blocks.
    """
    lanes = max_lanes(net, max(batch_sizes), packed)
    splits = [K.lane_split.py_func(n, lanes) for n in batch_sizes if n > 0]
    longest = max(per for per, _ in splits)
    cap = min(longest, block_rows)
    grads = np.empty((max(lanes for _, lanes in splits), net.n_params), dtype=net.theta.dtype)
    return cap, net.workspace(cap, grads.shape[0], longest > cap), grads


# ---------------------------------------------------------------------------
# Prediction
# ---------------------------------------------------------------------------


def forward(net, data, n_jobs=None, binary_proba=False, bf16=False):
    """Output of the network (output activation applied) for every row of ``data``.

    With ``binary_proba`` a single-output network returns two columns,
    ``1 - p`` and ``p``.  With ``bf16``, the products of a call on enough
    rows are bfloat16 ones (the validation scores of a fit in that precision).
    """
    n = data.n
    out = np.empty((n, net.n_outputs), dtype=net.theta.dtype)
    if n == 0:
        return _binary_proba(out) if binary_proba else out
    cap = min(n, BLOCK_ROWS)
    n_blocks = -(-n // cap)
    kernels = Kernels(min(resolve_n_jobs(n_jobs), n_blocks), n * net.flops_per_row(),
                      min_flops=PARALLEL_MIN_FLOPS_PER_REGION)
    n_lanes = kernels.n_threads
    ws = net.workspace(cap, n_lanes)
    rows = _readonly(np.arange(n, dtype=np.int64))
    # the weights packed for one call: worth it on enough rows
    per = (2 if bf16 else packed_float32()) if n >= PREDICT_PACKED_MIN_ROWS else None
    packed = packed_buffers(net, cap, n_lanes, per, backward=False)
    # Setting thread limits costs microseconds: not for small calls.
    with contextlib.nullcontext() if kernels.small else kernels.threads():
        kernels.predict(data, rows, net, ws, cap, out, packed)
    return _binary_proba(out) if binary_proba else out


def _binary_proba(out):
    """``1 - p, p`` for a single-output ``out``; other outputs unchanged."""
    if out.shape[1] != 1:
        return out
    proba = np.empty((out.shape[0], 2), dtype=out.dtype)
    proba[:, 1] = out[:, 0]
    np.subtract(1, out[:, 0], out=proba[:, 0])
    return proba


def all_finite(a, n_jobs=1):
    """Whether the C-contiguous array ``a`` has no NaN or infinite value.

    An array of at least ``FINITE_PARALLEL_MIN`` elements is checked in
    parts, one per thread of ``n_jobs`` (the team's pool threads): a pass
    over a large training set is bound by one core's share of the memory
    bandwidth.
    """
    x = _readonly(a.reshape(-1))
    n = x.shape[0]
    n_parts = resolve_n_jobs(n_jobs) if n >= FINITE_PARALLEL_MIN else 1
    if n_parts < 2:
        return bool(K.all_finite(x))
    bounds = [n * k // n_parts for k in range(n_parts + 1)]
    pool = _TEAM._helpers()
    parts = [pool.submit(K.all_finite, x[lo:hi]) for lo, hi in zip(bounds[1:-1], bounds[2:])]
    finite = K.all_finite(x[:bounds[1]])
    return all([finite] + [part.result() for part in parts])


def forward_few(net, X, binary_proba=False):
    """``forward`` for a few rows of a dense array, at the lowest latency.

    ``X`` must be C-contiguous with the network's dtype; the kernel writes
    the binary columns itself.  Raises ValueError if ``X`` has NaN or
    infinite values.
    """
    n = X.shape[0]
    dtype = net.theta.dtype
    n_out = 2 if binary_proba and net.n_outputs == 1 else net.n_outputs
    out = np.empty((n, n_out), dtype=dtype)
    rows = _FEW_ROWS[n] if n < len(_FEW_ROWS) else _readonly(np.arange(n, dtype=np.int64))
    # (read-only views and tuples prepared ahead: this path is microseconds)
    if not K.predict_few((_readonly(X), *_EMPTY_INPUTS[dtype]), rows,
                         net.spec(writable=False), out, True, net.front_spec,
                         net.copies_spec):
        raise ValueError("Input X contains NaN or infinity.")
    return out


# row indices 0 .. n - 1 for n < 64, and the unused CSR arrays, per dtype
_FEW_ROWS = [_readonly(np.arange(n, dtype=np.int64)) for n in range(64)]
_EMPTY_INPUTS = {np.dtype(d): (_empty(d), _empty(np.int64), _empty(np.int64))
                 for d in ("float32", "float64")}


# ---------------------------------------------------------------------------
# Stochastic training
# ---------------------------------------------------------------------------


def _full(needed):
    """The kernels' ``full`` argument: True when a model needs the full kernels."""
    return True if needed else None


@functools.cache
def _entry_signatures(dtype):
    variants = [(False, False, False), (True, False, False), (True, True, False)]
    if dtype == "float32":
        variants += [(False, False, True), (True, False, True), (True, True, True)]
    return {(kernel, K.is_full(args), K.has_front(args), K.has_copies(args),
             K.packed_kind(args) == 2): args
            for front, copies, bf16 in variants
            for kernel, args in K.entry_signatures(dtype, front, copies, bf16)}


def load_training_kernel(dtype, full, front=False, copies=False, packed=None):
    """Load the training kernel for ``dtype`` (compiling it on a cold cache)
    before a fit's first call to any kernel; returns the ``full`` argument
    to train with (``front``: for a network with a front layer, which
    trains with the full kernel of its own; ``copies``: with copies too;
    ``packed``: the fit's packed products, as ``packed_buffers``: with 2,
    bfloat16 ones, always the full kernel).

    A model the basic kernel can train (``full`` None) is trained by the
    full kernel when only that one is compiled, in this process or in the
    cache: the results are the same, and ``fastnn.compile_kernels`` then
    need not build both.  The compilation of a training kernel is the one
    that starts the other kernels of ``dtype`` compiling ahead in the
    background (``_compile.compile_ahead``, with the library of the packed
    products the fit uses); the epoch shuffle, called first otherwise, says
    nothing of the dtype.
    """
    bf16 = packed == 2
    key = (np.dtype(dtype), bool(full), bool(front), bool(copies), bf16)
    if key in _LOADED:  # (looking the signature up costs ~30 us: nested tuple types)
        return _LOADED[key]
    signatures = _entry_signatures(key[0].name)
    kernel = K.train_member
    if bf16 or front:
        full = True
        signature = signatures[kernel, True, bool(front), bool(copies), bf16]
    else:
        basic = signatures[kernel, False, False, False, False]
        complete = signatures[kernel, True, False, False, False]
        if full is None and not kernel.load_cached(basic) and kernel.load_cached(complete):
            full = True
        signature = complete if full else basic
    if not kernel.load_cached(signature):
        from . import _compile

        _compile.compile_ahead(kernel, signature, products=packed)
        kernel.compile(signature)
    _LOADED[key] = full
    return full


# (dtype, whether full, whether with a front layer, whether with copies,
# whether with bfloat16 products) -> the full argument its fits train with
_LOADED = {}


def packed_float32():
    """1 where float32 stochastic training multiplies with fastnn's packed
    float32 products (``_packed``, in the layers of at least
    ``PACKED_MIN_OUTPUTS`` outputs), else None (BLAS):
    ``_config.FLOAT32_PRODUCTS``; "auto" packs on CPUs with AVX-512 where
    the BLAS runs no 512-bit kernels (``_blas_in_512_bits``)."""
    mode = _config.FLOAT32_PRODUCTS
    if mode == "auto":
        return 1 if B.has_avx512() and not _blas_in_512_bits() else None
    return 1 if mode == "packed" else None


# OpenBLAS's core types whose kernels use 512-bit vectors (its own names)
_OPENBLAS_512_BIT_CORES = frozenset({"skylakex", "cooperlake", "sapphirerapids"})


@functools.cache
def _blas_in_512_bits():
    """Whether the BLAS that the kernels call (SciPy's) multiplies with
    512-bit vectors here: an OpenBLAS that runs the kernels of one of its
    AVX-512 core types.  OpenBLAS runs its 256-bit kernels on CPUs it does
    not know (AMD's Zen 5, for one), where fastnn's own products are
    faster; on the others it is as fast, or faster on small blocks."""
    import scipy.linalg.cython_blas  # noqa: F401 (loaded, so that it can be inspected)
    from threadpoolctl import threadpool_info

    libraries = [info for info in threadpool_info() if info.get("user_api") == "blas"]
    scipy_libraries = [info for info in libraries if "scipy" in info.get("filepath", "")]
    return bool(scipy_libraries or libraries) and all(
        info.get("internal_api") == "openblas"
        and str(info.get("architecture", "")).lower() in _OPENBLAS_512_BIT_CORES
        for info in scipy_libraries or libraries)


def packed_buffers(net, cap, n_members, per, backward=True):
    """``train_member``'s ``packed`` argument for ``net`` (None for a float64
    one), blocks of ``cap`` rows and products of ``per_element`` ``per``:
    2, bfloat16 for every layer; 1, float32 for the layers of at least
    ``PACKED_MIN_OUTPUTS`` outputs; None, float32 BLAS for every layer.

    Room for the packed ``W`` and ``W^T`` of those layers (but the first
    layer's ``W^T`` without a front layer, to which no deltas go; no ``W^T``
    without ``backward``: ``predict_member``'s argument), -1 as the offset
    of the others; and per team member the scratch for a block's packed
    activations and deltas (``_kernels``, above ``_member_packed``).  Loads
    the products themselves (``_packed.load``) where a layer packs.
    """
    if net.theta.dtype != np.float32:
        return None

    sizes_a, sizes_b = B.library_sizes(per)

    # every packed operand starts on a cache line (_aligned_zeros): a tile or
    # vector load that straddles two lines takes both (AMX products of
    # operands 32 bytes off a line ran 1.6-1.9x longer)
    def size_a(m, k):
        return _whole_lines(sizes_a(m, k))

    def size_b(k, n):
        return _whole_lines(sizes_b(k, n))

    rows = cap * net.copies  # (the dense layers carry every copy of a row)
    fans = list(zip(net.sizes[:-1].tolist(), net.sizes[1:].tolist()))
    packs = [per == 2 or (per == 1 and fan_out >= PACKED_MIN_OUTPUTS) for _, fan_out in fans]
    offsets = np.full((len(fans), 2), -1, dtype=np.int64)
    total, scratch_a, scratch_b = 0, 0, 0
    for l, (fan_in, fan_out) in enumerate(fans):
        if not packs[l]:
            continue
        offsets[l, 0] = total
        total += size_b(fan_in, fan_out)
        if backward and (l > 0 or net.front is not None):
            offsets[l, 1] = total
            total += size_b(fan_out, fan_in)
        scratch_a = max(scratch_a, size_a(rows, fan_in), size_a(fan_in, rows),
                        size_a(rows, fan_out))
        # (``pack_at`` converts ``AT_BLOCK`` rows of pairs in ``scratch_b`` first)
        scratch_b = max(scratch_b, size_b(rows, fan_out), _whole_lines(B.AT_BLOCK * fan_in))
    if any(packs):
        B.load(per)
    dtype = np.uint32 if per == 2 else np.float32
    return (_aligned_zeros(total, dtype), _readonly(offsets),
            _aligned_zeros((n_members, scratch_a), dtype),
            _aligned_zeros((n_members, scratch_b), dtype))


_LINE = 64  # bytes of a cache line


def _whole_lines(size):
    """``size`` 4-byte elements rounded up to whole cache lines."""
    per_line = _LINE // 4
    return -(-size // per_line) * per_line


def _aligned_zeros(shape, dtype):
    """``np.zeros(shape, dtype)`` starting on a cache line."""
    n_bytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
    raw = np.zeros(n_bytes + _LINE, dtype=np.uint8)
    start = -raw.ctypes.data % _LINE
    return raw[start:start + n_bytes].view(dtype).reshape(shape)


class EpochRunner:
    """Runs epochs of mini-batch training over one data set with one optimizer
    (``packed``: with packed products, as ``load_training_kernel``, for a
    float32 network)."""

    def __init__(self, net, data, optimizer, loss_code, alpha, batch_size, n_jobs, packed=None):
        self.key = self._key(data, loss_code, alpha, batch_size, n_jobs, packed)
        if packed and net.theta.dtype != np.float32:
            raise ValueError("packed products need a float32 network.")
        self.full = load_training_kernel(
            net.theta.dtype, _full(net.extended or net.uses_dropout or optimizer.extended),
            net.front is not None, net.copies_spec is not None, packed)
        self.net, self.data, self.optimizer = net, data, optimizer
        self.loss_code, self.alpha, self.batch_size = loss_code, float(alpha), int(batch_size)
        # full batches, and the shorter last batch of an epoch; a lane's rows
        # in one block as far as the workspace budget allows
        block_rows = max(BLOCK_ROWS, LANE_WORKSPACE_BUDGET // net.workspace_per_row())
        self.cap, self.ws, self.grads = lane_buffers(net, self.batch_size, data.n % self.batch_size,
                                                     block_rows=block_rows, packed=packed)
        self.kernels = Kernels(resolve_n_jobs(n_jobs), self.batch_size * net.flops_per_row(),
                               self.grads.shape[0])
        self.packed = packed_buffers(net, self.cap, self.ws.shape[0], packed)

    @staticmethod
    def _key(data, loss_code, alpha, batch_size, n_jobs, packed):
        return (loss_code, float(alpha), int(batch_size), data.n % int(batch_size),
                resolve_n_jobs(n_jobs), packed)

    @classmethod
    def reuse(cls, previous, net, data, optimizer, loss_code, alpha, batch_size, n_jobs,
              packed=None):
        """``previous``, given ``data``, when it was made for the same network,
        optimizer and settings; else a new runner.

        Consecutive ``partial_fit`` calls then share the kernels' choice and
        the workspaces: no allocation per call, and buffers the previous
        call left in the cache, where new ones would first be faulted in.
        """
        if (previous is not None and previous.net is net and previous.optimizer is optimizer
                and previous.key == cls._key(data, loss_code, alpha, batch_size, n_jobs, packed)):
            previous.data = data
            return previous
        return cls(net, data, optimizer, loss_code, alpha, batch_size, n_jobs, packed)

    def run(self, order, check_input=False):
        """One pass over ``order`` (sample indices); returns the mean loss
        (``check_input``: as ``Kernels.train``'s)."""
        net, opt, data = self.net, self.optimizer, self.data
        order, hyper = _readonly(order), _readonly(opt.hyper())  # the kernels' forms
        clock = np.array([opt.mu_product, opt.last_rate])
        bufs = (self.grads, self.ws, self.cap)
        total = 0.0
        step = max(self.batch_size, SAMPLES_PER_CALL // self.batch_size * self.batch_size)
        with self.kernels.threads():
            for start in range(0, len(order), step):
                loss_sum, steps = self.kernels.train(
                    data, order[start:start + step], self.batch_size, net,
                    (self.loss_code, self.alpha, opt.code, opt.state, hyper, opt.t, clock), bufs,
                    self.full, self.packed, check_input,
                )
                opt.t += steps
                opt.mu_product, opt.last_rate = clock
                total += loss_sum
        return total / len(order)


class TrainingLog:
    """What the epoch loop records, and what its stopping rules keep between calls.

    The attributes mirror scikit-learn's (``loss_curve_``, ``best_loss_``,
    ``validation_scores_``, ...); ``history`` has a list per quantity with
    an entry per epoch: the training loss, the validation loss and score
    (NaN without validation data), the learning rate of the epoch's last
    step and the epoch's seconds.
    """

    KEYS = ("loss", "val_loss", "val_score", "learning_rate", "time")

    def __init__(self, early_stopping, theta):
        self.n_iter = 0
        self.t = 0
        self.loss = None
        self.loss_curve = []
        self.no_improvement_count = 0
        self.best_loss = None if early_stopping else np.inf
        self.validation_scores = [] if early_stopping else None
        self.best_validation_score = -np.inf if early_stopping else None
        self.best_theta = theta.copy()
        self.history = {key: [] for key in self.KEYS}
        self.stopped = None  # why the last call stopped before max_iter

    def record(self, **values):
        for key in self.KEYS:
            self.history[key].append(float(values.get(key, np.nan)))

    def to_dict(self):
        """The attributes, all plain values, lists, dicts and arrays (``from_dict``):
        what a file stores, pickle's or a safe format's such as skops'."""
        return dict(vars(self))

    @classmethod
    def from_dict(cls, state):
        """The log of ``to_dict``'s dict.

        Raises
        ------
        ValueError
            When the dict does not have the attributes of a log.
        """
        log = cls(False, np.empty(0))
        if set(state) != set(vars(log)):
            raise ValueError(f"A training log has the attributes {sorted(vars(log))};"
                             f" got {sorted(state)}.")
        vars(log).update(state)
        return log


def fit_stochastic(runner, log, *, shuffle, rng, max_iter, tol, n_iter_no_change, incremental,
                   verbose, validation=None, early_stopping=False, max_time=None,
                   on_epoch_begin=None, on_epoch_end=None, check_input=False):
    """The epoch loop with scikit-learn's stopping rules.

    ``log`` (a ``TrainingLog``) receives the history and keeps the stopping
    rules' state.  ``validation``, if given, is a callable returning the
    validation loss and score of the current network, called after every
    epoch; with ``early_stopping`` the score decides when to stop, and the
    parameters of the best epoch are restored at the end.  ``max_time``
    (seconds) stops the loop after the epoch that exceeds it;
    ``on_epoch_begin()`` is called before every epoch, and
    ``on_epoch_end(log)`` after every epoch, which it stops by returning True.
    ``check_input``: the first epoch checks the input as it trains
    (``Kernels.train``).
    """
    net, optimizer, n = runner.net, runner.optimizer, runner.data.n
    order = np.arange(n, dtype=np.int64)
    start = time.perf_counter()
    log.stopped = None
    try:
        log.n_iter = 0
        for _ in range(max_iter):
            epoch_start = time.perf_counter()
            if on_epoch_begin is not None:
                on_epoch_begin()
            if shuffle:
                # permute the previous order, as scikit-learn does: the same
                # draws and order as order[rng.permutation(n)], in place and
                # compiled (40k rows: 0.2 ms against 0.72)
                shuffle_in_place(rng, order)
            log.loss = runner.run(order, check_input and log.n_iter == 0)
            log.n_iter += 1
            log.t += n
            log.loss_curve.append(log.loss)
            if verbose:
                print("Iteration %d, loss = %.8f" % (log.n_iter, log.loss))
            val_loss = val_score = np.nan
            if validation is not None and np.isfinite(log.loss):
                val_loss, val_score = validation()
            log.record(loss=log.loss, val_loss=val_loss, val_score=val_score,
                       learning_rate=optimizer.last_rate,
                       time=time.perf_counter() - epoch_start)
            if not np.isfinite(log.loss):
                log.stopped = "non-finite loss"
                break
            _update_no_improvement_count(log, net, tol, val_score if early_stopping else None,
                                         verbose)
            optimizer.iteration_ends(log.t)
            if log.no_improvement_count > n_iter_no_change:
                if early_stopping:
                    msg = ("Validation score did not improve more than tol=%f for %d"
                           " consecutive epochs." % (tol, n_iter_no_change))
                else:
                    msg = ("Training loss did not improve more than tol=%f for %d"
                           " consecutive epochs." % (tol, n_iter_no_change))
                if optimizer.trigger_stopping(msg, verbose):
                    log.stopped = "no improvement"
                    break
                log.no_improvement_count = 0
            if on_epoch_end is not None and on_epoch_end(log):
                log.stopped = "epoch hook"
                break
            if incremental:
                break
            if max_time is not None and time.perf_counter() - start >= max_time:
                log.stopped = "max_time"
                if verbose:
                    print("max_time=%g s reached. Stopping." % max_time)
                break
            if log.n_iter == max_iter:
                warnings.warn(
                    "Stochastic Optimizer: Maximum iterations (%d) reached and the"
                    " optimization hasn't converged yet." % max_iter,
                    ConvergenceWarning,
                )
    except KeyboardInterrupt:
        log.stopped = "interrupted"
        warnings.warn("Training interrupted by user.")
    if early_stopping:
        net.theta[:] = log.best_theta


def _update_no_improvement_count(log, net, tol, score, verbose):
    if score is not None:
        log.validation_scores.append(score)
        if verbose:
            print("Validation score: %f" % score)
        if score < log.best_validation_score + tol:
            log.no_improvement_count += 1
        else:
            log.no_improvement_count = 0
        if score > log.best_validation_score:
            log.best_validation_score = score
            log.best_theta = net.theta.copy()
    else:
        if log.loss_curve[-1] > log.best_loss - tol:
            log.no_improvement_count += 1
        else:
            log.no_improvement_count = 0
        if log.loss_curve[-1] < log.best_loss:
            log.best_loss = log.loss_curve[-1]


# ---------------------------------------------------------------------------
# Full-batch loss/gradient and L-BFGS
# ---------------------------------------------------------------------------


class LossGradient:
    """Callable ``theta -> (loss, gradient)`` over a whole data set, in float64 for SciPy
    (``packed``: computed with the packed products of training)."""

    def __init__(self, net, data, loss_code, alpha, n_jobs, packed=None):
        self.full = load_training_kernel(net.theta.dtype, _full(net.extended or net.uses_dropout),
                                         net.front is not None, net.copies_spec is not None,
                                         packed)
        self.net, self.data, self.loss_code, self.alpha = net, data, loss_code, float(alpha)
        self.rows = _readonly(np.arange(data.n, dtype=np.int64))
        self.cap, self.ws, self.grads = lane_buffers(net, data.n, packed=packed)
        # one batch over every row, whose update writes the gradient here
        self.out = np.empty((1, net.n_params), dtype=net.theta.dtype)
        self.hyper = _readonly(np.zeros(N_HYPER))
        self.clock = np.ones(2)
        self.kernels = Kernels(resolve_n_jobs(n_jobs), data.n * net.flops_per_row(),
                               self.grads.shape[0], min_flops=PARALLEL_MIN_FLOPS_PER_REGION)
        self.packed = packed_buffers(net, self.cap, self.ws.shape[0], packed)

    def __call__(self, theta=None):
        net, data = self.net, self.data
        if theta is not None:
            net.theta[:] = theta
        with self.kernels.threads():
            loss, _ = self.kernels.train(
                data, self.rows, data.n, net,
                (self.loss_code, self.alpha, GRADIENT, self.out, self.hyper, 0, self.clock),
                (self.grads, self.ws, self.cap), self.full, self.packed,
            )
        return float(loss), self.out[0].astype(np.float64)


def fit_lbfgs(net, data, *, loss_code, alpha, max_iter, max_fun, tol, verbose, n_jobs,
              on_iteration=None):
    """Minimise the full-batch loss with SciPy's L-BFGS-B over the compiled gradient.

    Leaves the result in ``net.theta``; returns the iterations and the loss.
    ``on_iteration()`` is called after every iteration, with ``net.theta``
    holding its parameters, and stops the minimisation by returning True.
    """
    fun = LossGradient(net, data, loss_code, alpha, n_jobs)
    state = {"x": net.theta.astype(np.float64), "it": 0}

    def callback(intermediate_result):
        state["x"] = intermediate_result.x.copy()
        state["it"] += 1
        if verbose:
            print("Iteration %d, loss = %.8f" % (state["it"], intermediate_result.fun))
        if on_iteration is not None:
            net.theta[:] = intermediate_result.x
            if on_iteration():
                raise StopIteration

    try:
        res = scipy.optimize.minimize(
            fun, state["x"], method="L-BFGS-B", jac=True, callback=callback,
            options={"maxfun": max_fun, "maxiter": max_iter, "gtol": tol},
        )
    except KeyboardInterrupt:
        warnings.warn("Training interrupted by user.")
        net.theta[:] = state["x"]
        return state["it"], fun(state["x"])[0]
    if res.status == 1:
        warnings.warn(
            "lbfgs failed to converge after %d iteration(s) (status=%d):\n%s\n\n"
            "Increase the number of iterations to improve the convergence "
            "(max_iter=%d).\nYou might also want to scale the data as shown in:\n"
            "    https://scikit-learn.org/stable/modules/preprocessing.html"
            % (res.nit, res.status, res.message, max_iter),
            ConvergenceWarning,
        )
    net.theta[:] = res.x
    return min(res.nit, max_iter), float(res.fun)
