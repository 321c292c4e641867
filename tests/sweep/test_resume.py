"""Resuming: which results count as finished, checkpoints of another configuration, stale files,
the reproducibility record, and the guard that keeps one sweep per sweep directory."""

import io
import json
import re
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest
from helpers import ROOT, TINY, TINY_SWEEP, compose_config, run_cli, run_refused, tree_digest
from omegaconf import OmegaConf, open_dict

from nnexp import __version__
from nnexp.nn.network import Network
from nnexp.storage import read_npz
from nnexp.sweep.callbacks import ResultGuard
from nnexp.sweep.guard import SweepRefused, check_sweep_dir
from nnexp.training.checkpoint import CheckpointStore
from nnexp.training.identity import config_hash
from nnexp.training.job import run_job
from nnexp.training.results import finished_result
from nnexp.training.run_files import TIMING_COLUMNS


def copy_of(sweep_dir, tmp_path):
    return shutil.copytree(sweep_dir, tmp_path / "sweep")


# --- which results count as finished -----------------------------------------------------------


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """(config, run directory) of one finished job; tests copy the directory before changing it."""
    cfg, run_dir = compose_config(TINY), tmp_path_factory.mktemp("run")
    run_job(cfg, run_dir)
    return cfg, run_dir


def test_config_hash_ignores_overwrite_and_hydra_but_not_values():
    plain = compose_config(TINY)
    assert config_hash(plain) == config_hash(compose_config(TINY + ["overwrite=true"]))
    assert config_hash(plain) != config_hash(compose_config(TINY + ["lr=0.2"]))
    assert config_hash(plain, ignore=("epochs",)) == config_hash(compose_config(TINY + ["epochs=3"]),
                                                                 ignore=("epochs",))


@pytest.mark.parametrize("damage, reason", [
    (lambda d: (d / "result.json").write_text('{"status": "compl'), "is corrupt"),
    (lambda d: (d / "result.json").write_text("[1, 2]"), "is corrupt"),
    (lambda d: (d / "history.csv").write_text("epoch\n"), "history.csv is not the file result.json recorded"),
    (lambda d: (d / "weights.npz").write_bytes((d / "weights.npz").read_bytes()[:200]), "weights.npz is not"),
    (lambda d: (d / "per_label.csv").unlink(), "per_label.csv is missing"),
    (lambda d: edit_result(d, status="failed", error="boom"), "the previous attempt ended as failed: boom"),
    (lambda d: edit_result(d, config_hash="0" * 64), "was computed from another configuration"),
    (lambda d: edit_result(d, files=None), "lists no files"),
])
def test_a_damaged_or_foreign_result_is_not_finished(finished_run, tmp_path, damage, reason):
    cfg, run_dir = finished_run[0], shutil.copytree(finished_run[1], tmp_path / "run")
    result, why_not = finished_result(cfg, run_dir)
    assert result["status"] == "completed" and why_not is None
    damage(run_dir)
    result, why_not = finished_result(cfg, run_dir)
    assert result is None and reason in why_not


def edit_result(run_dir, **changes):
    path = run_dir / "result.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))


def test_no_result_is_not_finished_and_says_nothing(tmp_path):
    assert finished_result(compose_config(TINY), tmp_path) == (None, None)


def test_a_diverged_result_is_finished(tmp_path):
    cfg = compose_config(TINY + ["model.activation=identity", "model.output_activation=identity", "lr=10"])
    assert run_job(cfg, tmp_path)["status"] == "diverged"
    assert finished_result(cfg, tmp_path)[0]["status"] == "diverged"


# --- checkpoints, divergence, stale files --------------------------------------------------------


