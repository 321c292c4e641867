"""The inverse query: the classic back query layer by layer, and the gradient method."""

import numpy as np
import pytest
from conftest import numerical_gradient
from helpers import compose_config
from omegaconf import OmegaConf
from PIL import Image
from scipy.special import logit

from nnexp.data import load_dataset
from nnexp.errors import ConfigError
from nnexp.inverse import main
from nnexp.nn.build import build_network, mlp
from nnexp.nn.inverse_queries import back_query, gradient_query, input_gradient, rescale
from nnexp.nn.optim import SGD
from nnexp.storage import write_npz
from nnexp.training.identity import plain
from nnexp.training.loop import Learner, Recipe, train
from nnexp.training.run_inverse import inverse_query, load_model


def save_run(run_dir, model, overrides):
    """A run directory as python -m nnexp leaves it: weights.npz and .hydra/config.yaml."""
    (run_dir / ".hydra").mkdir(parents=True)
    OmegaConf.save(compose_config(overrides), run_dir / ".hydra" / "config.yaml")
    write_npz(run_dir / "weights.npz", model.state())
    return run_dir


def classic_back_query(wih, who, label):
    """The classic's backquery, written as it was (column vectors, np.dot), for one label."""
    targets = np.zeros(who.shape[0]) + 0.01
    targets[label] = 0.99
    final_inputs = logit(np.array(targets, ndmin=2).T)
    hidden_outputs = np.dot(who.T, final_inputs)
    hidden_outputs -= np.min(hidden_outputs)
    hidden_outputs /= np.max(hidden_outputs)
    hidden_outputs = hidden_outputs * 0.98 + 0.01
    inputs = np.dot(wih.T, logit(hidden_outputs))
    inputs -= np.min(inputs)
    inputs /= np.max(inputs)
    return (inputs * 0.98 + 0.01).ravel()


def test_back_query_is_the_classic_one_for_every_digit(tmp_path):
    model = mlp([784, 100, 10], dtype=np.float64, rng=np.random.default_rng(3))
    run_dir = save_run(tmp_path / "run", model, [])
    images = back_query(load_model(run_dir)[0])
    for label in range(10):
        np.testing.assert_allclose(images[label], classic_back_query(*model.dense_stack().weights, label), rtol=1e-10)
    path = inverse_query(run_dir)
    assert path == run_dir / "inverse_back.png"
    with Image.open(path) as image:
        assert image.format == "PNG"
    saved = np.load(run_dir / "inverse_back.npz", allow_pickle=False)
    assert saved["images"].shape == (10, 28, 28) and saved["outputs"].shape == (10, 10)


def test_back_query_goes_through_any_depth_of_invertible_layers():
    model = mlp([16, 12, 8, 5], activation="tanh", dtype=np.float64, rng=np.random.default_rng(0))
    images = back_query(model)
    assert images.shape == (5, 16)
    np.testing.assert_allclose(images.min(axis=1), 0.01)
    np.testing.assert_allclose(images.max(axis=1), 0.99)
    assert len({tuple(np.round(row, 6)) for row in images}) == 5   # a different image per class


def cnn_model(layers, output="sigmoid"):
    return {"name": "cnn", "layers": layers, "output_activation": output, "loss": "mse", "init": "normal",
            "bias": False, "uniform_limit": 0.5}


def test_back_query_refuses_what_does_not_invert():
    flat = build_network(cnn_model([{"type": "flatten"}, {"type": "dense", "units": None}]), (4,), 2)
    for network, reason in [(mlp([4, 3, 2], activation="relu"), "activation relu has no inverse"),
                            (mlp([4, 3, 2], bias=True), "the network has biases"),
                            (flat, "the network is not a stack of dense layers")]:
        with pytest.raises(ConfigError) as err:
            back_query(network)
        assert str(err.value) == (f"the back query needs invertible activations and no biases, but {reason}; "
                                  "use --method gradient")


