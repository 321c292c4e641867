"""A sweep directory read back from disk: every job of the grid (planned in multirun.yaml or found
as a job directory) with its overrides and result, as the tables results.csv and history.csv.

Statuses: completed, diverged (the loss became non-finite), failed (the job raised; its error is
recorded), missing (a job directory without a readable result.json: killed, still running, or its
files are not those result.json recorded), pending (a grid point whose job never started).
"""

import functools
import logging
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import yaml
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from ..errors import NnexpError
from ..training.results import files_problem, load_result
from ..training.run_files import HISTORY_COLUMNS
from .guard import expand_grid, job_dirs, sweep_args

log = logging.getLogger(__name__)

METRICS = ["train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc", "best_val_acc", "best_val_loss",
           "best_test_acc", "best_test_loss", "best_epoch"]
"""results.csv's scores of each job (result.json: after the last epoch, and at the best epoch)."""
STATUSES = ("completed", "diverged", "failed", "interrupted", "missing", "pending")


class ReportError(NnexpError):
    """A directory that holds no run or sweep to report on."""


@dataclass
class Job:
    """One grid point of a sweep: its Hydra job number, overrides (key -> value) and what is on disk."""

    num: int
    overrides: dict
    dir: Path = None
    result: dict = field(default_factory=dict)
    problem: str = None    # why result.json could not be read (a corrupt file)

    @property
    def status(self):
        if self.dir is None:
            return "pending"
        return self.result.get("status", "missing")

    def note(self):
        """Why the job has no final result, in a few words ('' when it completed)."""
        if self.status in ("failed", "interrupted"):
            return " ".join(str(self.result.get("error", self.status)).split())
        if self.status == "diverged":
            return f"loss not finite in epoch {self.result.get('diverged_epoch')}"
        if self.status == "missing":
            return self.problem or "no result.json (killed, or still running)"
        if self.status == "pending":
            return "not started"
        return ""


def readable(value):
    """A swept value as shown in tables and legends: lists as typed (``[200,100]``), others as is."""
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(str(readable(v)) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{k}:{readable(v)}" for k, v in value.items()) + "}"
    return value


@functools.cache
def overrides_parser():
    from hydra.core.override_parser.overrides_parser import OverridesParser

    return OverridesParser.create()


@functools.cache
def parsed_override(line):
    """One Hydra override string parsed by Hydra's own grammar: (key, readable value), or None for a
    deletion ('~key'). Kept per string: a sweep's jobs repeat most of theirs (epochs=2, seed=0)."""
    override = overrides_parser().parse_override(line)
    return None if override.is_delete() else (override.key_or_group, readable(override.value()))


def parse_overrides(lines):
    """Hydra override strings ('lr=0.1', 'model.hidden=[200,100]', '+experiment=x') as an ordered
    dict key -> value; deletions ('~key') are left out."""
    return dict(parsed for parsed in map(parsed_override, lines) if parsed is not None)


YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's safe loader where PyYAML has it: a job's .hydra/hydra.yaml loads about 20 times faster."""


def read_yaml(path):
    with open(path) as f:
        return yaml.load(f, Loader=YAML_LOADER)


def job_number(job_dir):
    """The Hydra job number of a job directory (from .hydra/hydra.yaml, else the directory name)."""
    try:
        return int(read_yaml(job_dir / ".hydra" / "hydra.yaml")["hydra"]["job"]["num"])
    except (OSError, KeyError, TypeError, ValueError, yaml.YAMLError):
        return int(job_dir.name) if job_dir.name.isdigit() else None


def multirun_config(sweep_dir):
    """The sweep's saved configuration (multirun.yaml, unresolved), or an empty config when there is none."""
    try:
        return OmegaConf.load(Path(sweep_dir) / "multirun.yaml")
    except (OSError, yaml.YAMLError, OmegaConfBaseException):
        return OmegaConf.create()


GRID_SWEEPERS = ("BasicSweeper", "ComposeOnceSweeper")
"""Sweepers (by class name) that run the grid of Hydra's basic sweeper: Hydra's own and nnexp's
(hydra_plugins/nnexp_sweeper), which composes each job once."""


def planned_grid(multirun):
    """Override lists of every job the sweep launches, in job-number order, expanded from its grid
    (``hydra.sweeper.params`` then the command line) as Hydra's basic sweeper does; None when the
    saved config does not say (another sweeper, or no multirun.yaml)."""
    sweeper = OmegaConf.select(multirun, "hydra.sweeper") or {}
    if not str(sweeper.get("_target_") or "").endswith(GRID_SWEEPERS):
        return None
    try:
        return expand_grid(sweep_args(multirun))
    except Exception as err:  # noqa: BLE001 - a grid we cannot expand is reported from job dirs alone
        log.warning("could not expand the sweep grid of multirun.yaml: %s", err)
        return None


