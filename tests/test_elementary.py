"""The vectorisable float32 exp / log1p / tanh / sigmoid against float64 NumPy."""

import numpy as np
import pytest
from jitted import jit

from fastnn._elementary import exp, log1p, sigmoid, tanh


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


def _exact_sigmoid(x):
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-x))


# function, kernel, exact float64 version, domain checked in ulp, max ulp
CASES = {
    "exp": (_apply_exp, np.exp, (-86.6, 88.72), 5),
    "log1p": (_apply_log1p, np.log1p, (-0.99999, 1e30), 2),
    "tanh": (_apply_tanh, np.tanh, (-50.0, 50.0), 3),
    "sigmoid": (_apply_sigmoid, _exact_sigmoid, (-86.6, 100.0), 5),
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
