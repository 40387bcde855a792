"""Activation functions: one integer code each, forward and derivative kernels.

The derivative is written in terms of the activation's *output*, so the
backward pass needs nothing but the activations the forward pass stored.
Adding an activation means adding a code, a row in ``ACTIVATIONS`` and a branch
in the two kernels below; the tests loop over the table.  Each branch is its
own loop so that LLVM vectorises it; constants take the array's dtype so
float32 work stays in float32.
"""


from ._config import jit
from ._elementary import exp, ordered_sum, sigmoid, tanh

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
def bias_activate(Z, b, code):
    """``Z[i, j] = f(Z[i, j] + b[j])`` in place, for activation ``code``."""
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
            for j in range(m):
                Z[i, j] = max(Z[i, j] + b[j], zero)
    elif code == TANH:
        for i in range(n):
            for j in range(m):
                Z[i, j] = tanh(Z[i, j] + b[j])
    elif code == LOGISTIC:
        for i in range(n):
            for j in range(m):
                Z[i, j] = sigmoid(Z[i, j] + b[j])
    elif code == EXP:
        for i in range(n):
            for j in range(m):
                Z[i, j] = exp(Z[i, j] + b[j])
    else:  # IDENTITY
        for i in range(n):
            for j in range(m):
                Z[i, j] += b[j]


@jit
def multiply_derivative(A, delta, code, col_sum):
    """``delta *= f'(z)`` where ``A = f(z)`` is the stored activation output.

    Also adds the column sums of the result to ``col_sum`` (the intercept
    gradient of the layer), so the delta is read once.  Written without
    branches on the data so that every case vectorises.
    """
    n, m = A.shape
    zero = A.dtype.type(0)
    one = A.dtype.type(1)
    for i in range(n):
        a = A[i]
        d = delta[i]
        if code == RELU:
            for j in range(m):
                v = d[j] if a[j] > zero else zero
                d[j] = v
                col_sum[j] += v
        elif code == TANH:
            for j in range(m):
                v = d[j] * (one - a[j] * a[j])
                d[j] = v
                col_sum[j] += v
        elif code == LOGISTIC:
            for j in range(m):
                v = d[j] * (a[j] * (one - a[j]))
                d[j] = v
                col_sum[j] += v
        elif code == EXP:
            for j in range(m):
                v = d[j] * a[j]
                d[j] = v
                col_sum[j] += v
        else:  # IDENTITY
            for j in range(m):
                col_sum[j] += d[j]
