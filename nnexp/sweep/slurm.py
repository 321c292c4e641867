"""Sweeps on Slurm (``hydra/launcher=slurm``: hydra-submitit-launcher, which runs each job through submitit).

In a job. Slurm stops a job with SIGTERM (at its time limit, on ``scancel``, on preemption), and submitit
asks Slurm for one more signal, USR2 (``SUBMITIT_PREEMPT_SIGNAL``), ``hydra.launcher.signal_delay_s``
seconds before the time limit (``sbatch --signal``). submitit's handler of that signal pickles the job
again and requeues it (``scontrol requeue``) while ``hydra.launcher.max_num_timeout`` allows, and
otherwise raises. ``nnexp.main`` makes both signals stop the training as Ctrl-C does (the finished epochs
are checkpointed, result.json says ``interrupted``); then ``pass_on`` gives submitit's signal to
submitit's handler: a requeued job starts again and continues from its checkpoint.

In the sweep's own process. submitit asks ``sacct`` for the states of the jobs it waits for (after 2, 4,
8, ... seconds, then every 10 minutes). On a cluster without job accounting (no slurmdbd) sacct can only
fail: each call printed sacct's message and submitit's warning, twice. submitit then goes by the result
file each job writes when it ends, which is all it can do there; ``watch_result_files`` makes it do so
without asking sacct, and says so once.
"""

import logging
import os
import signal
import subprocess

log = logging.getLogger(__name__)

SUBMITIT_LAUNCHER = "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher"


def submitit_signal():
    """The signal submitit handles in this process (USR2 unless ``SUBMITIT_PREEMPT_SIGNAL`` says
    otherwise) when it is a job that submitit runs, else None."""
    if "SUBMITIT_EXECUTOR" not in os.environ:
        return None
    from submitit import JobEnvironment

    return signal.Signals[f"SIG{JobEnvironment.USR_SIG}"]


def pass_on(signum, handler):
    """Give ``signum``, which stopped the training, to ``handler`` (submitit's, which the run's own had
    replaced): submitit requeues the job and ends the process (SystemExit), or says why it will not.
    Returns that reason, or None when ``handler`` is not a function (nothing to pass on to)."""
    if not callable(handler):
        return None
    try:
        handler(signum, None)
    except Exception as err:  # noqa: BLE001 - submitit raises UncompletedJobError("Job not requeued because: ...")
        return " ".join(str(err).split())
    return "the launcher did not requeue it"


def keeps_accounting():
    """(whether ``sacct`` answers on this cluster, what it said on stderr, or else stdout, in one line)."""
    try:
        probe = subprocess.run(["sacct", "--noheader", "--jobs=1"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError) as err:
        return False, str(err)
    return probe.returncode == 0, " ".join((probe.stderr or probe.stdout).split())


def watch_result_files(launcher_target):
    """Before a Slurm sweep is submitted: on a cluster where sacct does not answer, make submitit wait
    for the jobs' result files without asking sacct (one warning instead of a wall of them).
    Returns True when it did."""
    if launcher_target != SUBMITIT_LAUNCHER:
        return False
    answers, said = keeps_accounting()
    if answers:
        return False
    from submitit.slurm.slurm import SlurmInfoWatcher, SlurmJob

    class ResultFileWatcher(SlurmInfoWatcher):
        """submitit's job watcher without its sacct calls: every job state stays unknown, and a job is
        done when its result file is there (as submitit decides when sacct fails)."""

        def _make_command(self):
            return None

    SlurmJob.watcher = ResultFileWatcher()   # submitit's one watcher, shared by every Slurm job of this process
    log.warning("sacct does not answer on this cluster (%s): the sweep waits for each job's result file. A job "
                "killed before it writes one (SIGKILL, out of memory, a lost node) leaves the sweep waiting: see "
                "README, \"Sweeps on Slurm\"", said)
    return True
