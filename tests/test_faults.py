"""Faults from outside: a second launch into a busy directory, two sweeps started together, a write
the system refuses, SIGTERM and Ctrl-C. Each ends with one line and a non-zero exit, and what was
written before is intact (and, where a run can go on, the rerun ends as an uninterrupted run)."""

import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
from helpers import TINY, cli_env, run_cli, tree_digest

from nnexp.storage import LOCK_FILE, hold_directory, read_npz

STEADY = [*TINY, "data.train_size=2000", "shuffle=true", "momentum=0.5", "reuse=false"]
LONG = [*STEADY, "epochs=40"]
"""A run of a few seconds with a checkpoint after every epoch (fractions of a second each)."""
STOPPED_EPOCHS = 12
"""A run stopped after its first checkpoint: a second or more still to go."""
STOPPED = [*STEADY, f"epochs={STOPPED_EPOCHS}"]
"""The command of the runs the signal tests stop, and of their reference run never stopped."""


def as_in_a_terminal():
    """Ctrl-C's SIGINT at its default, as in a terminal: a test runner started in the background (CI)
    passes it on ignored, and Python then never turns it into KeyboardInterrupt."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start(args, cwd, **kwargs):
    return subprocess.Popen([sys.executable, "-m", "nnexp", *args], cwd=cwd, env=cli_env(), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=as_in_a_terminal, **kwargs)


def wait_for_checkpoint(process, run_dir, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if list((run_dir / "checkpoints").glob("epoch_*.npz")):
            return
        assert process.poll() is None, process.communicate()
        time.sleep(0.01)
    raise AssertionError("no checkpoint was written")


def test_a_busy_sweep_directory_refuses_a_second_launch_at_once(tmp_path, finished_sweep):
    """Break tried: without the lock (ResultGuard.hold a no-op) the second launch reruns into the
    directory while the first still writes, and this test sees exit 0."""
    sweep = tmp_path / "sweep"
    shutil.copytree(finished_sweep, sweep)
    holder = hold_directory(sweep, "a sweep")          # as the first launch holds it while it runs
    before = tree_digest(sweep)
    try:
        from helpers import TINY_SWEEP

        done = run_cli(*TINY_SWEEP, f"hydra.sweep.dir={sweep}")
        assert done.returncode == 1
        assert re.fullmatch(rf"nnexp: error: {re.escape(str(sweep))} is in use by a sweep \(pid {os.getpid()}: .*\); "
                            r"wait for it to finish, or choose another directory\n", done.stderr), done.stderr
        assert tree_digest(sweep) == before
    finally:
        holder.close()
    again = run_cli(*TINY_SWEEP, f"hydra.sweep.dir={sweep}")        # the lock is gone with its holder
    assert again.returncode == 0, again.stderr
    assert "skipped" in (sweep / "0" / "main.log").read_text()


def test_a_rerun_while_a_job_of_the_sweep_still_runs_is_refused_at_once(tmp_path, finished_sweep):
    """On Slurm a sweep's jobs go on when its command is stopped (Ctrl-C, a lost login); the same command
    run again before they end is refused, naming the job, with nothing written but the sweep's lock.
    Break tried: without the check in ResultGuard.on_multirun_start the refusal comes from the job,
    after Hydra has rewritten multirun.yaml and job 0's files (and on Slurm a refused job leaves the
    sweep no result to collect)."""
    from helpers import TINY_SWEEP

    sweep = tmp_path / "sweep"
    shutil.copytree(finished_sweep, sweep)
    holder = hold_directory(sweep / "1", "a sweep's job")   # as job 1, still running, holds it

    def files():
        return {name: digest for name, digest in tree_digest(sweep).items() if not name.endswith(LOCK_FILE)}

    before = files()
    try:
        done = run_cli(*TINY_SWEEP, f"hydra.sweep.dir={sweep}")
        assert done.returncode == 1
        assert re.fullmatch(rf"nnexp: error: {re.escape(str(sweep / '1'))} is in use by a sweep's job \(pid "
                            rf"{os.getpid()}: .*\); wait for it to finish, or choose another directory\n", done.stderr)
        assert files() == before
    finally:
        holder.close()


def test_two_sweeps_started_together_into_one_directory(tmp_path):
    """The demonstration of the integrity issue: one sweep runs, the other is refused in one line, and
    the first one's results are whole (its jobs were not overwritten)."""
    sweep = tmp_path / "sweep"
    first = start(["-m", *TINY, "lr=0.05,0.1,0.2,0.3", "epochs=3", "hydra.callbacks.report.gif_frames=0",
                   f"hydra.sweep.dir={sweep}"], tmp_path)
    second = start(["-m", *TINY, "lr=0.5,0.6", "epochs=2", "hydra.callbacks.report.gif_frames=0",
                    f"hydra.sweep.dir={sweep}"], tmp_path)
    outcomes = sorted([(p.wait(timeout=300), p.communicate()[1]) for p in (first, second)], key=lambda o: o[0])
    (ok, _), (refused, line) = outcomes
    assert (ok, refused) == (0, 1)
    assert line.count("\n") == 1 and line.startswith(f"nnexp: error: {sweep}"), line
    assert "is in use by a sweep" in line or "holds another sweep" in line
    results = pd.read_csv(sweep / "results.csv")
    assert (results["status"] == "completed").all()
    assert len(results) in (2, 4) and set(results["epochs"]) == ({3} if len(results) == 4 else {2})


