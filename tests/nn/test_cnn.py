"""The CNN model: building from a layer list, the model interface, whole-network gradients against
finite differences, a stable softmax, weight loading errors and a tiny overfit."""

import importlib.util
import warnings

import numpy as np
import pytest
from arrays import values
from conftest import numerical_gradient, relative_error
from helpers import compose_config

from nnexp.errors import ConfigError, WeightsError
from nnexp.nn.build import build_network
from nnexp.training.identity import plain

CNN_DEFAULTS = plain(compose_config(["model=cnn"]).model)
DEFAULT_LAYERS = CNN_DEFAULTS["layers"]                                   # conf/model/cnn.yaml
CLASSIC_LAYERS = plain(compose_config(["model=cnn_classic"]).model)["layers"]   # conf/model/cnn_classic.yaml


def build_cnn(cfg, input_shape, n_outputs, dtype=np.float32, rng=None):
    """The network of ``model=cnn`` with the keys of ``cfg`` changed."""
    return build_network({**CNN_DEFAULTS, **cfg}, input_shape, n_outputs, dtype, rng)

SMALL_LAYERS = [
    {"type": "conv", "filters": 3, "kernel": 3, "pad": 1},
    {"type": "activation", "name": "leaky_relu"},
    {"type": "pool", "mode": "max", "size": 2},
    {"type": "conv", "filters": 4, "kernel": 3},
    {"type": "activation", "name": "tanh"},
    {"type": "flatten"},
    {"type": "dense", "units": 5},
    {"type": "activation", "name": "sigmoid"},
    {"type": "dropout", "rate": 0.3},
    {"type": "dense", "units": None},
]
SMALL_SHAPE = (2, 8, 8)


def small_net(dtype=np.float64, **cfg):
    return build_cnn({"layers": SMALL_LAYERS, **cfg}, SMALL_SHAPE, 3, dtype,
                     np.random.default_rng(0))


def batch(n=4, k=3, seed=1):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, int(np.prod(SMALL_SHAPE))))
    return x, np.eye(k)[rng.integers(0, k, n)]


@pytest.mark.parametrize("mean", [True, False])
@pytest.mark.parametrize("cfg", [{}, {"conv_type": "dilated"}, {"conv_type": "separable"},
                                 {"output_activation": "sigmoid", "loss": "mse", "bias": False}])
def test_loss_and_grads_match_finite_differences(mean, cfg):
    net = small_net(**cfg)
    x, y = batch()

    def total():
        losses, _ = net.loss_and_grads(x, y, mean=mean, rng=np.random.default_rng(7))
        return losses.mean() if mean else losses.sum()

    losses, grads = net.loss_and_grads(x, y, mean=mean, rng=np.random.default_rng(7))
    assert losses.shape == (4,)
    assert len(grads) == len(values(net)) == len(net.parameters)
    for p, g in zip(values(net), grads):
        assert g.shape == p.shape and g.dtype == p.dtype
        assert relative_error(g, numerical_gradient(total, p)) < 1e-6


def test_mean_gradient_is_sum_over_n():
    net = small_net()
    x, y = batch(n=6)
    _, g_mean = net.loss_and_grads(x, y, mean=True, rng=np.random.default_rng(3))
    _, g_sum = net.loss_and_grads(x, y, mean=False, rng=np.random.default_rng(3))
    for a, b in zip(g_mean, g_sum):
        np.testing.assert_allclose(6 * a, b, rtol=1e-12, atol=1e-15)


