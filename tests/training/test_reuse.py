"""Epoch-prefix reuse (nnexp/reuse.py): a reused result equals a fresh one, bit for bit."""

import logging
import os
import subprocess
import sys
import threading

import numpy as np
import pandas as pd
import pytest
from helpers import ROOT, compose_config, epoch_rows, small_learner

from nnexp.nn.kernels import resolve_kernel
from nnexp.storage import WriteError, read_checked_npz, read_npz, try_lock
from nnexp.training.job import run_job
from nnexp.training.reuse import SharedEpochs, reuse_key, shared_epochs
from nnexp.training.run_files import TIMING_COLUMNS

SETTINGS = ["data.train_size=300", "model.hidden=[12]", "shuffle=true", "momentum=0.5", "lr=0.2"]


def weights(run_dir):
    return read_npz(run_dir / "weights.npz")


def assert_same_run(a, b, compare_seconds=False):
    for name, array in weights(a).items():
        np.testing.assert_array_equal(array, weights(b)[name])
    for table in ("history.csv", "batches.csv"):
        left, right = pd.read_csv(a / table), pd.read_csv(b / table)
        if not compare_seconds and "seconds" in left:
            left, right = left.drop(columns=TIMING_COLUMNS), right.drop(columns=TIMING_COLUMNS)
        pd.testing.assert_frame_equal(left, right)


def test_reused_epochs_equal_a_fresh_run(tmp_path):
    run_job(compose_config(SETTINGS + ["epochs=3", "reuse=false"]), tmp_path / "fresh")
    assert not (tmp_path / "outputs" / "reuse").exists()              # the switch is off
    run_job(compose_config(SETTINGS + ["epochs=1"]), tmp_path / "one")
    run_job(compose_config(SETTINGS + ["epochs=3"]), tmp_path / "three")   # continues from epoch 1
    run_job(compose_config(SETTINGS + ["epochs=2"]), tmp_path / "two")     # trains nothing
    assert_same_run(tmp_path / "fresh", tmp_path / "three")
    fresh_two = tmp_path / "fresh_two"
    run_job(compose_config(SETTINGS + ["epochs=2", "reuse=false"]), fresh_two)
    assert_same_run(fresh_two, tmp_path / "two")
    # the seconds of an epoch say which job trained it: epoch 1 was trained once, by "one"
    seconds = {name: pd.read_csv(tmp_path / name / "history.csv")["seconds"].tolist() for name in
               ("one", "two", "three")}
    assert seconds["three"][0] == seconds["one"][0] == seconds["two"][0]
    assert seconds["two"] == seconds["three"][:2]
    assert len(pd.read_csv(tmp_path / "three" / "history.csv")) == 3   # full history in the run dir
    (store,) = (tmp_path / "outputs" / "reuse").iterdir()
    assert sorted(p.name for p in store.glob("*.npz")) == ["epoch_1.npz", "epoch_2.npz", "epoch_3.npz"]


def test_the_key_ignores_epochs_and_what_does_not_change_the_arithmetic():
    kernel = resolve_kernel("auto", 300)
    base = reuse_key(compose_config(SETTINGS + ["epochs=1"]), kernel, 1)
    assert reuse_key(compose_config(SETTINGS + ["epochs=7", "threads=1", "reuse_dir=/elsewhere"]), kernel, 1) == base
    for change in ("lr=0.3", "seed=1", "model.hidden=[13]", "dtype=float64", "data.train_size=301"):
        assert reuse_key(compose_config(SETTINGS + [change]), kernel, 1) != base, change
    assert reuse_key(compose_config(SETTINGS), "reference", 1) != reuse_key(compose_config(SETTINGS), "numpy", 1)
    # OpenBLAS's sums depend on its thread count: no sharing between runs on 1 and on 2 threads
    assert reuse_key(compose_config(SETTINGS), kernel, 2) != base