def test_a_checkpoint_of_another_configuration_is_not_continued(tmp_path):
    """reuse=false: the shared epoch store would hand "fresh" the epochs "reused" trained."""
    run_job(compose_config(TINY + ["epochs=2", "lr=0.3", "reuse=false"]), tmp_path / "reused")
    other = compose_config(TINY + ["epochs=3", "lr=0.1", "reuse=false"])
    reused = run_job(other, tmp_path / "reused")
    fresh = run_job(other, tmp_path / "fresh")
    assert reused["test_acc"] == fresh["test_acc"] and reused["epochs_completed"] == 3
    np.testing.assert_array_equal(read_npz(tmp_path / "reused" / "weights.npz")["W1"],
                                  read_npz(tmp_path / "fresh" / "weights.npz")["W1"])


def test_the_epoch_that_diverged_leaves_no_checkpoint_and_no_weights(tmp_path, monkeypatch):
    """Losses turn NaN in epoch 2 (after 200 samples of epoch 1): epoch 1 is kept, nothing of epoch 2."""
    original, calls = Network.backprop, []

    def failing_in_epoch_2(self, x, y, mean=True, rng=None):
        calls.append(1)
        losses = original(self, x, y, mean, rng)
        return losses * np.nan if len(calls) > 250 else losses
    monkeypatch.setattr(Network, "backprop", failing_in_epoch_2)
    # kernel=reference: the per-sample fast path never calls backprop
    result = run_job(compose_config(TINY + ["epochs=3", "kernel=reference"]), tmp_path)
    assert result["status"] == "diverged" and result["diverged_epoch"] == 2 and result["epochs_completed"] == 1
    assert CheckpointStore(tmp_path / "checkpoints").saved_epochs() == [1]
    assert not (tmp_path / "weights.npz").exists()
    assert pd.read_csv(tmp_path / "history.csv")["epoch"].tolist() == [1]
    assert set(result["files"]) == {"history.csv", "batches.csv"}


def test_files_of_an_earlier_run_in_the_same_directory_are_removed(tmp_path):
    run_job(compose_config(TINY), tmp_path)
    assert (tmp_path / "weights.npz").is_file()
    diverging = compose_config(TINY + ["model.activation=identity", "model.output_activation=identity", "lr=10"])
    run_job(diverging, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == ["batches.csv", "history.csv", "result.json"]


# --- the reproducibility record -------------------------------------------------------------------


def test_result_records_versions_commit_blas_and_seed(tmp_path):
    result = run_job(compose_config(TINY + ["seed=7"]), tmp_path)
    env = result["environment"]
    assert env["nnexp"] == __version__ and env["numpy"] == np.__version__ and env["python"].count(".") == 2
    assert result["seed"] == 7 and len(result["config_hash"]) == 64
    assert env["blas"] and all(lib["internal_api"] and lib["num_threads"] >= 1 for lib in env["blas"])
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True)
    if head.returncode == 0:   # running from a checkout
        assert env["git"]["commit"] == head.stdout.strip() and isinstance(env["git"]["dirty"], bool)


# --- the sweep directory: checks in-process on the saved multirun config ---------------------------


def launch(sweep_dir, finished_sweep, task, **values):
    """The config Hydra would hand on_multirun_start for ``-m <task> hydra.sweep.dir=<sweep_dir>``,
    built from the finished sweep's own multirun.yaml."""
    config = OmegaConf.load(finished_sweep / "multirun.yaml")
    config.hydra.sweep.dir = str(sweep_dir)
    config.hydra.overrides.task = list(task)
    for key, value in values.items():
        OmegaConf.update(config, key, value)
    return config


SAME = TINY_SWEEP[1:]


@pytest.mark.parametrize("task, values", [
    (SAME, {}),
    (SAME + ["overwrite=true"], {"overwrite": True}),
    (["lr=0.1,0.3", *TINY, "epochs=1"], {}),             # reordered, same jobs in the same order
])
def test_the_same_sweep_may_resume(finished_sweep, task, values):
    check_sweep_dir(launch(finished_sweep, finished_sweep, task, **values))


