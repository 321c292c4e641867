import pytest
from hydra.errors import ConfigCompositionException

from nnexp.config import validate
from nnexp.errors import ConfigError

from helpers import compose_config


def test_defaults_are_the_classic_network_on_the_sample():
    cfg = compose_config()
    assert cfg.data.name == "mnist_sample" and cfg.data.scaling == "classic"
    assert cfg.model.hidden == [100] and cfg.model.activation == "sigmoid" and cfg.model.loss == "mse"
    assert cfg.model.init == "normal" and cfg.model.bias is False
    assert (cfg.lr, cfg.epochs, cfg.batch_size, cfg.shuffle, cfg.dtype) == (0.1, 1, 1, False, "float32")


def test_list_overrides_give_any_structure():
    assert compose_config(["model.hidden=[16,16]"]).model.hidden == [16, 16]
    assert compose_config(["model.hidden=[]"]).model.hidden == []


@pytest.mark.parametrize("override", ["lr=abc", "epochs=1.5", "model.hidden=[a]", "model.bias=maybe"])
def test_wrong_types_are_refused_at_composition(override):
    with pytest.raises(ConfigCompositionException):
        compose_config([override])


@pytest.mark.parametrize("override", ["lrate=0.1", "model.hiden=[3]", "data.folder=x"])
def test_unknown_keys_are_refused(override):
    with pytest.raises(ConfigCompositionException):
        compose_config([override])


@pytest.mark.parametrize("override,message", [
    ("lr=0", "lr=0.0 must be greater than 0"),
    ("lr=-0.5", "lr=-0.5 must be greater than 0"),
    ("epochs=0", "epochs=0 must be greater than 0"),
    ("batch_size=0", "batch_size=0 must be greater than 0"),
    ("model.hidden=[100,0]", "has a layer of size 0"),
    ("momentum=1.5", "momentum=1.5 must be in"),
    ("dtype=float16", "dtype=float16 is not supported"),
    ("data.train_size=0", "data.train_size=0 must be at least 1"),
])
def test_values_out_of_range_are_refused(override, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[")):
        validate(compose_config([override]))
