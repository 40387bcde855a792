"""``exp``, ``expm1``, ``log1p``, ``tanh``, the logistic function, ``softplus`` and
``erf`` in forms that vectorise.

LLVM compiles ``np.exp``, ``np.log1p`` and ``np.tanh`` to calls into the C math library,
one element at a time: a tanh layer of 200 x 100 units took 380 us, longer
than the matrix product feeding it.  For float32 the functions below use
only arithmetic, rounding and an integer-to-float bit cast, so loops over them
become SIMD code (within 5 ulp of the exact result, see
``tests/test_elementary.py``).  float64, the dtype for numerical checks,
keeps NumPy's functions.

``exp(x)``, ``expm1(x)``, ``log1p(x)``, ``tanh(x)``, ``sigmoid(x)``, ``softplus(x)``
and ``erf(x)`` are called from kernels like NumPy functions; Numba picks the
version by the argument's type.  NaN propagates, large arguments overflow to
``inf`` (``exp``, ``expm1``, ``softplus``) or saturate (``tanh``, ``sigmoid``,
``erf``) as the exact functions do.
"""

import math

import numpy as np
from numba import types
from numba.extending import overload

from ._config import JIT_OPTIONS, jit, jit_exact, jit_inline
from ._intrinsics import bits_of_float32, float32_from_bits, fma

_f32 = np.float32


# exp(x) = 2**k * exp(r), k = round(x / ln 2), |r| <= ln(2) / 2; ln 2 split in
# two parts so that x - k ln 2 is exact; exp(r) by a degree-7 polynomial
# (Cephes' expf coefficients).
_LOG2E = _f32(1.44269504088896341)
_LN2_HI = _f32(0.693359375)
_LN2_LO = _f32(-2.12194440e-4)
_EXP_P = tuple(_f32(c) for c in (
    1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3,
    4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1,
))
# Above _EXP_HI exp(x) overflows; below _EXP_LO (where it is < 2.4e-38) it
# is flushed to zero, which keeps every result a normal number.
_EXP_HI = _f32(88.72283905206835)
_EXP_LO = _f32(-86.64)


@jit_inline  # takes its caller's fast-math flags: exp's and expm1's alike
def _exp_reduced(y):
    """``k`` and ``expm1(r)`` with ``y = k ln 2 + r``, ``|r| <= ln 2 / 2``."""
    k = np.floor(y * _LOG2E + _f32(0.5))
    r = y - k * _LN2_HI - k * _LN2_LO
    p = _EXP_P[0]
    p = p * r + _EXP_P[1]
    p = p * r + _EXP_P[2]
    p = p * r + _EXP_P[3]
    p = p * r + _EXP_P[4]
    p = p * r + _EXP_P[5]
    return k, p * r * r + r


@jit
def _exp32(x):
    y = min(max(x, _EXP_LO), _EXP_HI)
    k, q = _exp_reduced(y)
    p = q + _f32(1)
    # p * 2**k by adding k to p's exponent field: exact, and p >= 1 with
    # k = 128 gives the bit pattern of inf exactly when the result overflows.
    e = float32_from_bits(bits_of_float32(p) + (np.int32(k) << 23))
    e = e if x >= _EXP_LO else _f32(0)
    return e if x == x else x


# log1p(x) = k ln 2 + log(m) + c: u = 1 + x = 2**k m with m in [sqrt(2)/2,
# sqrt(2)), c = (x - (u - 1)) / u the rounding error of u, and log(m) =
# f - f**2/2 + s (f**2/2 + R(s**2)) with f = m - 1, s = f / (2 + f) (the
# reduction and minimax R of FreeBSD's / musl's log1pf).
_SQRT_HALF_BITS = np.int32(0x3F3504F3)
_ONE_BITS = np.int32(0x3F800000)
_LN2_HI_LOG = _f32(6.9313812256e-01)
_LN2_LO_LOG = _f32(9.0580006145e-06)
_LG = tuple(_f32(c) for c in (0.66666662693, 0.40000972152, 0.28498786688, 0.24279078841))


@jit_exact  # reassociation would fold the correction x - (u - 1) to zero
def _log1p32(x):
    u = _f32(1) + x
    bits = bits_of_float32(u) + (_ONE_BITS - _SQRT_HALF_BITS)
    k = (bits >> 23) - 127
    # the rounding error of u matters while x is not much larger than 1
    c = _f32(1) - (u - x) if k >= 2 else x - (u - _f32(1))
    c = c / u if k < 25 else _f32(0)
    f = float32_from_bits((bits & 0x007FFFFF) + _SQRT_HALF_BITS) - _f32(1)
    s = f / (_f32(2) + f)
    z = s * s
    w = z * z
    r = z * (_LG[0] + w * _LG[2]) + w * (_LG[1] + w * _LG[3])
    hfsq = _f32(0.5) * f * f
    dk = _f32(k)
    y = s * (hfsq + r) + (dk * _LN2_LO_LOG + c) - hfsq + f + dk * _LN2_HI_LOG
    # inf stays inf, NaN stays NaN; -1 gives -inf and below it NaN, as NumPy's
    y = y if x < np.inf else x
    y = y if x > _f32(-1) else (-np.inf if x == _f32(-1) else np.nan)
    return _f32(y) if x == x else x


