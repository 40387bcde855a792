"""Fused forward/backward kernels over mini-batches, and the team kernels driving them.

The entry points are ``train_member`` (mini-batch training, and the
full-batch loss and gradient of L-BFGS), ``predict_member``, ``predict_few``
and ``all_finite``.  The first two are run by a team of threads, each
calling the same compiled function with its own member number
(``_engine._Team``); they share out the work through atomic counters, so a
team of one is the serial kernel and only one version of each is compiled.

Data layout (shared with ``Network`` in ``_engine.py``):

* ``theta`` is one flat parameter vector: every layer's weight matrix
  (``fan_in x fan_out``, row-major) first, then every intercept.
* ``layout[l] = (fan_in, fan_out, weight_offset, intercept_offset)``.
* ``acts[l]`` is the activation code applied after layer ``l``.
* ``X`` is dense (``Xd``) or CSR (``Xdata, Xind, Xptr``); the unused form is
  an empty array.  Rows are always addressed through an index vector;
  consecutive rows of dense input are read in place, others are gathered
  into the workspace.
* ``ws[lane]`` is a lane's workspace: for a block of at most ``cap`` rows it
  holds the activations ``A_0 .. A_L``, the deltas ``D_0 .. D_L`` and, when a
  lane walks over more than one block, a scratch matrix for gradient sums.
* ``grads[lane]`` is a lane's private gradient buffer.  Lanes are combined in
  a fixed order, so results do not depend on the number of threads.
"""

import numpy as np
from numba import from_dtype, types

from ._activations import IDENTITY, bias_activate, multiply_derivative
from ._config import MAX_LANES, MIN_LANE_ROWS, jit, jit_entry, jit_exact, jit_inline
from ._elementary import ordered_sum
from ._intrinsics import atomic_add, atomic_cas, atomic_load, borrowed, prefetch, yield_cpu
from ._losses import loss_and_delta
from ._optimizers import GRADIENT, LR_T, step, step_size

# At most this many parameters are reduced and updated per task of the update
# loop; a network has at least _MIN_PARAM_BLOCKS blocks, so that two threads
# share the update of a small one (tab-small, 2,201 parameters: 31 -> 28 us
# per mini-batch of two lanes on two threads).  Blocks depend on the number of
# parameters alone, never on threads: they fix the order of the loss's sums.
_PARAM_BLOCK = 4096
_MIN_PARAM_BLOCKS = 2
_PARAM_ALIGN = 16  # block sizes are multiples of this (a 64-byte line of float32)

# Layers with at most this many outputs backpropagate with a plain loop.
_NARROW = 4


@jit
def _block(ws, sizes, cap, l, n, delta):
    """Activation (``delta=False``) or delta matrix of layer ``l`` for ``n`` rows."""
    off = 0
    for k in range(l):
        off += sizes[k]
    if delta:
        for k in range(sizes.shape[0]):
            off += sizes[k]
    off *= cap
    return ws[off:off + n * sizes[l]].reshape((n, sizes[l]))


@jit
def _copy(src, dst):
    """``dst[:] = src`` for 1-D arrays of one length.

    A loop: Numba's slice assignment from an array compiles, besides the
    copy, the formatting of its shape-mismatch error message, which costs
    seconds of compilation per process.
    """
    for i in range(src.shape[0]):
        dst[i] = src[i]


@jit
def _typed_copy(a, dtype):
    """A copy of the 1-D ``a`` in ``dtype``."""
    out = np.empty(a.shape[0], dtype=dtype)
    _copy(a, out)
    return out


@jit
def _weights(theta, layout, l):
    fan_in, fan_out, w_off, b_off = layout[l, 0], layout[l, 1], layout[l, 2], layout[l, 3]
    return theta[w_off:w_off + fan_in * fan_out].reshape((fan_in, fan_out)), theta[b_off:b_off + fan_out]


@jit
def layer_sizes(layout):
    sizes = np.empty(layout.shape[0] + 1, dtype=np.int64)
    sizes[0] = layout[0, 0]
    for l in range(layout.shape[0]):
        sizes[l + 1] = layout[l, 1]
    return sizes


@jit
def _consecutive(rows):
    """Whether ``rows`` are consecutive indices (dense input is then used in place)."""
    for r in range(1, rows.shape[0]):
        if rows[r] != rows[0] + r:
            return False
    return True


