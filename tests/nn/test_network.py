import itertools

import numpy as np
import pytest
from arrays import values
from conftest import numerical_gradient, relative_error

from nnexp.errors import ConfigError, WeightsError
from nnexp.nn.activations import ACTIVATIONS, HIDDEN_ACTIVATIONS, get_activation
from nnexp.nn.build import build_network, mlp
from nnexp.nn.kernels import numba_available
from nnexp.nn.layers import Parameter, gradient
from nnexp.nn.losses import make_loss
from nnexp.nn.optim import SGD

CNN = {"name": "cnn", "output_activation": "sigmoid", "loss": "mse", "init": "normal", "bias": False,
       "uniform_limit": 0.5}
"""A layer list's model section (its layers added by each test)."""
OUTPUTS = ("sigmoid", "softmax", "tanh", "relu", "leaky_relu", "identity")
COMBINATIONS = [(h, o, loss, bias)
                for h, o, loss, bias in itertools.product(HIDDEN_ACTIVATIONS, OUTPUTS, ("mse", "cross_entropy"),
                                                          (False, True))
                if loss == "mse" or o in ("sigmoid", "softmax")]


def targets_for(output, rng, n, k):
    """Targets an output activation can reach: probability rows for softmax, (0, 1) otherwise."""
    if output == "softmax":
        return rng.dirichlet(np.ones(k), n)
    return rng.uniform(0.05, 0.95, (n, k))


@pytest.mark.parametrize("hidden,output,loss,bias", COMBINATIONS)
@pytest.mark.parametrize("mean", [True, False])
def test_backward_matches_finite_differences(hidden, output, loss, bias, mean, rng):
    net = mlp([3, 5, 4, 3], activation=hidden, output_activation=output, loss=loss, init="xavier", bias=bias,
              dtype=np.float64, rng=rng)
    x = rng.normal(size=(6, 3))
    y = targets_for(output, rng, 6, 3)

    def cost():
        z = net.forward(x)
        losses = net.loss.fn(z, net.output.fn(z), y)
        return losses.mean() if mean else losses.sum()

    _, grads = net.loss_and_grads(x, y, mean=mean)
    assert len(grads) == len(values(net))
    for param, grad in zip(values(net), grads):
        assert relative_error(grad, numerical_gradient(cost, param)) < 1e-6


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation_backward_matches_finite_differences(name, rng):
    f = ACTIVATIONS[name]
    z = rng.normal(size=(4, 5))
    g = rng.normal(size=(4, 5))
    numeric = numerical_gradient(lambda: float((f.fn(z) * g).sum()), z)
    assert relative_error(f.backward(z, f.fn(z), g), numeric) < 1e-6


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation_into_forms_write_what_fn_and_backward_return(name, dtype, rng):
    """fn_into and backward_into (the kernels' forms, one sample's vector) write exactly the values and
    dtype of fn and backward into buffers that held garbage (NaN, True), whatever their scratch held."""
    f = ACTIVATIONS[name]
    z = np.concatenate([rng.normal(size=6), [0.0, -0.0]]).astype(dtype)
    a, g = f.fn(z), rng.normal(size=8).astype(dtype)
    into = np.full_like(z, np.nan)
    f.fn_into(z, into)
    np.testing.assert_array_equal(into, a)
    out, t, m = np.full_like(z, np.nan), np.full_like(z, np.nan), np.ones(8, dtype=bool)
    f.backward_into(z, a, g, out, t, m, np.ones_like(z))
    expected = f.backward(z, a, g)
    assert expected.dtype == dtype
    np.testing.assert_allclose(out, expected, rtol=1e-6 if dtype == np.float32 else 1e-15, atol=0)


@pytest.mark.parametrize("name", [n for n, f in ACTIVATIONS.items() if f.inverse is not None])
def test_inverse_undoes_activation(name, rng):
    f = ACTIVATIONS[name]
    z = rng.normal(size=(3, 4))
    np.testing.assert_allclose(f.inverse(f.fn(z)), z, rtol=1e-9, atol=1e-9)