def test_jobs_in_parallel_processes_train_each_epoch_once(tmp_path):
    """Two processes asking for 3 and 4 epochs of one configuration at the same time."""
    command = [sys.executable, "-m", "nnexp", *SETTINGS, "data.train_size=1500"]
    # OPENBLAS_* (e.g. OPENBLAS_CORETYPE) choose OpenBLAS's kernels, and so its rounding: pass them on
    env = {**{k: v for k, v in os.environ.items() if k.startswith("OPENBLAS")},
           "PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    jobs = [subprocess.Popen(command + [f"epochs={e}", f"hydra.run.dir={tmp_path / str(e)}"], cwd=tmp_path,
                             env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for e in (3, 4)]
    for job in jobs:
        assert job.wait(timeout=300) == 0, job.stdout.read()
    run_job(compose_config(SETTINGS + ["data.train_size=1500", "epochs=4", "reuse=false"]), tmp_path / "fresh")
    assert_same_run(tmp_path / "fresh", tmp_path / "4")
    three, four = (pd.read_csv(tmp_path / e / "history.csv") for e in ("3", "4"))
    pd.testing.assert_frame_equal(three, four.iloc[:3])   # seconds too: each epoch trained by one job
    (store,) = (tmp_path / "outputs" / "reuse").iterdir()
    assert sorted(p.name for p in store.glob("*.npz")) == [f"epoch_{e}.npz" for e in range(1, 5)]


def test_reused_epochs_of_a_cnn_with_dropout_equal_a_fresh_run(tmp_path):
    """Mini-batch CNN with dropout, momentum and shuffling: epochs taken from the store, then trained on,
    end bit for bit as a fresh run. Break tried: dropout masks drawn from one rng for the whole run
    (not keyed by the epoch) makes the continued run differ."""
    layers = ("model.layers=[{type:conv,filters:3,kernel:3,pad:1},{type:activation,name:relu},"
              "{type:pool,mode:max,size:2},{type:flatten},{type:dense,units:12},{type:activation,name:relu},"
              "{type:dropout,rate:0.5},{type:dense,units:null}]")
    cnn = ["model=cnn", layers, "data.train_size=200", "batch_size=16", "threads=1"]
    run_job(compose_config(cnn + ["epochs=3", "reuse=false"]), tmp_path / "fresh")
    run_job(compose_config(cnn + ["epochs=1"]), tmp_path / "one")
    three = run_job(compose_config(cnn + ["epochs=3"]), tmp_path / "three")
    assert three["epochs_trained"] == 2                    # epoch 1 came from the store
    assert_same_run(tmp_path / "fresh", tmp_path / "three")


def test_a_damaged_store_entry_is_deleted_and_recomputed(tmp_path, caplog):
    """The demonstration of the integrity issue: epoch 2 of the store replaced by a valid archive with
    other numbers, epoch 3 deleted; the next job must not use epoch 2 (it is deleted, the job continues
    from epoch 1) and ends as a fresh run. Break tried: the store read without its sha256 check takes
    epochs 1-2 from the damaged file and ends at another accuracy."""
    settings = SETTINGS + ["epochs=3"]
    run_job(compose_config(settings), tmp_path / "first")
    (store,) = (tmp_path / "outputs" / "reuse").iterdir()
    arrays = read_npz(store / "epoch_2.npz")
    arrays["param/W1"] = arrays["param/W1"][::-1].copy()
    np.savez(store / "epoch_2.npz", **arrays)
    (store / "epoch_3.npz").unlink()
    second = run_job(compose_config(settings), tmp_path / "second")
    assert "is corrupt" in caplog.text and "deleted it" in caplog.text
    assert second["epochs_trained"] == 2                          # epoch 1 from the store, 2 and 3 trained
    assert_same_run(tmp_path / "first", tmp_path / "second")
    caplog.clear()
    run_job(compose_config(settings), tmp_path / "third")          # the store is whole again: no warning
    assert "corrupt" not in caplog.text


# --- the shared store of one configuration, on a network of a few weights (no training) ----------


def lockable(path):
    """Whether the lock of ``path`` is free (flock is per open file: a holder in this process counts)."""
    with open(path) as file:
        return try_lock(file)


