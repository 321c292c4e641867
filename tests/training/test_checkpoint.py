import numpy as np
import pandas as pd
import pytest
from helpers import compose_config

from nnexp.storage import read_checked_npz, read_npz, write_checked_npz
from nnexp.training.checkpoint import CheckpointStore
from nnexp.training.job import run_job
from nnexp.training.run_files import TIMING_COLUMNS

SETTINGS = ["data.train_size=200", "model.hidden=[10]", "shuffle=true", "momentum=0.5", "batch_size=7",
            "reuse=false"]   # the job's own checkpoints, not the shared store (tests/test_reuse.py)


def test_continuing_from_a_checkpoint_equals_an_uninterrupted_run(tmp_path):
    """A mini-batch MLP with momentum and shuffling, stopped after epoch 2 (its result removed, as a
    kill before the end leaves it), continues from the checkpoint and ends bit for bit as a straight run.
    Break tried: CheckpointStore.restore returning ([], []) (a no-op) fails the epochs_trained check."""
    run_job(compose_config(SETTINGS + ["epochs=3"]), tmp_path / "straight")
    run_job(compose_config(SETTINGS + ["epochs=2"]), tmp_path / "resumed")
    (tmp_path / "resumed" / "result.json").unlink()
    result = run_job(compose_config(SETTINGS + ["epochs=3"]), tmp_path / "resumed")
    assert result["epochs_trained"] == 1                   # epochs 1-2 came from the checkpoint
    for name in ("W1", "W2"):
        np.testing.assert_array_equal(read_npz(tmp_path / "straight" / "weights.npz")[name],
                                      read_npz(tmp_path / "resumed" / "weights.npz")[name])
    straight = pd.read_csv(tmp_path / "straight" / "history.csv").drop(columns=TIMING_COLUMNS)
    resumed = pd.read_csv(tmp_path / "resumed" / "history.csv").drop(columns=TIMING_COLUMNS)
    pd.testing.assert_frame_equal(straight, resumed)
    assert CheckpointStore(tmp_path / "resumed" / "checkpoints").saved_epochs() == [3]


def test_a_corrupt_checkpoint_is_skipped_not_used(tmp_path):
    """A truncated checkpoint is reported and the job trains from the start.
    Break tried: restoring without catching the read error fails (the job raises)."""
    run_job(compose_config(SETTINGS + ["epochs=1"]), tmp_path / "run")
    path = tmp_path / "run" / "checkpoints" / "epoch_1.npz"
    path.write_bytes(path.read_bytes()[:100])
    fresh = run_job(compose_config(SETTINGS + ["epochs=1"]), tmp_path / "other")
    again = run_job(compose_config(SETTINGS + ["epochs=1"]), tmp_path / "run")
    assert again["epochs_trained"] == 1
    assert again["test_acc"] == fresh["test_acc"] and again["test_loss"] == fresh["test_loss"]


def test_the_checkpoint_is_what_the_job_continues_from(tmp_path):
    """Other weights in a checkpoint written with its checksum change the resumed result: the job really
    loads it. Break tried: a no-op restore trains epoch 1 again and ends with the straight run's numbers."""
    run_job(compose_config(SETTINGS + ["epochs=1"]), tmp_path / "run")
    (tmp_path / "run" / "result.json").unlink()
    path = tmp_path / "run" / "checkpoints" / "epoch_1.npz"
    arrays = read_checked_npz(path)
    arrays["param/W1"] = arrays["param/W1"] * 0
    write_checked_npz(path, arrays)
    straight = run_job(compose_config(SETTINGS + ["epochs=2"]), tmp_path / "straight")
    resumed = run_job(compose_config(SETTINGS + ["epochs=2"]), tmp_path / "run")
    assert resumed["epochs_trained"] == 1 and straight["epochs_trained"] == 2
    assert resumed["test_loss"] != straight["test_loss"]


@pytest.mark.parametrize("damage", ["other numbers", "truncated"])
def test_a_damaged_checkpoint_is_deleted_and_its_epochs_trained_again(tmp_path, damage, caplog):
    """A valid archive with other numbers (a bad disk, a hand edit) or a cut file: reported, deleted,
    and the job ends exactly as a fresh run. Break tried: reading checkpoints without the sha256
    check resumes from the zeroed weights and ends elsewhere."""
    run_job(compose_config(SETTINGS + ["epochs=2"]), tmp_path / "run")
    (tmp_path / "run" / "result.json").unlink()
    path = tmp_path / "run" / "checkpoints" / "epoch_2.npz"
    if damage == "truncated":
        path.write_bytes(path.read_bytes()[:200])
    else:
        arrays = read_npz(path)
        arrays["param/W1"] = arrays["param/W1"] * 0
        np.savez(path, **arrays)                      # a valid .npz: only the checksum tells
    fresh = run_job(compose_config(SETTINGS + ["epochs=3"]), tmp_path / "fresh")
    again = run_job(compose_config(SETTINGS + ["epochs=3"]), tmp_path / "run")
    assert "deleted it" in caplog.text and again["epochs_trained"] == 3
    assert (again["test_loss"], again["test_acc"]) == (fresh["test_loss"], fresh["test_acc"])


def test_a_checkpoint_of_nnexp_0_3_without_the_timing_columns_is_continued_from(tmp_path):
    """A store written before train_seconds and score_seconds (a history of 9 columns) is still used: the
    job continues from it, and the epochs it did not time show those columns empty."""
    run_job(compose_config(SETTINGS + ["epochs=1"]), tmp_path / "run")
    (tmp_path / "run" / "result.json").unlink()
    path = tmp_path / "run" / "checkpoints" / "epoch_1.npz"
    arrays = read_checked_npz(path)
    arrays["history"] = arrays["history"][:, :-2]
    write_checked_npz(path, arrays)
    resumed = run_job(compose_config(SETTINGS + ["epochs=2"]), tmp_path / "run")
    history = pd.read_csv(tmp_path / "run" / "history.csv")
    assert resumed["epochs_trained"] == 1
    assert history[["train_seconds", "score_seconds"]].isna().values.tolist() == [[True, True], [False, False]]
    arrays["history"] = arrays["history"][:, :-1]          # no version wrote 8 columns: not used
    write_checked_npz(path, arrays)
    (tmp_path / "run" / "result.json").unlink()
    assert run_job(compose_config(SETTINGS + ["epochs=1"]), tmp_path / "run")["epochs_trained"] == 1
