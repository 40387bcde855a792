"""Optimizers: update kernels over a range of parameters, and the objects owning their state.

``step`` applies one update to ``theta[j0:j1]``, forming the gradient from
the lanes' partial gradients, the L2 term and the normalisation as it goes;
the training kernel calls it block by block, so parameters are touched once
per mini-batch while in cache.  The ``GRADIENT`` code writes that gradient
out instead of stepping (the full-batch gradient L-BFGS asks for).
The Python objects mirror scikit-learn's optimizers: they own the state
arrays, the step count and the learning-rate schedule (``iteration_ends``,
``trigger_stopping``).  Adding an optimizer means a code, a branch in
``_step_range`` (and ``step_size`` if its rate changes per step) and a class.
"""

import numpy as np

from ._config import jit, jit_exact

SGD = 0
ADAM = 1
GRADIENT = 2  # no update: ``state[0]`` receives the gradient

# Positions in the ``hyper`` vector handed to the kernels.  Python fills it in
# float64; the training kernel keeps a copy in the parameters' dtype and
# writes the current step's learning rate into ``LR_T``.
LR = 0
LR_T = 1
MOMENTUM = 2
NESTEROV = 3
BETA_1 = 4
BETA_2 = 5
EPSILON = 6
N_HYPER = 7


@jit
def step_size(code, hyper, t):
    """Learning rate of step ``t`` (1-based); Adam folds in its bias correction."""
    lr = hyper[LR]
    if code == ADAM:
        return lr * np.sqrt(1.0 - hyper[BETA_2] ** t) / (1.0 - hyper[BETA_1] ** t)
    return lr


@jit_exact
def step(code, theta, ga, gb, two, alpha, scale, n_coef, state, hyper, j0, j1):
    """One optimizer update of ``theta[j0:j1]``; ``hyper`` has theta's dtype.

    The gradient is formed element by element as it is used, never stored:
    ``g = ((ga + gb) + alpha * theta) * scale``, without ``gb`` unless
    ``two``, and with the L2 term ``alpha * theta`` on the weights only
    (``j < n_coef``, the intercepts follow the weights in ``theta``).  The
    kernels pass the lanes' partial gradients (already summed but for the
    last lane) and ``1 / sample weight sum`` as ``scale``: one pass over the
    parameters instead of a reduction pass and an update pass.

    Compiled without fast-math, so that the vectorised loop body and its
    scalar remainder round alike in every kernel it is inlined into (with
    contraction and reassociation allowed they need not, and a model would
    depend on what else the process had compiled).
    """
    k = min(max(n_coef, j0), j1)
    zero = theta.dtype.type(0)
    # ``two`` is tested inside the loops (a select, which vectorises) rather
    # than made a constant of each call: one copy of every update loop in
    # the kernel instead of two, a second less to compile
    _step_range(code, theta, ga, gb, two, alpha, scale, state, hyper, j0, k)
    _step_range(code, theta, ga, gb, two, zero, scale, state, hyper, k, j1)


@jit_exact
def _step_range(code, theta, ga, gb, two, alpha, scale, state, hyper, j0, j1):
    lr = hyper[LR_T]
    one = hyper.dtype.type(1)
    l2 = alpha != 0
    # Loops run over slices from 0: LLVM vectorises them only when it can
    # bound every array access (a loop over range(j0, j1) stays scalar).
    w = theta[j0:j1]
    a = ga[j0:j1]
    b = gb[j0:j1]
    if code == SGD:
        mu = hyper[MOMENTUM]
        velocity = state[0, j0:j1]
        nesterov = hyper[NESTEROV] != 0
        for j in range(w.shape[0]):
            gj = _gradient(a, b, w, j, two, l2, alpha, scale)
            v = mu * velocity[j] - lr * gj
            velocity[j] = v
            w[j] += mu * v - lr * gj if nesterov else v
    elif code == ADAM:
        b1 = hyper[BETA_1]
        b2 = hyper[BETA_2]
        eps = hyper[EPSILON]
        m = state[0, j0:j1]
        s = state[1, j0:j1]
        for j in range(w.shape[0]):
            gj = _gradient(a, b, w, j, two, l2, alpha, scale)
            mj = b1 * m[j] + (one - b1) * gj
            sj = b2 * s[j] + (one - b2) * gj * gj
            m[j] = mj
            s[j] = sj
            w[j] -= lr * mj / (np.sqrt(sj) + eps)
    elif code == GRADIENT:
        out = state[0, j0:j1]
        for j in range(w.shape[0]):
            out[j] = _gradient(a, b, w, j, two, l2, alpha, scale)


@jit_exact
def _gradient(a, b, w, j, two, l2, alpha, scale):
    g = a[j] + b[j] if two else a[j]
    if l2:
        g += alpha * w[j]
    return g * scale


class Optimizer:
    """State of one optimizer over a flat parameter vector of length ``n_params``."""

    code = -1
    n_state = 0

    def __init__(self, n_params, dtype, learning_rate_init):
        self.learning_rate_init = float(learning_rate_init)
        self.learning_rate = float(learning_rate_init)
        self.state = np.zeros((self.n_state, n_params), dtype=dtype)
        self.t = 0  # number of update steps taken

    def hyper(self):
        """The float64 hyper-parameter vector the kernels read (``LR_T`` is set there)."""
        h = np.zeros(N_HYPER)
        h[LR] = self.learning_rate
        return h

    def iteration_ends(self, time_step):
        """Called after each epoch with the number of samples seen so far."""

    def trigger_stopping(self, msg, verbose):
        """Return True when training should stop after no improvement."""
        if verbose:
            print(msg + " Stopping.")
        return True


class SGDOptimizer(Optimizer):
    code = SGD
    n_state = 1

    def __init__(self, n_params, dtype, learning_rate_init=0.1, lr_schedule="constant",
                 momentum=0.9, nesterov=True, power_t=0.5):
        super().__init__(n_params, dtype, learning_rate_init)
        self.lr_schedule = lr_schedule
        self.momentum = momentum
        self.nesterov = nesterov
        self.power_t = power_t

    def hyper(self):
        h = super().hyper()
        h[MOMENTUM] = self.momentum
        h[NESTEROV] = float(self.nesterov)
        return h

    def iteration_ends(self, time_step):
        if self.lr_schedule == "invscaling":
            self.learning_rate = self.learning_rate_init / (time_step + 1) ** self.power_t

    def trigger_stopping(self, msg, verbose):
        if self.lr_schedule != "adaptive":
            return super().trigger_stopping(msg, verbose)
        if self.learning_rate <= 1e-6:
            if verbose:
                print(msg + " Learning rate too small. Stopping.")
            return True
        self.learning_rate /= 5.0
        if verbose:
            print(msg + " Setting learning rate to %f" % self.learning_rate)
        return False


class AdamOptimizer(Optimizer):
    code = ADAM
    n_state = 2

    def __init__(self, n_params, dtype, learning_rate_init=0.001, beta_1=0.9,
                 beta_2=0.999, epsilon=1e-8):
        super().__init__(n_params, dtype, learning_rate_init)
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon

    def hyper(self):
        h = super().hyper()
        h[BETA_1] = self.beta_1
        h[BETA_2] = self.beta_2
        h[EPSILON] = self.epsilon
        return h


#: solver name -> optimizer class
OPTIMIZERS = {"sgd": SGDOptimizer, "adam": AdamOptimizer}
