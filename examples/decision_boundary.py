"""
Decision boundary on two moons
==============================

A one-hidden-layer network learns a curved decision boundary (two moons).

``make_moons`` draws two interleaving half circles: no straight line separates
them, but one hidden layer of a few tanh units can bend the boundary around
them.  The script prints the accuracy and draws the boundary: a PNG
(``decision_boundary.png`` in the current directory, or the path given as the
first argument) when matplotlib is installed, otherwise an ASCII picture.

Run it with::

    python examples/decision_boundary.py [out.png]
"""

import sys

import numpy as np
from sklearn.datasets import make_moons
from sklearn.model_selection import train_test_split

from fastnn import MLPClassifier

X, y = make_moons(n_samples=400, noise=0.2, random_state=0)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0)

clf = MLPClassifier(
    hidden_layer_sizes=(16,),   # 2 inputs -> 16 tanh units -> 1 logistic output
    activation="tanh",
    solver="lbfgs",             # a few hundred points: full-batch L-BFGS converges fast
    alpha=0.1,                  # L2 penalty: a smoother boundary that ignores the noise
    max_iter=500,
    random_state=0,
)
clf.fit(X_train, y_train)
print(f"train accuracy: {clf.score(X_train, y_train):.3f}")
print(f"test accuracy:  {clf.score(X_test, y_test):.3f}")

# Evaluate P(y=1) on a grid covering the data: the boundary is where it is 0.5.
x_min, x_max = X[:, 0].min() - 0.5, X[:, 0].max() + 0.5
y_min, y_max = X[:, 1].min() - 0.5, X[:, 1].max() + 0.5

try:
    import matplotlib

    matplotlib.use("Agg")  # draw to a file; no display needed
    import matplotlib.pyplot as plt
except ImportError:
    plt = None

if plt is not None:
    xx, yy = np.meshgrid(np.linspace(x_min, x_max, 300), np.linspace(y_min, y_max, 300))
    proba = clf.predict_proba(np.c_[xx.ravel(), yy.ravel()])[:, 1].reshape(xx.shape)
    fig, ax = plt.subplots(figsize=(6, 4.5))
    ax.contourf(xx, yy, proba, levels=20, cmap="RdBu_r", alpha=0.6)
    ax.contour(xx, yy, proba, levels=[0.5], colors="k")
    ax.scatter(X_train[:, 0], X_train[:, 1], c=y_train, cmap="RdBu_r", edgecolors="k", s=20)
    ax.set_title(f"fastnn MLP, 16 tanh units: test accuracy {clf.score(X_test, y_test):.2f}")
    out = sys.argv[1] if len(sys.argv) > 1 else "decision_boundary.png"
    fig.savefig(out, dpi=120, bbox_inches="tight")
    print(f"decision boundary written to {out}")
else:
    # ASCII picture: the background shows the predicted class ('.' for 0,
    # ':' for 1), training points are drawn on top ('o' class 0, 'x' class 1).
    cols, rows = 72, 24
    gx = np.linspace(x_min, x_max, cols)
    gy = np.linspace(y_max, y_min, rows)  # top row first
    grid = np.array([[x, y] for y in gy for x in gx])
    canvas = np.where(clf.predict(grid).reshape(rows, cols) == 1, ":", ".").astype("<U1")
    c = np.clip(((X_train[:, 0] - x_min) / (x_max - x_min) * (cols - 1)).round().astype(int),
                0, cols - 1)
    r = np.clip(((y_max - X_train[:, 1]) / (y_max - y_min) * (rows - 1)).round().astype(int),
                0, rows - 1)
    canvas[r, c] = np.where(y_train == 1, "x", "o")
    print("\nmatplotlib not installed; ASCII decision boundary"
          " ('.' predicted 0, ':' predicted 1, 'o'/'x' training points of class 0/1):")
    print("\n".join("".join(line) for line in canvas))
