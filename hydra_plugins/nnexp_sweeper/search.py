"""nnexp's search sweeper, ``hydra/sweeper=search``: Optuna's samplers, ASHA's promotions through the
reuse store, and slots kept full.

    python -m nnexp -m hydra/sweeper=search 'lr=tag(log, interval(0.001, 1))' model.hidden=[50],[100],[200] \\
        epochs=27 hydra.sweeper.n_trials=30

Each job is launched alone, through the configured launcher (basic, joblib, Slurm), from one of
``n_jobs`` slots: a slot that frees takes the next job at once (nnexp.sweep.search, nnexp.sweep.asha),
so no job waits for a slow sibling. The scheduling runs in this process only, which alone talks to
the study. The launcher runs jobs as a grid sweep's: same run directories, guard, reports and resume.
"""

import logging
import os
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, Dict, List, Optional

from hydra.core.config_store import ConfigStore
from hydra.core.plugins import Plugins
from hydra.plugins.sweeper import Sweeper
from omegaconf import OmegaConf

log = logging.getLogger(__name__)


class SamplerName(str, Enum):
    tpe = "tpe"
    random = "random"
    grid = "grid"


class SchedulerName(str, Enum):
    asha = "asha"
    none = "none"


class Direction(str, Enum):
    maximize = "maximize"    # validation accuracy
    minimize = "minimize"    # validation loss


def launcher_slots(launcher):
    """How many jobs the launcher runs side by side: joblib's n_jobs (-1: the cores), submitit's
    array_parallelism, 1 for Hydra's basic launcher."""
    joblib = getattr(launcher, "joblib", None)
    if joblib is not None:
        n_jobs = int(joblib.get("n_jobs") or 1)
        return (os.cpu_count() or 1) if n_jobs < 0 else n_jobs
    params = getattr(launcher, "params", None)
    if params is not None and "array_parallelism" in params:
        return int(params["array_parallelism"])
    return 1


def keep_slots_full(slots, next_job, launch, finished):
    """Run jobs ``slots`` at a time, each ``launch(job)`` from a thread of its own: a freed slot takes
    ``next_job()`` at once (None: nothing to start now; the loop ends when nothing runs either), and each
    ended job is handed to ``finished(job, its future)`` in this thread."""
    running = {}
    with ThreadPoolExecutor(max_workers=slots) as pool:
        while True:
            while len(running) < slots and (job := next_job()) is not None:
                running[pool.submit(launch, job)] = job
            if not running:
                return
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                finished(running.pop(future), future)


def in_process(launcher):
    """Hydra's basic launcher runs a job in this process, whose Hydra state is one: one job at a time."""
    return type(launcher).__name__ == "BasicLauncher"


