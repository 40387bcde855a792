"""XOR: the classic function a single-layer perceptron cannot learn.

XOR's two classes, {(0,0), (1,1)} and {(0,1), (1,0)}, sit on opposite corners
of the unit square, so no straight line separates them (Minsky and Papert,
1969).  One hidden layer of logistic ("sigmoid") units fixes that: the hidden
units bend the input space so the output unit can draw a line in it.

The four points are the whole data set, so we train with L-BFGS on the full
batch, and check the network on the truth table.

    python examples/xor.py
"""

import numpy as np

from fastnn import MLPClassifier

X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
y = np.array([0, 1, 1, 0])

net = MLPClassifier(
    hidden_layer_sizes=(4,),    # 2 inputs -> 4 logistic hidden units -> 1 output
    activation="logistic",
    solver="lbfgs",             # full-batch quasi-Newton: ideal for 4 samples
    alpha=1e-5,                 # a light L2 penalty keeps the weights finite
    max_iter=1000,
    random_state=1,
)
net.fit(X, y)

proba = net.predict_proba(X)[:, 1]
prediction = net.predict(X)
print(" x1  x2 | XOR | P(y=1)  predicted")
print("--------+-----+------------------")
for (x1, x2), target, p, pred in zip(X.astype(int), y, proba, prediction):
    mark = "ok" if pred == target else "WRONG"
    print(f"  {x1}   {x2} |  {target}  | {p:6.3f}     {pred}  {mark}")
print(f"\nL-BFGS iterations: {net.n_iter_}, final loss: {net.loss_:.5f}")

# What the hidden layer learned: each column is one hidden unit's weights.
print("hidden weights (rows: x1, x2):")
print(np.array2string(net.coefs_[0], precision=2, suppress_small=True))
