"""What identifies a job's computation: the hash of its configuration.

Hydra configs reach nnexp as OmegaConf ``DictConfig``s whose closed-set fields are Enums
(``nnexp.config``); ``plain`` turns one into dicts, lists and strings for the code below Hydra.
"""

from enum import Enum

from omegaconf import OmegaConf

from ..storage import sha256_json

NOT_IDENTITY = ("overwrite", "threads", "reuse", "reuse_dir", "lr_find")
"""Config keys that do not change what a job computes: left out of hashes and grid comparisons."""
ADDED_LATER = {"schedule": ("span",)}
"""Keys added after results were published, left out of a section's hash while null (their default, which
computes what the configuration computed before the key existed): those results keep their identity."""


def plain(cfg):
    """A config section as plain dicts, lists and values, Enums as their names, interpolations resolved."""
    return OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)


def config_hash(cfg, ignore=()):
    """sha256 of a job's resolved config, without ``hydra``, ``NOT_IDENTITY`` and ``ignore``
    (top-level keys): the same for the task function's config and Hydra's full one."""
    keys = [key for key in cfg if key not in ("hydra", *NOT_IDENTITY, *ignore)]
    return sha256_json({key: without_unset(key, plain_value(cfg[key])) for key in keys})


def without_unset(key, value):
    """A section's plain value without its ADDED_LATER keys that are null."""
    added = ADDED_LATER.get(key, ())
    if not added or not isinstance(value, dict):
        return value
    return {k: v for k, v in value.items() if not (k in added and v is None)}


def plain_value(node):
    """``plain`` of one value of a config: a section converted, an Enum as its name, others as they are
    (the same as converting a copy of the config holding it, without the copy's cost)."""
    if OmegaConf.is_config(node):
        return plain(node)
    return node.name if isinstance(node, Enum) else node
