"""Figures of one run: loss per batch and per epoch, confusion matrix, errors per label, and the
learning-rate finder's curve."""

import math

import numpy as np
from matplotlib.figure import Figure

from .style import best_index, class_names, label, mark_best, save


def loss_per_batch(batches, path):
    """Training loss over the samples seen (chunks of batches, batches.csv), epochs separated by
    dotted lines: the per-batch view the mini-batch classic plotted."""
    fig = Figure(figsize=(8, 4.5))
    ax = fig.add_subplot()
    ax.plot(batches["samples"], batches["train_loss"], color="C0", label="training loss (chunk mean)")
    ends = batches.groupby("epoch")["samples"].max().to_numpy()
    for end in ends[:-1]:
        ax.axvline(end, color="grey", linestyle=":", linewidth=1)
    ax.set_xlabel("training samples seen")
    ax.set_ylabel(label("train_loss"))
    ax.set_title(f"Training loss per batch ({len(ends)} epoch{'s' if len(ends) != 1 else ''}, "
                 "dotted: epoch ends)")
    ax.grid(True, alpha=0.3)
    ax.legend()
    return save(fig, path)


def loss_per_epoch(history, path):
    """Training and test loss after each epoch (history.csv), the lowest test loss starred."""
    fig = Figure(figsize=(7, 4.5))
    ax = fig.add_subplot()
    ax.plot(history["epoch"], history["train_loss"], marker="o", linestyle="--", label="training")
    ax.plot(history["epoch"], history["test_loss"], marker="o", label="test")
    best = best_index(history["test_loss"].to_numpy(dtype=float), "test_loss")
    mark_best(ax, history["epoch"].iloc[best], history["test_loss"].iloc[best],
              f"lowest test loss: epoch {history['epoch'].iloc[best]}")
    ax.set_xlabel(label("epoch"))
    ax.set_ylabel("loss (mean per sample)")
    ax.set_title("Loss per epoch")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.grid(True, alpha=0.3)
    ax.legend()
    return save(fig, path)


def confusion(frame, path):
    """The confusion matrix (confusion.csv: label, name, pred_0..pred_K-1) with every count written, the
    classes named on both axes."""
    counts = frame[[c for c in frame.columns if c.startswith("pred_")]].to_numpy()
    names = class_names(frame)
    long = max(map(len, names)) > 2
    fig = Figure(figsize=(7.5, 6.5) if long else (6.5, 5.5))
    ax = fig.add_subplot()
    image = ax.imshow(np.log1p(counts), cmap="Blues")
    fig.colorbar(image, ax=ax, label="log(1 + samples)")
    threshold = np.log1p(counts).max() / 2
    for (i, j), n in np.ndenumerate(counts):
        ax.text(j, i, str(n), ha="center", va="center", fontsize=7,
                color="white" if np.log1p(n) > threshold else "black")
    ax.set_xticks(range(counts.shape[1]), names, rotation=45 if long else 0, ha="right" if long else "center",
                  rotation_mode="anchor")
    ax.set_yticks(range(counts.shape[0]), names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(f"Confusion matrix on the test set (accuracy {100 * np.trace(counts) / counts.sum():.2f}%)")
    return save(fig, path)


def per_label_errors(frame, path):
    """Per label: error rate (errors / samples of that label) and share of all errors, in percent
    (per_label.csv; the share is what the two-hidden-layer classic printed), the classes named."""
    names = class_names(frame)
    long = max(map(len, names)) > 2
    fig = Figure(figsize=(8, 5) if long else (8, 4.5))
    ax = fig.add_subplot()
    x = np.arange(len(frame))
    ax.bar(x - 0.2, 100 * frame["error_rate"], width=0.4, label="error rate of the label")
    ax.bar(x + 0.2, 100 * frame["error_share"], width=0.4, label="share of all errors")
    ax.set_xticks(x, names, rotation=30 if long else 0, ha="right" if long else "center", rotation_mode="anchor")
    ax.set_xlabel("true class")
    ax.set_ylabel("percent (%)")
    ax.set_ylim(0, 1.25 * max(100 * frame["error_rate"].max(), 100 * frame["error_share"].max(), 1))
    total = frame["errors"].sum() / frame["count"].sum()
    ax.set_title(f"Test errors per label ({frame['errors'].sum()} errors, {100 * total:.2f}% of the test set)")
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend()
    return save(fig, path)


def lr_finder(frame, path, suggestion=None):
    """Loss against the learning rate of a range test (lr_find.csv: lr, loss, smoothed_loss; log x),
    the suggested learning rate marked."""
    fig = Figure(figsize=(7.5, 4.5))
    ax = fig.add_subplot()
    ax.plot(frame["lr"], frame["loss"], color="C0", alpha=0.3, linewidth=0.8, label="loss of each batch")
    ax.plot(frame["lr"], frame["smoothed_loss"], color="C0", label="smoothed loss")
    if suggestion is not None and math.isfinite(suggestion):
        ax.axvline(suggestion, color="red", linestyle="--", label=f"suggested lr = {suggestion:.3g}")
    finite = frame["smoothed_loss"][np.isfinite(frame["smoothed_loss"])]
    if len(finite):
        low, high = finite.min(), finite.iloc[: max(1, len(finite) // 10)].max()
        ax.set_ylim(low - 0.1 * (high - low), high + 0.5 * (high - low) + 1e-12)
    ax.set_xscale("log")
    ax.set_xlabel(label("lr") + ", log scale")
    ax.set_ylabel("training loss (per batch)")
    ax.set_title("Learning-rate range test: lr grows exponentially per batch")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    return save(fig, path)
