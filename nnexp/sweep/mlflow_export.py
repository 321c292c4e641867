"""Sweeps and runs exported from disk to MLflow: ``python -m nnexp.mlflow DIR ...``, and the callback
``hydra.callbacks.mlflow`` (``nnexp.sweep.callbacks.MlflowCallback``) at the end of a sweep.

A sweep is a parent run, each of its jobs a child run; a run directory is one run. A job's run holds its
overrides as parameters (as typed, as in results.csv), every epoch of its history.csv as metrics with
step = epoch (and its best-epoch scores), its status, seed, config hash and git commit as tags, and its
files (``RUN_FILES``, figures, result.json, Hydra's config.yaml) as artifacts. The sweep's run holds the
grid as parameters and the sweep's tables, figures and report.md as artifacts.

Export is idempotent. A sweep's run is found again by its directory and ``guard.sweep_hash`` (its grid
and configuration), a job's run by its job number and config hash under it, a single run's by its
directory and config hash (tags, searched with ``search_runs``). A run whose content did not change
(the tag ``nnexp.digest``) is left alone; a changed one gets its tags and artifacts again and only the
metric points it lacks. Everything is read and checked before the store is opened: bad input writes
nothing. MLflow is imported only here, and only when an export starts (it is an optional extra).
"""

import argparse
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from omegaconf import OmegaConf

from ..errors import NnexpError, error_line
from ..storage import sha256_file, sha256_json
from ..training.identity import config_hash
from ..training.results import FINISHED
from ..training.run_files import HISTORY_COLUMNS, RUN_FILES
from .collect import METRICS, history_frame, jobs_in, key_columns, multirun_config, varying
from .guard import sweep_args, sweep_hash
from .search_report import results_of, search_tags
from .sweep_report import command_line

INSTALL = 'MLflow is not installed; install the extra: pip install -e ".[mlflow]"'
TRACKING_URI = "sqlite:///mlruns.db"
EXPERIMENT = "nnexp"
STATUS = {"completed": "FINISHED", "diverged": "FAILED", "failed": "FAILED", "interrupted": "KILLED",
          "missing": "KILLED"}
"""MLflow's status of a job with each nnexp status (the tag ``nnexp.status`` keeps nnexp's own)."""
SWEEP_FILES = ("results.csv", "summary.csv", "history.csv", "report.md", "search.csv", "search.json")
FIGURES = ("*.png", "*.gif")
BATCH = 1000
"""Metric points per ``log_batch`` call (MLflow's limit); params and tags go 100 at a time."""


class ExportError(NnexpError):
    """A directory that cannot be exported, or a tracking store that refuses the export."""


def require_mlflow():
    """The ``mlflow`` module, or ExportError naming the extra to install."""
    try:
        import mlflow
    except ImportError:
        raise ExportError(INSTALL) from None
    return mlflow


@dataclass
class Record:
    """One MLflow run as it will be written: ``key`` (the tags it is found again by; the first one a hash
    to search for), name, params, tags, metric points (key, value, step, timestamp in ms), files
    [(artifact folder, path)], MLflow status, start and end (ms since 1970), the runs of its jobs."""

    key: dict
    name: str
    params: dict
    tags: dict
    metrics: list
    files: list
    status: str
    start: int
    end: int
    children: list = field(default_factory=list)

    def digest(self):
        """sha256 of everything the run holds but its times: an equal digest, nothing to write."""
        files = [(folder, path.name, sha256_file(path)) for folder, path in self.files]
        points = [point[:3] for point in self.metrics]
        return sha256_json([self.key, self.name, self.params, self.tags, points, files, self.status])


def typed(value):
    """An override's value as typed (results.csv's spelling; true, false and null as in YAML)."""
    if value is None:
        return "null"
    return str(value).lower() if isinstance(value, bool) else str(value)


def modified_ms(*paths):
    """Last modification (ms since 1970) of the first of ``paths`` that exists."""
    for path in paths:
        if path.exists():
            return int(path.stat().st_mtime * 1000)
    return 0


def short_name(directory):
    """A directory as a run's name: its last two parts (a sweep's ``<date>/<time>``)."""
    return "/".join(Path(directory).resolve().parts[-2:])


