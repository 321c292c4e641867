"""A job's identity (nnexp/training/identity.py): its config as plain values, and the hash of it."""

from helpers import compose_config
from omegaconf import OmegaConf

from nnexp.config import DType
from nnexp.training.identity import NOT_IDENTITY, config_hash, plain, plain_value, without_unset


def test_plain_resolves_interpolations_and_gives_enums_by_name():
    cfg = compose_config(["momentum=0.9", "weight_decay=0.01"])
    assert OmegaConf.is_interpolation(cfg.optimizer, "momentum")
    section = plain(cfg.optimizer)
    assert section == {"name": "sgd", "momentum": 0.9, "nesterov": False, "weight_decay": 0.01}
    assert type(plain(cfg.model)["activation"]) is str and plain(cfg.model)["activation"] == "sigmoid"
    assert plain_value(cfg.dtype) == "float32" and type(plain_value(cfg.dtype)) is str
    assert plain_value(DType.float64) == "float64" and plain_value(3) == 3 and plain_value(None) is None
    assert plain_value(cfg.optimizer) == section


def test_the_hash_leaves_out_hydra_the_non_identity_keys_and_the_ignored_ones():
    cfg = compose_config(["lr=0.2"], return_hydra_config=True)
    task = compose_config(["lr=0.2"])
    assert config_hash(cfg) == config_hash(task)                       # Hydra's own section left out
    changed = compose_config(["lr=0.2", *[f"{key}={value}" for key, value in (
        ("overwrite", "true"), ("threads", "2"), ("reuse", "false"), ("reuse_dir", "/x"), ("lr_find.steps", "7"))]])
    assert {"overwrite", "threads", "reuse", "reuse_dir", "lr_find"} == set(NOT_IDENTITY)
    assert config_hash(changed) == config_hash(task)
    assert config_hash(compose_config(["lr=0.3"])) != config_hash(task)
    assert config_hash(compose_config(["lr=0.3"]), ignore=("lr",)) == config_hash(task, ignore=("lr",))
    assert len(config_hash(task)) == 64


def test_a_key_added_later_is_out_of_the_hash_while_null_and_in_it_once_set():
    """schedule.span came after published results: null (its default) keeps their hash, a value changes it."""
    cfg = compose_config()
    assert cfg.schedule.span is None
    without = OmegaConf.create(plain(cfg))                              # untyped: a key can go
    del without.schedule["span"]
    assert config_hash(cfg) == config_hash(without)
    assert config_hash(compose_config(["schedule.span=5"])) != config_hash(cfg)
    assert without_unset("schedule", {"name": "step", "span": None, "gamma": None}) == {"name": "step", "gamma": None}
    assert without_unset("schedule", {"span": 5}) == {"span": 5}
    assert without_unset("model", {"span": None}) == {"span": None} and without_unset("lr", 0.1) == 0.1
