"""Optimizers: the registry, the update kernels, and the object owning an optimizer's state.

``step`` applies one update to ``theta[j0:j1]``, forming the gradient from
the lanes' partial gradients, the L2 term, the normalisation and the clipping
as it goes; the training kernel calls it block by block, so parameters are
touched once per mini-batch while in cache.  ``step_hyper`` computes, once
per mini-batch, the coefficients of that step (scheduled learning rate, bias
corrections).  The ``GRADIENT`` code writes the gradient out instead of
stepping (the full-batch gradient L-BFGS asks for).

The formulas are PyTorch's (``torch.optim``) at the same hyper-parameters,
except 'sgd' and 'adam', which are scikit-learn's (Adam's epsilon is added
to the uncorrected ``sqrt(v)``; PyTorch adds it to the corrected one, as
'adamw' and 'nadam' do here).  With ``g`` the gradient and ``lr`` the
scheduled rate:

* sgd: ``v = momentum v - lr g``; ``w += v`` (or ``momentum v - lr g``
  with Nesterov's momentum).
* adam: ``m = b1 m + (1 - b1) g``, ``v = b2 v + (1 - b2) g^2``,
  ``w -= lr sqrt(1 - b2^t) / (1 - b1^t) m / (sqrt(v) + eps)``.
* adamw: ``w *= 1 - lr weight_decay`` (weights only, not intercepts), then
  ``w -= lr / (1 - b1^t) m / (sqrt(v / (1 - b2^t)) + eps)``.
* nadam: PyTorch's NAdam (``momentum_decay=4e-3``): ``mu_t = b1 (1 - 0.5 *
  0.96^(0.004 t))``, ``w -= lr (1 - mu_t) / (1 - prod mu) g / d + lr mu_{t+1}
  / (1 - mu_{t+1} prod mu) m / d``, ``d = sqrt(v / (1 - b2^t)) + eps``.
* rmsprop: ``v = rho v + (1 - rho) g^2``, ``w -= lr g / (sqrt(v) + eps)``.
* adagrad: ``v += g^2``, ``w -= lr g / (sqrt(v) + eps)``.

Adding an optimizer means an entry in ``REGISTRY``, its coefficients in
``step_hyper`` and its branch in ``_step_range``.
"""

from dataclasses import dataclass

import numpy as np

from ._config import jit, jit_exact, jit_inline
from ._schedules import REGISTRY as SCHEDULES
from ._schedules import scheduled_rate, warmup_steps

SGD = 0
ADAM = 1
GRADIENT = 2  # no update: ``state[0]`` receives the gradient
RMSPROP = 3
ADAGRAD = 4
ADAMW = 5
NADAM = 6

NADAM_MOMENTUM_DECAY = 4e-3


@dataclass(frozen=True)
class OptimizerKind:
    """One optimizer: its code in the kernels and its state vectors per parameter."""

    name: str
    code: int
    n_state: int


REGISTRY = {o.name: o for o in (
    OptimizerKind("sgd", SGD, 1),
    OptimizerKind("adam", ADAM, 2),
    OptimizerKind("rmsprop", RMSPROP, 1),
    OptimizerKind("adagrad", ADAGRAD, 1),
    OptimizerKind("adamw", ADAMW, 2),
    OptimizerKind("nadam", NADAM, 2),
)}

# Positions in the ``hyper`` vector handed to the kernels.  Python fills the
# settings in float64; the training kernel keeps a copy in the parameters'
# dtype, where ``step_hyper`` writes the coefficients of each step.
LR = 0
MOMENTUM = 1
NESTEROV = 2
BETA_1 = 3
BETA_2 = 4
EPSILON = 5
RHO = 6
WEIGHT_DECAY = 7
SCHEDULE = 8
TOTAL_STEPS = 9
WARMUP_STEPS = 10
CLIP_VALUE = 11
CLIP_NORM = 12
# per step (written by step_hyper):
LR_T = 13  # the rate multiplying the update
EPS_T = 14  # the epsilon added to sqrt(v)
DECAY_T = 15  # adamw's weight factor
COEF_G = 16  # nadam: factor of g; rmsprop/adagrad: factor of g^2
COEF_M = 17  # nadam: factor of m; rmsprop/adagrad: decay of v
N_HYPER = 18


@jit
def typed_hyper(hyper, typed):
    """``typed``, in the parameters' dtype, from the settings ``hyper``."""
    for k in range(N_HYPER):
        typed[k] = typed.dtype.type(hyper[k])
    typed[EPS_T] = typed[EPSILON]
    typed[DECAY_T] = 1