def test_back_query_rescales_into_the_range_of_the_activation_below():
    """Layer by layer, top down: z = f^-1(a), then W^T z rescaled into the range of the activation of the
    layer below ((-0.99, 0.99) under tanh, else [0.01, 0.99]; the input's: [0.01, 0.99])."""
    layers = [{"type": "dense", "units": 5}, {"type": "activation", "name": "tanh"},
              {"type": "dense", "units": 4}, {"type": "activation", "name": "sigmoid"},
              {"type": "dense", "units": None}]
    net = build_network(cnn_model(layers, output="tanh"), (6,), 3, np.float64, np.random.default_rng(2))
    w1, w2, w3 = net.dense_stack().weights
    top = np.full((3, 3), 0.01) + np.eye(3) * 0.98
    below_sigmoid = rescale(np.arctanh(top) @ w3, 0.01, 0.99)
    below_tanh = rescale(logit(below_sigmoid) @ w2, -0.99, 0.99)
    expected = rescale(np.arctanh(below_tanh) @ w1, 0.01, 0.99)
    np.testing.assert_allclose(back_query(net), expected, rtol=1e-12)


def one_layer_softmax(w):
    """A network z = x W^T with a softmax output, W given: d log softmax(z)_k / dx = W_k - sum_j p_j W_j."""
    net = mlp([w.shape[1], w.shape[0]], output_activation="softmax", loss="cross_entropy", dtype=np.float64,
              rng=np.random.default_rng(0))
    net.layers[0].W[...] = w
    return net


def test_input_gradient_of_logits_far_apart_is_finite_and_exact():
    """The softmax of each row is shifted by that row's own maximum: a row of logits near 1,000 beside a row
    near 0 gives exact scores and gradients, not NaN."""
    w = np.array([[1.0, 0.5], [0.0, -0.5], [-1.0, 0.25]])
    net = one_layer_softmax(w)
    x = np.array([[1000.0, 0.0], [0.0, 0.0], [0.0, 2.0]])
    classes = np.array([0, 2, 0])
    scores, grads = input_gradient(net, x, classes)
    z = x @ w.T
    log_p = z - z.max(axis=1, keepdims=True)
    log_p -= np.log(np.exp(log_p).sum(axis=1, keepdims=True))
    np.testing.assert_allclose(scores, log_p[np.arange(3), classes], rtol=1e-12)
    p = np.exp(log_p)
    np.testing.assert_allclose(grads, w[classes] - p @ w, rtol=1e-12, atol=1e-15)
    assert net.layers[0].input_grad is False               # the first layer skips dx again afterwards
    net.forward(x, train=True)
    assert net.backward(np.ones((3, 3))) is None