def test_softmax_cross_entropy_is_exact_for_huge_logits():
    """Logits of order 1e5..1e7: each loss equals lse(z) - z_label computed in float64 from the same logits.
    Break tried: the clamped log of softmax (nnexp 0.2) caps every wrong answer at 87.3."""
    net = build_cnn({"layers": CLASSIC_LAYERS}, (1, 28, 28), 10, np.float32, np.random.default_rng(0))
    values(net)[-2] *= 1e6  # last dense W: logits of order 1e5..1e7
    x = np.random.default_rng(0).random((5, 784)).astype(np.float32)
    labels = [0, 1, 2, 3, 4]
    y = np.eye(10, dtype=np.float32)[labels]
    with warnings.catch_warnings(), np.errstate(over="raise", invalid="raise", divide="raise"):
        warnings.simplefilter("error")
        losses, grads = net.loss_and_grads(x, y)
        a = net.predict(x)
    z = net.logits(x).astype(np.float64)
    exact = z.max(axis=1) + np.log(np.exp(z - z.max(axis=1, keepdims=True)).sum(axis=1)) - z[range(5), labels]
    assert exact.max() > 1e4                               # far beyond what a clamped log can express
    np.testing.assert_allclose(losses, exact, rtol=1e-6)
    assert all(np.all(np.isfinite(g)) for g in grads)
    np.testing.assert_allclose(a.sum(axis=1), 1, rtol=1e-6)


def test_builds_the_classic_and_default_stacks():
    classic = build_cnn({"layers": CLASSIC_LAYERS}, (1, 28, 28), 10, np.float32, np.random.default_rng(0))
    assert classic.names == ["conv1", "leaky_relu1", "maxpool1", "conv2", "leaky_relu2", "maxpool2",
                             "flatten1", "dense1"]
    assert [p.shape for p in values(classic)] == [(8, 1, 5, 5), (8,), (16, 8, 5, 5), (16,), (10, 784), (10,)]
    assert list(classic.parameters) == ["W1", "b1", "W2", "b2", "W3", "b3"]
    assert [p.decays for p in classic.parameters.values()] == [True, False, True, False, True, False]
    assert all(p.dtype == np.float32 for p in values(classic))
    default = build_cnn({}, (1, 28, 28), 10, "float32")
    assert all(p.dtype == np.float32 for p in values(default))
    assert default.layers[-1].W.shape == (10, 128)
    assert sum(p.size for p in values(default)) == 32 * 9 + 32 + 64 * 32 * 9 + 64 + 3136 * 128 + 128 + 128 * 10 + 10


@pytest.mark.parametrize("layers", [CLASSIC_LAYERS, DEFAULT_LAYERS])
def test_conv_types_keep_every_output_shape(layers):
    shapes = {}
    for conv_type in ("standard", "dilated", "separable"):
        net = build_cnn({"layers": layers, "conv_type": conv_type}, (1, 28, 28), 10)
        shapes[conv_type] = [a.shape for _, a in net.feature_maps(np.zeros(784))]
    assert shapes["standard"] == shapes["dilated"] == shapes["separable"]
    dilated = build_cnn({"layers": layers, "conv_type": "dilated"}, (1, 28, 28), 10)
    assert dilated.layers[0].dilation == 2


def test_config_from_the_composed_schema():
    cfg = compose_config(["model=cnn", "model.conv_type=separable"]).model
    net = build_network(plain(cfg), (1, 28, 28), 10, np.float64, np.random.default_rng(0))
    assert list(net.parameters)[:3] == ["Wd1", "Wp1", "b1"]
    assert net.names[0] == "conv1" and net.layers[0].depthwise.W.shape == (1, 1, 3, 3)


