"""Sweeps through hydra/launcher=slurm on a real one-node Slurm cluster (the ``slurm`` fixture,
tests/slurm_cluster.py): the same tables and weights as the basic launcher, failed jobs reported
as locally, and jobs that Slurm stops (SIGTERM, or its time limit) keep their finished epochs, end
cleanly and, requeued or rerun, end bit for bit as if never stopped."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from contextlib import suppress
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
from helpers import cli_env, run_cli, run_refused

from nnexp.storage import read_npz
from nnexp.training.checkpoint import CheckpointStore
from nnexp.training.run_files import TIMING_COLUMNS

SLURM = ["hydra/launcher=slurm", "hydra.launcher.mem_gb=1"]
NO_GIF = "hydra.callbacks.report.gif_frames=0"
SMALL = ["model.hidden=[10]", "data.train_size=300", "threads=1"]
STEADY = ["shuffle=true", "momentum=0.5", "threads=1", NO_GIF]
"""Per-sample training on mnist_sample; shuffling and momentum make an inexact resume show."""
SLOW = ["model.hidden=[400,400]", *STEADY]
"""Epochs of one to two seconds (one thread): a job still trains well after its first checkpoint."""
QUICK = ["model.hidden=[30]", *STEADY]
"""Epochs of a few hundredths of a second: many checkpoints in a few seconds."""


def as_in_a_terminal():
    """Ctrl-C's SIGINT at its default, as in a terminal (a test runner in the background ignores it)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start_sweep(args, cwd, env=None):
    """``python -m nnexp <args>`` in the background, started in ``cwd`` (its own reuse store)."""
    cwd.mkdir(exist_ok=True)
    return subprocess.Popen([sys.executable, "-m", "nnexp", *args], cwd=cwd, env=cli_env(env), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=as_in_a_terminal)


def finish(process, timeout=300):
    """(return code, stdout, stderr) of a background sweep."""
    out, err = process.communicate(timeout=timeout)
    return process.returncode, out, err


def tables(sweep_dir):
    """results.csv and history.csv of a sweep as text, without the timing column, and without the epochs
    each job trained itself (which of two jobs running at once trains a shared epoch is chance; a stopped
    job's rerun trains only what follows its checkpoint)."""
    return [pd.read_csv(sweep_dir / name, dtype=str, keep_default_na=False)
            .drop(columns=[*TIMING_COLUMNS, "epochs_trained"], errors="ignore")
            for name in ("results.csv", "history.csv")]


def assert_same_sweep(found, expected):
    """Two sweeps with the same tables (every digit) and, job by job, the same weights."""
    for table, reference in zip(tables(found), tables(expected)):
        pd.testing.assert_frame_equal(table, reference)
    for weights in expected.glob("*/weights.npz"):
        for name, array in read_npz(weights).items():
            np.testing.assert_array_equal(read_npz(found / weights.parent.name / "weights.npz")[name], array)


def result(job_dir):
    return json.loads((job_dir / "result.json").read_text())


def test_a_slurm_sweep_equals_the_basic_launchers_and_reports_failed_jobs_alike(slurm, tmp_path):
    """Four jobs as a Slurm job array, two of them failing (lr=-1), beside the same sweep on the basic
    launcher: the same results.csv and history.csv digit for digit, the same weights, the same one
    line for the failed jobs; the jobs shared their epochs through the reuse store (1 + 1 epochs
    trained, not 1 + 2); each job's Slurm log is under .submitit/; no sacct warnings."""
    sweep = ["-m", "lr=0.1,-1", "epochs=1,2", *SMALL, NO_GIF]
    basic = start_sweep([*sweep, f"hydra.sweep.dir={tmp_path / 'basic'}"], tmp_path / "basic-cwd")
    done = run_cli(*sweep, *SLURM, f"hydra.sweep.dir={tmp_path / 'slurm'}", env=slurm.env, timeout=300)
    code, _, basic_err = finish(basic)
    assert done.returncode == code == 1, done.stderr
    assert done.stderr.replace(str(tmp_path / "slurm"), "DIR") == basic_err.replace(str(tmp_path / "basic"), "DIR")
    assert re.fullmatch(r"nnexp: error: 2 of 4 jobs in DIR did not finish \(first: 2: lr=-1.0 must be greater "
                        r"than 0\); .*\n", basic_err.replace(str(tmp_path / "basic"), "DIR"))
    assert_same_sweep(tmp_path / "slurm", tmp_path / "basic")
    jobs = [result(tmp_path / "slurm" / str(job)) for job in range(4)]
    assert [job["status"] for job in jobs] == ["completed"] * 2 + ["failed"] * 2
    assert sum(job["epochs_trained"] for job in jobs[:2]) == 2
    assert len(list((tmp_path / "slurm" / ".submitit").glob("*_[0-3]/*_0_log.out"))) == 4
    console = done.stdout + done.stderr
    assert "Bypassing sacct" not in console and console.count("sacct") == 1   # one line says it does not answer