@jit
def _forward(Xd, Xdata, Xind, Xptr, rows, theta, layout, acts, ws, sizes, cap, apply_output):
    """Fill the activations of every layer for the sample ``rows``.

    The last layer is left as pre-activation unless ``apply_output``.
    """
    n = rows.shape[0]
    n_layers = layout.shape[0]
    sparse = Xptr.shape[0] > 0
    for l in range(n_layers):
        W, b = _weights(theta, layout, l)
        Z = _block(ws, sizes, cap, l + 1, n, False)
        if l == 0 and sparse:
            Z[:, :] = 0.0
            for r in range(n):
                i = rows[r]
                for p in range(Xptr[i], Xptr[i + 1]):
                    v = Xdata[p]
                    Wc = W[Xind[p]]
                    for j in range(Z.shape[1]):
                        Z[r, j] += v * Wc[j]
        elif l == 0 and _consecutive(rows):
            np.dot(Xd[rows[0]:rows[0] + n], W, Z)  # no copy of the input rows
        else:
            A = _block(ws, sizes, cap, l, n, False)
            if l == 0:
                for r in range(n):
                    x = Xd[rows[r]]
                    for j in range(A.shape[1]):
                        A[r, j] = x[j]
            np.dot(A, W, Z)
        bias_activate(Z, b, acts[l] if l < n_layers - 1 or apply_output else IDENTITY)


@jit_inline
def _backward(Xd, Xdata, Xind, Xptr, Y, sw, rows, theta, layout, acts, loss_code,
              g, ws, sizes, cap, first):
    """Backpropagate one block whose forward pass is in ``ws``.

    Adds the block's (unnormalised, sample-weighted) gradient to ``g``, or
    overwrites ``g`` when ``first``.  Returns the block's weighted loss sum.
    """
    n = rows.shape[0]
    n_layers = layout.shape[0]
    sparse = Xptr.shape[0] > 0
    L = n_layers
    D = _block(ws, sizes, cap, L, n, True)
    Z = _block(ws, sizes, cap, L, n, False)
    loss = loss_and_delta(Z, Y, sw, rows, loss_code, D)
    if first:
        g[layout[0, 3]:] = 0.0  # every intercept gradient
    gb = g[layout[L - 1, 3]:layout[L - 1, 3] + layout[L - 1, 1]]
    for r in range(n):
        for j in range(gb.shape[0]):
            gb[j] += D[r, j]
    scratch_off = 2 * cap * np.sum(sizes)
    for l in range(n_layers - 1, -1, -1):
        fan_in, fan_out, w_off = layout[l, 0], layout[l, 1], layout[l, 2]
        gW = g[w_off:w_off + fan_in * fan_out].reshape((fan_in, fan_out))
        D = _block(ws, sizes, cap, l + 1, n, True)
        if l == 0 and sparse:
            if first:
                gW[:, :] = 0.0
            for r in range(n):
                i = rows[r]
                for p in range(Xptr[i], Xptr[i + 1]):
                    v = Xdata[p]
                    gr = gW[Xind[p]]
                    for j in range(fan_out):
                        gr[j] += v * D[r, j]
        else:
            tmp = gW
            if not first:
                tmp = ws[scratch_off:scratch_off + fan_in * fan_out].reshape((fan_in, fan_out))
            if l == 0 and _consecutive(rows):
                np.dot(Xd[rows[0]:rows[0] + n].T, D, tmp)
            else:
                np.dot(_block(ws, sizes, cap, l, n, False).T, D, tmp)
            if not first:
                for i in range(fan_in):
                    for j in range(fan_out):
                        gW[i, j] += tmp[i, j]
        if l > 0:
            W = theta[w_off:w_off + fan_in * fan_out].reshape((fan_in, fan_out))
            D_prev = _block(ws, sizes, cap, l, n, True)
            _back_through(D, W, D_prev)
            b_off = layout[l - 1, 3]
            multiply_derivative(_block(ws, sizes, cap, l, n, False), D_prev, acts[l - 1],
                                g[b_off:b_off + fan_in])
    return loss


@jit
def _back_through(D, W, D_prev):
    """``D_prev = D @ W.T``; a narrow ``D`` (few outputs) is not worth a BLAS call."""
    n, fan_out = D.shape
    if fan_out > _NARROW:
        np.dot(D, W.T, D_prev)
        return
    fan_in = W.shape[0]
    for r in range(n):
        dp = D_prev[r]
        d0 = D[r, 0]
        for i in range(fan_in):
            dp[i] = d0 * W[i, 0]
        for k in range(1, fan_out):
            dk = D[r, k]
            for i in range(fan_in):
                dp[i] += dk * W[i, k]