@jit
def step_hyper(code, hyper, step, mu_product, typed, full):
    """Write the coefficients of update ``step`` (1-based) into ``typed``
    (filled by ``typed_hyper`` first).

    ``mu_product`` is NAdam's product of momentum factors before this step.
    Returns the scheduled learning rate and that product after the step.
    ``full`` is None in the kernels compiled for scikit-learn's solvers only
    (sgd and adam at a rate set between epochs), True in the others.
    """
    if full is None:
        lr = hyper[LR]
        lr_t = lr
        if code == ADAM:
            lr_t = lr * np.sqrt(1.0 - hyper[BETA_2] ** step) / (1.0 - hyper[BETA_1] ** step)
        typed[LR_T] = typed.dtype.type(lr_t)
        return lr, mu_product
    lr = scheduled_rate(int(hyper[SCHEDULE]), hyper[LR], hyper[TOTAL_STEPS],
                        hyper[WARMUP_STEPS], step)
    dt = typed.dtype.type
    lr_t = lr
    eps_t = hyper[EPSILON]
    decay = 1.0
    coef_g = 0.0
    coef_m = 0.0
    b1 = hyper[BETA_1]
    b2 = hyper[BETA_2]
    if code == ADAM or code == ADAMW or code == NADAM:
        root = np.sqrt(1.0 - b2 ** step)
        lr_t = lr * root / (1.0 - b1 ** step)
        if code != ADAM:
            eps_t = hyper[EPSILON] * root
        if code == ADAMW:
            decay = 1.0 - lr * hyper[WEIGHT_DECAY]
        elif code == NADAM:
            mu = b1 * (1.0 - 0.5 * 0.96 ** (step * NADAM_MOMENTUM_DECAY))
            mu_next = b1 * (1.0 - 0.5 * 0.96 ** ((step + 1) * NADAM_MOMENTUM_DECAY))
            mu_product *= mu
            coef_g = lr * (1.0 - mu) / (1.0 - mu_product) * root
            coef_m = lr * mu_next / (1.0 - mu_product * mu_next) * root
    elif code == RMSPROP:
        coef_m = hyper[RHO]
        coef_g = 1.0 - hyper[RHO]
    elif code == ADAGRAD:
        coef_m = 1.0
        coef_g = 1.0
    typed[LR_T] = dt(lr_t)
    typed[EPS_T] = dt(eps_t)
    typed[DECAY_T] = dt(decay)
    typed[COEF_G] = dt(coef_g)
    typed[COEF_M] = dt(coef_m)
    return lr, mu_product


@jit_exact
def step(code, theta, ga, gb, two, alpha, scale, n_coef, state, hyper, j0, j1, full):
    """One optimizer update of ``theta[j0:j1]``; ``hyper`` has theta's dtype.

    The gradient is formed element by element as it is used, never stored:
    ``g = ((ga + gb) + alpha * theta) * scale``, without ``gb`` unless
    ``two``, with the L2 term ``alpha * theta`` (and adamw's weight decay) on
    the weights only (``j < n_coef``, the intercepts follow the weights in
    ``theta``), then clipped to ``[-clip_value, clip_value]`` when that is
    set.  The kernels pass the lanes' partial gradients (already summed but
    for the last lane) and ``1 / sample weight sum`` (times the clipping
    factor of the global norm) as ``scale``: one pass over the parameters
    instead of a reduction pass and an update pass.

    Compiled without fast-math, so that the vectorised loop body and its
    scalar remainder round alike in every kernel it is inlined into (with
    contraction and reassociation allowed they need not, and a model would
    depend on what else the process had compiled).
    """
    k = min(max(n_coef, j0), j1)
    # ``two`` and the flags are tested inside the loops (selects, which
    # vectorise) rather than made constants of each call: one copy of every
    # update loop in the kernel, a second less to compile
    # ``k >= j0`` is True, ``k < j0`` False: flags computed, not literals, so
    # that Numba compiles one ``_step_range`` for both calls
    _step_range(code, theta, ga, gb, two, k >= j0, alpha, scale, state, hyper, j0, k, full)
    _step_range(code, theta, ga, gb, two, k < j0, alpha, scale, state, hyper, k, j1, full)


