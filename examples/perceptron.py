"""
A single neuron learns a line
=============================

A single sigmoid neuron learns which side of a line a point lies on.

2,000 random points of the plane are labelled 1 above the line
``y = 1.23 x + 3.23`` and 0 below it.  A network with no hidden layer
(``hidden_layer_sizes=()``) is one neuron: it maps a point ``(x, y)`` to
``p = sigmoid(w1 x + w2 y + b)`` and predicts 1 when ``w1 x + w2 y + b > 0``,
so its decision boundary is the straight line ``w1 x + w2 y + b = 0``.  That
is exactly the kind of boundary these labels have, so one neuron suffices,
and once trained its line, solved for y, is close to ``1.23 x + 3.23``.

Training uses plain stochastic gradient descent with one sample per step
(``batch_size=1``), in the spirit of Rosenblatt's perceptron rule, though on
the smooth log-loss rather than on the 0/1 error.  The script prints the
learned line and the accuracy on the 2,000 training points and on 2,000 fresh
ones.

Run it with::

    python examples/perceptron.py
"""

import numpy as np

from fastnn import MLPClassifier

SLOPE, OFFSET = 1.23, 3.23


def points(n, rng):
    """n points uniform in [-10, 10]^2, labelled 1 above the line, 0 below."""
    X = rng.uniform(-10.0, 10.0, size=(n, 2))
    y = (X[:, 1] > SLOPE * X[:, 0] + OFFSET).astype(int)
    return X, y


rng = np.random.RandomState(0)
X, y = points(2000, rng)
X_new, y_new = points(2000, rng)

neuron = MLPClassifier(
    hidden_layer_sizes=(),      # no hidden layer: two inputs -> one sigmoid output
    solver="sgd",
    batch_size=1,               # update after every sample
    learning_rate_init=0.01,
    momentum=0.0,               # plain gradient steps
    alpha=0.0,                  # no L2 penalty
    max_iter=200,
    tol=1e-4,                   # stop once 10 epochs in a row improve the loss by < 1e-4
    random_state=0,
)
neuron.fit(X, y)

# coefs_[0] has shape (n_inputs, n_outputs) = (2, 1); intercepts_[0] has shape (1,).
w = neuron.coefs_[0][:, 0]
b = neuron.intercepts_[0][0]
slope, offset = -w[0] / w[1], -b / w[1]  # w1 x + w2 y + b = 0, solved for y
train_accuracy = neuron.score(X, y)
new_accuracy = neuron.score(X_new, y_new)
print(f"weights w = [{w[0]:.3f}, {w[1]:.3f}], bias b = {b:.3f}")
print(f"learned boundary: y = {slope:.3f} x + {offset:.3f}   (true: y = {SLOPE} x + {OFFSET})")
print(f"epochs: {neuron.n_iter_}, final log-loss: {neuron.loss_:.4f}")
print(f"accuracy on the 2,000 training points: {train_accuracy:.4f}")
print(f"accuracy on 2,000 new points:          {new_accuracy:.4f}")

# The rule by hand gives the same predictions as the estimator.
by_hand = (X @ w + b > 0).astype(int)
assert np.array_equal(by_hand, neuron.predict(X))
print("sign(w . x + b) reproduces predict(): yes")
