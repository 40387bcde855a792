"""The front layer of tabular networks (column scaling, periodic embeddings)
and the copies behind it (``_ensemble``): the forward pass against NumPy,
the gradient against finite differences."""

import numpy as np
import pytest
from jitted import jit
from naive import numeric_gradient

from fastnn._elementary import cos_sin_turns
from fastnn._embeddings import SCALE_GAIN
from fastnn._engine import Data, LossGradient, forward, forward_few
from fastnn._init import init_front
from fastnn._activations import REGISTRY as ACTIVATIONS
from fastnn._losses import LOSSES, OUTPUT_ACTIVATION
from fastnn._network import Front, Network
from fastnn._packed import has_bf16

N_INPUTS, N_PERIODIC, N_OUT = 5, 3, 2
OUTPUT_CODES = {name: ACTIVATIONS[name].code for name in ("softmax", "logistic")}


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


def _network(loss, scale, rng, n_frequencies=4, width=3, hidden=(4,), codes=(),
             dtype=np.float64):
    front = Front(N_INPUTS + len(codes), N_PERIODIC, n_frequencies, width, scale, codes=codes)
    net = Network([front.n_outputs, *hidden, N_OUT], "tanh", OUTPUT_ACTIVATION[loss],
                  dtype, front=front)
    net.theta[:] = rng.uniform(-0.5, 0.5, net.n_params)
    return net


def _inputs(rng, n_rows, codes=()):
    """``N_INPUTS`` numeric columns, then a column of codes per entry of ``codes``."""
    X = rng.normal(size=(n_rows, N_INPUTS))
    return np.hstack([X, *[rng.randint(0, c, (n_rows, 1)) for c in codes]]).astype(float)


def _targets(loss, rng, n_rows):
    if loss == "log_loss":
        return np.eye(N_OUT)[rng.randint(N_OUT, size=n_rows)]
    if loss == "binary_log_loss":
        return (rng.uniform(size=(n_rows, N_OUT)) < 0.5).astype(float)
    return rng.normal(size=(n_rows, N_OUT))


def _front_reference(net, X):
    """The front layer's output, written out in NumPy."""
    f = net.front
    d = f.n_scaled
    p = net.front_params
    s = p[:d] * SCALE_GAIN if f.scale else np.ones(d)
    p = p[d * f.scale:]
    m, k, e = f.n_periodic, f.n_frequencies, f.width
    w, c = p[:m * k].reshape(m, k), p[m * k:2 * m * k].reshape(m, k)
    V = p[2 * m * k:2 * m * k + m * k * e].reshape(m, k, e)
    u = p[2 * m * k + m * k * e:2 * m * k + m * k * e + m * e].reshape(m, e)
    periodic = np.cos(2 * np.pi * (X[:, :m, None] * w + c))  # rows x m x k
    embedded = np.maximum(np.einsum("rfk,fke->rfe", periodic, V) + u, 0.0)
    tables = p[2 * m * k + m * k * e + m * e:][:sum(f.codes) * e].reshape(-1, e)
    first = np.concatenate([[0], np.cumsum(f.codes)[:-1]]).astype(int)
    looked_up = [tables[first[i] + X[:, d + i].astype(int)] for i in range(len(f.codes))]
    return np.hstack([X[:, :d] * s, embedded.reshape(len(X), -1), *looked_up])


@pytest.mark.parametrize("codes", [(), (3, 5)])
@pytest.mark.parametrize("scale", [False, True])
@pytest.mark.parametrize("n_rows", [1, 3, 37])  # a row at a time below 4 rows
def test_forward_matches_numpy(scale, n_rows, codes):
    rng = np.random.RandomState(0)
    net = _network("squared_error", scale, rng, codes=codes)
    X = _inputs(rng, n_rows, codes)
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
@pytest.mark.parametrize("codes", [(), (3, 5)])
def test_gradient_matches_finite_differences(loss, scale, weighted, n_rows, codes):
    rng = np.random.RandomState(1)
    net = _network(loss, scale, rng, codes=codes)
    X = _inputs(rng, n_rows, codes)
    Y = _targets(loss, rng, n_rows)
    sw = rng.uniform(0.1, 3.0, n_rows) if weighted else None
    fun = LossGradient(net, Data(X, Y, sw, np.float64), LOSSES[loss], 0.1, n_jobs=1)
    theta0 = net.theta.copy()
    grad = fun(theta0)[1]
    numeric = numeric_gradient(lambda t: fun(t)[0], theta0)
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-8)
    assert np.abs(grad[net.n_dense_params:]).max() > 1e-3  # the front's part is there
    if codes:  # every table row of a code seen has a gradient
        tables = net.front_params[-sum(codes) * net.front.width:]
        g_tables = grad[-tables.size:].reshape(-1, net.front.width)
        seen = np.concatenate([np.unique(X[:, N_INPUTS + i]) + sum(codes[:i])
                               for i in range(len(codes))]).astype(int)
        assert np.all(np.abs(g_tables[seen]).max(axis=1) > 0)


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


