"""Losses' exact values along the last axis, cross-entropy's target checks and messages, and the confusion matrix."""

import numpy as np
import pytest

from nnexp.errors import ConfigError
from nnexp.nn.activations import ACTIVATIONS
from nnexp.nn.losses import make_loss
from nnexp.nn.metrics import accuracy, confusion_matrix

SOFTMAX, SIGMOID = ACTIVATIONS["softmax"], ACTIVATIONS["sigmoid"]


def test_losses_of_one_sample_vector_reduce_its_last_axis():
    """A single sample (1-D) gives a scalar loss. Break tried: axis=+1 instead of -1 in every reduction."""
    z = np.array([0.0, np.log(3.0)])
    y = np.array([0.0, 1.0])
    np.testing.assert_allclose(make_loss("cross_entropy", SOFTMAX).fn(z, SOFTMAX.fn(z), y), np.log(4 / 3),
                               rtol=1e-15)
    np.testing.assert_allclose(make_loss("cross_entropy", SIGMOID).fn(z, SIGMOID.fn(z), y),
                               np.log(2.0) + np.log(4 / 3), rtol=1e-15)
    assert make_loss("mse", SIGMOID).fn(z, np.array([0.5, 0.25]), y) == 0.5 * (0.25 + 0.5625)


@pytest.mark.parametrize("bad", [0.5, 1.5])
def test_softmax_cross_entropy_names_the_row_farthest_from_one(bad):
    """A good row first, then one summing to ``bad``, then one nearer 1: the message quotes ``bad``.
    Breaks tried: argmax(None) (the first row), |sums + 1| (the largest sum), |sums - 2|."""
    y = np.array([[0.0, 1.0], [bad, 0.0], [0.9, 0.0]])
    with pytest.raises(ConfigError, match=rf"a row sums to {bad} \(data.scaling=classic gives 0.01/0.99 targets\); "
                                          r"set data.scaling=standard for one-hot targets, or use model.loss=mse$"):
        make_loss("cross_entropy", SOFTMAX).check_targets(y)


def test_cross_entropy_refusal_message_names_the_fix():
    with pytest.raises(ConfigError, match=r"not 'tanh'; set model.output_activation=softmax or use loss=mse$"):
        make_loss("cross_entropy", ACTIVATIONS["tanh"])


def test_confusion_matrix_counts_with_a_class_never_predicted():
    """Break tried: float counts (dtype None)."""
    counts = confusion_matrix(np.array([0, 1, 1, 2, 2, 2]), np.array([0, 0, 2, 2, 0, 2]), 3)
    assert counts.dtype == np.int64
    np.testing.assert_array_equal(counts, [[1, 0, 0], [1, 0, 1], [1, 0, 2]])


def test_unknown_loss_lists_the_choices():
    with pytest.raises(ConfigError) as err:
        make_loss("hinge", SOFTMAX)
    assert str(err.value) == "unknown loss 'hinge'; choose one of mse, cross_entropy"


def test_multilabel_accuracy_is_the_share_of_rows_right_in_every_output_rounded_at_a_half():
    """An output of exactly 0.5 rounds down; a row counts only when all its outputs are right."""
    outputs = np.array([[0.9, 0.5], [0.6, 0.2], [0.4, 0.7]])
    targets = np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    assert accuracy(outputs, targets, None, "multilabel") == pytest.approx(2 / 3, rel=1e-15)
    assert accuracy(np.array([[0.1, 0.8], [0.7, 0.2]]), None, np.array([1, 1]), "classification") == 0.5
    assert np.isnan(accuracy(outputs, targets, None, "regression"))