@jit_inline
def _lane(Xd, Xdata, Xind, Xptr, Y, sw, rows, theta, layout, acts, loss_code,
          g, ws, sizes, cap):
    """Loss sum and gradient of ``rows`` into ``g``, walking blocks of ``cap`` rows."""
    loss = 0.0
    for r0 in range(0, rows.shape[0], cap):
        blk = rows[r0:min(rows.shape[0], r0 + cap)]
        _forward(Xd, Xdata, Xind, Xptr, blk, theta, layout, acts, ws, sizes, cap, False)
        loss += _backward(Xd, Xdata, Xind, Xptr, Y, sw, blk, theta, layout, acts, loss_code,
                          g, ws, sizes, cap, r0 == 0)
    return loss


@jit
def lane_split(n, max_lanes):
    """Rows per lane and number of lanes for ``n`` rows (independent of threads)."""
    n_lanes = 1
    while n_lanes * 2 <= min(max_lanes, n // MIN_LANE_ROWS):
        n_lanes *= 2
    per = (n + n_lanes - 1) // n_lanes
    return per, (n + per - 1) // per


@jit
def _prefetch_rows(Xd, Y, rows):
    """Start fetching the input and target rows of the next mini-batch.

    Rows are drawn at random: on data larger than the cache each would
    otherwise stall on memory when the batch is gathered.
    """
    last = Xd.shape[1] - 1
    for r in range(rows.shape[0]):
        if last >= 0:
            prefetch(Xd, rows[r], 0)
            prefetch(Xd, rows[r], last)
        prefetch(Y, rows[r], 0)


@jit
def _lane_rows(rows, k, per):
    """The rows of lane ``k`` when each lane takes ``per`` of ``rows``."""
    return rows[k * per:min(rows.shape[0], (k + 1) * per)]


@jit
def _param_block_size(n_params):
    n_blocks = max(_MIN_PARAM_BLOCKS, (n_params + _PARAM_BLOCK - 1) // _PARAM_BLOCK)
    size = (n_params + n_blocks - 1) // n_blocks
    return (size + _PARAM_ALIGN - 1) // _PARAM_ALIGN * _PARAM_ALIGN


@jit
def _n_param_blocks(n_params):
    size = _param_block_size(n_params)
    return (n_params + size - 1) // size


@jit
def _block_bounds(blk, n_params):
    """First and past-the-end parameter of block ``blk``."""
    size = _param_block_size(n_params)
    j0 = blk * size
    return j0, min(n_params, j0 + size)


@jit
def _weight_sum(sw, rows):
    if sw.shape[0] == 0:
        return float(rows.shape[0])
    s = 0.0
    for r in range(rows.shape[0]):
        s += sw[rows[r]]
    return s


@jit_exact
def _sum_lanes(grads, n_lanes, j0, j1):
    """``grads[0, j] += grads[k, j]`` for ``k = 1 .. n_lanes - 1`` in that order, over ``[j0, j1)``.

    Compiled without fast-math: LLVM vectorises these loops in one kernel and
    not in another, or contracts and reassociates them differently after
    inlining, and a model must not depend on which kernels a process compiled.
    Element-wise IEEE arithmetic rounds the same in vector and scalar code.
    """
    # slices indexed from 0, so that LLVM can bound the accesses and vectorise
    g = grads[0, j0:j1]
    for k in range(1, n_lanes):
        gk = grads[k, j0:j1]
        for j in range(g.shape[0]):
            g[j] += gk[j]


@jit_exact
def _sum_of_squares(w):
    """``sum(w ** 2)`` in float64, in an order fixed by the code alone.

    Without fast-math LLVM may not reorder a sum, so the loop would stay
    scalar; eight interleaved partial sums fix an order that still runs as one
    vector operation.  (With fast-math the order would depend on where LLVM
    vectorised the loop, and the loss that L-BFGS's line search compares on
    what the process compiled first.)
    """
    s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = 0.0
    n = w.shape[0]
    j = 0
    while j + 8 <= n:
        v0, v1, v2, v3 = float(w[j]), float(w[j + 1]), float(w[j + 2]), float(w[j + 3])
        v4, v5, v6, v7 = float(w[j + 4]), float(w[j + 5]), float(w[j + 6]), float(w[j + 7])
        s0 += v0 * v0
        s1 += v1 * v1
        s2 += v2 * v2
        s3 += v3 * v3
        s4 += v4 * v4
        s5 += v5 * v5
        s6 += v6 * v6
        s7 += v7 * v7
        j += 8
    s = ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))
    while j < n:
        v = float(w[j])
        s += v * v
        j += 1
    return s