class SearchSweeper(Sweeper):
    """Hydra's Sweeper interface over nnexp.sweep.search.Search."""

    def __init__(self, sampler="tpe", scheduler="asha", n_trials=None, n_jobs=None, eta=3, min_epochs=1, seed=0,
                 direction="maximize", replicates=0, replicate_seeds=(0, 1, 2), params=None):
        self.options = {"sampler": str(getattr(sampler, "value", sampler)),
                        "scheduler": str(getattr(scheduler, "value", scheduler)),
                        "n_trials": n_trials, "n_jobs": n_jobs, "eta": eta, "min_epochs": min_epochs, "seed": seed,
                        "direction": str(getattr(direction, "value", direction)), "replicates": replicates,
                        "replicate_seeds": list(replicate_seeds or [])}
        self.params = dict(params or {})

    def setup(self, *, hydra_context, task_function, config):
        self.config, self.hydra_context = config, hydra_context
        self.launcher = Plugins.instance().instantiate_launcher(config=config, hydra_context=hydra_context,
                                                                task_function=task_function)

    def sweep(self, arguments: List[str]) -> Any:
        from nnexp.sweep.callbacks import released_if_it_fails

        with released_if_it_fails(self.config.hydra.sweep.dir):
            return self.run_search(arguments)

    def run_search(self, arguments):
        from nnexp.errors import NnexpError, exit_with_error

        try:
            search, slots = self.prepare(arguments)
        except NnexpError as err:
            exit_with_error(str(err))
        sweep_dir = Path(self.config.hydra.sweep.dir)
        OmegaConf.save(self.config, sweep_dir / "multirun.yaml")
        search.write_settings()
        search.write_table()
        if slots == 1:
            self.run_in_turn(search)
        else:
            self.run_in_slots(search, slots)
        log.info("search: %s", search.summary())
        return []

    def prepare(self, arguments):
        """(the Search, its slots), every check made before any job runs."""
        from nnexp.config import validate
        from nnexp.errors import ConfigError
        from nnexp.sweep.search import Search, Seeds, require_optuna
        from nnexp.sweep.search_setup import check_options, search_settings

        require_optuna()
        check_options(self.options)
        settings, space, budget, metric, base_seed = search_settings(
            self.options, self.params, arguments, self.compose_job, validate)
        slots = self.options["n_jobs"] or launcher_slots(self.launcher)
        if slots > 1 and in_process(self.launcher):
            raise ConfigError(f"hydra.sweeper.n_jobs={slots}: Hydra's basic launcher runs one job at a time; "
                              "use hydra/launcher=parallel (or slurm) to run jobs side by side, or n_jobs=1")
        n_trials = self.options["n_trials"] or (space.size() if settings["sampler"] == "grid" else 20)
        Path(self.config.hydra.sweep.dir).mkdir(parents=True, exist_ok=True)
        search = Search(self.config.hydra.sweep.dir, space, budget, settings, n_trials, metric,
                        Seeds(base_seed, self.options["replicates"], tuple(self.options["replicate_seeds"] or ())))
        log.info("search: %s sampler, %s, rungs %s epochs, %d trials, %d at once, score %s, in %s",
                 settings["sampler"], "ASHA (eta %d)" % settings["eta"] if settings["scheduler"] == "asha" else
                 "no early stopping", search.rungs, n_trials, slots, metric, self.config.hydra.sweep.dir)
        return search, slots

    def compose_job(self, overrides):
        """A job's composed configuration (Hydra refuses an unknown key or a value of the wrong type)."""
        return self.hydra_context.config_loader.load_sweep_config(self.config, list(overrides))

    def launch(self, job):
        """Run one job through the launcher; its run directory."""
        [returned] = self.launcher.launch([job.overrides], initial_job_idx=job.num)
        hydra_cfg = returned.hydra_cfg
        if hydra_cfg is not None:
            return Path(hydra_cfg.hydra.runtime.output_dir)
        return Path(self.config.hydra.sweep.dir) / str(job.num)

    def finish(self, search, job, launched):
        """Record a launched job (``launched``: a callable giving its run directory, or raising)."""
        try:
            job_dir = launched()
        except Exception as err:  # noqa: BLE001 - a job the launcher lost fails; the search goes on
            search.fail(job, f"{type(err).__name__}: {err}")
        else:
            status = search.record(job, job_dir)
            if status not in ("completed", "diverged"):
                log.warning("search: job %d ended %s (%s)", job.num, status, job_dir)
        search.write_table()

    def run_in_turn(self, search):
        """One job at a time, in this thread (Hydra's basic launcher runs it in this process)."""
        while (job := search.next_job()) is not None:
            search.write_table()
            self.finish(search, job, lambda job=job: self.launch(job))

    def run_in_slots(self, search, slots):
        """Up to ``slots`` jobs at once, each launched alone from a thread; a freed slot is filled at once."""
        def next_job():
            job = search.next_job()
            if job is not None:   # search.csv names it before it starts
                search.write_table()
            return job

        keep_slots_full(slots, next_job, self.launch, lambda job, future: self.finish(search, job, future.result))


@dataclass
class SearchSweeperConf:
    _target_: str = "hydra_plugins.nnexp_sweeper.search.SearchSweeper"
    sampler: SamplerName = SamplerName.tpe          # Optuna's TPESampler, RandomSampler or GridSampler
    scheduler: SchedulerName = SchedulerName.asha   # asha: stop the bad early, promote the good; none: full budget
    n_trials: Optional[int] = None                  # configurations to try (null: 20; the grid's size for grid)
    n_jobs: Optional[int] = None                    # jobs at once (null: the launcher's workers)
    eta: int = 3                                    # ASHA: the top 1/eta of a rung goes on, rungs grow by eta
    min_epochs: int = 1                             # ASHA: the first rung's epochs
    seed: int = 0                                   # the samplers' seed
    direction: Direction = Direction.maximize       # maximize validation accuracy, or minimize validation loss
    replicates: int = 0                             # at the end, retrain the best this many configurations ...
    replicate_seeds: List[int] = field(default_factory=lambda: [0, 1, 2])   # ... with these seeds
    params: Optional[Dict[str, str]] = None         # the search space in the config (e.g. an experiment preset)


ConfigStore.instance().store(group="hydra/sweeper", name="search", node=SearchSweeperConf, provider="nnexp")