# --- copies of the network (``_ensemble``) ---------------------------------


def _ensemble(loss, scale, rng, copies=3, hidden=(4, 5), n_out=N_OUT, codes=(4,),
              dtype=np.float64):
    front = Front(N_INPUTS + len(codes), N_PERIODIC, 4, 3, scale, copies, codes)
    net = Network([front.n_outputs, *hidden, copies * n_out], "tanh", OUTPUT_ACTIVATION[loss],
                  dtype, front=front)
    net.theta[:] = rng.uniform(-0.5, 0.5, net.n_params)
    return net


def _ensemble_reference(net, X):
    """The copies' mean output, written out in NumPy."""
    k, o = net.copies, net.n_outputs
    a = _front_reference(net, X)
    adapters = net.front_params[-net.front.n_adapters:].reshape(k, -1)
    outputs = []
    for i in range(k):
        A = a * adapters[i]
        for W, b in zip(net.coefs[:-1], net.intercepts[:-1]):
            A = np.tanh(A @ W + b)
        head = net.coefs[-1].reshape(k, -1, o)[i]  # (``_ensemble``: heads one after another)
        Z = A @ head + net.intercepts[-1][i * o:(i + 1) * o]
        if net.acts[-1] == OUTPUT_CODES["softmax"]:
            Z = np.exp(Z - Z.max(axis=1, keepdims=True))
            Z /= Z.sum(axis=1, keepdims=True)
        elif net.acts[-1] == OUTPUT_CODES["logistic"]:
            Z = 1 / (1 + np.exp(-Z))
        outputs.append(Z)
    return np.mean(outputs, axis=0)


@pytest.mark.parametrize("loss", ["log_loss", "squared_error", "binary_log_loss"])
@pytest.mark.parametrize("hidden", [(4, 5), ()])
@pytest.mark.parametrize("n_rows", [1, 3, 37, 300])  # 300: two blocks
def test_copies_forward_matches_numpy(loss, hidden, n_rows):
    rng = np.random.RandomState(2)
    net = _ensemble(loss, True, rng, hidden=hidden)
    X = _inputs(rng, n_rows, net.front.codes)
    expected = _ensemble_reference(net, X)
    out = forward(net, Data(X, None, None, np.float64), n_jobs=2)
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)
    few = forward_few(net, X)
    np.testing.assert_allclose(few, expected, rtol=1e-12, atol=1e-12)


def test_copies_binary_probabilities():
    rng = np.random.RandomState(3)
    net = _ensemble("binary_log_loss", True, rng, n_out=1)
    X = _inputs(rng, 5, net.front.codes)
    p = _ensemble_reference(net, X)[:, 0]
    expected = np.column_stack([1 - p, p])
    np.testing.assert_allclose(forward_few(net, X, binary_proba=True), expected, rtol=1e-12)
    np.testing.assert_allclose(forward(net, Data(X, None, None, np.float64), n_jobs=1,
                                       binary_proba=True), expected, rtol=1e-12)


