"""nnexp's Hydra callbacks (registered in conf/config.yaml under ``hydra.callbacks``):

- ``ResultGuard`` keeps finished results from being overwritten by another configuration (one sweep
  per ``hydra.sweep.dir``, one configuration per ``hydra.run.dir``), holds that directory locked
  while the sweep or run goes on (a second launch into it is refused at once), and makes a sweep
  with unfinished jobs exit non-zero;
- ``SlurmStates`` keeps a Slurm sweep's console readable on a cluster without job accounting;
- ``ReportCallback`` turns a finished multirun into results.csv, history.csv, figures and report.md,
  reading only what the jobs wrote to disk, through the same code as ``python -m nnexp.report``;
- ``MlflowCallback`` (off unless ``hydra.callbacks.mlflow.enabled=true``) then exports the sweep (or the
  run) to MLflow, through the same code as ``python -m nnexp.mlflow``, from this one process.
"""

import logging
import shlex
from contextlib import contextmanager
from pathlib import Path

from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig

from ..errors import NnexpError, exit_with_error
from ..storage import DirectoryBusy, check_not_held, hold_directory
from ..training.identity import config_hash
from ..training.results import FINISHED, load_result
from .guard import SweepRefused, check_sweep_dir, clear_sweep_dir, failed_jobs, job_dirs
from .slurm import watch_result_files

log = logging.getLogger(__name__)

HELD = {}
"""{directory: open lock file} this process holds (kept here, not on the callback object, which a
parallel launcher sends to its workers)."""


class ReportCallback(Callback):
    """At the end of a multirun, aggregate its jobs into the sweep directory.

    ``inverse``: also draw the inverse query of the best job (the inverse_query preset sets it);
    ``gif_frames``: views in the turning-surface GIF (0: no GIF).
    """

    def __init__(self, inverse=False, gif_frames=72, replicate_keys=("seed",)):
        self.inverse = inverse
        self.gif_frames = gif_frames
        self.replicate_keys = tuple(replicate_keys)

    def on_multirun_end(self, config, **kwargs):
        from .sweep_report import build_sweep

        sweep_dir = Path(config.hydra.sweep.dir)
        try:
            results = build_sweep(sweep_dir, inverse=self.inverse, gif_frames=self.gif_frames,
                                  replicate_keys=self.replicate_keys)
        except NnexpError as err:
            log.error("no sweep report: %s", err)
            return
        except Exception:  # noqa: BLE001 - the jobs' results are on disk; say how to retry
            log.exception("building the sweep report failed; the jobs' results are intact, "
                          "rerun it with: python -m nnexp.report %s", sweep_dir)
            return
        counts = results["status"].value_counts()
        log.info("sweep report: %s (%s)", sweep_dir / "report.md",
                 ", ".join(f"{n} {s}" for s, n in counts.items()))


class MlflowCallback(Callback):
    """At the end of a multirun (or of a run), export it to the MLflow store at ``tracking_uri``, into
    ``experiment`` (nnexp.sweep.mlflow_export), from the one process that ends the sweep: SQLite does
    not take parallel writers. Does nothing unless ``enabled``; enabled without MLflow installed, the
    launch is refused before any job runs. Listed before the report callback, whose results it reads
    (Hydra calls the end hooks in reverse order)."""

    def __init__(self, enabled=False, tracking_uri="sqlite:///mlruns.db", experiment="nnexp"):
        self.enabled, self.tracking_uri, self.experiment = enabled, tracking_uri, experiment

    def check(self):
        if self.enabled:
            from .mlflow_export import require_mlflow

            try:
                require_mlflow()
            except NnexpError as err:
                exit_with_error(str(err))

    def export(self, directory):
        from .mlflow_export import export

        retry = shlex.join(["python", "-m", "nnexp.mlflow", str(directory), "--tracking-uri", self.tracking_uri,
                            "--experiment", self.experiment])
        try:
            [(_, run_id, outcomes)] = export([directory], self.tracking_uri, self.experiment)
        except NnexpError as err:
            log.error("no MLflow export: %s; the results on disk are intact, export them with: %s", err, retry)
            return
        except Exception:  # noqa: BLE001 - the results are on disk; say how to retry
            log.exception("the MLflow export failed; the results on disk are intact, export them with: %s", retry)
            return
        log.info("MLflow: run %s in experiment %r of %s (%s)", run_id, self.experiment, self.tracking_uri,
                 ", ".join(f"{n} {what}" for what, n in sorted(outcomes.items())))

    def on_run_start(self, config: DictConfig, **kwargs) -> None:
        self.check()

    def on_multirun_start(self, config: DictConfig, **kwargs) -> None:
        self.check()

    def on_run_end(self, config: DictConfig, **kwargs) -> None:
        if self.enabled:
            self.export(Path(config.hydra.run.dir))

    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        if self.enabled:
            self.export(Path(config.hydra.sweep.dir))


