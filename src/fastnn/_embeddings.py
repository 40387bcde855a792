"""The front layer of tabular networks: column scaling, periodic embeddings
of numeric columns, embeddings of categorical codes.

Between an encoded table row ``x`` (``d`` columns, the first ``m`` of them
numeric, then ``q`` columns of categorical codes) and the first dense
layer, the front layer computes the dense layer's input

    A_0 = [g s_j x_j  for every column j,   e_f  for every numeric column f,
           T_i[x_{d + i}]  for every code column i]
    e_f = relu(cos(2 pi (w_f x_f + c_f)) V_f + u_f)

* ``s`` is a learned scale per column (RealMLP's scaling layer), kept as
  ``s / g`` with the gain ``g = SCALE_GAIN``: the optimizer's steps on it are
  then ``g`` times larger than on the other parameters, as RealMLP's larger
  learning rate for that layer makes them;
* ``e_f`` is a learned periodic embedding of numeric column ``f`` (the "PLR"
  embeddings of Gorishniy et al., "On Embeddings for Numerical Features in
  Tabular Deep Learning", 2022): ``K`` frequencies ``w_f`` and phases
  ``c_f`` (in turns), a ``K x E`` linear map ``V_f`` with intercepts
  ``u_f``, and a ReLU;
* ``T_i`` is the table of code column ``i``: a learned row of ``E`` values
  per code (the code column is an integer in a float column, as
  ``_table`` writes it); its gradient is a scatter-add into the rows of
  the codes seen.

The layer is described by ``front``, an int64 vector (``FRONT_*`` below):
``d``, ``m``, ``K``, ``E`` and the offsets of ``s`` (-1: no scaling), ``w``,
``c``, ``V`` and ``u`` in the flat parameter vector; ``q`` and the offset
of the tables (all codes' rows, one table after another); then the first
row of each code column's table in the tables, and past the last.  Both
kernels work on a block of rows given by their indices into the dense
input ``Xd``.

Everything here is compiled without fast-math, and the sums over a block's
rows are BLAS products: with fast-math, LLVM vectorised those sums, and
ordered their additions, differently in the copy of a function inlined
into a kernel as it compiled and in the function's own library (which a
kernel loaded from the cache calls), and a fit's weights depended on
whether its kernels had been compiled in the process or loaded.
"""

import math

import numpy as np

from ._config import jit_exact
from ._elementary import cos_sin_turns
from ._intrinsics import c_view, wide_vectors

# Entries of the ``front`` vector.
(FRONT_INPUTS, FRONT_PERIODIC, FRONT_FREQUENCIES, FRONT_WIDTH, FRONT_SCALE, FRONT_W, FRONT_C,
 FRONT_V, FRONT_U, FRONT_CODED, FRONT_TABLES) = range(11)
FRONT_SIZE = 11  # then the first row of each code column's table, and past the last

# The scale's gain (module docstring): RealMLP's learning-rate factor for it.
SCALE_GAIN = 6.0


@jit_exact
def _periodic_parameters(theta, front):
    """Views of ``w``, ``c`` (m x K), ``V`` (m x K x E) and ``u`` (m x E)."""
    m, K, E = front[FRONT_PERIODIC], front[FRONT_FREQUENCIES], front[FRONT_WIDTH]
    w = c_view(theta, front[FRONT_W], (m, K))
    c = c_view(theta, front[FRONT_C], (m, K))
    V = c_view(theta, front[FRONT_V], (m, K, E))
    u = c_view(theta, front[FRONT_U], (m, E))
    return w, c, V, u


@jit_exact
def _scale_forward(Xd, rows, theta, front, A):
    d, s_off = front[FRONT_INPUTS], front[FRONT_SCALE]
    gain = A.dtype.type(SCALE_GAIN)
    for r in range(rows.shape[0]):
        x = Xd[rows[r]]
        a = A[r]
        if s_off >= 0:
            for j in range(d):
                a[j] = gain * theta[s_off + j] * x[j]
        else:
            for j in range(d):
                a[j] = x[j]


@jit_exact
def _code_offset(Xd, row, front, i):
    """Where the table row of code column ``i``'s value in input row ``row``
    starts in the parameter vector (an out-of-range code: the nearest row)."""
    d, E = front[FRONT_INPUTS], front[FRONT_WIDTH]
    first, end = front[FRONT_SIZE + i], front[FRONT_SIZE + i + 1]
    code = min(max(int(Xd[row, d + i]), 0), end - first - 1)
    return front[FRONT_TABLES] + (first + code) * E


