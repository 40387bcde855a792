"""The vectorisable float32 exp / expm1 / log1p / tanh / sigmoid / softplus / erf
against float64 NumPy and ``math``."""

import math
import re

import numba
import numpy as np
import pytest
from jitted import jit

from fastnn._elementary import (erf, exp, expm1, log1p, normal_cdf_and_gaussian, sigmoid,
                                softplus, tanh)


@jit
def _apply_exp(x, out):
    for i in range(x.shape[0]):
        out[i] = exp(x[i])


@jit
def _apply_log1p(x, out):
    for i in range(x.shape[0]):
        out[i] = log1p(x[i])


@jit
def _apply_tanh(x, out):
    for i in range(x.shape[0]):
        out[i] = tanh(x[i])


@jit
def _apply_sigmoid(x, out):
    for i in range(x.shape[0]):
        out[i] = sigmoid(x[i])


@jit
def _apply_expm1(x, out):
    for i in range(x.shape[0]):
        out[i] = expm1(x[i])


@jit
def _apply_softplus(x, out):
    for i in range(x.shape[0]):
        out[i] = softplus(x[i])


@jit
def _apply_erf(x, out):
    for i in range(x.shape[0]):
        out[i] = erf(x[i])


@jit
def _apply_normal(x, cdf, gaussian):
    for i in range(x.shape[0]):
        cdf[i], gaussian[i] = normal_cdf_and_gaussian(x[i])


def _exact_sigmoid(x):
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-x))


def _exact_softplus(x):
    # PyTorch's softplus (beta 1, threshold 20): x itself above 20
    return np.where(x > 20, x, np.logaddexp(0.0, x))


_exact_erf = np.vectorize(math.erf, otypes=[np.float64])

# function, kernel, exact float64 version, domain checked in ulp, max ulp.
# exp and the functions built on it (sigmoid, softplus) reach their largest
# errors at large |x|; over all float32 in the domain, expm1 is within 1.7 ulp
# (NumPy's float32 expm1, run without Numba, within 2.5) and erf within 1.2.
CASES = {
    "exp": (_apply_exp, np.exp, (-86.6, 88.72), 5),
    "expm1": (_apply_expm1, np.expm1, (-100.0, 88.72), 3),
    "log1p": (_apply_log1p, np.log1p, (-0.99999, 1e30), 2),
    "tanh": (_apply_tanh, np.tanh, (-50.0, 50.0), 3),
    "sigmoid": (_apply_sigmoid, _exact_sigmoid, (-86.6, 100.0), 5),
    "softplus": (_apply_softplus, _exact_softplus, (-86.6, 100.0), 5),
    "erf": (_apply_erf, _exact_erf, (-10.0, 10.0), 2),
}


def _grid(lo, hi):
    pieces = [
        np.linspace(lo, hi, 400_001),
        np.linspace(-3, 3, 100_001),
        np.logspace(-30, np.log10(hi), 20_001),
        -np.logspace(-30, np.log10(-lo), 20_001),
        [0.0, -0.0, 0.25, -0.25],
    ]
    return np.concatenate(pieces).astype(np.float32)


def _run(kernel, x):
    out = np.empty_like(x)
    kernel(x, out)
    return out


@pytest.mark.parametrize("name", CASES)
def test_float32_within_a_few_ulp(name):
    kernel, exact, (lo, hi), max_ulp = CASES[name]
    x = _grid(lo, hi)
    got = _run(kernel, x).astype(np.float64)
    with np.errstate(over="ignore", invalid="ignore"):  # log1p is NaN below -1
        want = exact(x.astype(np.float64))
    want32 = want.astype(np.float32)
    ok = np.isfinite(want32)
    ulp = np.abs(got[ok] - want[ok]) / np.spacing(np.abs(want32[ok])).astype(np.float64)
    assert ulp.max() <= max_ulp, (x[ok][ulp.argmax()], ulp.max())


@pytest.mark.parametrize("name", CASES)
def test_float64_is_numpy(name):
    kernel, exact, (lo, hi), _ = CASES[name]
    x = np.linspace(lo, hi, 10_001)
    with np.errstate(over="ignore"):
        np.testing.assert_allclose(_run(kernel, x), exact(x), rtol=1e-14, atol=0)


