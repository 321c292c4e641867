"""Command-line entry point: ``python -m nnexp [overrides]`` and ``nnexp [overrides]``."""

import logging
import os
import sys
import traceback
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.errors import HydraException, OverrideParseException
from hydra.types import RunMode
from omegaconf.errors import OmegaConfBaseException

from .config import register_configs, validate
from .errors import DIVERGED_EXIT_CODE, Interrupted, NnexpError, error_line, exit_with_error
from .storage import write_json
from .sweep.callbacks import released_if_it_fails
from .training.results import finished_result
from .training.signals import end_interrupted_job, restore_handlers, stop_on_signals, submitit_signal
from .training.threads import in_parallel_sweep

log = logging.getLogger("nnexp")


def config_dir():
    """``nnexp/conf`` inside an installed wheel, else ``conf/`` beside the package in a checkout."""
    package = Path(__file__).resolve().parent
    for candidate in (package / "conf", package.parent / "conf"):
        if (candidate / "config.yaml").is_file():
            return str(candidate)
    raise FileNotFoundError(f"no conf/config.yaml found in {package} or beside it")


def log_to_file(text):
    """Write ``text`` into the job's log file only, not onto the console."""
    record = logging.LogRecord("nnexp", logging.ERROR, __file__, 0, "%s", (text,), None)
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.FileHandler):
            handler.handle(record)


CONFIG_ERROR_DETAIL = ("full_key:", "object_type=", "reference_type=")
"""Lines OmegaConf appends to its messages (where in the config), left out of the one-line error."""
SEARCH_PATH = "Config search path"
"""Where Hydra's list of the config directories begins: it and what follows are left out."""


def config_error_line(err):
    """Hydra's configuration error (and the OmegaConf error it wraps) as one line, naming the
    override that does not parse when that is the error."""
    lines = [line.strip() for part in (err, err.__cause__) if part is not None
             for line in str(part).split(SEARCH_PATH)[0].splitlines()]
    text = " ".join(line for line in lines if line and not line.startswith(CONFIG_ERROR_DETAIL))
    return f"override {err.override!r} does not parse: {text}" if isinstance(err, OverrideParseException) else text


def hydra_command(hydra_main, prog):
    """Run a ``@hydra.main`` function as a command whose configuration errors (a value of the wrong
    type, an unknown key, an unknown config group option, an override that does not parse) are one
    line on stderr and exit code 1, like nnexp's own errors. Hydra prints these in several lines
    unless HYDRA_FULL_ERROR=1, with which it raises them instead: that is set here for the call,
    and a user's own HYDRA_FULL_ERROR=1 still gets Hydra's full report."""
    if os.environ.get("HYDRA_FULL_ERROR") == "1":
        return hydra_main()
    os.environ["HYDRA_FULL_ERROR"] = "1"
    try:
        return hydra_main()
    except (HydraException, OmegaConfBaseException) as err:
        exit_with_error(config_error_line(err), prog)


def cli():
    """``python -m nnexp [overrides]`` and the ``nnexp`` command. Ctrl-C outside a job's training (a
    job records and reports its own), e.g. while a Slurm sweep waits for its jobs, is one line too."""
    try:
        return hydra_command(main, "nnexp")
    except KeyboardInterrupt:
        error_line("interrupted (Ctrl-C); rerun the same command to continue (the jobs of a Slurm sweep go on: "
                   "rerun it once they have ended)")
        sys.exit(130)


def describe_failure(err):
    """One line: the message of a user error, or the type and message of anything else."""
    text = str(err) if isinstance(err, NnexpError) else f"{type(err).__name__}: {err} (traceback in the job's log)"
    return " ".join(text.split())


register_configs()


@hydra.main(version_base="1.3", config_path=config_dir(), config_name="config")
def main(cfg):
    """Run one job, unless its directory already holds its finished result (a rerun sweep skips
    it). A failure is recorded in the job's result.json and log; a single run then exits non-zero
    with one line, while in a sweep the other jobs go on."""
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    replaced = stop_on_signals()
    try:
        with released_if_it_fails(HydraConfig.get().runtime.output_dir):
            return run_once(cfg, run_dir, replaced)
    finally:   # a signal after the run goes where it went before it (submitit's handlers, in a Slurm job)
        restore_handlers(replaced)


def run_once(cfg, run_dir, replaced):
    """``main``'s job in ``run_dir``, with the signal handlers ``replaced`` by stop_on_signals; its status."""
    from .training.environment import environment  # here: a refused launch or a typo is reported
    from .training.job import run_job  # without the wait for numpy, pandas...

    try:
        done, why_not = finished_result(cfg, run_dir)
        if done is not None:
            log.info("skipped: %s already holds this job's result (%s)", run_dir, done["status"])
            return done["status"]
        if why_not is not None:
            log.warning("running again: %s", why_not)
        validate(cfg)
        status = run_job(cfg, run_dir, parallel_sweep=in_parallel_sweep(HydraConfig.get()))["status"]
    except (Interrupted, KeyboardInterrupt) as err:   # run_job recorded it: end the process (a local sweep too)
        stopped = err if isinstance(err, Interrupted) else Interrupted()
        message = (f"{run_dir}: interrupted by {stopped.signal_name}; its finished epochs are checkpointed: "
                   "rerun the same command to continue")
        log_to_file(message)
        error_line(message)
        if submitit_signal() is not None:
            return end_interrupted_job(stopped, replaced)
        sys.exit(stopped.exit_code)
    except Exception as err:  # noqa: BLE001 - every failure is recorded, then reported in one line
        message = describe_failure(err)
        log_to_file("".join(traceback.format_exception(err)).rstrip())
        try:
            write_json(run_dir / "result.json", {"status": "failed", "error": message, "seed": cfg.seed,
                                                 "environment": environment()})
        except OSError as unwritten:
            log.error("%s", unwritten)
        if HydraConfig.get().mode != RunMode.MULTIRUN:
            log_to_file(f"failed: {message}")
            exit_with_error(message)
        log.error("job failed: %s", message)
        return "failed"
    if HydraConfig.get().mode != RunMode.MULTIRUN:  # a sweep's figures come from its report
        draw_run_figures(run_dir)
        if status == "diverged":   # said in one line by run_job; recorded in result.json
            sys.exit(DIVERGED_EXIT_CODE)
    return status


def draw_run_figures(run_dir):
    """A single run's figures (nnexp.training.run_figures); failing to draw loses no result."""
    from .training.run_figures import run_figures

    try:
        run_figures(run_dir)
    except Exception as err:  # noqa: BLE001 - the run's tables are written; the figures can be redrawn
        log.warning("figures not drawn (%s); draw them with: python -m nnexp.report %s", err, run_dir)
