"""Searches from the command line (hydra/sweeper=search): promotion trains only the increment, the study
is Optuna's and survives kill -9, failed and diverged trials are told and the search goes on, the
launchers keep their slots full, and bad input is one line before any job runs."""

import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime

import numpy as np
import optuna
import pandas as pd
import pytest
from helpers import cli_env, run_cli, run_refused, tree_digest

from nnexp.sweep.mlflow_export import export
from nnexp.sweep.search import STUDY_FILE, STUDY_NAME

SEARCH = ["-m", "hydra/sweeper=search", "lr=tag(log, interval(0.01, 1))", "model.hidden=[10],[20]",
          "data.train_size=300", "threads=1", "epochs=9", "hydra.sweeper.n_trials=9",
          "hydra.callbacks.report.gif_frames=0"]
"""Nine trials of a per-sample network on 270 training images: rungs 1, 3 and 9 epochs."""


def frames(sweep_dir):
    return pd.read_csv(sweep_dir / "results.csv"), pd.read_csv(sweep_dir / "search.csv")


def load_study(sweep_dir):
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    return optuna.load_study(study_name=STUDY_NAME,
                             storage=JournalStorage(JournalFileBackend(str(sweep_dir / STUDY_FILE))))


@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    """A finished search with its best configuration retrained with seed 1 (sweep directory, process)."""
    root = tmp_path_factory.mktemp("search")
    done = run_cli(*SEARCH, "hydra.sweeper.replicates=1", "hydra.sweeper.replicate_seeds=[0,1]",
                   f"hydra.sweep.dir={root / 'sweep'}", cwd=root)
    assert done.returncode == 0, done.stderr
    return root / "sweep", done


def test_a_promoted_trial_trains_only_the_epochs_above_its_last_rung(searched):
    results, table = frames(searched[0])
    assert set(table["rung"]) == {0, 1, 2} and list(table["epochs"].unique()) == [1, 3, 9][:table["epochs"].nunique()]
    rung_epochs = {0: 1, 1: 3, 2: 9}
    for row in table[table["seed"].isna() | (table["epochs"] < 9)].itertuples():
        below = rung_epochs[row.rung - 1] if row.rung else 0
        assert row.epochs_trained == row.epochs - below, row      # the increment, from the reuse store
        history = pd.read_csv(searched[0] / str(row.dir) / "history.csv")
        assert history["epoch"].tolist() == list(range(1, row.epochs + 1))
    assert results.set_index("job")[["trial", "rung", "epochs_trained"]].equals(
        table.set_index("job")[["trial", "rung", "epochs_trained"]])
    promoted = table[(table["rung"] > 0) & table["seed"].isna()]
    assert len(promoted) >= 2 and (promoted["epochs_trained"] < promoted["epochs"]).all()


def test_every_epoch_is_reported_to_its_trial_and_optuna_opens_the_study(searched):
    sweep_dir = searched[0]
    study = load_study(sweep_dir)
    table = frames(sweep_dir)[1].set_index("optuna_trial")
    assert len(study.trials) == len(table)
    for trial in study.trials:
        history = pd.read_csv(sweep_dir / str(trial.user_attrs["job"]) / "history.csv")
        assert trial.intermediate_values == dict(zip(history["epoch"], history["val_acc"]))
        expected = "COMPLETE" if trial.user_attrs["epochs"] == 9 else "PRUNED"
        assert trial.state.name == expected and table.loc[trial.number, "state"] == expected.lower()
        assert trial.user_attrs["trial"] == table.loc[trial.number, "trial"]
    first = {t.user_attrs["trial"]: t.params for t in study.trials if t.user_attrs["rung"] == 0}
    assert len(first) == 9 and all(t.params == first[t.user_attrs["trial"]] for t in study.trials)


def test_the_best_is_trained_to_the_full_budget_and_retrained_with_the_other_seeds(searched):
    sweep_dir = searched[0]
    results, table = frames(sweep_dir)
    full = table[(table["epochs"] == 9) & table["seed"].isna()]
    best = full.loc[full["score"].idxmax()]
    again = table[table["seed"].notna()]
    assert again["trial"].tolist() == [best["trial"]] and again["seed"].tolist() == [1]
    summary = pd.read_csv(sweep_dir / "summary.csv")
    assert len(summary) == 1 and summary["n"].iloc[0] == 2
    best_jobs = results[results["trial"] == best["trial"]]
    lr = best_jobs["lr"].iloc[0]
    assert summary["lr"].iloc[0] == lr
    assert summary["val_acc_mean"].iloc[0] == pytest.approx(best_jobs[best_jobs["epochs"] == 9]["val_acc"].mean())
    report = (sweep_dir / "report.md").read_text()
    assert f"`lr={lr}`" in report and "(2 seeds)" in report and "## Search" in report


