"""Find and read Fashion-MNIST, for ``fashion_mnist.py`` and ``fashion_mnist_90.py``.

Fashion-MNIST (Zalando, 2017) is a drop-in replacement for MNIST: 70,000
grey-scale 28x28 images (60,000 for training, 10,000 for testing) of ten kinds
of clothing, stored in the same IDX files as MNIST.  It is not downloaded
here; get it once, for instance from Debian's package (installed, or unpacked
without root)::

    apt-get install dataset-fashion-mnist       # -> /usr/share/datasets/fashion-mnist
    # or
    apt-get download dataset-fashion-mnist
    dpkg-deb -x dataset-fashion-mnist_*.deb ~/fmnist
    export FASHION_MNIST_DIR=~/fmnist/usr/share/datasets/fashion-mnist

or the four ``*-ubyte.gz`` files from https://github.com/zalandoresearch/fashion-mnist.
The examples look, in this order, in the folder given as their first argument,
in ``$FASHION_MNIST_DIR`` and in ``/usr/share/datasets/fashion-mnist``.  The
files may be gzipped (as distributed) or not.

This module is a helper, not an example: it has nothing to run.
"""

import gzip
import os
from pathlib import Path

import numpy as np

DEBIAN_DIR = "/usr/share/datasets/fashion-mnist"  # where dataset-fashion-mnist installs it
FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
           "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


def _file(folder, stem):
    """The path of ``stem`` or ``stem.gz`` in ``folder``, or None."""
    for name in (stem + ".gz", stem):
        path = Path(folder) / name
        if path.is_file():
            return path
    return None


def find_fashion_mnist(folder=None):
    """The first candidate folder holding all four files, or None.

    Candidates: ``folder`` (when given), ``$FASHION_MNIST_DIR``, then the
    Debian package's folder.
    """
    candidates = [folder, os.environ.get("FASHION_MNIST_DIR"), DEBIAN_DIR]
    for candidate in candidates:
        if candidate and all(_file(Path(candidate).expanduser(), stem)
                             for stem in FILES.values()):
            return Path(candidate).expanduser()
    return None


def read_idx(path):
    """Read an IDX file (the MNIST format) into a NumPy array.

    The header is two zero bytes, a type code (0x08: unsigned bytes, the only
    one these files use), the number of dimensions, then each dimension as a
    big-endian 32-bit integer; the data follows in C order.
    """
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as f:
        raw = f.read()
    zero, dtype_code, ndim = raw[0:2], raw[2], raw[3]
    if zero != b"\x00\x00" or dtype_code != 0x08:
        raise ValueError(f"{path}: not an IDX file of unsigned bytes")
    shape = tuple(np.frombuffer(raw, dtype=">u4", count=ndim, offset=4).astype(int))
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != np.prod(shape):
        raise ValueError(f"{path}: {data.size} bytes of data for shape {shape}")
    return data.reshape(shape)


def load_fashion_mnist(folder=None):
    """(X_train, y_train, X_test, y_test): images flattened to 784 uint8 pixels.

    Raises SystemExit with instructions when the files are not found, so a
    script that calls it stops with a readable message.
    """
    found = find_fashion_mnist(folder)
    if found is None:
        raise SystemExit(
            "Fashion-MNIST not found: pass its folder as the first argument or set "
            f"FASHION_MNIST_DIR, or install the Debian package dataset-fashion-mnist "
            f"({DEBIAN_DIR}); see the docstring of examples/fashion_mnist_data.py."
        )
    arrays = {key: read_idx(_file(found, stem)) for key, stem in FILES.items()}
    return (arrays["train_images"].reshape(-1, 28 * 28), arrays["train_labels"],
            arrays["test_images"].reshape(-1, 28 * 28), arrays["test_labels"])
