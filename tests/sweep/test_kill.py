"""A real sweep killed with SIGKILL in the middle of a job, then rerun with the same command."""

import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
from helpers import TINY, cli_env, run_cli

from nnexp.storage import read_npz, write_csv
from nnexp.sweep.collect import collect, history_frame, results_frame
from nnexp.training.checkpoint import CheckpointStore
from nnexp.training.run_files import TIMING_COLUMNS

EPOCHS = 8
MLP_SWEEP = ["-m", *TINY, f"epochs={EPOCHS}", "shuffle=true", "momentum=0.5", "lr=0.1,0.2,0.3",
             "hydra.callbacks.report.gif_frames=0"]
"""Three per-sample jobs; shuffling and momentum make an inexact resume show in the numbers."""
CNN_LAYERS = ("model.layers=[{type:conv,filters:3,kernel:3,pad:1},{type:activation,name:relu},"
              "{type:pool,mode:max,size:2},{type:flatten},{type:dense,units:12},{type:activation,name:relu},"
              "{type:dropout,rate:0.5},{type:dense,units:null}]")
CNN_SWEEP = ["-m", "model=cnn", CNN_LAYERS, "data.train_size=300", f"epochs={EPOCHS}", "batch_size=16",
             "threads=1", "lr=0.02,0.05,0.1", "hydra.callbacks.report.gif_frames=0"]
"""Three mini-batch CNN jobs with dropout, momentum 0.9 and shuffling (the model=cnn recipe): the
dropout masks and the momentum must come back exactly."""


def start_sweep(sweep, sweep_dir, cwd, *extra):
    """The sweep as a background process of its own group, started in ``cwd``: each sweep of this
    test has its own working directory, so its own epoch reuse store (outputs/reuse)."""
    cwd.mkdir()
    return subprocess.Popen([sys.executable, "-m", "nnexp", *sweep, *extra, f"hydra.sweep.dir={sweep_dir}"], cwd=cwd,
                            env=cli_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)


def wait_until_mid_job(process, job_dir, timeout=120):
    """Poll until ``job_dir`` has a checkpoint but no result.json, i.e. it is training."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if list(job_dir.glob("checkpoints/epoch_*.npz")) and not (job_dir / "result.json").exists():
            return
        assert process.poll() is None, "the sweep ended before it could be interrupted"
        time.sleep(0.005)
    raise AssertionError(f"{job_dir} never started training")


def tables(directory, names=("history.csv", "batches.csv", "per_label.csv", "confusion.csv")):
    """The tables of a job (or, with names, of the sweep) without the timing column, and without the
    epochs each job trained itself (a resumed job trains only those after its checkpoint)."""
    return [pd.read_csv(directory / name).drop(columns=[*TIMING_COLUMNS, "epochs_trained"], errors="ignore")
            for name in names]


@pytest.mark.parametrize("sweep", [MLP_SWEEP, CNN_SWEEP], ids=["per-sample-mlp", "mini-batch-cnn-dropout"])
def test_a_killed_sweep_resumes_and_ends_as_if_never_interrupted(tmp_path, sweep):
    """Killed (SIGKILL) in the middle of job 1's training, mid-sweep; the rerun skips job 0, resumes
    job 1 from its checkpoint and ends with every table and weight equal to an uninterrupted sweep.
    Break tried: a checkpoint without the optimizer's momentum (or an epoch rng not keyed by the
    epoch) makes job 1's weights differ from the straight sweep's."""
    straight_dir, killed_dir = tmp_path / "straight", tmp_path / "killed"
    # the reference, side by side; its results.csv is made below by the report's code, without figures
    straight = start_sweep(sweep, straight_dir, tmp_path / "straight-cwd", "~hydra.callbacks.report")
    killed = start_sweep(sweep, killed_dir, tmp_path / "killed-cwd")
    try:
        wait_until_mid_job(killed, killed_dir / "1")
    finally:
        os.killpg(killed.pid, signal.SIGKILL)
        killed.wait()
    assert killed.returncode == -signal.SIGKILL
    saved_epoch = CheckpointStore(killed_dir / "1" / "checkpoints").saved_epochs()[-1]
    first_job = {name: (killed_dir / "0" / name).stat().st_mtime_ns
                 for name in ("result.json", "history.csv", "weights.npz")}

    rerun = run_cli(*sweep, f"hydra.sweep.dir={killed_dir}", cwd=tmp_path / "killed-cwd")
    assert rerun.returncode == 0, rerun.stderr
    assert straight.wait(timeout=300) == 0

    assert {name: (killed_dir / "0" / name).stat().st_mtime_ns for name in first_job} == first_job
    assert "skipped" in (killed_dir / "0" / "main.log").read_text()
    log = (killed_dir / "1" / "main.log").read_text()
    resumed = log.split(f"resuming from the checkpoint of epoch {saved_epoch} of {EPOCHS}")
    assert len(resumed) == 2, log
    trained_again = [int(e) for e in re.findall(rf"epoch (\d+)/{EPOCHS} ", resumed[1])]
    assert trained_again == list(range(saved_epoch + 1, EPOCHS + 1))
    for job in ("0", "1", "2"):
        for ours, reference in zip(tables(killed_dir / job), tables(straight_dir / job)):
            pd.testing.assert_frame_equal(ours, reference)
        ours, reference = read_npz(killed_dir / job / "weights.npz"), read_npz(straight_dir / job / "weights.npz")
        for name in reference:
            np.testing.assert_array_equal(ours[name], reference[name])
    jobs = collect(straight_dir)
    write_csv(straight_dir / "results.csv", results_frame(jobs, straight_dir))
    write_csv(straight_dir / "history.csv", history_frame(jobs))
    sweep_tables = ("results.csv", "history.csv")   # the rerun's report callback rebuilt them from all jobs
    for ours, reference in zip(tables(killed_dir, sweep_tables), tables(straight_dir, sweep_tables)):
        pd.testing.assert_frame_equal(ours, reference)
    assert pd.read_csv(killed_dir / "results.csv")["status"].tolist() == ["completed"] * 3
