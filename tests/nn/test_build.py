"""build_network and mlp: what each layer spec becomes (defaults, geometry, names, the model's settings
reaching every layer) and the whole message of every error a layer list can give."""

import numpy as np
import pytest

from nnexp.errors import ConfigError
from nnexp.nn.build import build_network, conv_geometry, mlp
from nnexp.nn.conv import Conv2D, SeparableConv2D
from nnexp.nn.layers import Dense

MODEL = {"name": "cnn", "output_activation": "softmax", "loss": "cross_entropy", "init": "he", "bias": True,
         "uniform_limit": 0.5}
DENSE = {"type": "dense", "units": None}


def cnn(layers, input_shape=(2, 8, 8), n_outputs=3, **model):
    return build_network({**MODEL, "layers": layers, **model}, input_shape, n_outputs, np.float64,
                         np.random.default_rng(0))


@pytest.mark.parametrize("spec,conv_type,expected", [
    ({"kernel": 3}, "standard", ((3, 3), 0, 1)),
    ({"kernel": [3, 5], "pad": [1, 2], "dilation": 3}, "standard", ((3, 5), [1, 2], 3)),
    ({"kernel": [3, 5], "pad": "same"}, "standard", ((3, 5), (1, 2), 1)),
    ({"kernel": 3, "pad": "same", "dilation": 2}, "standard", ((3, 3), (2, 2), 2)),
    ({"kernel": 2, "pad": "same", "dilation": 2}, "standard", ((2, 2), (1, 1), 2)),   # d (k - 1) even
    ({"kernel": [3, 5], "pad": [1, 2]}, "dilated", ((3, 5), (2, 4), 2)),
    ({"kernel": [5, 3], "pad": 1}, "dilated", ((5, 3), (3, 2), 2)),
    ({"kernel": [3, 5]}, "dilated", ((3, 5), (1, 2), 2)),
    ({"kernel": [3, 5], "pad": "same"}, "dilated", ((3, 5), (2, 4), 2)),
    ({"kernel": 3, "dilation": 1}, "dilated", ((3, 3), (1, 1), 2)),
])
def test_conv_geometry_of_each_conv_type(spec, conv_type, expected):
    """(kernel, pad, dilation): dilated pads (k - 1) / 2 more per side at d = 2; pad=same pads d (k - 1) / 2."""
    assert conv_geometry(0, spec, conv_type) == expected


def test_each_layer_spec_becomes_its_layer_with_the_defaults_and_the_models_settings():
    layers = [{"type": "conv", "filters": 3, "kernel": 3, "stride": None, "pad": 1},
              {"type": "activation", "name": "relu"},
              {"type": "pool"},
              {"type": "conv", "filters": 4, "kernel": [1, 3], "stride": 2, "bias": False},
              {"type": "activation", "name": "tanh"},
              {"type": "pool", "mode": "avg", "size": 1, "stride": 1},
              {"type": "flatten"},
              {"type": "dense", "units": 5, "bias": False},
              {"type": "activation", "name": "relu"},
              {"type": "dropout", "rate": 0.25},
              DENSE]
    net = cnn(layers, init="uniform", uniform_limit=0.125)
    assert net.names == ["conv1", "relu1", "maxpool1", "conv2", "tanh1", "avgpool1", "flatten1", "dense1", "relu2",
                         "dropout1", "dense2"]
    conv1, _, pool1, conv2, _, pool2, _, dense1, _, dropout, dense2 = net.layers
    assert (conv1.kernel_size, conv1.stride, conv1.pad, conv1.dilation, conv1.b is not None) == ((3, 3), 1, (1, 1), 1,
                                                                                                   True)
    assert (conv2.kernel_size, conv2.stride, conv2.pad, conv2.b) == ((1, 3), 2, (0, 0), None)
    assert (pool1.mode, pool1.size, pool1.stride) == ("max", 2, 2)
    assert (pool2.mode, pool2.size, pool2.stride) == ("avg", 1, 1)
    assert dense1.b is None and dense2.b is not None and dropout.rate == 0.25
    assert dense1.in_out_order and dense2.in_out_order          # a layer list keeps 0.2's order
    assert dense2.W.shape == (3, 5) and net.n_outputs == 3
    for p in net.parameters.values():                           # init=uniform with the model's limit
        assert p.value.dtype == np.float64
        assert np.abs(p.value).max() <= 0.125 and np.abs(p.value).max() > 0.06
    assert not mlp([4, 3, 2], dtype=np.float64).layers[0].in_out_order


