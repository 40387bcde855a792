"""Slow, obviously correct NumPy references for the compiled kernels."""

import numpy as np
from scipy.special import expit, logsumexp, softmax, xlogy

from fastnn._activations import REGISTRY

ACTIVATIONS = {
    "identity": lambda z: z,
    "logistic": expit,
    "tanh": np.tanh,
    "relu": lambda z: np.maximum(z, 0),
    "softmax": lambda z: softmax(z, axis=1),
    "exp": np.exp,
}
# the activations added since: their NumPy references from the registry
ACTIVATIONS.update({name: a.function for name, a in REGISTRY.items() if name not in ACTIVATIONS})


def forward(X, coefs, intercepts, hidden, output):
    """Activations of every layer; the last one with ``output`` applied."""
    acts = [np.asarray(X, dtype=np.float64)]
    for i, (W, b) in enumerate(zip(coefs, intercepts)):
        z = acts[-1] @ W + b
        last = i == len(coefs) - 1
        acts.append(ACTIVATIONS[output if last else hidden](z))
    return acts


def _pre_output(X, coefs, intercepts, hidden):
    acts = forward(X, coefs[:-1], intercepts[:-1], hidden, hidden) if len(coefs) > 1 else [X]
    return acts[-1] @ coefs[-1] + intercepts[-1]


def per_sample_loss(z, Y, loss):
    """Loss of each row, summed over outputs, from output pre-activations ``z``."""
    if loss == "squared_error":
        return 0.5 * ((z - Y) ** 2).sum(axis=1)
    if loss == "poisson":
        return (np.exp(z) - Y * z + xlogy(Y, Y) - Y).sum(axis=1)
    if loss == "binary_log_loss":
        p = expit(z)
        return -(xlogy(Y, p) + xlogy(1 - Y, 1 - p)).sum(axis=1)
    if loss == "log_loss":
        return -(Y * (z - logsumexp(z, axis=1, keepdims=True))).sum(axis=1)
    raise ValueError(loss)


def objective(X, Y, sw, coefs, intercepts, hidden, loss, alpha):
    """Weighted mean loss plus ``alpha/2 * ||W||^2 / sum(sw)``, the training objective."""
    z = _pre_output(np.asarray(X, dtype=np.float64), coefs, intercepts, hidden)
    sw = np.ones(len(X)) if sw is None else np.asarray(sw, dtype=np.float64)
    penalty = 0.5 * alpha * sum((W.astype(np.float64) ** 2).sum() for W in coefs)
    return ((sw * per_sample_loss(z, Y, loss)).sum() + penalty) / sw.sum()


def numeric_gradient(f, theta, eps=1e-6):
    """The gradient of ``f`` at ``theta`` by central differences."""
    grad = np.empty_like(theta)
    for j in range(theta.size):
        up, down = theta.copy(), theta.copy()
        up[j] += eps
        down[j] -= eps
        grad[j] = (f(up) - f(down)) / (2 * eps)
    return grad
