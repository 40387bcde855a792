"""bfloat16 matrix products (``_bf16``) against float64 references."""

import numpy as np
import pytest
from jitted import jit

from fastnn import _bf16

pytestmark = pytest.mark.skipif(not _bf16.has_bf16(), reason="the CPU has no AVX512_BF16")

SHAPES = [(1, 1, 1), (7, 3, 5), (8, 2, 32), (13, 17, 45), (64, 100, 10), (257, 129, 33),
          (200, 784, 256)]


def bf16(x):
    """``x`` rounded to bfloat16 (to nearest, ties to even), in float64."""
    bits = np.asarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    rounded = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16) << 16
    return rounded.astype(np.uint32).view(np.float32).astype(np.float64)


def operands(m, k, n, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((m, k)).astype(np.float32),
            rng.standard_normal((k, n)).astype(np.float32))


@pytest.mark.parametrize("m, k, n", SHAPES)
def test_products_of_the_rounded_operands_summed_in_float32(m, k, n):
    A, B = operands(m, k, n)
    C = _bf16.matmul(A, B)
    assert C.dtype == np.float32 and C.shape == (m, n)
    # the bf16 products are exact in float32; only the k - 1 float32 additions round
    exact = bf16(A) @ bf16(B)
    bound = (np.abs(bf16(A)) @ np.abs(bf16(B))) * k * 2.0**-24
    assert np.all(np.abs(C - exact) <= bound)
    # and against the float64 product of the operands themselves: bf16's
    # rounding (at most 2**-8 relative, for each operand) on top
    magnitude = np.abs(A.astype(np.float64)) @ np.abs(B.astype(np.float64))
    unit = 2.0**-8
    assert np.all(np.abs(C - A.astype(np.float64) @ B)
                  <= magnitude * (2 * unit + unit**2 + k * 2.0**-24))


def test_strided_operands_give_the_same_product():
    A, B = operands(37, 21, 70)
    C = _bf16.matmul(A, B)
    np.testing.assert_array_equal(_bf16.matmul(np.asfortranarray(A), B), C)
    np.testing.assert_array_equal(_bf16.matmul(A, B.T.copy().T), C)
    np.testing.assert_array_equal(_bf16.matmul(A.T.copy().T, np.asfortranarray(B)), C)


def test_rounding_is_to_nearest_even():
    one = np.ones((1, 1), dtype=np.float32)
    for value, expected in [(1 + 2.0**-8, 1.0),                 # a tie: down to even
                            (1 + 3 * 2.0**-8, 1 + 2 * 2.0**-7),   # a tie: up to even
                            (1 + 2.0**-8 + 2.0**-20, 1 + 2.0**-7),  # above the tie: up
                            (-3.0, -3.0), (0.0, 0.0),
                            (np.float32(3.4e38), np.inf)]:        # past bf16's largest
        x = np.full((1, 1), value, dtype=np.float32)
        assert _bf16.matmul(x, one)[0, 0] == np.float32(expected), value


def test_non_finite_values_propagate():
    A, B = operands(9, 4, 33)
    A[2, 1], B[3, 5] = np.nan, np.inf
    C = _bf16.matmul(A, B)
    assert np.all(np.isnan(C[2]))
    assert np.all(~np.isfinite(C[:, 5]))
    finite = np.ones(C.shape, dtype=bool)
    finite[2] = finite[:, 5] = False
    assert np.all(np.isfinite(C[finite]))


@pytest.mark.parametrize("m, k, n", [(8, 6, 32), (11, 5, 40)])
def test_packed_products_overwrite_or_accumulate(m, k, n):
    @jit
    def product(A, B, C, accumulate):
        Ap, Bp = _bf16.packed_a(*A.shape), _bf16.packed_b(*B.shape)
        _bf16.pack_a(A, Ap)
        _bf16.pack_b(B, Bp)
        _bf16.gemm_packed(Ap, Bp, C, accumulate)

    A, B = operands(m, k, n)
    C = np.full((m, n), 7.0, dtype=np.float32)
    product(A, B, C, False)
    np.testing.assert_array_equal(C, _bf16.matmul(A, B))
    product(A, B, C, True)
    np.testing.assert_allclose(C, 2 * _bf16.matmul(A, B), rtol=1e-6)
    # a view with padded rows (row stride past its width)
    wide = np.zeros((m, n + 5), dtype=np.float32)
    product(A, B, wide[:, :n], False)
    np.testing.assert_array_equal(wide[:, :n], _bf16.matmul(A, B))
    assert not wide[:, n:].any()
