"""Sweeps on the launcher presets (conf/hydra/launcher/): same results as a sequential sweep."""

import itertools
import json

import numpy as np
import pytest
from helpers import compose_config, run_cli
from omegaconf import OmegaConf

from nnexp.storage import read_npz
from nnexp.training.job import run_job
from nnexp.training.threads import available_cores

SMALL = ["model.hidden=[10]", "data.train_size=300"]
SWEEP = ["-m", "lr=0.1,0.3", "epochs=1,2", *SMALL, "hydra.callbacks.report.gif_frames=0"]


def results(sweep_dir):
    """{(lr, epochs): (result.json, weights)} of every job of a sweep."""
    found = {}
    for job in sorted(p for p in sweep_dir.iterdir() if p.name.isdigit()):
        result = json.loads((job / "result.json").read_text())
        overrides = dict(o.split("=", 1) for o in OmegaConf.load(job / ".hydra" / "overrides.yaml"))
        found[overrides["lr"], overrides["epochs"]] = (result, read_npz(job / "weights.npz"))
    return found


@pytest.fixture(scope="module")
def sequential(tmp_path_factory):
    """The sweep's jobs one after the other in this process, as the basic launcher runs them."""
    found = {}
    for lr, epochs in itertools.product(("0.1", "0.3"), ("1", "2")):
        run_dir = tmp_path_factory.mktemp("job")
        result = run_job(compose_config([f"lr={lr}", f"epochs={epochs}", *SMALL, "reuse=false"]), run_dir)
        found[lr, epochs] = (result, read_npz(run_dir / "weights.npz"))
    return found


def assert_same_results(found, expected):
    assert found.keys() <= expected.keys() and len(found) >= 2
    for overrides, (result, weights) in ((k, expected[k]) for k in found):
        assert found[overrides][0]["status"] == result["status"] == "completed"
        assert found[overrides][0]["test_acc"] == result["test_acc"]
        for name in weights:
            np.testing.assert_array_equal(found[overrides][1][name], weights[name])


def test_parallel_sweep_equals_sequential_sweep(sequential, tmp_path):
    done = run_cli(*SWEEP, "hydra/launcher=parallel", "hydra.launcher.n_jobs=2", f"hydra.sweep.dir={tmp_path / 's'}")
    assert done.returncode == 0, done.stderr
    found = results(tmp_path / "s")
    assert len(found) == 4
    assert_same_results(found, sequential)
    assert {result["blas_threads"] for result, _ in found.values()} == {1}
    assert sum(result["epochs_trained"] for result, _ in found.values()) == 4   # 2 + 2, not 1 + 2 + 1 + 2
    logs = [path.read_text() for path in (tmp_path / "s").glob("*/main.log")]
    assert len(logs) == 4 and not any("waiting for epoch" in log for log in logs)   # ordered: no job waited


def test_submitit_local_sweep_equals_sequential_sweep(sequential, tmp_path):
    """The path a Slurm sweep takes (hydra-submitit-launcher), run locally."""
    done = run_cli("-m", "lr=0.1,0.3", "epochs=2", *SMALL, "hydra/launcher=submitit_local",
                   f"hydra.sweep.dir={tmp_path / 's'}",
                   timeout=600)
    assert done.returncode == 0, done.stderr
    found = results(tmp_path / "s")
    assert len(found) == 2   # lr=0.1,0.3 at epochs=2
    assert_same_results(found, sequential)


def test_slurm_preset_composes_to_the_submitit_slurm_launcher():
    cfg = compose_config(["hydra/launcher=slurm", "hydra.launcher.partition=cpu"], return_hydra_config=True)
    launcher = cfg.hydra.launcher
    assert launcher._target_.endswith("SlurmLauncher")
    assert launcher.partition == "cpu" and launcher.cpus_per_task == 1 and launcher.timeout_min == 60


def test_parallel_preset_is_one_job_per_core():
    cfg = compose_config(["hydra/launcher=parallel"], return_hydra_config=True)
    assert cfg.hydra.launcher._target_.endswith("JoblibLauncher") and cfg.hydra.launcher.n_jobs == -1


def test_single_runs_record_the_blas_threads_they_had(tmp_path):
    per_sample = run_job(compose_config([*SMALL, "batch_size=1"]), tmp_path / "one")
    mini_batch = run_job(compose_config([*SMALL, "batch_size=32"]), tmp_path / "many")
    two = run_job(compose_config([*SMALL, "batch_size=32", "threads=2"]), tmp_path / "two")
    assert per_sample["blas_threads"] == 1 and mini_batch["blas_threads"] == available_cores()
    assert two["blas_threads"] == 2
