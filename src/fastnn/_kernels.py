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
* ``net = (theta, layout, acts, wsl, drop, drop_kind, seed, n_penalised)``
  is the network spec (``_engine.Network``):
  ``layout[l] = (fan_in, fan_out, weight_offset, intercept_offset)``;
  ``acts[l]`` the activation code applied after layer ``l``; ``wsl`` the
  workspace layout (below); ``drop[l]`` the dropout rate of layer ``l``'s
  outputs, of kind ``drop_kind``, seeded by ``seed``; the L2 penalty and
  weight decay apply to ``theta[:n_penalised]`` (the weights).
* ``X = (Xd, Xdata, Xind, Xptr)`` is dense (``Xd``) or CSR (``Xdata, Xind,
  Xptr``); the unused form is empty arrays.  Rows are always addressed
  through an index vector; consecutive rows of dense input are read in
  place, others are gathered into the workspace.
* ``ws[lane]`` is a lane's workspace.  For a block of at most ``cap`` rows
  it holds, per row at the offsets ``wsl[kind, l]`` (times ``cap``): the
  activations ``A_0 .. A_L`` (kind 0), the deltas ``D_0 .. D_L`` (kind 1)
  and, for hidden layers that need it (kind 2, else offset -1), the
  derivative of the activation times the dropout mask; past
  ``wsl[0, L + 1]`` elements per row, when a lane walks over more than one
  block, a scratch matrix for gradient sums.
* ``grads[lane]`` is a lane's private gradient buffer.  Lanes are combined in
  a fixed order, so results do not depend on the number of threads.