@jit_exact
def _batch_loss(lane_loss, n_lanes, ssq, n_blocks, alpha, wsum, n):
    """A batch's mean loss (L2 term included) times ``n`` (its rows, or 1)."""
    mean = (ordered_sum(lane_loss, n_lanes) + 0.5 * alpha * ordered_sum(ssq, n_blocks)) / wsum
    return mean * n


@jit_inline
def _update_block(blk, grads, n_lanes, theta, n_coef, alpha, scale, opt_code, state, hyper,
                  ssq):
    """Apply the optimizer to parameter block ``blk``, reducing the lanes on the way.

    All lanes but the last are summed into ``grads[0]``; ``step`` adds the
    last, the L2 term and the scale element by element as it updates, so the
    reduced gradient is never written back (nor moved between cores).
    """
    j0, j1 = _block_bounds(blk, theta.shape[0])
    ssq[blk] = _sum_of_squares(theta[j0:min(j1, n_coef)])
    last = n_lanes - 1
    _sum_lanes(grads, last, j0, j1)
    step(opt_code, theta, grads[0], grads[last], last > 0, alpha, scale, n_coef, state, hyper,
         j0, j1)


# Counters shared by the threads of a team (``new_sync``), a cache line apart:
# lanes finished, parameter blocks claimed and finished, batches updated, and
# for every lane the number of batches it has been claimed for.  They only
# grow during a call, so no counter is ever reset.
_LINE = 8  # int64 slots per 64-byte cache line
_LANES_DONE, _BLOCKS_CLAIMED, _BLOCKS_DONE, _UPDATED, _LANE_CLAIMS = range(0, 5 * _LINE, _LINE)
_N_COUNTERS = _LANE_CLAIMS + MAX_LANES * _LINE

# A waiting thread checks this many times before it starts yielding its core.
_SPINS_BEFORE_YIELD = 2000


@jit
def _wait_until(sync, counter, target):
    spins = 0
    while atomic_load(sync, counter) < target:
        spins += 1
        if spins >= _SPINS_BEFORE_YIELD:
            yield_cpu()


@jit
def _claim_lane(sync, batch, n_lanes, member):
    """A lane of ``batch`` for team member ``member``: lane ``member`` if it is
    free, else the first free one; -1 when all are taken.

    A thread that keeps its lane from batch to batch can fetch that lane's
    next rows into its own cache while it waits for the others.
    """
    for i in range(n_lanes):
        k = (member + i) % n_lanes
        slot = _LANE_CLAIMS + k * _LINE
        claimed = atomic_load(sync, slot)
        if claimed <= batch and atomic_cas(sync, slot, claimed, batch + 1) == claimed:
            return k
    return -1


@jit
def _claim(sync, counter, end):
    """Take the next of the tasks numbered up to ``end``; -1 when none is left."""
    while True:
        claimed = atomic_load(sync, counter)
        if claimed >= end:
            return -1
        if atomic_cas(sync, counter, claimed, claimed + 1) == claimed:
            return claimed


