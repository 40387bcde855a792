"""Learning-rate schedules: the registry, and the per-step rate used in the kernels.

Two kinds of schedule exist.  scikit-learn's 'invscaling' and 'adaptive'
change the rate between epochs, from Python (``Optimizer.iteration_ends``
and ``Optimizer.trigger_stopping``); 'cosine' and 'onecycle' change it at
every mini-batch step, inside the training kernel (``scheduled_rate``), over
the ``total`` steps the fit plans (``max_iter`` epochs).

With ``lr`` the base rate (``learning_rate_init``), ``s`` the number of
steps taken before the current one and ``T`` the planned total:

* constant: ``lr``.
* invscaling: ``lr / (n + 1) ** power_t`` for the epochs after ``n``
  samples were seen (scikit-learn's formula, for every stochastic solver).
* adaptive: ``lr``, divided by 5 each time ``n_iter_no_change`` epochs pass
  without improvement, until it is below 1e-6 (scikit-learn's rule).
* cosine: ``lr * (1 + cos(pi * min(s, T) / T)) / 2`` (PyTorch's
  ``CosineAnnealingLR`` with ``T_max=T``, ``eta_min=0``, stepped per batch).
* onecycle: linear warm-up from ``lr / 25`` to ``lr`` over the first
  ``W = round(0.3 T)`` steps, then cosine annealing from ``lr`` down to
  ``lr / 25e4`` over the remaining ``T - W`` (the constants of PyTorch's
  ``OneCycleLR``).
"""

from dataclasses import dataclass

import numpy as np

from ._config import jit

CONSTANT = 0
COSINE = 1
ONECYCLE = 2

ONECYCLE_WARMUP = 0.3
ONECYCLE_DIV = 25.0
ONECYCLE_FINAL_DIV = 1e4


@dataclass(frozen=True)
class Schedule:
    """One learning-rate schedule.

    ``code`` is what the kernel computes per step (CONSTANT for the schedules
    Python applies between epochs); ``per_step`` whether it changes within
    an epoch.
    """

    name: str
    code: int
    per_step: bool


REGISTRY = {s.name: s for s in (
    Schedule("constant", CONSTANT, False),
    Schedule("invscaling", CONSTANT, False),
    Schedule("adaptive", CONSTANT, False),
    Schedule("cosine", COSINE, True),
    Schedule("onecycle", ONECYCLE, True),
)}


def warmup_steps(total):
    """Warm-up steps of the 'onecycle' schedule over ``total`` steps."""
    return int(round(ONECYCLE_WARMUP * total))


@jit
def scheduled_rate(code, lr, total, warmup, step):
    """Learning rate of update ``step`` (1-based) under schedule ``code``."""
    s = float(step - 1)
    if code == COSINE:
        return 0.5 * lr * (1.0 + np.cos(np.pi * min(s, total) / total))
    if code == ONECYCLE:
        start = lr / ONECYCLE_DIV
        if s < warmup:
            return start + (lr - start) * s / warmup
        end = start / ONECYCLE_FINAL_DIV
        p = min(1.0, (s - warmup) / max(1.0, total - warmup))
        return end + (lr - end) * 0.5 * (1.0 + np.cos(np.pi * p))
    return lr
