"""The ``.npy`` cache of parsed data files: the four MNIST arrays (``nnexp.data.mnist_files``) kept in
a cache directory, keyed by the source files' absolute paths, sizes and mtimes, so the second load
takes milliseconds and a changed source file is parsed again.

Each entry carries the sha256 of its arrays (``mnist-<where>-<stamp>.sha256``, written after them and
verified on every load): an entry that is incomplete, unreadable or changed is deleted and parsed
again, never used.

Cache root: ``$NNEXP_CACHE`` if set, else ``pooch.os_cache("nnexp")``; parsed arrays live in
``<root>/mnist-npy`` and downloads in ``<root>/mnist``.
"""

import os
import warnings
from pathlib import Path

import numpy as np
import pooch

from ..storage import arrays_digest, atomic_path, sha256_json, write_text
from .mnist_files import IDX_FILES

_CACHE_VERSION = 2
"""Part of every cache entry's name: 2 since the names are hashed by ``nnexp.storage.sha256_json``."""


def cache_root():
    """``$NNEXP_CACHE`` if set, else the user cache directory ``pooch.os_cache("nnexp")``."""
    return Path(os.environ.get("NNEXP_CACHE") or pooch.os_cache("nnexp")).expanduser()


def cached_arrays(sources, parse, cache_dir=None):
    """The four arrays of ``load_mnist_dir`` made by ``parse()`` from the files ``sources``: from the
    .npy cache while those files are unchanged (same paths, sizes, mtimes), else parsed and cached."""
    cache = Path(cache_dir) if cache_dir is not None else cache_root() / "mnist-npy"
    files = _cache_files(cache, sources)
    arrays = _load_cached(files)
    if arrays is None:
        arrays = parse()
        _save_cached(files, arrays)
    return arrays


def _cache_files(cache, sources):
    """Cache paths ``mnist-<where>-<stamp>-<array>.npy`` for these sources.

    ``where`` hashes the absolute paths, ``stamp`` their sizes and mtimes: a changed file gives a
    new stamp, and the entries under the old stamp are removed when the new ones are written.
    """
    paths = [str(Path(p).resolve()) for p in sources]
    stats = [os.stat(p) for p in paths]
    where = sha256_json([_CACHE_VERSION, paths])[:16]
    stamp = sha256_json([[s.st_size, s.st_mtime_ns] for s in stats])[:16]
    return {name: cache / f"mnist-{where}-{stamp}-{name}.npy" for name in IDX_FILES}


def _digest_path(files):
    """The checksum file of a cache entry: mnist-<where>-<stamp>.sha256."""
    first = next(iter(files.values()))
    return first.with_name("-".join(first.name.split("-")[:3]) + ".sha256")


def _load_cached(files):
    """The cached arrays, or None when absent; a corrupt entry is deleted (with a warning) -> None."""
    digest = _digest_path(files)
    if not all(f.is_file() for f in files.values()):
        return None
    try:
        arrays = {name: np.load(f, allow_pickle=False) for name, f in files.items()}
        problem = _cache_problem(arrays)
        if problem is None and (not digest.is_file() or digest.read_text().strip() != arrays_digest(arrays)):
            problem = "its arrays do not match the sha256 written with them" if digest.is_file() else \
                "no checksum file"
    except Exception as e:  # noqa: BLE001 -- any failure to read means the entry is unusable
        problem = f"{type(e).__name__}: {e}"
    if problem is None:
        return arrays
    warnings.warn(f"{next(iter(files.values())).parent}: corrupt MNIST cache entry ({problem}); "
                  "deleted it, parsing the source files again", stacklevel=3)
    for f in [*files.values(), digest]:
        f.unlink(missing_ok=True)
    return None


def _cache_problem(arrays):
    """What is wrong with cached arrays (dtypes, shapes, counts), or None if they are usable."""
    for split in ("train", "test"):
        x, labels = arrays[f"x_{split}"], arrays[f"labels_{split}"]
        if x.dtype != np.uint8 or x.ndim != 2 or x.shape[1] != 784:
            return f"x_{split} is {x.dtype} {x.shape}, expected uint8 (n, 784)"
        if labels.dtype != np.int64 or labels.shape != (len(x),):
            return f"labels_{split} is {labels.dtype} {labels.shape}, expected int64 ({len(x)},)"
    return None


def _save_cached(files, arrays):
    """Write each array atomically, then drop older entries for the same sources; warn on failure."""
    cache = next(iter(files.values())).parent
    try:
        cache.mkdir(parents=True, exist_ok=True)
        for name, f in files.items():
            _atomic_save(f, arrays[name])
        write_text(_digest_path(files), arrays_digest(arrays) + "\n")   # last: the entry is complete
    except OSError as e:
        warnings.warn(f"{cache}: cannot write the MNIST cache ({e}); loading will parse the files "
                      "every time; set NNEXP_CACHE to a writable directory", stacklevel=3)
        return
    prefix = "-".join(next(iter(files.values())).name.split("-")[:2])  # mnist-<where>
    for old in [*cache.glob(f"{prefix}-*.npy"), *cache.glob(f"{prefix}-*.sha256")]:
        if old not in files.values() and old != _digest_path(files):
            old.unlink(missing_ok=True)


def _atomic_save(path, array):
    """np.save into a temporary file in the same directory, then renamed: no reader sees half a file."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.save(f, array, allow_pickle=False)