def test_special_values():
    inf, nan = np.inf, np.nan
    x = np.array([inf, -inf, nan, 0.0, -0.0, 89.0, 88.5, -87.0, -200.0, 1e30, -1e30],
                 dtype=np.float32)
    e = _run(_apply_exp, x)
    assert e[0] == inf and e[1] == 0 and np.isnan(e[2]) and e[3] == 1 and e[4] == 1
    assert e[5] == inf  # exp(89) overflows float32
    assert np.isfinite(e[6]) and e[6] == pytest.approx(np.exp(88.5), rel=1e-6)
    assert 0 <= e[7] < 2.4e-38 and e[8] == 0 and e[9] == inf and e[10] == 0

    t = _run(_apply_tanh, x)
    np.testing.assert_array_equal(t[[0, 1, 5, 8, 9, 10]], [1, -1, 1, -1, 1, -1])
    assert np.isnan(t[2]) and t[3] == 0 and t[4] == 0  # sign of zero: fastmath "nsz"

    s = _run(_apply_sigmoid, x)
    np.testing.assert_array_equal(s[[0, 1, 3, 5, 9, 10]], [1, 0, 0.5, 1, 1, 0])
    assert np.isnan(s[2]) and 0 <= s[7] < 1e-37


def test_log1p_special_values():
    x = np.array([np.inf, np.nan, -1.0, -2.0, 0.0, 1e-30, 1e-10, 1.0], dtype=np.float32)
    with np.errstate(divide="ignore", invalid="ignore"):
        want = np.log1p(x)
    got = _run(_apply_log1p, x)
    np.testing.assert_array_equal(got[:6], want[:6])  # inf, nan, -inf, nan, 0, x for tiny x
    np.testing.assert_allclose(got[6:], want[6:], rtol=2e-7)


def test_tanh_odd_and_sigmoid_symmetric():
    x = np.linspace(-20, 20, 40_001, dtype=np.float32)
    t = _run(_apply_tanh, x)
    np.testing.assert_array_equal(t, -t[::-1])
    s = _run(_apply_sigmoid, x)
    np.testing.assert_allclose(s + s[::-1], 1, rtol=0, atol=2e-7)


def test_expm1_special_values():
    inf, nan = np.inf, np.nan
    x = np.array([inf, -inf, nan, 0.0, -0.0, 89.0, 88.72, 1e30, -17.5, -200.0, -1e30,
                  1e-30, 1e-10, -1e-10, 1e-3], dtype=np.float32)
    e = _run(_apply_expm1, x)
    assert e[0] == inf and e[1] == -1 and np.isnan(e[2]) and e[3] == 0 and e[4] == 0
    assert e[5] == inf and np.isfinite(e[6]) and e[7] == inf  # overflow as exp's
    np.testing.assert_array_equal(e[8:11], -1)  # exp(x) below half an ulp of 1
    assert e[11] == x[11]  # x itself while x**2 / 2 is below its rounding
    np.testing.assert_allclose(e[12:], np.expm1(x[12:].astype(np.float64)), rtol=1.2e-7)


def test_softplus_special_values_and_threshold():
    inf, nan = np.inf, np.nan
    x = np.array([inf, -inf, nan, 0.0, 20.5, 1e30, -1e30, -200.0, 20.0, -20.0],
                 dtype=np.float32)
    s = _run(_apply_softplus, x)
    assert s[0] == inf and s[1] == 0 and np.isnan(s[2])
    assert s[3] == np.float32(np.log(2.0))
    assert s[4] == x[4] and s[5] == x[5] and s[6] == 0 and s[7] == 0
    np.testing.assert_allclose(s[8:], np.logaddexp(0.0, x[8:].astype(np.float64)),
                               rtol=1.2e-7)
    # float64: x itself above 20 (as PyTorch's), log1p(exp(x)) otherwise
    x64 = np.array([20.5, 25.0, 20.0, 19.0])
    s64 = _run(_apply_softplus, x64)
    np.testing.assert_array_equal(s64[:2], x64[:2])
    assert s64[2] > 20 and s64[3] > 19
    np.testing.assert_allclose(s64[2:], np.logaddexp(0.0, x64[2:]), rtol=1e-15)


