"""Activation functions: one integer code each, forward and derivative kernels.

The derivative is written in terms of the activation's *output*, so the
backward pass needs nothing but the activations the forward pass stored.
Adding an activation means adding a code, a row in ``ACTIVATIONS`` and a branch
in the two kernels below; the tests loop over the table.
"""

import numpy as np

from ._config import jit

IDENTITY = 0
LOGISTIC = 1
TANH = 2
RELU = 3
SOFTMAX = 4
EXP = 5

#: name -> integer code used inside the kernels.
ACTIVATIONS = {
    "identity": IDENTITY,
    "logistic": LOGISTIC,
    "tanh": TANH,
    "relu": RELU,
    "softmax": SOFTMAX,
    "exp": EXP,
}

#: activations a hidden layer may use (softmax and exp are output-only).
HIDDEN_ACTIVATIONS = ("identity", "logistic", "tanh", "relu")


@jit
def sigmoid(x):
    """Logistic function that neither overflows nor loses precision at large |x|."""
    if x >= 0:
        return 1.0 / (1.0 + np.exp(-x))
    e = np.exp(x)
    return e / (1.0 + e)


@jit
def activate(Z, code):
    """Apply activation ``code`` in place to every row of the 2-D block ``Z``."""
    n, m = Z.shape
    if code == IDENTITY:
        return
    if code == SOFTMAX:
        for i in range(n):
            mx = Z[i, 0]
            for j in range(1, m):
                mx = max(mx, Z[i, j])
            s = 0.0
            for j in range(m):
                e = np.exp(Z[i, j] - mx)
                Z[i, j] = e
                s += e
            inv = 1.0 / s
            for j in range(m):
                Z[i, j] *= inv
        return
    for i in range(n):
        for j in range(m):
            z = Z[i, j]
            if code == RELU:
                Z[i, j] = max(z, 0.0)
            elif code == TANH:
                Z[i, j] = np.tanh(z)
            elif code == LOGISTIC:
                Z[i, j] = sigmoid(z)
            elif code == EXP:
                Z[i, j] = np.exp(z)


@jit
def multiply_derivative(A, delta, code):
    """``delta *= f'(z)`` where ``A = f(z)`` is the stored activation output."""
    n, m = A.shape
    if code == IDENTITY:
        return
    for i in range(n):
        for j in range(m):
            a = A[i, j]
            if code == RELU:
                if a <= 0.0:
                    delta[i, j] = 0.0
            elif code == TANH:
                delta[i, j] *= 1.0 - a * a
            elif code == LOGISTIC:
                delta[i, j] *= a * (1.0 - a)
            elif code == EXP:
                delta[i, j] *= a
