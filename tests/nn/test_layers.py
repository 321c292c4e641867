"""Every layer's backward against central finite differences (float64), the im2col convolution
against the naive loop one, pooling routes the error from above, and weight initialisation."""

import numpy as np
import pytest
from arrays import grads, values
from conftest import numerical_gradient, relative_error
from conv_oracle import conv2d_naive, conv2d_naive_backward

from nnexp.errors import ConfigError
from nnexp.nn.conv import Conv2D, DepthwiseConv2D, Pool2D, SeparableConv2D
from nnexp.nn.layers import Activation, Dense, Dropout, Flatten, Layer, Parameter, gradient

F64 = np.float64


def check_layer(layer, x, seed=0):
    """Analytic dx and parameter gradients of sum(forward(x) * dout) against finite differences."""
    def scalar():
        return np.sum(layer.forward(x, train=True, rng=np.random.default_rng(seed)) * dout)

    out = layer.forward(x, train=True, rng=np.random.default_rng(seed))
    dout = np.random.default_rng(99).standard_normal(out.shape)
    dx = layer.backward(dout)
    layer_grads = grads(layer)
    assert dx.shape == x.shape
    assert relative_error(dx, numerical_gradient(scalar, x)) < 1e-6
    assert len(layer_grads) == len(values(layer))
    for p, g in zip(values(layer), layer_grads):
        assert g.shape == p.shape
        assert relative_error(g, numerical_gradient(scalar, p)) < 1e-6


def make(cls, *args, seed=1, **kwargs):
    return cls(*args, rng=np.random.default_rng(seed), dtype=F64, **kwargs)


def images(shape, seed=2):
    return np.random.default_rng(seed).standard_normal(shape)


CONV_CASES = [
    dict(kernel_size=3),
    dict(kernel_size=3, pad=1),
    dict(kernel_size=3, stride=2, pad=1),
    dict(kernel_size=3, dilation=2, pad=2),
    dict(kernel_size=(2, 3), stride=2, pad=(1, 0), dilation=2),
    dict(kernel_size=3, bias=False),
]


@pytest.mark.parametrize("case", CONV_CASES)
def test_conv_backward_matches_finite_differences(case):
    layer = make(Conv2D, 2, 3, **case)
    if layer.b is not None:
        layer.b[...] = np.random.default_rng(3).standard_normal(3)
    check_layer(layer, images((2, 2, 7, 6)))


THIN_CASES = [dict(kernel_size=(2, 1)), dict(kernel_size=(1, 2)), dict(kernel_size=1, pad=(1, 0)),
              dict(kernel_size=1, pad=(0, 1)), dict(kernel_size=1, stride=2), dict(kernel_size=1)]
"""Kernels one wide or tall, and 1x1 kernels with padding or a stride: beside the 1x1 shortcut of im2col and col2im."""


@pytest.mark.parametrize("case", THIN_CASES)
def test_thin_and_padded_1x1_convolutions_match_the_naive_one(case):
    assert_conv_matches_naive(case)


@pytest.mark.parametrize("case", CONV_CASES)
def test_conv_matches_naive_forward_and_backward(case):
    assert_conv_matches_naive(case)