@pytest.mark.parametrize("task, message", [
    (["lr=0.3,0.1", *TINY, "epochs=1"], "holds another sweep: its overrides lr=0.1,0.3 differ from lr=0.3,0.1"),
    ([*TINY, "epochs=1"], "its overrides lr=0.1,0.3 differ from data.train_size=200 model.hidden=[10] epochs=1"),
    (SAME + ["seed=1,2"], "its overrides data.train_size=200 model.hidden=[10] epochs=1 lr=0.1,0.3 differ from "
                          "seed=1,2 given now"),
])
def test_another_grid_is_refused(finished_sweep, task, message):
    with pytest.raises(SweepRefused, match=re.escape(message)) as refused:
        check_sweep_dir(launch(finished_sweep, finished_sweep, task))
    assert refused.value.replaceable


def test_same_overrides_but_another_configuration_is_refused(finished_sweep):
    """As when conf/ changed between the two launches."""
    refused = re.escape("same overrides but another configuration (momentum=0.0 now 0.9)")
    with pytest.raises(SweepRefused, match=refused):
        check_sweep_dir(launch(finished_sweep, finished_sweep, SAME, momentum=0.9))


def test_an_unreadable_multirun_yaml_is_reported(finished_sweep, tmp_path):
    sweep_dir = copy_of(finished_sweep, tmp_path)
    (sweep_dir / "multirun.yaml").write_text("hydra: [unclosed\n")
    with pytest.raises(SweepRefused, match=f"cannot read {re.escape(str(sweep_dir))}/multirun.yaml"):
        check_sweep_dir(launch(sweep_dir, finished_sweep, SAME))


def test_new_empty_and_foreign_directories(finished_sweep, tmp_path):
    check_sweep_dir(launch(tmp_path / "new", finished_sweep, SAME))
    check_sweep_dir(launch(tmp_path, finished_sweep, SAME))
    (tmp_path / "notes.txt").write_text("mine")
    config = launch(tmp_path, finished_sweep, SAME + ["overwrite=true"], overwrite=True)
    with pytest.raises(SystemExit):      # not a sweep directory: refused even with overwrite=true
        ResultGuard().on_multirun_start(config)
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def with_run_dir(cfg, run_dir):
    """A job's config with the ``hydra.run.dir`` node on_run_start reads."""
    with open_dict(cfg):
        cfg.hydra = {"run": {"dir": str(run_dir)}}
    return cfg


def test_a_run_dir_holding_another_configurations_result_is_refused(tmp_path, capsys):
    run_job(compose_config(TINY), tmp_path)
    before = tree_digest(tmp_path)
    other = with_run_dir(compose_config(TINY + ["lr=0.5"]), tmp_path)
    with pytest.raises(SystemExit) as exited:
        ResultGuard().on_run_start(other)
    assert exited.value.code == 1 and capsys.readouterr().err == (
        f"nnexp: error: {tmp_path} holds the completed result of another configuration; choose another "
        "hydra.run.dir, or add overwrite=true to replace it\n")
    same = with_run_dir(compose_config(TINY), tmp_path)
    ResultGuard().on_run_start(same)          # the same configuration: its task will skip it
    OmegaConf.update(other, "overwrite", True)
    ResultGuard().on_run_start(other)
    assert tree_digest(tmp_path) == before


# --- the sweep directory: the command line ----------------------------------------------------------


def test_rerun_skips_finished_jobs_and_recomputes_a_corrupt_one(finished_sweep, tmp_path):
    sweep_dir = copy_of(finished_sweep, tmp_path)
    kept = (sweep_dir / "0" / "result.json").read_bytes()
    history = (sweep_dir / "1" / "history.csv").read_text()
    (sweep_dir / "1" / "result.json").write_text('{"status": "completed", "test_')   # as if cut off
    done = run_cli(*TINY_SWEEP, f"hydra.sweep.dir={sweep_dir}")
    assert done.returncode == 0, done.stderr
    assert (sweep_dir / "0" / "result.json").read_bytes() == kept
    assert "skipped" in (sweep_dir / "0" / "main.log").read_text()
    log = (sweep_dir / "1" / "main.log").read_text()
    assert "running again" in log and "result.json is corrupt" in log
    assert json.loads((sweep_dir / "1" / "result.json").read_text())["status"] == "completed"
    without_seconds = lambda text: pd.read_csv(io.StringIO(text)).drop(columns=TIMING_COLUMNS)  # noqa: E731
    pd.testing.assert_frame_equal(without_seconds((sweep_dir / "1" / "history.csv").read_text()),
                                  without_seconds(history))


