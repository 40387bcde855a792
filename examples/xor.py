"""
XOR needs a hidden layer
========================

XOR: why a network needs a hidden layer (3-1 versus 3-4-1).

The classic from-scratch pair.  Four samples of three binary inputs, the third
always 1 (the classic's stand-in for a bias)::

    x1 x2 x3    A   B = x1 XOR x2
     0  0  1    0   0
     0  1  1    0   1
     1  0  1    1   1
     1  1  1    1   0

* A 3-1 network, three inputs straight into one sigmoid output
  (``hidden_layer_sizes=()``), learns target A, which is just x1.
* The same 3-1 network cannot learn target B: its decision boundary is a
  plane, and XOR's classes, {(0,0), (1,1)} and {(0,1), (1,0)}, sit on opposite
  corners of the square, where no plane separates them (Minsky and Papert,
  1969).  Gradient descent settles on the best it can do, 0.5 for every row.
* A 3-4-1 network, with a hidden layer of four sigmoid units, learns B: the
  hidden units map the inputs to a space where the output unit's plane does
  separate the classes.

All three train like the classic, by full-batch gradient descent (one update
per pass over the four rows, no momentum, no L2 penalty) for 10,000 epochs;
the stopping rule is switched off (``tol=0``) so every epoch runs.

Run it with::

    python examples/xor.py
"""

import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from fastnn import MLPClassifier

X = np.array([[0, 0, 1],
              [0, 1, 1],
              [1, 0, 1],
              [1, 1, 1]], dtype=float)
target_a = np.array([0, 0, 1, 1])  # = x1: one plane separates the classes
target_b = np.array([0, 1, 1, 0])  # = x1 XOR x2: needs a hidden layer
epochs = 10_000


def sigmoid_network(hidden_layer_sizes):
    """A sigmoid network trained by full-batch gradient descent."""
    return MLPClassifier(
        hidden_layer_sizes=hidden_layer_sizes,
        activation="logistic",
        solver="sgd",
        batch_size=len(X),      # full batch
        momentum=0.0,
        learning_rate_init=1.0,
        alpha=0.0,
        max_iter=epochs,
        tol=0.0,                # never stop early
        n_iter_no_change=epochs,
        shuffle=False,
        random_state=0,
    )


def train(hidden_layer_sizes, y):
    """Fit a network on (X, y) and return its output for each row."""
    net = sigmoid_network(hidden_layer_sizes)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # max_iter reached, on purpose
        net.fit(X, y)
    return net.predict_proba(X)[:, 1]  # the sigmoid output unit


outputs = {
    "3-1 on A": train((), target_a),
    "3-1 on B (XOR)": train((), target_b),
    "3-4-1 on B (XOR)": train((4,), target_b),
}
targets = {"3-1 on A": target_a, "3-1 on B (XOR)": target_b, "3-4-1 on B (XOR)": target_b}

print(" x1 x2 x3 |  A  B | " + " | ".join(f"{name:>16}" for name in outputs))
for i, row in enumerate(X.astype(int)):
    cells = " | ".join(f"{outputs[name][i]:>16.3f}" for name in outputs)
    print(f"  {row[0]}  {row[1]}  {row[2]} |  {target_a[i]}  {target_b[i]} | {cells}")

errors = {name: np.max(np.abs(outputs[name] - targets[name])) for name in outputs}
print()
for name, error in errors.items():
    verdict = "learned" if error < 0.05 else "NOT learned"
    print(f"{name:>16}: largest |output - target| = {error:.3f} -> {verdict}")
