"""The compiled epoch shuffle: NumPy's order and draws, and its fallbacks."""

import threading

import numpy as np
import pytest

from fastnn import _shuffle
from fastnn._shuffle import shuffle


def _after(rng):
    """Draws that show where the generator stands, the cached Gaussian included."""
    return rng.randint(1 << 30, size=3).tolist(), rng.standard_normal(3).tolist()


# lengths around one generation of 624 words, enough for several, and at
# and past powers of two (where the mask of the draws narrows)
@pytest.mark.parametrize("n", [0, 1, 2, 3, 5, 623, 624, 625, 1249, 40_000, 1 << 16, (1 << 16) + 1,
                               300_007])
@pytest.mark.parametrize("seed", [0, 7])
def test_same_order_and_generator_state_as_numpy(n, seed):
    ours, numpy_rng = np.random.RandomState(seed), np.random.RandomState(seed)
    for rng in (ours, numpy_rng):
        rng.standard_normal()  # leaves a cached Gaussian in the state
    a, b = np.arange(n), np.arange(n)
    for _ in range(3):
        shuffle(ours, a)
        numpy_rng.shuffle(b)
        np.testing.assert_array_equal(a, b)
    assert _after(ours) == _after(numpy_rng)
    assert _shuffle._LAYOUT_OK  # the compiled path ran, not the fallback


class _SubclassedState(np.random.RandomState):
    pass


@pytest.mark.parametrize("make_rng", [
    lambda: np.random.RandomState(np.random.PCG64(3)),
    lambda: _SubclassedState(3),
], ids=["pcg64", "subclass"])
def test_other_generators_shuffle_through_numpy(make_rng):
    ours, numpy_rng = make_rng(), make_rng()
    a, b = np.arange(1000), np.arange(1000)
    shuffle(ours, a)
    numpy_rng.shuffle(b)
    np.testing.assert_array_equal(a, b)
    assert _after(ours) == _after(numpy_rng)


def test_threads_sharing_a_generator_take_turns():
    # The kernel releases the GIL; under the generator's lock every shuffle
    # still consumes its own draws, so after any interleaving the generator
    # is where the same shuffles run one after another would leave it.
    n, rounds = 5000, 40
    shared, serial = np.random.RandomState(1), np.random.RandomState(1)
    results = [[] for _ in range(2)]

    def work(out):
        for _ in range(rounds):
            x = np.arange(n)
            shuffle(shared, x)
            out.append(x)

    threads = [threading.Thread(target=work, args=(out,)) for out in results]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    expected = []
    for _ in range(2 * rounds):
        x = np.arange(n)
        serial.shuffle(x)
        expected.append(x.tobytes())
    assert _after(shared) == _after(serial)
    got = sorted(x.tobytes() for out in results for x in out)
    assert got == sorted(expected)
