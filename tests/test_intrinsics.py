"""``_intrinsics``: ``borrowed`` (an array without its reference count, as the
kernels use it), ``c_view`` (part of an array as a matrix),
``flush_denormals`` and ``squares_by_lane`` (through the loss's
``_sum_of_squares``), ``wide_vectors`` and ``fma``."""

import platform
import sys

import numpy as np
import pytest
from jitted import jit

from fastnn import _kernels as K
from fastnn._elementary import sigmoid
from fastnn._intrinsics import (borrowed, c_view, flush_denormals, fma, restore_denormals,
                                wide_vectors)


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


@jit
def _views(flat, offset, n, m):
    """``flat``'s elements from ``offset`` as an ``n x m`` matrix (doubled in
    place through it) and as a ``2 x n x m`` array; a view returned."""
    matrix = c_view(flat, offset, (n, m))
    matrix *= 2
    return matrix, c_view(flat, offset, (2, n, m)).copy()


def test_c_view_is_the_sliced_reshape_and_keeps_the_array_alive():
    flat = np.arange(40, dtype=np.float64)
    expected = flat.copy()
    expected[5:17] *= 2
    matrix, cube = _views(flat, 5, 3, 4)
    np.testing.assert_array_equal(flat, expected)  # a view, not a copy
    np.testing.assert_array_equal(matrix, expected[5:17].reshape(3, 4))
    np.testing.assert_array_equal(cube, expected[5:29].reshape(2, 3, 4))
    assert matrix.flags.c_contiguous and matrix.strides == (32, 8)
    # a returned view holds a reference to the array, as a slice does, and
    # drops it with the view: no leak, no early release
    refs = sys.getrefcount(flat)
    held = [_views(flat, 0, 2, 2)[0] for _ in range(10)]
    assert sys.getrefcount(flat) > refs
    del held
    for _ in range(100):
        _views(flat, 0, 2, 2)
    assert sys.getrefcount(flat) == refs


@jit
def _sum_of_squares(w):
    return K._sum_of_squares(w)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [0, 1, 15, 16, 17, 33, 1000])
def test_sum_of_squares_in_float64_in_a_fixed_order(dtype, n):
    w = np.random.default_rng(n).standard_normal(n).astype(dtype)
    wide = w.astype(np.float64)
    # sixteen partial sums by index modulo 16, added pairwise, then the rest in order
    lanes = [float(np.sum(wide[q:n - n % 16:16] ** 2)) if n >= 16 else 0.0 for q in range(16)]
    while len(lanes) > 1:
        lanes = [lanes[q] + lanes[q + 1] for q in range(0, len(lanes), 2)]
    expected = lanes[0]
    for v in wide[n - n % 16:]:
        expected += v * v
    got = _sum_of_squares(w)
    # the partial sums of NumPy's pairwise summation round differently
    assert got == pytest.approx(expected, rel=1e-14, abs=0)
    assert got == pytest.approx(float(np.sum(wide ** 2)), rel=1e-13, abs=0)
    # a view from any offset: the same as its copy
    if n > 3:
        assert _sum_of_squares(w[3:]) == _sum_of_squares(w[3:].copy())


@jit
def _flushed_products(a, b):
    """``a * b`` element by element with denormals flushed (the flags then put back)."""
    saved = flush_denormals()
    out = a * b
    restore_denormals(saved)
    return out


@pytest.mark.skipif(platform.machine().lower() not in ("x86_64", "amd64"),
                    reason="the flags are x86-64's")
def test_denormals_flush_to_zero_until_the_flags_are_restored():
    a = np.array([1e-36, 1e-39, 2.0, -1e-36], dtype=np.float32)  # 1e-39: a denormal
    b = np.array([1e-3, 1.0, 3.0, 1e-3], dtype=np.float32)        # products 1e-39: denormals
    np.testing.assert_array_equal(_flushed_products(a, b), [0, 0, 6, 0])
    assert np.all((a * b)[[0, 1, 3]] != 0)  # the caller's flags are back


def test_training_leaves_the_callers_denormals_alone():
    from fastnn import MLPClassifier

    X = np.random.RandomState(0).normal(size=(64, 4)).astype(np.float32)
    MLPClassifier((8,), activation="gelu", max_iter=2).fit(X, X[:, 0] > 0)
    assert np.float32(1e-36) * np.float32(1e-3) != 0


@jit
def _wide_gelu(z, out):
    wide_vectors()
    for j in range(z.shape[0]):
        out[j] = z[j] * sigmoid(np.float32(1.702) * z[j])


@jit
def _plain_gelu(z, out):
    for j in range(z.shape[0]):
        out[j] = z[j] * sigmoid(np.float32(1.702) * z[j])


def test_wide_vectors_sets_the_vector_width_of_its_kernel_alone():
    z = np.linspace(-6, 6, 1001, dtype=np.float32)
    wide, plain = np.empty_like(z), np.empty_like(z)
    _wide_gelu(z, wide)
    _plain_gelu(z, plain)
    np.testing.assert_allclose(wide, plain, rtol=2e-6, atol=1e-7)
    attribute = '"prefer-vector-width"="512"'
    assert attribute in _wide_gelu.inspect_llvm(_wide_gelu.signatures[0])
    assert attribute not in _plain_gelu.inspect_llvm(_plain_gelu.signatures[0])


@jit
def _fused(x, y, z):
    return fma(x, y, z)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fma_rounds_once(dtype):
    # (1 + e)**2 - (1 + 2e) = e**2, which the product rounded alone loses
    e = dtype(2.0 ** (-12 if dtype == np.float32 else -27))
    x = dtype(1) + e
    assert _fused(x, x, -(dtype(1) + 2 * e)) == e * e
    assert x * x - (dtype(1) + 2 * e) == 0
