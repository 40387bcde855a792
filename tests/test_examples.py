"""The scripts in ``examples/`` run and reach the results they teach.

Each example is run in this process with ``runpy.run_path`` (as
``python examples/NAME.py`` would run it, but without paying for a fresh
interpreter and fastnn's import each time), and the test checks the
variables the script leaves behind.  Examples taking more than a few seconds
are marked ``slow``.  The Fashion-MNIST examples need the data set, which is
not bundled: their tests are skipped unless ``$FASHION_MNIST_DIR`` or the
Debian package's folder holds it (see ``examples/fashion_mnist_data.py``).
"""

import gzip
import runpy
import sys
from pathlib import Path

import numpy as np
import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def run_example(name, monkeypatch, *args):
    """Run ``examples/<name>.py`` as a script; return its globals.

    The script sees ``args`` as its command-line arguments and, as a script
    run by Python would, its own folder on ``sys.path`` (for the
    Fashion-MNIST loader).
    """
    path = EXAMPLES / f"{name}.py"
    monkeypatch.setattr(sys, "argv", [str(path), *map(str, args)])
    monkeypatch.syspath_prepend(str(EXAMPLES))
    return runpy.run_path(str(path), run_name="__main__")


def fashion_mnist_loader(monkeypatch):
    """The helper module ``examples/fashion_mnist_data.py``."""
    monkeypatch.syspath_prepend(str(EXAMPLES))
    import fashion_mnist_data

    return fashion_mnist_data


def require_fashion_mnist(monkeypatch):
    folder = fashion_mnist_loader(monkeypatch).find_fashion_mnist()
    if folder is None:
        pytest.skip("Fashion-MNIST not available: set FASHION_MNIST_DIR to the folder of its "
                    "four *-ubyte(.gz) files or install Debian's dataset-fashion-mnist")
    return folder


TESTED = {"two_hidden_layers", "xor", "perceptron", "decision_boundary", "digits",
          "fashion_mnist", "fashion_mnist_90", "fashion_mnist_data"}


def test_every_example_is_covered():
    # fashion_mnist_90 (the 90% recipe, minutes of training) is only compiled
    # below, fashion_mnist_data is tested through its functions; the others
    # are run by a test of their own.
    assert {p.stem for p in EXAMPLES.glob("*.py")} == TESTED


@pytest.mark.parametrize("name", sorted(TESTED))
def test_example_compiles(name):
    path = EXAMPLES / f"{name}.py"
    compile(path.read_text(), str(path), "exec")


def test_two_hidden_layers(monkeypatch):
    g = run_example("two_hidden_layers", monkeypatch)
    assert g["net"].n_iter_ == 10_001  # the stopping rule never fired
    assert [c.shape for c in g["net"].coefs_] == [(4, 5), (5, 5), (5, 1)]
    np.testing.assert_allclose(g["output"], [1, 1, 0], atol=0.05)


def test_xor_needs_a_hidden_layer(monkeypatch):
    g = run_example("xor", monkeypatch)
    outputs = g["outputs"]
    # 3-1 learns target A (= x1)...
    np.testing.assert_allclose(outputs["3-1 on A"], [0, 0, 1, 1], atol=0.05)
    # ...but not XOR: no plane separates its classes, so its outputs stay
    # near 0.5 (at least one row is off by far more than 0.05)...
    assert np.max(np.abs(outputs["3-1 on B (XOR)"] - [0, 1, 1, 0])) > 0.4
    # ...while a hidden layer of four units learns XOR.
    np.testing.assert_allclose(outputs["3-4-1 on B (XOR)"], [0, 1, 1, 0], atol=0.05)


def test_perceptron_finds_the_line(monkeypatch):
    g = run_example("perceptron", monkeypatch)
    assert len(g["X"]) == 2000
    assert g["train_accuracy"] >= 0.99
    assert g["new_accuracy"] >= 0.99
    # The learned boundary is close to y = 1.23 x + 3.23.
    assert g["slope"] == pytest.approx(1.23, abs=0.1)
    assert g["offset"] == pytest.approx(3.23, abs=0.3)