@pytest.mark.parametrize("change,n_outputs,message", [
    ({"layers": SMALL_LAYERS[:-1] + [{"type": "dense", "units": 12}]}, 3, "units=12.*3 classes"),
    ({}, None, "n_outputs"),
    ({"layers": [{"type": "convolution", "filters": 2}]}, 3, "'convolution'"),
    ({"layers": [{"type": "conv", "filter": 2, "kernel": 3}]}, 3, "filter"),
    ({"layers": [{"type": "conv", "kernel": 3}]}, 3, "filters"),
    ({"layers": [{"type": "dense", "units": 4}, {"type": "dense", "units": None}]}, 3, "flatten"),
    ({"layers": SMALL_LAYERS[:-1]}, 3, "end with"),
    ({"layers": [{"type": "conv", "filters": 2, "kernel": 9}, {"type": "flatten"},
                 {"type": "dense", "units": None}]}, 3, "no output"),
    ({"layers": [{"type": "conv", "filters": 2, "kernel": 2}, {"type": "flatten"},
                 {"type": "dense", "units": None}], "conv_type": "dilated"}, 3, "odd kernels"),
    ({"conv_type": "atrous"}, 3, "atrous"),
    ({"init": "glorot"}, 3, "glorot"),
    ({"output_activation": "relu"}, 3, "cross_entropy"),
])
def test_config_errors_name_the_offending_value(change, n_outputs, message):
    cfg = {"layers": SMALL_LAYERS, **change}
    with pytest.raises(ConfigError, match=message):
        build_cnn(cfg, SMALL_SHAPE, n_outputs, np.float64, np.random.default_rng(0))


def test_predict_in_chunks_is_inference_mode():
    net = small_net()
    x, _ = batch(n=10)
    a = net.predict(x)
    assert a.shape == (10, 3)
    net.predict_rows = 3
    np.testing.assert_allclose(a, net.predict(x), rtol=1e-12)
    np.testing.assert_allclose(a, net.output.fn(net.forward(x)), rtol=1e-12)
    with pytest.raises(ValueError, match="input_shape"):
        net.predict(np.zeros((2, 100)))


def test_dropout_needs_rng_in_training():
    net = small_net()
    x, y = batch()
    with pytest.raises(ValueError, match="rng"):
        net.loss_and_grads(x, y)


def test_state_round_trip_through_npz_keeps_params_in_place(tmp_path):
    a, b = small_net(), build_cnn({"layers": SMALL_LAYERS}, SMALL_SHAPE, 3, np.float64,
                                  np.random.default_rng(5))
    np.savez(tmp_path / "w.npz", **a.state())
    before = [id(p) for p in values(b)]
    with np.load(tmp_path / "w.npz") as arrays:
        b.load_state(arrays)
    assert [id(p) for p in values(b)] == before
    for p, q in zip(values(a), values(b)):
        np.testing.assert_array_equal(p, q)
    x, _ = batch()
    np.testing.assert_allclose(a.predict(x), b.predict(x))
    state = a.state()
    state["W1"][...] = 0  # a copy, not the live parameter
    assert np.any(values(a)[0] != 0)


def test_load_state_errors_name_arrays_and_shapes():
    net = small_net()
    state = net.state()
    del state["b2"]
    state["W9"] = np.zeros(3)
    state["W3"] = np.zeros((7, 5))
    before = net.state()
    with pytest.raises(WeightsError) as err:
        net.load_state(state, source="w.npz")
    text = str(err.value)
    assert "w.npz" in text
    assert "missing b2" in text
    assert "unexpected W9" in text
    assert "W3 (7, 5) (expected (5, 16))" in text
    for key, p in net.state().items():  # nothing was copied
        np.testing.assert_array_equal(p, before[key])
    with pytest.raises(WeightsError, match="Wd1"):
        net.load_state(small_net(conv_type="separable").state())


def test_feature_maps_and_first_conv_filters():
    net = build_cnn({"layers": CLASSIC_LAYERS}, (1, 28, 28), 10, np.float64, np.random.default_rng(0))
    maps = net.feature_maps(np.random.default_rng(0).random(784))
    assert [(name, a.shape) for name, a in maps] == [
        ("input", (1, 28, 28)), ("conv1", (8, 28, 28)), ("leaky_relu1", (8, 28, 28)),
        ("maxpool1", (8, 14, 14)), ("conv2", (16, 14, 14)), ("leaky_relu2", (16, 14, 14)),
        ("maxpool2", (16, 7, 7)), ("flatten1", (784,)), ("dense1", (10,)), ("softmax", (10,))]
    np.testing.assert_allclose(maps[-1][1].sum(), 1)
    assert net.first_conv_filters() is values(net)[0]
    sep = build_cnn({"layers": CLASSIC_LAYERS, "conv_type": "separable"}, (1, 28, 28), 10)
    assert sep.first_conv_filters().shape == (8, 1, 5, 5)
    assert {a.dtype for _, a in sep.feature_maps(np.zeros(784))} == {np.dtype(np.float32)}   # the network's dtype


