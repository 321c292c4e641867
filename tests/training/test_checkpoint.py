import numpy as np
import pandas as pd
from helpers import compose_config

from nnexp.storage import read_npz
from nnexp.training.checkpoint import CheckpointStore
from nnexp.training.job import run_job

SETTINGS = ["data.train_size=200", "model.hidden=[10]", "shuffle=true", "momentum=0.5", "batch_size=7",
            "reuse=false"]   # the job's own checkpoints, not the shared store (tests/test_reuse.py)


def test_continuing_from_a_checkpoint_equals_an_uninterrupted_run(tmp_path):
    run_job(compose_config(SETTINGS + ["epochs=3"]), tmp_path / "straight")
    run_job(compose_config(SETTINGS + ["epochs=2"]), tmp_path / "resumed")
    (tmp_path / "resumed" / "result.json").unlink()
    run_job(compose_config(SETTINGS + ["epochs=3"]), tmp_path / "resumed")
    for name in ("W1", "W2"):
        np.testing.assert_array_equal(read_npz(tmp_path / "straight" / "weights.npz")[name],
                                      read_npz(tmp_path / "resumed" / "weights.npz")[name])
    straight = pd.read_csv(tmp_path / "straight" / "history.csv").drop(columns="seconds")
    resumed = pd.read_csv(tmp_path / "resumed" / "history.csv").drop(columns="seconds")
    pd.testing.assert_frame_equal(straight, resumed)
    assert CheckpointStore(tmp_path / "resumed" / "checkpoints").saved_epochs() == [3]


def test_a_corrupt_checkpoint_is_skipped_not_used(tmp_path):
    run_job(compose_config(SETTINGS + ["epochs=1"]), tmp_path / "run")
    path = tmp_path / "run" / "checkpoints" / "epoch_1.npz"
    path.write_bytes(path.read_bytes()[:100])
    fresh = run_job(compose_config(SETTINGS + ["epochs=1"]), tmp_path / "other")
    again = run_job(compose_config(SETTINGS + ["epochs=1"]), tmp_path / "run")
    assert again["test_acc"] == fresh["test_acc"]