def test_the_report_draws_the_trace_and_the_rungs_from_the_search_table(searched):
    from nnexp.sweep.search_report import trace_frame

    sweep_dir = searched[0]
    table = frames(sweep_dir)[1]
    trace = trace_frame(table, "val_acc")
    search = table[table["seed"].isna()]
    assert trace["epochs"].iloc[-1] == search["epochs_trained"].sum()
    assert trace["best"].iloc[-1] == search[search["epochs"] == 9]["score"].max()
    for name in ("search_trace.png", "search_rungs.png"):
        assert (sweep_dir / name).stat().st_size > 10_000 and f"]({name})" in (sweep_dir / "report.md").read_text()
    settings = json.loads((sweep_dir / "search.json").read_text())
    assert settings["rungs"] == [1, 3, 9] and settings["metric"] == "val_acc"


def test_the_mlflow_export_tags_each_job_with_its_trial_and_rung(searched, tmp_path):
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlruns.db'}"
    [(_, parent, _)] = export([searched[0]], uri, "search")
    client = MlflowClient(uri)
    children = client.search_runs([client.get_experiment_by_name("search").experiment_id],
                                  f"tags.mlflow.parentRunId = '{parent}'")
    table = frames(searched[0])[1].set_index("job")
    assert len(children) == len(table)
    for run in children:
        job = int(run.data.tags["nnexp.job"])
        assert run.data.tags["nnexp.trial"] == str(table.loc[job, "trial"])
        assert run.data.tags["nnexp.rung"] == str(table.loc[job, "rung"])