@jit_exact
def _code_rows(Xd, rows, theta, front, A):
    """``A[r, d + m E + i E:...] = T_i[code]``: every code column's embedding."""
    d, m, E = front[FRONT_INPUTS], front[FRONT_PERIODIC], front[FRONT_WIDTH]
    for i in range(front[FRONT_CODED]):
        col = d + (m + i) * E
        for r in range(rows.shape[0]):
            t = _code_offset(Xd, rows[r], front, i)
            for j in range(E):
                A[r, col + j] = theta[t + j]


@jit_exact
def _code_gradient(Xd, rows, front, D, g):
    """Add the deltas ``D`` of the code columns' embeddings to the table rows
    of their codes (a scatter-add)."""
    d, m, E = front[FRONT_INPUTS], front[FRONT_PERIODIC], front[FRONT_WIDTH]
    for i in range(front[FRONT_CODED]):
        col = d + (m + i) * E
        for r in range(rows.shape[0]):
            t = _code_offset(Xd, rows[r], front, i)
            for j in range(E):
                g[t + j] += D[r, col + j]


@jit_exact
def _padded(n):
    """``n`` rounded up to whole vectors of 16 floats.  A loop over ``n``
    values ends with a scalar tail, which on the few dozen rows of a lane's
    block can take longer than the vector part (58 rows: 3 vector steps,
    then 10 scalar ones)."""
    return (n + 15) // 16 * 16


# Below this many rows the periodic embeddings are computed a row at a time
# (a prediction's latency), else a column at a time over all rows of the
# block: the loops over rows are long and vectorise, where those over a
# row's frequencies (16) or outputs (8) do not fill a vector register, but
# on a row or two the many short loops over rows cost more.
_FEW_ROWS = 4


@jit_exact
def _embed_rows(Xd, rows, theta, front, A):
    """``front_forward``'s embeddings a row at a time."""
    d, m, K, E = front[FRONT_INPUTS], front[FRONT_PERIODIC], front[FRONT_FREQUENCIES], \
        front[FRONT_WIDTH]
    dt = A.dtype.type
    w, c, V, u = _periodic_parameters(theta, front)
    p = np.empty(K, dtype=A.dtype)
    e = np.empty(E, dtype=A.dtype)
    for r in range(rows.shape[0]):
        row = rows[r]
        for f in range(m):
            xf = Xd[row, f]
            for k in range(K):
                p[k] = cos_sin_turns(w[f, k] * xf + c[f, k], dt)[0]
            for i in range(E):
                e[i] = u[f, i]
            for k in range(K):
                pk = p[k]
                for i in range(E):
                    e[i] += pk * V[f, k, i]
            col = d + f * E
            for i in range(E):
                A[r, col + i] = max(e[i], dt(0))


@jit_exact
def _cosines(Xd, rows, f, w, c, x, P, S):
    """``x`` the column ``f`` of the input rows (0 past them), and
    ``P[k, r] = cos(2 pi (w[f, k] x[r] + c[f, k]))`` for every frequency
    ``k`` and every row ``r`` of ``x`` (and ``S`` the sines, unless None).
    The loops run over rows: long, they vectorise, where those over a row's
    frequencies would not fill a vector register."""
    dt = P.dtype.type
    for r in range(rows.shape[0]):
        x[r] = Xd[rows[r], f]
    for k in range(P.shape[0]):
        wk, ck = w[f, k], c[f, k]
        pk = P[k]
        if S is None:
            for r in range(x.shape[0]):
                pk[r] = cos_sin_turns(wk * x[r] + ck, dt)[0]
        else:
            sk = S[k]
            for r in range(x.shape[0]):
                pk[r], sk[r] = cos_sin_turns(wk * x[r] + ck, dt)