@jit_exact
def _step_range(code, theta, ga, gb, two, weights, alpha, scale, state, hyper, j0, j1, full):
    """``step`` over ``[j0, j1)``, all weights or all intercepts (``full`` as
    in ``step_hyper``: None leaves out every solver but sgd and adam, and
    clipping)."""
    lr = hyper[LR_T]
    one = hyper.dtype.type(1)
    l2 = weights and alpha != 0
    clip = hyper[CLIP_VALUE]
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
            gj = _gradient(a[j], b[j], w[j], two, l2, alpha, scale, clip, full)
            v = mu * velocity[j] - lr * gj
            velocity[j] = v
            w[j] += mu * v - lr * gj if nesterov else v
    elif code == ADAM or code == ADAMW:
        b1 = hyper[BETA_1]
        b2 = hyper[BETA_2]
        eps = hyper[EPS_T]
        decay = hyper[DECAY_T] if weights else one
        m = state[0, j0:j1]
        s = state[1, j0:j1]
        for j in range(w.shape[0]):
            gj = _gradient(a[j], b[j], w[j], two, l2, alpha, scale, clip, full)
            mj, sj = _moments(m[j], s[j], gj, b1, b2, one)
            m[j] = mj
            s[j] = sj
            w[j] = w[j] * decay - lr * mj / (np.sqrt(sj) + eps)
    elif code == GRADIENT:
        out = state[0, j0:j1]
        for j in range(w.shape[0]):
            out[j] = _gradient(a[j], b[j], w[j], two, l2, alpha, scale, clip, full)
    elif full is not None:
        # the state rows as contiguous slices (``state[:, j0:j1][0]`` would
        # be typed as strided, and its loops would not vectorise)
        _step_extended(code, w, a, b, two, l2, alpha, scale, clip, state[0, j0:j1],
                       state[state.shape[0] - 1, j0:j1], hyper, full)


@jit_exact
def _step_extended(code, w, a, b, two, l2, alpha, scale, clip, first, last, hyper, full):
    """The solvers of the full kernels only; ``first`` and ``last`` are the
    first and last rows of their state (the same row for a one-row state)."""
    lr = hyper[LR_T]
    one = hyper.dtype.type(1)
    if code == NADAM:
        b1 = hyper[BETA_1]
        b2 = hyper[BETA_2]
        eps = hyper[EPS_T]
        cg = hyper[COEF_G]
        cm = hyper[COEF_M]
        m = first
        s = last
        for j in range(w.shape[0]):
            gj = _gradient(a[j], b[j], w[j], two, l2, alpha, scale, clip, full)
            mj, sj = _moments(m[j], s[j], gj, b1, b2, one)
            m[j] = mj
            s[j] = sj
            w[j] -= (cg * gj + cm * mj) / (np.sqrt(sj) + eps)
    elif code == RMSPROP or code == ADAGRAD:
        cg = hyper[COEF_G]
        cm = hyper[COEF_M]
        eps = hyper[EPSILON]
        s = first
        for j in range(w.shape[0]):
            gj = _gradient(a[j], b[j], w[j], two, l2, alpha, scale, clip, full)
            sj = cm * s[j] + cg * gj * gj
            s[j] = sj
            w[j] -= lr * gj / (np.sqrt(sj) + eps)


@jit_inline  # in the exact loops of its callers
def _moments(m, s, g, b1, b2, one):
    """Adam's (and NAdam's) first and second moments after gradient ``g``."""
    return b1 * m + (one - b1) * g, b2 * s + (one - b2) * g * g


@jit_exact
def _gradient(a, b, w, two, l2, alpha, scale, clip, full):
    """One element of the gradient ``step`` applies, from the lanes' partial
    gradients ``a`` and ``b`` and the parameter ``w``.

    Scalars, not the arrays and an index: a call with array arguments counts
    references, and where LLVM inlines it only after Numba's pass that
    removes those counts, the update loop keeps two atomic operations per
    element and is not vectorised.
    """
    g = a + b if two else a
    if l2:
        g += alpha * w
    g *= scale
    if full is not None:
        if clip > 0:
            g = min(max(g, -clip), clip)
    return g


@jit_exact
def gradient_sum_of_squares(ga, gb, two, theta, alpha, scale, n_coef, j0, j1):
    """``sum(g ** 2)`` over ``[j0, j1)`` in float64, ``g`` formed as ``step``
    forms it (before clipping); eight interleaved partial sums fix the order."""
    acc = np.zeros(8)
    for j in range(j0, j1):
        g = ga[j] + gb[j] if two else ga[j]
        if j < n_coef:
            g += alpha * theta[j]
        v = float(g * scale)
        acc[j & 7] += v * v
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]))


