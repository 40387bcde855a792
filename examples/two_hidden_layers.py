"""
Two hidden layers, plain gradient descent
=========================================

A two-hidden-layer sigmoid network trained by plain gradient descent.

The from-scratch classic: three samples of four binary inputs::

    [1, 0, 1, 0] -> 1
    [1, 0, 1, 1] -> 1
    [0, 1, 0, 1] -> 0

fed through two hidden layers of five logistic ("sigmoid") units each and one
sigmoid output unit (4 -> 5 -> 5 -> 1), and trained by full-batch gradient
descent, one weight update per pass over the three samples, for 10,001
epochs.  The outputs end up close to the targets.

For two classes ``MLPClassifier`` ends in a single logistic unit, so
``predict_proba(X)[:, 1]`` is exactly that sigmoid output.  The settings below
turn scikit-learn's conveniences off to match the classic:

* ``solver="sgd"``, ``batch_size=3`` (all rows), ``momentum=0`` and a
  constant learning rate: plain gradient descent, ``w -= 0.1 * gradient``;
* ``alpha=0``: no L2 penalty;
* ``tol=0`` and ``n_iter_no_change=10001``: the stopping rule never fires, so
  all 10,001 epochs run (scikit-learn then warns that it "hasn't converged",
  which we silence).

The classic descends the squared error, scikit-learn the log-loss (averaged
over the batch), whose gradient at the output is simply ``output - target``;
either way the network learns the three samples.  The result depends a little
on the random initial weights (``random_state``), as the classic does on its
own; with each of the seeds 0 to 19 the outputs end within 0.003 of the
targets.

Run it with::

    python examples/two_hidden_layers.py
"""

import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from fastnn import MLPClassifier

X = np.array([[1, 0, 1, 0],
              [1, 0, 1, 1],
              [0, 1, 0, 1]], dtype=float)
y = np.array([1, 1, 0])
epochs = 10_001

net = MLPClassifier(
    hidden_layer_sizes=(5, 5),  # 4 inputs -> 5 sigmoid -> 5 sigmoid -> 1 sigmoid output
    activation="logistic",
    solver="sgd",
    batch_size=len(X),          # full batch: one update per epoch
    momentum=0.0,               # plain gradient descent
    learning_rate="constant",
    learning_rate_init=0.1,
    alpha=0.0,                  # no L2 penalty
    max_iter=epochs,
    tol=0.0,                    # never stop early...
    n_iter_no_change=epochs,    # ...so every epoch runs
    shuffle=False,              # one batch of all rows: the order does not matter
    random_state=0,
)
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)  # max_iter reached, on purpose
    net.fit(X, y)

output = net.predict_proba(X)[:, 1]  # the output unit's sigmoid
print(f"layers (inputs, outputs): {[c.shape for c in net.coefs_]}")
print(f"epochs: {net.n_iter_}, final log-loss: {net.loss_:.5f}\n")
print("input          target  output")
for row, target, out in zip(X.astype(int), y, output):
    print(f"{row}      {target}     {out:.4f}")
print(f"\nlargest |output - target|: {np.max(np.abs(output - y)):.4f}")
