"""The training loop: epochs of mini-batch (or per-sample) SGD, scored after every epoch.

``train`` takes what training changes (a ``Learner``: the network, its optimizer and schedule), the
data, how the epochs run (a ``Recipe``: the config's training keys), the history so far, and the
job's ``EpochHooks`` (its checkpoints and reuse store, ``nnexp.training.job.EpochStores``).
"""

import logging
import math
import time
from dataclasses import dataclass
from typing import Any, Optional, Protocol

import numpy as np
from tqdm import tqdm

from ..data.augment import augmentation_rng, shift_images
from ..data.datasets import Dataset
from ..nn.kernels import per_sample_trainer
from ..nn.metrics import evaluate
from ..nn.network import Network
from ..nn.optim import Optimizer
from ..nn.schedules import Schedule
from .run_files import HISTORY_COLUMNS

log = logging.getLogger(__name__)

BATCH_LOG_POINTS = 100
"""At most this many points per epoch in the per-batch loss log (batches are averaged in chunks)."""


class Diverged(Exception):
    """The training loss became NaN or infinite during ``epoch``, at learning rate ``lr``; ``value`` is
    the first non-finite loss."""

    def __init__(self, epoch, value=float("nan"), lr=None):
        at = f" at lr {lr:g}" if lr is not None else ""
        super().__init__(f"training diverged in epoch {epoch}: the training loss is {value}{at}; "
                         "lower lr (or use a warm-up, schedule.warmup)")
        self.epoch, self.value, self.lr = epoch, value, lr


def first_non_finite(losses, train_loss):
    """The first non-finite value among the epoch's batch losses (n_batches,) and its scored training
    loss, or None when all are finite."""
    bad = losses[~np.isfinite(losses)]
    if bad.size:
        return float(bad[0])
    return None if np.isfinite(train_loss) else float(train_loss)


@dataclass
class Learner:
    """What training changes: the network, its optimizer, and the schedule that sets the optimizer's
    rate each epoch (None: the optimizer's lr throughout)."""

    network: Network
    optimizer: Optimizer
    schedule: Optional[Schedule] = None


@dataclass(frozen=True)
class Recipe:
    """How the epochs run: the config's keys of the same names (``kernel``: the per-sample kernel,
    ``augment``: ``data.augment``)."""

    epochs: int = 1
    batch_size: int = 1
    shuffle: bool = False
    seed: int = 0
    batch_mean: bool = True
    kernel: str = "auto"
    augment: int = 0

    @classmethod
    def of(cls, cfg: Any, kernel: str) -> "Recipe":
        """The recipe of a job's config, with the kernel ``auto`` resolved to."""
        return cls(cfg.epochs, cfg.batch_size, cfg.shuffle, cfg.seed, cfg.batch_mean, kernel, cfg.data.augment)


class EpochHooks(Protocol):
    """What a job does around each epoch (``nnexp.training.job.EpochStores``)."""

    def before_epoch(self, epoch: int, history: list, batch_log: list) -> bool:
        """Bring the learner and the lists to ``epoch`` or later from elsewhere; True when it did."""

    def after_epoch(self, history: list, batch_log: list) -> None:
        """Called after every epoch trained (checkpoints)."""


def epoch_rng(seed, epoch):
    """The random generator of one epoch (shuffling, dropout): depends only on (seed, epoch), so
    training can continue from a saved epoch exactly as if it had never stopped."""
    return np.random.default_rng([seed, epoch])


def epoch_order(n, shuffle, rng):
    """Order in which the n training samples are presented: a fresh permutation, or file order."""
    return rng.permutation(n) if shuffle else np.arange(n)


def train_epoch(learner: Learner, x: np.ndarray, y: np.ndarray, order: np.ndarray, recipe: Recipe,
                rng: Optional[np.random.Generator], progress: Any) -> np.ndarray:
    """One pass over ``x[order]`` in batches of ``recipe.batch_size`` (their mean or summed gradient:
    ``recipe.batch_mean``); returns the mean loss of each batch (n_batches,)."""
    batch_size = recipe.batch_size
    n_batches = math.ceil(len(order) / batch_size)
    losses = np.empty(n_batches)
    for i in range(n_batches):
        idx = order[i * batch_size:(i + 1) * batch_size]
        batch_losses = learner.network.backprop(x[idx], y[idx], mean=recipe.batch_mean, rng=rng)
        learner.optimizer.step()
        losses[i] = batch_losses[0] if len(idx) == 1 else batch_losses.mean()   # the same number, sooner
        progress.update(len(idx))
    return losses


