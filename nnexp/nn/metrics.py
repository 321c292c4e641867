"""Scores of a trained network: loss, accuracy, confusion matrix and per-label errors."""

import numpy as np


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
    z = model.logits(x)
    outputs = model.output.fn(z)
    return float(np.mean(model.loss.fn(z, outputs, y))), accuracy(outputs, y, labels, task)


def confusion_matrix(labels, predicted, n_classes):
    """counts[i, j] = number of samples of true label i predicted as j: (n_classes, n_classes)."""
    counts = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(counts, (labels, predicted), 1)
    return counts
