"""The .npy cache of parsed arrays (nnexp.data.cache), called directly on tiny arrays and source files under
tmp_path: the names of an entry and its checksum file, the exact warnings for a corrupt or unwritable entry
and the line they point at, old entries removed (also when another process removed them first), no pickle
written or read, and the cache root.

The load-through-MNIST-files side of the cache is in test_mnist_files.py.
"""

import os
import re
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from nnexp.data import cache
from nnexp.data.cache import cache_root, cached_arrays
from nnexp.storage import arrays_digest


def four_arrays(n_train=3, n_test=2, seed=5):
    """The four arrays of an MNIST entry, as a parser returns them (uint8 pixels, int64 labels)."""
    rng = np.random.default_rng(seed)
    return {"x_train": rng.integers(0, 256, (n_train, 784), dtype=np.uint8),
            "labels_train": rng.integers(0, 10, n_train).astype(np.int64),
            "x_test": rng.integers(0, 256, (n_test, 784), dtype=np.uint8),
            "labels_test": rng.integers(0, 10, n_test).astype(np.int64)}


def make_sources(directory, *names):
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, name in enumerate(names):
        (directory / name).write_text("x" * (i + 1))
        paths.append(directory / name)
    return paths


def assert_same(arrays, expected):
    assert set(arrays) == set(expected)
    for key, value in expected.items():
        assert arrays[key].dtype == value.dtype and arrays[key].shape == value.shape, key
        np.testing.assert_array_equal(arrays[key], value)


def never(*args):
    raise AssertionError("parsed again instead of using the .npy cache")


ENTRY = re.compile(r"mnist-([0-9a-f]{16})-([0-9a-f]{16})-labels_test\.npy")


def entry_names(where, stamp):
    prefix = f"mnist-{where}-{stamp}"
    return {f"{prefix}-{name}.npy" for name in ("x_train", "labels_train", "x_test", "labels_test")} | {
        f"{prefix}.sha256"}


def where_and_stamp(directory):
    """(where, stamp) of each entry in ``directory``, read from its labels_test file."""
    return sorted(ENTRY.fullmatch(p.name).groups() for p in directory.iterdir() if ENTRY.fullmatch(p.name))


def record_warnings(monkeypatch):
    """warnings.warn replaced by a recorder of (message, file and function the warning points at).

    The frames of mutmut's trampolines (one above each function under mutation, in mutmut's own package)
    are not counted, so the place is the one a normal run shows."""
    seen = []

    def warn(message, category=UserWarning, stacklevel=1, **kwargs):
        frame, level = sys._getframe(1), 1
        while level < stacklevel:
            frame = frame.f_back
            if "mutmut" not in Path(frame.f_code.co_filename).parts:
                level += 1
        seen.append((category, str(message), frame.f_code.co_filename, frame.f_code.co_name))

    monkeypatch.setattr(warnings, "warn", warn)
    return seen


