"""
Handwritten digits (8x8)
========================

Handwritten digit recognition, MNIST-style, on scikit-learn's 8x8 digits.

``load_digits`` holds 1,797 grey-scale images of 8x8 pixels (values 0-16),
a small cousin of MNIST that ships with scikit-learn.  Each image is
flattened to 64 inputs; one hidden layer of 64 ReLU units feeds a 10-way
softmax output, trained with Adam on mini-batches and stopped early on a
validation split.  The script prints the test accuracy, the confusion matrix
and a few of the digits it got wrong.

Run it with::

    python examples/digits.py
"""

import numpy as np
from sklearn.datasets import load_digits
from sklearn.metrics import confusion_matrix
from sklearn.model_selection import train_test_split

from fastnn import MLPClassifier

digits = load_digits()
X = digits.data / 16.0  # pixels scaled to [0, 1]
y = digits.target
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.25, stratify=y, random_state=0,
)

clf = MLPClassifier(
    hidden_layer_sizes=(64,),   # 64 pixels -> 64 ReLU units -> 10 softmax outputs
    solver="adam",
    learning_rate_init=1e-2,
    early_stopping=True,        # hold out 10% of the training set and stop when
    validation_fraction=0.1,    # its accuracy has not improved for 10 epochs;
    max_iter=300,               # the best weights seen are kept
    random_state=0,
)
clf.fit(X_train, y_train)
pred = clf.predict(X_test)
print(f"epochs: {clf.n_iter_}, best validation accuracy: {clf.best_validation_score_:.4f}")
print(f"test accuracy: {np.mean(pred == y_test):.4f}\n")

# Confusion matrix: row = true digit, column = predicted digit; the diagonal
# counts the correct answers.
cm = confusion_matrix(y_test, pred, labels=clf.classes_)
print("true \\ predicted " + "".join(f"{d:>4}" for d in clf.classes_))
for digit, row in zip(clf.classes_, cm):
    print(f"{digit:>16} " + "".join(f"{n:>4}" for n in row))

# Show up to three mistakes as ASCII art (darker pixels -> denser characters).
shades = " .:-=+*#%@"
wrong = np.flatnonzero(pred != y_test)[:3]
for i in wrong:
    print(f"\ntrue {y_test[i]}, predicted {pred[i]}:")
    for line in X_test[i].reshape(8, 8):
        print("  " + "".join(2 * shades[int(v * (len(shades) - 1))] for v in line))