def job_metrics(history, result, end):
    """Metric points (key, value, step, timestamp) of a job: every number of its history (rows with an
    epoch; each point timed at the end of its epoch, counted back from ``end``), and its best-epoch scores."""
    history = history.reindex(columns=HISTORY_COLUMNS).apply(pd.to_numeric, errors="coerce").dropna(subset=["epoch"])
    elapsed = history["seconds"].fillna(0).cumsum()
    start = end - int(1000 * (elapsed.iloc[-1] if len(history) else 0))
    points = [(column, float(row[column]), int(row["epoch"]), start + int(1000 * done))
              for (_, row), done in zip(history.iterrows(), elapsed) for column in HISTORY_COLUMNS[1:]
              if pd.notna(row[column])]
    best_step = int(result.get("best_epoch") or 0)
    return points + [(metric, float(result[metric]), best_step, end) for metric in METRICS
                     if metric.startswith("best_") and isinstance(result.get(metric), (int, float))
                     and pd.notna(result[metric])]


def job_files(folder):
    """[(artifact folder, path)] of a job: its RUN_FILES, result.json, figures and Hydra's config."""
    files = [("", folder / name) for name in [*RUN_FILES, "result.json"] if (folder / name).is_file()]
    files += [("", path) for path in sorted(folder.glob("*.png")) if path.name not in RUN_FILES]
    hydra = [folder / ".hydra" / "config.yaml", folder / ".hydra" / "overrides.yaml"]
    return files + [("hydra", path) for path in hydra if path.is_file()]


def job_record(job, history, keys, name=None, extra_tags=None):
    """The run of a job: ``history`` its rows of the history table, ``keys`` the override keys that vary
    across its sweep (they name the run: ``#3 lr=0.1 seed=1``), ``extra_tags`` (a search's trial and rung)."""
    result, folder = job.result, job.dir
    hydra_config = folder / ".hydra" / "config.yaml"
    digest = result.get("config_hash") or (config_hash(OmegaConf.load(hydra_config)) if hydra_config.is_file()
                                           else "unknown")
    end = modified_ms(folder / "result.json", folder / "history.csv", folder)
    metrics = job_metrics(history, result, end)
    git = (result.get("environment") or {}).get("git") or {}
    tags = {"nnexp.status": job.status, "nnexp.seed": str(result.get("seed", job.overrides.get("seed", ""))),
            "nnexp.dir": str(folder.resolve()), "mlflow.source.git.commit": git.get("commit", "unknown"),
            "nnexp.git_dirty": str(git.get("dirty", "unknown")).lower()}
    if job.note():
        tags["nnexp.error"] = job.note()
    tags.update(extra_tags or {})
    name = name or " ".join([f"#{job.num}", *(f"{k}={typed(job.overrides[k])}" for k in keys if k in job.overrides)])
    return Record(key={"nnexp.config_hash": digest, "nnexp.job": str(job.num)}, name=name,
                  params={key: typed(value) for key, value in job.overrides.items()}, tags=tags, metrics=metrics,
                  files=job_files(folder), status=STATUS.get(job.status, "KILLED"),
                  start=end - int(1000 * float(result.get("seconds") or 0)), end=end)


def checked_results(sweep_dir, jobs):
    """The sweep's results.csv, checked against its jobs on disk; ExportError saying how to rebuild it
    when it is missing, damaged or out of date."""
    path = sweep_dir / "results.csv"
    rebuild = f"rebuild it with: python -m nnexp.report {sweep_dir}"
    if not path.is_file():
        raise ExportError(f"{sweep_dir} has no results.csv (the sweep report was not built); {rebuild}")
    try:
        saved = pd.read_csv(path)
    except (OSError, ValueError) as err:
        raise ExportError(f"{path} is damaged ({' '.join(str(err).split())}); {rebuild}") from None
    expected = results_of(jobs, sweep_dir)
    same = (list(saved.columns) == list(expected.columns) and len(saved) == len(expected)
            and saved["job"].astype(str).tolist() == expected["job"].astype(str).tolist()
            and saved["status"].astype(str).tolist() == expected["status"].tolist())
    if not same:
        raise ExportError(f"{path} does not match the jobs on disk (damaged, or written before they finished); "
                          f"{rebuild}")
    return expected