# Below this |x|, tanh by its odd Taylor polynomial (error < 1e-9 relative);
# above, (e - 1) / (e + 1) with e = exp(2|x|) loses at most a few ulp.
_TANH_SMALL = _f32(0.25)
_TANH_C = tuple(_f32(c) for c in (
    -1.0 / 3.0, 2.0 / 15.0, -17.0 / 315.0, 62.0 / 2835.0, -1382.0 / 155925.0,
))


@jit
def _tanh32(x):
    a = abs(x)
    e = _exp32(min(_f32(2) * a, _f32(40)))
    big = (e - _f32(1)) / (e + _f32(1))
    a2 = a * a
    q = _TANH_C[4]
    q = q * a2 + _TANH_C[3]
    q = q * a2 + _TANH_C[2]
    q = q * a2 + _TANH_C[1]
    q = q * a2 + _TANH_C[0]
    small = a + a * a2 * q
    t = small if a < _TANH_SMALL else big
    t = t if x >= _f32(0) else -t
    return t if x == x else x


@jit
def _sigmoid32(x):
    # e = exp(-|x|) never overflows; 1 / (1 + e) or e / (1 + e) by sign.
    e = _exp32(-abs(x))
    s = _f32(1) / (_f32(1) + e)
    return s if x >= _f32(0) else e * s


# expm1(x) = 2**k (expm1(r) + 1) - 1 = 2**k (expm1(r) + 1 - 2**-k), with k and r
# as in exp and expm1(r) = r + r**2 P(r) from exp's polynomial.  For k = 0 the
# result is that polynomial alone (r = x, accurate near 0); otherwise
# expm1(r) + (1 - 2**-k) is of magnitude >= 1/5 and rounds once before the
# exact scaling by 2**k.  Below _EXPM1_LO, expm1 rounds to -1.  Within 1.7
# ulp of expm1 over all float32.
_EXPM1_LO = _f32(-17.5)


@jit_exact  # reassociation would turn expm1(r) + (1 - 2**-k) into (expm1(r) + 1) - 2**-k
def _expm132(x):
    y = min(max(x, _EXPM1_LO), _EXP_HI)
    k, p = _exp_reduced(y)
    ki = np.int32(k)
    # 2**-k from its bit pattern, k capped at 26 where 1 - 2**-k rounds to 1
    c = _f32(1) - float32_from_bits((127 - min(ki, 26)) << 23)
    e = float32_from_bits(bits_of_float32(p + c) + (ki << 23))
    # From _EXP_HI on the result overflows, as exp's.  There k = 128 and r > 0
    # (ln 2 is subtracted in its two exact parts here), so the bit addition
    # above would give a NaN pattern rather than inf's.
    e = e if x < _EXP_HI else np.float32(np.inf)
    return e if x == x else x


# erf for |x| < _ERF_SPLIT: x + x R(x**2), R a degree-5 minimax polynomial
# (relative error 1.2e-8); its rounding touches only the small correction
# x R.  Above: 1 - erfc(|x|) with erfc(a) = exp(L(a)), L a degree-6
# polynomial fitted to log(erfc(a)) on [0.9, 4], weighted by erfc(a) (its
# error in erf is < 0.03 ulp).  Both are computed and one selected; |x| is
# clamped to 4, where erf rounds to 1, and the sign restored, so erf is odd.
# Within 1.2 ulp (7e-8) of erf over all float32.
_ERF_SPLIT = _f32(0.9)
_ERF_MAX = _f32(4)
_ERF_R = tuple(_f32(c) for c in (
    1.2837915e-01, -3.7612525e-01, 1.1282139e-01, -2.6778862e-02, 5.011899e-03,
    -6.0900586e-04,
))
_ERF_L = tuple(_f32(c) for c in (
    -1.7749555e-04, -1.1277496e+00, -6.3705975e-01, -1.0403735e-01, 2.2277083e-02,
    -3.0556067e-03, 1.9718164e-04,
))