def test_tiny_cnn_overfits_random_images():
    rng = np.random.default_rng(0)
    x = rng.random((32, 64))
    labels = rng.integers(0, 4, 32)
    y = np.eye(4)[labels]
    layers = [{"type": "conv", "filters": 6, "kernel": 3, "pad": 1},
              {"type": "activation", "name": "relu"},
              {"type": "pool", "mode": "max", "size": 2},
              {"type": "flatten"},
              {"type": "dense", "units": None}]
    net = build_cnn({"layers": layers}, (1, 8, 8), 4, np.float64, np.random.default_rng(1))
    for _ in range(300):
        _, grads = net.loss_and_grads(x, y)
        for p, g in zip(values(net), grads):
            p -= 0.3 * g
    assert (net.predict(x).argmax(axis=1) == labels).mean() == 1.0


def test_weights_of_nnexp_0_2_load_into_the_same_network(tmp_path):
    """0.2 named a CNN's parameters by layer and kept a dense W as (in, out); an MLP's as W1..WL."""
    net = small_net()
    old = {"conv1.W": values(net)[0], "conv1.b": values(net)[1], "conv2.W": values(net)[2], "conv2.b": values(net)[3],
           "dense1.W": values(net)[4].T, "dense1.b": values(net)[5], "dense2.W": values(net)[6].T,
           "dense2.b": values(net)[7]}
    other = build_cnn({"layers": SMALL_LAYERS}, SMALL_SHAPE, 3, np.float64, np.random.default_rng(5))
    other.load_state(old)
    for p, q in zip(values(net), values(other)):
        np.testing.assert_array_equal(p, q)


def test_separable_weights_of_nnexp_0_2_load_and_other_keys_pass_through_unchanged():
    """0.2 named a separable layer's parts conv1.depthwise.W and conv1.pointwise.W; a key not of 0.2's
    form, or of a layer the network lacks, is kept as it is (loaded, or named as unexpected)."""
    net = small_net(conv_type="separable")
    state = net.state()
    old = {"conv1.depthwise.W": state["Wd1"], "conv1.pointwise.W": state["Wp1"], "conv1.b": state["b1"],
           "conv2.depthwise.W": state["Wd2"], "conv2.pointwise.W": state["Wp2"], "conv2.b": state["b2"],
           "W3": state["W3"], "dense1.b": state["b3"], "dense2.W": state["W4"].T, "dense2.b": state["b4"]}
    other = small_net(conv_type="separable", init="xavier")
    other.load_state(old)
    for key, array in state.items():
        np.testing.assert_array_equal(other.state()[key], array, err_msg=key)
    extra = {"conv9.W": np.zeros(2), "notes": np.zeros(1), **old}
    with pytest.raises(WeightsError) as err:
        other.load_state(extra, source="old.npz")
    assert str(err.value) == "old.npz does not fit the configured network: unexpected conv9.W, notes"
    with pytest.raises(WeightsError) as err:
        other.load_state({**old, "conv1.depthwise.W": np.zeros((3, 4))}, source="old.npz")
    assert str(err.value) == ("old.npz does not fit the configured network: wrong shape Wd1 (3, 4) "
                              "(expected (2, 1, 3, 3))")


numba_only = pytest.mark.skipif(importlib.util.find_spec("numba") is None, reason="numba is not installed")


@numba_only
@pytest.mark.parametrize("kernel,stride,pad,dilation", [((3, 3), 1, (1, 1), 1), ((3, 3), 2, (0, 0), 1),
                                                        ((5, 3), 1, (2, 1), 1), ((3, 3), 1, (2, 2), 2),
                                                        ((1, 1), 1, (0, 0), 1), ((2, 4), 3, (1, 0), 1)])
