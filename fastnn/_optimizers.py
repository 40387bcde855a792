"""Optimizers: per-parameter update kernels and the small objects that own their state.

A kernel update is ``update(code, theta, g, state, j, lr_t, hyper)`` for one
parameter index ``j``; the training kernel fuses it with the gradient
reduction so parameters are touched once per mini-batch.  The Python objects
mirror scikit-learn's optimizers: they own the state arrays, the step count
and the learning-rate schedule (``iteration_ends``, ``trigger_stopping``).
"""

import numpy as np

from ._config import jit

SGD = 0
ADAM = 1

# Positions in the ``hyper`` float64 vector handed to the kernels.
LR = 0
MOMENTUM = 1
NESTEROV = 2
BETA_1 = 3
BETA_2 = 4
EPSILON = 5
N_HYPER = 6


@jit
def step_size(code, hyper, t):
    """Learning rate used for step ``t`` (1-based); Adam folds in bias correction."""
    lr = hyper[LR]
    if code == ADAM:
        return lr * np.sqrt(1.0 - hyper[BETA_2] ** t) / (1.0 - hyper[BETA_1] ** t)
    return lr


@jit
def update(code, theta, g, state, j, lr_t, hyper):
    """Apply one optimizer step to ``theta[j]`` given its gradient ``g``."""
    if code == SGD:
        mu = hyper[MOMENTUM]
        v = mu * state[0, j] - lr_t * g
        state[0, j] = v
        if hyper[NESTEROV] != 0.0:
            theta[j] += mu * v - lr_t * g
        else:
            theta[j] += v
    elif code == ADAM:
        b1 = hyper[BETA_1]
        b2 = hyper[BETA_2]
        m = b1 * state[0, j] + (1.0 - b1) * g
        v = b2 * state[1, j] + (1.0 - b2) * g * g
        state[0, j] = m
        state[1, j] = v
        theta[j] -= lr_t * m / (np.sqrt(v) + hyper[EPSILON])


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
        """The float64 hyper-parameter vector the kernels read."""
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