def test_build_without_a_generator_draws_from_seed_0_and_in_float32():
    model = {**MODEL, "layers": [{"type": "flatten"}, DENSE]}
    net = build_network(model, (4,), 3)
    seeded = build_network(model, (4,), 3, np.float32, np.random.default_rng(0))
    assert net.dtype == np.float32 and net.layers[1].W.dtype == np.float32
    np.testing.assert_array_equal(net.layers[1].W, seeded.layers[1].W)


def test_weights_come_from_the_generator_given_and_mlp_without_one_draws_anew_each_call():
    """build_network draws from the generator it is given (seed 0 without one); mlp, like the MLP class before it,
    draws from fresh entropy when given none, so two unseeded networks differ."""
    model = {**MODEL, "layers": [{"type": "flatten"}, DENSE]}
    drawn, again, seed_0 = (build_network(model, (4,), 3, np.float32, rng).layers[1].W
                            for rng in (np.random.default_rng(7), np.random.default_rng(7), None))
    np.testing.assert_array_equal(drawn, again)
    assert not np.array_equal(drawn, seed_0)
    first, second = (mlp([4, 3]).layers[0].W for _ in range(2))
    assert not np.array_equal(first, second)
    np.testing.assert_array_equal(mlp([4, 3], rng=np.random.default_rng(7)).layers[0].W,
                                  mlp([4, 3], rng=np.random.default_rng(7)).layers[0].W)


def test_mlp_defaults_are_the_classic_network():
    """sigmoid hidden and output layers, the quadratic cost, normal init, no biases, float32."""
    net = mlp([4, 3, 2], rng=np.random.default_rng(0))
    assert [type(layer).__name__ for layer in net.layers] == ["Dense", "Activation", "Dense"]
    assert net.layers[1].name == "sigmoid" and net.output.name == "sigmoid" and net.loss.name == "mse"
    assert all(isinstance(layer, Dense) and layer.b is None for layer in net.layers[::2])
    assert net.dtype == np.float32 and net.names == ["dense1", "sigmoid1", "dense2"]
    np.testing.assert_allclose(net.layers[0].W.std(), 0.5, rtol=0.5)   # normal: N(0, 1 / fan_in), fan_in 4
    wide = mlp([400, 300, 2], rng=np.random.default_rng(0))
    np.testing.assert_allclose(wide.layers[0].W.std(), 400 ** -0.5, rtol=0.02)
    with pytest.raises(TypeError) as err:
        mlp([4, 2], hidden=[3], seed=1)
    assert str(err.value) == ("mlp() got unknown settings ['hidden', 'seed']; known: ['activation', 'bias', 'init', "
                              "'loss', 'output_activation', 'uniform_limit']")


def test_separable_and_dilated_conv_types_reach_every_conv_layer():
    layers = [{"type": "conv", "filters": 3, "kernel": 3, "pad": 1}, {"type": "activation", "name": "relu"},
              {"type": "conv", "filters": 2, "kernel": 3}, {"type": "flatten"}, DENSE]
    separable = cnn(layers, conv_type="separable")
    assert all(isinstance(layer, SeparableConv2D) for layer in (separable.layers[0], separable.layers[2]))
    dilated = cnn(layers, conv_type="dilated")
    assert [(layer.dilation, layer.pad) for layer in (dilated.layers[0], dilated.layers[2])] == [(2, (2, 2)),
                                                                                                 (2, (1, 1))]
    standard = cnn(layers)
    assert [(type(layer), layer.dilation, layer.pad) for layer in (standard.layers[0], standard.layers[2])] == [
        (Conv2D, 1, (1, 1)), (Conv2D, 1, (0, 0))]


CONV = {"type": "conv", "filters": 2, "kernel": 3}