def batch_log_rows(epoch, losses, batch_size, n_samples):
    """Per-batch losses averaged in chunks: rows (epoch, batch, samples, train_loss).

    ``batch`` is the index (from 1) of the last batch of the chunk in its epoch and ``samples``
    the number of samples trained on since the first epoch of this run.
    """
    chunk = max(1, math.ceil(len(losses) / BATCH_LOG_POINTS))
    rows = []
    for start in range(0, len(losses), chunk):
        end = min(start + chunk, len(losses))
        rows.append({"epoch": epoch, "batch": end,
                     "samples": (epoch - 1) * n_samples + min(end * batch_size, n_samples),
                     "train_loss": float(losses[start:end].mean())})
    return rows


def train(learner: Learner, data: Dataset, recipe: Recipe, history: Optional[list] = None,
          batch_log: Optional[list] = None, hooks: Optional[EpochHooks] = None) -> tuple[list, list]:
    """Train until ``recipe.epochs`` epochs are done, appending one row per epoch to ``history`` and the
    chunked batch losses to ``batch_log`` (lists; non-empty when continuing from a checkpoint,
    whose epochs are not trained again). Returns (history, batch_log).

    After every epoch the whole training and test sets are scored in one batched pass each, and
    ``hooks.after_epoch(history, batch_log)`` is called (checkpoints). Before an epoch is trained,
    ``hooks.before_epoch(epoch, history, batch_log)`` may bring the learner and the lists to that epoch or a
    later one from elsewhere (the reuse store) and return True: those epochs are then not trained here.
    Raises ``Diverged`` on a non-finite loss; the lists then hold the epochs completed before it.

    With ``recipe.augment`` > 0 (image data) epoch e trains on the training images shifted by up to
    ``augment`` pixels each (nnexp/data/augment.py, drawn from the epoch's own generator); they are
    scored unshifted.

    Epoch e trains at the rate ``schedule.rate(e, epochs)`` (nnexp/nn/schedules.py; no schedule: the
    optimizer's lr throughout), recorded in the history's ``epoch_lr``.

    At batch size 1 the epochs run on the per-sample fast path (``nnexp.nn.kernels``) chosen by
    ``recipe.kernel`` (auto | numba | numpy | reference), wherever it covers the model and optimizer.
    """
    model, optimizer, schedule = learner.network, learner.optimizer, learner.schedule
    epochs, seed, augment = recipe.epochs, recipe.seed, recipe.augment
    history = [] if history is None else history
    batch_log = [] if batch_log is None else batch_log
    n = len(data.x_train)
    fast = per_sample_trainer(model, optimizer, data.x_train, recipe.kernel) if recipe.batch_size == 1 else None
    for epoch in range(len(history) + 1, epochs + 1):
        if len(history) >= epoch or (hooks is not None and hooks.before_epoch(epoch, history, batch_log)):
            continue
        started = time.perf_counter()
        if schedule is not None:
            optimizer.lr = schedule.rate(epoch, epochs)
        rng = epoch_rng(seed, epoch)
        order = epoch_order(n, recipe.shuffle, rng)
        with np.errstate(over="ignore", invalid="ignore"), \
                tqdm(total=n, desc=f"epoch {epoch}/{epochs}", unit="sample", disable=None, leave=False) as bar:
            x = data.x_train if not augment else shift_images(data.x_train, data.image_shape, augment, data.blank,
                                                              augmentation_rng(seed, epoch))
            trained = time.perf_counter()
            if fast is not None:
                losses = fast.epoch(x, data.y_train, order, bar)
            else:
                losses = train_epoch(learner, x, data.y_train, order, recipe, rng, bar)
            scored = time.perf_counter()
            train_loss, train_acc = evaluate(model, data.x_train, data.y_train, data.labels_train, data.task)
            val_loss, val_acc = (evaluate(model, data.x_val, data.y_val, data.labels_val, data.task)
                                 if data.x_val is not None else (float("nan"), float("nan")))
            test_loss, test_acc = evaluate(model, data.x_test, data.y_test, data.labels_test, data.task)
            done = time.perf_counter()
        value = first_non_finite(losses, train_loss)
        if value is not None:
            raise Diverged(epoch, value, optimizer.lr)
        row = dict(zip(HISTORY_COLUMNS, (epoch, optimizer.lr, train_loss, train_acc, val_loss, val_acc, test_loss,
                                         test_acc, time.perf_counter() - started, scored - trained, done - scored)))
        history.append(row)
        batch_log.extend(batch_log_rows(epoch, losses, recipe.batch_size, n))
        log.info("epoch %d/%d  train loss %.4f acc %.4f  val loss %.4f acc %.4f  test loss %.4f acc %.4f  (%.1f s)",
                 epoch, epochs, train_loss, train_acc, val_loss, val_acc, test_loss, test_acc, row["seconds"])
        if hooks is not None:
            hooks.after_epoch(history, batch_log)
    return history, batch_log
