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
input and of every hidden layer have ``n k`` rows, copy ``i`` of row ``r``
at row ``r k + i``; the output layer's ``n x k o`` matrix (``o`` outputs)
is the same memory as an ``n k x o`` one, head ``i``'s outputs in columns
``i o .. (i + 1) o`` of the former.  The output layer's weights are one
``h x k o`` matrix, head ``i``'s in those columns.  The adapters are a
``k x d`` matrix in the front layer's parameters (``FRONT_ADAPTER``).
"""

from ._config import jit
from ._embeddings import FRONT_ADAPTER, FRONT_COPIES


@jit
def copies_of(front):
    """The number of copies of a front layer's network."""
    return front[FRONT_COPIES]


@jit
def adapters(theta, front, d):
    """The ``k x d`` adapters' view of the parameter vector ``theta`` (or of a
    gradient laid out as it)."""
    k, off = front[FRONT_COPIES], front[FRONT_ADAPTER]
    return theta[off:off + k * d].reshape((k, d))


@jit
def expand(Af, R, A):
    """``A[r k + i] = R[i] * Af[r]``: the copies of the rows of ``Af``."""
    n, d = Af.shape
    k = R.shape[0]
    for r in range(n):
        a = Af[r]
        for i in range(k):
            dst = A[r * k + i]
            ri = R[i]
            for j in range(d):
                dst[j] = ri[j] * a[j]


@jit
def collapse(Af, R, D, Df, gR):
    """Backward of ``expand``: ``Df[r] = sum_i R[i] * D[r k + i]`` and
    ``gR[i] += sum_r Af[r] * D[r k + i]``."""
    n, d = Af.shape
    k = R.shape[0]
    for r in range(n):
        a = Af[r]
        df = Df[r]
        for j in range(d):
            df[j] = 0
        for i in range(k):
            dr = D[r * k + i]
            ri = R[i]
            gi = gR[i]
            for j in range(d):
                df[j] += ri[j] * dr[j]
                gi[j] += a[j] * dr[j]


@jit
def heads_forward(H, W, Z):
    """``Z[r, i o:(i + 1) o] = H[r k + i] @ W[:, i o:(i + 1) o]``: every copy
    through its own head (intercepts not added)."""
    n, ko = Z.shape
    k = H.shape[0] // n
    o = ko // k
    h = W.shape[0]
    for r in range(n):
        z = Z[r]
        for j in range(ko):
            z[j] = 0
        for i in range(k):
            hr = H[r * k + i]
            c0 = i * o
            for t in range(h):
                v = hr[t]
                wt = W[t]
                for j in range(c0, c0 + o):
                    z[j] += v * wt[j]


@jit
def heads_backward(H, D, W, gW, D_prev):
    """Backward of ``heads_forward`` from the deltas ``D`` of ``Z``: adds the
    heads' weight gradients to ``gW``; ``D_prev`` the deltas of ``H``."""
    n, ko = D.shape
    k = H.shape[0] // n
    o = ko // k
    h = W.shape[0]
    for r in range(n):
        d = D[r]
        for i in range(k):
            hr = H[r * k + i]
            dp = D_prev[r * k + i]
            c0 = i * o
            for t in range(h):
                v = hr[t]
                wt = W[t]
                gt = gW[t]
                s = d[c0] * wt[c0]
                gt[c0] += v * d[c0]
                for j in range(c0 + 1, c0 + o):
                    s += d[j] * wt[j]
                    gt[j] += v * d[j]
                dp[t] = s


@jit
def mean_of_copies(Z, k, out):
    """``out[r] = mean_i Z[r, i o:(i + 1) o]``, the copies' mean output; with
    one output and two columns in ``out``, ``1 - p, p`` (binary
    probabilities)."""
    n, ko = Z.shape
    o = ko // k
    inv = 1.0 / k
    binary = o == 1 and out.shape[1] == 2
    for r in range(n):
        for j in range(o):
            s = 0.0
            for i in range(k):
                s += Z[r, i * o + j]
            if binary:
                out[r, 0] = 1.0 - s * inv
                out[r, 1] = s * inv
            else:
                out[r, j] = s * inv