@jit_entry
def train_member(member, sync, lane_loss, ssq, total, Xd, Xdata, Xind, Xptr, Y, sw, order,
                 batch_size, theta, layout, acts, loss_code, alpha, opt_code, state, hyper, t,
                 grads, ws, cap):
    """Member ``member`` of a team of threads training on ``order``.

    Runs consecutive mini-batches of ``batch_size`` rows over ``order``.  For
    every batch the team's threads claim, with atomic operations on
    ``sync`` (``new_sync``), first its lanes (each lane's rows forward and
    backward into its own gradient buffer), then, once all lanes are done,
    the parameter blocks of its update (the lanes summed in lane order, the
    L2 term added, the sample-weight sum divided out and the optimizer step
    taken, element by element); the thread that finishes the last block
    adds the batch's loss to ``total[0]`` and releases the team into the
    next batch.  ``t`` is the number of steps taken before (Adam's bias
    correction needs it).  With ``opt_code`` GRADIENT the update writes the
    gradient to ``state[0]`` instead, and the loss added is the batch's mean:
    one batch over all rows is the full-batch loss and gradient of L-BFGS.

    Every thread of the team runs this function with its own ``member``
    number and the same arrays; ``lane_loss`` has a slot per lane, ``ssq``
    per parameter block, ``ws`` a workspace per member.  A thread takes the
    lane of its own number when it can, and after each lane starts fetching
    the rows that lane has in the next batch into its cache.  Waiting
    threads spin briefly, then yield their core.  Any thread may take any
    task and lanes are summed in lane order, so the result does not depend
    on the number of threads; nothing waits on a particular thread, so a
    member that starts late, or never, only slows the others (a team of one
    is the serial kernel).  The kernels raise no exceptions; the one
    exception is an IndexError under ``NUMBA_BOUNDSCHECK=1``, and a thread
    stopped by it would leave the others waiting, so there an out-of-bounds
    access shows as a hang rather than an error.  Returns the number of
    batches.
    """
    # the caller's arrays: views of them skip reference counting (``borrowed``)
    sync, lane_loss = borrowed(sync), borrowed(lane_loss)
    ssq, total = borrowed(ssq), borrowed(total)
    Xd, Xdata, Xind, Xptr, Y, sw = (borrowed(Xd), borrowed(Xdata), borrowed(Xind),
                                    borrowed(Xptr), borrowed(Y), borrowed(sw))
    order, theta, state, grads = borrowed(order), borrowed(theta), borrowed(state), borrowed(grads)
    work = borrowed(ws)[member]
    sizes = layer_sizes(layout)
    n_params = theta.shape[0]
    n_coef = layout[0, 3]
    n_blocks = _n_param_blocks(n_params)
    typed_alpha = theta.dtype.type(alpha)
    typed_hyper = _typed_copy(hyper, theta.dtype)
    n_total = order.shape[0]
    n_batches = (n_total + batch_size - 1) // batch_size
    lane_base = 0
    for batch in range(n_batches):
        b0 = batch * batch_size
        rows = order[b0:min(n_total, b0 + batch_size)]
        n = rows.shape[0]
        per, n_lanes = lane_split(n, grads.shape[0])
        lanes_end = lane_base + n_lanes
        next_rows = order[b0 + n:min(n_total, b0 + n + batch_size)]
        next_per, next_lanes = lane_split(next_rows.shape[0], grads.shape[0])
        while True:
            k = _claim_lane(sync, batch, n_lanes, member)
            if k < 0:
                break
            lane_loss[k] = _lane(Xd, Xdata, Xind, Xptr, Y, sw, _lane_rows(rows, k, per),
                                 theta, layout, acts, loss_code, grads[k], work, sizes, cap)
            atomic_add(sync, _LANES_DONE, 1)
            if k < next_lanes:
                _prefetch_rows(Xd, Y, _lane_rows(next_rows, k, next_per))
        _wait_until(sync, _LANES_DONE, lanes_end)
        wsum = _weight_sum(sw, rows)
        scale = theta.dtype.type(1.0 / wsum)
        typed_hyper[LR_T] = step_size(opt_code, hyper, t + batch + 1)
        blocks_end = (batch + 1) * n_blocks
        while True:
            blk = _claim(sync, _BLOCKS_CLAIMED, blocks_end)
            if blk < 0:
                break
            _update_block(blk - batch * n_blocks, grads, n_lanes, theta, n_coef,
                          typed_alpha, scale, opt_code, state, typed_hyper, ssq)
            if atomic_add(sync, _BLOCKS_DONE, 1) + 1 == blocks_end:
                # the batch's last block: record the loss, release the team
                rows_counted = 1 if opt_code == GRADIENT else n
                total[0] += _batch_loss(lane_loss, n_lanes, ssq, n_blocks, alpha, wsum,
                                        rows_counted)
                atomic_add(sync, _UPDATED, 1)
        _wait_until(sync, _UPDATED, batch + 1)
        lane_base = lanes_end
    return n_batches


@jit_entry
def predict_member(member, sync, Xd, Xdata, Xind, Xptr, rows, theta, layout, acts, ws, cap,
                   out):
    """Member ``member`` of a team computing the network's output for ``rows``.

    Output activation applied, into ``out``.  Each thread of the team runs
    this function with its own ``member`` number (its workspace ``ws[member]``)
    and takes blocks of ``cap`` rows from an atomic counter in ``sync``
    (``new_sync``): the calling thread starts at once while the others wake.
    """
    # the caller's arrays: views of them skip reference counting (``borrowed``)
    Xd, Xdata, Xind, Xptr = borrowed(Xd), borrowed(Xdata), borrowed(Xind), borrowed(Xptr)
    sync, rows, theta, out = borrowed(sync), borrowed(rows), borrowed(theta), borrowed(out)
    work = borrowed(ws)[member]
    sizes = layer_sizes(layout)
    n = rows.shape[0]
    n_blocks = (n + cap - 1) // cap
    L = layout.shape[0]
    while True:
        blk = _claim(sync, _BLOCKS_CLAIMED, n_blocks)
        if blk < 0:
            break
        r0 = blk * cap
        r1 = min(n, r0 + cap)
        _forward(Xd, Xdata, Xind, Xptr, rows[r0:r1], theta, layout, acts, work, sizes, cap, True)
        _copy(_block(work, sizes, cap, L, r1 - r0, False).reshape(-1), out[r0:r1].reshape(-1))


