"""The tables of a run directory (nnexp/training/run_files.py): result.json's final and best metrics, the
confusion matrix and the errors per label, written from numbers chosen by hand."""

import math
import warnings
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from nnexp.training.run_files import (
    BATCH_COLUMNS,
    HISTORY_COLUMNS,
    RUN_FILES,
    batch_frame,
    confusion_frame,
    history_frame,
    per_label_frame,
    selection_set,
    summarize,
    write_scores,
)

NAN = float("nan")


def history(val_acc, test_acc, val_loss=None, test_loss=None):
    n = len(test_acc)
    return [dict(zip(HISTORY_COLUMNS, (e + 1, 0.1, 1.0 - e / 10, 0.5 + e / 10, (val_loss or [NAN] * n)[e], val_acc[e],
                                       (test_loss or [2.0 + e for e in range(n)])[e], test_acc[e], 1.0, 0.5, 0.25)))
            for e in range(n)]


def test_the_best_epoch_is_chosen_on_validation_when_there_is_one():
    rows = history(val_acc=[0.5, 0.9, 0.7], test_acc=[0.8, 0.6, 0.95], val_loss=[3.0, 1.0, 2.0])
    result = summarize(rows, "completed", 12.5)
    assert result == {"status": "completed", "epochs_completed": 3, "seconds": 12.5,
                      "train_loss": 0.8, "train_acc": 0.7, "val_loss": 2.0, "val_acc": 0.7, "test_loss": 4.0,
                      "test_acc": 0.95, "best_test_acc": 0.6, "best_test_loss": 3.0, "best_val_acc": 0.9,
                      "best_val_loss": 1.0, "best_epoch": 2, "selected_on": "validation"}
    assert type(result["best_epoch"]) is int and type(result["test_acc"]) is float


def test_without_validation_the_best_epoch_is_chosen_on_test_and_a_regression_on_its_loss():
    result = summarize(history(val_acc=[NAN] * 3, test_acc=[0.8, 0.9, 0.85]), "diverged", 1.0)
    assert (result["best_epoch"], result["best_test_acc"], result["selected_on"], result["status"]) == \
        (2, 0.9, "test", "diverged")
    assert math.isnan(result["best_val_acc"]) and math.isnan(result["val_loss"])
    regression = summarize(history(val_acc=[NAN] * 3, test_acc=[NAN] * 3, test_loss=[0.3, 0.1, 0.2]), "completed", 1)
    assert (regression["best_epoch"], regression["best_test_loss"]) == (2, 0.1)
    rows = history(val_acc=[NAN] * 3, test_acc=[NAN] * 3, val_loss=[0.5, 0.6, 0.4], test_loss=[0.1, 0.2, 0.3])
    assert summarize(rows, "completed", 1)["best_epoch"] == 3                  # the lowest validation loss
    assert summarize([], "interrupted", 2.0) == {"status": "interrupted", "epochs_completed": 0, "seconds": 2.0}


def test_the_selection_set_is_validation_only_when_it_has_a_score():
    assert selection_set(pd.DataFrame({"val_loss": [NAN, 0.5]})) == "validation"
    assert selection_set(pd.DataFrame({"val_loss": [NAN, NAN]})) == "test"
    assert selection_set(pd.DataFrame({"test_loss": [0.5]})) == "test"


def test_history_and_batch_tables_have_the_documented_columns():
    assert list(history_frame([]).columns) == HISTORY_COLUMNS == [
        "epoch", "epoch_lr", "train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc", "seconds",
        "train_seconds", "score_seconds"]
    assert list(batch_frame([{"train_loss": 1.0, "epoch": 1, "batch": 2, "samples": 3}]).columns) == BATCH_COLUMNS
    assert BATCH_COLUMNS == ["epoch", "batch", "samples", "train_loss"]
    assert set(RUN_FILES) == {"history.csv", "batches.csv", "weights.npz", "per_label.csv", "confusion.csv",
                              "filters.png", "feature_maps.png"}


COUNTS = np.array([[5, 1, 0], [2, 2, 0], [0, 0, 0]])
"""True label by row: 6 of label 0 (1 wrong), 4 of label 1 (2 wrong), none of label 2."""


def test_the_confusion_table_has_a_row_per_true_label_and_a_column_per_prediction():
    frame = confusion_frame(COUNTS, ("zero", "one", "two"))
    assert list(frame.columns) == ["label", "name", "pred_0", "pred_1", "pred_2"]
    assert frame.values.tolist() == [[0, "zero", 5, 1, 0], [1, "one", 2, 2, 0], [2, "two", 0, 0, 0]]


def test_errors_per_label_have_their_rate_and_share_of_all_errors():
    with warnings.catch_warnings():
        warnings.simplefilter("error")                  # a label never seen: its rate is empty, not 0/0
        frame = per_label_frame(COUNTS, ("zero", "one", "two"))
    assert list(frame.columns) == ["label", "name", "count", "errors", "error_rate", "error_share"]
    assert frame[["label", "name", "count", "errors"]].values.tolist() == [[0, "zero", 6, 1], [1, "one", 4, 2],
                                                                         [2, "two", 0, 0]]
    assert frame["error_rate"].tolist()[:2] == pytest.approx([1 / 6, 0.5]) and math.isnan(frame["error_rate"][2])
    assert frame["error_share"].tolist() == pytest.approx([1 / 3, 2 / 3, 0])
    assert per_label_frame(np.array([[1, 0], [1, 0]]), ("a", "b"))["error_rate"].tolist() == [0.0, 1.0]
    perfect = per_label_frame(np.diag([3, 4]), ("a", "b"))
    assert perfect["error_share"].tolist() == [0, 0] and perfect["error_rate"].tolist() == [0, 0]


def test_the_scores_are_of_the_final_network_on_the_test_set(tmp_path):
    outputs = np.array([[0.9, 0.1, 0.0], [0.2, 0.7, 0.1], [0.6, 0.3, 0.1], [0.1, 0.1, 0.8]])
    network = SimpleNamespace(predict=lambda x: outputs[x[:, 0]])
    data = SimpleNamespace(x_test=np.arange(4)[:, None], labels_test=np.array([0, 1, 1, 2]), n_outputs=3,
                           class_names=("a", "b", "c"))
    assert write_scores(tmp_path, network, data) == [tmp_path / "confusion.csv", tmp_path / "per_label.csv"]
    assert pd.read_csv(tmp_path / "confusion.csv").values.tolist() == [[0, "a", 1, 0, 0], [1, "b", 1, 1, 0],
                                                                      [2, "c", 0, 0, 1]]
    assert pd.read_csv(tmp_path / "per_label.csv")["errors"].tolist() == [0, 1, 0]
