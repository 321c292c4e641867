"""Files nnexp writes, each written atomically: to a temporary file beside it, then renamed.

A reader (a later job, ``nnexp.report``, a resumed sweep) therefore sees either the old file or
the whole new one, never half of it. The data is flushed to disk before the rename, so a machine
that goes down right after a write does not leave an empty file under the final name either; a
write that fails (a full disk, a file-size limit, a read-only directory) raises ``WriteError``
naming the file and leaves the old file as it was.

Files nnexp loads back itself (checkpoints, the reuse store) are ``checked`` .npz files: they carry
the sha256 of their arrays, verified on every read (``read_checked_npz``). Directories a sweep or run
writes into are held with an exclusive lock (``hold_directory``) for as long as it runs.
"""

import fcntl
import hashlib
import json
import os
import sys
import tempfile
import zipfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from .errors import NnexpError, WeightsError


class WriteError(NnexpError, OSError):
    """A file that could not be written (the message names it and the system's reason)."""

    @classmethod
    def of(cls, path, err, advice=""):
        """The WriteError of ``path`` from the OSError ``err``, keeping its errno."""
        error = cls(f"cannot write {path}: {err.strerror or err}{advice}")
        error.errno = err.errno
        return error


class DirectoryBusy(NnexpError):
    """A directory another process holds (the message names the directory and the holder)."""

_UMASK = os.umask(0)
os.umask(_UMASK)
FILE_MODE = 0o666 & ~_UMASK
"""Mode of every file written here: what ``open()`` would give (mkstemp's files are private)."""


@contextmanager
def atomic_path(path):
    """Yield a temporary path in ``path``'s directory; rename it onto ``path`` if the block succeeds.
    An OSError on the way (creating, writing, flushing, renaming) becomes a WriteError naming ``path``."""
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.close(fd)
        yield Path(tmp)
        _flush_to_disk(tmp)
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, path)
    except WriteError:
        raise
    except OSError as err:
        raise WriteError.of(path, err, "; the files written before it are intact") from None
    finally:
        if tmp is not None and os.path.exists(tmp):
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
    except (ValueError, OSError, zipfile.BadZipFile, EOFError, NotImplementedError, RuntimeError) as err:
        # a damaged zip header can claim an encrypted entry (RuntimeError) or an unknown method or
        # version (NotImplementedError): the file is as unreadable as a truncated one
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


# ---------------------------------------------------------------------------------------------
# Checked .npz files: the arrays and their sha256, verified when read

CHECKSUM = "sha256"
"""Name of the array that holds a checked .npz file's digest (hex text as uint8)."""


def arrays_digest(arrays):
    """sha256 (hex) of named arrays: each name, dtype, shape and C-order bytes, in name order."""
    digest = hashlib.sha256()
    for name in sorted(arrays):
        array = np.ascontiguousarray(arrays[name])
        digest.update(f"{name}|{array.dtype.str}|{array.shape}|".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def write_checked_npz(path, arrays):
    """``write_npz`` with the arrays' sha256 stored beside them (``CHECKSUM``)."""
    digest = np.frombuffer(arrays_digest(arrays).encode(), dtype=np.uint8)
    return write_npz(path, {**arrays, CHECKSUM: digest})


def read_checked_npz(path):
    """The arrays of a checked .npz; WeightsError when it cannot be read, has no checksum, or its
    arrays are not the ones the checksum was computed from (changed or corrupt since written)."""
    arrays = read_npz(path)
    stored = arrays.pop(CHECKSUM, None)
    if stored is None:
        raise WeightsError(f"{path} carries no checksum (not written by this nnexp): not used")
    if stored.tobytes().decode(errors="replace") != arrays_digest(arrays):
        raise WeightsError(f"{path} is corrupt: its arrays do not match the sha256 written with them")
    return arrays


# ---------------------------------------------------------------------------------------------
# Directory locks

LOCK_FILE = ".nnexp.lock"
"""The file a running sweep or run holds locked in its directory (it stays: see ``hold_directory``)."""


def try_lock(file):
    """Take the exclusive flock of an open ``file`` without waiting; False when another process holds it."""
    try:
        fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False


def hold_directory(directory, what):
    """Take the exclusive lock of ``directory`` (flock on its LOCK_FILE, created with it) for ``what``
    (e.g. "sweep"); returns the open lock file, held until it is closed or the process ends (the
    system then drops the lock, so a dead process never blocks). Raises DirectoryBusy, naming the
    holder, when another process holds it. The lock file is not removed afterwards: a process
    waiting on it would otherwise lock a file no longer in the directory."""
    directory = Path(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        lock = open(directory / LOCK_FILE, "a+")
    except OSError as err:
        raise WriteError.of(directory / LOCK_FILE, err) from None
    if not try_lock(lock):
        with lock:
            raise busy(directory, lock) from None
    lock.seek(0)
    lock.truncate()
    lock.write(f"{what} (pid {os.getpid()}: {' '.join(sys.argv[1:])[:200] or sys.argv[0]})\n")
    lock.flush()
    return lock


def busy(directory, lock):
    """DirectoryBusy for ``directory``, naming the holder of its open ``lock`` file (what it wrote there)."""
    lock.seek(0)
    holder = " ".join(lock.read().split()) or "another process"
    return DirectoryBusy(f"{directory} is in use by {holder}; wait for it to finish, or choose another directory")


def check_not_held(directory):
    """Raise DirectoryBusy, naming the holder, when another process holds ``directory``'s lock (see
    hold_directory); takes nothing and writes nothing."""
    try:
        lock = open(Path(directory) / LOCK_FILE)
    except FileNotFoundError:
        return
    with lock:
        if not try_lock(lock):
            raise busy(directory, lock)
