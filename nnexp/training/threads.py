"""BLAS threads per run (config key ``threads``), set with threadpoolctl around the training.

``threads: auto`` chooses::

    1          per-sample training (batch_size=1): each step is a handful of small BLAS calls,
               and waking other threads for them costs more than it saves;
    1          every job of a parallel sweep (joblib or local submitit launcher): the jobs already
               keep every core busy, and more threads than cores only fight for them;
    all cores  a single mini-batch run (or a job of a sequential sweep, or of a Slurm array,
               where "all" is the cores the scheduler gave the job).

A whole number sets the count directly.
"""

import os
from contextlib import contextmanager

from threadpoolctl import threadpool_info, threadpool_limits

PARALLEL_LAUNCHERS = ("hydra_plugins.hydra_joblib_launcher.joblib_launcher.JoblibLauncher",
                      "hydra_plugins.hydra_submitit_launcher.submitit_launcher.LocalLauncher")
"""Hydra launchers (by ``_target_``) that run several jobs at once on this machine: joblib's
(hydra/launcher=parallel) and submitit_local."""


def available_cores():
    """Cores this process may run on (the scheduler's allocation under Slurm)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def blas_thread_count(setting, batch_size, parallel_sweep):
    """The number of BLAS threads for a run: ``setting`` is "auto" or a whole number."""
    if setting != "auto":
        return int(setting)
    if batch_size == 1 or parallel_sweep:
        return 1
    return available_cores()


def in_parallel_sweep(hydra_config):
    """True when ``hydra_config`` (HydraConfig.get()) is a job of a sweep run by a parallel launcher."""
    target = str(hydra_config.launcher.get("_target_", "")) if hydra_config.get("launcher") else ""
    return hydra_config.mode.name == "MULTIRUN" and target in PARALLEL_LAUNCHERS


@contextmanager
def blas_threads(count):
    """Limit every loaded BLAS library to ``count`` threads inside the block; yields the largest
    thread count a loaded BLAS reports inside it (what result.json records)."""
    with threadpool_limits(limits=count, user_api="blas"):
        yield max((lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"), default=None)