@jit_exact
def front_forward(Xd, rows, theta, front, A):
    """``A[r] = A_0`` (module docstring) of input row ``Xd[rows[r]]``, for every ``r``.

    Per numeric column, the cosines of all rows (``_cosines``), then their
    linear map as one small matrix product (BLAS)."""
    wide_vectors()
    d, m, K, E = front[FRONT_INPUTS], front[FRONT_PERIODIC], front[FRONT_FREQUENCIES], \
        front[FRONT_WIDTH]
    dt = A.dtype.type
    n = rows.shape[0]
    _scale_forward(Xd, rows, theta, front, A)
    _code_rows(Xd, rows, theta, front, A)
    if n < _FEW_ROWS:
        _embed_rows(Xd, rows, theta, front, A)
        return
    w, c, V, u = _periodic_parameters(theta, front)
    # (the rows padded to whole vectors, _padded; the padding's outputs unused)
    n_all = _padded(n)
    x = np.zeros(n_all, dtype=A.dtype)
    P = np.empty((K, n_all), dtype=A.dtype)
    Et = np.empty((E, n_all), dtype=A.dtype)
    for f in range(m):
        _cosines(Xd, rows, f, w, c, x, P, None)
        np.dot(V[f].T, P, Et)
        for i in range(E):
            ui = u[f, i]
            col = d + f * E + i
            e = Et[i]
            for r in range(n):
                A[r, col] = max(e[r] + ui, dt(0))


@jit_exact
def front_backward(Xd, rows, theta, front, A, D, g):
    """Add the front layer's parameter gradients to ``g``, from the deltas
    ``D`` of its outputs ``A`` (``front_forward``) for the input rows ``rows``.

    Per numeric column, the products with its linear map are two small
    matrix products (BLAS): the deltas of the cosines, and the map's
    gradient; the sums over the rows are BLAS products too."""
    wide_vectors()
    d, m, K, E = front[FRONT_INPUTS], front[FRONT_PERIODIC], front[FRONT_FREQUENCIES], \
        front[FRONT_WIDTH]
    dt = A.dtype.type
    n = rows.shape[0]
    s_off = front[FRONT_SCALE]
    _code_gradient(Xd, rows, front, D, g)
    if s_off >= 0:
        gain = dt(SCALE_GAIN)
        for r in range(n):
            x = Xd[rows[r]]
            delta = D[r]
            for j in range(d):
                g[s_off + j] += gain * delta[j] * x[j]
    w, c, V, u = _periodic_parameters(theta, front)
    gw, gc, gV, gu = _periodic_parameters(g, front)
    # the rows padded to whole vectors (_padded), the padding with zero
    # inputs and deltas: it adds nothing to the sums
    n_all = _padded(n)
    x = np.zeros(n_all, dtype=A.dtype)
    De = np.zeros((E, n_all), dtype=A.dtype)  # the deltas of the embedding's pre-activations
    P = np.empty((K, n_all), dtype=A.dtype)
    S = np.empty((K, n_all), dtype=A.dtype)
    Dp = np.empty((K, n_all), dtype=A.dtype)  # the deltas of the cosines
    gVf = np.empty((K, E), dtype=A.dtype)
    ones = np.ones(n_all, dtype=A.dtype)
    gUf = np.empty(E, dtype=A.dtype)
    # d t / d c = 1 and d t / d w = x, times d cos(2 pi t) / d t = -2 pi sin(2 pi t)
    minus_two_pi = dt(-2.0 * math.pi)
    slopes = np.full((n_all, 2), minus_two_pi, dtype=A.dtype)  # (column 1 per column f)
    gCW = np.empty((K, 2), dtype=A.dtype)
    for f in range(m):
        _cosines(Xd, rows, f, w, c, x, P, S)
        for i in range(E):
            col = d + f * E + i
            de = De[i]
            for r in range(n):
                delta = D[r, col]  # (loaded first: the choice is then a select)
                de[r] = delta if A[r, col] > 0 else dt(0)
        for r in range(n_all):
            slopes[r, 1] = minus_two_pi * x[r]
        np.dot(De, ones, gUf)
        np.dot(V[f], De, Dp)
        np.dot(P, De.T, gVf)
        for k in range(K):
            dp, sk = Dp[k], S[k]
            for r in range(n_all):
                dp[r] *= sk[r]
        np.dot(Dp, slopes, gCW)
        for k in range(K):
            gc[f, k] += gCW[k, 0]
            gw[f, k] += gCW[k, 1]
            for i in range(E):
                gV[f, k, i] += gVf[k, i]
        for i in range(E):
            gu[f, i] += gUf[i]