def assert_conv_matches_naive(case):
    """Conv2D's forward, dx, dW and db against the naive loop convolution (tests/nn/conv_oracle.py)."""
    layer = make(Conv2D, 3, 4, **case)
    if layer.b is not None:
        layer.b[...] = np.arange(4.0)
    x = images((2, 3, 8, 7))
    stride, pad, dilation = case.get("stride", 1), case.get("pad", 0), case.get("dilation", 1)
    out = layer.forward(x, train=True)
    expected = conv2d_naive(x, layer.W, layer.b, stride, pad, dilation)
    assert out.shape == expected.shape
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)
    dout = images(out.shape, seed=5)
    dx = layer.backward(dout)
    ndx, ndW, ndb = conv2d_naive_backward(dout, x, layer.W, stride, pad, dilation)
    np.testing.assert_allclose(dx, ndx, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(grads(layer)[0], ndW, rtol=1e-12, atol=1e-12)
    if layer.b is not None:
        np.testing.assert_allclose(grads(layer)[1], ndb, rtol=1e-12, atol=1e-12)


def test_conv_output_shape_is_the_forward_shape():
    layer = make(Conv2D, 2, 5, kernel_size=(3, 2), stride=2, pad=(2, 1), dilation=2)
    assert layer.forward(images((3, 2, 9, 8))).shape == (3, *layer.output_shape((2, 9, 8)))


@pytest.mark.parametrize("case", [dict(kernel_size=3, pad=1), dict(kernel_size=3, stride=2, dilation=2, pad=2)])
def test_depthwise_and_separable_backward_match_finite_differences(case):
    check_layer(make(DepthwiseConv2D, 3, bias=True, **case), images((2, 3, 6, 7)))
    sep = make(SeparableConv2D, 3, 4, **case)
    sep.pointwise.b[...] = 0.3
    check_layer(sep, images((2, 3, 6, 7)))


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("case", [dict(kernel_size=3), dict(kernel_size=3, pad=1, stride=2),
                                  dict(kernel_size=3, pad=2, dilation=2)])
def test_separable_matches_naive_depthwise_then_pointwise(case, channels):
    sep = make(SeparableConv2D, channels, 4, **case)
    sep.pointwise.b[...] = [0.5, -1.0, 2.0, 0.0]
    x = images((2, channels, 8, 8))
    stride, pad, dilation = case.get("stride", 1), case.get("pad", 0), case.get("dilation", 1)
    wd, wp, b = sep.depthwise.W, sep.pointwise.W, sep.pointwise.b
    depth = np.concatenate([conv2d_naive(x[:, [c]], wd[[c]], None, stride, pad, dilation)
                            for c in range(channels)], axis=1)
    expected = conv2d_naive(depth, wp, b)
    out = sep.forward(x, train=True)
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)
    # the effective filters Wp[f, c] Wd[c] give the same output as one standard convolution
    np.testing.assert_allclose(conv2d_naive(x, sep.filters, b, stride, pad, dilation), expected,
                               rtol=1e-12, atol=1e-12)
    dout = images(out.shape, seed=7)
    dx = sep.backward(dout)
    ddepth, dwp, db = conv2d_naive_backward(dout, depth, wp)
    parts = [conv2d_naive_backward(ddepth[:, [c]], x[:, [c]], wd[[c]], stride, pad, dilation)
             for c in range(channels)]
    np.testing.assert_allclose(dx, np.concatenate([p[0] for p in parts], axis=1), atol=1e-12)
    np.testing.assert_allclose(grads(sep)[0], np.concatenate([p[1] for p in parts]), atol=1e-12)
    np.testing.assert_allclose(grads(sep)[1], dwp, atol=1e-12)
    np.testing.assert_allclose(grads(sep)[2], db, atol=1e-12)


