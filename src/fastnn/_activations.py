"""Activation functions: the registry, and the kernels applying them.

``REGISTRY`` is the single source of truth about activations: each entry has
its integer code (what the kernels dispatch on), a NumPy reference of the
function and of its derivative (what the tests compare the kernels with),
where it may be used, how its derivative is computed, and the gain of the
'he' initialisation.  Parameter validation, initialisation, the network
spec, the tests and the documentation read it.  Adding an activation means
one entry here, its scalar function(s) below and its branch in the kernels
of this module (a loop per code, so that each one vectorises); every test
that loops over the registry then covers it.

Derivatives come in two forms.  Most activations have a derivative that is a
function of their *output* ``a = f(z)`` (``multiply_derivative``): the
backward pass then needs nothing but the activations the forward pass
stored.  The others (gelu, silu, mish: ``from_output=False``) need the
pre-activation ``z``: for them the forward pass of training also stores
``f'(z)`` (``activate_and_derive``), in a buffer of its own that the network
spec allots.  Dropout uses the same buffer for any activation.

The codes from ``LEAKY_RELU`` on (``_extended_activate``,
``_extended_derivative``) are compiled into the full kernels only
(``_kernels``: a model of scikit-learn's activations never needs them).

Constants follow PyTorch's definitions and defaults (``torch.nn.functional``).
Each branch is its own loop so that LLVM vectorises it; constants take the
array's dtype so float32 work stays in float32.
"""

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ._config import jit, jit_inline
from ._elementary import (exp, expm1, normal_cdf_and_gaussian, ordered_sum, sigmoid, softplus,
                          tanh)
from ._intrinsics import c_view, wide_vectors

IDENTITY = 0
LOGISTIC = 1
TANH = 2
RELU = 3
SOFTMAX = 4
EXP = 5
LEAKY_RELU = 6
ELU = 7
SELU = 8
GELU = 9
SILU = 10
MISH = 11
SOFTPLUS = 12

LEAKY_SLOPE = 0.01
ELU_ALPHA = 1.0
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946
_INV_SQRT2 = 1.0 / math.sqrt(2.0)
_MISH_CAP = 20
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
SOFTPLUS_THRESHOLD = 20.0  # softplus(z) = z above it, as PyTorch's


# ---------------------------------------------------------------------------
# NumPy references (float64), used by the tests and the documentation
# ---------------------------------------------------------------------------


def _np_sigmoid(z):
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def _np_softplus(z):
    return np.where(z > SOFTPLUS_THRESHOLD, z,
                    np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z))))


def _np_erf(z):
    return np.vectorize(math.erf, otypes=[float])(z)


def _np_softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _np_elu(z, alpha=ELU_ALPHA):
    return np.where(z > 0, z, alpha * np.expm1(np.minimum(z, 0)))


def _np_gelu_derivative(z):
    return 0.5 * (1 + _np_erf(z * _INV_SQRT2)) + z * _INV_SQRT_2PI * np.exp(-0.5 * z * z)


def _np_mish_derivative(z):
    t = np.tanh(_np_softplus(z))
    return t + z * _np_sigmoid(z) * (1 - t * t)


@dataclass(frozen=True)
class Activation:
    """One activation function.

    Attributes
    ----------
    name : str
        Its name in the estimators' ``activation`` parameter.
    code : int
        Its code inside the kernels.
    function, derivative : callable
        NumPy references, elementwise on float64 arrays (softmax: rowwise;
        its derivative is never used, softmax being paired with the log-loss).
    hidden : bool
        Whether a hidden layer may use it (softmax and exp are output-only).
    from_output : bool
        Whether the kernels compute the derivative from the output ``f(z)``;
        if not, the forward pass of training stores ``f'(z)``.
    gain : float
        The gain of the 'he' initialisation (PyTorch's ``calculate_gain``).
    """

    name: str
    code: int
    function: Callable
    derivative: Callable
    hidden: bool = True
    from_output: bool = True
    gain: float = 1.0


