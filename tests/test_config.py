from pathlib import Path

import pytest
from helpers import compose_config
from hydra.errors import ConfigCompositionException

from nnexp.config import validate
from nnexp.errors import ConfigError
from nnexp.main import config_dir, config_error_line
from nnexp.training.identity import plain


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
    ("data.train_size=0", "data.train_size=0 must be at least 1"),
])
def test_values_out_of_range_are_refused(override, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[")):
        validate(compose_config([override]))


@pytest.mark.parametrize("override,choices", [
    ("dtype=float16", "[float32, float64]"),
    ("kernel=fast", "[auto, numba, numpy, reference]"),
    ("model.activation=softmax", "[sigmoid, tanh, relu, leaky_relu, identity]"),
    ("model.output_activation=swish", "[sigmoid, tanh, relu, leaky_relu, identity, softmax]"),
    ("model.loss=hinge", "[mse, cross_entropy]"),
    ("model.init=glorot", "[normal, unit_normal, uniform, xavier, he]"),
    ("data.scaling=fancy", "[classic, standard]"),
])
def test_closed_sets_are_enums_of_the_schema(override, choices):
    """Hydra refuses a name outside the set, naming the set: the Enums are made from nnexp's own tables."""
    with pytest.raises(ConfigCompositionException) as refused:
        compose_config([override])
    value = override.split("=")[1]
    assert f"Invalid value '{value}', expected one of {choices}" in config_error_line(refused.value)


def test_layer_lists_are_typed_per_layer():
    with pytest.raises(ConfigCompositionException) as refused:
        compose_config(["model=cnn", "model.layers=[{type:convolution}]"])
    assert "expected one of [conv, activation, pool, flatten, dense, dropout]" in config_error_line(refused.value)
    with pytest.raises(ConfigCompositionException):
        compose_config(["model=cnn", "model.layers=[{type:conv,filter:3}]"])   # no such key


def test_enum_values_read_as_their_names():
    cfg = compose_config(["dtype=float64"])
    assert cfg.dtype == "float64" and str(cfg.dtype) == "float64" and f"{cfg.dtype}" == "float64"
    assert plain(cfg)["dtype"] == "float64" and plain(cfg)["model"]["activation"] == "sigmoid"


def test_the_schemas_closed_sets_are_the_registries_of_the_code():
    """One registry style: a mapping from the name a user types to what implements it, and the schema's
    Enum made from it."""
    from nnexp import config
    from nnexp.nn.activations import ACTIVATIONS, HIDDEN_ACTIVATIONS
    from nnexp.nn.build import LAYERS, MODELS
    from nnexp.nn.initializers import INITIALIZERS
    from nnexp.nn.losses import LOSSES
    from nnexp.nn.optim import OPTIMIZERS
    from nnexp.nn.schedules import SCHEDULES

    for enum, registry in [(config.OutputActivation, ACTIVATIONS), (config.HiddenActivation, HIDDEN_ACTIVATIONS),
                           (config.LayerType, LAYERS), (config.ModelName, MODELS), (config.Init, INITIALIZERS),
                           (config.Loss, LOSSES), (config.OptimizerName, OPTIMIZERS),
                           (config.ScheduleName, SCHEDULES)]:
        assert isinstance(registry, dict) and [member.value for member in enum] == list(registry)
    assert all(SCHEDULES[name].name == name for name in SCHEDULES)
    assert all(INITIALIZERS[name].name == name for name in INITIALIZERS)
    # each optimizer and schedule a user can choose has its config group option, and only those
    conf = Path(config_dir())
    for group, registry in (("optimizer", OPTIMIZERS), ("schedule", SCHEDULES)):
        assert sorted(path.stem for path in (conf / group).glob("*.yaml")) == sorted(registry)
