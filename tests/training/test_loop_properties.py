"""Properties of the training loop's shuffling (nnexp/training/loop.py): a new order every epoch, the
same one for the same seed and epoch, whatever else the run does."""

from types import SimpleNamespace

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from nnexp.nn.build import mlp
from nnexp.nn.optim import SGD
from nnexp.training.loop import Learner, Recipe, epoch_order, epoch_rng, train


@settings(max_examples=50, deadline=None)
@given(st.integers(10, 300), st.integers(0, 2 ** 32 - 1), st.integers(1, 50), st.integers(1, 50))
def test_each_epoch_has_its_own_order_and_the_same_seed_and_epoch_the_same(n, seed, epoch, other):
    order = epoch_order(n, True, epoch_rng(seed, epoch))
    assert sorted(order) == list(range(n))                                   # a permutation
    np.testing.assert_array_equal(order, epoch_order(n, True, epoch_rng(seed, epoch)))
    assert np.array_equal(order, epoch_order(n, True, epoch_rng(seed, other))) == (epoch == other)
    assert not np.array_equal(order, epoch_order(n, True, epoch_rng(seed + 1, epoch)))
    np.testing.assert_array_equal(epoch_order(n, False, epoch_rng(seed, epoch)), np.arange(n))


def orders(n, epochs, seed, shuffle, batch_size):
    """The order in which ``train`` presents n samples in each of ``epochs`` epochs (a spy on the network)."""
    x = np.arange(n, dtype=np.float64)[:, None]
    data = SimpleNamespace(x_train=x, y_train=x / n, labels_train=None, x_val=None, x_test=x[:2], y_test=x[:2] / n,
                           labels_test=None, task="regression")
    model = mlp([1, 2, 1], output_activation="identity", dtype=np.float64, rng=np.random.default_rng(0))
    seen = []
    backprop = model.backprop

    def spy(x_batch, y_batch, **kwargs):
        seen.extend(x_batch[:, 0].astype(int))
        return backprop(x_batch, y_batch, **kwargs)

    model.backprop = spy
    recipe = Recipe(epochs, batch_size=batch_size, shuffle=shuffle, seed=seed)
    train(Learner(model, SGD(model.parameters, 0.0)), data, recipe)
    return np.array(seen).reshape(epochs, n)


@settings(max_examples=15, deadline=None)
@given(st.integers(10, 40), st.integers(0, 2 ** 32 - 1), st.integers(2, 4))
def test_training_shuffles_anew_every_epoch_and_repeats_with_the_seed(n, seed, batch_size):
    epochs = orders(n, 3, seed, True, batch_size)
    for order in epochs:
        assert sorted(order) == list(range(n))
    assert len({tuple(order) for order in epochs}) == 3
    np.testing.assert_array_equal(epochs, orders(n, 3, seed, True, batch_size))
    np.testing.assert_array_equal(orders(n, 2, seed, False, batch_size), [np.arange(n)] * 2)