Every entry point but ``all_finite`` takes an argument ``full``, None or
True, third from last.  With None, Numba leaves out (by the argument's type)
what scikit-learn's recipe does not use: the activations after
scikit-learn's four, stored derivatives and dropout, the solvers other than
sgd and adam, per-step schedules and clipping.  A first fit of a model
that needs none of them compiles the basic training kernel, which takes
less time; ``fastnn.compile_kernels`` builds the full one only, and such a
model then trains with it (``_engine.load_training_kernel``).  Prediction
is compiled full only.
Results are the same with either kernel.

Their next to last argument, ``front``, is None, or for a network with a
front layer (tabular networks, ``_embeddings``; dense input only) the ``front``
vector describing it.  Its code is left out of the kernels where it is
None, so that only tabular networks compile it, in full kernels of their
own (``entry_signatures(dtype, front=True)``).  A tabular network may also
be ``k`` copies of one (``_ensemble``): then the last argument,
``copies``, says how many (else it is None, and their code is left out as
the front layer's is), and a block of ``n`` rows has ``k n`` rows in the
matrices of the dense layers, which the workspace layout sizes for.
"""

import numpy as np
from numba import from_dtype, types
from numba.extending import overload

from ._activations import (
    EXP,
    IDENTITY,
    RELU,
    activate_and_derive,
    bias_activate,
    multiply_derivative,
    needs_input,
)
from ._packed import call_pack_b, call_pack_bt, call_product, call_product_tn
from ._config import MAX_LANES, MIN_LANE_ROWS, jit, jit_entry, jit_exact, jit_inline
from ._elementary import ordered_sum
from ._embeddings import front_backward, front_forward
from ._ensemble import adapters, collapse, copies_of, expand, mean_of_copies
from ._intrinsics import (
    atomic_add,
    atomic_cas,
    atomic_load,
    borrowed,
    c_view,
    flush_denormals,
    prefetch,
    read_only,
    restore_denormals,
    squares_by_lane,
    wide_vectors,
    yield_cpu,
)
from ._losses import loss_and_delta
from ._noise import dropout, stream_key
from ._optimizers import (
    CLIP_NORM,
    GRADIENT,
    N_HYPER,
    gradient_sum_of_squares,
    step,
    step_hyper,
    typed_hyper,
)

# workspace kinds (rows of ``wsl``)
_ACT, _DELTA, _DERIV = 0, 1, 2

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
def _block(ws, wsl, sizes, cap, kind, l, n):
    """The ``n`` rows of matrix ``kind`` (activation, delta, derivative) of
    layer ``l`` (``l = 0``: the input)."""
    return c_view(ws, wsl[kind, l] * cap, (n, sizes[l]))


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
def _weights(theta, layout, l):
    fan_in, fan_out, w_off, b_off = layout[l, 0], layout[l, 1], layout[l, 2], layout[l, 3]
    return c_view(theta, w_off, (fan_in, fan_out)), theta[b_off:b_off + fan_out]


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


@jit_inline
def _has_front(front):
    """Whether the network has a front layer (where ``front`` is None its
    code is left out by type, as the basic kernels leave out by ``full``)."""
    if front is None:
        return False
    return True


@jit
def _front_blocks(ws, wsl, sizes, cap, n):
    """The front layer's outputs and their deltas for ``n`` rows, in a
    network with copies (whose layer-0 matrices hold the copies' inputs)."""
    off = wsl[_DERIV, 0] * cap
    d = sizes[0]
    return c_view(ws, off, (n, d)), c_view(ws, off + cap * d, (n, d))


@jit_inline
def _product(X, rows, theta, net, ws, sizes, cap, l, front, copies, k, packed):
    """``Z = A_l W_l`` for the ``rows`` of the block, into the activation
    matrix of layer ``l + 1``; returns it and the layer's intercepts.

    With copies (``_ensemble``) the matrices have a row per copy of a row,
    but for the output layer, whose ``Z`` has a row per row (``k`` copies:
    ``copies_of(front)``, 1 without a front layer; code for copies is left
    out by type where ``front`` is None, as the front layer's is)."""
    Xd, Xdata, Xind, Xptr = X
    layout, wsl = net[1], net[3]
    n = rows.shape[0]
    last = l == layout.shape[0] - 1
    W, b = _weights(theta, layout, l)
    Z = _block(ws, wsl, sizes, cap, _ACT, l + 1, n if last else n * k)
    has_front = _has_front(front)
    if l == 0 and Xptr.shape[0] > 0:
        Z[:, :] = 0.0
        for r in range(n):
            i = rows[r]
            for p in range(Xptr[i], Xptr[i + 1]):
                v = Xdata[p]
                Wc = W[Xind[p]]
                for j in range(Z.shape[1]):
                    Z[r, j] += v * Wc[j]
    elif l == 0 and not has_front and _consecutive(rows):
        if not _packs(packed, l):
            np.dot(Xd[rows[0]:rows[0] + n], W, Z)  # no copy of the input rows
        else:
            _packed_times_weights(Xd[rows[0]:rows[0] + n], Z, packed, l, 0)
    else:
        A = _block(ws, wsl, sizes, cap, _ACT, l, n * k)
        if l == 0 and copies is not None:
            Af = _front_blocks(ws, wsl, sizes, cap, n)[0]
            front_forward(Xd, rows, read_only(theta), front, Af)
            expand(Af, adapters(read_only(theta), copies, sizes[0]), A)
        elif l == 0 and has_front:
            front_forward(Xd, rows, read_only(theta), front, A)
        elif l == 0:
            for r in range(n):
                x = Xd[rows[r]]
                for j in range(A.shape[1]):
                    A[r, j] = x[j]
        if copies is not None and last:
            _heads_forward(A, read_only(theta), layout, l, Z, k)
        elif not _packs(packed, l):
            np.dot(A, W, Z)
        else:
            _packed_times_weights(A, Z, packed, l, 0)
    return Z, b


@jit
def _heads(theta, layout, l, k):
    """The output layer's weights as ``k`` heads, one ``(k h) x o`` matrix
    (``_ensemble``)."""
    fan_in, fan_out, w_off = layout[l, 0], layout[l, 1], layout[l, 2]
    return c_view(theta, w_off, (k * fan_in, fan_out // k))


@jit
def _heads_forward(H, theta, layout, l, Z, k):
    """Every copy's rows of ``H`` through its head, into ``Z``'s memory
    (``theta`` read-only: training and prediction share one compilation)."""
    kn, h = H.shape
    n = kn // k
    W = _heads(theta, layout, l, k)
    Zc = Z.reshape((kn, W.shape[1]))
    for i in range(k):
        np.dot(H[i * n:(i + 1) * n], W[i * h:(i + 1) * h], Zc[i * n:(i + 1) * n])


@jit
def _bias_activate_copies(Z, b, code, k, full):
    """``bias_activate`` of the output layer of ``k`` copies, each copy's with
    its own intercepts (``_ensemble``; ``b`` read-only, as for ``_heads_forward``)."""
    n = Z.shape[0]
    o = Z.shape[1] // k
    Zc = Z.reshape((k * n, o))
    for i in range(k):
        bias_activate(Zc[i * n:(i + 1) * n], b[i * o:(i + 1) * o], code, full)


@jit
def _forward(X, rows, theta, net, ws, sizes, cap, full, front, copies, packed):
    """Fill the activations of every layer for the sample ``rows``, output
    activation applied (prediction; ``packed``: as ``_forward_train``'s, the
    weights packed)."""
    layout, acts = net[1], net[2]
    n_layers = layout.shape[0]
    k = np.int64(1)
    if copies is not None:
        k = copies_of(copies)
    for l in range(n_layers):
        Z, b = _product(X, rows, theta, net, ws, sizes, cap, l, front, copies, k, packed)
        if copies is not None and l == n_layers - 1:
            _bias_activate_copies(Z, read_only(b), acts[l], k, full)
        else:
            bias_activate(Z, b, acts[l], full)


@jit
def _forward_train(X, rows, theta, net, ws, sizes, cap, step, packed, full, front, copies):
    """``_forward`` for training: the output left as pre-activation, and a
    hidden layer with a derivative buffer also given its derivatives and its
    dropout masks for update ``step``; with ``packed`` (``_member_packed``),
    the products of packed operands."""
    layout, acts, wsl, drop, drop_kind, seed = net[1], net[2], net[3], net[4], net[5], net[6]
    k = np.int64(1)
    if copies is not None:
        k = copies_of(copies)
    n = rows.shape[0] * k
    n_layers = layout.shape[0]
    for l in range(n_layers):
        Z, b = _product(X, rows, theta, net, ws, sizes, cap, l, front, copies, k, packed)
        # the output stays a pre-activation (a variable, not the literal
        # IDENTITY: one compiled bias_activate for every call)
        code = acts[l] if l < n_layers - 1 else IDENTITY
        if copies is not None and l == n_layers - 1:
            _bias_activate_copies(Z, read_only(b), code, k, full)
        elif l == n_layers - 1:
            bias_activate(Z, b, code, full)
        elif full is None:
            bias_activate(Z, b, code, full)
        elif wsl[_DERIV, l + 1] < 0:
            bias_activate(Z, b, code, full)
        else:
            G = _block(ws, wsl, sizes, cap, _DERIV, l + 1, n)
            if needs_input(code):
                activate_and_derive(Z, b, code, G)
            else:
                bias_activate(Z, b, code, full)
                G[:, :] = 1
                # the derivative from the output (column sums into a scratch row)
                multiply_derivative(Z, G, code, np.zeros(Z.shape[1], dtype=Z.dtype), full)
            if drop[l] > 0:
                dropout(Z, G, rows, k, drop[l], drop_kind, stream_key(seed, step, l))


@jit_inline
def _backward(X, Y, sw, rows, theta, net, loss_code, g, ws, sizes, cap, first, packed, full, front,
              copies):
    """Backpropagate one block whose forward pass is in ``ws``.

    Adds the block's (unnormalised, sample-weighted) gradient to ``g``, or
    overwrites ``g`` when ``first``.  Returns the block's weighted loss sum.
    """
    Xd, Xdata, Xind, Xptr = X
    layout, acts, wsl = net[1], net[2], net[3]
    n = rows.shape[0]
    k = np.int64(1)
    if copies is not None:
        k = copies_of(copies)
    m = n * k  # rows of the dense layers' matrices (``_product``)
    n_layers = layout.shape[0]
    sparse = Xptr.shape[0] > 0
    has_front = _has_front(front)
    L = n_layers
    D = _block(ws, wsl, sizes, cap, _DELTA, L, n)
    Z = _block(ws, wsl, sizes, cap, _ACT, L, n)
    if copies is not None:
        loss = _loss_of_copies(Z, Y, sw, rows, loss_code, D, k)
    else:
        loss = loss_and_delta(Z, Y, sw, rows, loss_code, D)
    if first:
        g[layout[0, 3]:] = 0.0  # every intercept gradient
    gb = g[layout[L - 1, 3]:layout[L - 1, 3] + layout[L - 1, 1]]
    if copies is not None:
        _output_intercept_gradient(D, gb, k)
    else:
        for r in range(n):
            for j in range(gb.shape[0]):
                gb[j] += D[r, j]
    scratch_off = wsl[_ACT, L + 1] * cap
    for l in range(n_layers - 1, -1, -1):
        fan_in, fan_out, w_off = layout[l, 0], layout[l, 1], layout[l, 2]
        gW = c_view(g, w_off, (fan_in, fan_out))
        last = l == n_layers - 1
        D = _block(ws, wsl, sizes, cap, _DELTA, l + 1, n if last else m)
        D_prev = _block(ws, wsl, sizes, cap, _DELTA, l, m)
        one_output = _one_output_step(l, fan_out, acts, wsl, full)
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
        elif copies is not None and last:
            _heads_backward(_block(ws, wsl, sizes, cap, _ACT, l, m), D, theta, layout, l, g,
                            D_prev, k, first, ws[scratch_off:])
        elif one_output != _GENERAL and not _packs(packed, l):
            A = _block(ws, wsl, sizes, cap, _ACT, l, m)
            S = A
            if one_output == _STORED:
                S = _block(ws, wsl, sizes, cap, _DERIV, l, m)
            b_off = layout[l - 1, 3]
            _back_through_one_output(A, S, one_output == _STORED, D,
                                     c_view(theta, w_off, (fan_in, fan_out)), D_prev, gW,
                                     g[b_off:b_off + fan_in], first)
            continue  # (the derivative is applied)
        elif not _packs(packed, l):
            tmp = gW
            if not first:
                tmp = c_view(ws, scratch_off, (fan_in, fan_out))
            if l == 0 and not has_front and _consecutive(rows):
                np.dot(Xd[rows[0]:rows[0] + n].T, D, tmp)
            else:
                np.dot(_block(ws, wsl, sizes, cap, _ACT, l, m).T, D, tmp)
            if not first:
                for i in range(fan_in):
                    for j in range(fan_out):
                        gW[i, j] += tmp[i, j]
        elif l == 0 and not has_front and _consecutive(rows):
            _packed_weight_gradient(Xd[rows[0]:rows[0] + n], D, gW, packed, first)
        else:
            _packed_weight_gradient(_block(ws, wsl, sizes, cap, _ACT, l, m), D, gW, packed, first)
        if copies is not None and last:
            pass  # (``_heads_backward`` did it)
        elif l > 0 or has_front:
            W = c_view(theta, w_off, (fan_in, fan_out))
            if not _packs(packed, l) or fan_out <= _NARROW:
                _back_through(D, W, D_prev)
            else:
                _packed_times_weights(D, D_prev, packed, l, 1)
        if l == 0 and copies is not None:
            Af, Df = _front_blocks(ws, wsl, sizes, cap, n)
            collapse(Af, adapters(read_only(theta), copies, fan_in), D_prev, Df,
                     adapters(g, copies, fan_in))
            front_backward(Xd, rows, read_only(theta), front, Af, Df, g)
        elif l == 0 and has_front:
            front_backward(Xd, rows, read_only(theta), front,
                           _block(ws, wsl, sizes, cap, _ACT, 0, n), D_prev, g)
        elif l > 0:
            b_off = layout[l - 1, 3]
            gb = g[b_off:b_off + fan_in]
            # the derivative from the stored activations, or the stored
            # derivative itself (EXP's derivative is its output: a product)
            A = _block(ws, wsl, sizes, cap, _ACT, l, m)
            code = acts[l - 1]
            if full is not None:
                if wsl[_DERIV, l] >= 0:
                    A = _block(ws, wsl, sizes, cap, _DERIV, l, m)
                    code = EXP
            multiply_derivative(A, D_prev, code, gb, full)
    return loss


@jit
def _loss_of_copies(Z, Y, sw, rows, loss_code, D, k):
    """``loss_and_delta`` for a network with ``k`` copies (``_ensemble``): the
    mean of the copies' losses, and its deltas."""
    n = Z.shape[0]
    o = Z.shape[1] // k
    Zc, Dc = Z.reshape((k * n, o)), D.reshape((k * n, o))
    loss = 0.0
    for i in range(k):
        loss += loss_and_delta(Zc[i * n:(i + 1) * n], Y, sw, rows, loss_code,
                               Dc[i * n:(i + 1) * n])
    inv = Z.dtype.type(1.0 / k)
    flat = D.reshape(-1)
    for j in range(flat.shape[0]):
        flat[j] *= inv
    return loss / k


@jit
def _output_intercept_gradient(D, gb, k):
    """Add the output layer's intercept gradient from its deltas ``D`` to
    ``gb`` (``k`` copies: ``_ensemble``)."""
    n = D.shape[0]
    o = D.shape[1] // k
    Dc = D.reshape((k * n, o))
    for i in range(k):
        for r in range(n):
            d = Dc[i * n + r]
            for j in range(o):
                gb[i * o + j] += d[j]


@jit
def _heads_backward(H, D, theta, layout, l, g, D_prev, k, first, scratch):
    """Backward of ``_heads_forward`` from the deltas ``D`` of its outputs:
    the heads' weight gradients into ``g`` (overwritten when ``first``),
    the deltas of ``H`` into ``D_prev``."""
    kn, h = H.shape
    n = kn // k
    W = _heads(theta, layout, l, k)
    gW = _heads(g, layout, l, k)
    o = W.shape[1]
    Dc = D.reshape((kn, o))
    for i in range(k):
        Hi, Di = H[i * n:(i + 1) * n], Dc[i * n:(i + 1) * n]
        gWi = gW[i * h:(i + 1) * h]
        if first:
            np.dot(Hi.T, Di, gWi)
        else:
            tmp = scratch[:h * o].reshape((h, o))
            np.dot(Hi.T, Di, tmp)
            for t in range(h):
                for j in range(o):
                    gWi[t, j] += tmp[t, j]
        _back_through(Di, W[i * h:(i + 1) * h], D_prev[i * n:(i + 1) * n])


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


# How ``_backward`` takes the step of a one-output layer: the general way,
# or in one pass (``_back_through_one_output``) over a ReLU layer or a layer
# whose derivative is stored.
_GENERAL, _RELU_BELOW, _STORED = 0, 1, 2


@jit_inline
def _one_output_step(l, fan_out, acts, wsl, full):
    """``_GENERAL``, ``_RELU_BELOW`` or ``_STORED`` for layer ``l``."""
    if l == 0 or fan_out != 1:
        return _GENERAL
    if full is not None:
        if wsl[_DERIV, l] >= 0:
            return _STORED
    if acts[l - 1] == RELU:
        return _RELU_BELOW
    return _GENERAL


@jit
def _back_through_one_output(A, S, stored, D, W, D_prev, gW, gb, first):
    """The backward step of a one-output layer (``W``: ``m x 1``) over a layer
    whose outputs are ``A``, in one pass over ``A``'s rows.

    ``gW += A.T @ D`` (overwritten when ``first``), ``D_prev = (D @ W.T)``
    times the derivative of the layer below, and ``gb +=`` the column sums of
    ``D_prev``: what the weight gradient's product, ``_back_through`` and
    ``multiply_derivative`` do in three passes, which read ``A`` twice and
    ``D_prev`` twice more (from L2 for a block of 100 rows of 100 units).
    The derivative is ReLU's, from ``A``, or with ``stored`` the one the
    forward pass stored in ``S``, multiplied in the same order as
    ``multiply_derivative`` multiplies it.
    """
    wide_vectors()
    n, m = A.shape
    zero = A.dtype.type(0)
    w = c_view(W, 0, (m,))
    g = c_view(gW, 0, (m,))
    if first:
        for j in range(m):
            g[j] = zero
    if stored:
        for r in range(n):
            a, s, dp = A[r], S[r], D_prev[r]
            d = D[r, 0]
            for j in range(m):
                g[j] += a[j] * d
                v = (d * w[j]) * s[j]
                dp[j] = v
                gb[j] += v
    else:
        for r in range(n):
            a, dp = A[r], D_prev[r]
            d = D[r, 0]
            for j in range(m):
                aj = a[j]
                g[j] += aj * d
                v = d * w[j]
                v = v if aj > zero else zero  # (as multiply_derivative's RELU)
                dp[j] = v
                gb[j] += v


@jit_inline
def _lane(X, Y, sw, rows, theta, net, loss_code, g, ws, sizes, cap, step, packed, full, front,
          copies):
    """Loss sum and gradient of ``rows`` into ``g``, walking blocks of ``cap`` rows."""
    loss = 0.0
    for r0 in range(0, rows.shape[0], cap):
        blk = rows[r0:min(rows.shape[0], r0 + cap)]
        _forward_train(X, blk, theta, net, ws, sizes, cap, step, packed, full, front, copies)
        loss += _backward(X, Y, sw, blk, theta, net, loss_code, g, ws, sizes, cap, r0 == 0,
                          packed, full, front, copies)
    return loss


# ---------------------------------------------------------------------------
# Products of packed operands (``_packed``)
# ---------------------------------------------------------------------------
#
# A training kernel's ``packed`` argument is None (float64: BLAS products),
# or ``(weights, offsets, scratch_a, scratch_b)``: the weights of the layers
# that multiply with packed products, packed as right operands of
# ``_packed``'s products, ``W`` (forward) at ``offsets[l, 0]`` and ``W^T``
# (deltas sent down) at ``offsets[l, 1]`` of ``weights`` (-1: layer ``l``
# multiplies with BLAS; or, for ``W^T``, sends no deltas down), repacked from
# ``theta`` before every mini-batch; and per team member two scratch rows for
# packing a block's activations and deltas.  The arrays' dtype is the
# precision of the products: uint32 for bfloat16 pairs, float32 for float32,
# whose kernels always take the argument (the engine chooses the layers).
# The products run in ``_packed``'s library, which the engine loads
# (``_packed.load``) before a kernel that packs a layer runs.


def _member_packed(packed, member):
    """The ``packed`` argument of team member ``member``'s lanes: its own scratch
    rows (None without packed products; chosen by type), the arrays
    ``borrowed``."""


@overload(_member_packed, inline="always")
def _member_packed_by_type(packed, member):
    if isinstance(packed, types.NoneType):
        return lambda packed, member: None
    return lambda packed, member: (borrowed(packed[0]), borrowed(packed[1]),
                                   borrowed(packed[2][member]), borrowed(packed[3][member]))


def _packs(packed, l):
    """Whether layer ``l`` multiplies with packed products: where its weights
    have a place in ``packed`` (never without ``packed``, chosen by type, or
    with no packed weights at all, ``_no_packing``)."""


@overload(_packs, inline="always")
def _packs_by_type(packed, l):
    if isinstance(packed, types.NoneType):
        return lambda packed, l: False
    # (``&``: an ``and`` would leave a variable out of scope in the inlined code)
    return lambda packed, l: (packed[0].shape[0] > 0) & (packed[1][l, 0] >= 0)


def _no_packing(ws, layout):
    """``predict_few``'s ``packed`` for ``_forward``: for a float32 network,
    of the type ``predict_member`` passes (the two then share one compiled
    forward pass), with no packed weights (views of none of ``ws``, which
    ``_packs`` reads as no layer packing; the network's ``layout`` stands
    in for the offsets); None for a float64 one."""


@overload(_no_packing, inline="always")
def _no_packing_by_type(ws, layout):
    if ws.dtype != types.float32:
        return lambda ws, layout: None
    return lambda ws, layout: (c_view(ws, 0, (0,)), layout, c_view(ws, 0, (0,)),
                               c_view(ws, 0, (0,)))


# The packed products of a layer.  The kernels call them only where
# ``packed`` is not None, but they are typed for None too (Numba does not
# prune branches on the arguments of inlined functions): there, as nothing.


def _packed_times_weights(A, C, packed, l, transposed):
    """``C = A W`` (forward) or, ``transposed`` (1), ``C = A W^T`` (the deltas
    sent down), ``W`` layer ``l``'s weights."""


def _packed_weight_gradient(A, D, gW, packed, first):
    """``gW = A^T D`` (``gW += A^T D`` unless ``first``)."""


@overload(_packed_times_weights, inline="always")
def _packed_times_weights_by_type(A, C, packed, l, transposed):
    if isinstance(packed, types.NoneType):
        return lambda A, C, packed, l, transposed: None
    return lambda A, C, packed, l, transposed: call_product(
        A, packed[0], packed[1][l, transposed], C, packed[2])


@overload(_packed_weight_gradient, inline="always")
def _packed_weight_gradient_by_type(A, D, gW, packed, first):
    if isinstance(packed, types.NoneType):
        return lambda A, D, gW, packed, first: None
    return lambda A, D, gW, packed, first: call_product_tn(
        A, D, gW, packed[2], packed[3], not first)


@jit_inline
def _borrowed_net(net):
    """``net`` with its arrays ``borrowed``: taking one from the tuple, as
    every layer of every block does, then costs no atomic reference count."""
    return (borrowed(net[0]), borrowed(net[1]), borrowed(net[2]), borrowed(net[3]),
            borrowed(net[4]), net[5], net[6], net[7])


@jit_inline
def _pack_all_weights(sync, theta, layout, packed, first, end):
    """The team packs the weights: its members claim the tasks ``first`` to
    ``end - 1`` (``_pack_weights``' ``task - first``, two per layer) from
    ``sync``, and each returns once all are done."""
    while True:
        task = _claim(sync, _PACKS_CLAIMED, end)
        if task < 0:
            break
        _pack_weights(theta, layout, task - first, packed)
        atomic_add(sync, _PACKS_DONE, 1)
    _wait_until(sync, _PACKS_DONE, end)


@jit_inline
def _pack_weights(theta, layout, task, packed):
    """Pack layer ``task // 2``'s weights from ``theta`` for the next
    mini-batch: ``W`` for an even ``task``, ``W^T`` for an odd one."""
    l, at = task // 2, packed[1][task // 2, task % 2]
    if at < 0:
        return  # (a layer multiplying with BLAS; no deltas below the first layer)
    W = _weights(theta, layout, l)[0]
    if task % 2:
        call_pack_bt(W, packed[0], at)
    else:
        call_pack_b(W, packed[0], at)


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


# Weights up to this size are fetched whole when a thread takes a lane.
_PREFETCH_WEIGHTS_MAX_BYTES = 1 << 20


@jit
def _prefetch_weights(theta):
    """Start fetching every cache line of ``theta`` into this core's cache.

    After an update split between threads, part of the weights was last
    written on other cores; the lane's products would otherwise fetch them
    line by line as they reach them, each a cross-core round trip.
    """
    lines = c_view(theta, 0, (1, theta.shape[0]))  # (the 2-D form ``prefetch`` takes)
    step = max(1, 64 // theta.itemsize)
    for j in range(0, theta.shape[0], step):
        prefetch(lines, 0, j)


@jit_inline
def _non_finite(x):
    """How many elements of the 1-D ``x`` are NaN or infinite.

    Counts instead of stopping at the first: the loop then vectorises.
    Relies on the fast-math flags leaving out ``nnan`` and ``ninf``, under
    which the test could be folded away.
    """
    bad = 0
    for k in range(x.shape[0]):
        bad += np.int64(not np.isfinite(x[k]))
    return bad


@jit
def _lane_input_finite(Xd, rows, ws, wsl, cap):
    """Whether the dense input ``rows`` of a lane whose forward pass is in
    ``ws`` hold no NaN or infinity.

    A lane of one block has its rows in one contiguous run, checked in one
    vectorised pass: ``Xd``'s own when the rows are consecutive (the forward
    product reads them in place), else the copy gathered for the first
    product.  Longer lanes are checked row by row.
    """
    n, d = rows.shape[0], Xd.shape[1]
    if n > cap:
        bad = 0
        for r in range(n):
            bad += _non_finite(Xd[rows[r]])
        return bad == 0
    if _consecutive(rows):
        return _non_finite(c_view(Xd, rows[0] * d, (n * d,))) == 0
    return _non_finite(c_view(ws, wsl[_ACT, 0] * cap, (n * d,))) == 0


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
    """``sum(w ** 2)`` in float64, in an order fixed by the code alone
    (``squares_by_lane``, then the last ``len(w) % 16`` in order): the loss
    that L-BFGS's line search compares must not depend on what the process
    compiled first, nor on the kernel this is inlined into."""
    s, j = squares_by_lane(w)
    for i in range(j, w.shape[0]):
        v = np.float64(w[i])
        s += v * v
    return s


@jit_exact
def _batch_loss(lane_loss, n_lanes, ssq, n_blocks, alpha, wsum, n):
    """A batch's mean loss (L2 term included) times ``n`` (its rows, or 1)."""
    mean = (ordered_sum(lane_loss, n_lanes) + 0.5 * alpha * ordered_sum(ssq, n_blocks)) / wsum
    return mean * n


@jit_inline
def _update_block(blk, grads, n_lanes, theta, n_coef, alpha, scale, opt_code, state, hyper,
                  ssq, summed, full):
    """Apply the optimizer to parameter block ``blk``, reducing the lanes on the way.

    All lanes but the last are summed into ``grads[0]`` (unless ``summed``
    already); ``step`` adds the last, the L2 term and the scale element by
    element as it updates, so the reduced gradient is never written back
    (nor moved between cores).
    """
    j0, j1 = _block_bounds(blk, theta.shape[0])
    # (the L2 term of the loss; none without one)
    ssq[blk] = _sum_of_squares(theta[j0:min(j1, n_coef)]) if alpha != 0 else 0.0
    last = n_lanes - 1
    if not summed:
        _sum_lanes(grads, last, j0, j1)
    step(opt_code, theta, grads[0], grads[last], last > 0, alpha, scale, n_coef, state, hyper,
         j0, j1, full)


@jit_inline
def _gradient_norm_block(blk, grads, n_lanes, theta, n_coef, alpha, scale, gsq):
    """Sum the lanes of block ``blk`` and store the squared norm of its gradient."""
    j0, j1 = _block_bounds(blk, theta.shape[0])
    last = n_lanes - 1
    _sum_lanes(grads, last, j0, j1)
    gsq[blk] = gradient_sum_of_squares(grads[0], grads[last], last > 0, theta, alpha, scale,
                                       n_coef, j0, j1)


# Counters shared by the threads of a team (``new_sync``), a cache line apart:
# lanes finished, parameter blocks claimed (rows of a prediction; the
# norm's) and finished (for the update and, when the gradient is clipped by
# its norm, for the norm), batches updated, for every lane the number of
# batches it has been claimed for, and for every share of the update's
# blocks the number taken (``_claim_block``).  They only grow during a
# call, so no counter is ever reset.
_LINE = 8  # int64 slots per 64-byte cache line
(_LANES_DONE, _BLOCKS_CLAIMED, _BLOCKS_DONE, _NORMS_CLAIMED, _NORMS_DONE, _UPDATED,
 _PACKS_CLAIMED, _PACKS_DONE, _LANE_CLAIMS) = range(0, 9 * _LINE, _LINE)
_BLOCK_CLAIMS = _LANE_CLAIMS + MAX_LANES * _LINE
# Set by the caller: whether the lanes check their input rows for NaN and
# infinity (``train_member``); then the count of lanes that found one.
CHECK_INPUT = _BLOCK_CLAIMS + MAX_LANES * _LINE
BAD_INPUT = CHECK_INPUT + _LINE
_N_COUNTERS = BAD_INPUT + _LINE

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
def _claim_block(sync, batch, n_blocks, n_shares, member):
    """A parameter block of ``batch``'s update for team member ``member``;
    -1 when all are taken.

    The blocks are split into ``n_shares`` consecutive shares; a member
    takes the blocks of share ``member`` first, then what is left of the
    others.  From batch to batch a thread then updates the same parameters,
    whose optimizer state and gradients stay in its core's cache instead of
    moving between cores with whichever thread came first.  Share ``k``'s
    counter holds the blocks taken from it in all batches so far.
    """
    for i in range(n_shares):
        k = (member + i) % n_shares
        lo = k * n_blocks // n_shares
        size = (k + 1) * n_blocks // n_shares - lo
        slot = _BLOCK_CLAIMS + k * _LINE
        while True:
            claimed = atomic_load(sync, slot)
            if claimed >= (batch + 1) * size:
                break
            if atomic_cas(sync, slot, claimed, claimed + 1) == claimed:
                return lo + claimed - batch * size
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
def train_member(member, sync, acc, data, net, opt, bufs, batch_size, packed, full, front,
                 copies):
    """Member ``member`` of a team of threads training on ``order``.

    Arguments, grouped:

    * ``acc = (lane_loss, ssq, gsq, total)``: float64 accumulators, a slot
      per lane, per parameter block (twice) and ``total[0]`` for the loss.
    * ``data = (Xd, Xdata, Xind, Xptr, Y, sw, order)``: the input, targets,
      sample weights (empty for unit weights) and the rows, in order.
    * ``net``: the network spec (module docstring).
    * ``opt = (loss_code, alpha, opt_code, state, hyper, t, clock)``: the
      loss, the L2 strength, the optimizer, its state and settings
      (``_optimizers``), the number of steps taken before, and
      ``clock = [nadam's momentum product, the last step's learning rate]``,
      updated here.
    * ``bufs = (grads, ws, cap)``: the lanes' gradient buffers and the
      members' workspaces, for blocks of ``cap`` rows.
    * ``packed``: None, or the packed weights and scratch of packed
      products (above ``_member_packed``); the team then packs the layers'
      weights before the lanes of every batch.

    Runs consecutive mini-batches of ``batch_size`` rows over ``order``.  For
    every batch the team's threads claim, with atomic operations on
    ``sync`` (``new_sync``), first its lanes (each lane's rows forward and
    backward into its own gradient buffer), then, once all lanes are done,
    the parameter blocks of its update (each thread those of its own share
    first: ``_claim_block``; the lanes summed in lane order, the
    L2 term added, the sample-weight sum divided out and the optimizer step
    taken, element by element); the thread that finishes the last block
    adds the batch's loss to ``total[0]`` and releases the team into the
    next batch.  When the gradient is clipped by its global norm, a round
    over the blocks that sums the lanes and each block's squared norm comes
    between the two.  With ``opt_code`` GRADIENT the update writes the
    gradient to ``state[0]`` instead, and the loss added is the batch's mean:
    one batch over all rows is the full-batch loss and gradient of L-BFGS.

    Every thread of the team runs this function with its own ``member``
    number and the same arrays; ``ws`` has a workspace per member.  A thread
    takes the lane of its own number when it can, and after each lane starts
    fetching the rows that lane has in the next batch into its cache.
    Waiting threads spin briefly, then yield their core.  Any thread may take
    any task and lanes are summed in lane order, so the result does not
    depend on the number of threads; nothing waits on a particular thread,
    so a member that starts late, or never, only slows the others (a team of
    one is the serial kernel).  Every thread flushes denormal numbers to
    zero for the call (``flush_denormals``), its BLAS calls included, and
    puts its flags back at the end.  The kernels raise no exceptions; the one
    exception is an IndexError under ``NUMBA_BOUNDSCHECK=1``, and a thread
    stopped by it would leave the others waiting, so there an out-of-bounds
    access shows as a hang rather than an error.

    With ``sync[CHECK_INPUT]`` set (dense input), each lane checks its
    rows for NaN and infinity after its forward pass, in the contiguous
    copy its first product used (``_lane_input_finite``); a lane that finds
    one counts itself in ``sync[BAD_INPUT]``, and the team stops after that
    batch's lanes, before its update.  A thread that takes a lane first
    fetches the weights of a small network into its cache
    (``_prefetch_weights``).  Returns the number of batches whose update
    was taken.
    """
    fp_flags = flush_denormals()
    # the caller's arrays: views of them skip reference counting (``borrowed``)
    sync = borrowed(sync)
    lane_loss, ssq, gsq, total = (borrowed(acc[0]), borrowed(acc[1]), borrowed(acc[2]),
                                  borrowed(acc[3]))
    X = (borrowed(data[0]), borrowed(data[1]), borrowed(data[2]), borrowed(data[3]))
    Y, sw, order = borrowed(data[4]), borrowed(data[5]), borrowed(data[6])
    net = _borrowed_net(net)
    theta = net[0]
    loss_code, alpha, opt_code = opt[0], opt[1], opt[2]
    state, hyper, t, clock = borrowed(opt[3]), opt[4], opt[5], borrowed(opt[6])
    grads, cap = borrowed(bufs[0]), bufs[2]
    work = borrowed(bufs[1])[member]
    sizes = layer_sizes(net[1])
    n_params = theta.shape[0]
    n_coef = net[7]
    n_blocks = _n_param_blocks(n_params)
    n_shares = min(grads.shape[0], MAX_LANES)  # (a share per lane: ``_claim_block``)
    typed_alpha = theta.dtype.type(alpha)
    typed = np.empty(N_HYPER, dtype=theta.dtype)
    typed_hyper(hyper, typed)
    clip_norm = hyper[CLIP_NORM]
    lane_packed = _member_packed(packed, member)
    n_layers = sizes.shape[0] - 1
    n_total = order.shape[0]
    n_batches = (n_total + batch_size - 1) // batch_size
    check = sync[CHECK_INPUT] != 0 and X[0].shape[0] > 0
    # (the lanes of packed layers read the packed copy, not ``theta``)
    fetch_weights = grads.shape[0] > 1 and n_params * theta.itemsize <= _PREFETCH_WEIGHTS_MAX_BYTES
    if packed is not None:
        fetch_weights = fetch_weights and packed[0].shape[0] == 0
    lane_base = 0
    for batch in range(n_batches):
        b0 = batch * batch_size
        rows = order[b0:min(n_total, b0 + batch_size)]
        n = rows.shape[0]
        per, n_lanes = lane_split(n, grads.shape[0])
        lanes_end = lane_base + n_lanes
        next_rows = order[b0 + n:min(n_total, b0 + n + batch_size)]
        next_per, next_lanes = lane_split(next_rows.shape[0], grads.shape[0])
        step_number = t + batch + 1
        if packed is not None:
            _pack_all_weights(sync, theta, net[1], packed, batch * 2 * n_layers,
                              (batch + 1) * 2 * n_layers)
        fetch = fetch_weights  # (once per batch, by a member that takes a lane)
        while True:
            k = _claim_lane(sync, batch, n_lanes, member)
            if k < 0:
                break
            if fetch:
                _prefetch_weights(theta)
                fetch = False
            lane_rows = _lane_rows(rows, k, per)
            lane_loss[k] = _lane(X, Y, sw, lane_rows, theta, net, loss_code,
                                 grads[k], work, sizes, cap, step_number, lane_packed, full,
                                 front, copies)
            if check and not _lane_input_finite(X[0], lane_rows, work, net[3], cap):
                atomic_add(sync, BAD_INPUT, 1)
            atomic_add(sync, _LANES_DONE, 1)
            if k < next_lanes:
                _prefetch_rows(X[0], Y, _lane_rows(next_rows, k, next_per))
        _wait_until(sync, _LANES_DONE, lanes_end)
        if check and atomic_load(sync, BAD_INPUT) > 0:
            # (seen by every member after the same batch's lanes: none updates)
            n_batches = batch
            break
        wsum = _weight_sum(sw, rows)
        scale = theta.dtype.type(1.0 / wsum)
        rate, mu_product = step_hyper(opt_code, hyper, step_number, clock[0], typed, full)
        blocks_end = (batch + 1) * n_blocks
        clipped = False
        if full is not None:
            clipped = clip_norm > 0
        if clipped:
            while True:
                blk = _claim(sync, _NORMS_CLAIMED, blocks_end)
                if blk < 0:
                    break
                _gradient_norm_block(blk - batch * n_blocks, grads, n_lanes, theta, n_coef,
                                     typed_alpha, scale, gsq)
                atomic_add(sync, _NORMS_DONE, 1)
            _wait_until(sync, _NORMS_DONE, blocks_end)
            norm = np.sqrt(ordered_sum(gsq, n_blocks))
            scale = theta.dtype.type(scale * min(1.0, clip_norm / (norm + 1e-6)))
        while True:
            blk = _claim_block(sync, batch, n_blocks, n_shares, member)
            if blk < 0:
                break
            _update_block(blk, grads, n_lanes, theta, n_coef,
                          typed_alpha, scale, opt_code, state, typed, ssq, clipped, full)
            if atomic_add(sync, _BLOCKS_DONE, 1) + 1 == blocks_end:
                # the batch's last block: record the loss, release the team
                rows_counted = 1 if opt_code == GRADIENT else n
                total[0] += _batch_loss(lane_loss, n_lanes, ssq, n_blocks, alpha, wsum,
                                        rows_counted)
                clock[0] = mu_product
                clock[1] = rate
                atomic_add(sync, _UPDATED, 1)
        _wait_until(sync, _UPDATED, batch + 1)
        lane_base = lanes_end
    restore_denormals(fp_flags)
    return n_batches


@jit_entry
def predict_member(member, sync, X, rows, net, ws, cap, out, packed, full, front, copies):
    """Member ``member`` of a team computing the network's output for ``rows``.

    Output activation applied, into ``out``.  Each thread of the team runs
    this function with its own ``member`` number (its workspace ``ws[member]``)
    and takes blocks of ``cap`` rows from an atomic counter in ``sync``
    (``new_sync``): the calling thread starts at once while the others wake.
    With ``packed`` (float32: ``train_member``'s, but without room for any
    ``W^T``), the team first packs the weights of the layers that have a
    place there, then multiplies them packed; the others multiply with BLAS.
    """
    # the caller's arrays: views of them skip reference counting (``borrowed``)
    X = (borrowed(X[0]), borrowed(X[1]), borrowed(X[2]), borrowed(X[3]))
    net = _borrowed_net(net)
    sync, rows, theta, out = borrowed(sync), borrowed(rows), net[0], borrowed(out)
    work = borrowed(ws)[member]
    sizes = layer_sizes(net[1])
    wsl = net[3]
    k = np.int64(1)
    if copies is not None:
        k = copies_of(copies)
    n = rows.shape[0]
    n_blocks = (n + cap - 1) // cap
    L = sizes.shape[0] - 1
    if packed is not None:  # (no place for any W^T: the odd tasks pack nothing)
        _pack_all_weights(sync, theta, net[1], packed, 0, 2 * L)
    own = _member_packed(packed, member)
    while True:
        blk = _claim(sync, _BLOCKS_CLAIMED, n_blocks)
        if blk < 0:
            break
        r0 = blk * cap
        r1 = min(n, r0 + cap)
        _forward(X, rows[r0:r1], theta, net, work, sizes, cap, full, front, copies, own)
        Z = _block(work, wsl, sizes, cap, _ACT, L, r1 - r0)
        if copies is not None:
            mean_of_copies(Z, k, out[r0:r1])
        else:
            _copy(Z.reshape(-1), out[r0:r1].reshape(-1))


@jit_entry
def all_finite(x):
    """Whether no element of the 1-D ``x`` is NaN or infinite (``_non_finite``:
    a training set of 40k x 20 float32 in ~45 us against ~125 for NumPy's
    ``isfinite(x.sum())``)."""
    return _non_finite(x) == 0


@jit_entry
def predict_few(X, rows, net, out, full, front, copies):
    """Network output for every row of a small dense input into ``out``.

    The latency path for a few rows: ``X`` is dense (``X[0]``, the others
    empty) and ``rows`` is ``0 .. n - 1``, both of the types
    ``predict_member`` takes, so that the two share one compiled forward
    pass; no workspace from the caller, and the finiteness check of the
    input done here.  With one network output and two columns in ``out``,
    writes ``1 - p, p`` (binary probabilities).  Returns False, leaving
    ``out`` unset, if the input has a NaN or infinite value.
    """
    # the caller's arrays (not ``ws`` below, which this call owns)
    X = (borrowed(X[0]), borrowed(X[1]), borrowed(X[2]), borrowed(X[3]))
    net = _borrowed_net(net)
    rows, theta = borrowed(rows), net[0]
    n = X[0].shape[0]
    if not all_finite(X[0].reshape(-1)):
        return False
    sizes = layer_sizes(net[1])
    wsl = net[3]
    L = sizes.shape[0] - 1
    ws = np.empty(n * wsl[_ACT, L + 1], dtype=theta.dtype)
    _forward(X, rows, theta, net, ws, sizes, n, full, front, copies, _no_packing(ws, net[1]))
    Z = _block(ws, wsl, sizes, n, _ACT, L, n)
    k = np.int64(1)
    if copies is not None:
        k = copies_of(copies)
    if copies is not None:
        mean_of_copies(Z, k, out)
    elif Z.shape[1] == 1 and out.shape[1] == 2:
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


def net_type(dtype, writable):
    """The Numba type of the network spec tuple (module docstring)."""
    f, i, x = from_dtype(np.dtype(dtype)), types.int64, types.float64
    theta = types.Array(f, 1, "C", readonly=not writable)
    return types.Tuple((theta, _ro(i, 2), _ro(i, 1), _ro(i, 2), _ro(x, 1), i, i, i))


def _ro(dt, ndim):
    return types.Array(dt, ndim, "C", readonly=True)


def _rw(dt, ndim):
    return types.Array(dt, ndim, "C")


def is_full(args):
    """Whether the argument types ``args`` are those of a full kernel (module docstring)."""
    return len(args) > 2 and args[-3] == types.boolean


def has_front(args):
    """Whether the argument types ``args`` are those of a kernel for networks
    with a front layer (module docstring)."""
    return len(args) > 2 and isinstance(args[-2], types.Array)


def has_copies(args):
    """Whether the argument types ``args`` are those of a kernel for networks
    with copies (module docstring)."""
    return len(args) > 2 and isinstance(args[-1], types.Array)


def packed_kind(args):
    """Of a training kernel's argument types ``args``, the ``per_element`` of
    its packed products (``train_member``'s ``packed``): 2 (bfloat16), 1
    (float32), or None (float64: BLAS products)."""
    if len(args) > 3 and isinstance(args[-4], types.BaseTuple):
        return 2 if args[-4].types[0].dtype == types.uint32 else 1
    return None


def packed_type(per):
    """The Numba type of ``train_member``'s ``packed`` argument for products
    of ``per_element`` ``per``."""
    u = types.uint32 if per == 2 else types.float32
    return types.Tuple((_rw(u, 1), _ro(types.int64, 2), _rw(u, 2), _rw(u, 2)))


def training_parts(dtype, full, front=False):
    """``(helper, argument types)`` of the larger parts of the training kernel
    for ``dtype`` (``full``: whether the full kernel; ``front``: for networks
    with a front layer), as it calls them (with packed products too: those
    are not part of the kernel, ``_packed.load``).

    Another process can compile these into the cache while this one
    compiles the kernel itself (``_compile.compile_ahead``), which then
    loads them instead of compiling them.  Ordered by when the kernel's
    compilation needs them: the schedule first, then the forward pass (the
    front layer first), then the backward pass (the front layer last; the
    optimizer's update, which comes between, is left to the kernel's own
    compilation: another process would not have it ready in time).
    """
    f, i, x = from_dtype(np.dtype(dtype)), types.int64, types.float64
    flag = types.boolean if full else types.none
    matrix, row = _rw(f, 2), _rw(f, 1)
    parts = [(step_hyper, (i, _ro(x, 1), i, x, row, flag))]
    if front:
        parts.append((front_forward, (_ro(f, 2), _ro(i, 1), _ro(f, 1), _ro(i, 1), matrix)))
    parts.append((bias_activate, (matrix, row, i, flag)))
    if full:
        parts.append((activate_and_derive, (matrix, row, i, matrix)))
    parts.append((multiply_derivative, (matrix, matrix, i, row, flag)))
    if full:
        parts.append((dropout, (matrix, matrix, _ro(i, 1), i, x, i, types.uint64)))
    parts += [
        (loss_and_delta, (matrix, _ro(f, 2), _ro(f, 1), _ro(i, 1), i, matrix)),
        (_back_through, (matrix, matrix, matrix)),
    ]
    if front:
        parts.append((front_backward, (_ro(f, 2), _ro(i, 1), _ro(f, 1), _ro(i, 1), matrix,
                                       matrix, row)))
    return parts


def entry_signatures(dtype, front=False, copies=False, bf16=False):
    """``(kernel, argument types)`` of every call the engine makes into this module.

    One signature per kernel and dtype (float32 or float64): arrays a kernel
    only reads are read-only, the others writable, all C-contiguous, scalars
    int64 or float64.  The engine passes exactly these types (read-only
    views, ``_engine._readonly``), so that ``fastnn.compile_kernels``, which
    compiles this list, leaves nothing to compile later.  With ``front``,
    the kernels of networks with a front layer instead (full training and
    prediction, the front vector's type next to last), which
    ``compile_kernels`` builds only when asked to; with ``copies`` too, those
    of networks with copies (the copies vector's type last), which only a
    model with copies compiles.  The float32 training and ``predict_member``
    kernels take packed float32 products (``packed``, which layers use them
    is the engine's choice), the float64 ones none.  With ``bf16`` (float32
    only), the full training kernel and ``predict_member`` (the validation
    scores of early stopping) with bfloat16 products instead (of networks
    with a front layer and copies as the flags say), which only a model
    trained in that precision compiles (and ``compile_kernels`` with
    ``tabular`` for the front layer's, that of ``TabularMLP*``'s default).
    """
    f, i, x = from_dtype(np.dtype(dtype)), types.int64, types.float64
    X = types.Tuple((_ro(f, 2), _ro(f, 1), _ro(i, 1), _ro(i, 1)))  # Xd, Xdata, Xind, Xptr
    acc = types.Tuple((_rw(x, 1),) * 4)
    data = types.Tuple((*X.types, _ro(f, 2), _ro(f, 1), _ro(i, 1)))
    opt = types.Tuple((i, x, i, _rw(f, 2), _ro(x, 1), i, _rw(x, 1)))
    bufs = types.Tuple((_rw(f, 2), _rw(f, 2), i))
    team = (i, _rw(i, 1))  # member, sync
    train = (*team, acc, data, net_type(dtype, True), opt, bufs, i)
    if front:
        full = (types.boolean, _ro(i, 1), _ro(i, 1) if copies else types.none)
    else:
        full = (types.boolean, types.none, types.none)
    prediction = (*team, X, _ro(i, 1), net_type(dtype, False), _rw(f, 2), i, _rw(f, 2))
    if bf16:
        return [(train_member, (*train, packed_type(2), *full)),
                (predict_member, (*prediction, packed_type(2), *full))]
    packed = packed_type(1) if f == types.float32 else types.none
    train = (*train, packed)
    few = (X, _ro(i, 1), net_type(dtype, False), _rw(f, 2))
    if front:
        return [(train_member, (*train, *full)), (predict_member, (*prediction, packed, *full)),
                (predict_few, (*few, *full))]
    # training basic and full (``fastnn.compile_kernels`` compiles the full
    # one only); prediction full only
    none = types.none
    return [
        (train_member, (*train, none, none, none)),
        (train_member, (*train, *full)),
        (predict_member, (*prediction, packed, *full)),
        (predict_few, (*few, *full)),
        (all_finite, (_ro(f, 1),)),
    ]