def test_another_grid_in_a_finished_sweep_dir_is_refused_and_changes_nothing(finished_sweep):
    before = tree_digest(finished_sweep)
    done = run_refused("-m", *TINY, "epochs=1", "lr=0.1,0.5", f"hydra.sweep.dir={finished_sweep}")
    assert done.returncode == 1
    assert done.stderr == (
        f"nnexp: error: {finished_sweep} holds another sweep: its overrides lr=0.1,0.3 differ from lr=0.1,0.5 "
        "given now; rerun with its overrides to resume it, choose another hydra.sweep.dir, or add "
        "overwrite=true to delete it and start afresh\n")
    assert tree_digest(finished_sweep) == before


@pytest.mark.parametrize("lr, first_line", [
    ("abc", "Error merging override lr=abc"),                  # Hydra's own type error, at composition
    ("abc,0.1", "holds another sweep: its overrides lr=0.1,0.3 differ from lr=abc,0.1 given now"),
])
def test_a_wrong_value_swept_into_a_finished_sweep_changes_nothing(finished_sweep, lr, first_line):
    before = tree_digest(finished_sweep)
    done = run_refused("-m", *TINY, "epochs=1", f"lr={lr}", f"hydra.sweep.dir={finished_sweep}")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert first_line in done.stderr.split("\n")[0]
    assert tree_digest(finished_sweep) == before


def test_overwrite_replaces_the_earlier_sweep(finished_sweep, tmp_path):
    sweep_dir = copy_of(finished_sweep, tmp_path)
    done = run_cli("-m", *TINY, "epochs=1", "lr=0.5", "overwrite=true", f"hydra.sweep.dir={sweep_dir}")
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in sweep_dir.iterdir() if p.is_dir()) == ["0"]   # beside it: the new sweep's report
    assert (sweep_dir / "multirun.yaml").is_file() and len(pd.read_csv(sweep_dir / "results.csv")) == 1
    assert json.loads((sweep_dir / "0" / "result.json").read_text())["status"] == "completed"
    assert "skipped" not in (sweep_dir / "0" / "main.log").read_text()
    check_sweep_dir(launch(sweep_dir, sweep_dir, [*TINY, "epochs=1", "lr=0.5"], overwrite=False))  # resumable


def test_a_sweep_goes_on_past_failed_and_diverged_jobs_then_exits_nonzero(tmp_path):
    """Job 0 completes, job 1 diverges, job 2 fails (lr=-1); each is recorded, the exit code says so."""
    done = run_cli("-m", *TINY, "model.activation=identity", "model.output_activation=identity",
                   "lr=0.001,10,-1", f"hydra.sweep.dir={tmp_path}")
    assert done.returncode == 1
    assert done.stderr.strip().split("\n")[-1] == (
        f"nnexp: error: 1 of 3 jobs in {tmp_path} did not finish (first: 2: lr=-1.0 must be greater than 0); "
        "their logs hold the details; fix the cause and rerun the same command: finished jobs are skipped")
    statuses = [json.loads((tmp_path / str(j) / "result.json").read_text())["status"] for j in range(3)]
    assert statuses == ["completed", "diverged", "failed"]
    said = done.stdout + done.stderr
    assert said.count("training diverged in epoch 1") == 1 and "lower lr" in said
    assert "(1 completed, 1 diverged, 1 failed)" in said   # the end-of-sweep summary counts them apart
    assert "Traceback" in (tmp_path / "2" / "main.log").read_text()
    assert not (tmp_path / "1" / "weights.npz").exists()
    assert not list((tmp_path / "1").glob("checkpoints/*.npz"))
