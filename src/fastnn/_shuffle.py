"""``RandomState.shuffle`` for the epoch order, compiled, with the same draws.

scikit-learn shuffles every epoch with the legacy ``RandomState`` (MT19937):
for ``i = n-1 .. 1`` it draws 32-bit words, masks them to the smallest
all-ones mask covering ``i`` and rejects values above ``i``, then swaps
``x[i]`` and ``x[j]``.  Here the same generator and the same rejection run
in compiled code on the generator's own state, so fastnn keeps
scikit-learn's epoch order (and leaves the generator where NumPy would),
several times faster than NumPy's own loop.

NumPy's loop is slow because every draw is a call through a function
pointer followed by a branch on the rejection, which happens to about a
quarter of the draws, unpredictably.
This kernel twists and tempers the 624 words of each generation in
vectorised passes and consumes them without branches: a rejected draw swaps
``x[i]`` with itself and leaves ``i`` (and its mask) unchanged.

The generator state is read and written in place through NumPy's ctypes
interface to the bit generator (``state_address``: ``uint32 key[624]``
followed by ``int pos``), under the generator's lock.  Whether that layout
holds is checked once per process against the documented ``state``
property; if it does not (or for any other generator), ``rng.shuffle`` runs.
"""

import ctypes

import numpy as np
from numba import types

from ._config import jit, jit_entry, jit_inline
from ._intrinsics import wide_vectors

_N = 624  # words of MT19937 state
_M = 397
_U = np.uint32


@jit_inline
def _mix(upper_word, lower_word, far_word):
    """One word of MT19937's next generation, from the upper bit of
    ``upper_word``, the lower 31 bits of ``lower_word`` and ``far_word``."""
    y = (upper_word & _U(0x80000000)) | (lower_word & _U(0x7FFFFFFF))
    return far_word ^ (y >> _U(1)) ^ ((_U(0) - (y & _U(1))) & _U(0x9908B0DF))


@jit
def _twist(key):
    """The next generation of MT19937's 624 words, in place.

    Word ``i`` takes words ``i``, ``i + 1`` and ``(i + 397) % 624``: two loops
    with those indices affine (not one whose index wraps), so that both
    vectorise. The second one reads words the first has already replaced,
    as the sequential definition does, 227 places back.
    """
    wide_vectors()
    for i in range(_N - _M):
        key[i] = _mix(key[i], key[i + 1], key[i + _M])
    for i in range(_N - _M, _N - 1):
        key[i] = _mix(key[i], key[i + 1], key[i + _M - _N])
    key[_N - 1] = _mix(key[_N - 1], key[0], key[_M - 1])


@jit
def _temper(key, out):
    """MT19937's output words for the 624 words of ``key``."""
    for k in range(_N):
        y = key[k]
        y ^= y >> _U(11)
        y ^= (y << _U(7)) & _U(0x9D2C5680)
        y ^= (y << _U(15)) & _U(0xEFC60000)
        y ^= y >> _U(18)
        out[k] = y


@jit_entry
def shuffle_mt19937(state, x):
    """Shuffle ``x`` (at most 2**32 elements) as ``RandomState.shuffle`` would.

    ``state`` is MT19937's ``key[624]`` followed by ``pos``, updated in place.
    """
    key = state[:_N]
    pos = np.int64(state[_N])
    words = np.empty(_N, dtype=np.uint32)
    _temper(key, words)
    i = x.shape[0] - 1
    mask = i
    for shift in (1, 2, 4, 8, 16, 32):
        mask |= mask >> shift
    while i > 0:
        if pos == _N:
            _twist(key)
            _temper(key, words)
            pos = 0
        # The mask holds while i > mask >> 1: within that run the loop
        # carries only i and pos, not the mask's update too.
        low = mask >> 1
        while pos < _N and i > low:
            j = np.int64(words[pos] & _U(mask))
            pos += 1
            accept = j <= i
            j = j if accept else i
            t = x[i]
            x[i] = x[j]
            x[j] = t
            i -= np.int64(accept)
        if i <= low:
            mask = low
    state[_N] = _U(pos)


def entry_signatures():
    """``(kernel, argument types)`` of the calls ``shuffle`` makes (see ``_kernels``)."""
    args = (types.Array(types.uint32, 1, "C"), types.Array(types.int64, 1, "C"))
    return [(shuffle_mt19937, args)]


def _state_words(bit_generator):
    """The bit generator's state as a writable uint32 view (key, then pos)."""
    address = bit_generator.ctypes.state_address
    return np.ctypeslib.as_array((ctypes.c_uint32 * (_N + 1)).from_address(address))


def _check_layout():
    rng = np.random.RandomState(20241124)
    rng.randint(1 << 30, size=1000)  # somewhere inside a generation
    state = rng.get_state(legacy=False)["state"]
    try:
        words = _state_words(rng._bit_generator)
    except Exception:  # no ctypes interface: NumPy's shuffle it is
        return False
    return bool(np.array_equal(words[:_N], state["key"]) and words[_N] == state["pos"])


_LAYOUT_OK = None


def shuffle(rng, x):
    """``rng.shuffle(x)`` for a 1-D int64 array: the same order and draws."""
    global _LAYOUT_OK
    bit_generator = getattr(rng, "_bit_generator", None)
    if (type(rng) is not np.random.RandomState or type(bit_generator) is not np.random.MT19937
            or x.shape[0] > 1 << 32 or x.dtype != np.int64 or not x.flags.c_contiguous):
        rng.shuffle(x)
        return
    if _LAYOUT_OK is None:
        _LAYOUT_OK = _check_layout()
    if not _LAYOUT_OK:
        rng.shuffle(x)
        return
    with bit_generator.lock:
        shuffle_mt19937(_state_words(bit_generator), x)
