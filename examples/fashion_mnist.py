"""
Fashion-MNIST: no hidden layer versus one
=========================================

MNIST-style image classification on Fashion-MNIST: no hidden layer versus one.

The two classic from-scratch MNIST networks, run on Fashion-MNIST (60,000
training and 10,000 test images of clothing, 28x28 grey-scale pixels, ten
classes; a harder drop-in for the handwritten digits):

* 784 -> 10: every pixel wired straight to ten output units
  (``hidden_layer_sizes=()``), trained by plain mini-batch gradient descent.
  With ten classes scikit-learn's output layer is a softmax rather than the
  classic's ten independent sigmoids, so this is multinomial logistic
  regression: one linear template per class.
* 784 -> 100 ReLU -> 10, trained with Adam and dropout: the hidden layer
  learns features shared by the classes (edges, sleeves, soles...); dropping
  a random 20% of its units at every step keeps it from relying on a few.

Pixels are scaled to [0, 1].  The script prints both test accuracies and the
confusion matrix of the hidden-layer network.  They train in about 0.5 and
2.5 s on an idle two-core machine.  ``fashion_mnist_90.py`` goes further, to
90%.

It needs the data files; ``fashion_mnist_data.py`` says where to get them.
They are looked for in the folder given as the first argument, in
``$FASHION_MNIST_DIR``, then in ``/usr/share/datasets/fashion-mnist`` (Debian's
``dataset-fashion-mnist``)::

    python examples/fashion_mnist.py [FOLDER]
"""

import sys
import time
import warnings

import numpy as np
from fashion_mnist_data import CLASSES, load_fashion_mnist  # next to this script
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import confusion_matrix

from fastnn import MLPClassifier

X_train, y_train, X_test, y_test = load_fashion_mnist(sys.argv[1] if len(sys.argv) > 1 else None)
X_train = X_train.astype(np.float32) / 255  # pixels 0-255 -> [0, 1]
X_test = X_test.astype(np.float32) / 255

networks = {
    "784 -> 10": MLPClassifier(
        hidden_layer_sizes=(),      # no hidden layer
        solver="sgd",
        learning_rate_init=0.1,
        momentum=0.0,               # plain gradient descent on mini-batches
        batch_size=100,
        alpha=0.0,
        max_iter=10,                # epochs
        random_state=0,
    ),
    "784 -> 100 ReLU -> 10": MLPClassifier(
        hidden_layer_sizes=(100,),
        activation="relu",
        dropout=0.2,                # of the hidden units, at every training step
        solver="adam",
        learning_rate_init=1e-3,
        batch_size=128,
        alpha=1e-4,                 # light L2 penalty
        max_iter=20,
        random_state=0,
    ),
}

accuracy = {}
for name, clf in networks.items():
    start = time.perf_counter()
    with warnings.catch_warnings():
        # A fixed number of epochs: stopping at max_iter is the plan, not a failure.
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X_train, y_train)
    seconds = time.perf_counter() - start
    accuracy[name] = clf.score(X_test, y_test)
    print(f"{name:>22}: test accuracy {accuracy[name]:.4f}"
          f"  ({clf.n_iter_} epochs, {seconds:.1f} s)")

# Confusion matrix of the hidden-layer network: row = true class, column =
# predicted class; the diagonal counts the correct answers.  Shirts, T-shirts,
# pullovers and coats are the classes it mixes up most.
clf = networks["784 -> 100 ReLU -> 10"]
cm = confusion_matrix(y_test, clf.predict(X_test), labels=clf.classes_)
short = ["T-shirt", "Trouser", "Pullover", "Dress", "Coat",
         "Sandal", "Shirt", "Sneaker", "Bag", "Boot"]  # column headings
print("\nconfusion matrix of 784 -> 100 ReLU -> 10 (rows: true, columns: predicted)")
print(" " * 12 + "".join(f"{s:>9}" for s in short))
for name, row in zip(CLASSES, cm):
    print(f"{name:>12}" + "".join(f"{n:>9}" for n in row))