REGISTRY = {a.name: a for a in (
    Activation("identity", IDENTITY, lambda z: z, np.ones_like),
    Activation("logistic", LOGISTIC, _np_sigmoid,
               lambda z: _np_sigmoid(z) * (1 - _np_sigmoid(z))),
    Activation("tanh", TANH, np.tanh, lambda z: 1 - np.tanh(z) ** 2, gain=5.0 / 3.0),
    Activation("relu", RELU, lambda z: np.maximum(z, 0), lambda z: (z > 0).astype(float),
               gain=math.sqrt(2.0)),
    Activation("softmax", SOFTMAX, _np_softmax, None, hidden=False),
    Activation("exp", EXP, np.exp, np.exp, hidden=False),
    Activation("leaky_relu", LEAKY_RELU, lambda z: np.where(z > 0, z, LEAKY_SLOPE * z),
               lambda z: np.where(z > 0, 1.0, LEAKY_SLOPE),
               gain=math.sqrt(2.0 / (1 + LEAKY_SLOPE ** 2))),
    Activation("elu", ELU, _np_elu, lambda z: np.where(z > 0, 1.0, ELU_ALPHA * np.exp(z))),
    Activation("selu", SELU, lambda z: SELU_SCALE * _np_elu(z, SELU_ALPHA),
               lambda z: SELU_SCALE * np.where(z > 0, 1.0, SELU_ALPHA * np.exp(z)),
               gain=0.75),
    Activation("gelu", GELU, lambda z: 0.5 * z * (1 + _np_erf(z * _INV_SQRT2)),
               _np_gelu_derivative, from_output=False),
    Activation("silu", SILU, lambda z: z * _np_sigmoid(z),
               lambda z: _np_sigmoid(z) * (1 + z * (1 - _np_sigmoid(z))), from_output=False),
    Activation("mish", MISH, lambda z: z * np.tanh(_np_softplus(z)), _np_mish_derivative,
               from_output=False),
    Activation("softplus", SOFTPLUS, _np_softplus, _np_sigmoid),
)}

#: name -> integer code used inside the kernels.
ACTIVATIONS = {name: a.code for name, a in REGISTRY.items()}

#: activations a hidden layer may use.
HIDDEN_ACTIVATIONS = tuple(name for name, a in REGISTRY.items() if a.hidden)

#: codes whose derivative the forward pass of training stores.
NEEDS_INPUT = frozenset(a.code for a in REGISTRY.values() if not a.from_output)

assert len(set(ACTIVATIONS.values())) == len(ACTIVATIONS)
# the kernels' needs_input
assert NEEDS_INPUT == {GELU, SILU, MISH}

#: codes compiled into the kernels of scikit-learn's activations (``full`` None)
BASIC = frozenset(code for code in ACTIVATIONS.values() if code < LEAKY_RELU)
assert {ACTIVATIONS[a] for a in ("identity", "logistic", "tanh", "relu", "softmax", "exp")} \
    == BASIC


def code_of(name):
    """The kernel code of activation ``name``; ValueError naming it if unknown."""
    try:
        return ACTIVATIONS[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"Unknown activation {name!r}; expected one of {sorted(ACTIVATIONS)}."
        ) from None


# ---------------------------------------------------------------------------
# Kernels
# ---------------------------------------------------------------------------


# The scalar functions below are inlined by Numba into the loops that call
# them (``jit_inline``), so that LLVM sees one loop body it can vectorise;
# written without conditional expressions, which Numba's inliner mishandles.
# The kernels test the activation code once, each case with its own loop over
# the rows: with the test inside that loop, LLVM kept the inner loops scalar.


@jit_inline
def _elu(z, alpha, scale):
    """``scale * (z if z > 0 else alpha * (exp(z) - 1))``, branch-free."""
    zero = type(z)(0)
    return scale * (max(z, zero) + alpha * expm1(min(z, zero)))


@jit_inline
def _gelu(z):
    return z * normal_cdf_and_gaussian(z)[0]


@jit_inline
def _gelu_and_derivative(z):
    cdf, gaussian = normal_cdf_and_gaussian(z)
    return z * cdf, cdf + z * type(z)(_INV_SQRT_2PI) * gaussian


@jit_inline
def _silu_and_derivative(z):
    s = sigmoid(z)
    return z * s, s * (type(z)(1) + z * (type(z)(1) - s))


# Mish from one exponential: with e = exp(z) and n = e (e + 2),
# tanh(softplus(z)) = n / (n + 2) and sigmoid(z) = e / (1 + e).  z is capped
# at 20 for e, where tanh(softplus(z)) rounds to 1 in float64 and n cannot
# overflow float32.  1 - t**2 is formed as (1 - t)(1 + t) = 2 (1 + t) / (n + 2),
# which keeps its precision where t is near 1.