def test_compiled_im2col_and_col2im_equal_numpy_bit_for_bit(kernel, stride, pad, dilation):
    """The numba data movement copies and adds the same numbers in the same order as the NumPy reference:
    equal, not close; maps given as channel-major views, as the layers pass them."""
    from nnexp.nn import compiled_moves, conv

    rng = np.random.default_rng(3)
    x = rng.standard_normal((3, 5, 9, 11)).astype(np.float32).transpose(1, 0, 2, 3)   # (N=5, C=3, 9, 11)
    ho = conv.conv_output_size(9, kernel[0], stride, pad[0], dilation)
    wo = conv.conv_output_size(11, kernel[1], stride, pad[1], dilation)
    reference = conv.im2col(x, kernel, stride, pad, dilation)
    cols = compiled_moves.im2col(x, kernel, stride, pad, dilation, ho, wo)
    np.testing.assert_array_equal(cols, reference)
    dcols = rng.standard_normal(reference.shape).astype(np.float32)
    dx = compiled_moves.col2im(dcols, x.shape, kernel, stride, pad, dilation, ho, wo)
    np.testing.assert_array_equal(dx, conv.col2im(dcols, x.shape, kernel, stride, pad, dilation))
    assert cols.dtype == dx.dtype == np.float32


@numba_only
@pytest.mark.parametrize("size,stride", [(2, 2), (3, 3), (3, 2), (2, 1)])
def test_compiled_max_pooling_equals_numpy_bit_for_bit_with_ties(size, stride, monkeypatch):
    """Forward maxima and the routed error equal the reference's, overlapping windows and ties (the first
    maximum of a window takes the error) included."""
    from nnexp.nn import compiled_moves
    from nnexp.nn.conv import Pool2D

    monkeypatch.setattr(compiled_moves, "MIN_ELEMENTS", 0)   # these small maps too

    rng = np.random.default_rng(4)
    x = rng.integers(0, 3, (4, 6, 10, 9)).astype(np.float32).transpose(1, 0, 2, 3)   # many ties
    reference, compiled = Pool2D("max", size, stride), Pool2D("max", size, stride)
    compiled.compiled = compiled_moves
    out, compiled_out = reference.forward(x, train=True), compiled.forward(x, train=True)
    np.testing.assert_array_equal(compiled_out, out)
    assert compiled_out.dtype == np.float32
    dout = rng.standard_normal(out.shape).astype(np.float32)
    dx = compiled.backward(dout)
    np.testing.assert_array_equal(dx, reference.backward(dout))
    assert dx.dtype == np.float32


@numba_only
@pytest.mark.parametrize("cfg", [{}, {"conv_type": "dilated"}, {"conv_type": "separable"}])
def test_compiled_data_movement_trains_the_same_weights_and_its_gradients_match_finite_differences(cfg, monkeypatch):
    """Three SGD steps of the small CNN with compiled moves (relu included) end with the NumPy path's weights
    bit for bit, and its gradients pass the finite-difference check."""
    from nnexp.nn import compiled_moves

    monkeypatch.setattr(compiled_moves, "MIN_ELEMENTS", 0)
    cfg = {"layers": [{**layer, "name": "relu"} if layer["type"] == "activation" else layer
                      for layer in SMALL_LAYERS], **cfg}
    nets = [small_net(**cfg), small_net(**cfg)]
    assert nets[1].compile_data_movement(True, threads=2) and not nets[0].compile_data_movement(False)
    x, y = batch()
    for net in nets:
        for step in range(3):
            _, grads = net.loss_and_grads(x, y, rng=np.random.default_rng(step))
            for p, g in zip(values(net), grads):
                p -= 0.1 * g
    for reference, compiled in zip(*(values(net) for net in nets)):
        np.testing.assert_array_equal(compiled, reference)
    net = nets[1]

    def total():
        return net.loss_and_grads(x, y, rng=np.random.default_rng(7))[0].mean()

    _, grads = net.loss_and_grads(x, y, rng=np.random.default_rng(7))
    for p, g in zip(values(net), grads):
        assert relative_error(g, numerical_gradient(total, p)) < 1e-6