@jit_entry
def all_finite(x):
    """Whether no element of the 1-D ``x`` is NaN or infinite.

    Counts instead of stopping at the first: the loop then vectorises, and
    checking a training set (40k x 20 float32) takes ~45 us against ~125 for
    NumPy's ``isfinite(x.sum())``.  Relies on the fast-math flags leaving out
    ``nnan`` and ``ninf``, under which the test could be folded away.
    """
    bad = 0
    for k in range(x.shape[0]):
        bad += np.int64(not np.isfinite(x[k]))
    return bad == 0


@jit_entry
def predict_few(X, theta, layout, acts, out):
    """Network output for every row of a small dense ``X`` into ``out``.

    The latency path for a few rows: no index vector or workspace from the
    caller, and the finiteness check of ``X`` done here.  With one network
    output and two columns in ``out``, writes ``1 - p, p`` (binary
    probabilities).  Returns False, leaving ``out`` unset, if ``X`` has a NaN
    or infinite value.
    """
    # the caller's arrays (not ``ws`` below, which this call owns)
    X, theta = borrowed(X), borrowed(theta)
    n = X.shape[0]
    if not all_finite(X.reshape(-1)):
        return False
    sizes = layer_sizes(layout)
    L = layout.shape[0]
    ws = np.empty(2 * n * np.sum(sizes), dtype=theta.dtype)
    no_data = np.empty(0, dtype=X.dtype)
    no_index = np.empty(0, dtype=np.int64)
    _forward(X, no_data, no_index, no_index, np.arange(n), theta, layout, acts, ws, sizes,
             n, True)
    Z = _block(ws, sizes, n, L, n, False)
    if Z.shape[1] == 1 and out.shape[1] == 2:
        for i in range(n):
            out[i, 0] = 1 - Z[i, 0]
            out[i, 1] = Z[i, 0]
    else:
        _copy(Z.reshape(-1), out.reshape(-1))
    return True


def new_sync():
    """Zeroed counters for the threads of one ``train_member`` or ``predict_member`` call."""
    return np.zeros(_N_COUNTERS, dtype=np.int64)


def max_param_blocks(n_params):
    """At least the number of parameter blocks of an update (``train_member``'s ``ssq``)."""
    return max(_MIN_PARAM_BLOCKS, -(-n_params // _PARAM_BLOCK))


def entry_signatures(dtype):
    """``(kernel, argument types)`` of every call the engine makes into this module.

    One signature per kernel and dtype (float32 or float64): arrays a kernel
    only reads are read-only, the others writable, all C-contiguous, scalars
    int64 or float64.  The engine passes exactly these types (read-only
    views, ``_engine._readonly``), so that ``fastnn.compile_kernels``, which
    compiles this list, leaves nothing to compile later.
    """
    f, i, x = from_dtype(np.dtype(dtype)), types.int64, types.float64

    def ro(dt, ndim):
        return types.Array(dt, ndim, "C", readonly=True)

    def rw(dt, ndim):
        return types.Array(dt, ndim, "C")

    data = (ro(f, 2), ro(f, 1), ro(i, 1), ro(i, 1))  # Xd, Xdata, Xind, Xptr
    net = (ro(i, 2), ro(i, 1))  # layout, acts
    team = (i, rw(i, 1))  # member, sync
    train = (*team, rw(x, 1), rw(x, 1), rw(x, 1), *data, ro(f, 2), ro(f, 1), ro(i, 1), i,
             rw(f, 1), *net, i, x, i, rw(f, 2), ro(x, 1), i, rw(f, 2), rw(f, 2), i)
    prediction = (*team, *data, ro(i, 1), ro(f, 1), *net, rw(f, 2), i, rw(f, 2))
    return [
        (train_member, train),
        (predict_member, prediction),
        (predict_few, (ro(f, 2), ro(f, 1), *net, rw(f, 2))),
        (all_finite, (ro(f, 1),)),
    ]