@jit
def _erf32(x):
    a = min(abs(x), _ERF_MAX)
    s = a * a
    p = _ERF_R[5]
    p = p * s + _ERF_R[4]
    p = p * s + _ERF_R[3]
    p = p * s + _ERF_R[2]
    p = p * s + _ERF_R[1]
    p = p * s + _ERF_R[0]
    small = a + a * p
    q = _ERF_L[6]
    q = q * a + _ERF_L[5]
    q = q * a + _ERF_L[4]
    q = q * a + _ERF_L[3]
    q = q * a + _ERF_L[2]
    q = q * a + _ERF_L[1]
    q = q * a + _ERF_L[0]
    big = _f32(1) - _exp32(q)
    r = small if a < _ERF_SPLIT else big
    r = r if x >= _f32(0) else -r
    return r if x == x else x


# The normal distribution's cdf from one exponential, for GELU and its
# derivative: with a = |x| / sqrt(2), Phi(-|x|) = erfc(a) / 2 = exp(-a**2) h(a) / 2,
# h the scaled complementary error function (erfcx), a polynomial of degree 8
# in u = p a / (1 + p a), p = 0.4 (fitted for relative error on 0 <= a <= 6:
# 1.2e-8 before float32 rounding; u = 0 at a = 0, where the polynomial is its
# constant 1, so that Phi near 0 loses nothing to cancellation).  The same
# exp(-a**2) = exp(-x**2 / 2) is the density's part of the derivative.  In
# float32, Phi is within 4 ulp for x > -0.5 and 1.4e-6 relative down to -3,
# and keeps its relative accuracy in the lower tail (about a**2 1e-7, the
# rounding of exp's argument), where 1 + erf(x / sqrt(2)) would cancel.
_NORMAL_P = _f32(0.4)
_NORMAL_H = tuple(_f32(c) for c in (
    1.000000000e+00, -2.820947170e+00, 3.429053307e+00, -2.075186253e+00,
    2.021331638e-01, 3.743192554e-01, 3.423194960e-02, -2.279696614e-01,
    8.455257863e-02,
))


@jit_inline
def _normal_cdf_and_gaussian32(x):
    a = abs(x) * _f32(1 / math.sqrt(2))
    e = _exp32(-(a * a))
    pa = _NORMAL_P * a
    u = pa / (_f32(1) + pa)
    h = _NORMAL_H[8]
    for k in range(7, -1, -1):  # (Horner; a constant count, unrolled)
        # (fused: under fast-math, h * u would be reassociated into
        # (h * pa) / (1 + pa), a second multiplication in every step)
        h = fma(h, u, _NORMAL_H[k])
    lower = _f32(0.5) * e * h  # Phi(-|x|)
    return (lower if x < _f32(0) else _f32(1) - lower), e


def normal_cdf_and_gaussian(x):
    """``(Phi(x), exp(-x**2 / 2))``: the standard normal cdf and the density
    times ``sqrt(2 pi)`` (GELU and its derivative).  One exponential in
    float32, vectorisable inside kernels."""
    return _normal_cdf_and_gaussian_generic(x)


def _normal_cdf_and_gaussian_generic(x):
    return 0.5 * math.erfc(x * -(1 / math.sqrt(2))), math.exp(-0.5 * x * x)


# Above this x, softplus(x) = x, as in PyTorch (beta 1, threshold 20): the
# correction log1p(exp(-x)) < 2.1e-9 is below float32's rounding there.
_SOFTPLUS_THRESHOLD = 20


def _softplus32(x):
    # max(x, 0) + log1p(exp(-|x|)): exp never overflows, log1p keeps exp(-|x|)
    # when it is tiny.  Not a jitted function: the overload inlines this body
    # into the caller (see _softplus_impl).
    # (the threshold as a factor, not a conditional expression: Numba's
    # inlining of a conditional expression leaves a variable out of scope)
    c = _log1p32(_exp32(-abs(x)))
    return max(x, _f32(0)) + c * _f32(x <= _f32(_SOFTPLUS_THRESHOLD))


def exp(x):
    """Exponential; vectorisable for float32 inside kernels."""
    return np.exp(x)


def expm1(x):
    """``exp(x) - 1``, accurate for small ``x``; vectorisable for float32 inside kernels."""
    return np.expm1(x)


def log1p(x):
    """``log(1 + x)``, accurate for small ``x``; vectorisable for float32 inside kernels."""
    return np.log1p(x)


def tanh(x):
    """Hyperbolic tangent; vectorisable for float32 inside kernels."""
    return np.tanh(x)


def sigmoid(x):
    """Logistic function ``1 / (1 + exp(-x))``, stable at any ``x``."""
    return _sigmoid_generic(x)


def _sigmoid_generic(x):
    # Branch-free form: e = exp(-|x|) never overflows.
    e = np.exp(-abs(x))
    s = 1 / (1 + e)
    return s if x >= 0 else e * s


def softplus(x):
    """``log(1 + exp(x))``, stable at any ``x``; ``x`` itself above 20, as PyTorch's
    ``softplus``.  Vectorisable for float32 inside kernels."""
    return _softplus_generic(x)


