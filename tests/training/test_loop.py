"""The training loop (nnexp/training/loop.py) on a network of a few weights and a dozen samples: the
batches it trains, the history and batch log it writes, the hooks around each epoch, divergence."""

import logging
import math
import time
import warnings

import numpy as np
import pytest

from nnexp.data.augment import augmentation_rng, shift_images
from nnexp.data.datasets import Dataset
from nnexp.nn.build import build_network, mlp
from nnexp.nn.metrics import evaluate
from nnexp.nn.optim import SGD
from nnexp.nn.schedules import make_schedule
from nnexp.training import loop
from nnexp.training.loop import (
    Diverged,
    Learner,
    Recipe,
    batch_log_rows,
    first_non_finite,
    train,
    train_epoch,
)
from nnexp.training.run_files import HISTORY_COLUMNS


def dataset(n=12, validation=True, image=False):
    """n samples of 4 inputs (a 2x2 image if ``image``) in 3 classes, float64; 6 test and 6 validation samples."""
    rng = np.random.default_rng(5)
    x, labels = rng.random((n + 12, 4)), np.arange(n + 12) % 3
    y = np.eye(3)[labels]
    parts = {"x_val": x[n + 6:], "y_val": y[n + 6:], "labels_val": labels[n + 6:]} if validation else {}
    return Dataset("tiny", "classification", x[:n], y[:n], x[n:n + 6], y[n:n + 6], labels[:n], labels[n:n + 6],
                   image_shape=(1, 2, 2) if image else None, blank=0.25, **parts)


def learner(lr=0.5, schedule=None, **settings):
    settings = {"output_activation": "softmax", "loss": "cross_entropy", **settings}
    network = mlp([4, 3, 3], dtype=np.float64, rng=np.random.default_rng(0), **settings)
    return Learner(network, SGD(network.parameters, lr), schedule)


class Progress:
    def __init__(self):
        self.updates = []

    def update(self, n):
        self.updates.append(n)


def test_diverged_says_where_and_what_to_do():
    err = Diverged(3, float("inf"), 1e-05)
    assert str(err) == ("training diverged in epoch 3: the training loss is inf at lr 1e-05; "
                        "lower lr (or use a warm-up, schedule.warmup)")
    assert (err.epoch, err.value, err.lr) == (3, float("inf"), 1e-05)
    err = Diverged(2)
    assert str(err) == ("training diverged in epoch 2: the training loss is nan; "
                        "lower lr (or use a warm-up, schedule.warmup)")
    assert math.isnan(err.value) and err.lr is None


def test_the_first_non_finite_loss_is_the_first_bad_batch_else_the_scored_loss():
    assert first_non_finite(np.array([1.0, np.inf, np.nan]), np.nan) == np.inf
    assert math.isnan(first_non_finite(np.array([1.0, np.nan, np.inf]), 0.5))
    assert first_non_finite(np.array([1.0, 2.0]), -np.inf) == -np.inf
    assert first_non_finite(np.array([1.0, 2.0]), 0.5) is None
    assert type(first_non_finite(np.array([np.float32(np.inf)]), 0.5)) is float


def test_the_batch_log_averages_chunks_of_batches_and_counts_samples_since_the_first_epoch():
    # 250 batches of 4 of 998 samples (the last batch has 2): chunks of 3 batches, 84 rows
    rows = batch_log_rows(2, np.arange(250.0), 4, 998)
    assert len(rows) == 84
    assert rows[0] == {"epoch": 2, "batch": 3, "samples": 998 + 12, "train_loss": 1.0}
    assert rows[-2] == {"epoch": 2, "batch": 249, "samples": 998 + 996, "train_loss": 247.0}
    assert rows[-1] == {"epoch": 2, "batch": 250, "samples": 998 + 998, "train_loss": 249.0}
    assert type(rows[0]["train_loss"]) is float
    assert [row["batch"] for row in batch_log_rows(1, np.arange(3.0), 1, 3)] == [1, 2, 3]   # under 100: each batch
    assert len(batch_log_rows(1, np.arange(100.0), 1, 100)) == 100
    assert len(batch_log_rows(1, np.arange(101.0), 1, 101)) == 51
    assert batch_log_rows(1, np.empty(0), 1, 0) == []


