"""Atomic writes: a reader sees the old file or the whole new one, never part of one."""

import os
import stat

import pandas as pd
import pytest

from nnexp.storage import FILE_MODE, write_csv, write_json, write_text


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