@pytest.mark.parametrize("layers,n_outputs,model,message", [
    ([{"type": "flatten"}, CONV, DENSE], 3, {},
     "model.layers[1] (conv) needs (C, H, W) input, got (128,)"),
    ([{"type": "flatten"}, {"type": "pool"}, DENSE], 3, {},
     "model.layers[1] (pool) needs (C, H, W) input, got (128,)"),
    ([CONV, DENSE], 3, {},
     "model.layers[1] (dense) gets input of shape (2, 6, 6); put {type: flatten} before it"),
    (["conv", DENSE], 3, {}, "model.layers[0] must be a dict with a 'type' key, got 'conv'"),
    ([{"filters": 2}, DENSE], 3, {}, "model.layers[0] must be a dict with a 'type' key, got {'filters': 2}"),
    ([{"type": "norm"}, DENSE], 3, {},
     "model.layers[0] has unknown type 'norm'; choose one of conv, activation, pool, flatten, dense, dropout"),
    ([{**CONV, "padding": 1, "groups": 2, "stride": None}, DENSE], 3, {},
     "model.layers[0] (conv) has unknown keys ['groups', 'padding']; "
     "allowed: ['bias', 'dilation', 'filters', 'kernel', 'pad', 'stride']"),
    ([{"type": "conv", "filters": None}, DENSE], 3, {}, "model.layers[0] (conv) needs ['filters', 'kernel']"),
    ([{**CONV, "dilation": 2}, {"type": "flatten"}, DENSE], 3, {"conv_type": "dilated"},
     "model.layers[0] sets dilation=2 and conv_type=dilated; use one or the other"),
    ([{**CONV, "kernel": [3, 2]}, {"type": "flatten"}, DENSE], 3, {"conv_type": "dilated"},
     "conv_type=dilated keeps the output size only for odd kernels; model.layers[0] has kernel [3, 2]"),
    ([{**CONV, "kernel": [2, 3]}, {"type": "flatten"}, DENSE], 3, {"conv_type": "dilated"},
     "conv_type=dilated keeps the output size only for odd kernels; model.layers[0] has kernel [2, 3]"),
    ([{**CONV, "kernel": [3, 4], "pad": "same"}, {"type": "flatten"}, DENSE], 3, {},
     "model.layers[0] pad=same needs an odd kernel, got [3, 4]"),
    ([{**CONV, "kernel": [4, 3], "pad": "same"}, {"type": "flatten"}, DENSE], 3, {},
     "model.layers[0] pad=same needs an odd kernel, got [4, 3]"),
    ([{"type": "flatten"}, {"type": "dense"}, DENSE], 3, {},
     "model.layers[1] (dense) needs units; only the last may be null"),
    ([{"type": "flatten"}, DENSE], None, {}, "the last dense layer has units=null and n_outputs is not known"),
    ([{"type": "flatten"}, {"type": "dense", "units": 4}], 3, {},
     "the last dense layer has units=4 but the data have 3 classes (n_outputs); set its units to 3 or null"),
    ([{"type": "flatten"}], 3, {},
     "model.layers must end with a {type: dense, units: null} layer (its units are the number of classes)"),
    ([], 3, {}, "model.layers must end with a {type: dense, units: null} layer (its units are the number of classes)"),
    ([{**CONV, "kernel": 9}, {"type": "flatten"}, DENSE], 3, {},
     "model.layers[0] (conv) leaves no output: shape (2, 0, 0); "
     "use more padding, smaller kernels or fewer pooling layers"),
    ([{"type": "flatten"}, DENSE], 3, {"name": "resnet"}, "unknown model 'resnet'; choose one of mlp, cnn"),
    ([{"type": "flatten"}, DENSE], 3, {"conv_type": "atrous"},
     "unknown model.conv_type 'atrous'; choose one of standard, dilated, separable"),
])
def test_layer_list_errors_say_what_is_wrong_in_full(layers, n_outputs, model, message):
    with pytest.raises(ConfigError) as err:
        build_network({**MODEL, "layers": layers, **model}, (2, 8, 8), n_outputs, np.float64,
                      np.random.default_rng(0))
    assert str(err.value) == message


def test_a_units_value_of_the_last_layer_equal_to_n_outputs_or_without_n_outputs_is_taken():
    assert cnn([{"type": "flatten"}, {"type": "dense", "units": 3}]).n_outputs == 3
    assert cnn([{"type": "flatten"}, {"type": "dense", "units": 4}], n_outputs=None).n_outputs == 4


def test_a_pool_spec_with_its_own_stride_keeps_it():
    layers = [{"type": "pool", "mode": "max", "size": 3, "stride": 1}, {"type": "flatten"}, DENSE]
    pool = cnn(layers).layers[0]
    assert (pool.mode, pool.size, pool.stride) == ("max", 3, 1)
    assert pool.output_shape((2, 8, 8)) == (2, 6, 6)