def test_an_epoch_trains_the_batches_of_the_order_and_returns_their_mean_losses():
    data, lrn = dataset(), learner()
    network, seen = lrn.network, []
    backprop = network.backprop

    def spy(x, y, mean, rng):
        seen.append((x.copy(), mean, rng))
        return backprop(x, y, mean=mean, rng=rng)

    network.backprop = spy
    order, rng, progress = np.array([4, 0, 7, 1, 2, 9, 3]), np.random.default_rng(1), Progress()
    before = learner()                    # the same weights, untrained
    losses = train_epoch(lrn, data.x_train, data.y_train, order, Recipe(batch_size=3), rng, progress)
    assert progress.updates == [3, 3, 1]
    for (x, mean, batch_rng), batch in zip(seen, (order[:3], order[3:6], order[6:])):
        np.testing.assert_array_equal(x, data.x_train[batch])
        assert mean is True and batch_rng is rng
    # the losses of the weights before each batch: replayed on the same network, one batch at a time
    for loss, batch in zip(losses, (order[:3], order[3:6], order[6:])):
        assert loss == before.network.backprop(data.x_train[batch], data.y_train[batch]).mean()
        before.optimizer.step()
    for name, parameter in lrn.network.parameters.items():
        np.testing.assert_array_equal(parameter.value, before.network.parameters[name].value)


def test_a_batch_of_two_reports_the_mean_of_its_two_losses():
    data, lrn = dataset(), learner(lr=0.0)
    losses = train_epoch(lrn, data.x_train, data.y_train, np.arange(4), Recipe(batch_size=2), None, Progress())
    per_sample = lrn.network.backprop(data.x_train[:4], data.y_train[:4])
    assert losses.tolist() == [per_sample[:2].mean(), per_sample[2:].mean()] and len(set(per_sample)) == 4


def test_summed_gradients_step_as_the_mean_at_batch_size_times_the_rate():
    data, summed, mean = dataset(), learner(lr=0.1), learner(lr=0.3)
    order = np.arange(6)
    train_epoch(summed, data.x_train, data.y_train, order, Recipe(batch_size=3, batch_mean=False), None, Progress())
    train_epoch(mean, data.x_train, data.y_train, order, Recipe(batch_size=3), None, Progress())
    for name, parameter in summed.network.parameters.items():
        np.testing.assert_allclose(parameter.value, mean.network.parameters[name].value, rtol=1e-12)
        assert not np.allclose(parameter.value, learner().network.parameters[name].value)


def test_each_epoch_is_scored_on_every_set_and_recorded_in_history_and_the_log(caplog):
    caplog.set_level(logging.INFO, logger="nnexp.training.loop")
    data, lrn = dataset(), learner()
    started = time.perf_counter()
    history, batch_log = train(lrn, data, Recipe(epochs=2, batch_size=5, shuffle=True, seed=3))
    elapsed = time.perf_counter() - started
    assert [list(row) for row in history] == [HISTORY_COLUMNS] * 2
    assert [row["epoch"] for row in history] == [1, 2] and [row["epoch_lr"] for row in history] == [0.5, 0.5]
    last = history[-1]
    scores = [evaluate(lrn.network, x, y, labels, "classification") for x, y, labels in (
        (data.x_train, data.y_train, data.labels_train), (data.x_val, data.y_val, data.labels_val),
        (data.x_test, data.y_test, data.labels_test))]
    assert [last[key] for key in HISTORY_COLUMNS[2:8]] == [value for pair in scores for value in pair]
    assert len({last["train_loss"], last["val_loss"], last["test_loss"]}) == 3
    assert min(last["train_acc"], last["val_acc"], last["test_acc"]) > 0          # labels are used
    for row in history:
        assert 0 < row["train_seconds"] and 0 < row["score_seconds"]
        assert row["train_seconds"] + row["score_seconds"] <= row["seconds"] <= elapsed
    # 3 batches of 5, 5 and 2 each epoch, one row each: samples counted over both epochs
    assert [(row["epoch"], row["batch"], row["samples"]) for row in batch_log] == [
        (1, 1, 5), (1, 2, 10), (1, 3, 12), (2, 1, 17), (2, 2, 22), (2, 3, 24)]
    messages = [r.getMessage() for r in caplog.records if r.name == "nnexp.training.loop"]
    assert messages[-1] == (f"epoch 2/2  train loss {scores[0][0]:.4f} acc {scores[0][1]:.4f}  val loss "
                            f"{scores[1][0]:.4f} acc {scores[1][1]:.4f}  test loss {scores[2][0]:.4f} acc "
                            f"{scores[2][1]:.4f}  ({last['seconds']:.1f} s)")
    assert messages[0].startswith("epoch 1/2  train loss ")


