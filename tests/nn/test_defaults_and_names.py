"""What the network's registries do with a name they do not know, and their defaults when a caller gives
none (the schema always gives every setting; direct callers, and the mutation runs, rely on these)."""

import numpy as np
import pytest

from nnexp.errors import ConfigError
from nnexp.nn.build import mlp
from nnexp.nn.conv import Conv2D, DepthwiseConv2D, SeparableConv2D
from nnexp.nn.initializers import initial_biases, initial_weights
from nnexp.nn.layers import Dense, Parameter
from nnexp.nn.optim import SGD, Adam, RMSprop, make_optimizer
from nnexp.nn.schedules import Cosine, Exponential, Step, make_schedule


def test_unknown_names_are_config_errors_that_list_the_choices():
    with pytest.raises(ConfigError) as error:
        make_schedule({"name": "linear"}, 0.1)
    assert str(error.value) == "unknown schedule 'linear'; choose one of constant, step, exponential, cosine"
    with pytest.raises(ConfigError) as error:
        initial_weights("glorot", (2, 2), 2, 2, np.random.default_rng(0))
    assert str(error.value) == "unknown init 'glorot'; choose one of normal, unit_normal, uniform, xavier, he"
    with pytest.raises(ConfigError) as error:
        make_optimizer({"name": "lion"}, mlp([2, 2]), 0.1)
    assert str(error.value) == "unknown optimizer 'lion'; choose one of sgd, adam, adamw, rmsprop"
    with pytest.raises(ConfigError) as error:
        SGD([Parameter(np.zeros(2), "W", True)], 0.1, nesterov=True)
    assert str(error.value) == "optimizer.nesterov=true needs optimizer.momentum > 0"


def test_schedule_defaults_are_step_by_one_tenth_each_step_to_zero_without_warmup():
    assert make_schedule({}, 0.5).rate(3, 5) == 0.5                                   # constant
    assert Step(1.0).rate(3, 5) == pytest.approx(0.01)                    # gamma 0.1 every step
    assert Exponential(1.0).rate(2, 5) == pytest.approx(0.1)
    assert Cosine(1.0).rate(5, 5) == pytest.approx(0.0, abs=1e-15)        # min_lr 0
    assert Step(1.0).rate(1, 5) == 1.0                                    # no warm-up
    assert Step(2.0, step_size=2.9, warmup=1.9).rate(2, 5) == 2.0         # counts, made integers
    assert Step(2.0, step_size=2.9, warmup=1.9).rate(4, 5) == pytest.approx(0.2)


def test_initializer_defaults_draw_uniform_from_minus_a_half_to_a_half():
    w = initial_weights("uniform", (100, 100), 3, 3, np.random.default_rng(0))
    b = initial_biases("uniform", (100, 100), np.random.default_rng(0))
    for drawn in (w, b):
        assert np.abs(drawn).max() <= 0.5 and np.abs(drawn).max() > 0.49
    assert initial_biases("he", (3,), np.random.default_rng(0)).tolist() == [0.0, 0.0, 0.0]


def with_grads(values, decays, grads):
    """Parameters of the given values, decay flags and gradients."""
    return [Parameter(v, "W", d, g) for v, d, g in zip(values, decays, grads)]


def test_optimizer_defaults():
    """SGD without momentum or decay; Adam 0.9 / 0.999 / 1e-8; RMSprop 0.99 / 1e-8; parameters named 0, 1, ..."""
    w = np.array([1.0, -2.0])
    g = np.array([0.5, 0.25])
    sgd = SGD(with_grads([w.copy()], [True], [g]), 0.1)
    sgd.step()
    np.testing.assert_array_equal(sgd.parameters[0].value, w - 0.1 * g)
    assert sgd.state() == {} and sgd.names == ["0"]
    adam = Adam(with_grads([w.copy(), w.copy()], [True, False], [g, g]), 0.1)
    adam.step()
    adam.step()
    expected, m, v = w.copy(), 0.0, 0.0
    for t in (1, 2):
        m, v = 0.9 * m + 0.1 * g, 0.999 * v + 0.001 * g * g
        expected -= 0.1 * (m / (1 - 0.9 ** t)) / (np.sqrt(v / (1 - 0.999 ** t)) + 1e-8)
    np.testing.assert_allclose(adam.parameters[0].value, expected, rtol=1e-12)
    # eps shows when the gradient is tiny: with g = 1e-8 the step is half of lr
    tiny = Adam(with_grads([np.zeros(1)], [False], [np.array([1e-8])]), 0.1)
    tiny.step()
    np.testing.assert_allclose(tiny.parameters[0].value, [-0.05], rtol=1e-6)
    assert sorted(adam.state()) == ["m_0", "m_1", "step_count", "v_0", "v_1"] and adam.decay == [False, False]
    rms = RMSprop(with_grads([w.copy()], [True], [g]), 0.1)
    rms.step()
    np.testing.assert_allclose(rms.parameters[0].value, w - 0.1 * g / (np.sqrt(0.01 * g * g) + 1e-8),
                               rtol=1e-12, atol=1e-15)


def test_layer_defaults_are_he_float32_stride_1_no_padding_and_a_uniform_limit_of_a_half():
    """The constructors' defaults (build_network always passes every setting; direct callers rely on these)."""
    rng = np.random.default_rng(0)
    conv, depthwise, separable = Conv2D(64, 8, 3, rng=rng), DepthwiseConv2D(64, 3, rng=rng), SeparableConv2D(64, 8, 3)
    dense = Dense(300, 200, rng=rng)
    for layer in (conv, depthwise, separable.depthwise, separable.pointwise):
        assert (layer.stride, layer.pad, layer.dilation) == (1, (0, 0), 1)
    assert [layer.b is not None for layer in (conv, depthwise, separable.pointwise, dense)] == [True, False, True, True]
    assert all(p.value.dtype == np.float32 for layer in (conv, depthwise, separable, dense) for p in layer.parameters)
    assert abs(conv.W.std() / np.sqrt(2 / (64 * 9)) - 1) < 0.05 and abs(dense.W.std() / np.sqrt(2 / 300) - 1) < 0.05
    uniform = [Conv2D(64, 8, 3, init="uniform", rng=rng), DepthwiseConv2D(64, 3, init="uniform", rng=rng),
               SeparableConv2D(64, 8, 3, init="uniform", rng=rng), Dense(300, 200, init="uniform", rng=rng)]
    for layer in uniform:
        for p in layer.parameters:
            assert 0.45 < np.abs(p.value).max() <= 0.5, (layer, p.name)
