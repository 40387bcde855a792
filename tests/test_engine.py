"""Training engine: chunked epochs, thread-count independence, kernel selection."""

import numpy as np
import pytest
from naive import forward as naive_forward

from fastnn import _engine
from fastnn._engine import Data, EpochRunner, Network, forward
from fastnn._losses import LOSSES
from fastnn._optimizers import Optimizer


def _net_and_data(n=1000, dtype=np.float32, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n, 12)).astype(dtype)
    Y = np.eye(4, dtype=dtype)[rng.randint(4, size=n)]
    net = Network([12, 32, 16, 4], "relu", "softmax", dtype)
    net.theta[:] = rng.uniform(-0.3, 0.3, net.n_params)
    return net, Data(X, Y, None, dtype), X


def _train(n_jobs, monkeypatch=None, samples_per_call=None, dtype=np.float32):
    net, data, _ = _net_and_data(dtype=dtype)
    if samples_per_call is not None:
        monkeypatch.setattr(_engine, "SAMPLES_PER_CALL", samples_per_call)
    runner = EpochRunner(net, data, Optimizer("adam", net.n_params, dtype, learning_rate_init=1e-2),
                         LOSSES["log_loss"], 1e-3, 200, n_jobs)
    order = np.random.RandomState(1).permutation(data.n)
    losses = [runner.run(order) for _ in range(3)]
    return net.theta.copy(), losses


def test_weights_identical_for_any_number_of_threads():
    theta1, loss1 = _train(n_jobs=1)
    theta2, loss2 = _train(n_jobs=2)
    np.testing.assert_array_equal(theta1, theta2)
    assert loss1 == loss2


def test_chunked_epoch_equals_one_call(monkeypatch):
    theta_one, loss_one = _train(n_jobs=2)
    theta_chunked, loss_chunked = _train(n_jobs=2, monkeypatch=monkeypatch, samples_per_call=400)
    np.testing.assert_array_equal(theta_one, theta_chunked)
    np.testing.assert_allclose(loss_one, loss_chunked, rtol=1e-12)


def test_training_reduces_loss():
    _, losses = _train(n_jobs=None, dtype=np.float64)
    assert losses[2] < losses[1] < losses[0]


@pytest.mark.parametrize("n", [1, 3, 257, 1500])
def test_forward_matches_reference_serial_and_parallel(n):
    net, _, _ = _net_and_data()
    X = np.random.RandomState(2).normal(size=(n, 12)).astype(np.float32)
    expected = naive_forward(X, net.coefs, net.intercepts, "relu", "softmax")[-1]
    for n_jobs in (1, 2):
        out = forward(net, Data(X, dtype=np.float32), n_jobs)
        np.testing.assert_allclose(out, expected, rtol=2e-5, atol=1e-6)


def test_forward_of_no_rows():
    net, _, _ = _net_and_data()
    assert forward(net, Data(np.empty((0, 12), np.float32))).shape == (0, 4)


def test_kernel_choice_depends_on_work_not_result():
    assert not _engine.Kernels(2, 10).parallel
    assert _engine.Kernels(2, 10**9).parallel
    assert not _engine.Kernels(1, 10**9).parallel


def test_resolve_n_jobs():
    import numba

    available = numba.config.NUMBA_NUM_THREADS
    assert _engine.resolve_n_jobs(None) == available
    assert _engine.resolve_n_jobs(-1) == available
    assert _engine.resolve_n_jobs(1) == 1
    assert _engine.resolve_n_jobs(10**6) == available


def test_read_only_and_memmapped_input_use_the_same_kernel(tmp_path):
    net, data, X = _net_and_data()
    path = tmp_path / "X.npy"
    np.save(path, X)
    mm = np.load(path, mmap_mode="r")
    out_mm = forward(net, Data(mm, dtype=np.float32))
    np.testing.assert_array_equal(out_mm, forward(net, Data(X, dtype=np.float32)))
    # float32 C-contiguous input is used in place, never copied
    assert np.shares_memory(Data(X, dtype=np.float32).arrays[0], X)


