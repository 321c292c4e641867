"""Properties of the reuse store's key (nnexp/training/reuse.py): every setting that can change what a
job computes changes the key; the ignored ones do not."""

import copy
import tempfile
from pathlib import Path

from helpers import compose_config
from hypothesis import given, settings
from hypothesis import strategies as st
from omegaconf import OmegaConf

from nnexp.training.identity import NOT_IDENTITY, plain
from nnexp.training.reuse import REUSE_IGNORES, reuse_key

CONFIGS = [compose_config(overrides) for overrides in (
    [], ["schedule=step"], ["schedule=cosine", "optimizer=adam"], ["optimizer=rmsprop", "data=sine"],
    ["model=cnn", "optimizer=adamw", "schedule=exponential"])]
"""Composed configs whose sections together hold every key of the schema's groups."""

IGNORED = {"hydra", "overwrite", "threads", "reuse", "reuse_dir", "lr_find", "epochs", "experiment", "kernel"}
"""The keys the store may ignore, written out here rather than read from the code under test: a key
added to REUSE_IGNORES or NOT_IDENTITY (the schedule section, say) must be added here on purpose."""


def test_the_code_ignores_the_listed_keys_only():
    assert {"hydra", *NOT_IDENTITY, *REUSE_IGNORES} == IGNORED

INIT_FROM = Path(tempfile.mkdtemp(prefix="nnexp-reuse-")) / "weights.npz"
INIT_FROM.write_bytes(b"weights")
"""A file for ``init_from`` (its content is hashed into the key)."""


def leaves(value, path=()):
    """(path, value) of every scalar of a plain config, through dicts and lists; a list also as a whole."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from leaves(item, (*path, key))
    elif isinstance(value, list):
        yield path, value
        for index, item in enumerate(value):
            yield from leaves(item, (*path, index))
    else:
        yield path, value


def changed(draw, value):
    """A value other than ``value``, of its kind (None becomes a number or a name)."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return draw(st.integers(-1000, 1000).filter(lambda v: v != value))
    if isinstance(value, float):
        return draw(st.floats(-1e3, 1e3, allow_nan=False).filter(lambda v: v != value))
    if isinstance(value, str):
        return draw(st.text("abcxyz_", min_size=1, max_size=8).filter(lambda v: v != value))
    if isinstance(value, list):
        return draw(st.lists(st.integers(1, 500), max_size=3).filter(lambda v: v != value))
    return draw(st.one_of(st.integers(0, 500), st.text("abc", min_size=1, max_size=4)))


def with_value(tree, path, value):
    tree = copy.deepcopy(tree)
    node = tree
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return tree


class Config(dict):
    """A plain config read like a DictConfig (``cfg.init_from``): thousands of keys a second."""

    __getattr__ = dict.__getitem__


def key_of(tree):
    return reuse_key(Config(tree), "numpy", 1)


def test_the_plain_copy_has_the_composed_config_key():
    for cfg in CONFIGS:
        assert key_of(plain(cfg)) == reuse_key(OmegaConf.create(plain(cfg)), "numpy", 1) == reuse_key(cfg, "numpy", 1)


@settings(max_examples=15, deadline=None)
@given(st.data())
def test_every_key_outside_the_ignore_list_changes_the_store_key(data):
    """Every leaf of every config (the schedule's, the optimizer's, each CNN layer's...) is changed in
    turn: a constant-rate and a step-schedule job, or two jobs of different momentum, never share epochs."""
    for cfg in CONFIGS:
        tree = plain(cfg)
        base = key_of(tree)
        for path, value in leaves(tree):
            if path[0] in IGNORED:
                continue
            new = str(INIT_FROM) if path == ("init_from",) else changed(data.draw, value)
            assert key_of(with_value(tree, path, new)) != base, (path, value, new)


@settings(max_examples=15, deadline=None)
@given(st.data())
def test_the_ignored_keys_leave_the_store_key_as_it_is(data):
    for cfg in CONFIGS:
        tree = plain(cfg)
        base = key_of(tree)
        for path, value in leaves(tree):
            if path[0] in IGNORED and path[0] != "hydra":
                assert key_of(with_value(tree, path, changed(data.draw, value))) == base, path


@given(st.sampled_from(["numpy", "numba", "reference"]), st.sampled_from(["numpy", "numba", "reference"]),
       st.integers(1, 8), st.integers(1, 8))
@settings(max_examples=30, deadline=None)
def test_what_the_config_leaves_open_is_in_the_key(kernel_a, kernel_b, threads_a, threads_b):
    """The resolved kernel, the BLAS thread count and the data directory each change the key."""
    cfg = CONFIGS[0]
    same = kernel_a == kernel_b and threads_a == threads_b
    assert (reuse_key(cfg, kernel_a, threads_a) == reuse_key(cfg, kernel_b, threads_b)) == same
    assert reuse_key(cfg, kernel_a, threads_a, "/data/a") != reuse_key(cfg, kernel_a, threads_a, "/data/b")
    assert reuse_key(cfg, kernel_a, threads_a, "/data/a") != reuse_key(cfg, kernel_a, threads_a)


def test_the_key_names_a_directory_by_24_hex_digits_and_follows_init_froms_content(tmp_path):
    cfg = Config(plain(CONFIGS[0]))
    key = reuse_key(cfg, "numpy", 1)
    assert len(key) == 24 and int(key, 16) >= 0
    weights = tmp_path / "weights.npz"
    weights.write_bytes(b"first")
    with_file = Config({**cfg, "init_from": str(weights)})
    first = reuse_key(with_file, "numpy", 1)
    weights.write_bytes(b"second")                        # same path, other weights: another computation
    assert reuse_key(with_file, "numpy", 1) != first


def test_another_nnexp_or_numpy_version_has_another_store(monkeypatch):
    from nnexp.training import reuse

    cfg = Config(plain(CONFIGS[0]))
    base = reuse_key(cfg, "numpy", 1)
    monkeypatch.setattr(reuse, "__version__", "0.0.0+other")
    other_nnexp = reuse_key(cfg, "numpy", 1)
    monkeypatch.setattr(reuse.np, "__version__", "0.0.0+other")
    assert len({base, other_nnexp, reuse_key(cfg, "numpy", 1)}) == 3