class Optimizer:
    """State of the optimizer ``solver`` over a flat parameter vector of length ``n_params``.

    Owns the state arrays, the step count, NAdam's momentum product and the
    learning-rate schedules applied between epochs (``iteration_ends``,
    ``trigger_stopping``, as scikit-learn's optimizers); ``hyper`` gives the
    settings the kernels read.
    """

    def __init__(self, solver, n_params, dtype, *, learning_rate_init=0.001,
                 learning_rate="constant", power_t=0.5, momentum=0.9, nesterov=True,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, rho=0.9, weight_decay=0.01,
                 clip_value=None, clip_norm=None, total_steps=1):
        kind = REGISTRY[solver]
        self.solver = solver
        self.code = kind.code
        self.learning_rate_init = float(learning_rate_init)
        self.learning_rate = float(learning_rate_init)
        self.lr_schedule = learning_rate
        self.settings = dict(power_t=power_t, momentum=momentum, nesterov=nesterov,
                             beta_1=beta_1, beta_2=beta_2, epsilon=epsilon, rho=rho,
                             weight_decay=weight_decay, clip_value=clip_value,
                             clip_norm=clip_norm)
        self.total_steps = max(1, int(total_steps))
        self.state = np.zeros((kind.n_state, n_params), dtype=dtype)
        self.mu_product = 1.0  # nadam's product of momentum factors
        self.t = 0  # number of update steps taken
        self.last_rate = self.learning_rate  # rate of the last step taken

    def to_dict(self):
        """The optimizer as plain values and its state array (``from_dict``):
        what a file stores, pickle's or a safe format's such as skops'."""
        return {
            "solver": self.solver,
            "learning_rate_init": self.learning_rate_init,
            "learning_rate": self.learning_rate,
            "lr_schedule": self.lr_schedule,
            "settings": dict(self.settings),
            "total_steps": self.total_steps,
            "state": self.state,
            "mu_product": self.mu_product,
            "t": self.t,
            "last_rate": self.last_rate,
        }

    @classmethod
    def from_dict(cls, state):
        """The optimizer of ``to_dict``'s dict.

        The state array must have the rows its solver updates: the kernels
        index it without bounds checks.

        Raises
        ------
        ValueError
            When the values do not describe an optimizer.
        """
        kind = REGISTRY.get(state["solver"])
        if kind is None or state["lr_schedule"] not in SCHEDULES:
            raise ValueError(f"Unknown solver {state['solver']!r} or schedule"
                             f" {state['lr_schedule']!r}.")
        vectors = state["state"]
        if not (isinstance(vectors, np.ndarray) and vectors.ndim == 2
                and vectors.shape[0] == kind.n_state
                and vectors.dtype in (np.float32, np.float64)):
            raise ValueError(f"The state of {kind.name} is {kind.n_state} float vectors.")
        optimizer = cls(kind.name, vectors.shape[1], vectors.dtype,
                        learning_rate_init=state["learning_rate_init"],
                        learning_rate=state["lr_schedule"], total_steps=state["total_steps"],
                        **state["settings"])
        optimizer.learning_rate = float(state["learning_rate"])
        optimizer.state = vectors
        optimizer.mu_product = float(state["mu_product"])
        optimizer.t = int(state["t"])
        optimizer.last_rate = float(state["last_rate"])
        return optimizer

    @property
    def extended(self):
        """Whether this optimizer needs the full kernels (``_kernels``): a
        solver other than sgd and adam, a per-step schedule or clipping."""
        s = self.settings
        return (self.solver not in ("sgd", "adam") or SCHEDULES[self.lr_schedule].per_step
                or s["clip_value"] is not None or s["clip_norm"] is not None)

    def hyper(self):
        """The float64 settings vector the kernels read."""
        s = self.settings
        h = np.zeros(N_HYPER)
        h[LR] = self.learning_rate
        h[MOMENTUM] = s["momentum"]
        h[NESTEROV] = float(s["nesterov"])
        h[BETA_1] = s["beta_1"]
        h[BETA_2] = s["beta_2"]
        h[EPSILON] = s["epsilon"]
        h[RHO] = s["rho"]
        h[WEIGHT_DECAY] = s["weight_decay"]
        h[SCHEDULE] = SCHEDULES[self.lr_schedule].code
        h[TOTAL_STEPS] = self.total_steps
        h[WARMUP_STEPS] = warmup_steps(self.total_steps)
        h[CLIP_VALUE] = s["clip_value"] or 0.0
        h[CLIP_NORM] = s["clip_norm"] or 0.0
        return h

    def iteration_ends(self, time_step):
        """Called after each epoch with the number of samples seen so far."""
        if self.lr_schedule == "invscaling":
            self.learning_rate = (self.learning_rate_init
                                  / (time_step + 1) ** self.settings["power_t"])

    def trigger_stopping(self, msg, verbose):
        """Return True when training should stop after no improvement."""
        if self.lr_schedule != "adaptive":
            if verbose:
                print(msg + " Stopping.")
            return True
        if self.learning_rate <= 1e-6:
            if verbose:
                print(msg + " Learning rate too small. Stopping.")
            return True
        self.learning_rate /= 5.0
        if verbose:
            print(msg + " Setting learning rate to %f" % self.learning_rate)
        return False