@pytest.mark.parametrize("loss", ["log_loss", "squared_error", "binary_log_loss"])
@pytest.mark.parametrize("scale", [False, True])
@pytest.mark.parametrize("hidden", [(4, 5), ()])
@pytest.mark.parametrize("n_rows", [23, 300])
def test_copies_gradient_matches_finite_differences(loss, scale, hidden, n_rows):
    rng = np.random.RandomState(4)
    net = _ensemble(loss, scale, rng, hidden=hidden)
    X = _inputs(rng, n_rows, net.front.codes)
    Y = _targets(loss, rng, n_rows)
    sw = rng.uniform(0.1, 3.0, n_rows)
    fun = LossGradient(net, Data(X, Y, sw, np.float64), LOSSES[loss], 0.1, n_jobs=1)
    theta0 = net.theta.copy()
    value, grad = fun(theta0)
    numeric = numeric_gradient(lambda t: fun(t)[0], theta0)
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-8)
    assert np.abs(grad[-net.front.n_adapters:]).max() > 1e-3  # the adapters' part is there
    # the loss is the mean of the copies' losses
    net.theta[:] = theta0
    copy_losses = []
    for i in range(net.copies):
        single = _copy_as_network(net, i)
        one = LossGradient(single, Data(X, Y, sw, np.float64), LOSSES[loss], 0.0, n_jobs=1)
        copy_losses.append(one(single.theta.copy())[0])
    penalty = 0.5 * 0.1 * np.sum(net.theta[:net.n_penalised] ** 2) / sw.sum()
    np.testing.assert_allclose(value, np.mean(copy_losses) + penalty, rtol=1e-12)


@pytest.mark.skipif(not has_bf16(), reason="the CPU has no AVX512_BF16")
@pytest.mark.parametrize("build", [_network, _ensemble], ids=["front", "copies"])
def test_bfloat16_gradient_within_bf16_rounding_of_float64(build):
    """The front layer and the copies trained with bfloat16 products: the
    gradient within bfloat16's rounding of the exact one, and the float32
    products' within float32's."""
    exact, rounded = {}, {}
    for dtype in (np.float64, np.float32):
        rng = np.random.RandomState(6)
        net = build("log_loss", True, rng, hidden=(24, 16), codes=(4,), dtype=dtype)
        X = _inputs(rng, 300, net.front.codes)
        Y = _targets("log_loss", rng, 300)
        data = Data(X, Y, None, dtype)
        if dtype == np.float64:
            exact = LossGradient(net, data, LOSSES["log_loss"], 0.1, n_jobs=1)()
        else:
            rounded = {packed: LossGradient(net, data, LOSSES["log_loss"], 0.1, n_jobs=1,
                                            packed=packed)()
                       for packed in (1, 2)}
    scale = np.abs(exact[1]).max()
    for packed, lower, upper in [(1, 0, 1e-5), (2, 1e-5, 2e-2)]:
        loss, gradient = rounded[packed]
        assert abs(loss - exact[0]) <= 10 * upper * abs(exact[0])
        assert lower < np.abs(gradient - exact[1]).max() / scale < upper


def _copy_as_network(net, i):
    """Copy ``i`` of ``net`` as a network of its own: its adapter folded into
    the first layer's weights, its head as the output layer."""
    f = net.front
    o = net.n_outputs
    single = Network([f.n_outputs, *net.sizes[1:-1], o], "tanh", "identity", np.float64,
                     front=Front(f.n_inputs, f.n_periodic, f.n_frequencies, f.width, f.scale,
                                 codes=f.codes))
    coefs, intercepts = list(net.coefs), list(net.intercepts)
    adapter = net.front_params[-f.n_adapters:].reshape(net.copies, -1)[i]
    coefs[-1] = coefs[-1].reshape(net.copies, -1, o)[i]
    coefs[0] = adapter[:, None] * coefs[0]
    intercepts[-1] = intercepts[-1][i * o:(i + 1) * o]
    single.set_params(coefs, intercepts)
    single.front_params[:] = net.front_params[:-f.n_adapters]
    return single


def test_copies_start_with_random_sign_adapters():
    front = Front(N_INPUTS, N_PERIODIC, 16, 8, True, copies=4)
    params = init_front(front, np.random.RandomState(0), np.float64)
    adapters = params[-front.n_adapters:]
    assert adapters.shape == (4 * front.n_outputs,)
    assert set(np.unique(adapters)) == {-1.0, 1.0}


def test_copies_need_their_outputs():
    with pytest.raises(ValueError, match="3 copies need a multiple of 3 output units"):
        front = Front(5, 3, 16, 8, copies=3)
        Network([front.n_outputs, 3, 4], "relu", "identity", np.float64, front=front)