def test_leaky_relu_values_slope_and_derivative_at_zero_in_float32():
    """s z below zero, z above; the derivative at z = 0 is the slope s, as backward_into (the kernels') has it.
    Breaks tried: z >= 0 in backward (1 at zero), a float64 result for float32 inputs."""
    f = ACTIVATIONS["leaky_relu"]
    z = np.array([[-2.0, 0.0, 3.0]], dtype=np.float32)
    g = np.array([[5.0, 7.0, 11.0]], dtype=np.float32)
    np.testing.assert_array_equal(f.fn(z), np.float32([[-0.02, 0.0, 3.0]]))
    back = f.backward(z, f.fn(z), g)
    assert back.dtype == np.float32
    np.testing.assert_array_equal(back, g * np.float32([[0.01, 0.01, 1.0]]))
    out, t, m = np.empty_like(z), np.empty_like(z), np.empty(z.shape, dtype=bool)
    f.backward_into(z, f.fn(z), g, out, t, m, np.ones_like(z))
    np.testing.assert_array_equal(back, out)
    np.testing.assert_array_equal(f.inverse(np.float32([-0.02, 0.0, 3.0])), np.float32([-2.0, 0.0, 3.0]))


def test_softmax_and_its_backward_run_along_the_last_axis():
    """One sample's vector (1-D) and a stack (2, 2, 3) give, along their last axis, what each row gives alone.
    Break tried: axis=+1 instead of -1 in the max, the sum or the backward's sum."""
    f = ACTIVATIONS["softmax"]
    z = np.array([[[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]], [[-1.0, 5.0, 2.0], [4.0, 4.0, -4.0]]])
    g = np.array([[[1.0, -2.0, 0.5], [3.0, 0.0, 1.0]], [[0.0, 1.0, -1.0], [2.0, 2.0, 2.0]]])
    for i, j in itertools.product(range(2), range(2)):
        row = f.fn(z[i, j])
        np.testing.assert_allclose(row, np.exp(z[i, j]) / np.exp(z[i, j]).sum(), rtol=1e-15)
        np.testing.assert_array_equal(f.fn(z)[i, j], row)
        np.testing.assert_array_equal(f.backward(z, f.fn(z), g)[i, j], f.backward(z[i, j], row, g[i, j]))
        np.testing.assert_allclose(f.backward(z[i, j], row, g[i, j]), row * (g[i, j] - (g[i, j] * row).sum()),
                                   rtol=1e-15)
    np.testing.assert_allclose(f.fn(np.array([0.0, np.log(3.0)])), [0.25, 0.75], rtol=1e-15)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("scale", [1.0, 1e3, 1e6])