def _softplus_generic(x):
    # max(x, 0) + log1p(exp(-|x|)): exp never overflows.
    c = np.log1p(np.exp(-abs(x)))
    return max(x, 0.0) + (x <= _SOFTPLUS_THRESHOLD) * c


def erf(x):
    """Error function ``2 / sqrt(pi) * integral of exp(-t**2) from 0 to x``;
    vectorisable for float32 inside kernels."""
    return math.erf(x)


_OVERLOAD_OPTIONS = dict(jit_options={"fastmath": JIT_OPTIONS["fastmath"]})


# cos(2 pi t) and sin(2 pi t) for t in turns: 2t = q + r with q the nearest
# integer, so that both are (-1)**q times cos / sin of x = pi r, |x| <= pi / 2,
# where Taylor polynomials to x**18 / x**19 are within 4e-15 of them (enough
# for float64 as well as float32).
_C = tuple((-1) ** n / math.factorial(2 * n) for n in range(10))
_S = tuple((-1) ** n / math.factorial(2 * n + 1) for n in range(10))


@jit_inline
def _horner9(z, C, dt):
    """``C[0] + C[1] z + ... + C[9] z**9`` in ``dt``, by fused multiply-adds
    (``fma``: the same rounding wherever it is inlined), written out: a loop
    over the coefficients would index the tuple at run time, which keeps the
    caller's loop from vectorising."""
    p = fma(z, dt(C[9]), dt(C[8]))
    p = fma(z, p, dt(C[7]))
    p = fma(z, p, dt(C[6]))
    p = fma(z, p, dt(C[5]))
    p = fma(z, p, dt(C[4]))
    p = fma(z, p, dt(C[3]))
    p = fma(z, p, dt(C[2]))
    p = fma(z, p, dt(C[1]))
    return fma(z, p, dt(C[0]))


@jit_inline
def cos_sin_turns(t, dt):
    """``(cos(2 pi t), sin(2 pi t))`` in the float type ``dt`` (of ``t``).

    Arithmetic and rounding only, so a loop over it vectorises.  Meant for
    moderate ``|t|`` (periodic embeddings: a few turns), where the reduction
    ``2t - q`` is exact to the last bits of ``t``.
    """
    v = dt(2) * t
    q = np.floor(v + dt(0.5))
    x = (v - q) * dt(math.pi)
    z = x * x
    sign = dt(1) - dt(4) * (dt(0.5) * q - np.floor(dt(0.5) * q))  # (-1)**q
    return sign * _horner9(z, _C, dt), sign * (_horner9(z, _S, dt) * x)


@jit_exact
def ordered_sum(a, n):
    """``a[:n].sum()`` added in index order, wherever it is inlined.

    Without fast-math LLVM may not reorder the additions (and Numba does not
    turn the loop into a parallel reduction), so the result depends on the
    numbers alone, not on the kernel or the threads.
    """
    s = 0.0
    for i in range(n):
        s += a[i]
    return s


@overload(exp, **_OVERLOAD_OPTIONS)
def _exp_impl(x):
    if x == types.float32:
        return lambda x: _exp32(x)
    return lambda x: np.exp(x)


@overload(log1p, **_OVERLOAD_OPTIONS)
def _log1p_impl(x):
    if x == types.float32:
        return lambda x: _log1p32(x)
    return lambda x: np.log1p(x)


@overload(tanh, **_OVERLOAD_OPTIONS)
def _tanh_impl(x):
    if x == types.float32:
        return lambda x: _tanh32(x)
    return lambda x: np.tanh(x)


@overload(sigmoid, **_OVERLOAD_OPTIONS)
def _sigmoid_impl(x):
    if x == types.float32:
        return lambda x: _sigmoid32(x)
    return _sigmoid_generic


@overload(expm1, **_OVERLOAD_OPTIONS)
def _expm1_impl(x):
    if x == types.float32:
        return lambda x: _expm132(x)
    return lambda x: np.expm1(x)


# Inlined into the caller by Numba: compiled as a function of its own,
# softplus (exp and log1p inlined into it) is too large for LLVM to inline
# into a loop, which then stays scalar; exp and log1p called from the loop
# directly are each inlined and the loop vectorises.
@overload(softplus, inline="always", **_OVERLOAD_OPTIONS)
def _softplus_impl(x):
    if x == types.float32:
        return _softplus32
    return _softplus_generic


@overload(normal_cdf_and_gaussian, inline="always", **_OVERLOAD_OPTIONS)
def _normal_cdf_and_gaussian_impl(x):
    if x == types.float32:
        return lambda x: _normal_cdf_and_gaussian32(x)
    return _normal_cdf_and_gaussian_generic


@overload(erf, **_OVERLOAD_OPTIONS)
def _erf_impl(x):
    if x == types.float32:
        return lambda x: _erf32(x)
    return lambda x: math.erf(x)
