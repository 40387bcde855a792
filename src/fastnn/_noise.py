"""Dropout: a counter-based random stream and the kernel applying the masks.

A unit's mask is a function of ``(seed, step, row, layer, unit)`` alone: a
hash of those numbers (the SplitMix64 finaliser, applied twice), not a draw
from a sequential generator.  It is therefore the same whichever lane or
thread computes the row, and a mini-batch can be split any way without
changing the model.  The hash is integer arithmetic that vectorises
(64-bit multiplies are AVX-512 instructions).

Kinds (``REGISTRY``): 'bernoulli' keeps a unit with probability ``1 - p``
and scales kept units by ``1 / (1 - p)`` (inverted dropout); 'gaussian'
multiplies every unit by a draw of N(1, p / (1 - p)) (Srivastava et al.'s
Gaussian dropout).  Both keep the expected activation, so prediction uses
the network as it is.
"""

import numpy as np

from ._config import jit

BERNOULLI = 0
GAUSSIAN = 1

#: dropout kind -> code
REGISTRY = {"bernoulli": BERNOULLI, "gaussian": GAUSSIAN}

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_TOP24_SHIFT = np.uint64(40)  # h >> 40: the top 24 bits of a hash
_INV_2_32 = 1.0 / (1 << 32)


@jit
def mix(z):
    """SplitMix64's finaliser: a bijection of uint64 that scrambles every bit."""
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


@jit
def stream_key(seed, step, layer):
    """The key of one layer's masks at one optimizer step."""
    k = mix(np.uint64(seed) * _GOLDEN + np.uint64(step))
    return mix(k ^ (np.uint64(layer) * _M2))


@jit
def _position(rows, copies, r):
    n = rows.shape[0]
    return rows[r % n] * copies + r // n


@jit
def dropout(A, G, rows, copies, rate, kind, key):
    """Multiply activations ``A`` and stored derivatives ``G`` by the masks.

    Row ``r`` of the block is copy ``r // n`` of sample ``rows[r % n]``,
    ``n`` rows in the block (``_ensemble``; one copy: sample ``rows[r]``),
    whose masks are those of position ``rows[r % n] * copies + r // n``;
    ``key`` comes from ``stream_key``.
    """
    n, m = A.shape
    dt = A.dtype.type
    keep = 1.0 - rate
    if kind == BERNOULLI:
        # keep where the top 24 bits, as a fraction, fall below 1 - p
        threshold = np.uint64(keep * (1 << 24))
        scale = dt(1.0 / keep)
        zero = dt(0)
        for r in range(n):
            rk = mix(key ^ (np.uint64(_position(rows, copies, r)) * _GOLDEN))
            a = A[r]
            g = G[r]
            for j in range(m):
                h = mix(rk + np.uint64(j))
                s = scale if (h >> _TOP24_SHIFT) < threshold else zero
                a[j] *= s
                g[j] *= s
    else:
        sigma = np.sqrt(rate / keep)
        for r in range(n):
            rk = mix(key ^ (np.uint64(_position(rows, copies, r)) * _GOLDEN))
            a = A[r]
            g = G[r]
            for j in range(m):
                h = mix(rk + np.uint64(j))
                # Box-Muller from the two 32-bit halves (u1 in (0, 1])
                u1 = (float(h >> np.uint64(32)) + 1.0) * _INV_2_32
                u2 = float(h & np.uint64(0xFFFFFFFF)) * _INV_2_32
                s = dt(1.0 + sigma * np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2))
                a[j] *= s
                g[j] *= s