def test_softmax_cross_entropy_is_exact_for_logits_of_any_size(dtype, scale):
    """The loss of a confident wrong answer is the logit gap, not a capped value.
    Break tried: log(max(softmax(z), tiny)) (nnexp 0.2) gives 87.3 (float32) / 690.8 (float64) at gap 1600."""
    softmax = ACTIVATIONS["softmax"]
    loss = make_loss("cross_entropy", softmax)
    z = (np.array([[1.6, 0.0, -1.6], [-0.8, 0.8, 0.0], [0.2, 0.1, 0.0]]) * scale).astype(dtype)
    y = np.eye(3, dtype=dtype)[[1, 0, 2]]
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        values = loss.fn(z, softmax.fn(z), y)
    z64 = z.astype(np.float64)
    exact = [np.log(np.exp(row - row.max()).sum()) + row.max() - row[k] for row, k in zip(z64, [1, 0, 2])]
    np.testing.assert_allclose(values, exact, rtol=1e-6 if dtype == np.float32 else 1e-12)
    if scale == 1e3:
        assert values[0] == pytest.approx(1600.0, rel=1e-6) and values[1] == pytest.approx(1600.0, rel=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_cross_entropy_is_softplus_of_the_logits(dtype):
    """Binary cross-entropy from the logits: exact where sigmoid(z) rounds to 0 or 1.
    Break tried: the clamped log of the sigmoid output (nnexp 0.2) caps z = 2000 at 87.3 / 690.8."""
    sigmoid = ACTIVATIONS["sigmoid"]
    loss = make_loss("cross_entropy", sigmoid)
    z = np.array([[2000.0, -2000.0], [3.0, -0.5]], dtype=dtype)
    y = np.array([[0.0, 1.0], [0.99, 0.01]], dtype=dtype)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        values = loss.fn(z, sigmoid.fn(z), y)
    z64, y64 = z.astype(np.float64), y.astype(np.float64)
    exact = (np.logaddexp(0, z64) - y64 * z64).sum(axis=1)     # -[y log s + (1-y) log(1-s)]
    assert values[0] == pytest.approx(4000.0, rel=1e-6)
    np.testing.assert_allclose(values, exact, rtol=1e-6)
    a = 1 / (1 + np.exp(-z64[1]))
    direct = -(y64[1] * np.log(a) + (1 - y64[1]) * np.log(1 - a)).sum()
    assert values[1] == pytest.approx(direct, rel=1e-6)


def test_cross_entropy_gradient_with_classic_targets_matches_finite_differences(rng):
    """Sigmoid + cross-entropy with the classic 0.01 / 0.99 targets: delta = a - y is the exact gradient.
    Break tried: delta = a * (1 - a) * (a - y) fails this by orders of magnitude."""
    net = mlp([4, 5, 3], output_activation="sigmoid", loss="cross_entropy", bias=True, init="xavier",
              dtype=np.float64, rng=rng)
    x = rng.normal(size=(6, 4)) * 3
    y = np.full((6, 3), 0.01)
    y[np.arange(6), rng.integers(0, 3, 6)] = 0.99

    def cost():
        z = net.forward(x)
        return net.loss.fn(z, net.output.fn(z), y).mean()

    _, grads = net.loss_and_grads(x, y)
    for param, grad in zip(values(net), grads):
        assert relative_error(grad, numerical_gradient(cost, param)) < 1e-6


def test_softmax_cross_entropy_refuses_targets_that_are_not_distributions():
    """With rows summing to 1.08 (classic 0.01/0.99), a - y is not the gradient of the loss: refused.
    Break tried: skipping check_targets lets such a run train on a gradient off by 1.5-2.3%."""
    loss = make_loss("cross_entropy", ACTIVATIONS["softmax"])
    classic = np.full((4, 10), 0.01)
    classic[np.arange(4), [1, 2, 3, 4]] = 0.99
    with pytest.raises(ConfigError, match="sums to 1.08.*data.scaling=standard"):
        loss.check_targets(classic)
    loss.check_targets(np.eye(10, dtype=np.float32)[[1, 2, 3]])         # one-hot: fine
    make_loss("cross_entropy", ACTIVATIONS["sigmoid"]).check_targets(classic)   # binary: fine
    make_loss("mse", ACTIVATIONS["softmax"]).check_targets(classic)


def test_cross_entropy_needs_a_probability_output():
    with pytest.raises(ConfigError, match="softmax or sigmoid"):
        make_loss("cross_entropy", get_activation("relu"))


def test_an_unknown_activation_is_named_with_its_place_and_the_choices_there():
    """softmax is not a hidden activation; the message says which place refused it and lists that place's choices."""
    with pytest.raises(ConfigError) as err:
        mlp([2, 2, 2], activation="softmax")
    assert str(err.value) == ("unknown hidden activation 'softmax'; "
                              "choose one of sigmoid, tanh, relu, leaky_relu, identity")
    with pytest.raises(ConfigError) as err:
        mlp([2, 2, 2], output_activation="gelu")
    assert str(err.value) == ("unknown output activation 'gelu'; "
                              "choose one of sigmoid, tanh, relu, leaky_relu, identity, softmax")


@pytest.mark.parametrize("init,expected_std", [("normal", 100 ** -0.5), ("unit_normal", 1.0), ("he", (2 / 100) ** 0.5)])
def test_normal_initialisers_have_the_stated_spread(init, expected_std, rng):
    net = mlp([100, 400, 10], init=init, dtype=np.float64, rng=rng)
    assert net.dense_stack().weights[0].std() == pytest.approx(expected_std, rel=0.02)


def test_uniform_initialiser_respects_the_limit(rng):
    net = mlp([50, 60, 10], init="uniform", uniform_limit=1.0, bias=True, rng=rng)
    for array in values(net):
        assert np.abs(array).max() <= 1.0
    assert np.abs(net.dense_stack().weights[0]).max() > 0.95


def test_no_hidden_layer_and_deep_structures(rng):
    for sizes in ([4, 3], [4, 16, 16, 3], [4, 2, 2, 2, 3]):
        net = mlp(sizes, rng=rng)
        assert [w.shape for w in net.dense_stack().weights] == [(o, i) for i, o in zip(sizes[:-1], sizes[1:])]
        assert net.predict(np.zeros((7, 4), np.float32)).shape == (7, 3)


def test_dtype_is_kept_through_training(rng):
    for dtype in (np.float32, np.float64):
        net = mlp([4, 5, 3], dtype=dtype, bias=True, rng=rng)
        x = rng.random((8, 4)).astype(dtype)
        y = rng.random((8, 3)).astype(dtype)
        net.loss_and_grads(x, y)
        SGD(net.parameters, 0.5).step()
        assert all(p.dtype == dtype for p in values(net))
        assert net.predict(x).dtype == dtype


def test_per_sample_step_is_the_classic_rule_with_the_true_hidden_error(rng):
    """W += lr * ((t - o) o (1 - o)) a_prev^T, the classic per-sample rule for the output layer,
    equals our SGD step. For the hidden layer we back-propagate the output *delta*; the classic
    code back-propagated the raw error (t - o), which is not the gradient of any cost."""
    net = mlp([6, 4, 3], dtype=np.float64, rng=rng)
    w1, w2 = (w.copy() for w in net.dense_stack().weights)
    x, t = rng.random((1, 6)), rng.random((1, 3))
    hidden = 1 / (1 + np.exp(-(w1 @ x.T)))
    out = 1 / (1 + np.exp(-(w2 @ hidden)))
    out_err = t.T - out
    hidden_err = w2.T @ (out_err * out * (1 - out))
    w2 += 0.3 * (out_err * out * (1 - out)) @ hidden.T
    w1 += 0.3 * (hidden_err * hidden * (1 - hidden)) @ x
    net.loss_and_grads(x, t)
    SGD(net.parameters, 0.3).step()
    np.testing.assert_allclose(net.dense_stack().weights[0], w1, rtol=1e-12)
    np.testing.assert_allclose(net.dense_stack().weights[1], w2, rtol=1e-12)


def test_momentum_and_weight_decay_follow_their_formulas(rng):
    w = rng.normal(size=(3, 2))
    b = rng.normal(size=3)
    w0, b0 = w.copy(), b.copy()
    g_w, g_b = rng.normal(size=(3, 2)), rng.normal(size=3)
    opt = SGD([Parameter(w, "W", True, g_w), Parameter(b, "b", False, g_b)], lr=0.1, momentum=0.9, weight_decay=0.01)
    opt.step()
    opt.step()
    v1 = -0.1 * (g_w + 0.01 * w0)
    w1 = w0 + v1
    v2 = 0.9 * v1 - 0.1 * (g_w + 0.01 * w1)
    np.testing.assert_allclose(w, w1 + v2)
    np.testing.assert_allclose(b, b0 - 0.1 * g_b - (0.9 * 0.1 * g_b + 0.1 * g_b))


def test_load_state_refuses_wrong_shapes_and_names(rng):
    net = mlp([4, 3, 2], rng=rng)
    with pytest.raises(WeightsError, match=r"W1 \(3, 5\) \(expected \(3, 4\)\)"):
        net.load_state({"W1": np.zeros((3, 5)), "W2": np.zeros((2, 3))})
    with pytest.raises(WeightsError, match="missing W2; unexpected b1"):
        net.load_state({"W1": np.zeros((3, 4)), "b1": np.zeros(3)})
    with pytest.raises(WeightsError, match="non-finite"):
        net.load_state({"W1": np.full((3, 4), np.nan), "W2": np.zeros((2, 3))})
    other = mlp([4, 3, 2], rng=np.random.default_rng(99))
    net.load_state(other.state())
    np.testing.assert_array_equal(net.dense_stack().weights[1], other.dense_stack().weights[1])


def test_load_state_names_every_problem_in_one_message(rng):
    """Missing, unexpected, wrong shape and not floating point, in that order, each list sorted; non-finite
    values apart. Nothing is copied when a check fails."""
    net = mlp([4, 3, 2], bias=True, rng=rng)
    before = net.state()
    found = {"W1": np.zeros((3, 5), np.int64), "b1": np.zeros(4, np.int32), "Z9": np.zeros(1), "A0": np.zeros(1)}
    with pytest.raises(WeightsError) as err:
        net.load_state(found, source="w.npz")
    assert str(err.value) == ("w.npz does not fit the configured network: missing W2, b2; unexpected A0, Z9; "
                              "wrong shape W1 (3, 5) (expected (3, 4)), b1 (4,) (expected (3,)); "
                              "not floating point W1 int64, b1 int32")
    with pytest.raises(WeightsError) as err:
        net.load_state({"W1": np.zeros((3, 4)), "b1": np.zeros(3), "W2": np.full((2, 3), np.inf),
                        "b2": np.array([0.0, np.nan])})
    assert str(err.value) == "weights holds non-finite values in W2, b2"
    for key, array in net.state().items():
        np.testing.assert_array_equal(array, before[key])
    state = {key: array + 1 for key, array in before.items()}
    net.load_state(state)
    for key, array in net.state().items():
        np.testing.assert_array_equal(array, state[key])


def test_inputs_take_flat_or_shaped_rows_in_the_networks_dtype(rng):
    net = mlp([6, 3, 2], rng=rng)
    assert net.inputs(np.zeros((4, 6), np.float64)).dtype == np.float32
    assert net.inputs([[1, 2, 3, 4, 5, 6]]).shape == (1, 6)
    with pytest.raises(ValueError) as err:
        net.inputs(np.zeros((2, 5)))
    assert str(err.value) == "inputs of shape (2, 5) do not fit input_shape (6,): expected (N, 6)"
    with pytest.raises(ValueError) as err:
        net.inputs(np.zeros(6))
    assert str(err.value) == "inputs of shape (6,) do not fit input_shape (6,): expected (N, 6)"
    empty = net.predict(np.zeros((0, 6)))
    assert empty.shape == (0, 2) and empty.dtype == np.float32
    images = build_network({**CNN, "layers": [{"type": "flatten"}, {"type": "dense", "units": None}]}, (1, 2, 2), 3)
    shaped = rng.random((5, 1, 2, 2))             # already (N, C, H, W): taken as it is
    assert images.inputs(shaped).shape == (5, 1, 2, 2)
    np.testing.assert_array_equal(images.predict(shaped), images.predict(shaped.reshape(5, 4)))


def test_predict_rows_fill_the_element_budget_by_the_largest_sample(rng):
    from nnexp.nn.network import PREDICT_ELEMENTS

    assert mlp([784, 100, 10], rng=rng).predict_rows == 4096
    assert mlp([10, 784 * 8, 10], rng=rng).predict_rows == PREDICT_ELEMENTS // (784 * 8)   # a hidden layer's width
    assert mlp([PREDICT_ELEMENTS + 1, 1], rng=rng).predict_rows == 1
    net = mlp([5, 4, 3], rng=rng)
    assert net.layers[0].input_grad is False and net.layers[2].input_grad is True
    assert net.first_conv_filters() is None


def test_dense_stack_only_of_alternating_dense_and_activation_layers_all_with_or_without_biases(rng):
    stack = mlp([5, 4, 3], bias=True, rng=rng).dense_stack()
    assert stack.sizes == [5, 4, 3] and len(stack.biases) == 2 and [f.name for f in stack.activations] == [
        "sigmoid", "sigmoid"]
    half = [{"type": "dense", "units": 4, "bias": True}, {"type": "activation", "name": "tanh"},
            {"type": "dense", "units": None}]
    assert build_network({**CNN, "layers": half}, (5,), 3).dense_stack() is None
    two = [{"type": "dense", "units": 4}, {"type": "dense", "units": None}]
    assert build_network({**CNN, "layers": two}, (5,), 3).dense_stack() is None
    dropout = [{"type": "dense", "units": 4}, {"type": "dropout", "rate": 0.5}, {"type": "dense", "units": None}]
    assert build_network({**CNN, "layers": dropout}, (5,), 3).dense_stack() is None   # a kernel would drop it
    after = [{"type": "dense", "units": 4}, {"type": "activation", "name": "tanh"}, {"type": "dense", "units": 3},
             {"type": "activation", "name": "tanh"}]
    with pytest.raises(ConfigError):
        build_network({**CNN, "layers": after}, (5,), 3)
    images = [{"type": "flatten"}, {"type": "dense", "units": None}]
    assert build_network({**CNN, "layers": images}, (1, 2, 2), 3).dense_stack() is None


def test_backprop_averages_a_batch_of_two_or_more_in_the_networks_dtype(rng):
    """The mean loss (the default) divides the output error by N for every N > 1, so its gradients are half those
    of the summed loss for N = 2; targets of another dtype are taken in the network's, and losses and gradients
    stay float32 in a float32 network."""
    net = mlp([4, 3, 2], bias=True, rng=rng)
    x, y = rng.random((2, 4)).astype(np.float32), rng.random((2, 2))
    losses = net.backprop(x, y)
    mean = [gradient(p).copy() for p in net.parameters.values()]
    summed_losses, summed = net.loss_and_grads(x, y.astype(np.float32), mean=False)
    np.testing.assert_array_equal(losses, summed_losses)
    assert losses.dtype == np.float32 and {g.dtype for g in mean} == {np.dtype(np.float32)}
    for g, s in zip(mean, summed):
        np.testing.assert_array_equal(g, s / 2)


@pytest.mark.skipif(not numba_available(), reason="numba is not installed")
def test_compiled_data_movement_runs_on_the_threads_asked():
    """A job's ``threads`` reaches numba's loops of a CNN (compile_data_movement sets numba's count in this thread)."""
    import numba

    net = build_network({**CNN, "layers": [{"type": "conv", "filters": 1, "kernel": 1}, {"type": "flatten"},
                                           {"type": "dense", "units": None}]}, (1, 2, 2), 3)
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("one core: numba's only count is 1")
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        assert net.compile_data_movement(True, threads=1)
        assert numba.get_num_threads() == 1
    finally:
        numba.set_num_threads(before)