def wait_for(condition, process, what, timeout=120):
    deadline = time.monotonic() + timeout
    while not condition():
        assert process.poll() is None, f"the sweep ended before {what}: {process.communicate()}"
        assert time.monotonic() < deadline, f"no {what} within {timeout} s"
        time.sleep(0.05)


def checkpointed(job_dir):
    """True once the job has a checkpoint (it keeps its latest epoch's only)."""
    return any((job_dir / "checkpoints").glob("epoch_*.npz"))


def slurm_job_id(sweep_dir):
    """The Slurm id of the first job of a running sweep: the name of the .submitit folder with its log."""
    return next((sweep_dir / ".submitit").glob("*/*_0_log.out")).parent.name


def assert_interrupted(sweep_dir, err, signal_name, epochs):
    """Job 0 of ``sweep_dir`` kept its finished epochs and ended interrupted, and the sweep said so in
    one line (``err``); the number of epochs it kept."""
    interrupted = result(sweep_dir / "0")
    kept = interrupted["epochs_completed"]
    assert interrupted["status"] == "interrupted" and 1 <= kept < epochs
    assert CheckpointStore(sweep_dir / "0" / "checkpoints").saved_epochs()[-1] == kept
    assert err == (f"nnexp: error: 1 of 1 jobs in {sweep_dir} did not finish (first: 0: interrupted by {signal_name} "
                   f"after epoch {kept} of {epochs}; rerun the same command to continue from its checkpoint); their "
                   "logs hold the details; fix the cause and rerun the same command: finished jobs are skipped\n")
    assert pd.read_csv(sweep_dir / "results.csv")["status"].tolist() == ["interrupted"]
    return kept


def time_limit(notice_s):
    """Overrides of Slurm's smallest limit, 60 s, with submitit's notice (USR2) ``notice_s`` before it.
    Slurm looks at time limits every 30 s and sends the notice at the first look at most notice_s + 30 s
    before the limit: 30 - notice_s to 60 - notice_s after the job started (the SIGTERM of the limit
    itself would come at 60 to 90 s). A requeued job starts again 5 to 10 s after the look that sent the
    notice (cred_expire in slurm_cluster.py), so its next notice comes a minute later."""
    return ["hydra.launcher.timeout_min=1", f"hydra.launcher.signal_delay_s={notice_s}"]


TIME_LIMIT = time_limit(5)
"""No notice from Slurm within 25 s: a job the test itself sends the notice to."""
EARLY_NOTICE = time_limit(20)
"""Slurm's notice 10 to 40 s after the job started."""


def test_jobs_stopped_mid_epoch_end_interrupted_and_their_rerun_continues(slurm, tmp_path):
    """Two sweeps of one job, each stopped after a checkpoint, most likely in the middle of an epoch:
    one by ``scancel --signal=TERM`` (as Slurm stops a job), one on a time limit by Slurm's notice that
    the limit is near (USR2, sent here with scancel) without the requeue opt-in. Each job keeps its
    finished epochs and ends cleanly, recorded as interrupted, and the sweep reports it as a local one
    (one line, exit 1); the same command then continues it on Slurm from its checkpoint, and it ends
    as the basic launcher's sweep.
    Break tried: exiting the job with 143, as a local run does, leaves submitit no result, and the
    sweep waits forever."""
    epochs = 40
    sweep = ["-m", "lr=0.1", f"epochs={epochs}", *QUICK]
    basic = start_sweep([*sweep, f"hydra.sweep.dir={tmp_path / 'basic'}"], tmp_path / "basic-cwd")
    stops = {"SIGTERM": [], "SIGUSR2": TIME_LIMIT}
    sweeps = {name: ([*sweep, *SLURM, *extra, f"hydra.sweep.dir={tmp_path / name}"], tmp_path / f"{name}-cwd")
              for name, extra in stops.items()}
    running = {name: start_sweep(args, cwd, env=slurm.env) for name, (args, cwd) in sweeps.items()}
    unsent, deadline = set(running), time.monotonic() + 120
    while unsent:   # each signal as soon as its job has a checkpoint
        assert time.monotonic() < deadline, f"no checkpoint of {unsent} within 120 s"
        for name in sorted(unsent):
            if checkpointed(tmp_path / name / "0"):
                slurm.run("scancel", f"--signal={name[3:]}", slurm_job_id(tmp_path / name))
                unsent.remove(name)
            else:
                assert running[name].poll() is None, f"{name}: the sweep ended first: {running[name].communicate()}"
        time.sleep(0.02)
    kept = {}
    for name, process in running.items():
        code, _, err = finish(process)
        assert code == 1
        kept[name] = assert_interrupted(tmp_path / name, err, name, epochs)
    log = (tmp_path / "SIGUSR2" / "0" / "main.log").read_text()
    assert "not requeued: Job not requeued because: timed-out too many times" in log

    reruns = {name: start_sweep(args, cwd, env=slurm.env) for name, (args, cwd) in sweeps.items()}
    assert finish(basic)[0] == 0
    for name, process in reruns.items():
        code, _, err = finish(process)
        assert code == 0, err
        log = (tmp_path / name / "0" / "main.log").read_text()
        assert f"resuming from the checkpoint of epoch {kept[name]} of {epochs}" in log
        assert_same_sweep(tmp_path / name, tmp_path / "basic")