def collect(sweep_dir):
    """Every job of the sweep, planned or found on disk, sorted by job number."""
    sweep_dir = Path(sweep_dir)
    jobs = {}
    for num, lines in enumerate(planned_grid(multirun_config(sweep_dir)) or []):
        jobs[num] = Job(num, parse_overrides(lines))
    for job_dir in job_dirs(sweep_dir):
        num = job_number(job_dir)
        num = num if num is not None else -1 - len(jobs)
        jobs[num] = job_on_disk(num, job_dir)
    return [jobs[num] for num in sorted(jobs)]


def job_on_disk(num, job_dir):
    """The Job of a run directory: its overrides (.hydra/overrides.yaml, if any) and its result,
    which counts only while the files result.json lists are those it recorded (sha256)."""
    overrides_file = job_dir / ".hydra" / "overrides.yaml"
    overrides = parse_overrides(read_yaml(overrides_file) or []) if overrides_file.is_file() else {}
    result, problem = load_result(job_dir)
    if result and (result.get("status") == "completed" or "files" in result):
        problem = files_problem(job_dir, result)
        result = {} if problem else result    # files changed since the job: no result to report
    return Job(num, overrides, job_dir, result or {}, problem)


def jobs_in(directory):
    """The one job of a run directory (one holding result.json) or every job of a sweep directory,
    and whether it is a run; ReportError for a directory that holds neither."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ReportError(f"{directory} is not a directory; give sweep or run directories")
    if (directory / "result.json").is_file():
        return [job_on_disk(0, directory)], True
    jobs = collect(directory)
    if not jobs:
        raise ReportError(f"{directory} holds no run (result.json) and no sweep jobs; give sweep or run directories")
    return jobs, False


def key_columns(jobs):
    """The override keys of all jobs, in the order they were typed (first appearance)."""
    return list(dict.fromkeys(key for job in jobs for key in job.overrides))


def varying(frame, keys):
    """The keys that take more than one value across the rows of ``frame`` (an empty value is one)."""
    return [k for k in keys if frame[k].astype(str).nunique(dropna=False) > 1]


def results_frame(jobs, sweep_dir):
    """results.csv: job, status, one column per override key, final and best metrics, the epochs the job
    trained itself (not taken from a checkpoint or the reuse store), seconds, the job's directory
    (relative to the sweep directory) and a note for jobs that did not complete."""
    keys = key_columns(jobs)
    rows = []
    for job in jobs:
        row = {"job": job.num, "status": job.status}
        row.update({k: job.overrides.get(k) for k in keys})
        row.update({m: job.result.get(m) for m in METRICS})
        row["epochs_trained"] = job.result.get("epochs_trained")
        row["seconds"] = job.result.get("seconds")
        row["dir"] = "" if job.dir is None else str(job.dir.relative_to(sweep_dir))
        row["error"] = job.note()
        rows.append(row)
        row["selected_on"] = job.result.get("selected_on")
    columns = ["job", "status", *keys, *METRICS, "selected_on", "epochs_trained", "seconds", "dir", "error"]
    frame = pd.DataFrame(rows, columns=columns)
    return frame.astype({m: float for m in METRICS if m != "best_epoch"}
                        | {"seconds": float, "best_epoch": "Int64", "epochs_trained": "Int64"})


def history_frame(jobs):
    """history.csv: every job's history.csv in long form, with job and the override keys in front."""
    keys = key_columns(jobs)
    parts = []
    for job in jobs:
        path = None if job.dir is None else job.dir / "history.csv"
        if path is None or not path.is_file():
            continue
        try:
            history = pd.read_csv(path)
        except (OSError, ValueError, pd.errors.EmptyDataError):
            log.warning("skipping unreadable %s", path)
            continue
        for position, key in enumerate(["job", *keys]):
            history.insert(position, key, job.num if key == "job" else job.overrides.get(key))
        parts.append(history)
    columns = ["job", *keys, *HISTORY_COLUMNS]
    # a job written by an earlier nnexp lacks the columns added since (val_*, epoch_lr): left empty
    return pd.concat(parts, ignore_index=True).reindex(columns=columns) if parts else pd.DataFrame(columns=columns)
