"""A small softmax network and data set, for optimizer tests that compare
full-batch steps with formulas written out by hand."""

import numpy as np

from fastnn._engine import Data, EpochRunner, LossGradient, Network
from fastnn._losses import LOSSES

#: L2 strength of every loss and step here.
ALPHA = 0.01


def softmax_problem(seed=0, n=40):
    """A 4-5-3 tanh/softmax network with random weights, and ``n`` rows of data."""
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n, 4))
    Y = np.eye(3)[rng.randint(3, size=n)]
    net = Network([4, 5, 3], "tanh", "softmax", np.float64)
    net.theta[:] = rng.uniform(-0.5, 0.5, net.n_params)
    return net, Data(X, Y, None, np.float64)


def full_gradient(net, data, theta):
    """The full-batch gradient (log-loss plus L2) at ``theta``."""
    probe = Network(net.sizes, "tanh", "softmax", np.float64)
    return LossGradient(probe, data, LOSSES["log_loss"], ALPHA, 1)(theta)[1]


def full_batch_steps(net, data, optimizer, n_steps):
    """Take ``n_steps`` full-batch steps (batch = all rows, no shuffling)."""
    runner = EpochRunner(net, data, optimizer, LOSSES["log_loss"], ALPHA, data.n, 1)
    order = np.arange(data.n, dtype=np.int64)
    for _ in range(n_steps):
        runner.run(order)
