"""The state of a search sweep (``hydra/sweeper=search``): an Optuna study stored in the sweep directory.

Every job of a search is one Optuna trial, asked and told here (ask-and-tell), its user attributes
naming the job:

    trial    the configuration (0, 1, ... in the order the sampler proposed them)
    rung     its ASHA rung (nnexp.sweep.asha); the top rung is the full budget
    epochs   the epochs the job trains to
    job      its Hydra job number (its directory: hydra.sweep.subdir, by default <sweep dir>/<job>)
    seed     set on the jobs that retrain the best configurations with other seeds at the end

A configuration's first job is a trial the sampler proposed (``study.ask()``); its promotion to the next
rung is a new trial with the same parameters (``study.enqueue_trial``), whose job continues from the
reuse store. Each finished job reports the selection score of every epoch of its history.csv
(``trial.report(score, epoch)``) and is told COMPLETE at the full budget, PRUNED below it (paused: so
that TPE learns from it at once), FAIL when it failed. A job left RUNNING (the command was killed) is
launched again, with the same job number, when the same command is run again.

The study is Optuna's journal file ``STUDY_FILE``: ``optuna.load_study(study_name=STUDY_NAME,
storage=JournalStorage(JournalFileBackend(path)))`` opens it, and optuna-dashboard shows it.
``TABLE_FILE`` (search.csv) is its table of jobs, rewritten after every change.
"""

import logging
import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..errors import ConfigError, NnexpError
from ..storage import write_csv, write_json
from ..training.results import load_result
from .asha import Record, last_promotion, promotion, rungs

log = logging.getLogger(__name__)

STUDY_FILE = "study.journal"
TABLE_FILE = "search.csv"
SETTINGS_FILE = "search.json"
STUDY_NAME = "nnexp"
TABLE_COLUMNS = ["job", "trial", "rung", "epochs", "seed", "optuna_trial", "state", "score", "promoted",
                 "epochs_trained", "started_at", "finished_at", "dir"]
"""search.csv: one row per job of a search, in job order."""
SAMPLERS = ("tpe", "random", "grid")
SCHEDULERS = ("asha", "none")
SETTINGS = ("sampler", "scheduler", "eta", "min_epochs", "seed", "metric", "budget", "space", "fixed")
"""Settings stored in the study; a rerun into the same directory must give the same (n_trials may grow)."""


def require_optuna():
    """Import Optuna, or raise one line saying how to install it."""
    try:
        import optuna
    except ImportError:
        raise ConfigError("hydra/sweeper=search needs Optuna; install it with: pip install -e \".[search]\"") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


@dataclass
class Job:
    """A job to launch: its number, overrides, and the Optuna trial it is."""

    num: int
    overrides: list
    trial_id: int
    number: int     # the Optuna trial number


def open_study(sweep_dir, settings, maximize):
    """The study of ``sweep_dir`` (created with ``settings`` as its user attributes, or loaded and
    checked against them)."""
    optuna = require_optuna()
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    path = Path(sweep_dir) / STUDY_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    storage = JournalStorage(JournalFileBackend(str(path)))
    if STUDY_NAME in optuna.get_all_study_names(storage):
        study = optuna.load_study(study_name=STUDY_NAME, storage=storage)
    else:
        study = optuna.create_study(storage=storage, study_name=STUDY_NAME,
                                    direction="maximize" if maximize else "minimize")
    stored = study.user_attrs
    if not stored:
        for key in SETTINGS:
            study.set_user_attr(key, settings[key])
        return study
    changed = [f"{key}={stored.get(key)} now {settings[key]}" for key in SETTINGS if stored.get(key) != settings[key]]
    if changed:
        raise ConfigError(f"{sweep_dir} holds a search with other settings ({'; '.join(changed)}); rerun it with "
                          "its own settings to continue it, choose another hydra.sweep.dir, or add overwrite=true")
    return study


def job_score(history, metric):
    """{epoch: score} of a history.csv frame, finite scores only."""
    if history is None or metric not in history:
        return {}
    return {int(e): float(v) for e, v in zip(history["epoch"], history[metric]) if math.isfinite(float(v))}