def test_erf_special_values():
    inf, nan = np.inf, np.nan
    x = np.array([inf, -inf, nan, 0.0, -0.0, 3.92, 4.0, 10.0, 1e30, -1e30, 1e-30, 3.8],
                 dtype=np.float32)
    e = _run(_apply_erf, x)
    np.testing.assert_array_equal(e[[0, 1, 5, 6, 7, 8, 9]], [1, -1, 1, 1, 1, 1, -1])
    assert np.isnan(e[2]) and e[3] == 0 and e[4] == 0
    assert e[10] == np.float32(2 / np.sqrt(np.pi) * 1e-30)
    assert e[11] < 1 and e[11] == np.float32(math.erf(np.float64(x[11])))


def test_erf_odd_and_bounded():
    x = np.linspace(-6, 6, 120_001, dtype=np.float32)
    e = _run(_apply_erf, x)
    np.testing.assert_array_equal(e, -e[::-1])
    assert np.abs(e).max() == 1
    # exactly +-1 from where the exact erf rounds to it (|x| >= 3.9193; just
    # above, erfc is within 0.5% of half an ulp of 1 and may round either way)
    big = np.abs(x) >= 3.92
    np.testing.assert_array_equal(e[big], np.sign(x[big]))


@pytest.mark.skipif(numba.config.DISABLE_JIT, reason="NUMBA_DISABLE_JIT: nothing compiled")
@pytest.mark.parametrize("name", CASES)
def test_float32_loop_vectorises(name):
    # The float32 function is inlined into the loop (no call to a helper
    # left) and the loop works on vectors of floats, whatever their width.
    kernel = CASES[name][0]
    x = np.ones(64, dtype=np.float32)
    _run(kernel, x)
    sig = next(sig for sig in kernel.signatures if str(sig[0].dtype) == "float32")
    llvm = kernel.inspect_llvm(sig)
    assert not re.search(r"call [^\n]*@_ZN6fastnn11_elementary", llvm)
    assert re.search(r"<(4|8|16) x float>", llvm)


def test_normal_cdf_and_gaussian():
    """GELU's parts from one exponential: within a few ulp where the cdf is
    not small, and relatively accurate in the lower tail too (as far as the
    rounding of the exponential's argument, about 1e-7 x**2, allows), where
    ``(1 + erf(x / sqrt(2))) / 2`` would lose every digit; float64 exact."""
    from scipy.special import ndtr

    x = np.concatenate([np.linspace(-13, 13, 400_001), -np.logspace(-30, 1, 20_001),
                        np.logspace(-30, 1, 20_001), [0.0, -0.0]]).astype(np.float32)
    cdf, gaussian = np.empty_like(x), np.empty_like(x)
    _apply_normal(x, cdf, gaussian)
    x64 = x.astype(np.float64)
    want, want_g = ndtr(x64), np.exp(-0.5 * x64 * x64)
    ulp = np.abs(cdf - want) / np.spacing(want.astype(np.float32)).astype(np.float64)
    assert ulp[x >= -0.5].max() <= 4
    relative = np.abs(cdf - want) / want
    assert relative[(x < -0.5) & (x >= -3)].max() <= 2e-6
    tail = (x < -3) & (want > 1e-37)  # (then float32's normal numbers end)
    assert np.all(relative[tail] <= 1e-6 + 2e-7 * x64[tail] ** 2)
    assert np.all((cdf >= 0) & (cdf <= 1)) and np.all(cdf[x > 6] == 1)
    normal = want_g > 1e-37
    bound = (5e-7 + 1e-7 * x64**2) * want_g
    assert np.all(np.abs(gaussian - want_g)[normal] <= bound[normal])
    # float64: the definitions
    y = np.linspace(-10, 10, 1001)
    cdf64, gaussian64 = np.empty_like(y), np.empty_like(y)
    _apply_normal(y, cdf64, gaussian64)
    np.testing.assert_allclose(cdf64, ndtr(y), rtol=1e-13, atol=1e-300)
    np.testing.assert_allclose(gaussian64, np.exp(-0.5 * y * y), rtol=1e-14)
    if not numba.config.DISABLE_JIT:  # the float32 loop vectorises, nothing left to call
        sig = next(sig for sig in _apply_normal.signatures if str(sig[0].dtype) == "float32")
        llvm = _apply_normal.inspect_llvm(sig)
        assert not re.search(r"call [^\n]*@_ZN6fastnn11_elementary", llvm)
        assert re.search(r"<(4|8|16) x float>", llvm)