@pytest.mark.parametrize("scale", [0.001, 3.0])
def test_gradient_query_is_normalised_ascent_with_a_pull_to_grey_kept_in_range(scale):
    """300 steps from grey = (low + high) / 2 of x += 0.02 (high - low) g / (rms_row(g) + 1e-12), clipped to
    [low, high], with g = d log softmax_k / dx - 0.05 (x - grey): weak weights leave x inside the range
    (the pull balances the score), strong ones take it to both ends."""
    w = scale * np.array([[1.0, -2.0, 0.5, 0.0], [-1.0, 1.0, 0.0, 2.0], [0.5, 0.5, -1.5, -1.0]])
    net = one_layer_softmax(w)
    low, high = 0.2, 0.7
    grey = (low + high) / 2
    x = np.full((3, 4), grey)
    for _ in range(300):
        z = x @ w.T
        p = np.exp(z - z.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        g = (w - p @ w) - 0.05 * (x - grey)
        x = np.clip(x + 0.02 * (high - low) * g / (np.sqrt((g ** 2).mean(axis=1, keepdims=True)) + 1e-12), low, high)
    images = gradient_query(net, low, high)
    np.testing.assert_allclose(images, x, rtol=1e-9, atol=0)
    if scale > 1:
        assert (images == low).any() and (images == high).any()
    else:
        assert ((images > low) & (images < high)).all()


def test_gradient_method_finds_an_input_of_each_class_for_a_relu_network(tmp_path):
    overrides = ["data=digits", "model.hidden=[32]", "model.activation=relu", "model.output_activation=softmax",
                 "model.loss=cross_entropy", "model.init=he", "model.bias=true", "data.scaling=standard"]
    cfg = compose_config(overrides)
    data = load_dataset(plain(cfg.data), "float64")
    model = mlp([64, 32, 10], activation="relu", output_activation="softmax", loss="cross_entropy", init="he",
                bias=True, dtype=np.float64, rng=np.random.default_rng(0))
    train(Learner(model, SGD(model.parameters, 0.1)), data, Recipe(epochs=10, batch_size=16, shuffle=True))
    images = gradient_query(model, 0.0, 1.0)
    assert images.min() >= 0 and images.max() <= 1
    assert list(model.predict(images).argmax(axis=1)) == list(range(10))
    run_dir = save_run(tmp_path / "run", model, overrides)
    path = inverse_query(run_dir)   # auto: relu and biases take the gradient method
    assert path.name == "inverse_gradient.png"
    assert np.load(run_dir / "inverse_gradient.npz")["images"].shape == (10, 8, 8)


def inverse_cli(capsys, *args):
    """``python -m nnexp.inverse args``, in this process: (exit code, stdout, stderr)."""
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_errors_are_one_line(tmp_path, capsys):
    code, _, err = inverse_cli(capsys, tmp_path)
    assert code == 1
    assert err.strip() == (f"nnexp.inverse: error: {tmp_path} has no weights.npz (not a run directory, "
                           "or the run failed or diverged); give the directory of a completed run")
    save_run(tmp_path / "xor", mlp([2, 2, 2], dtype=np.float64), ["data=xor"])
    code, _, err = inverse_cli(capsys, tmp_path / "xor", "--method", "back")
    assert code == 1 and "not a square image" in err and len(err.splitlines()) == 1
    save_run(tmp_path / "relu", mlp([4, 3, 2], activation="relu", dtype=np.float64), ["model.activation=relu"])
    code, _, err = inverse_cli(capsys, tmp_path / "relu", "--method", "back")
    assert code == 1 and "use --method gradient" in err
    code, out, _ = inverse_cli(capsys, tmp_path / "relu", "--method", "gradient")
    assert code == 0 and out.strip() == f"wrote {tmp_path / 'relu' / 'inverse_gradient.png'}"


def test_the_input_gradient_matches_finite_differences():
    model = mlp([5, 4, 3], activation="tanh", output_activation="softmax", loss="cross_entropy", bias=True,
                dtype=np.float64, rng=np.random.default_rng(1))
    x = np.random.default_rng(2).uniform(0, 1, (3, 5))
    classes = np.array([2, 0, 1])
    _, grad = input_gradient(model, x, classes)
    for row in range(3):
        def score(row=row):
            return input_gradient(model, x[row:row + 1], classes[row:row + 1])[0][0]
        numeric = numerical_gradient(score, x[row])
        np.testing.assert_allclose(grad[row], numeric, rtol=1e-6, atol=1e-9)


def test_rescale_stretches_the_last_axis_of_any_shape_and_leaves_a_flat_row_at_low():
    """Each row (..., n) goes onto [low, high]: a row of span below 1 is stretched (not only shrunk), a
    constant row becomes low everywhere (no division by 0), in 1-D and 3-D arrays alike."""
    np.testing.assert_allclose(rescale(np.array([1.0, 1.25, 1.5])), [0.01, 0.5, 0.99])
    np.testing.assert_allclose(rescale(np.full(3, 7.0), -0.99, 0.99), [-0.99] * 3)
    stack = np.array([[[0.0, 2.0, 4.0], [5.0, 5.0, 5.0]], [[-1.0, 0.0, 3.0], [0.0, 0.1, 0.2]]])
    np.testing.assert_allclose(rescale(stack, 0.0, 1.0), [[[0, 0.5, 1], [0, 0, 0]], [[0, 0.25, 1], [0, 0.5, 1]]],
                               atol=1e-15)
