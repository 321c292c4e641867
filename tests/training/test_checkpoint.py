import numpy as np
import pandas as pd
import pytest
from helpers import compose_config, epoch_rows, small_learner

from nnexp.errors import WeightsError
from nnexp.nn.build import mlp
from nnexp.nn.optim import SGD
from nnexp.storage import read_checked_npz, read_npz, write_checked_npz
from nnexp.training.checkpoint import CheckpointStore, history_table
from nnexp.training.job import run_job
from nnexp.training.run_files import BATCH_COLUMNS, HISTORY_COLUMNS, TIMING_COLUMNS

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


# --- the store itself, on a network of a few weights (no training) ---------------------------------


def test_a_checkpoint_holds_the_parameters_optimizer_state_tables_and_identity(tmp_path):
    network, optimizer = small_learner()
    optimizer.velocity[0][...] = 7.0
    history, batches = epoch_rows(2)
    CheckpointStore(tmp_path, identity="abc").save(network, optimizer, history, batches)
    arrays = read_checked_npz(tmp_path / "epoch_2.npz")
    assert set(arrays) == {"param/W1", "optim/velocity_W1", "history", "batches", "identity"}
    np.testing.assert_array_equal(arrays["param/W1"], network.parameters["W1"].value)
    assert (arrays["optim/velocity_W1"] == 7).all()
    assert arrays["history"].dtype == np.float64 and arrays["history"].tolist() == \
        [[row[c] for c in HISTORY_COLUMNS] for row in history]
    assert arrays["batches"].tolist() == [[1, 1, 5, 1.1], [1, 2, 6, 1.2], [2, 1, 9, 2.1], [2, 2, 10, 2.2]]
    assert arrays["identity"].dtype == np.uint8 and arrays["identity"].tobytes() == b"abc"
    CheckpointStore(tmp_path / "none").save(network, optimizer, history, [])
    arrays = read_checked_npz(tmp_path / "none" / "epoch_2.npz")
    assert "identity" not in arrays and arrays["batches"].shape == (0, len(BATCH_COLUMNS))


def test_restore_loads_the_latest_usable_epoch_in_range_with_its_tables(tmp_path, caplog):
    network, optimizer = small_learner(seed=1)
    store = CheckpointStore(tmp_path, keep_all=True, identity="me")
    for epoch in (1, 2, 3):
        network.parameters["W1"].value[...] = epoch
        optimizer.velocity[0][...] = -epoch
        store.save(network, optimizer, *epoch_rows(epoch))
    assert store.saved_epochs() == [1, 2, 3]
    other, other_optimizer = small_learner(seed=2)
    history, batches = store.restore(other, other_optimizer, max_epoch=2)
    assert (history, batches) == epoch_rows(2) and (other.parameters["W1"].value == 2).all()
    assert (other_optimizer.velocity[0] == -2).all()
    assert [type(history[0][c]) for c in ("epoch", "epoch_lr")] == [int, float]
    assert [type(batches[0][c]) for c in BATCH_COLUMNS] == [int, int, int, float]
    assert store.restore(other, other_optimizer, max_epoch=3, min_epoch=4) == ([], [])
    assert store.restore(other, other_optimizer, max_epoch=3, min_epoch=3) == epoch_rows(3)
    # another configuration's epoch 3 and an incomplete epoch 2 are skipped, epoch 1 is used
    CheckpointStore(tmp_path, keep_all=True, identity="another").save(*small_learner(), *epoch_rows(3))
    arrays = read_checked_npz(tmp_path / "epoch_2.npz")
    write_checked_npz(tmp_path / "epoch_2.npz", {k: v for k, v in arrays.items() if k != "batches"})
    assert store.restore(other, other_optimizer, max_epoch=3) == epoch_rows(1)
    assert (other.parameters["W1"].value == 1).all() and (other_optimizer.velocity[0] == -1).all()
    assert [r.getMessage() for r in caplog.records] == [
        f"ignoring unusable checkpoint: {tmp_path / 'epoch_3.npz'} was written by another configuration",
        f"ignoring unusable checkpoint: {tmp_path / 'epoch_2.npz'} is incomplete "
        "(history, batch log or optimizer state)"]
    assert store.saved_epochs() == [1, 2, 3]                          # skipped, not deleted


