"""The single-layer perceptron: a network with no hidden layer.

With ``hidden_layer_sizes=()`` the network maps the inputs straight to one
logistic output unit, ``p(y=1 | x) = sigmoid(w . x + b)``, and predicts class 1
when ``w . x + b > 0``: the decision boundary is the straight line
``w . x + b = 0``.  Such a model can only separate classes that a straight line
separates, which is the case for the two point clouds below.

Training uses plain stochastic gradient descent with one sample per step
(``batch_size=1``), in the spirit of Rosenblatt's perceptron rule, though on
the smooth log-loss rather than on the 0/1 error.

    python examples/perceptron.py
"""

import numpy as np

from fastnn import MLPClassifier

# Two Gaussian clouds in the plane, centred at (-2, -1) and (2, 1): linearly
# separable with a wide margin.
rng = np.random.RandomState(0)
n = 100
X = np.vstack([rng.normal((-2.0, -1.0), 0.7, size=(n, 2)),
               rng.normal((2.0, 1.0), 0.7, size=(n, 2))])
y = np.repeat([0, 1], n)

perceptron = MLPClassifier(
    hidden_layer_sizes=(),      # no hidden layer: inputs -> one output unit
    solver="sgd",
    batch_size=1,               # update after every sample
    learning_rate_init=0.05,
    momentum=0.0,               # plain gradient steps
    max_iter=200,
    tol=1e-3,                   # stop once an epoch improves the loss by < 0.001
    random_state=0,
)
perceptron.fit(X, y)

# coefs_[0] has shape (n_inputs, n_outputs) = (2, 1); intercepts_[0] has shape (1,).
w = perceptron.coefs_[0][:, 0]
b = perceptron.intercepts_[0][0]
print(f"layers (inputs, output): {[c.shape for c in perceptron.coefs_]}")
print(f"weights w = [{w[0]:.3f}, {w[1]:.3f}], bias b = {b:.3f}")
# The boundary w . x + b = 0, solved for x2, is the line x2 = slope * x1 + offset.
print(f"decision boundary: x2 = {-w[0] / w[1]:.3f} * x1 + {-b / w[1]:.3f}")
print(f"epochs: {perceptron.n_iter_}, final log-loss: {perceptron.loss_:.4f}")
print(f"training accuracy: {perceptron.score(X, y):.3f}")

# The rule by hand gives the same predictions as the estimator.
by_hand = (X @ w + b > 0).astype(int)
assert np.array_equal(by_hand, perceptron.predict(X))
print("sign(w . x + b) reproduces predict(): yes")