def test_a_sweep_whose_command_is_stopped_goes_on_and_the_same_command_collects_it(slurm, tmp_path):
    """Ctrl-C on the waiting command (or a lost login) stops the command, not the job, which goes on in
    Slurm: one line, exit 130. The same command run while the job still runs (held here with
    ``scontrol suspend``) is refused at once, since it would run the job twice; once the job has ended,
    it skips it and writes the sweep's report."""
    sweep = ["-m", "lr=0.1", "epochs=4", *SLOW, *SLURM, f"hydra.sweep.dir={tmp_path / 'slurm'}"]
    job_dir, cwd = tmp_path / "slurm" / "0", tmp_path / "cwd"
    waiting = start_sweep(sweep, cwd, env=slurm.env)
    wait_for(partial(checkpointed, job_dir), waiting, "a checkpoint")
    job = slurm_job_id(tmp_path / "slurm")
    slurm.run("scontrol", "suspend", job)
    waiting.send_signal(signal.SIGINT)
    code, _, err = finish(waiting)
    assert code == 130 and err == ("nnexp: error: interrupted (Ctrl-C); rerun the same command to continue (the jobs "
                                   "of a Slurm sweep go on: rerun it once they have ended)\n")
    refused = run_refused(*sweep, cwd=cwd, env=slurm.env)
    assert refused.returncode == 1 and refused.stderr.startswith(f"nnexp: error: {job_dir} is in use by a sweep's job")
    assert not (job_dir / "result.json").exists()
    slurm.run("scontrol", "resume", job)
    deadline = time.monotonic() + 120
    while slurm.run("squeue", "--noheader").strip() and time.monotonic() < deadline:
        time.sleep(0.2)
    collected = run_cli(*sweep, cwd=cwd, env=slurm.env)
    assert collected.returncode == 0, collected.stderr
    assert "skipped" in (job_dir / "main.log").read_text()
    assert pd.read_csv(tmp_path / "slurm" / "results.csv")["status"].tolist() == ["completed"]


def training_process(slurm, job_id):
    """The process id of the job's Python (submitit's runner, which trains), from Slurm's list of the job's
    processes (not the batch shell, nor srun, whose command line names the same module)."""
    for line in slurm.run("scontrol", "listpids", job_id).splitlines()[1:]:
        pid = line.split()[0]
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if Path(argv[0].decode()).name.startswith("python") and b"submitit.core._submit" in argv:
            return int(pid)
    return None


def process_status(pid):
    """/proc/<pid>/status as a dict, or None when the process has ended."""
    try:
        return dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
    except FileNotFoundError:
        return None


def is_stopped(status):
    return status["State"].strip().startswith("T")


def stopped(pid):
    status = process_status(pid)
    return status is None or is_stopped(status)


def notice_came(pid, signal_number):
    """True once the stopped process ``pid`` has ``signal_number`` waiting for it, or runs again, or has
    ended (Slurm sends a stopped job SIGCONT with its notice)."""
    status = process_status(pid)
    if status is None or not is_stopped(status):
        return True
    pending = int(status["SigPnd"], 16) | int(status["ShdPnd"], 16)
    return bool(pending & (1 << (signal_number - 1)))


