"""Reading a job's result from its run directory: result.json, and whether the files it lists are
still the ones it recorded. A job is finished when its ``result.json`` parses, its status is
``completed`` or ``diverged``, it was computed from the same configuration (``config_hash``), and
every file it lists still has the sha256 recorded when it was written; anything else runs again.
"""

import json
from pathlib import Path

from ..storage import sha256_file
from .identity import config_hash

FINISHED = ("completed", "diverged")
"""Statuses of a job that has its result; ``failed`` (and no result at all) means: run it again."""


def load_result(run_dir):
    """(result.json of ``run_dir`` as a dict, None), (None, None) when there is none, or
    (None, why it cannot be used) when it does not parse as a JSON object."""
    path = Path(run_dir) / "result.json"
    if not path.is_file():
        return None, None
    try:
        result = json.loads(path.read_text())
        if not isinstance(result, dict):
            raise ValueError(f"a JSON {type(result).__name__}, not an object")
    except (OSError, UnicodeDecodeError, ValueError) as err:
        return None, f"{path} is corrupt ({' '.join(str(err).split())})"
    return result, None


def finished_result(cfg, run_dir):
    """(result.json's dict, None) when ``run_dir`` holds a finished result of exactly ``cfg``;
    otherwise (None, why not): why not is None when there is no result.json at all, else one
    line, e.g. a corrupt result.json or a listed file that changed since it was written."""
    result, problem = load_result(run_dir)
    if result is None:
        return None, problem
    path = Path(run_dir) / "result.json"
    status = result.get("status")
    if status not in FINISHED:
        error = f": {result['error']}" if result.get("error") else ""
        return None, f"the previous attempt ended as {status}{error}"
    if result.get("config_hash") != config_hash(cfg):
        return None, f"{path} was computed from another configuration"
    problem = files_problem(run_dir, result)
    return (None, problem) if problem else (result, None)


def files_problem(run_dir, result):
    """Why the files result.json lists are not those it recorded (one line), or None when every
    one is there with its recorded sha256. A reader of a run's tables can check them with this."""
    files = result.get("files")
    if not isinstance(files, dict) or "history.csv" not in files:
        return f"{Path(run_dir) / 'result.json'} lists no files (written by an older nnexp, or damaged)"
    for name, digest in files.items():
        file = Path(run_dir) / name
        if not file.is_file():
            return f"{file} is missing"
        if sha256_file(file) != digest:
            return f"{file} is not the file result.json recorded (changed or corrupt)"
    return None
