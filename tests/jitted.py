"""fastnn's helper kernels and test kernels, callable from the tests.

fastnn compiles its helpers for other kernels only (no Python wrapper);
the tests call them through the jitted wrappers here, compiled with the
kernels' fast-math flags and error model, and not cached on disk.
"""

import numba

from fastnn._activations import bias_activate as _bias_activate
from fastnn._config import JIT_OPTIONS
from fastnn._losses import loss_and_delta as _loss_and_delta
from fastnn._optimizers import step as _step

#: ``numba.njit`` with the options of fastnn's kernels, uncached.
jit = numba.njit(**{k: v for k, v in JIT_OPTIONS.items() if k != "cache"})


@jit
def step(code, theta, ga, gb, two, alpha, scale, n_coef, state, hyper, j0, j1, full=True):
    _step(code, theta, ga, gb, two, alpha, scale, n_coef, state, hyper, j0, j1, full)


@jit
def loss_and_delta(Z, Y, sw, rows, code, delta):
    return _loss_and_delta(Z, Y, sw, rows, code, delta)


@jit
def bias_activate(Z, b, code, full=True):
    _bias_activate(Z, b, code, full)


from fastnn._activations import activate_and_derive as _activate_and_derive  # noqa: E402
from fastnn._activations import multiply_derivative as _multiply_derivative  # noqa: E402
from fastnn._noise import dropout as _dropout  # noqa: E402
from fastnn._noise import stream_key as _stream_key  # noqa: E402
from fastnn._schedules import scheduled_rate as _scheduled_rate  # noqa: E402


@jit
def activate_and_derive(Z, b, code, G):
    _activate_and_derive(Z, b, code, G)


@jit
def multiply_derivative(A, delta, code, col_sum, full=True):
    _multiply_derivative(A, delta, code, col_sum, full)


@jit
def dropout(A, G, rows, rate, kind, seed, step, layer, copies=1):
    _dropout(A, G, rows, copies, rate, kind, _stream_key(seed, step, layer))


@jit
def scheduled_rate(code, lr, total, warmup, step):
    return _scheduled_rate(code, lr, total, warmup, step)


from fastnn._optimizers import step_hyper as _step_hyper  # noqa: E402
from fastnn._optimizers import typed_hyper as _typed_hyper  # noqa: E402


@jit
def step_hyper(code, hyper, step, mu_product, typed, full=True):
    """``typed`` filled from ``hyper``, then with the coefficients of ``step``."""
    _typed_hyper(hyper, typed)
    return _step_hyper(code, hyper, step, mu_product, typed, full)


from fastnn._kernels import _claim_block as _claim_block_kernel  # noqa: E402


@jit
def claim_block(sync, batch, n_blocks, n_shares, member):
    return _claim_block_kernel(sync, batch, n_blocks, n_shares, member)