def test_an_entry_is_four_npy_files_and_one_checksum_named_by_where_and_stamp(tmp_path):
    """mnist-<where>-<stamp>-<array>.npy and mnist-<where>-<stamp>.sha256 (16 hex digits each, the sha256 of
    the arrays in it); other sources in the same directory get another <where> and their own entry; a
    changed source keeps <where>, gets a new <stamp>, and its old entry is removed."""
    npy = tmp_path / "npy"
    first_sources = make_sources(tmp_path / "src", "a.csv", "b.csv")
    arrays = four_arrays()
    assert_same(cached_arrays(first_sources, lambda: arrays, npy), arrays)
    ((where, stamp),) = where_and_stamp(npy)
    assert {p.name for p in npy.iterdir()} == entry_names(where, stamp)
    assert (npy / f"mnist-{where}-{stamp}.sha256").read_text() == arrays_digest(arrays) + "\n"
    assert_same(cached_arrays(first_sources, never, npy), arrays)

    other_sources = make_sources(tmp_path / "src", "c.csv")
    other = four_arrays(seed=6)
    cached_arrays(other_sources, lambda: other, npy)
    ((other_where, other_stamp),) = [pair for pair in where_and_stamp(npy) if pair != (where, stamp)]
    assert other_where != where
    assert {p.name for p in npy.iterdir()} == entry_names(where, stamp) | entry_names(other_where, other_stamp)
    assert_same(cached_arrays(first_sources, never, npy), arrays)        # both entries used
    assert_same(cached_arrays(other_sources, never, npy), other)

    stat = first_sources[0].stat()
    os.utime(first_sources[0], ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    changed = four_arrays(seed=7)
    assert_same(cached_arrays(first_sources, lambda: changed, npy), changed)
    (new_stamp,) = [s for w, s in where_and_stamp(npy) if w == where]
    assert new_stamp != stamp
    assert {p.name for p in npy.iterdir()} == entry_names(where, new_stamp) | entry_names(other_where, other_stamp)


def save_entry(npy, sources, arrays):
    """Write ``arrays`` as the entry of ``sources`` with a matching checksum, whatever their types."""
    cache._save_cached(cache._cache_files(npy, sources), arrays)


def damage_other_numbers(npy):
    (x_train,) = npy.glob("*-x_train.npy")
    np.save(x_train, np.load(x_train)[::-1].copy())           # same shape and dtype, rows reversed
    return "its arrays do not match the sha256 written with them"


def damage_no_checksum(npy):
    next(npy.glob("*.sha256")).unlink()
    return "no checksum file"


def damage_pickled(npy):
    (x_train,) = npy.glob("*-x_train.npy")
    np.save(x_train, np.array([None, 1], dtype=object), allow_pickle=True)
    return "ValueError: Object arrays cannot be loaded when allow_pickle=False"


@pytest.mark.parametrize("damage", [damage_other_numbers, damage_no_checksum, damage_pickled])
def test_a_corrupt_entry_gives_one_exact_warning_at_the_caller_and_is_written_again(tmp_path, monkeypatch, damage):
    npy = tmp_path / "npy"
    sources = make_sources(tmp_path / "src", "a.csv")
    arrays = four_arrays()
    cached_arrays(sources, lambda: arrays, npy)
    names = {p.name for p in npy.iterdir()}
    problem = damage(npy)
    this_test = sys._getframe().f_code.co_name
    seen = record_warnings(monkeypatch)
    assert_same(cached_arrays(sources, lambda: arrays, npy), arrays)
    assert seen == [(UserWarning, f"{npy}: corrupt MNIST cache entry ({problem}); deleted it, parsing the source "
                                  "files again", __file__, this_test)]
    assert {p.name for p in npy.iterdir()} == names                       # the same entry, healthy again
    assert_same(cached_arrays(sources, never, npy), arrays)
    assert len(seen) == 1


@pytest.mark.parametrize("key, bad, problem", [
    ("x_train", np.zeros((3, 10), np.uint8), "x_train is uint8 (3, 10), expected uint8 (n, 784)"),
    ("x_test", np.zeros((2, 784), np.float64), "x_test is float64 (2, 784), expected uint8 (n, 784)"),
    ("x_train", np.zeros(784, np.uint8), "x_train is uint8 (784,), expected uint8 (n, 784)"),
    ("labels_train", np.zeros(3, np.int32), "labels_train is int32 (3,), expected int64 (3,)"),
    ("labels_test", np.zeros(3, np.int64), "labels_test is int64 (3,), expected int64 (2,)"),
])
def test_an_entry_of_wrong_types_or_shapes_is_refused_even_with_its_checksum(tmp_path, monkeypatch, key, bad,
                                                                             problem):
    """Each check of _cache_problem on its own (the others pass), on an entry whose sha256 matches."""
    npy = tmp_path / "npy"
    sources = make_sources(tmp_path / "src", "a.csv")
    good = four_arrays()
    assert cache._cache_problem(good) is None
    assert cache._cache_problem({**good, key: bad}) == problem
    save_entry(npy, sources, {**good, key: bad})
    seen = record_warnings(monkeypatch)
    assert_same(cached_arrays(sources, lambda: good, npy), good)
    assert [message for _, message, _, _ in seen] == [
        f"{npy}: corrupt MNIST cache entry ({problem}); deleted it, parsing the source files again"]


@pytest.mark.skipif(os.name != "posix", reason="the errno text is POSIX's")
def test_an_unwritable_cache_warns_once_at_the_caller(tmp_path, monkeypatch):
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the cache directory should be")
    arrays = four_arrays()
    seen = record_warnings(monkeypatch)
    assert_same(cached_arrays(make_sources(tmp_path / "src", "a.csv"), lambda: arrays, blocked), arrays)
    assert seen == [(UserWarning, f"{blocked}: cannot write the MNIST cache ([Errno 17] File exists: '{blocked}'); "
                                  "loading will parse the files every time; set NNEXP_CACHE to a writable directory",
                     __file__, sys._getframe().f_code.co_name)]


def test_an_old_entry_already_removed_by_another_process_is_no_error(tmp_path, monkeypatch):
    """Two workers of a sweep parse a changed file at once: each removes the old entry; the second finds it
    gone between listing and removing, and loads all the same."""
    npy = tmp_path / "npy"
    sources = make_sources(tmp_path / "src", "a.csv")
    cached_arrays(sources, four_arrays, npy)
    old = set(npy.iterdir())
    stat = sources[0].stat()
    os.utime(sources[0], ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    real_glob = Path.glob

    def glob_then_the_other_worker_removes(self, pattern):
        found = list(real_glob(self, pattern))
        for path in found:
            if path in old:
                path.unlink()
        return found

    monkeypatch.setattr(Path, "glob", glob_then_the_other_worker_removes)
    changed = four_arrays(seed=8)
    assert_same(cached_arrays(sources, lambda: changed, npy), changed)
    monkeypatch.undo()
    ((where, stamp),) = where_and_stamp(npy)
    assert {p.name for p in npy.iterdir()} == entry_names(where, stamp) and not old & set(npy.iterdir())


def test_no_pickle_is_written_to_the_cache(tmp_path):
    """An object array is refused (np.save would pickle it), and no file is left."""
    path = tmp_path / "x.npy"
    with pytest.raises(ValueError, match="^Object arrays cannot be saved when allow_pickle=False$"):
        cache._atomic_save(path, np.array([None, 1], dtype=object))
    assert list(tmp_path.iterdir()) == []
    cache._atomic_save(path, np.arange(3))
    np.testing.assert_array_equal(np.load(path), np.arange(3))


def test_cache_root_is_nnexp_cache_else_the_user_cache_named_nnexp(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("NNEXP_CACHE", "~/mine")
    assert cache_root() == tmp_path / "home" / "mine"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    for unset in (lambda: monkeypatch.setenv("NNEXP_CACHE", ""), lambda: monkeypatch.delenv("NNEXP_CACHE")):
        unset()
        if sys.platform.startswith("linux"):
            assert cache_root() == tmp_path / "xdg" / "nnexp"
        assert cache_root().name == "nnexp"
    assert not (tmp_path / "xdg").exists() and not (tmp_path / "home").exists()   # named, not made