def test_decision_boundary(monkeypatch, tmp_path, capsys):
    out = tmp_path / "boundary.png"
    g = run_example("decision_boundary", monkeypatch, out)
    assert g["clf"].score(g["X_test"], g["y_test"]) >= 0.9
    if g["plt"] is not None:
        assert out.stat().st_size > 0
    else:
        # Without matplotlib the boundary is drawn in ASCII: both classes appear.
        printed = capsys.readouterr().out
        assert "ASCII decision boundary" in printed
        assert "." in printed and ":" in printed


def test_digits(monkeypatch):
    g = run_example("digits", monkeypatch)
    assert np.mean(g["pred"] == g["y_test"]) >= 0.95
    assert g["cm"].shape == (10, 10)


def write_idx(path, array):
    """An IDX file of unsigned bytes, gzipped when the name ends in .gz."""
    header = bytes([0, 0, 0x08, array.ndim]) + np.array(array.shape, ">u4").tobytes()
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def test_fashion_mnist_loader(monkeypatch, tmp_path):
    data = fashion_mnist_loader(monkeypatch)
    rng = np.random.RandomState(0)
    images = {"train": rng.randint(0, 256, (6, 28, 28)), "t10k": rng.randint(0, 256, (3, 28, 28))}
    labels = {"train": rng.randint(0, 10, 6), "t10k": rng.randint(0, 10, 3)}
    # Training files gzipped as distributed, test files unpacked: both are read.
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", images["train"])
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", labels["train"])
    write_idx(tmp_path / "t10k-images-idx3-ubyte", images["t10k"])
    assert data.find_fashion_mnist(tmp_path) != tmp_path  # one file still missing
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", labels["t10k"])
    assert data.find_fashion_mnist(tmp_path) == tmp_path

    X_train, y_train, X_test, y_test = data.load_fashion_mnist(tmp_path)
    np.testing.assert_array_equal(X_train, images["train"].reshape(6, 784))
    np.testing.assert_array_equal(y_train, labels["train"])
    np.testing.assert_array_equal(X_test, images["t10k"].reshape(3, 784))
    np.testing.assert_array_equal(y_test, labels["t10k"])

    # The environment variable is the next place looked in.
    monkeypatch.setenv("FASHION_MNIST_DIR", str(tmp_path))
    assert data.find_fashion_mnist() == tmp_path

    (tmp_path / "bad").write_bytes(b"\x00\x00\x0d\x01\x00\x00\x00\x01abcd")  # float32 type code
    with pytest.raises(ValueError, match="not an IDX file of unsigned bytes"):
        data.read_idx(tmp_path / "bad")


def test_fashion_mnist_missing_data_message(monkeypatch, tmp_path):
    data = fashion_mnist_loader(monkeypatch)
    monkeypatch.delenv("FASHION_MNIST_DIR", raising=False)
    if data.find_fashion_mnist(tmp_path) is not None:
        pytest.skip("Fashion-MNIST is installed in the Debian package's folder")
    with pytest.raises(SystemExit, match="Fashion-MNIST not found"):
        run_example("fashion_mnist", monkeypatch, tmp_path)


@pytest.mark.slow
def test_fashion_mnist_hidden_layer_beats_single_layer(monkeypatch, capsys):
    folder = require_fashion_mnist(monkeypatch)
    g = run_example("fashion_mnist", monkeypatch, folder)
    single = g["accuracy"]["784 -> 10"]
    hidden = g["accuracy"]["784 -> 100 ReLU -> 10"]
    assert single >= 0.82
    assert hidden >= 0.86
    assert hidden >= single + 0.02
    assert g["cm"].shape == (10, 10) and g["cm"].sum() == 10_000
    printed = capsys.readouterr().out
    assert "confusion matrix" in printed and "Ankle boot" in printed