@jit_inline
def _mish_terms(z):
    """``e`` and ``n`` (see above)."""
    e = exp(min(z, type(z)(_MISH_CAP)))
    return e, e * (e + type(z)(2))


@jit_inline
def _mish(z):
    e, n = _mish_terms(z)
    return z * (n * (type(z)(1) / (n + type(z)(2))))


@jit_inline
def _mish_and_derivative(z):
    # r = 1 / (n + 2) and sigmoid(z) = e / (1 + e) from one division,
    # 1 / ((n + 2) (1 + e)), below 1.2e26 for z capped at 20
    one = type(z)(1)
    two = type(z)(2)
    e, n = _mish_terms(z)
    inv = one / ((n + two) * (one + e))
    r = (one + e) * inv
    s = e * (n + two) * inv
    t = n * r
    return z * t, t + z * s * (two * r) * (one + t)


@jit
def bias_activate(Z, b, code, full):
    """``Z[i, j] = f(Z[i, j] + b[j])`` in place, for activation ``code``.

    ``full`` is None in the kernels compiled for scikit-learn's activations
    only (Numba then leaves the others out: less to compile on first use),
    True in those compiled for every activation.
    """
    if full is None:
        _basic_activate(Z, b, code)
    elif code < LEAKY_RELU:
        _basic_activate(Z, b, code)
    else:
        _extended_activate(Z, b, code)


@jit_inline
def _with_intercepts(Z, b):
    """``Z += b`` (a row at a time), then ``Z`` as one flat array.

    The activations costlier than a ReLU run over that array: a loop per row
    would end each row with a tail shorter than a vector (4 values past a
    row of 100's six vectors of 16), which takes the scalar path, one value
    at a time; over the whole block there is one such tail.
    """
    n, m = Z.shape
    for i in range(n):
        z = Z[i]
        for j in range(m):
            z[j] += b[j]
    return c_view(Z, 0, (n * m,))


@jit
def _basic_activate(Z, b, code):
    wide_vectors()
    n, m = Z.shape
    zero = Z.dtype.type(0)
    if code == SOFTMAX:
        for i in range(n):
            mx = Z[i, 0] + b[0]
            for j in range(m):
                Z[i, j] += b[j]
                mx = max(mx, Z[i, j])
            for j in range(m):
                Z[i, j] = exp(Z[i, j] - mx)
            inv = Z.dtype.type(1.0 / ordered_sum(Z[i], m))  # the same order in every kernel
            for j in range(m):
                Z[i, j] *= inv
    elif code == RELU:
        for i in range(n):
            z = Z[i]
            for j in range(m):
                z[j] = max(z[j] + b[j], zero)
    elif code == TANH:
        z = _with_intercepts(Z, b)
        for j in range(z.shape[0]):
            z[j] = tanh(z[j])
    elif code == LOGISTIC:
        z = _with_intercepts(Z, b)
        for j in range(z.shape[0]):
            z[j] = sigmoid(z[j])
    elif code == EXP:
        z = _with_intercepts(Z, b)
        for j in range(z.shape[0]):
            z[j] = exp(z[j])
    else:  # IDENTITY
        _with_intercepts(Z, b)


@jit
def _extended_activate(Z, b, code):
    wide_vectors()
    n, m = Z.shape
    dt = Z.dtype.type
    zero = dt(0)
    if code == LEAKY_RELU:
        slope = dt(LEAKY_SLOPE)
        for i in range(n):
            z = Z[i]
            for j in range(m):
                v = z[j] + b[j]
                z[j] = v if v > zero else slope * v
    elif code == ELU or code == SELU:
        alpha = dt(ELU_ALPHA) if code == ELU else dt(SELU_ALPHA)
        scale = dt(1.0) if code == ELU else dt(SELU_SCALE)
        z = _with_intercepts(Z, b)
        for j in range(z.shape[0]):
            z[j] = _elu(z[j], alpha, scale)
    elif code == GELU:
        z = _with_intercepts(Z, b)
        for j in range(z.shape[0]):
            z[j] = _gelu(z[j])
    elif code == SILU:
        z = _with_intercepts(Z, b)
        for j in range(z.shape[0]):
            v = z[j]
            z[j] = v * sigmoid(v)
    elif code == MISH:
        z = _with_intercepts(Z, b)
        for j in range(z.shape[0]):
            z[j] = _mish(z[j])
    else:  # SOFTPLUS
        z = _with_intercepts(Z, b)
        for j in range(z.shape[0]):
            z[j] = softplus(z[j])