@numba_only
def test_compiled_relu_equals_numpy_bit_for_bit_with_nan_and_signed_zeros():
    from nnexp.nn import compiled_moves

    rng = np.random.default_rng(5)
    z = rng.standard_normal((3, 4, 5, 6)).astype(np.float32)
    z.flat[:4] = [np.nan, -0.0, 0.0, -np.inf]
    for layout in (z, z.transpose(1, 0, 2, 3), z[:, :, ::2]):        # C order, channel-major, neither
        a, reference = compiled_moves.relu(layout), np.maximum(layout, 0)
        assert a.tobytes() == reference.tobytes() and a.strides == reference.strides
        grad = rng.standard_normal(layout.shape).astype(np.float32)
        grad.flat[4] = np.nan
        assert compiled_moves.relu_backward(layout, grad).tobytes() == (grad * (layout > 0)).tobytes()


@numba_only
def test_compiled_relu_runs_numbas_loops_on_c_order_and_channel_major_memory_only(monkeypatch):
    """memory_order finds the C-contiguous array behind C-order and channel-major (C, N, H, W) maps, else None
    (a 2-D array in Fortran order, a strided slice): only those two go through numba's loops."""
    from nnexp.nn import compiled_moves

    z = np.random.default_rng(0).standard_normal((3, 2, 4, 5))
    channel_major = np.ascontiguousarray(z.transpose(1, 0, 2, 3)).transpose(1, 0, 2, 3)
    memory, axes = compiled_moves.memory_order(z)
    assert memory is z and axes == (0, 1, 2, 3)
    memory, axes = compiled_moves.memory_order(channel_major)
    assert axes == (1, 0, 2, 3) and memory.flags.c_contiguous and memory.shape == (2, 3, 4, 5)
    assert compiled_moves.memory_order(np.asfortranarray(z[0, 0])) is None
    assert compiled_moves.memory_order(z[:, :, ::2]) is None
    calls = []
    for name in ("_relu", "_relu_backward"):
        loop = getattr(compiled_moves, name)
        monkeypatch.setattr(compiled_moves, name, lambda *args, loop=loop, name=name: calls.append(name) or loop(*args))
    for layout in (z, channel_major, z[:, :, ::2]):
        np.testing.assert_array_equal(compiled_moves.relu(layout), np.maximum(layout, 0))
        np.testing.assert_array_equal(compiled_moves.relu_backward(layout, -layout), -layout * (layout > 0))
    assert calls == ["_relu", "_relu_backward"] * 2


@numba_only
def test_only_max_pooling_moves_compiled(monkeypatch):
    """A max pooling layer with compiled moves hands its forward to compiled_moves.max_pool; average pooling never."""
    from nnexp.nn import compiled_moves
    from nnexp.nn.conv import Pool2D

    monkeypatch.setattr(compiled_moves, "MIN_ELEMENTS", 0)
    calls, max_pool = [], compiled_moves.max_pool
    monkeypatch.setattr(compiled_moves, "max_pool", lambda *args: calls.append("max_pool") or max_pool(*args))
    x = np.random.default_rng(1).standard_normal((2, 3, 6, 6))
    for mode in ("max", "avg"):
        layer = Pool2D(mode, 2)
        layer.compiled = compiled_moves
        np.testing.assert_array_equal(layer.forward(x), Pool2D(mode, 2).forward(x))
    assert calls == ["max_pool"]


@numba_only
def test_compiled_data_movement_reaches_the_parts_of_a_separable_convolution():
    from nnexp.nn import compiled_moves

    net = small_net(conv_type="separable")
    assert net.compile_data_movement(True)
    assert [net.layers[i].pointwise.compiled for i in (0, 3)] == [compiled_moves, compiled_moves]
    assert not net.compile_data_movement(False) and net.layers[0].pointwise.compiled is None