@pytest.mark.parametrize("damage", ["no history", "a short history", "no optimizer state", "no identity"])
def test_an_incomplete_checkpoint_is_not_used(tmp_path, damage, caplog):
    network, optimizer = small_learner()
    store = CheckpointStore(tmp_path, identity="me")
    store.save(network, optimizer, *epoch_rows(2))
    arrays = read_checked_npz(tmp_path / "epoch_2.npz")
    if damage == "a short history":
        arrays["history"] = arrays["history"][:1]
    else:
        del arrays[{"no history": "history", "no optimizer state": "optim/velocity_W1",
                    "no identity": "identity"}[damage]]
    write_checked_npz(tmp_path / "epoch_2.npz", arrays)
    assert store.restore(*small_learner(), max_epoch=2) == ([], [])
    reason = "was written by another configuration" if damage == "no identity" else "is incomplete"
    assert reason in caplog.text
    assert CheckpointStore(tmp_path).restore(*small_learner(momentum=0), max_epoch=2) == (
        ([], []) if damage in ("no history", "a short history") else epoch_rows(2))   # no identity or velocity asked


def test_a_history_of_another_width_is_refused_with_the_file_named(tmp_path):
    network, optimizer = small_learner()
    CheckpointStore(tmp_path).save(network, optimizer, *epoch_rows(1))
    arrays = read_checked_npz(tmp_path / "epoch_1.npz")
    table = arrays["history"]
    assert history_table({"history": table[:, :9]}, "p")[:, :9].tolist() == table[:, :9].tolist()
    assert np.isnan(history_table({"history": table[:, :9]}, "p")[:, 9:]).all()
    assert history_table({}, "p").shape == (0, len(HISTORY_COLUMNS))
    for bad in (table[:, :8], table[0], np.hstack([table, table])):
        with pytest.raises(WeightsError, match=r"^p holds a history of another nnexp version$"):
            history_table({"history": bad}, "p")


def test_only_the_latest_checkpoint_is_kept_unless_all_are_and_other_files_are_not_epochs(tmp_path):
    network, optimizer = small_learner()
    assert CheckpointStore(tmp_path / "absent").saved_epochs() == []
    for name in ("epoch_7.npz.tmp", "epoch_x.npz", "epoch_8.lock", "old_epoch_9.npz", "epoch_10.npz"):
        (tmp_path / name).write_bytes(b"")
    store = CheckpointStore(tmp_path)
    assert store.path(3) == tmp_path / "epoch_3.npz" and store.saved_epochs() == [10]
    store.save(network, optimizer, *epoch_rows(2))
    assert store.saved_epochs() == [2] and (tmp_path / "epoch_7.npz.tmp").exists()
    kept = CheckpointStore(tmp_path, keep_all=True)
    kept.save(network, optimizer, *epoch_rows(1))
    kept.save(network, optimizer, *epoch_rows(10))
    assert kept.saved_epochs() == [1, 2, 10]


def test_a_corrupt_checkpoint_is_deleted_and_the_error_says_so(tmp_path):
    store = CheckpointStore(tmp_path)
    store.save(*small_learner(), *epoch_rows(1))
    store.path(1).write_bytes(store.path(1).read_bytes()[:-20])
    with pytest.raises(WeightsError) as err:
        store.read(1)
    assert str(err.value) == (f"weights file {store.path(1)} is not a readable .npz without pickle: File is not a zip "
                              "file; deleted it, the epoch will be trained again")
    assert not store.path(1).exists()


def test_a_checkpoint_that_does_not_fit_the_network_is_named_and_skipped(tmp_path, caplog):
    store = CheckpointStore(tmp_path)
    store.save(*small_learner(), *epoch_rows(1))
    wider = mlp([3, 4], dtype=np.float64)
    assert store.restore(wider, SGD(wider.parameters, 0.1, momentum=0.5), max_epoch=1) == ([], [])
    assert caplog.messages == [f"ignoring unusable checkpoint: {store.path(1)} does not fit the configured network: "
                               "wrong shape W1 (2, 3) (expected (4, 3))"]


def test_a_checkpoint_gone_before_it_is_read_or_removed_is_no_error(tmp_path, monkeypatch):
    """Two runs of one directory (a job started twice): the other one removed the file first."""
    store = CheckpointStore(tmp_path)
    with pytest.raises(WeightsError, match="epoch_4.npz does not exist; deleted it, the epoch will be trained again"):
        store.read(4)
    monkeypatch.setattr(store, "saved_epochs", lambda: [1, 2])            # epoch_1.npz listed, gone since
    store.save(*small_learner(), *epoch_rows(2))
    assert (tmp_path / "epoch_2.npz").is_file()


def test_a_checkpoint_with_a_history_of_another_version_is_named_in_the_log(tmp_path, caplog):
    store = CheckpointStore(tmp_path)
    store.save(*small_learner(), *epoch_rows(1))
    arrays = read_checked_npz(store.path(1))
    arrays["history"] = arrays["history"][:, :8]
    write_checked_npz(store.path(1), arrays)
    assert store.restore(*small_learner(), max_epoch=1) == ([], [])
    assert caplog.messages == [
        f"ignoring unusable checkpoint: {store.path(1)} holds a history of another nnexp version"]
