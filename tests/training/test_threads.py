"""BLAS threads per run (nnexp/training/threads.py): what ``threads: auto`` chooses, and the limit around
the training."""

import os

import numpy as np
from helpers import compose_config
from hydra.types import RunMode
from omegaconf import open_dict
from threadpoolctl import threadpool_info

from nnexp.training.threads import available_cores, blas_thread_count, blas_threads, in_parallel_sweep


def test_jobs_of_the_launchers_that_run_several_at_once_here_are_parallel():
    """Fails when a preset's launcher class is not recognised (submitit_local's is LocalLauncher); a single
    run (not a sweep) on a parallel launcher, or a config without a launcher, is not parallel."""
    for launcher, parallel in [("parallel", True), ("submitit_local", True), ("basic", False), ("slurm", False)]:
        hydra = compose_config([f"hydra/launcher={launcher}"], return_hydra_config=True).hydra
        with open_dict(hydra):
            hydra.mode = RunMode.MULTIRUN
        assert in_parallel_sweep(hydra) is parallel, launcher
        with open_dict(hydra):
            hydra.mode = RunMode.RUN
        assert in_parallel_sweep(hydra) is False, launcher
        with open_dict(hydra):
            hydra.mode = RunMode.MULTIRUN
            hydra.launcher = None
        assert in_parallel_sweep(hydra) is False, launcher


def test_blas_threads_auto():
    assert blas_thread_count("auto", batch_size=1, parallel_sweep=False) == 1
    assert blas_thread_count("auto", batch_size=64, parallel_sweep=True) == 1
    assert blas_thread_count("auto", batch_size=2, parallel_sweep=False) == available_cores()
    assert blas_thread_count(3, batch_size=1, parallel_sweep=False) == 3
    assert blas_thread_count("5", batch_size=64, parallel_sweep=True) == 5


def test_available_cores_are_the_affinity_else_the_cpu_count_else_one(monkeypatch):
    assert available_cores() == len(os.sched_getaffinity(0))
    monkeypatch.delattr(os, "sched_getaffinity")                        # not on Linux
    monkeypatch.setattr(os, "cpu_count", lambda: 7)
    assert available_cores() == 7
    monkeypatch.setattr(os, "cpu_count", lambda: None)
    assert available_cores() == 1


def blas_counts():
    return [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]


def test_blas_threads_limits_every_blas_inside_the_block_and_yields_the_count():
    assert np.dot(np.ones(2), np.ones(2)) == 2 and blas_counts()       # NumPy's BLAS is loaded
    before = blas_counts()
    with blas_threads(1) as count:
        assert count == 1 and blas_counts() == [1] * len(before)
    assert blas_counts() == before