def test_a_run_into_the_directory_of_a_running_job_is_refused(tmp_path):
    run_dir = tmp_path / "run"
    first = start([*LONG, f"hydra.run.dir={run_dir}"], tmp_path)
    try:
        wait_for_checkpoint(first, run_dir)
        done = run_cli(*LONG, f"hydra.run.dir={run_dir}")
        assert done.returncode == 1 and f"{run_dir} is in use by a run (pid {first.pid}" in done.stderr
        assert done.stderr.count("\n") == 1
    finally:
        first.kill()
        first.wait()
    assert (run_dir / LOCK_FILE).is_file()                         # it stays; a dead holder never blocks
    assert run_cli(*TINY, f"hydra.run.dir={tmp_path / 'other'}").returncode == 0


@pytest.mark.parametrize("limit", [50_000])
def test_a_write_over_the_file_size_limit_is_one_line_naming_the_file(tmp_path, limit):
    """RLIMIT_FSIZE makes the first large write (an epoch's checkpoint, 313 KB) fail with EFBIG.
    Break tried: atomic_path without its OSError conversion prints 'OSError: [Errno 27] File too large'."""
    run_dir = tmp_path / "run"

    def limited():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    done = subprocess.run([sys.executable, "-m", "nnexp", "data.train_size=200", "reuse=false",
                           f"hydra.run.dir={run_dir}"], cwd=tmp_path, env=cli_env(), text=True,
                          capture_output=True, preexec_fn=limited)
    assert done.returncode == 1
    assert re.fullmatch(rf"nnexp: error: cannot write {re.escape(str(run_dir))}/\S+: File too large; the files "
                        r"written before it are intact\n", done.stderr), done.stderr
    assert json.loads((run_dir / "result.json").read_text())["status"] == "failed"
    assert not list(run_dir.rglob("*.tmp"))                       # no half-written temporary left


@pytest.fixture(scope="session")
def straight_weights(tmp_path_factory):
    """The weights of the stopped runs' command run without a stop (reference for both signals; a
    session fixture of tests/conftest.py's SHARED_SESSION_FIXTURES, made once)."""
    run_dir = tmp_path_factory.mktemp("straight") / "run"
    assert run_cli(*STOPPED, f"hydra.run.dir={run_dir}").returncode == 0
    return read_npz(run_dir / "weights.npz")


@pytest.mark.parametrize("signum, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_sigterm_and_ctrl_c_end_a_run_cleanly_and_the_rerun_continues(tmp_path, signum, code, straight_weights):
    """SIGTERM (what Slurm sends before it stops a job) and Ctrl-C: one line, exit 128 + signal, the
    finished epochs checkpointed and recorded; the same command then continues and ends bit for bit as
    a run never stopped. Break tried: without the SIGTERM handler the process dies with -15 and writes
    no result.json."""
    run_dir = tmp_path / "run"
    process = start([*STOPPED, f"hydra.run.dir={run_dir}"], tmp_path)
    wait_for_checkpoint(process, run_dir)
    process.send_signal(signum)
    _, err = process.communicate(timeout=60)
    assert process.returncode == code
    name = signal.Signals(signum).name
    assert err == (f"nnexp: error: {run_dir}: interrupted by {name}; its finished epochs are checkpointed: "
                   "rerun the same command to continue\n")
    result = json.loads((run_dir / "result.json").read_text())
    assert result["status"] == "interrupted" and result["epochs_completed"] >= 1
    assert f"interrupted by {name} after epoch {result['epochs_completed']} of {STOPPED_EPOCHS}" in result["error"]
    assert not (run_dir / "weights.npz").exists()
    rerun = run_cli(*STOPPED, f"hydra.run.dir={run_dir}")
    assert rerun.returncode == 0, rerun.stderr
    log = (run_dir / "main.log").read_text()
    assert "running again: the previous attempt ended as interrupted" in log
    assert f"resuming from the checkpoint of epoch {result['epochs_completed']} of {STOPPED_EPOCHS}" in log
    resumed = read_npz(run_dir / "weights.npz")
    assert resumed.keys() == straight_weights.keys()
    for name_, array in straight_weights.items():
        np.testing.assert_array_equal(resumed[name_], array)