class ResultGuard(Callback):
    """Keeps finished results from being overwritten by another configuration: one sweep per
    ``hydra.sweep.dir``, one configuration per ``hydra.run.dir``; after a sweep, exits non-zero
    if a job did not finish."""

    @staticmethod
    def hold(directory, what):
        """Lock ``directory`` for this sweep or job (nnexp.storage.hold_directory) or exit with one line."""
        try:
            HELD[str(directory)] = hold_directory(directory, what)
        except (DirectoryBusy, OSError) as err:
            exit_with_error(str(err))

    @staticmethod
    def release(directory):
        lock = HELD.pop(str(directory), None)
        if lock is not None:
            lock.close()

    def on_run_start(self, config: DictConfig, **kwargs) -> None:
        run_dir = Path(config.hydra.run.dir)
        result = load_result(run_dir)[0]
        if (result is not None and result.get("status") in FINISHED and not config.get("overwrite")
                and result.get("config_hash") != config_hash(config)):
            exit_with_error(f"{run_dir} holds the {result['status']} result of another configuration; choose "
                            "another hydra.run.dir, or add overwrite=true to replace it")

    def on_job_start(self, config: DictConfig, **kwargs) -> None:
        """Every job (a run, or a job of a sweep, in whatever process runs it) holds its directory."""
        self.hold(config.hydra.runtime.output_dir, "a run" if config.hydra.mode == RunMode.RUN else "a sweep's job")

    def on_job_end(self, config: DictConfig, **kwargs) -> None:
        self.release(config.hydra.runtime.output_dir)

    def on_multirun_start(self, config: DictConfig, **kwargs) -> None:
        """Refuse a launch into another sweep's directory (read only: nothing written), then lock it;
        refuse it while a job of the sweep still runs."""
        sweep_dir = config.hydra.sweep.dir
        replace = False
        try:
            check_sweep_dir(config)
        except SweepRefused as refused:
            if not (config.get("overwrite") and refused.replaceable):
                exit_with_error(str(refused))
            replace = True
        self.hold(sweep_dir, "a sweep")
        try:   # a job of an earlier launch may still run: on Slurm, after its command was stopped
            for job in job_dirs(sweep_dir):
                check_not_held(job)
        except DirectoryBusy as err:
            self.release(sweep_dir)   # as the exit would: Hydra may run inside a process that goes on
            exit_with_error(str(err))
        if replace:
            log.warning("overwrite=true: deleting the earlier sweep in %s", sweep_dir)
            clear_sweep_dir(sweep_dir)

    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        self.release(config.hydra.sweep.dir)
        failed = failed_jobs(config.hydra.sweep.dir)
        if failed:
            job, why = failed[0]
            sweep_dir = config.hydra.sweep.dir
            exit_with_error(f"{len(failed)} of {len(job_dirs(sweep_dir))} jobs in {sweep_dir} "
                            f"did not finish (first: {job.name}: {why}); their logs hold the details; fix the "
                            "cause and rerun the same command: finished jobs are skipped")


class SlurmStates(Callback):
    """Before a Slurm sweep (hydra-submitit-launcher) submits its jobs: on a cluster where ``sacct`` does
    not answer (no job accounting), submitit waits for the jobs' result files without asking it (each
    failing call printed several lines; nnexp.sweep.slurm.watch_result_files)."""

    def on_multirun_start(self, config: DictConfig, **kwargs) -> None:
        watch_result_files(str(config.hydra.launcher.get("_target_", "")))


@contextmanager
def released_if_it_fails(directory):
    """Release ``directory``'s lock, which ResultGuard holds (a sweep's from on_multirun_start to
    on_multirun_end, a job's from on_job_start to on_job_end), when the code in this context (a sweeper's
    ``sweep``, a task function) stops with an error or exits: Hydra then calls no closing callback, and a
    process that goes on (Hydra run inside another program, a test) would keep the directory busy.
    Releasing twice is harmless."""
    try:
        yield
    except BaseException:
        ResultGuard.release(directory)
        raise