@pytest.mark.parametrize("n, batch_size", [(310, 200), (1797, 512), (127, 100), (5, 200)])
def test_short_last_batch_with_long_lanes(n, batch_size):
    """The last batch of an epoch may split into fewer, longer lanes than a full one."""
    rng = np.random.RandomState(0)
    X = rng.normal(size=(n, 5))
    Y = np.eye(3)[rng.randint(3, size=n)]
    net = Network([5, 7, 3], "tanh", "softmax", np.float64)
    net.theta[:] = rng.uniform(-0.3, 0.3, net.n_params)
    data = Data(X, Y, None, np.float64)
    runner = EpochRunner(net, data, Optimizer("adam", net.n_params, np.float64), LOSSES["log_loss"],
                         0.0, min(batch_size, n), 1)
    loss = runner.run(np.arange(n, dtype=np.int64))
    assert np.isfinite(loss) and np.all(np.isfinite(net.theta))


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_same_steps_as_scikit_learn_in_float64(solver):
    """Same initialisation, shuffling and updates: float64 weights agree with scikit-learn's."""
    from sklearn.datasets import load_iris
    from sklearn.neural_network import MLPClassifier as SkMLP

    from fastnn import MLPClassifier

    X, y = load_iris(return_X_y=True)
    params = dict(hidden_layer_sizes=(10,), solver=solver, max_iter=4, batch_size=32,
                  random_state=0, learning_rate_init=0.01)
    ours = MLPClassifier(dtype="float64", **params).fit(X, y)
    theirs = SkMLP(**params).fit(X, y)
    for a, b in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=1e-9)


def test_blas_thread_counts_restored_after_concurrent_calls():
    """Kernel calls limit BLAS threads while they run and give the user's setting back."""
    from concurrent.futures import ThreadPoolExecutor

    from threadpoolctl import ThreadpoolController

    from fastnn._engine import compute_threads

    blas = ThreadpoolController().select(user_api="blas").lib_controllers

    def blas_counts():
        return [lib.num_threads for lib in blas]

    def inside(_=None):
        with compute_threads(blas_threads=1):
            return set(blas_counts())

    before = blas_counts()
    assert set(before) != {1}  # else the test could not tell
    assert inside() == {1}
    assert blas_counts() == before
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(inside, range(16)))
    assert blas_counts() == before


@pytest.mark.parametrize("n_blocks, n_shares", [(2, 2), (20, 2), (7, 4), (2, 16)])
def test_update_blocks_are_claimed_once_per_batch_own_share_first(n_blocks, n_shares):
    """Every parameter block of a batch's update is taken exactly once; a
    member takes its own share of them before any other's, and takes the
    same blocks in every batch while the others take theirs."""
    from jitted import claim_block

    from fastnn._kernels import new_sync

    sync = new_sync()
    shares = [range(k * n_blocks // n_shares, (k + 1) * n_blocks // n_shares)
              for k in range(n_shares)]
    for batch in range(3):
        # members take turns; member 0 then drains what is left, as a team of one would
        taken = {m: [] for m in range(n_shares)}
        for _ in range(n_blocks):
            for m in range(n_shares):
                if len(taken[m]) < len(shares[m]):
                    taken[m].append(claim_block(sync, batch, n_blocks, n_shares, m))
        for m in range(n_shares):
            assert taken[m] == list(shares[m])
        assert claim_block(sync, batch, n_blocks, n_shares, 0) == -1
    # a member alone takes its share, then the others' in share order
    sync = new_sync()
    alone = [claim_block(sync, 0, n_blocks, n_shares, 1 % n_shares) for _ in range(n_blocks)]
    start = shares[1 % n_shares].start
    assert alone == [*range(start, n_blocks), *range(0, start)]
    assert claim_block(sync, 0, n_blocks, n_shares, 0) == -1


@pytest.mark.parametrize("n_jobs", [1, 2, -1])
def test_all_finite_in_parts_finds_every_bad_value(monkeypatch, n_jobs):
    """A large input is checked in a part per thread: a NaN or an infinity in
    any part, at its first or last element too, is found."""
    monkeypatch.setattr(_engine, "FINITE_PARALLEL_MIN", 16)
    a = np.ones((37, 5), dtype=np.float32)
    assert _engine.all_finite(a, n_jobs)
    for bad in (np.nan, np.inf, -np.inf):
        for i in (0, a.size // 2 - 1, a.size // 2, a.size - 1):  # (the parts meet at a.size // 2)
            b = a.copy()
            b.reshape(-1)[i] = bad
            assert not _engine.all_finite(b, n_jobs)