def test_a_job_longer_than_its_time_limit_is_requeued_and_ends_as_never_stopped(slurm, tmp_path):
    """A job that runs into its time limit (one minute, Slurm's smallest), with the opt-in
    ``hydra.launcher.max_num_timeout``: stopped at Slurm's notice, it is requeued, continues from its
    checkpoint, and the sweep ends with the tables and weights of the same sweep on the basic launcher.
    Break tried: without nnexp's handler of the notice (main.stop_on_signals), submitit requeues the job
    from inside its training, and nothing records that it was interrupted.
    The job is made to outlast the notice without spending the CPU of a minute's training: once it has a
    checkpoint, its process is stopped (SIGSTOP, which Slurm does not see: its clock goes on) until Slurm's
    notice waits on it, then continued, and the notice reaches nnexp in the middle of an epoch."""
    epochs = 3
    sweep = ["-m", "lr=0.1", f"epochs={epochs}", *SLOW]
    requeued_dir, basic_dir = tmp_path / "requeued", tmp_path / "basic"
    requeued = start_sweep([*sweep, *SLURM, *EARLY_NOTICE, "hydra.launcher.max_num_timeout=5",
                            f"hydra.sweep.dir={requeued_dir}"], tmp_path / "requeued-cwd", env=slurm.env)
    basic = start_sweep([*sweep, f"hydra.sweep.dir={basic_dir}"], tmp_path / "basic-cwd")
    wait_for(partial(checkpointed, requeued_dir / "0"), requeued, "a checkpoint")
    pid = training_process(slurm, slurm_job_id(requeued_dir))
    assert pid, slurm.run("scontrol", "listpids", slurm_job_id(requeued_dir))
    os.kill(pid, signal.SIGSTOP)
    try:
        wait_for(partial(stopped, pid), requeued, "the job to stop")
        wait_for(partial(notice_came, pid, signal.SIGUSR2), requeued, "notice from Slurm", timeout=60)
    finally:
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGCONT)
    code, _, err = finish(requeued)
    assert code == 0, err
    assert finish(basic)[0] == 0
    log = (requeued_dir / "0" / "main.log").read_text()
    assert "interrupted by SIGUSR2;" in log and "Requeued job" in log   # nnexp stopped it, then submitit requeued it
    resumed = re.findall(rf"resuming from the checkpoint of epoch (\d+) of {epochs}", log)
    assert resumed and result(requeued_dir / "0")["epochs_trained"] == epochs - int(resumed[-1])
    assert_same_sweep(requeued_dir, basic_dir)


def test_a_search_on_slurm_equals_the_basic_launchers_and_fills_two_slots(slurm, tmp_path):
    """hydra/sweeper=search on the cluster: one slot gives the basic launcher's search digit for digit
    (the same trials, promotions and tables); two slots run every trial, each promotion training only
    the epochs above its rung through the reuse store."""
    search = ["-m", "hydra/sweeper=search", "lr=tag(log, interval(0.01, 1))", "model.hidden=[10],[20]", *SMALL,
              "epochs=3", "hydra.sweeper.n_trials=4", NO_GIF]
    basic = start_sweep([*search, f"hydra.sweep.dir={tmp_path / 'basic'}"], tmp_path / "basic-cwd")
    (tmp_path / "slurm-cwd").mkdir()
    done = run_cli(*search, *SLURM, "hydra.sweeper.n_jobs=1", f"hydra.sweep.dir={tmp_path / 'slurm'}",
                   env=slurm.env, cwd=tmp_path / "slurm-cwd", timeout=300)
    code, _, err = finish(basic)
    assert done.returncode == code == 0, (done.stderr, err)
    assert_same_sweep(tmp_path / "slurm", tmp_path / "basic")
    (tmp_path / "two-cwd").mkdir()
    two = run_cli(*search, *SLURM, "hydra.sweeper.n_jobs=2", f"hydra.sweep.dir={tmp_path / 'two'}",
                  env=slurm.env, cwd=tmp_path / "two-cwd", timeout=300)
    assert two.returncode == 0, two.stderr
    table = pd.read_csv(tmp_path / "two" / "search.csv")
    assert table["trial"].nunique() == 4 and set(table["state"]) <= {"complete", "pruned"}
    assert (table["epochs_trained"] == table["epochs"] - table["rung"]).all()    # rungs 1 and 3: 1 + 2
    assert (table["epochs"] == 3).any()
