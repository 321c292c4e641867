"""A trained run read back for its inverse query (nnexp/training/run_inverse.py): the network of a run
directory, the messages for a directory that is not one, and the input range of its data."""

import numpy as np
import pytest
from omegaconf import OmegaConf

from nnexp.errors import ConfigError, WeightsError
from nnexp.figures import network_images
from nnexp.nn.build import mlp
from nnexp.storage import write_npz
from nnexp.training.run_inverse import input_range, inverse_query, load_model


def run_dir_of(run_dir, arrays, model=None):
    """weights.npz of ``arrays`` and a .hydra/config.yaml whose model section is ``model``."""
    (run_dir / ".hydra").mkdir(parents=True)
    model = model or {"activation": "sigmoid", "output_activation": "sigmoid", "loss": "mse"}
    OmegaConf.save(OmegaConf.create({"model": model}), run_dir / ".hydra" / "config.yaml")
    write_npz(run_dir / "weights.npz", arrays)
    return run_dir


def test_the_input_range_is_that_of_the_datas_scaling():
    assert input_range({}) == (0.01, 1.0)                               # classic, the default
    assert input_range({"scaling": "classic"}) == (0.01, 1.0)
    assert input_range({"scaling": "standard"}) == (0.0, 1.0)


def test_a_run_of_one_layer_is_loaded_with_its_weights_in_float64(tmp_path):
    network = mlp([4, 3], dtype=np.float32, rng=np.random.default_rng(1))
    model, cfg = load_model(run_dir_of(tmp_path, network.state()))
    assert model.dtype == np.float64 and model.input_shape == (4,) and model.n_outputs == 3
    np.testing.assert_array_equal(model.state()["W1"], network.state()["W1"])
    assert cfg["model"]["loss"] == "mse"


def test_a_run_is_loaded_with_its_activations_and_biases(tmp_path):
    settings = {"activation": "tanh", "output_activation": "softmax", "loss": "cross_entropy"}
    network = mlp([4, 3, 2], bias=True, dtype=np.float64, rng=np.random.default_rng(2), **settings)
    model, _ = load_model(run_dir_of(tmp_path, network.state(), settings))
    x = np.random.default_rng(0).random((5, 4))
    np.testing.assert_array_equal(model.predict(x), network.predict(x))
    assert model.loss.name == "cross_entropy"


def test_biases_of_another_shape_are_named_with_the_file(tmp_path):
    with pytest.raises(WeightsError) as err:
        load_model(run_dir_of(tmp_path, {"W1": np.ones((3, 4)), "b1": np.ones(5)}))
    assert str(err.value) == (f"{tmp_path}/weights.npz does not fit the configured network: "
                              "wrong shape b1 (5,) (expected (3,))")


def test_what_is_not_a_run_directory_is_named_with_what_to_give(tmp_path):
    with pytest.raises(WeightsError) as err:
        load_model(tmp_path / "absent")
    assert str(err.value) == f"{tmp_path / 'absent'} is not a directory; give a run directory (it holds weights.npz)"
    write_npz(tmp_path / "weights.npz", {"W1": np.ones((2, 2))})
    with pytest.raises(ConfigError) as err:
        load_model(tmp_path)
    assert str(err.value) == (f"{tmp_path} has no .hydra/config.yaml, so its activations are unknown; "
                              "give a run directory written by python -m nnexp")


@pytest.mark.parametrize("arrays", [{"b1": np.ones(2)}, {"W1": np.ones(4)}, {"W2": np.ones((2, 2))}])
def test_weights_of_no_fully_connected_network_are_refused(tmp_path, arrays):
    with pytest.raises(WeightsError) as err:
        load_model(run_dir_of(tmp_path, arrays))
    assert str(err.value) == f"{tmp_path}/weights.npz does not hold a fully connected network (W1..WL)"


def test_a_convolutional_run_is_refused_by_name(tmp_path):
    with pytest.raises(WeightsError) as err:
        load_model(run_dir_of(tmp_path, {"W1": np.ones((2, 4))}, {"name": "cnn"}))
    assert str(err.value) == (f"{tmp_path} holds a model=cnn network; the inverse query draws fully connected "
                              "networks (model=mlp)")


@pytest.fixture
def grids(monkeypatch):
    """The grids inverse_query asks for, not drawn: [(images, answers, path, title, names)]."""
    calls = []
    monkeypatch.setattr(network_images, "inverse_grid",
                        lambda images, answers, path, title, names=None: calls.append(
                            (images, answers, path, title, names)) or path)
    return calls


def test_an_unknown_method_or_inputs_of_no_square_image_are_refused(tmp_path):
    with pytest.raises(ConfigError) as err:
        inverse_query(tmp_path, method="random")
    assert str(err.value) == "unknown method 'random'; choose one of auto, back, gradient"
    run_dir_of(tmp_path, {"W1": np.ones((2, 3))})
    with pytest.raises(ConfigError) as err:
        inverse_query(tmp_path)
    assert str(err.value) == ("the network has 3 inputs, not a square image; the inverse query draws images "
                              "(e.g. 784 = 28 x 28 inputs)")


@pytest.mark.parametrize("scaling, low", [("standard", 0.0), ("classic", 0.01)])
def test_the_gradient_query_keeps_to_the_input_range_of_the_runs_data(tmp_path, grids, scaling, low):
    settings = {"activation": "relu", "output_activation": "softmax", "loss": "cross_entropy"}
    network = mlp([4, 6, 3], bias=True, dtype=np.float64, rng=np.random.default_rng(0), **settings)
    run_dir = run_dir_of(tmp_path / "runs" / "run", network.state(), settings)
    config = OmegaConf.load(run_dir / ".hydra" / "config.yaml")
    config.data = {"name": "fashion_mnist", "scaling": scaling}
    OmegaConf.save(config, run_dir / ".hydra" / "config.yaml")
    assert inverse_query(run_dir) == run_dir / "inverse_gradient.png"
    ((images, answers, path, title, names),) = grids
    saved = np.load(run_dir / "inverse_gradient.npz")
    np.testing.assert_array_equal(saved["images"], images)
    assert images.shape == (3, 2, 2) and images.min() == low and images.max() == 1.0
    np.testing.assert_array_equal(answers, saved["outputs"].argmax(axis=1))
    assert title == "Inverse query (gradient) of the network in runs/run"
    assert names[:3] == ("T-shirt/top", "Trouser", "Pullover")          # the data set's class names
    elsewhere = tmp_path / "elsewhere.png"
    assert inverse_query(str(run_dir), out=str(elsewhere), method="gradient") == elsewhere
    assert grids[-1][2] == elsewhere and (tmp_path / "elsewhere.npz").is_file()


def test_a_run_whose_config_has_no_data_section_takes_the_classic_range_and_digits(tmp_path, grids):
    settings = {"activation": "relu", "output_activation": "softmax", "loss": "cross_entropy"}
    network = mlp([4, 6, 3], bias=True, dtype=np.float64, rng=np.random.default_rng(0), **settings)
    inverse_query(run_dir_of(tmp_path, network.state(), settings))
    ((images, _, _, _, names),) = grids
    assert images.min() == 0.01 and names == ("0", "1", "2")
