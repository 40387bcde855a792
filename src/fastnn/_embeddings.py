"""The front layer of tabular networks: column scaling and periodic embeddings.

Between an encoded table row ``x`` (``d`` columns, the first ``m`` of them
numeric) and the first dense layer, the front layer computes the dense
layer's input

    A_0 = [g s_j x_j  for every column j,   e_f  for every numeric column f]
    e_f = relu(cos(2 pi (w_f x_f + c_f)) V_f + u_f)

* ``s`` is a learned scale per column (RealMLP's scaling layer), kept as
  ``s / g`` with the gain ``g = SCALE_GAIN``: the optimizer's steps on it are
  then ``g`` times larger than on the other parameters, as RealMLP's larger
  learning rate for that layer makes them;
* ``e_f`` is a learned periodic embedding of numeric column ``f`` (the "PLR"
  embeddings of Gorishniy et al., "On Embeddings for Numerical Features in
  Tabular Deep Learning", 2022): ``K`` frequencies ``w_f`` and phases
  ``c_f`` (in turns), a ``K x E`` linear map ``V_f`` with intercepts
  ``u_f``, and a ReLU.

The layer is described by ``front``, an int64 vector (``FRONT_*`` below):
``d``, ``m``, ``K``, ``E`` and the offsets of ``s`` (-1: no scaling), ``w``,
``c``, ``V`` and ``u`` in the flat parameter vector.  ``d = 0`` means no
front layer (the network's input is ``x`` itself).  Both kernels work on a
block of rows given by their indices into the dense input ``Xd``.
"""

import math

import numpy as np

from ._config import jit
from ._elementary import cos_sin_turns

# Entries of the ``front`` vector.
(FRONT_INPUTS, FRONT_PERIODIC, FRONT_FREQUENCIES, FRONT_WIDTH, FRONT_SCALE, FRONT_W, FRONT_C,
 FRONT_V, FRONT_U) = range(9)
FRONT_SIZE = 9

# The scale's gain (module docstring): RealMLP's learning-rate factor for it.
SCALE_GAIN = 6.0


@jit
def _periodic_parameters(theta, front):
    """Views of ``w``, ``c`` (m x K), ``V`` (m x K x E) and ``u`` (m x E)."""
    m, K, E = front[FRONT_PERIODIC], front[FRONT_FREQUENCIES], front[FRONT_WIDTH]
    w = theta[front[FRONT_W]:front[FRONT_W] + m * K].reshape((m, K))
    c = theta[front[FRONT_C]:front[FRONT_C] + m * K].reshape((m, K))
    V = theta[front[FRONT_V]:front[FRONT_V] + m * K * E].reshape((m, K, E))
    u = theta[front[FRONT_U]:front[FRONT_U] + m * E].reshape((m, E))
    return w, c, V, u


@jit
def front_forward(Xd, rows, theta, front, A):
    """``A[r] = A_0`` (module docstring) of input row ``Xd[rows[r]]``, for every ``r``."""
    d, m, K, E = front[FRONT_INPUTS], front[FRONT_PERIODIC], front[FRONT_FREQUENCIES], \
        front[FRONT_WIDTH]
    dt = A.dtype.type
    s_off = front[FRONT_SCALE]
    w, c, V, u = _periodic_parameters(theta, front)
    p = np.empty(K, dtype=A.dtype)
    for r in range(rows.shape[0]):
        x = Xd[rows[r]]
        a = A[r]
        if s_off >= 0:
            gain = dt(SCALE_GAIN)
            for j in range(d):
                a[j] = gain * theta[s_off + j] * x[j]
        else:
            for j in range(d):
                a[j] = x[j]
        col = d
        for f in range(m):
            xf = x[f]
            for k in range(K):
                p[k] = cos_sin_turns(w[f, k] * xf + c[f, k], dt)[0]
            for i in range(E):
                acc = u[f, i]
                for k in range(K):
                    acc += p[k] * V[f, k, i]
                a[col + i] = max(acc, dt(0))
            col += E


@jit
def front_backward(Xd, rows, theta, front, A, D, g):
    """Add the front layer's parameter gradients to ``g``, from the deltas
    ``D`` of its outputs ``A`` (``front_forward``) for the input rows ``rows``."""
    d, m, K, E = front[FRONT_INPUTS], front[FRONT_PERIODIC], front[FRONT_FREQUENCIES], \
        front[FRONT_WIDTH]
    dt = A.dtype.type
    s_off = front[FRONT_SCALE]
    w, c, V, u = _periodic_parameters(theta, front)
    gw, gc, gV, gu = _periodic_parameters(g, front)
    de = np.empty(E, dtype=A.dtype)
    minus_two_pi = dt(-2.0 * math.pi)
    for r in range(rows.shape[0]):
        x = Xd[rows[r]]
        a = A[r]
        delta = D[r]
        if s_off >= 0:
            gain = dt(SCALE_GAIN)
            for j in range(d):
                g[s_off + j] += gain * delta[j] * x[j]
        col = d
        for f in range(m):
            xf = x[f]
            for i in range(E):
                de[i] = delta[col + i] if a[col + i] > 0 else dt(0)
                gu[f, i] += de[i]
            for k in range(K):
                cos_t, sin_t = cos_sin_turns(w[f, k] * xf + c[f, k], dt)
                back = dt(0)
                for i in range(E):
                    back += V[f, k, i] * de[i]
                    gV[f, k, i] += cos_t * de[i]
                slope = minus_two_pi * sin_t * back  # d loss / d t
                gc[f, k] += slope
                gw[f, k] += slope * xf
            col += E
