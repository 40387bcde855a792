"""Compiled loss and gradient against finite differences and the NumPy reference."""

import numpy as np
import pytest
import scipy.sparse as sp
from naive import numeric_gradient, objective

from fastnn._activations import HIDDEN_ACTIVATIONS
from fastnn._engine import Data, LossGradient, Network
from fastnn._losses import LOSSES, OUTPUT_ACTIVATION

N_SAMPLES, N_FEATURES, HIDDEN, N_OUT = 23, 5, (4, 3), 3


def _problem(loss, hidden_activation, seed=0, n=N_SAMPLES, hidden=HIDDEN, n_out=N_OUT,
             dtype=np.float64, **network_options):
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n, N_FEATURES))
    if loss == "log_loss":
        Y = np.eye(n_out)[rng.randint(n_out, size=n)]
    elif loss == "binary_log_loss":
        Y = (rng.uniform(size=(n, n_out)) < 0.5).astype(float)
    elif loss == "poisson":
        Y = rng.poisson(2.0, size=(n, n_out)).astype(float)
    else:
        Y = rng.normal(size=(n, n_out))
    net = Network([N_FEATURES, *hidden, n_out], hidden_activation, OUTPUT_ACTIVATION[loss],
                  dtype, **network_options)
    net.theta[:] = rng.uniform(-0.5, 0.5, net.n_params)
    return net, X, Y


@pytest.mark.parametrize("loss", sorted(LOSSES))
@pytest.mark.parametrize("activation", HIDDEN_ACTIVATIONS)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("alpha", [0.0, 0.3])
def test_gradient_matches_finite_differences(loss, activation, weighted, alpha):
    net, X, Y = _problem(loss, activation)
    sw = np.random.RandomState(1).uniform(0.1, 3.0, len(X)) if weighted else None
    fun = LossGradient(net, Data(X, Y, sw, np.float64), LOSSES[loss], alpha, n_jobs=1)
    theta0 = net.theta.copy()
    value, grad = fun(theta0)
    numeric = numeric_gradient(lambda t: fun(t)[0], theta0)
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-7)

    net.theta[:] = theta0
    expected = objective(X, Y, sw, net.coefs, net.intercepts, activation, loss, alpha)
    np.testing.assert_allclose(value, expected, rtol=1e-12)


@pytest.mark.parametrize("loss", sorted(set(LOSSES) - {"log_loss"}))
@pytest.mark.parametrize("activation, rate", [("relu", 0.0), ("relu", 0.3), ("gelu", 0.0),
                                              ("tanh", 0.0), ("tanh", 0.3)])
@pytest.mark.parametrize("n_samples", [23, 600])
def test_single_output_gradient_matches_finite_differences(loss, activation, rate, n_samples):
    """A single output over a ReLU layer, or over a layer whose derivative is
    stored (GELU's, dropout's), takes a backward step of its own
    (``_back_through_one_output``), over tanh the general one; 600 rows make
    several lanes, of several blocks."""
    net, X, Y = _problem(loss, activation, n=n_samples, n_out=1, dropout=rate)
    sw = np.random.RandomState(1).uniform(0.1, 3.0, len(X))
    fun = LossGradient(net, Data(X, Y, sw, np.float64), LOSSES[loss], 0.1, n_jobs=2)
    value, grad = fun()
    numeric = numeric_gradient(lambda t: fun(t)[0], net.theta.copy())
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("n_samples", [1, 7, 600])
def test_gradient_same_for_any_row_split(n_samples):
    """Several lanes and several blocks per lane sum to the one-block gradient."""
    net, X, Y = _problem("log_loss", "tanh", n=n_samples)
    fun = LossGradient(net, Data(X, Y, None, np.float64), LOSSES["log_loss"], 0.1, n_jobs=2)
    value, grad = fun()
    numeric = numeric_gradient(lambda t: fun(t)[0], net.theta.copy())
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("fmt", ["csr", "csc"])
def test_sparse_input_matches_dense(fmt):
    net, X, Y = _problem("squared_error", "relu", n=300)
    X[np.abs(X) < 1.0] = 0.0
    dense = LossGradient(net, Data(X, Y, None, np.float64), 0, 0.01, n_jobs=1)()
    sparse = LossGradient(net, Data(sp.csr_matrix(X).asformat(fmt), Y, None, np.float64),
                          0, 0.01, n_jobs=1)()
    np.testing.assert_allclose(sparse[0], dense[0], rtol=1e-12)
    np.testing.assert_allclose(sparse[1], dense[1], rtol=1e-10, atol=1e-12)


def test_no_hidden_layer():
    net, X, Y = _problem("binary_log_loss", "relu", hidden=())
    fun = LossGradient(net, Data(X, Y, None, np.float64), LOSSES["binary_log_loss"], 0.2, 1)
    value, grad = fun()
    np.testing.assert_allclose(grad, numeric_gradient(lambda t: fun(t)[0], net.theta.copy()),
                               rtol=1e-5, atol=1e-7)


def test_float32_gradient_close_to_float64():
    net64, X, Y = _problem("log_loss", "logistic")
    net32 = Network(net64.sizes, "logistic", "softmax", np.float32)
    net32.theta[:] = net64.theta
    g64 = LossGradient(net64, Data(X, Y, None, np.float64), LOSSES["log_loss"], 0.1, 1)()
    g32 = LossGradient(net32, Data(X, Y, None, np.float32), LOSSES["log_loss"], 0.1, 1)()
    np.testing.assert_allclose(g32[0], g64[0], rtol=1e-5)
    np.testing.assert_allclose(g32[1], g64[1], rtol=1e-3, atol=1e-5)


@pytest.mark.parametrize("loss", ["log_loss", "binary_log_loss"])
def test_loss_finite_at_extreme_logits(loss):
    net, X, Y = _problem(loss, "identity")
    net.theta[:] *= 1e4  # logits of order 1e5
    value, grad = LossGradient(net, Data(X, Y, None, np.float64), LOSSES[loss], 0.0, 1)()
    assert np.isfinite(value) and value > 0
    assert np.all(np.isfinite(grad))
