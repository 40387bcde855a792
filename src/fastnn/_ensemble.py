"""The ensemble of copies of tabular networks (TabM-mini; Gorishniy et al.,
"TabM: Advancing Tabular Deep Learning with Parameter-Efficient Ensembling",
2024).

A network with ``k`` copies carries every row ``k`` times through its dense
layers, whose weights the copies share.  Copy ``i`` of a row enters the
first dense layer as ``r_i * a``, the front layer's output ``a``
(``_embeddings``) times the copy's multiplicative adapter ``r_i``, and
leaves through its own output layer, head ``i``.  Training minimises the
mean of the copies' losses; the prediction is the mean of their outputs
(of their probabilities, for a classifier).  The copies differ by their
adapters, heads and dropout masks only: ``k`` costs rows through the shared
weights, not weights.

Layout, for a block of ``n`` rows: the matrices of the first dense layer's
input and of every hidden layer have ``k n`` rows, copy ``i`` of row ``r``
at row ``i n + r``, so that a copy's rows are one matrix; the output
layer's outputs, ``k n x o`` (``o`` outputs), likewise, in the memory of
its ``n x k o`` workspace matrix.  The output layer's weights are ``k``
consecutive ``h x o`` matrices, one per head (``(k h) x o`` as one
matrix), its intercepts ``k`` consecutive vectors.  The adapters are a
``k x d`` matrix in the front layer's parameters.

The kernels take a network with copies by the argument ``copies``, an
int64 vector: ``k`` (``COPIES``) and the offset of the adapters in the flat
parameter vector (``ADAPTERS``); None for other networks, whose kernels
leave the code of copies out by that argument's type.
"""

from ._config import jit
from ._intrinsics import c_view

# Entries of the ``copies`` vector.
COPIES, ADAPTERS = range(2)


@jit
def copies_of(copies):
    """The number of copies (``copies``: the kernels' vector)."""
    return copies[COPIES]


@jit
def adapters(theta, copies, d):
    """The ``k x d`` adapters' view of the parameter vector ``theta`` (or of a
    gradient laid out as it)."""
    k, off = copies[COPIES], copies[ADAPTERS]
    return c_view(theta, off, (k, d))


@jit
def expand(Af, R, A):
    """``A[i n + r] = R[i] * Af[r]``: the copies of the ``n`` rows of ``Af``."""
    n, d = Af.shape
    k = R.shape[0]
    for i in range(k):
        ri = R[i]
        for r in range(n):
            a = Af[r]
            dst = A[i * n + r]
            for j in range(d):
                dst[j] = ri[j] * a[j]


@jit
def collapse(Af, R, D, Df, gR):
    """Backward of ``expand``: ``Df[r] = sum_i R[i] * D[i n + r]`` and
    ``gR[i] += sum_r Af[r] * D[i n + r]``."""
    n, d = Af.shape
    k = R.shape[0]
    for r in range(n):
        df = Df[r]
        for j in range(d):
            df[j] = 0
    for i in range(k):
        ri = R[i]
        gi = gR[i]
        for r in range(n):
            a = Af[r]
            dr = D[i * n + r]
            df = Df[r]
            for j in range(d):
                df[j] += ri[j] * dr[j]
                gi[j] += a[j] * dr[j]


@jit
def mean_of_copies(Z, k, out):
    """``out[r] = mean_i Zc[i n + r]``, the copies' mean output, where ``Zc``
    is the ``k n x o`` matrix in the memory of ``Z``; with one output and
    two columns in ``out``, ``1 - p, p`` (binary probabilities)."""
    n = Z.shape[0]
    o = Z.shape[1] // k
    Zc = Z.reshape((k * n, o))
    inv = 1.0 / k
    binary = o == 1 and out.shape[1] == 2
    for r in range(n):
        for j in range(o):
            s = 0.0
            for i in range(k):
                s += Zc[i * n + r, j]
            if binary:
                out[r, 0] = 1.0 - s * inv
                out[r, 1] = s * inv
            else:
                out[r, j] = s * inv
