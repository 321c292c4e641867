"""Files nnexp writes, each written atomically: to a temporary file beside it, then renamed.

A reader (a later job, ``nnexp.report``, a resumed sweep) therefore sees either the old file or
the whole new one, never half of it. The data is flushed to disk before the rename, so a machine
that goes down right after a write does not leave an empty file under the final name either; a
full disk fails the write and leaves the old file as it was.
"""

import hashlib
import json
import os
import tempfile
import zipfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from .errors import WeightsError

_UMASK = os.umask(0)
os.umask(_UMASK)
FILE_MODE = 0o666 & ~_UMASK
"""Mode of every file written here: what ``open()`` would give (mkstemp's files are private)."""


@contextmanager
def atomic_path(path):
    """Yield a temporary path in ``path``'s directory; rename it onto ``path`` if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        yield Path(tmp)
        _flush_to_disk(tmp)
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _flush_to_disk(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_text(path, text):
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def write_json(path, data):
    return write_text(path, json.dumps(data, indent=2, default=_json_default) + "\n")


def write_csv(path, frame):
    """Write a pandas DataFrame as CSV without its index."""
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)
    return Path(path)


def write_npz(path, arrays):
    """Save named arrays uncompressed as .npz (numeric arrays only: loadable without pickle)."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
    return Path(path)


def read_npz(path):
    """Named arrays of an .npz file, loaded with allow_pickle=False; a bad file is a WeightsError."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weights file {path} does not exist")
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {name: npz[name] for name in npz.files}
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as err:
        raise WeightsError(f"weights file {path} is not a readable .npz without pickle: {err}") from None


def _json_default(value):
    """numpy scalars and arrays as plain JSON numbers and lists."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def sha256_file(path):
    """sha256 (hex) of a file's bytes, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def sha256_json(value):
    """sha256 (hex) of ``value`` as canonical JSON (sorted keys, no spaces): equal values, equal hashes."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()
