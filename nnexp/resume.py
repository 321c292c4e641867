"""Resuming a sweep: a rerun skips the jobs that are done, and one sweep directory holds one sweep.

A job is done when its ``result.json`` parses, its status is ``completed`` or ``diverged``, it was
computed from the same configuration (``config_hash``), and every file it lists still has the
sha256 recorded when it was written. Anything else is run again; a job that was killed continues
from its last checkpoint (``run_job``).

Hydra numbers job directories 0, 1, ... within ``hydra.sweep.dir``, so a different grid launched
into the directory of an earlier sweep would write over that sweep's jobs. ``SweepGuard``, a Hydra
callback, refuses such a launch in ``on_multirun_start``, before Hydra writes anything (its first
write, ``multirun.yaml``, comes after that hook), unless ``overwrite=true`` was given.
"""

import hashlib
import json
import logging
import shutil
import sys
from pathlib import Path

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

log = logging.getLogger("nnexp")

FINISHED = ("completed", "diverged")
"""Statuses of a job that has its result; ``failed`` (and no result at all) means: run it again."""

NOT_IDENTITY = ("overwrite", "threads", "reuse", "reuse_dir", "lr_find")
"""Config keys that do not change what a job computes: left out of hashes and grid comparisons."""


def config_hash(cfg, ignore=()):
    """sha256 of a job's resolved config, without ``hydra``, ``NOT_IDENTITY`` and ``ignore``
    (top-level keys): the same for the task function's config and Hydra's full one."""
    keys = [key for key in cfg if key not in ("hydra", *NOT_IDENTITY, *ignore)]
    container = OmegaConf.to_container(OmegaConf.masked_copy(cfg, keys), resolve=True)
    text = json.dumps(container, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def file_digest(path):
    """sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_digests(paths):
    """{file name: sha256} of files in one directory, for result.json's ``files``."""
    return {Path(p).name: file_digest(p) for p in paths}


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
        if file_digest(file) != digest:
            return f"{file} is not the file result.json recorded (changed or corrupt)"
    return None


# ---------------------------------------------------------------------------------------------
# The sweep directory


class SweepRefused(Exception):
    """A launch that would write into the directory of another sweep."""

    def __init__(self, message, replaceable):
        super().__init__(message)
        self.replaceable = replaceable  # overwrite=true may clear the directory


def sweep_args(config):
    """The sweep as typed: ``hydra.sweeper.params`` then the task overrides, without NOT_IDENTITY keys."""
    params = config.hydra.sweeper.get("params") or {}
    args = [f"{key}={value}" for key, value in params.items()] + list(config.hydra.overrides.task)
    return [arg for arg in args if arg.split("=", 1)[0].lstrip("+~") not in NOT_IDENTITY]


def expand_grid(args):
    """Each job's overrides, in Hydra's job order, as the basic sweeper expands ``args``."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    return BasicSweeper.split_arguments(OverridesParser.create().parse_overrides(args), None)[0]


def sweep_jobs(args):
    """Each job's overrides (sorted), in Hydra's job order, as the basic sweeper expands ``args``;
    ``args`` sorted when they cannot be expanded here (another sweeper's syntax)."""
    try:
        return [sorted(job) for job in expand_grid(args)]
    except Exception:  # noqa: BLE001 - unparsable here: compare the words as typed
        return sorted(args)


def task_config(config):
    """The config without ``hydra`` and NOT_IDENTITY keys, unresolved, as plain containers."""
    container = OmegaConf.to_container(config, resolve=False)
    for key in ("hydra", *NOT_IDENTITY):
        container.pop(key, None)
    return container


def flat(value, prefix=""):
    """{dotted key: leaf value} of nested dicts (lists stay whole)."""
    if not isinstance(value, dict):
        return {prefix: value}
    items = {}
    for key, inner in value.items():
        items.update(flat(inner, f"{prefix}.{key}" if prefix else str(key)))
    return items


def check_sweep_dir(config):
    """Raise SweepRefused unless ``hydra.sweep.dir`` is new, empty, or holds this very sweep."""
    sweep_dir = Path(config.hydra.sweep.dir)
    if not sweep_dir.exists():
        return
    if not sweep_dir.is_dir():
        raise SweepRefused(f"hydra.sweep.dir {sweep_dir} is a file; choose a directory", False)
    if not any(sweep_dir.iterdir()):
        return
    saved = sweep_dir / "multirun.yaml"
    if not saved.is_file():
        raise SweepRefused(f"hydra.sweep.dir {sweep_dir} is not empty and holds no multirun.yaml, so it is "
                           "not a sweep directory; choose a new or empty directory", False)
    try:
        earlier = OmegaConf.load(saved)
        earlier_args = sweep_args(earlier)
    except Exception as err:  # noqa: BLE001 - any unreadable multirun.yaml
        raise SweepRefused(f"cannot read {saved} ({' '.join(str(err).split())}), so the sweep in {sweep_dir} "
                           "is unknown; choose another hydra.sweep.dir, or add overwrite=true to replace it",
                           True) from None
    now_args = sweep_args(config)
    advice = ("rerun with its overrides to resume it, choose another hydra.sweep.dir, or add overwrite=true "
              "to delete it and start afresh")
    if sweep_jobs(earlier_args) != sweep_jobs(now_args):
        gone = [a for a in earlier_args if a not in now_args] or earlier_args
        new = [a for a in now_args if a not in earlier_args] or now_args
        raise SweepRefused(f"{sweep_dir} holds another sweep: its overrides {' '.join(gone) or '(none)'} differ "
                           f"from {' '.join(new) or '(none)'} given now; {advice}", True)
    before, after = flat(task_config(earlier)), flat(task_config(config))
    changed = [f"{key}={before.get(key, '(absent)')} now {after.get(key, '(absent)')}"
               for key in sorted(set(before) | set(after)) if before.get(key, "\0") != after.get(key, "\0")]
    if changed:
        raise SweepRefused(f"{sweep_dir} holds a sweep with the same overrides but another configuration "
                           f"({'; '.join(changed)}); {advice}", True)


def clear_sweep_dir(sweep_dir):
    """Delete everything in a sweep directory (one that holds a multirun.yaml)."""
    for entry in Path(sweep_dir).iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def job_dirs(sweep_dir):
    """Directories of the jobs in a sweep directory: those Hydra gave a ``.hydra`` folder."""
    return sorted((p.parent.parent for p in Path(sweep_dir).glob("**/.hydra/overrides.yaml")),
                  key=lambda p: (len(p.parts), int(p.name) if p.name.isdigit() else -1, str(p)))


def failed_jobs(sweep_dir):
    """[(job directory, why)] for every job without a finished result (failed, or none at all)."""
    failed = []
    for job in job_dirs(sweep_dir):
        result = load_result(job)[0] or {"status": "missing", "error": "no readable result.json"}
        if result.get("status") not in FINISHED:
            failed.append((job, result.get("error") or result.get("status")))
    return failed


def refuse(message):
    """One line on stderr and exit 1 (a SystemExit passes through Hydra's error printing)."""
    print(f"nnexp: error: {message}", file=sys.stderr)
    sys.exit(1)


class ResultGuard(Callback):
    """Keeps finished results from being overwritten by another configuration: one sweep per
    ``hydra.sweep.dir``, one configuration per ``hydra.run.dir``; after a sweep, exits non-zero
    if a job did not finish."""

    def on_run_start(self, config: DictConfig, **kwargs) -> None:
        run_dir = Path(config.hydra.run.dir)
        result = load_result(run_dir)[0]
        if (result is not None and result.get("status") in FINISHED and not config.get("overwrite")
                and result.get("config_hash") != config_hash(config)):
            refuse(f"{run_dir} holds the {result['status']} result of another configuration; choose another "
                   "hydra.run.dir, or add overwrite=true to replace it")

    def on_multirun_start(self, config: DictConfig, **kwargs) -> None:
        try:
            check_sweep_dir(config)
        except SweepRefused as refused:
            if not (config.get("overwrite") and refused.replaceable):
                refuse(str(refused))
            log.warning("overwrite=true: deleting the earlier sweep in %s", config.hydra.sweep.dir)
            clear_sweep_dir(config.hydra.sweep.dir)

    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        failed = failed_jobs(config.hydra.sweep.dir)
        if failed:
            job, why = failed[0]
            refuse(f"{len(failed)} of {len(job_dirs(config.hydra.sweep.dir))} jobs in {config.hydra.sweep.dir} "
                   f"did not finish (first: {job.name}: {why}); their logs hold the details; fix the cause and "
                   "rerun the same command: finished jobs are skipped")