def sweep_record(sweep_dir, jobs):
    """The run of a sweep (its jobs' runs as children)."""
    results, history = checked_results(sweep_dir, jobs), history_frame(jobs)
    keys = varying(results, key_columns(jobs))
    searched = search_tags(results)
    children = [job_record(job, history[history["job"] == job.num], keys, extra_tags=searched.get(job.num))
                for job in jobs if job.dir is not None]
    multirun = multirun_config(sweep_dir)
    grid = OmegaConf.select(multirun, "hydra.sweeper") is not None
    params = dict(arg.lstrip("+~").split("=", 1) for arg in sweep_args(multirun) if "=" in arg) if grid else {}
    counts = ", ".join(f"{n} {status}" for status, n in results["status"].value_counts().items())
    command = command_line(multirun)
    note = (f"nnexp sweep `{sweep_dir.resolve()}`: {len(results)} jobs ({counts})."
            + (f"\n\n```\n{command}\n```" if command else "")
            + "\n\nIts report.md, results.csv and figures are under Artifacts; each job is a run below.")
    statuses = set(results["status"])
    status = "FINISHED" if statuses <= set(FINISHED) else "FAILED" if "failed" in statuses else "KILLED"
    files = [("", sweep_dir / name) for name in SWEEP_FILES if (sweep_dir / name).is_file()]
    files += [("", path) for pattern in FIGURES for path in sorted(sweep_dir.glob(pattern))]
    key = {"nnexp.sweep_hash": sweep_hash(multirun) if grid else sha256_json(None),
           "nnexp.dir": str(sweep_dir.resolve())}
    written = modified_ms(sweep_dir / "results.csv")
    return Record(key=key, name=short_name(sweep_dir), params=params,
                  tags={"nnexp.jobs": counts, "mlflow.note.content": note}, metrics=[], files=files, status=status,
                  start=min([c.start for c in children], default=written),
                  end=max([c.end for c in children], default=written), children=children)


def read_record(directory):
    """The Record of a sweep directory or of a run directory, read and checked (nothing written)."""
    directory = Path(directory)
    jobs, is_run = jobs_in(directory)
    if not is_run:
        return sweep_record(directory, jobs)
    job = jobs[0]
    record = job_record(job, history_frame(jobs), [], name=short_name(directory))
    record.key = {"nnexp.config_hash": record.key["nnexp.config_hash"], "nnexp.dir": str(directory.resolve())}
    return record


def chunks(items, size):
    return [items[i:i + size] for i in range(0, len(items), size)]


def active_runs(client, experiment_id, filter_string):
    """Every active run of the experiment that matches ``filter_string`` (all pages)."""
    runs, token = [], None
    while True:
        page = client.search_runs([experiment_id], filter_string, max_results=1000, page_token=token)
        runs += list(page)
        token = page.token
        if not token:
            return runs


def match(runs, key, parent_id=None):
    """The run among ``runs`` whose tags hold ``key`` and whose parent is ``parent_id``, or None."""
    for run in runs:
        tags = run.data.tags
        if tags.get("mlflow.parentRunId") == parent_id and all(tags.get(k) == v for k, v in key.items()):
            return run
    return None


def write(client, experiment_id, record, run, parent_id=None):
    """Create ``record``'s run (``run`` None) or update ``run``: (run id, created | updated | unchanged).
    The digest tag is set last, so that an export cut short is completed by the next one."""
    from mlflow.entities import Metric, Param, RunTag

    digest = record.digest()
    if run is not None and run.data.tags.get("nnexp.digest") == digest:
        return run.info.run_id, "unchanged"
    tags = {**record.tags, **record.key, "mlflow.runName": record.name}
    if parent_id:
        tags["mlflow.parentRunId"] = parent_id
    new = run is None
    if new:
        run, logged = client.create_run(experiment_id, start_time=record.start, tags=tags, run_name=record.name), set()
    else:
        logged = {(point.key, point.step) for key in run.data.metrics
                  for point in client.get_metric_history(run.info.run_id, key)}
    run_id = run.info.run_id
    params = [Param(k, v) for k, v in record.params.items() if run.data.params.get(k) != v]
    tag_list = [RunTag(k, v) for k, v in tags.items()]
    for i in range(0, max(len(params), len(tag_list)), 100):
        client.log_batch(run_id, params=params[i:i + 100], tags=tag_list[i:i + 100])
    for part in chunks([Metric(k, v, t, s) for k, v, s, t in record.metrics if (k, s) not in logged], BATCH):
        client.log_batch(run_id, metrics=part)
    for folder, path in record.files:
        client.log_artifact(run_id, str(path), folder or None)
    client.set_terminated(run_id, record.status, end_time=record.end)
    client.set_tag(run_id, "nnexp.digest", digest)
    return run_id, "created" if new else "updated"


