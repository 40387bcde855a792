"""The front layer of tabular networks (column scaling, periodic embeddings):
its forward pass against NumPy, its gradient against finite differences."""

import numpy as np
import pytest
from jitted import jit
from naive import numeric_gradient

from fastnn._elementary import cos_sin_turns
from fastnn._embeddings import SCALE_GAIN
from fastnn._engine import Data, LossGradient, forward
from fastnn._init import init_front
from fastnn._losses import LOSSES, OUTPUT_ACTIVATION
from fastnn._network import Front, Network

N_INPUTS, N_PERIODIC, N_OUT = 5, 3, 2


@jit
def _cos_sin(t, c, s):
    dt = t.dtype.type
    for i in range(t.shape[0]):
        c[i], s[i] = cos_sin_turns(t[i], dt)


@pytest.mark.parametrize("dtype, tol", [(np.float32, 3e-7), (np.float64, 2e-14)])
def test_cos_sin_turns_against_numpy(dtype, tol):
    t = np.concatenate([np.linspace(-8, 8, 20001), [-0.75, -0.5, -0.25, 0, 0.25, 0.5]])
    t = t.astype(dtype)
    c, s = np.empty_like(t), np.empty_like(t)
    _cos_sin(t, c, s)
    assert c.dtype == dtype
    angle = 2 * np.pi * t.astype(np.float64)
    np.testing.assert_allclose(c, np.cos(angle), rtol=0, atol=tol)
    np.testing.assert_allclose(s, np.sin(angle), rtol=0, atol=tol)


def _network(loss, scale, rng, n_frequencies=4, width=3, hidden=(4,)):
    front = Front(N_INPUTS, N_PERIODIC, n_frequencies, width, scale)
    net = Network([front.n_outputs, *hidden, N_OUT], "tanh", OUTPUT_ACTIVATION[loss],
                  np.float64, front=front)
    net.theta[:] = rng.uniform(-0.5, 0.5, net.n_params)
    return net


def _front_reference(net, X):
    """The front layer's output, written out in NumPy."""
    f = net.front
    p = net.front_params
    s = p[:f.n_inputs] * SCALE_GAIN if f.scale else np.ones(f.n_inputs)
    p = p[f.n_inputs * f.scale:]
    m, k, e = f.n_periodic, f.n_frequencies, f.width
    w, c = p[:m * k].reshape(m, k), p[m * k:2 * m * k].reshape(m, k)
    V = p[2 * m * k:2 * m * k + m * k * e].reshape(m, k, e)
    u = p[2 * m * k + m * k * e:].reshape(m, e)
    periodic = np.cos(2 * np.pi * (X[:, :m, None] * w + c))  # rows x m x k
    embedded = np.maximum(np.einsum("rfk,fke->rfe", periodic, V) + u, 0.0)
    return np.hstack([X * s, embedded.reshape(len(X), -1)])


@pytest.mark.parametrize("scale", [False, True])
@pytest.mark.parametrize("n_rows", [1, 3, 37])  # a row at a time below 4 rows
def test_forward_matches_numpy(scale, n_rows):
    rng = np.random.RandomState(0)
    net = _network("squared_error", scale, rng)
    X = rng.normal(size=(n_rows, N_INPUTS))
    A = _front_reference(net, X)
    for W, b in zip(net.coefs[:-1], net.intercepts[:-1]):
        A = np.tanh(A @ W + b)
    expected = A @ net.coefs[-1] + net.intercepts[-1]
    out = forward(net, Data(X, None, None, np.float64), n_jobs=1)
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("loss", ["log_loss", "squared_error", "binary_log_loss"])
@pytest.mark.parametrize("scale", [False, True])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("n_rows", [23, 300])  # 300: a lane walks two blocks
def test_gradient_matches_finite_differences(loss, scale, weighted, n_rows):
    rng = np.random.RandomState(1)
    net = _network(loss, scale, rng)
    X = rng.normal(size=(n_rows, N_INPUTS))
    if loss == "log_loss":
        Y = np.eye(N_OUT)[rng.randint(N_OUT, size=n_rows)]
    elif loss == "binary_log_loss":
        Y = (rng.uniform(size=(n_rows, N_OUT)) < 0.5).astype(float)
    else:
        Y = rng.normal(size=(n_rows, N_OUT))
    sw = rng.uniform(0.1, 3.0, n_rows) if weighted else None
    fun = LossGradient(net, Data(X, Y, sw, np.float64), LOSSES[loss], 0.1, n_jobs=1)
    theta0 = net.theta.copy()
    grad = fun(theta0)[1]
    numeric = numeric_gradient(lambda t: fun(t)[0], theta0)
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-8)
    assert np.abs(grad[net.n_dense_params:]).max() > 1e-3  # the front's part is there


def test_initial_front_is_the_identity_on_the_inputs():
    front = Front(N_INPUTS, N_PERIODIC, 16, 8, True)
    net = Network([front.n_outputs, 3, 1], "relu", "identity", np.float64, front=front)
    net.front_params[:] = init_front(front, np.random.RandomState(0), np.float64)
    X = np.random.RandomState(1).normal(size=(10, N_INPUTS))
    A = _front_reference(net, X)
    np.testing.assert_allclose(A[:, :N_INPUTS], X, rtol=1e-15)
    assert A[:, N_INPUTS:].shape[1] == N_PERIODIC * 8 and np.all(A[:, N_INPUTS:] >= 0)


def test_front_must_match_the_first_layer():
    with pytest.raises(ValueError, match="front layer has 29 outputs"):
        Network([10, 3, 1], "relu", "identity", np.float64, front=Front(5, 3, 16, 8))