def test_without_a_validation_split_its_scores_are_nan():
    history, _ = train(learner(), dataset(validation=False), Recipe(batch_size=4))
    assert math.isnan(history[0]["val_loss"]) and math.isnan(history[0]["val_acc"])
    assert not math.isnan(history[0]["test_loss"])


def test_the_schedule_sets_each_epochs_rate():
    schedule = make_schedule({"name": "step", "step_size": 1, "gamma": 0.5}, 0.4)
    lrn = learner(lr=0.4, schedule=schedule)
    history, _ = train(lrn, dataset(), Recipe(epochs=3, batch_size=6))
    assert [row["epoch_lr"] for row in history] == [0.4, 0.2, 0.1] and lrn.optimizer.lr == 0.1
    history, _ = train(learner(lr=0.4, schedule=make_schedule({"name": "cosine"}, 0.4)), dataset(),
                       Recipe(epochs=3, batch_size=6))
    assert [row["epoch_lr"] for row in history] == pytest.approx([0.4, 0.2, 0.0])   # over the run's 3 epochs


class Hooks:
    """``rows`` (epochs 1-2) come from elsewhere (as from a reuse store) when epoch 1 is asked for."""

    def __init__(self, rows):
        self.rows, self.asked, self.after = rows, [], []

    def before_epoch(self, epoch, history, batch_log):
        self.asked.append(epoch)
        if epoch == 1 and self.rows:
            history.extend(self.rows)
            batch_log.append({"epoch": 2})
            return True
        return False

    def after_epoch(self, history, batch_log):
        self.after.append(len(history))


def test_epochs_a_hook_brought_are_not_trained_and_each_trained_one_is_handed_to_the_hook():
    rows = [dict.fromkeys(HISTORY_COLUMNS, 0.0) | {"epoch": e} for e in (1, 2)]
    hooks = Hooks(rows)
    history, batch_log = train(learner(), dataset(), Recipe(epochs=4, batch_size=6), hooks=hooks)
    assert hooks.asked == [1, 3, 4] and hooks.after == [3, 4]
    assert [row["epoch"] for row in history] == [1, 2, 3, 4] and history[:2] == rows
    assert [row["epoch"] for row in batch_log] == [2, 3, 3, 4, 4]
    # continuing a history of 2 epochs: only epoch 3 is asked for and trained
    hooks = Hooks([])
    history, batch_log = train(learner(), dataset(), Recipe(epochs=3, batch_size=6), [*rows], [], hooks=hooks)
    assert hooks.asked == [3] and hooks.after == [3] and [row["epoch"] for row in history] == [1, 2, 3]
    assert [row["epoch"] for row in batch_log] == [3, 3]


def test_augmented_epochs_train_on_shifted_images_and_are_scored_on_the_originals():
    data = dataset(image=True)
    augmented = learner()
    history, _ = train(augmented, data, Recipe(epochs=1, batch_size=5, seed=7, augment=1))
    shifted = learner()
    x = shift_images(data.x_train, (1, 2, 2), 1, 0.25, augmentation_rng(7, 1))
    assert not np.array_equal(x, data.x_train) and (x == 0.25).any()
    train_epoch(shifted, x, data.y_train, np.arange(12), Recipe(batch_size=5), None, Progress())
    for name, parameter in augmented.network.parameters.items():
        np.testing.assert_array_equal(parameter.value, shifted.network.parameters[name].value)
    assert history[0]["train_loss"] == evaluate(augmented.network, data.x_train, data.y_train, None,
                                                "classification")[0]