def test_first_layer_skips_the_input_gradient_but_not_its_own():
    layer = make(Conv2D, 2, 3, kernel_size=3)
    x = images((2, 2, 5, 5))
    dout = images((2, 3, 3, 3), seed=4)
    layer.forward(x, train=True)
    layer.backward(dout)
    full = [g.copy() for g in grads(layer)]
    layer.input_grad = False
    layer.forward(x, train=True)
    assert layer.backward(dout) is None
    for a, b in zip(full, grads(layer)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("mode", ["max", "avg"])
@pytest.mark.parametrize("size,stride,hw", [(2, None, (6, 6)), (2, None, (7, 5)), (3, 2, (7, 8)),
                                            (3, 1, (5, 5))])
def test_pool_backward_matches_finite_differences(mode, size, stride, hw):
    check_layer(Pool2D(mode, size, stride), images((2, 3, *hw)))


def naive_maxpool_backward(x, dout, size, stride):
    """Error routed to the first maximum of each window, by loops."""
    dx = np.zeros_like(x)
    n, c, ho, wo = dout.shape
    for s in range(n):
        for k in range(c):
            for p in range(ho):
                for q in range(wo):
                    window = x[s, k, p * stride:p * stride + size, q * stride:q * stride + size]
                    i, j = np.unravel_index(np.argmax(window), window.shape)
                    dx[s, k, p * stride + i, q * stride + j] += dout[s, k, p, q]
    return dx


@pytest.mark.parametrize("size,stride", [(2, 2), (3, 2)])
def test_maxpool_routes_the_error_from_above_once_per_window_even_on_ties(size, stride):
    # ties everywhere: values from {0, 1}, like a conv's constant response on a blank background
    x = np.random.default_rng(0).integers(0, 2, size=(2, 2, 7, 7)).astype(F64)
    pool = Pool2D("max", size, stride)
    out = pool.forward(x, train=True)
    dout = images(out.shape, seed=3)
    dx = pool.backward(dout)
    np.testing.assert_allclose(dx, naive_maxpool_backward(x, dout, size, stride))
    np.testing.assert_allclose(dx.sum(), dout.sum())


def test_maxpool_backward_carries_the_error_not_the_activation():
    x = np.array([[[[1.0, 5.0], [2.0, 3.0]]]])
    pool = Pool2D("max", 2)
    assert pool.forward(x, train=True).item() == 5.0
    dx = pool.backward(np.array([[[[0.25]]]]))
    np.testing.assert_array_equal(dx, [[[[0.0, 0.25], [0.0, 0.0]]]])


def test_avgpool_values_and_unknown_mode():
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    np.testing.assert_allclose(Pool2D("avg", 2).forward(x)[0, 0], [[2.5, 4.5], [10.5, 12.5]])
    with pytest.raises(ConfigError, match="median"):
        Pool2D("median", 2)


@pytest.mark.parametrize("in_out_order", [False, True])
def test_flatten_and_dense_backward(in_out_order):
    check_layer(Flatten(), images((2, 3, 2, 2)))
    dense = make(Dense, 5, 4, in_out_order=in_out_order)
    dense.b[...] = [0.1, -0.2, 0.3, 0.0]
    check_layer(dense, images((3, 5)))
    x = images((3, 5))
    np.testing.assert_allclose(dense.forward(x), x @ dense.W.T + dense.b)
    assert dense.W.shape == (4, 5) and dense.W.flags.c_contiguous     # (out, in), as BLAS kernels read it


def test_dense_in_out_order_draws_the_transpose_of_the_same_numbers():
    plain = Dense(5, 4, rng=np.random.default_rng(3))
    legacy = Dense(5, 4, rng=np.random.default_rng(3), in_out_order=True)
    np.testing.assert_array_equal(legacy.W, np.random.default_rng(3).normal(0, np.sqrt(2 / 5), (5, 4))
                                  .astype(np.float32).T)
    assert not np.array_equal(plain.W, legacy.W)


@pytest.mark.parametrize("name", ["relu", "leaky_relu", "sigmoid", "tanh", "identity"])
def test_activation_layer_backward(name):
    check_layer(Activation(name), images((2, 3, 4, 4)))


def test_activation_layer_rejects_softmax_and_unknown_names():
    with pytest.raises(ConfigError, match="softmax"):
        Activation("softmax")
    with pytest.raises(ConfigError, match="swish"):
        Activation("swish")


def test_dropout_is_inverted_seeded_and_identity_at_inference():
    x = np.ones((200, 50))
    drop = Dropout(0.3)
    out = drop.forward(x, train=True, rng=np.random.default_rng(0))
    assert set(np.unique(out)) <= {0.0, 1 / 0.7}
    assert abs(out.mean() - 1.0) < 0.02
    np.testing.assert_array_equal(out, drop.forward(x, train=True, rng=np.random.default_rng(0)))
    assert drop.forward(x) is x
    np.testing.assert_array_equal(drop.backward(x), x)
    check_layer(Dropout(0.5), images((3, 4)))
    with pytest.raises(ValueError, match="rng"):
        drop.forward(x, train=True)
    with pytest.raises(ConfigError, match="1.5"):
        Dropout(1.5)


def test_inference_forward_keeps_no_cache():
    layer = make(Conv2D, 1, 2, kernel_size=3)
    layer.forward(images((1, 1, 5, 5)))
    assert not hasattr(layer, "cache")


def test_depthwise_separable_and_activation_layers_keep_no_cache_at_inference():
    depthwise, separable = make(DepthwiseConv2D, 2, kernel_size=3), make(SeparableConv2D, 2, 3, kernel_size=3)
    depthwise.forward(images((1, 2, 5, 5)))
    separable.forward(images((1, 2, 5, 5)))
    assert not any(hasattr(part, "cache") for part in (depthwise, *separable.parts))
    activation = Activation("tanh")
    activation.forward(images((2, 3)))
    assert not hasattr(activation, "cache")


def test_a_gradient_asked_before_backprop_says_so():
    with pytest.raises(ValueError) as err:
        gradient(Parameter(np.zeros(2), "W", True))
    assert str(err.value) == "parameter W has no gradient: call the network's backprop first"


def test_depthwise_and_separable_layers_draw_each_part_as_asked():
    """A depthwise layer's bias (added per channel), dtype and fans (xavier: r = sqrt(6 / (kh kw + kh kw)));
    a separable layer's depthwise part drawn with the init, limit and dtype asked (only he becomes normal)."""
    depthwise = DepthwiseConv2D(3, (2, 3), bias=True, rng=np.random.default_rng(0))
    assert depthwise.W.dtype == np.float32 and depthwise.b.dtype == np.float32 and depthwise.b.shape == (3,)
    depthwise.b[...] = [1.0, -2.0, 0.5]
    out = depthwise.forward(np.zeros((2, 3, 4, 4), np.float32))
    np.testing.assert_array_equal(out, np.broadcast_to(np.float32([1.0, -2.0, 0.5])[None, :, None, None], (2, 3, 3, 2)))
    wide = DepthwiseConv2D(500, 3, init="xavier", rng=np.random.default_rng(0))
    assert np.sqrt(6 / 18) * 0.99 < np.abs(wide.W).max() <= np.sqrt(6 / 18)
    separable = SeparableConv2D(64, 8, 3, init="uniform", uniform_limit=0.125, dtype=np.float32,
                                rng=np.random.default_rng(0))
    for p in separable.parameters:
        assert p.value.dtype == np.float32, p.name
    for w in (separable.depthwise.W, separable.pointwise.W):
        assert 0.12 < np.abs(w).max() <= 0.125
    again = SeparableConv2D(64, 8, 3, init="uniform", uniform_limit=0.125, dtype=np.float32,
                            rng=np.random.default_rng(0))
    for p, q in zip(separable.parameters, again.parameters):   # both parts drawn from the generator given
        np.testing.assert_array_equal(p.value, q.value)


def test_he_init_uses_the_fan_in_of_each_layer():
    conv = Conv2D(16, 64, 5, rng=np.random.default_rng(0))
    assert conv.W.dtype == np.float32 and conv.b.dtype == np.float32
    assert abs(conv.W.std() / np.sqrt(2 / (16 * 25)) - 1) < 0.03
    assert not conv.b.any()
    assert [(p.name, p.decays) for p in conv.parameters] == [("W", True), ("b", False)]
    assert [p.name for p in SeparableConv2D(2, 3, 3, rng=np.random.default_rng(0)).parameters] == ["Wd", "Wp", "b"]
    dense = Dense(400, 300, rng=np.random.default_rng(0))
    assert dense.W.shape == (300, 400) and dense.b.shape == (300,)
    assert abs(dense.W.std() / np.sqrt(2 / 400) - 1) < 0.03
    sep = SeparableConv2D(32, 64, 3, rng=np.random.default_rng(0))
    # the depthwise part is linear (no activation before the pointwise one): variance 1 / fan_in
    assert abs(sep.depthwise.W.std() / np.sqrt(1 / 9) - 1) < 0.1
    assert abs(sep.pointwise.W.std() / np.sqrt(2 / 32) - 1) < 0.05


def test_init_names_reach_the_initializers():
    w = Dense(300, 200, init="uniform", uniform_limit=0.3, rng=np.random.default_rng(0)).W
    assert np.abs(w).max() <= 0.3 and abs(w.std() / (0.3 / np.sqrt(3)) - 1) < 0.03
    with pytest.raises(ConfigError, match="glorot"):
        Conv2D(1, 2, 3, init="glorot", rng=np.random.default_rng(0))


def test_every_layer_is_a_layer_with_a_readable_repr():
    """The contract is the abstract base class: a layer without backward cannot be made."""
    class Half(Layer):
        def forward(self, x, train=False, rng=None):
            return x / 2

        def __repr__(self):
            return "Half()"

    with pytest.raises(TypeError, match="backward, parameters"):
        Half()
    rng = np.random.default_rng(0)
    layers = [Dense(4, 3, rng=rng), Dense(4, 3, bias=False, rng=rng), Conv2D(2, 3, (3, 2), pad=1, rng=rng),
              DepthwiseConv2D(2, 3, rng=rng), SeparableConv2D(2, 5, 3, bias=False, rng=rng), Pool2D("avg", 3, 2),
              Activation("relu"), Flatten(), Dropout(0.25)]
    assert all(isinstance(layer, Layer) for layer in layers)
    assert [repr(layer) for layer in layers] == [
        "Dense(4 -> 3, bias)", "Dense(4 -> 3, no bias)",
        "Conv2D(2 -> 3, kernel 3x2, stride 1, pad 1x1, dilation 1, bias)",
        "DepthwiseConv2D(2, kernel 3x3, stride 1, pad 0x0, dilation 1, no bias)",
        "SeparableConv2D(2 -> 5, kernel 3x3, stride 1, pad 0x0, dilation 1, no bias)",
        "Pool2D(avg, size 3, stride 2)", "Activation(relu)", "Flatten()", "Dropout(0.25)"]


def test_flatten_and_dense_inference_forward_keeps_no_cache():
    """Break tried: Flatten.forward defaulting to train=True."""
    flatten, dense = Flatten(), make(Dense, 3, 2)
    np.testing.assert_array_equal(flatten.forward(np.arange(6.0).reshape(1, 2, 3)), [[0, 1, 2, 3, 4, 5]])
    dense.forward(images((2, 3)))
    assert not hasattr(flatten, "cache") and not hasattr(dense, "cache")


@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("in_out_order", [False, True])
def test_dense_backward_exact_gradients_with_and_without_bias(in_out_order, batch):
    """dW = dout^T x, computed as (x^T dout)^T for in_out_order (a transposed, Fortran-ordered result: the
    nnexp 0.2 order of operations) and C-ordered otherwise; db = sum of dout; dx = dout W; a first layer
    (input_grad False) returns None. Breaks tried: in_out_order ignored or always taken, dx returned
    for a first layer."""
    x = images((batch, 5))
    dout = images((batch, 4), seed=5)
    for bias in (True, False):
        dense = make(Dense, 5, 4, bias=bias, in_out_order=in_out_order)
        dense.forward(x, train=True)
        np.testing.assert_array_equal(dense.backward(dout), dout @ dense.W)
        dw = grads(dense)[0]
        np.testing.assert_allclose(dw, dout.T @ x, rtol=1e-13)
        if in_out_order:
            np.testing.assert_array_equal(dw, (x.T @ dout).T)
        assert dw.flags.c_contiguous != in_out_order
        if bias:
            np.testing.assert_array_equal(grads(dense)[1], dout.sum(axis=0))
        else:
            assert len(grads(dense)) == 1
        dense.input_grad = False
        dense.forward(x, train=True)
        assert dense.backward(dout) is None
        np.testing.assert_array_equal(grads(dense)[0], dw)


def test_outer_product_sum_takes_np_dot_for_a_batch_of_one_only(monkeypatch):
    """The documented fast path (np.dot for an inner dimension of 1, matmul otherwise); both give the same
    numbers, so only the route tells them apart. Breaks tried: the test inverted, == 2, always / never."""
    from nnexp.nn import layers

    calls = []
    dot = np.dot
    monkeypatch.setattr(np, "dot", lambda *a: calls.append(a[0].shape) or dot(*a))
    for batch in (1, 2, 3):
        dout, x = images((batch, 4)), images((batch, 5), seed=3)
        np.testing.assert_allclose(layers.outer_product_sum(dout, x), dout.T @ x, rtol=1e-13)
    assert calls == [(4, 1)]


class FakeMoves:
    """Stands in for nnexp.nn.compiled_moves: records which of its relu functions a layer called."""

    MIN_ELEMENTS = 6

    def __init__(self):
        self.calls = []

    def relu(self, z):
        self.calls.append("relu")
        return np.maximum(z, 0)

    def relu_backward(self, z, g):
        self.calls.append("relu_backward")
        return g * (z > 0)


@pytest.mark.parametrize("name", ["relu", "tanh", "leaky_relu"])
def test_only_relu_moves_compiled_and_from_min_elements_on(name):
    """Relu hands forward and backward to the compiled module from MIN_ELEMENTS entries on (6 here: a (2, 3)
    batch), not below; the other activations never do. Breaks tried: size > MIN_ELEMENTS, the name test
    of backward inverted or misspelt."""
    layer = Activation(name)
    layer.compiled = FakeMoves()
    for shape, moved in (((2, 3), name == "relu"), ((1, 5), False)):
        z, dout = images(shape), images(shape, seed=6)
        a = layer.forward(z, train=True)
        np.testing.assert_array_equal(layer.backward(dout), layer.fn.backward(z, a, dout))
        assert layer.compiled.calls == (["relu", "relu_backward"] if moved else [])
        layer.compiled.calls.clear()


class EdgeRng:
    """A generator whose uniform draws are all exactly ``u``."""

    def __init__(self, u):
        self.u = u

    def random(self, shape):
        return np.full(shape, self.u)


def test_dropout_mask_scale_dtype_threshold_and_rate_bounds():
    """Keep where u < 1 - rate (u = 1 - rate drops), scale by 1 / (1 - rate) in x's dtype; rate 0 is the
    identity even in training (no rng needed); rate 1 is refused. Breaks tried: u <= keep, a float64 mask
    or scale, rate == 1.0 as the identity test, 0 < rate, rate <= 1, the rng message."""
    x = np.float32([[2.0, -4.0], [1.0, 8.0]])
    drop = Dropout(0.25)
    kept = drop.forward(x, train=True, rng=EdgeRng(np.nextafter(0.75, 0)))
    assert kept.dtype == np.float32 and drop.backward(x).dtype == np.float32
    np.testing.assert_array_equal(kept, x / np.float32(0.75))
    np.testing.assert_array_equal(drop.backward(x), x / np.float32(0.75))
    np.testing.assert_array_equal(drop.forward(x, train=True, rng=EdgeRng(0.75)), np.zeros_like(x))
    real = drop.forward(x, train=True, rng=np.random.default_rng(0))
    assert real.dtype == np.float32 and set(np.unique(real / x)) <= {0.0, np.float32(1 / 0.75)}
    with pytest.raises(ValueError, match=r"^dropout in training mode needs rng=np\.random\.Generator$"):
        drop.forward(x, train=True)
    off = Dropout(0.0)
    assert off.forward(x, train=True) is x and off.backward(x) is x
    with pytest.raises(ConfigError, match=r"in \[0, 1\), got 1\.0$"):
        Dropout(1.0)


def test_conv_xavier_init_uses_the_fans_of_every_kernel_offset():
    """Xavier's range r = sqrt(6 / (fan_in + fan_out)) with fan_in = C kh kw and fan_out = F kh kw."""
    conv = Conv2D(4, 50, 3, init="xavier", rng=np.random.default_rng(0))
    r = np.sqrt(6 / (4 * 9 + 50 * 9))
    assert r * 0.99 < np.abs(conv.W).max() <= r


def test_pool_defaults_to_2x2_max_windows_and_keeps_no_cache_at_inference():
    pool = Pool2D()
    assert (pool.mode, pool.size, pool.stride) == ("max", 2, 2)
    pool.forward(images((1, 2, 4, 4)))
    assert not hasattr(pool, "cache")
    with pytest.raises(ConfigError) as err:
        Pool2D("median")
    assert str(err.value) == "unknown pool mode 'median'; choose one of max, avg"
