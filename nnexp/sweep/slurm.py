"""Sweeps on Slurm (``hydra/launcher=slurm``: hydra-submitit-launcher, which runs each job through submitit),
in the sweep's own process; what a job does with Slurm's signals is in ``nnexp.training.signals``.

submitit asks ``sacct`` for the states of the jobs it waits for (after 2, 4,
8, ... seconds, then every 10 minutes). On a cluster without job accounting (no slurmdbd) sacct can only
fail: each call printed sacct's message and submitit's warning, twice. submitit then goes by the result
file each job writes when it ends, which is all it can do there; ``watch_result_files`` makes it do so
without asking sacct, and says so once.
"""

import logging
import subprocess

log = logging.getLogger(__name__)

SUBMITIT_LAUNCHER = "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher"


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