@pytest.mark.parametrize("kernel, reference", [("numpy", False), ("reference", True)])
def test_batch_size_one_trains_on_the_per_sample_kernel_asked_for(kernel, reference):
    lrn, calls = learner(), []
    backprop = lrn.network.backprop
    lrn.network.backprop = lambda *args, **kwargs: calls.append(1) or backprop(*args, **kwargs)
    history, _ = train(lrn, dataset(), Recipe(epochs=1, batch_size=1, kernel=kernel))
    assert (len(calls) == 12) is reference and (calls == []) is not reference and len(history) == 1


def test_a_non_finite_loss_stops_training_with_the_epoch_its_value_and_rate():
    """Epoch 1 ends finite, epoch 2 overflows: the lists keep epoch 1 alone."""
    lrn, hooks = learner(lr=10, activation="identity", output_activation="identity", loss="mse"), Hooks([])
    with pytest.raises(Diverged) as stopped, warnings.catch_warnings():
        warnings.simplefilter("error")                # the one line is Diverged's: no NumPy overflow warnings
        train(lrn, dataset(), Recipe(epochs=3, batch_size=4), history := [], batch_log := [], hooks=hooks)
    assert (stopped.value.epoch, stopped.value.lr, stopped.value.value) == (2, 10, np.inf)
    assert [row["epoch"] for row in history] == [1] and {row["epoch"] for row in batch_log} == {1}
    assert hooks.after == [1]


def test_a_loss_turned_invalid_stops_training_without_numpys_warnings():
    lrn = learner(lr=1e300, activation="identity", output_activation="identity", loss="mse")
    with pytest.raises(Diverged) as stopped, warnings.catch_warnings():
        warnings.simplefilter("error")                # inf - inf inside the epoch: NumPy would say "invalid value"
        train(lrn, dataset(), Recipe(epochs=1, batch_size=4))
    assert stopped.value.epoch == 1


class Bar:
    """tqdm's stand-in: its arguments and the samples counted."""

    made = []

    def __init__(self, **kwargs):
        self.kwargs, self.counted = kwargs, 0
        Bar.made.append(self)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def update(self, n):
        self.counted += n


@pytest.mark.parametrize("batch_size", [1, 5])
def test_each_epoch_has_a_progress_bar_of_its_samples_on_a_terminal_only(monkeypatch, batch_size):
    monkeypatch.setattr(loop, "tqdm", Bar)
    monkeypatch.setattr(Bar, "made", [])
    train(learner(), dataset(), Recipe(epochs=2, batch_size=batch_size, kernel="numpy"))
    assert [bar.kwargs for bar in Bar.made] == [
        {"total": 12, "desc": f"epoch {e}/2", "unit": "sample", "disable": None, "leave": False} for e in (1, 2)]
    assert [bar.counted for bar in Bar.made] == [12, 12]


def test_dropout_trains_on_the_epochs_own_generator():
    layers = [{"type": "dense", "units": 5}, {"type": "activation", "name": "relu"}, {"type": "dropout", "rate": 0.5},
              {"type": "dense", "units": None}]
    model = {"name": "cnn", "layers": layers, "output_activation": "softmax", "loss": "cross_entropy", "bias": True,
             "init": "he", "uniform_limit": 0.5}

    def trained(seed):
        network = build_network(model, (4,), 3, dtype=np.float64, rng=np.random.default_rng(0))
        train(Learner(network, SGD(network.parameters, 0.5)), dataset(), Recipe(epochs=1, batch_size=4, seed=seed))
        return network.parameters["W1"].value

    np.testing.assert_array_equal(trained(1), trained(1))
    assert not np.array_equal(trained(1), trained(2))          # the masks follow the seed
