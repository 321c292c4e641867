"""The files of a run directory: their names, their columns, and the tables written into them.

Every file is written atomically (``nnexp.storage``); result.json lists the sha256 of each of
``RUN_FILES`` that the run wrote, and a file of that list left by an earlier run is removed.
"""

import numpy as np
import pandas as pd

from ..nn.metrics import confusion_matrix
from ..storage import write_csv

TIMING_COLUMNS = ["seconds", "train_seconds", "score_seconds"]
"""history.csv's wall-clock seconds of an epoch: all of it, training alone, and scoring the training,
validation and test sets after it (``seconds`` also holds the rest: the learning rate, logging)."""
HISTORY_COLUMNS = ["epoch", "epoch_lr", "train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc",
                   *TIMING_COLUMNS]
"""history.csv: one row per epoch: its learning rate ``epoch_lr`` (the schedule's), then the scores on the whole
training, validation (empty without a split) and test sets after the epoch, then its TIMING_COLUMNS."""
EARLIER_HISTORY_COLUMNS = HISTORY_COLUMNS[:9]
"""The columns of a history that nnexp 0.3 wrote (up to ``seconds``): checkpoints and reuse stores of that
version hold tables of this width, read with the later timing columns empty (NaN)."""
BATCH_COLUMNS = ["epoch", "batch", "samples", "train_loss"]
"""batches.csv: the training loss during each epoch, in at most BATCH_LOG_POINTS chunks."""
INTEGER_COLUMNS = {"epoch", "batch", "samples"}

CNN_FIGURES = {"filters.png": "First-layer filters", "feature_maps.png": "Feature maps of one test image"}
"""Figures a network with convolutions draws into its run directory (they need the trained network)."""

RUN_FILES = {
    "history.csv": "one row per epoch: " + ", ".join(HISTORY_COLUMNS),
    "batches.csv": "the training loss during each epoch: " + ", ".join(BATCH_COLUMNS),
    "weights.npz": "the trained parameters, W1, b1, W2, ... (nnexp.nn.network), allow_pickle=False",
    "per_label.csv": "classification: label, name, count, errors, error_rate, error_share",
    "confusion.csv": "classification: label, name, pred_0 .. pred_K-1",
    **{name: f"{title} (a network with convolutions)" for name, title in CNN_FIGURES.items()},
}
"""Files of a run directory that result.json lists (those this run wrote); others are removed.
(Besides: result.json itself, checkpoints/, main.log and Hydra's .hydra/.)"""


def history_frame(history):
    return pd.DataFrame(history, columns=HISTORY_COLUMNS)


def batch_frame(batch_log):
    return pd.DataFrame(batch_log, columns=BATCH_COLUMNS)


def selection_set(frame):
    """"validation" when the run has a validation split, else "test": the set a best epoch (and a
    sweep's best configuration) is chosen on."""
    return "validation" if "val_loss" in frame and frame["val_loss"].notna().any() else "test"


def summarize(history, status, seconds):
    """Final and best metrics of a history. The best epoch has the highest accuracy (the lowest loss
    for regression) on the validation set when there is one, else on the test set (as the classics
    chose, optimistically); ``selected_on`` says which. best_test_* are the test figures of that epoch."""
    result = {"status": status, "epochs_completed": len(history), "seconds": seconds}
    if not history:
        return result
    frame = history_frame(history)
    final = frame.iloc[-1]
    result.update({key: float(final[key]) for key in ("train_loss", "train_acc", "val_loss", "val_acc",
                                                      "test_loss", "test_acc")})
    chosen_on = selection_set(frame)
    prefix = "val" if chosen_on == "validation" else "test"
    if frame[f"{prefix}_acc"].notna().any():
        best = frame.loc[frame[f"{prefix}_acc"].idxmax()]
    else:
        best = frame.loc[frame[f"{prefix}_loss"].idxmin()]
    result.update({"best_test_acc": float(best["test_acc"]), "best_test_loss": float(best["test_loss"]),
                   "best_val_acc": float(best["val_acc"]), "best_val_loss": float(best["val_loss"]),
                   "best_epoch": int(best["epoch"]), "selected_on": chosen_on})
    return result


def confusion_frame(counts, names):
    """The confusion matrix as a table: one row per true label (with its class name), one column per
    predicted label."""
    frame = pd.DataFrame(counts, columns=[f"pred_{j}" for j in range(len(counts))])
    frame.insert(0, "label", np.arange(len(counts)))
    frame.insert(1, "name", list(names))
    return frame


def per_label_frame(counts, names):
    """For each label and its class name: count, errors, error_rate (errors / count) and error_share
    (errors / all errors).

    error_share is the "percentage of all errors" the two-hidden-layer classic printed.
    """
    count = counts.sum(axis=1)
    errors = count - np.diag(counts)
    total = errors.sum()
    return pd.DataFrame({
        "label": np.arange(len(counts)),
        "name": list(names),
        "count": count,
        "errors": errors,
        "error_rate": np.divide(errors, count, out=np.full(len(count), np.nan), where=count > 0),
        "error_share": errors / total if total else np.zeros(len(count)),
    })


def write_scores(run_dir, network, data):
    """confusion.csv and per_label.csv of the final network on the test set."""
    predicted = network.predict(data.x_test).argmax(axis=1)
    counts = confusion_matrix(data.labels_test, predicted, data.n_outputs)
    return [write_csv(run_dir / "confusion.csv", confusion_frame(counts, data.class_names)),
            write_csv(run_dir / "per_label.csv", per_label_frame(counts, data.class_names))]
