"""Each optimizer step against its formula written out by hand."""

import numpy as np
import pytest
from jitted import step, step_hyper
from small_problem import ALPHA, full_batch_steps, full_gradient, softmax_problem

from fastnn._engine import Data, EpochRunner
from fastnn._losses import LOSSES
from fastnn._optimizers import ADAM, LR_T, N_HYPER, SGD, Optimizer


def SGDOptimizer(n, dtype, lr=0.1, lr_schedule="constant", **kw):
    return Optimizer("sgd", n, dtype, learning_rate_init=lr, learning_rate=lr_schedule, **kw)


def AdamOptimizer(n, dtype, lr=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-8):
    return Optimizer("adam", n, dtype, learning_rate_init=lr, beta_1=beta_1, beta_2=beta_2,
                     epsilon=epsilon)


def _typed(code, optimizer, lr_t):
    """The per-step hyper-parameter vector of the first step, with rate ``lr_t``."""
    typed = np.empty(N_HYPER)
    step_hyper(code, optimizer.hyper(), 1, 1.0, typed)
    typed[LR_T] = lr_t
    return typed

LR, MU, B1, B2, EPS = 0.05, 0.8, 0.7, 0.9, 1e-8


def test_plain_sgd_step():
    net, data = softmax_problem()
    theta0 = net.theta.copy()
    full_batch_steps(net, data, SGDOptimizer(net.n_params, np.float64, LR, momentum=0.0,
                                   nesterov=False), 1)
    np.testing.assert_allclose(net.theta, theta0 - LR * full_gradient(net, data, theta0),
                               rtol=1e-12)


@pytest.mark.parametrize("nesterov", [False, True])
def test_momentum_steps(nesterov):
    net, data = softmax_problem()
    theta = net.theta.copy()
    full_batch_steps(net, data, SGDOptimizer(net.n_params, np.float64, LR, momentum=MU,
                                   nesterov=nesterov), 3)
    velocity = np.zeros_like(theta)
    for _ in range(3):
        g = full_gradient(net, data, theta)
        velocity = MU * velocity - LR * g
        theta = theta + (MU * velocity - LR * g if nesterov else velocity)
    np.testing.assert_allclose(net.theta, theta, rtol=1e-10)


def test_adam_steps():
    net, data = softmax_problem()
    theta = net.theta.copy()
    opt = AdamOptimizer(net.n_params, np.float64, LR, B1, B2, EPS)
    full_batch_steps(net, data, opt, 3)
    m = np.zeros_like(theta)
    v = np.zeros_like(theta)
    for t in range(1, 4):
        g = full_gradient(net, data, theta)
        m = B1 * m + (1 - B1) * g
        v = B2 * v + (1 - B2) * g**2
        lr_t = LR * np.sqrt(1 - B2**t) / (1 - B1**t)
        theta = theta - lr_t * m / (np.sqrt(v) + EPS)
    np.testing.assert_allclose(net.theta, theta, rtol=1e-10)
    assert opt.t == 3  # one step per mini-batch, not per parameter


def test_adam_step_kernel_touches_only_its_range():
    theta = np.array([1.0, 2.0, 3.0])
    state = np.array([[0.1, 0.2, 0.3], [0.01, 0.02, 0.03]])
    hyper = _typed(ADAM, AdamOptimizer(3, np.float64, LR, B1, B2, EPS), 0.01)
    g = np.array([9.0, 0.5, 9.0])
    step(1, theta, g, g, False, 0.0, 1.0, 3, state, hyper, 1, 2)
    m = B1 * 0.2 + (1 - B1) * 0.5
    v = B2 * 0.02 + (1 - B2) * 0.25
    assert theta[0] == 1.0 and theta[2] == 3.0 and state[0, 0] == 0.1 and state[1, 2] == 0.03
    np.testing.assert_allclose([theta[1], state[0, 1], state[1, 1]],
                               [2.0 - 0.01 * m / (np.sqrt(v) + EPS), m, v])


@pytest.mark.parametrize("two", [False, True])
def test_step_forms_its_gradient_from_lanes_l2_and_scale(two):
    """``g = ((ga + gb) + alpha * theta) * scale``, the L2 term on weights only."""
    rng = np.random.RandomState(1)
    n, n_coef, j0, j1, scale = 10, 6, 2, 9, 0.25
    theta, ga, gb = rng.normal(size=(3, n))
    hyper = _typed(SGD, SGDOptimizer(n, np.float64, LR, momentum=0.0, nesterov=False), LR)
    new = theta.copy()
    step(0, new, ga, gb, two, ALPHA, scale, n_coef, np.zeros((1, n)), hyper, j0, j1)
    g = ga + gb if two else ga.copy()
    g[:n_coef] += ALPHA * theta[:n_coef]
    g *= scale
    expected = theta.copy()
    expected[j0:j1] -= LR * g[j0:j1]
    np.testing.assert_allclose(new, expected, rtol=1e-14)
    assert np.array_equal(new[:j0], theta[:j0]) and np.array_equal(new[j1:], theta[j1:])


def test_invscaling_and_adaptive_schedules():
    opt = SGDOptimizer(3, np.float64, 0.1, lr_schedule="invscaling", power_t=0.5)
    opt.iteration_ends(99)
    assert opt.learning_rate == pytest.approx(0.1 / 100**0.5)
    adaptive = SGDOptimizer(3, np.float64, 0.1, lr_schedule="adaptive")
    assert adaptive.trigger_stopping("msg", verbose=False) is False
    assert adaptive.learning_rate == pytest.approx(0.02)
    adaptive.learning_rate = 1e-6
    assert adaptive.trigger_stopping("msg", verbose=False) is True
    assert SGDOptimizer(3, np.float64, 0.1).trigger_stopping("msg", False) is True


def test_minibatches_each_take_a_step():
    """Two batches in one epoch equal two hand-written steps on the halves."""
    net, data = softmax_problem(n=40)
    theta = net.theta.copy()
    opt = SGDOptimizer(net.n_params, np.float64, LR, momentum=0.0, nesterov=False)
    runner = EpochRunner(net, data, opt, LOSSES["log_loss"], ALPHA, 20, 1)
    runner.run(np.arange(40, dtype=np.int64))
    for half in (slice(0, 20), slice(20, 40)):
        part = Data(data.arrays[0][half], data.Y[half], None, np.float64)
        theta = theta - LR * full_gradient(net, part, theta)
    np.testing.assert_allclose(net.theta, theta, rtol=1e-10)
