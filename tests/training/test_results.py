"""A job's result read back (nnexp/training/results.py): when result.json counts as finished, and the one
line that says why not, on a run directory written by hand (no training)."""

import json

import pytest
from helpers import TINY, compose_config

from nnexp.storage import sha256_file
from nnexp.training.identity import config_hash
from nnexp.training.results import FINISHED, files_problem, finished_result, load_result


@pytest.fixture(scope="module")
def cfg():
    return compose_config(TINY)


def finished_run(run_dir, cfg, **changes):
    """A run directory with history.csv and weights.npz listed with their sha256 in a completed result.json."""
    run_dir.mkdir(exist_ok=True)
    (run_dir / "history.csv").write_text("epoch\n1\n")
    (run_dir / "weights.npz").write_bytes(b"weights")
    files = {name: sha256_file(run_dir / name) for name in ("history.csv", "weights.npz")}
    result = {"status": "completed", "config_hash": config_hash(cfg), "files": files, **changes}
    (run_dir / "result.json").write_text(json.dumps(result))
    return result


def test_load_result_reads_a_json_object_and_names_what_is_wrong_with_anything_else(tmp_path):
    path = tmp_path / "result.json"
    assert load_result(tmp_path) == (None, None)                       # no result at all
    path.write_text('{"status": "completed", "seconds": 1.5}')
    assert load_result(tmp_path) == ({"status": "completed", "seconds": 1.5}, None)
    path.write_text("[1, 2]")
    assert load_result(tmp_path) == (None, f"{path} is corrupt (a JSON list, not an object)")
    path.write_text('{"status": "compl')
    assert load_result(tmp_path) == (
        None, f"{path} is corrupt (Unterminated string starting at: line 1 column 12 (char 11))")
    path.write_bytes(b'{"status": "\xff"}')
    assert load_result(str(tmp_path)) == (
        None, f"{path} is corrupt ('utf-8' codec can't decode byte 0xff in position 12: invalid start byte)")
    path.unlink()
    path.mkdir()                                                       # not a file: no result
    assert load_result(tmp_path) == (None, None)


def test_a_completed_or_diverged_result_of_the_same_configuration_with_its_files_is_finished(tmp_path, cfg):
    assert FINISHED == ("completed", "diverged")
    result = finished_run(tmp_path, cfg)
    assert finished_result(cfg, tmp_path) == (result, None)
    result = finished_run(tmp_path, cfg, status="diverged")
    assert finished_result(cfg, str(tmp_path)) == (result, None)
    assert files_problem(tmp_path, result) is None


@pytest.mark.parametrize("changes, why_not", [
    ({"status": "failed", "error": "boom"}, "the previous attempt ended as failed: boom"),
    ({"status": "interrupted", "error": ""}, "the previous attempt ended as interrupted"),
    ({"status": None}, "the previous attempt ended as None"),
    ({"config_hash": "0" * 64}, "{run}/result.json was computed from another configuration"),
    ({"files": None}, "{run}/result.json lists no files (written by an older nnexp, or damaged)"),
    ({"files": {"weights.npz": "0" * 64}}, "{run}/result.json lists no files (written by an older nnexp, or damaged)"),
])
def test_a_result_that_is_not_finished_says_why_in_one_line(tmp_path, cfg, changes, why_not):
    finished_run(tmp_path, cfg, **changes)
    assert finished_result(cfg, tmp_path) == (None, why_not.format(run=tmp_path))


def test_a_listed_file_missing_or_changed_is_named(tmp_path, cfg):
    result = finished_run(tmp_path, cfg)
    (tmp_path / "weights.npz").write_bytes(b"other weights")
    assert finished_result(cfg, tmp_path) == (
        None, f"{tmp_path / 'weights.npz'} is not the file result.json recorded (changed or corrupt)")
    (tmp_path / "weights.npz").unlink()
    assert files_problem(str(tmp_path), result) == f"{tmp_path / 'weights.npz'} is missing"
    (tmp_path / "weights.npz").mkdir()                                 # a directory is not the file
    assert files_problem(tmp_path, result) == f"{tmp_path / 'weights.npz'} is missing"
