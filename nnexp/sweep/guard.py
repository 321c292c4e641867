"""One sweep per sweep directory, and a sweep's unfinished jobs.

A rerun of a sweep skips the jobs that are done (``nnexp.training.results.finished_result``, asked
by ``nnexp.main``); a job that was killed continues from its last checkpoint (``run_job``).

Hydra numbers job directories 0, 1, ... within ``hydra.sweep.dir``, so a different grid launched
into the directory of an earlier sweep would write over that sweep's jobs. ``check_sweep_dir``, run
by a Hydra callback (``nnexp.sweep.callbacks.ResultGuard``), refuses such a launch in
``on_multirun_start``, before Hydra writes anything (its first write, ``multirun.yaml``, comes after
that hook), unless ``overwrite=true`` was given.
"""

import shutil
from pathlib import Path

from omegaconf import OmegaConf

from ..storage import LOCK_FILE, sha256_json
from ..training.identity import NOT_IDENTITY, without_unset
from ..training.results import FINISHED, load_result


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
    """Each job's overrides, in Hydra's job order, as the basic sweeper expands ``args``.

    The one use of a Hydra internal (the basic sweeper's own expansion, so that the order is
    Hydra's by construction); tests/sweep/test_guard.py runs a real sweep and fails when the
    jobs Hydra launched differ from this list."""
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
    """The config without ``hydra``, NOT_IDENTITY keys and unset keys added later, unresolved, as plain
    containers."""
    container = OmegaConf.to_container(config, resolve=False, enum_to_str=True)
    for key in ("hydra", *NOT_IDENTITY):
        container.pop(key, None)
    return {key: without_unset(key, value) for key, value in container.items()}


def flat(value, prefix=""):
    """{dotted key: leaf value} of nested dicts (lists stay whole)."""
    if not isinstance(value, dict):
        return {prefix: value}
    items = {}
    for key, inner in value.items():
        items.update(flat(inner, f"{prefix}.{key}" if prefix else str(key)))
    return items


def sweep_hash(config):
    """sha256 of what makes a directory hold the same sweep (what ``check_sweep_dir`` compares): its jobs'
    overrides and its configuration, NOT_IDENTITY keys left out."""
    return sha256_json([sweep_jobs(sweep_args(config)), task_config(config)])


def check_sweep_dir(config):
    """Raise SweepRefused unless ``hydra.sweep.dir`` is new, empty, or holds this very sweep."""
    sweep_dir = Path(config.hydra.sweep.dir)
    if not sweep_dir.exists():
        return
    if not sweep_dir.is_dir():
        raise SweepRefused(f"hydra.sweep.dir {sweep_dir} is a file; choose a directory", False)
    if not [entry for entry in sweep_dir.iterdir() if entry.name != LOCK_FILE]:
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
    """Delete everything in a sweep directory (one that holds a multirun.yaml) but its lock."""
    for entry in Path(sweep_dir).iterdir():
        if entry.name == LOCK_FILE:
            continue
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
