"""Atomic writes: a reader sees the old file or the whole new one, never part of one."""

import json
import os
import stat
import sys

import numpy as np
import pandas as pd
import pytest

from nnexp.errors import WeightsError
from nnexp.storage import (
    CHECKSUM,
    FILE_MODE,
    LOCK_FILE,
    DirectoryBusy,
    WriteError,
    arrays_digest,
    check_not_held,
    hold_directory,
    read_checked_npz,
    read_npz,
    sha256_json,
    try_lock,
    write_checked_npz,
    write_csv,
    write_json,
    write_npz,
    write_text,
)


def test_a_failed_write_leaves_the_old_file_and_no_temporary_file(tmp_path):
    path = write_json(tmp_path / "result.json", {"status": "completed"})
    old = path.read_bytes()

    class Unwritable:
        pass
    with pytest.raises(TypeError):
        write_json(path, {"status": Unwritable()})
    frame = pd.DataFrame({"a": [1]})
    frame.to_csv = lambda *args, **kwargs: (_ for _ in ()).throw(OSError(28, "No space left on device"))
    with pytest.raises(OSError, match="No space left"):
        write_csv(path, frame)
    assert path.read_bytes() == old
    assert [p.name for p in tmp_path.iterdir()] == ["result.json"]


def test_written_files_get_the_usual_permissions(tmp_path):
    path = write_text(tmp_path / "sub" / "notes.txt", "x")
    assert stat.S_IMODE(os.stat(path).st_mode) == FILE_MODE
    assert FILE_MODE & 0o400 and not FILE_MODE & 0o111


def test_a_held_directory_is_refused_to_others_naming_its_holder_until_released(tmp_path, monkeypatch):
    """flock belongs to an open file, so a second open in this process stands for another process."""
    monkeypatch.setattr(sys, "argv", ["nnexp", "-m", "lr=0.1,0.3"])
    directory = tmp_path / "sweep"
    assert check_not_held(directory) is None                      # no lock file yet: free, nothing written
    assert not directory.exists()
    (directory).mkdir()
    (directory / LOCK_FILE).write_text("an earlier holder's much longer line of text\n")
    holder = hold_directory(directory, "a sweep")
    assert (directory / LOCK_FILE).read_text() == f"a sweep (pid {os.getpid()}: -m lr=0.1,0.3)\n"
    for attempt in (lambda: hold_directory(directory, "another sweep"), lambda: check_not_held(directory)):
        with pytest.raises(DirectoryBusy) as busy:
            attempt()
        assert str(busy.value) == (f"{directory} is in use by a sweep (pid {os.getpid()}: -m lr=0.1,0.3); wait for "
                                   "it to finish, or choose another directory")
    with open(directory / LOCK_FILE) as other:
        assert not try_lock(other)
    holder.close()
    assert check_not_held(directory) is None
    with open(directory / LOCK_FILE) as other:
        assert try_lock(other)
    again = hold_directory(directory, "x")                         # the lock file stays and is reused
    assert (directory / LOCK_FILE).read_text().startswith("x (pid ")
    again.close()


def test_holding_a_directory_that_cannot_be_made_is_a_write_error(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["nnexp"])
    (tmp_path / "file").write_text("")
    with pytest.raises(WriteError, match=f"cannot write {tmp_path / 'file' / 'sub' / LOCK_FILE}"):
        hold_directory(tmp_path / "file" / "sub", "a run")
    holder = hold_directory(tmp_path / "run", "a run")
    assert (tmp_path / "run" / LOCK_FILE).read_text() == f"a run (pid {os.getpid()}: nnexp)\n"
    holder.close()


def test_a_write_error_names_the_file_and_the_systems_reason_and_keeps_its_errno(tmp_path):
    error = WriteError.of(tmp_path / "a.csv", OSError(28, "No space left on device"))
    assert str(error) == f"cannot write {tmp_path / 'a.csv'}: No space left on device" and error.errno == 28
    error = WriteError.of(tmp_path / "a.csv", OSError("no reason given"), "; try again")
    assert str(error) == f"cannot write {tmp_path / 'a.csv'}: no reason given; try again"


def test_json_files_are_indented_and_hold_numpy_values_as_numbers(tmp_path):
    data = {"acc": np.float32(0.5), "epochs": np.int64(3), "hidden": np.array([10, 20]), "name": "x"}
    text = write_json(tmp_path / "result.json", data).read_text()
    assert text == json.dumps({"acc": 0.5, "epochs": 3, "hidden": [10, 20], "name": "x"}, indent=2) + "\n"

    class Unwritable:
        pass
    with pytest.raises(TypeError, match="^cannot write Unwritable as JSON$"):
        write_json(tmp_path / "bad.json", {"x": Unwritable()})


def test_a_checksum_that_is_not_text_is_corrupt_not_a_crash(tmp_path):
    path = write_checked_npz(tmp_path / "state.npz", {"w": np.arange(3.0)})
    arrays = read_npz(path)
    arrays[CHECKSUM] = np.full(64, 0xFF, dtype=np.uint8)    # not UTF-8: decoded with replacement characters
    write_npz(path, arrays)
    with pytest.raises(WeightsError, match="corrupt"):
        read_checked_npz(path)


def test_a_holder_that_wrote_nothing_is_another_process_and_long_command_lines_are_cut(tmp_path, monkeypatch):
    directory = tmp_path / "a" / "b" / "sweep"                    # its parents are made too
    monkeypatch.setattr(sys, "argv", ["nnexp", "x" * 300])
    holder = hold_directory(directory, "a sweep")
    assert (directory / LOCK_FILE).read_text() == f"a sweep (pid {os.getpid()}: {'x' * 200})\n"
    holder.close()
    with open(directory / LOCK_FILE, "w") as silent:              # locked before its holder wrote a line
        assert try_lock(silent)
        with pytest.raises(DirectoryBusy, match="is in use by another process; wait"):
            check_not_held(directory)


def test_the_checksum_is_stored_as_hex_text_in_bytes_and_a_missing_file_is_named(tmp_path):
    arrays = {"w": np.arange(3.0), "b": np.zeros(2, dtype=np.float32)}
    stored = read_npz(write_checked_npz(tmp_path / "state.npz", arrays))[CHECKSUM]
    assert stored.dtype == np.uint8 and stored.tobytes().decode() == arrays_digest(arrays)
    with pytest.raises(WeightsError) as error:
        read_npz(tmp_path / "missing.npz")
    assert str(error.value) == f"weights file {tmp_path / 'missing.npz'} does not exist"


def test_sha256_json_hashes_canonical_json_and_writes_other_values_as_text(tmp_path):
    """Hashes recorded by one version are compared by the next (a resumed sweep): the text is fixed."""
    import hashlib

    assert sha256_json({"b": [1, 2.5], "a": None}) == hashlib.sha256(b'{"a":null,"b":[1,2.5]}').hexdigest()
    assert sha256_json({"dir": tmp_path}) == sha256_json({"dir": str(tmp_path)})
