"""Optimizers and schedules inside a job: resume and reuse bit for bit, the rate of every epoch in
history.csv, cosine giving up prefix reuse, the per-sample fallback, and a sweep over optimizers."""

import numpy as np
import pandas as pd
import pytest
from helpers import TINY, compose_config, run_cli

from nnexp.storage import read_npz
from nnexp.training.job import run_job
from nnexp.training.run_files import TIMING_COLUMNS

ADAM = [*TINY, "optimizer=adam", "lr=0.003", "batch_size=16", "shuffle=true", "threads=1"]


def same_run(a, b):
    for name, array in read_npz(a / "weights.npz").items():
        np.testing.assert_array_equal(array, read_npz(b / "weights.npz")[name])
    pd.testing.assert_frame_equal(pd.read_csv(a / "history.csv").drop(columns=TIMING_COLUMNS),
                                  pd.read_csv(b / "history.csv").drop(columns=TIMING_COLUMNS))


def test_adam_resumes_from_its_checkpoint_bit_for_bit(tmp_path):
    """Adam's moments and step count are in the checkpoint. Break tried: a checkpoint without
    step_count restarts the bias correction, and the resumed weights differ."""
    run_job(compose_config(ADAM + ["epochs=3", "reuse=false"]), tmp_path / "straight")
    run_job(compose_config(ADAM + ["epochs=2", "reuse=false"]), tmp_path / "resumed")
    (tmp_path / "resumed" / "result.json").unlink()
    resumed = run_job(compose_config(ADAM + ["epochs=3", "reuse=false"]), tmp_path / "resumed")
    assert resumed["epochs_trained"] == 1
    same_run(tmp_path / "straight", tmp_path / "resumed")


def test_a_step_schedule_is_reused_and_recorded(tmp_path):
    settings = [*TINY, "schedule=step", "schedule.gamma=0.5", "schedule.step_size=2", "schedule.warmup=1"]
    run_job(compose_config(settings + ["epochs=4", "reuse=false"]), tmp_path / "fresh")
    run_job(compose_config(settings + ["epochs=2"]), tmp_path / "two")
    four = run_job(compose_config(settings + ["epochs=4"]), tmp_path / "four")
    assert four["epochs_trained"] == 2                               # epochs 1-2 from the store
    same_run(tmp_path / "fresh", tmp_path / "four")
    # warm-up epoch 1 at lr 0.1 / 1, then the step schedule over epochs 2.. as its own 1..: 0.1, 0.1, 0.05
    assert pd.read_csv(tmp_path / "four" / "history.csv")["epoch_lr"].tolist() == \
        pytest.approx([0.1, 0.1, 0.1, 0.05])


def test_cosine_gives_up_prefix_reuse(tmp_path, caplog):
    caplog.set_level("INFO")
    settings = [*TINY, "schedule=cosine"]
    run_job(compose_config(settings + ["epochs=3"]), tmp_path / "three")
    assert "epoch reuse off: schedule=cosine depends on the number of epochs" in caplog.messages
    assert not (tmp_path / "outputs" / "reuse").exists()
    rates = pd.read_csv(tmp_path / "three" / "history.csv")["epoch_lr"].tolist()
    assert rates == pytest.approx([0.1, 0.05, 0.0])


def test_per_sample_adam_falls_back_to_the_reference_path_on_the_numpy_kernel_and_says_so(tmp_path, caplog):
    caplog.set_level("INFO")
    run_job(compose_config([*TINY, "optimizer=adam", "lr=0.001", "reuse=false", "kernel=numpy"]), tmp_path)
    assert "per-sample fast path not used (kernel=numpy runs sgd, not adam)" in caplog.text


def test_a_sweep_over_optimizers_has_them_in_results(tmp_path):
    done = run_cli("-m", *TINY, "optimizer=sgd,adam", "epochs=1", "hydra.callbacks.report.gif_frames=0",
                   f"hydra.sweep.dir={tmp_path}")
    assert done.returncode == 0, done.stderr
    results = pd.read_csv(tmp_path / "results.csv")
    assert results["optimizer"].tolist() == ["sgd", "adam"] and (results["status"] == "completed").all()
