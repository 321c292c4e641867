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
from nnexp.nn.build import mlp
from nnexp.nn.inverse_queries import back_query, gradient_query, input_gradient
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


def test_back_query_refuses_what_does_not_invert():
    with pytest.raises(ConfigError, match="activation relu has no inverse; use --method gradient"):
        back_query(mlp([4, 3, 2], activation="relu"))
    with pytest.raises(ConfigError, match="the network has biases"):
        back_query(mlp([4, 3, 2], bias=True))


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
