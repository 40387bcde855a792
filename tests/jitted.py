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
def step(code, theta, ga, gb, two, alpha, scale, n_coef, state, hyper, j0, j1):
    _step(code, theta, ga, gb, two, alpha, scale, n_coef, state, hyper, j0, j1)


@jit
def loss_and_delta(Z, Y, sw, rows, code, delta):
    return _loss_and_delta(Z, Y, sw, rows, code, delta)


@jit
def bias_activate(Z, b, code):
    _bias_activate(Z, b, code)