@jit
def needs_input(code):
    """Whether the derivative of ``code`` needs the pre-activation (``NEEDS_INPUT``)."""
    return code == GELU or code == SILU or code == MISH


@jit
def activate_and_derive(Z, b, code, G):
    """``Z = f(Z + b)`` and ``G = f'(Z + b)`` in one pass, for the activations
    whose derivative needs the pre-activation (``needs_input``)."""
    wide_vectors()
    z = _with_intercepts(Z, b)
    g = c_view(G, 0, z.shape)
    if code == GELU:
        for j in range(z.shape[0]):
            z[j], g[j] = _gelu_and_derivative(z[j])
    elif code == SILU:
        for j in range(z.shape[0]):
            z[j], g[j] = _silu_and_derivative(z[j])
    else:  # MISH
        for j in range(z.shape[0]):
            z[j], g[j] = _mish_and_derivative(z[j])


@jit
def multiply_derivative(A, delta, code, col_sum, full):
    """``delta *= f'(z)`` where ``A = f(z)`` is the stored activation output.

    Also adds the column sums of the result to ``col_sum`` (the intercept
    gradient of the layer), so the delta is read once.  Written without
    branches on the data so that every case vectorises.  With ``code`` EXP,
    whose derivative is its output, this multiplies ``delta`` by ``A``
    itself: the backward step of a layer whose derivative was stored.
    ``full`` as in ``bias_activate``.
    """
    if full is None:
        _basic_derivative(A, delta, code, col_sum)
    elif code < LEAKY_RELU:
        _basic_derivative(A, delta, code, col_sum)
    else:
        _extended_derivative(A, delta, code, col_sum)


@jit
def _basic_derivative(A, delta, code, col_sum):
    wide_vectors()
    n, m = A.shape
    zero = A.dtype.type(0)
    one = A.dtype.type(1)
    if code == RELU:
        for i in range(n):
            a, d = A[i], delta[i]
            for j in range(m):
                dj = d[j]  # (loaded whatever the sign: the choice is then a select, vectorised)
                v = dj if a[j] > zero else zero
                d[j] = v
                col_sum[j] += v
    elif code == TANH:
        for i in range(n):
            a, d = A[i], delta[i]
            for j in range(m):
                v = d[j] * (one - a[j] * a[j])
                d[j] = v
                col_sum[j] += v
    elif code == LOGISTIC:
        for i in range(n):
            a, d = A[i], delta[i]
            for j in range(m):
                v = d[j] * (a[j] * (one - a[j]))
                d[j] = v
                col_sum[j] += v
    elif code == EXP:
        for i in range(n):
            a, d = A[i], delta[i]
            for j in range(m):
                v = d[j] * a[j]
                d[j] = v
                col_sum[j] += v
    else:  # IDENTITY
        for i in range(n):
            d = delta[i]
            for j in range(m):
                col_sum[j] += d[j]


@jit
def _extended_derivative(A, delta, code, col_sum):
    wide_vectors()
    n, m = A.shape
    dt = A.dtype.type
    zero = dt(0)
    if code == LEAKY_RELU:
        slope = dt(LEAKY_SLOPE)
        for i in range(n):
            a, d = A[i], delta[i]
            for j in range(m):
                dj = d[j]  # (as for RELU)
                v = dj if a[j] > zero else slope * dj
                d[j] = v
                col_sum[j] += v
    elif code == ELU or code == SELU:
        # f' = scale for z > 0 (where a > 0), else a + scale * alpha
        scale = dt(1.0) if code == ELU else dt(SELU_SCALE)
        shift = dt(ELU_ALPHA) if code == ELU else dt(SELU_SCALE * SELU_ALPHA)
        for i in range(n):
            a, d = A[i], delta[i]
            for j in range(m):
                v = d[j] * (scale if a[j] > zero else a[j] + shift)
                d[j] = v
                col_sum[j] += v
    else:  # SOFTPLUS: f' = sigmoid(z) = 1 - exp(-a), as -expm1(-a) for small a
        for i in range(n):
            a, d = A[i], delta[i]
            for j in range(m):
                v = d[j] * -expm1(-a[j])
                d[j] = v
                col_sum[j] += v