def write_tree(client, experiment_id, record):
    """Write a sweep's run and its jobs' runs (or a single run): (run id, Counter of outcomes)."""
    name, value = next(iter(record.key.items()))
    run_id, outcome = write(client, experiment_id, record,
                            match(active_runs(client, experiment_id, f"tags.`{name}` = '{value}'"), record.key))
    outcomes = Counter([outcome])
    if record.children:
        known = active_runs(client, experiment_id, f"tags.mlflow.parentRunId = '{run_id}'")
        outcomes.update(write(client, experiment_id, child, match(known, child.key, run_id), run_id)[1]
                        for child in record.children)
    return run_id, outcomes


def artifact_root(tracking_uri, experiment):
    """Where a new experiment keeps its artifacts: beside the database file of a SQLite store
    (``mlartifacts/<experiment>``), whatever the working directory; MLflow's default (None) for others."""
    if not tracking_uri.startswith("sqlite:///"):
        return None
    database = Path(tracking_uri[len("sqlite:///"):].split("?")[0])
    return (database.resolve().parent / "mlartifacts" / experiment).as_uri()


def experiment_id_of(client, experiment, tracking_uri):
    """The id of the experiment named ``experiment``, created when there is none."""
    found = client.get_experiment_by_name(experiment)
    if found is None:
        return client.create_experiment(experiment, artifact_location=artifact_root(tracking_uri, experiment))
    if found.lifecycle_stage != "active":
        raise ExportError(f"experiment {experiment!r} is deleted in {tracking_uri}; restore it (mlflow experiments "
                          f"restore --experiment-id {found.experiment_id}) or give --experiment another name")
    return found.experiment_id


def export(directories, tracking_uri=TRACKING_URI, experiment=EXPERIMENT):
    """Export sweep and run directories into ``experiment`` of the store at ``tracking_uri``:
    [(directory, run id, Counter of created | updated | unchanged runs)]. All are read before any is written."""
    require_mlflow()
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException
    from sqlalchemy.exc import SQLAlchemyError

    records = [read_record(directory) for directory in directories]
    try:
        client = MlflowClient(tracking_uri)
        experiment_id = experiment_id_of(client, experiment, tracking_uri)
        return [(directory, *write_tree(client, experiment_id, record))
                for directory, record in zip(directories, records)]
    except (MlflowException, SQLAlchemyError, OSError) as err:
        message = (str(getattr(err, "message", err)).strip().splitlines() or [type(err).__name__])[0]
        raise ExportError(f"the MLflow store {tracking_uri} refused the export: {message}") from None


def main(argv=None):
    """``python -m nnexp.mlflow DIR ...``: export sweeps (a parent run each, a child run per job) and
    runs to MLflow; exporting again updates the same runs."""
    parser = argparse.ArgumentParser(prog="python -m nnexp.mlflow", description=main.__doc__)
    parser.add_argument("directories", nargs="+", metavar="SWEEP_OR_RUN_DIR", help="sweep or run directories")
    parser.add_argument("--tracking-uri", default=TRACKING_URI,
                        help=f"the MLflow store: a database, or a server's http://host:port (default {TRACKING_URI})")
    parser.add_argument("--experiment", default=EXPERIMENT, help=f"experiment name (default {EXPERIMENT})")
    args = parser.parse_args(argv)
    try:
        exported = export(args.directories, args.tracking_uri, args.experiment)
    except NnexpError as err:
        return error_line(err, "nnexp.mlflow")
    for directory, run_id, outcomes in exported:
        print(f"{directory}: run {run_id} ({', '.join(f'{n} {what}' for what, n in sorted(outcomes.items()))})")
    browse = (f"mlflow ui --backend-store-uri {args.tracking_uri}" if not args.tracking_uri.startswith("http")
              else f"open {args.tracking_uri}")
    print(f"experiment {args.experiment!r} in {args.tracking_uri}; to browse it: {browse}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
