"""``borrowed``: an array without its reference count, as the kernels use it."""

import sys

import numpy as np
from jitted import jit

from fastnn._intrinsics import borrowed


@jit
def _scaled_row_sums(a, scale, out):
    """Row sums of ``a`` through views of its borrowed self, after scaling it in place."""
    b = borrowed(a)
    for i in range(b.shape[0]):
        row = b[i]
        row *= scale
        out[i] = row.sum()
    return b.reshape(-1)[::2].sum()


def test_borrowed_views_read_and_write_the_callers_array():
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    expected = a * 2
    out = np.empty(3, dtype=np.float32)
    strided = _scaled_row_sums(a, np.float32(2), out)
    np.testing.assert_array_equal(a, expected)  # written in place, not a copy
    np.testing.assert_array_equal(out, expected.sum(axis=1))
    assert strided == expected.ravel()[::2].sum()


def test_borrowed_views_neither_leak_nor_free_the_array():
    a = np.ones((50, 8), dtype=np.float32)
    out = np.empty(50, dtype=np.float32)
    _scaled_row_sums(a, np.float32(1), out)  # compiled
    # Numba holds a reference to an array passed in for as long as its memory
    # record lives: a view that released the record without taking it would
    # lower the count, one that took it without releasing would raise it
    refs = sys.getrefcount(a)
    for _ in range(100):
        _scaled_row_sums(a, np.float32(1), out)
    assert sys.getrefcount(a) == refs
    np.testing.assert_array_equal(a, 1)
