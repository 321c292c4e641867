"""Scores of a trained network: loss, accuracy, confusion matrix and per-label errors."""

import numpy as np
import pandas as pd


def accuracy(outputs, targets, labels, task):
    """Share of samples answered right, or NaN for regression.

    classification  argmax of the outputs equals the label
    multilabel      every output, rounded at 0.5, equals its 0/1 target
    """
    if task == "classification":
        return float(np.mean(outputs.argmax(axis=1) == labels))
    if task == "multilabel":
        return float(np.mean(((outputs > 0.5) == (targets > 0.5)).all(axis=1)))
    return float("nan")


def evaluate(model, x, y, labels, task):
    """Mean loss and accuracy of ``model`` on one data split, in one batched pass."""
    outputs = model.predict(x)
    return float(np.mean(model.loss.fn(outputs, y))), accuracy(outputs, y, labels, task)


def confusion_matrix(labels, predicted, n_classes):
    """counts[i, j] = number of samples of true label i predicted as j: (n_classes, n_classes)."""
    counts = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(counts, (labels, predicted), 1)
    return counts


def confusion_frame(counts):
    """The confusion matrix as a table: one row per true label, one column per predicted label."""
    frame = pd.DataFrame(counts, columns=[f"pred_{j}" for j in range(len(counts))])
    frame.insert(0, "label", np.arange(len(counts)))
    return frame


def per_label_frame(counts):
    """For each label: count, errors, error_rate (errors / count) and error_share (errors / all errors).

    error_share is the "percentage of all errors" the two-hidden-layer classic printed.
    """
    count = counts.sum(axis=1)
    errors = count - np.diag(counts)
    total = errors.sum()
    return pd.DataFrame({
        "label": np.arange(len(counts)),
        "count": count,
        "errors": errors,
        "error_rate": np.divide(errors, count, out=np.full(len(count), np.nan), where=count > 0),
        "error_share": errors / total if total else np.zeros(len(count)),
    })