def test_a_stored_epoch_is_loaded_without_a_lock_and_into_the_callers_lists(tmp_path, caplog):
    caplog.set_level("INFO", logger="nnexp.training.reuse")
    network, optimizer = small_learner()
    network.parameters["W1"].value[...] = 2.0
    SharedEpochs(tmp_path).save(network, optimizer, *epoch_rows(2))
    other, other_optimizer = small_learner(seed=1)
    history, batch_log = [], []
    assert SharedEpochs(tmp_path).load(other, other_optimizer, 1, 3, history, batch_log) is True
    assert (history, batch_log) == epoch_rows(2) and (other.parameters["W1"].value == 2).all()
    assert not list(tmp_path.glob("*.lock"))
    assert caplog.messages == [f"epochs 1-2 taken from the reuse store {tmp_path}"]
    assert SharedEpochs(tmp_path).restore(other, other_optimizer, 3, 4, history, batch_log) is False


def test_a_job_trains_an_epoch_under_its_lock_and_stores_it_once(tmp_path):
    network, optimizer = small_learner()
    store = tmp_path / "outputs" / "reuse" / "key"                         # made with its parents
    shared = SharedEpochs(store)
    assert shared.load(network, optimizer, 1, 2, [], []) is False          # nothing stored: train it
    assert shared.lock[0] == 1 and not lockable(store / "epoch_1.lock")
    shared.save(network, optimizer, *epoch_rows(1))
    assert shared.lock is None and lockable(store / "epoch_1.lock")        # released
    stored = read_checked_npz(store / "epoch_1.npz")
    network.parameters["W1"].value[...] = 5.0                               # another job's epoch 1: not stored
    SharedEpochs(store).save(network, optimizer, *epoch_rows(1))
    np.testing.assert_array_equal(read_checked_npz(store / "epoch_1.npz")["param/W1"], stored["param/W1"])
    assert shared.load(network, optimizer, 2, 2, [], []) is False
    shared.release()
    assert shared.lock is None and lockable(store / "epoch_2.lock")
    shared.release()                                                        # nothing held: nothing to do
    shared.save(network, optimizer, *epoch_rows(2))
    assert shared.store.saved_epochs() == [1, 2]                            # the store keeps every epoch


def test_a_job_waits_for_the_epoch_another_is_training_and_then_loads_it(tmp_path, caplog):
    """The lock of an epoch in this process (flock: per open file) stands for the other job's."""
    caplog.set_level("INFO", logger="nnexp.training.reuse")
    waiting = threading.Event()
    handler = logging.Handler()
    handler.emit = lambda record: record.getMessage().startswith("waiting for epoch") and waiting.set()
    logging.getLogger("nnexp.training.reuse").addHandler(handler)
    try:
        network, optimizer = small_learner()
        training = SharedEpochs(tmp_path)
        assert training.load(network, optimizer, 1, 3, [], []) is False
        other, other_optimizer = small_learner(seed=1)
        history, loaded = [], []
        waiter = threading.Thread(target=lambda: loaded.append(
            SharedEpochs(tmp_path).load(other, other_optimizer, 1, 3, history, [])), daemon=True)
        waiter.start()
        assert waiting.wait(timeout=10)
        training.save(network, optimizer, *epoch_rows(1))
        waiter.join(timeout=10)
    finally:
        logging.getLogger("nnexp.training.reuse").removeHandler(handler)
        training.release()
    assert loaded == [True] and history == epoch_rows(1)[0]
    np.testing.assert_array_equal(other.parameters["W1"].value, network.parameters["W1"].value)
    assert f"waiting for epoch 1: another job is training it ({tmp_path})" in caplog.messages
    assert lockable(tmp_path / "epoch_1.lock")                     # the waiter let go of the lock


def test_an_unwritable_reuse_dir_says_what_to_do(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(WriteError) as err:
        SharedEpochs(tmp_path / "file" / "store").load(*small_learner(), 1, 1, [], [])
    assert str(err.value) == (f"cannot write {tmp_path / 'file' / 'store' / 'epoch_1.lock'}: Not a directory; "
                              "set reuse_dir to a writable directory, or reuse=false")


def test_the_store_of_a_config_is_under_reuse_dir_from_where_the_command_started(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = compose_config(SETTINGS + ["reuse_dir=stores"])
    shared = shared_epochs(cfg, "numpy", 1, None)
    assert shared.directory == tmp_path / "stores" / reuse_key(cfg, "numpy", 1)
    assert shared_epochs(compose_config(SETTINGS + ["reuse=false"]), "numpy", 1, None) is None