def read_history(job_dir):
    path = Path(job_dir) / "history.csv"
    try:
        return pd.read_csv(path) if path.is_file() else None
    except (OSError, ValueError, pd.errors.EmptyDataError):
        log.warning("%s cannot be read: the job is told as failed", path)
        return None


@dataclass(frozen=True)
class Seeds:
    """A search's seeds: its jobs' own (``base``, the config's seed), and how many of its best configurations
    are trained again (``replicates``) with which other seeds (``replicate_seeds``)."""

    base: int = 0
    replicates: int = 0
    replicate_seeds: tuple = ()


class Search:
    """The scheduling of a search over ``space`` (nnexp.sweep.space.Space), stored in ``sweep_dir``."""

    def __init__(self, sweep_dir, space, budget, settings, n_trials, metric, seeds=Seeds()):
        self.sweep_dir, self.space, self.budget = Path(sweep_dir), space, budget
        self.settings, self.n_trials, self.metric = settings, n_trials, metric
        self.maximize = metric.endswith("_acc")
        self.base_seed, self.replicates = seeds.base, seeds.replicates
        self.replicate_seeds = list(seeds.replicate_seeds)
        asha = settings["scheduler"] == "asha"
        self.rungs = rungs(settings["min_epochs"], settings["eta"], budget) if asha else [budget]
        self.study = open_study(sweep_dir, settings, self.maximize)
        self.fail_unnamed()
        self.in_flight = set()      # job numbers launched by this process and not yet recorded
        self.stopped = False        # a job was interrupted: launch nothing more

    # what the study holds

    def fail_unnamed(self):
        """Tell as failed the trials an earlier command asked for and was killed before it named their
        job (a moment between two writes): no job of theirs ever ran."""
        from optuna.trial import TrialState

        for t in self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            if "job" not in t.user_attrs:
                self.study.tell(t.number, state=TrialState.FAIL)

    def trials(self):
        return [t for t in self.study.get_trials(deepcopy=False) if "job" in t.user_attrs]

    def records(self):
        """The ASHA Records of the search's jobs (not the replicates)."""
        records = []
        for t in self.trials():
            if "seed" in t.user_attrs:
                continue
            finished = t.state.is_finished()
            score = self.final_score(t) if finished else math.nan
            records.append(Record(t.user_attrs["trial"], t.user_attrs["rung"], finished, score))
        return records

    def final_score(self, trial):
        """The score of a finished trial at its own epochs; NaN when it failed or diverged before them."""
        if trial.state.name == "COMPLETE":
            return float(trial.value)
        return trial.intermediate_values.get(trial.user_attrs["epochs"], math.nan)

    def configurations(self):
        """{trial: params} of every configuration proposed so far."""
        return {t.user_attrs["trial"]: t.params for t in self.trials()}

    def next_number(self):
        return 1 + max((t.user_attrs["job"] for t in self.trials()), default=-1)

    # choosing the next job

    def unfinished(self):
        """Jobs of the study left RUNNING by an earlier command (killed), to launch again."""
        jobs = []
        for t in self.trials():
            if t.state.name == "RUNNING" and t.user_attrs["job"] not in self.in_flight:
                overrides = self.space.overrides(t.params, t.user_attrs["epochs"], self.job_seed(t.user_attrs))
                jobs.append(Job(t.user_attrs["job"], overrides, t._trial_id, t.number))
        return sorted(jobs, key=lambda job: job.num)

    def next_job(self):
        """The next job to launch (a killed job first, then ASHA's choice: a promotion, else a new
        configuration, else the replicates at the end), or None when there is nothing to launch now."""
        if self.stopped:
            return None
        for job in self.unfinished():
            return self.launching(job)
        records = self.records()
        step = promotion(records, len(self.rungs), self.settings["eta"], self.maximize)
        if step is not None:
            return self.promote(*step)
        if len(self.configurations()) < self.n_trials:
            return self.propose()
        if self.in_flight:
            return None
        step = last_promotion(records, len(self.rungs), self.maximize, max(1, self.replicates))
        if step is not None:
            return self.promote(*step)
        return self.replicate()

    def job_seed(self, user_attrs):
        """The seed= override of a job: a retraining's seed; the search's own seed, written out, when the
        search retrains with other seeds (so that results.csv names every job's seed); else none."""
        return user_attrs.get("seed", self.base_seed if self.replicates else None)

    def launching(self, job):
        self.in_flight.add(job.num)
        return job

    def new_trial(self, user_attrs, params=None):
        """Ask the study for a trial (the sampler's proposal, or ``params`` enqueued), named by ``user_attrs``."""
        if params is not None:
            self.study.enqueue_trial(params)
        else:
            self.study.sampler = self.sampler(len(self.configurations()))
        trial = self.study.ask(self.space.distributions)
        number = self.next_number()
        for key, value in {**user_attrs, "job": number}.items():
            trial.set_user_attr(key, value)
        seed = user_attrs.get("seed")
        overrides = self.space.overrides(trial.params, user_attrs["epochs"], self.job_seed(user_attrs))
        log.info("search: job %d: trial %d, rung %d, %d epochs%s", number, user_attrs["trial"], user_attrs["rung"],
                 user_attrs["epochs"], "" if seed is None else f", seed {seed}")
        return self.launching(Job(number, overrides, trial._trial_id, trial.number))

    def propose(self):
        config = len(self.configurations())
        return self.new_trial({"trial": config, "rung": 0, "epochs": self.rungs[0]})

    def promote(self, config, rung):
        params = self.configurations()[config]
        return self.new_trial({"trial": config, "rung": rung, "epochs": self.rungs[rung]}, params)

    def replicate(self):
        """The next retraining of one of the best ``replicates`` configurations at full budget with a
        seed of ``replicate_seeds`` (the search's own seed is its search job), or None when all are done."""
        done = {(t.user_attrs["trial"], t.user_attrs["seed"]) for t in self.trials() if "seed" in t.user_attrs}
        for config in self.best_configurations(self.replicates):
            for seed in self.replicate_seeds:
                if seed != self.base_seed and (config, seed) not in done:
                    params = self.configurations()[config]
                    top = len(self.rungs) - 1
                    return self.new_trial({"trial": config, "rung": top, "epochs": self.budget, "seed": seed}, params)
        return None

    def best_configurations(self, count):
        """The ``count`` configurations with the best scores at the full budget."""
        top = {r.config: r.score for r in self.records()
               if r.rung == len(self.rungs) - 1 and r.finished and math.isfinite(r.score)}
        return sorted(top, key=lambda c: (-top[c] if self.maximize else top[c], c))[:count]

    def summary(self):
        """One line: jobs, configurations, epochs trained, the best configuration at the full budget."""
        table = self.table()
        best = self.best_configurations(1)
        trained = int(table["epochs_trained"].fillna(0).sum())
        text = (f"{len(table)} jobs, {table['trial'].nunique()} configurations, {trained} epochs trained; "
                f"rungs {self.rungs}")
        if best:
            score = table[(table["trial"] == best[0]) & (table["epochs"] == self.budget)]["score"].iloc[0]
            text += f"; best at {self.budget} epochs: trial {best[0]}, {self.metric} {score:.4f}"
        return text

    def sampler(self, config):
        """Optuna's sampler for the proposal of configuration ``config``: seeded from the search's seed
        and ``config``, so that a resumed search proposes what an uninterrupted one would."""
        optuna = require_optuna()
        kind, seed = self.settings["sampler"], self.settings["seed"]
        if kind == "grid":   # its grid order comes from its seed: the same for every proposal
            return optuna.samplers.GridSampler(self.space.grid(), seed=seed)
        seed = (seed * 1_000_003 + config) % 2 ** 32
        if kind == "random":
            return optuna.samplers.RandomSampler(seed=seed)
        return optuna.samplers.TPESampler(seed=seed)

    # recording a finished job

    def record(self, job, job_dir):
        """Read the finished job's result.json and history.csv, report every epoch's score to its trial
        and tell it; returns the job's status."""
        from optuna.trial import Trial, TrialState

        self.in_flight.discard(job.num)
        frozen = self.study.get_trials(deepcopy=False)[job.number]
        result = load_result(job_dir)[0] or {}
        status = result.get("status", "missing")
        if status == "interrupted":
            self.stopped = True   # left RUNNING: the same command continues it
            return status
        trial = Trial(self.study, job.trial_id)
        trial.set_user_attr("dir", self.relative(job_dir))
        trial.set_user_attr("epochs_trained", result.get("epochs_trained"))
        scores = job_score(read_history(job_dir), self.metric) if status in ("completed", "diverged") else {}
        for epoch, score in sorted(scores.items()):
            if epoch not in frozen.intermediate_values:
                trial.report(score, epoch)
        epochs = frozen.user_attrs["epochs"]
        if status == "completed" and epochs in scores and epochs == self.budget:
            self.tell(job, TrialState.COMPLETE, scores[epochs])
        elif (status == "completed" and epochs in scores) or status == "diverged":
            self.tell(job, TrialState.PRUNED)     # paused (or diverged: TPE ranks it below every other)
        else:
            self.tell(job, TrialState.FAIL)
        return status

    def relative(self, job_dir):
        """A job directory as search.csv names it: relative to the sweep directory when inside it."""
        job_dir = Path(job_dir).resolve()
        inside = job_dir.is_relative_to(self.sweep_dir.resolve())
        return job_dir.relative_to(self.sweep_dir.resolve()).as_posix() if inside else str(job_dir)

    def tell(self, job, state, value=None):
        try:
            self.study.tell(job.number, value, state=state)
        except RuntimeError as err:   # GridSampler stops an optimize loop once its grid is done: there is none
            if "Study.stop" not in str(err):
                raise

    def fail(self, job, why):
        """Tell a job that could not be launched or collected as failed."""
        from optuna.trial import TrialState

        log.error("search: job %d failed: %s", job.num, why)
        self.in_flight.discard(job.num)
        self.tell(job, TrialState.FAIL)

    # the table of jobs

    def table(self):
        """search.csv: one row per job (TABLE_COLUMNS)."""
        above = {(r.config, r.rung) for r in self.records()}
        rows = []
        for t in self.trials():
            a = t.user_attrs
            score = self.final_score(t) if t.state.is_finished() else math.nan
            rows.append({"job": a["job"], "trial": a["trial"], "rung": a["rung"], "epochs": a["epochs"],
                         "seed": a.get("seed"), "optuna_trial": t.number, "state": t.state.name.lower(),
                         "score": score, "promoted": "seed" not in a and (a["trial"], a["rung"] + 1) in above,
                         "epochs_trained": a.get("epochs_trained"),
                         "started_at": t.datetime_start.isoformat() if t.datetime_start else None,
                         "finished_at": t.datetime_complete.isoformat() if t.datetime_complete else None,
                         "dir": a.get("dir")})
        frame = pd.DataFrame(rows, columns=TABLE_COLUMNS).sort_values("job", kind="stable")
        return frame.astype({"seed": "Int64", "epochs_trained": "Int64"})

    def write_settings(self):
        """search.json (the settings, rungs and number of trials) for the report: once per command."""
        self.write(SETTINGS_FILE, lambda path: write_json(path, {
            **self.settings, "described": self.space.describe(), "rungs": self.rungs, "n_trials": self.n_trials,
            "replicates": self.replicates, "replicate_seeds": self.replicate_seeds}))

    def write_table(self):
        """search.csv, after every change of the study."""
        self.write(TABLE_FILE, lambda path: write_csv(path, self.table()))

    def write(self, name, writer):
        """``writer(path)`` of a file of the sweep directory; a failed write is logged (the study holds it all)."""
        try:
            writer(self.sweep_dir / name)
        except NnexpError as err:
            log.error("%s", err)
