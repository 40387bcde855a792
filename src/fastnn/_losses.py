"""Loss functions on the output layer's pre-activations, and their pairing.

Every loss here is paired with the output activation that makes it a
*canonical link*: the gradient with respect to the pre-activation ``z`` is
then simply ``f(z) - y``.  The pairing is an explicit table, not a comment.

The loss is evaluated from ``z`` itself (log-sum-exp, softplus), never from a
clipped probability, so it is exact and finite at any logit.  Each returns the
(sample-weighted) *sum* over rows and outputs; callers divide by the weight sum.
For several outputs the loss is the sum over outputs of the per-output loss,
which is what the gradient ``f(z) - y`` differentiates (loss and gradient agree
for multi-output squared error).
"""

from dataclasses import dataclass
from typing import Callable

import numpy as np
from scipy.special import xlogy

from ._activations import ACTIVATIONS
from ._config import jit
from ._elementary import exp, log1p, ordered_sum
from ._intrinsics import c_view

SQUARED_ERROR = 0
POISSON = 1
BINARY_LOG_LOSS = 2
LOG_LOSS = 3


def _clipped(P):
    eps = np.finfo(P.dtype).eps
    return np.clip(P, eps, 1 - eps)


@dataclass(frozen=True)
class Loss:
    """A loss: its kernel code, the output activation it is paired with, and
    a NumPy reference of its value per row, from the network's output ``P``
    (activation applied) and the targets ``Y`` (both 2-D, float64)."""

    name: str
    code: int
    output_activation: str
    per_row: Callable


REGISTRY = {loss.name: loss for loss in (
    Loss("squared_error", SQUARED_ERROR, "identity",
         lambda P, Y: 0.5 * ((P - Y) ** 2).sum(axis=1)),
    Loss("poisson", POISSON, "exp",
         lambda P, Y: (P - xlogy(Y, P) + xlogy(Y, Y) - Y).sum(axis=1)),
    Loss("binary_log_loss", BINARY_LOG_LOSS, "logistic",
         lambda P, Y: -(xlogy(Y, _clipped(P)) + xlogy(1 - Y, 1 - _clipped(P))).sum(axis=1)),
    Loss("log_loss", LOG_LOSS, "softmax", lambda P, Y: -xlogy(Y, _clipped(P)).sum(axis=1)),
)}

#: name -> integer code used inside the kernels.
LOSSES = {name: loss.code for name, loss in REGISTRY.items()}

#: loss -> output activation making ``f(z) - y`` the exact gradient.
OUTPUT_ACTIVATION = {name: loss.output_activation for name, loss in REGISTRY.items()}

assert set(OUTPUT_ACTIVATION.values()) <= set(ACTIVATIONS)


def mean_loss(name, P, Y, sample_weight=None):
    """The (sample-weighted) mean over rows of loss ``name``, in float64."""
    rows = REGISTRY[name].per_row(np.asarray(P, dtype=np.float64),
                                  np.asarray(Y, dtype=np.float64).reshape(len(P), -1))
    return float(np.average(rows, weights=sample_weight))


@jit
def _xlogx(y):
    return y * np.log(y) if y > 0.0 else 0.0


@jit
def loss_and_delta(Z, Y, sw, rows, code, delta):
    """Loss summed over the block and ``delta = sw * (f(Z) - Y)``.

    ``Z`` holds the output pre-activations of the block, whose samples are
    ``rows`` of the targets ``Y`` and sample weights ``sw`` (length 0 for
    unit weights).  Returns the weighted loss sum as float64.
    """
    n, m = Z.shape
    if code == BINARY_LOG_LOSS:
        return _binary_log_loss(Z, Y, sw, rows, delta)
    weighted = sw.shape[0] > 0
    total = 0.0
    for i in range(n):
        yi = Y[rows[i]]
        row = 0.0
        if code == LOG_LOSS:
            mx = Z[i, 0]
            for j in range(1, m):
                mx = max(mx, Z[i, j])
            di = delta[i]
            for j in range(m):
                di[j] = exp(Z[i, j] - mx)
            s = ordered_sum(di, m)  # the same order in every kernel
            lse = mx + np.log(s)
            inv = Z.dtype.type(1.0 / s)
            for j in range(m):
                row += yi[j] * (lse - Z[i, j])
                di[j] = di[j] * inv - yi[j]
        else:
            for j in range(m):
                z = Z[i, j]
                y = yi[j]
                if code == SQUARED_ERROR:
                    d = z - y
                    row += 0.5 * d * d
                    delta[i, j] = d
                elif code == POISSON:
                    ez = exp(z)
                    row += ez - y * z + _xlogx(y) - y
                    delta[i, j] = ez - y
        if weighted:
            w = sw[rows[i]]
            row *= w
            for j in range(m):
                delta[i, j] *= w
        total += row
    return total


@jit
def _binary_log_loss(Z, Y, sw, rows, delta):
    """``loss_and_delta`` for logistic outputs, as a loop that vectorises.

    The block's ``n x m`` outputs are run through as one vector: the targets
    are gathered first (LLVM does not vectorise a loop with a gather, nor
    with the sample-weight branch, which comes after), and then one loop uses
    ``exp`` and ``log1p`` from ``_elementary`` (the C library's ``log1p`` is
    a scalar call).  Each output's loss goes to a float64 buffer, added in
    order by ``ordered_sum``: a sum accumulated in the vectorised loop would
    be reordered by fast-math, in different ways in different kernels.
    """
    n, m = Z.shape
    zero = Z.dtype.type(0)
    one = Z.dtype.type(1)
    # C arrays as vectors: unit stride, known to the vectoriser
    z_all = c_view(Z, 0, (n * m,))
    y_all = c_view(Y, 0, (Y.shape[0] * m,))
    d_all = c_view(delta, 0, (n * m,))
    if m == 1:  # the common case, without the inner loop's overhead
        for i in range(n):
            d_all[i] = y_all[rows[i]]
    else:
        for i in range(n):
            src = rows[i] * m
            for j in range(m):
                d_all[i * m + j] = y_all[src + j]
    terms = np.empty(n * m)
    for k in range(n * m):
        z = z_all[k]
        y = d_all[k]
        # softplus(z) - y z and sigmoid(z) - y from one e = exp(-|z|)
        e = exp(-abs(z))
        s = one / (one + e)
        d_all[k] = (s if z >= zero else e * s) - y
        terms[k] = float(max(z, zero)) + float(log1p(e)) - float(y * z)
    if sw.shape[0] > 0:
        for i in range(n):
            w = sw[rows[i]]
            for j in range(i * m, (i + 1) * m):
                d_all[j] *= w
                terms[j] *= w
    return ordered_sum(terms, n * m)