def test_a_search_killed_9_continues_and_ends_as_an_uninterrupted_one(searched, tmp_path):
    """kill -9 while a job trains; the same command continues: no finished job is trained again (their
    files are untouched), and results.csv equals the uninterrupted search's but for seconds."""
    args = [*SEARCH, "data.train_size=1500", f"hydra.sweep.dir={tmp_path / 'sweep'}"]
    (tmp_path / "cwd").mkdir()
    process = subprocess.Popen([sys.executable, "-m", "nnexp", *args], cwd=tmp_path / "cwd", env=cli_env(),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    sweep_dir = tmp_path / "sweep"

    def training():
        """True once a job past the fourth has a checkpoint of an epoch and no result yet."""
        return any(job.is_dir() and job.name.isdigit() and int(job.name) >= 4 and not (job / "result.json").exists()
                   and list(job.glob("checkpoints/epoch_*.npz")) for job in sweep_dir.iterdir())

    while process.poll() is None and not (sweep_dir.is_dir() and training()):
        time.sleep(0.005)   # not a busy loop: it would take a core from the search it waits for
    table = sweep_dir / "search.csv"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    before = pd.read_csv(table)
    finished = before[before["state"] != "running"]
    assert len(finished) >= 4 and (before["state"] == "running").sum() == 1
    kept = {job: tree_digest(tmp_path / "sweep" / str(job)) for job in finished["job"]}
    again = run_cli(*args, cwd=tmp_path / "cwd")
    assert again.returncode == 0, again.stderr
    for job, digest in kept.items():
        assert tree_digest(tmp_path / "sweep" / str(job)) == digest, job
    (tmp_path / "alone-cwd").mkdir()
    alone = run_cli(*args[:-1], f"hydra.sweep.dir={tmp_path / 'alone'}", cwd=tmp_path / "alone-cwd")
    assert alone.returncode == 0, alone.stderr
    resumed, uninterrupted = (pd.read_csv(d / "results.csv").drop(columns=["seconds", "epochs_trained"])
                              for d in (tmp_path / "sweep", tmp_path / "alone"))
    pd.testing.assert_frame_equal(resumed, uninterrupted)
    assert len(load_study(tmp_path / "sweep").trials) == len(uninterrupted)


def test_failed_and_diverged_trials_are_told_and_the_search_goes_on(tmp_path):
    done = run_cli("-m", "hydra/sweeper=search", "lr=0.1,1e300", "init_from=null,missing.npz", "data.train_size=200",
                   "model.hidden=[10]", "epochs=3", "hydra.sweeper.sampler=grid", "hydra.sweeper.scheduler=none",
                   "hydra.callbacks.report.gif_frames=0", f"hydra.sweep.dir={tmp_path / 'sweep'}", cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and "2 of 4 jobs" in done.stderr and "did not finish" in done.stderr
    results, table = frames(tmp_path / "sweep")
    by_config = {(row.lr, str(row.init_from)): row.status for row in results.itertuples()}
    assert by_config == {(0.1, "nan"): "completed", (1e300, "nan"): "diverged", (0.1, "missing.npz"): "failed",
                         (1e300, "missing.npz"): "failed"}
    states = dict(zip(results["status"], table.set_index("job").loc[results["job"], "state"].tolist()))
    assert states == {"completed": "complete", "diverged": "pruned", "failed": "fail"}


def test_the_parallel_launcher_keeps_its_slots_full_and_runs_the_jobs_of_the_basic_one(tmp_path):
    """Two slots on the parallel launcher: while the slow job (hidden 2000, the grid's first with seed 4)
    trains, the other slot runs the fast jobs one after another (Hydra's batches would make each wait
    for the slowest). A grid sampler without early stopping proposes the same configurations whatever
    the order they end: the basic launcher's search has the same results."""
    space = ["-m", "hydra/sweeper=search", "model.hidden=[2000],[5],[6],[7],[8]", "data.train_size=2000", "threads=1",
             "epochs=2", "hydra.sweeper.sampler=grid", "hydra.sweeper.scheduler=none", "hydra.sweeper.seed=4",
             "hydra.callbacks.report.gif_frames=0"]
    runs = {}
    for launcher, extra in (("parallel", ["hydra/launcher=parallel", "hydra.sweeper.n_jobs=2"]), ("basic", [])):
        done = run_cli(*space, *extra, f"hydra.sweep.dir={tmp_path / launcher}", cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        runs[launcher] = frames(tmp_path / launcher)
    results, table = runs["parallel"]
    assert sorted(results["model.hidden"]) == ["[2000]", "[5]", "[6]", "[7]", "[8]"]
    times = table.assign(start=table["started_at"].map(datetime.fromisoformat),
                         end=table["finished_at"].map(datetime.fromisoformat),
                         hidden=table["job"].map(results.set_index("job")["model.hidden"]))
    slow = times[times["hidden"] == "[2000]"].iloc[0]
    beside = times[(times["start"] > slow["start"]) & (times["end"] < slow["end"])]
    assert len(beside) >= 2, times
    same = [results.drop(columns=["job", "trial", "seconds", "epochs_trained", "dir"])
            .sort_values("model.hidden").reset_index(drop=True) for results, _ in runs.values()]
    pd.testing.assert_frame_equal(*same)


BAD = [
    (["lr=interval(0.1,"], "does not parse"),
    (["lr=0.1,0.2", "nosuchkey=3"], "nosuchkey"),
    (["lr=interval(-1, 1)"], "lr=-1.0 must be greater than 0"),
    (["lr=interval(0.1, 1)", "epochs=2"], "epochs=2 is below min_epochs * eta = 1 * 3"),
    (["lr=0.1,0.2", "hydra.sweeper.n_trials=0"], "hydra.sweeper.n_trials=0 must be at least 1"),
    (["lr=0.1,0.2", "data.val_size=0"], "scheduler=asha stops and promotes on the validation score"),
    (["lr=interval(0.1, 1)", "hydra.sweeper.sampler=grid"], "sampler=grid needs discrete values"),
    (["lr=0.1,0.2", "epochs=3,9"], "epochs is the full budget"),
    (["lr=0.1,0.2", "hydra.sweeper.n_jobs=2"], "basic launcher runs one job at a time"),
    (["lr=0.1,0.2", "hydra.sweeper.sampler=bayes"], "bayes"),
    (["lr=0.1,0.2", "schedule=cosine", "schedule.span=12"], "a search's cosine schedule spans its budget"),
    (["lr=0.1,0.2", "schedule=cosine", "schedule.span=5"], "schedule.span=5 is shorter than epochs=9"),
]


@pytest.mark.parametrize("args, message", BAD, ids=[message for _, message in BAD])
def test_bad_input_is_one_line_before_any_job_runs(tmp_path, args, message):
    done = run_refused("-m", "hydra/sweeper=search", "epochs=9", *args, f"hydra.sweep.dir={tmp_path / 'sweep'}",
                       cwd=tmp_path)
    assert done.returncode != 0 and done.stderr.count("\n") == 1 and message in done.stderr, done.stderr
    assert not list((tmp_path / "sweep").glob("*/.hydra"))


def test_a_rerun_with_other_search_settings_is_refused_and_writes_nothing(searched, tmp_path):
    import shutil

    sweep_dir = tmp_path / "sweep"
    shutil.copytree(searched[0], sweep_dir)
    before = tree_digest(sweep_dir)
    done = run_refused(*SEARCH, "hydra.sweeper.replicates=1", "hydra.sweeper.replicate_seeds=[0,1]",
                       "hydra.sweeper.seed=7", f"hydra.sweep.dir={sweep_dir}", cwd=tmp_path)
    assert done.returncode == 1 and done.stderr.count("\n") == 1
    assert "holds a search with other settings (seed=0 now 7)" in done.stderr
    after = tree_digest(sweep_dir)
    assert {k: v for k, v in after.items() if k != ".nnexp.lock"} == {k: v for k, v in before.items()
                                                                       if k != ".nnexp.lock"}


def test_a_cosine_schedule_spans_the_budget_so_promotions_continue_from_the_store(tmp_path):
    done = run_cli(*SEARCH[:-2], "hydra.sweeper.n_trials=3", "schedule=cosine", "hydra.sweeper.seed=1",
                   "hydra.callbacks.report.gif_frames=0", f"hydra.sweep.dir={tmp_path / 'sweep'}", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    results, table = frames(tmp_path / "sweep")
    assert (results["schedule.span"] == 9).all()
    promoted = table[table["rung"] > 0]
    assert len(promoted) and (promoted["epochs_trained"] < promoted["epochs"]).all()
    for row in table.itertuples():    # lr (1 + cos(pi (k - 1) / 8)) / 2 in epoch k, whatever the job's length
        lr = results.set_index("job").loc[row.job, "lr"]
        history = pd.read_csv(tmp_path / "sweep" / str(row.dir) / "history.csv")
        expected = lr * (1 + np.cos(np.pi * (history["epoch"] - 1) / 8)) / 2
        np.testing.assert_allclose(history["epoch_lr"], expected, rtol=1e-12)


def test_a_second_command_into_a_running_search_is_refused_at_once(tmp_path):
    args = [*SEARCH, "data.train_size=1500", f"hydra.sweep.dir={tmp_path / 'sweep'}"]
    (tmp_path / "cwd").mkdir()
    first = subprocess.Popen([sys.executable, "-m", "nnexp", *args], cwd=tmp_path / "cwd", env=cli_env(),
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while first.poll() is None and not (tmp_path / "sweep" / "search.csv").is_file():
            time.sleep(0.01)
        second = run_refused(*args, cwd=tmp_path / "cwd")
        assert second.returncode == 1 and second.stderr.count("\n") == 1
        assert f"{tmp_path / 'sweep'} is in use by a sweep (pid {first.pid}" in second.stderr
    finally:
        first.kill()
        first.wait()


def test_compare_reads_a_search_as_it_reads_a_grid(searched, tmp_path):
    done = run_cli(str(searched[0]), str(searched[0]), "--out", str(tmp_path / "out"), module="nnexp.compare")
    assert done.returncode == 0, done.stderr
    compared = pd.read_csv(tmp_path / "out" / "compare.csv")
    assert len(compared) == len(pd.read_csv(searched[0] / "results.csv").drop_duplicates(["lr", "model.hidden",
                                                                                          "epochs"]))


def test_the_trace_beside_a_grid_draws_the_grids_best_and_its_epochs(searched, finished_sweep, tmp_path):
    import shutil

    from nnexp.sweep.search_report import grid_reference

    sweep_dir = tmp_path / "sweep"
    shutil.copytree(searched[0], sweep_dir)
    grid = pd.read_csv(finished_sweep / "results.csv")
    best, epochs = grid_reference(finished_sweep)
    assert best == grid["val_acc"].max() and epochs == grid["epochs_trained"].sum() == 2
    alone = (sweep_dir / "search_trace.png").read_bytes()
    done = run_cli(str(sweep_dir), "--vs", str(finished_sweep), module="nnexp.report")
    assert done.returncode == 0, done.stderr
    assert (sweep_dir / "search_trace.png").read_bytes() != alone
    missing = run_refused(str(sweep_dir), "--vs", str(tmp_path / "nothing"), module="nnexp.report")
    assert missing.returncode == 1 and missing.stderr.count("\n") == 1 and "is not a directory" in missing.stderr
