"""Properties of the initializers (nnexp/nn/initializers.py): for random fans, limits and seeds, the
sample mean, variance and range of a large draw match each one's definition."""

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from nnexp.nn.initializers import INITIALIZERS, initial_biases, initial_weights

SHAPE = (200, 150)   # 30,000 draws: the sample variance is within 5% of its expectation (> 7 sd)


def definition(name, fan_in, fan_out, limit):
    """(variance, bound or None for a normal) of initializer ``name``."""
    if name == "normal":
        return 1 / fan_in, None
    if name == "unit_normal":
        return 1.0, None
    if name == "uniform":
        return limit ** 2 / 3, limit
    if name == "xavier":
        bound = math.sqrt(6 / (fan_in + fan_out))
        return bound ** 2 / 3, bound
    return 2 / fan_in, None   # he


def assert_drawn_from(w, variance, bound):
    n = w.size
    assert abs(w.mean()) < 5 * math.sqrt(variance / n)
    assert abs(w.var() / variance - 1) < 0.05
    if bound is None:   # a normal: about 0.27% of the draws beyond 3 sd, none of a uniform's
        assert np.mean(np.abs(w) > 3 * math.sqrt(variance)) > 0.001
    else:
        assert np.abs(w).max() <= bound and np.abs(w).max() > 0.99 * bound


@settings(max_examples=30, deadline=None)
@given(st.sampled_from(list(INITIALIZERS)), st.integers(1, 5000), st.integers(1, 5000), st.floats(0.01, 3),
       st.integers(0, 2 ** 32 - 1))
def test_each_initializers_sample_mean_and_variance_match_its_definition(name, fan_in, fan_out, limit, seed):
    w = initial_weights(name, SHAPE, fan_in, fan_out, np.random.default_rng(seed), uniform_limit=limit)
    assert w.shape == SHAPE and w.dtype == np.float64
    assert_drawn_from(w, *definition(name, fan_in, fan_out, limit))


@settings(max_examples=20, deadline=None)
@given(st.sampled_from(list(INITIALIZERS)), st.floats(0.01, 3), st.integers(0, 2 ** 32 - 1))
def test_biases_are_drawn_like_the_classics_weights_or_zero(name, limit, seed):
    b = initial_biases(name, SHAPE, np.random.default_rng(seed), uniform_limit=limit)
    assert b.shape == SHAPE
    if name == "unit_normal":
        assert_drawn_from(b, 1.0, None)
    elif name == "uniform":
        assert_drawn_from(b, limit ** 2 / 3, limit)
    else:
        assert not b.any()
