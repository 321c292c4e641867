"""Loss functions bound to the output activation, Nielsen style: a value and the output error.

For a batch of outputs ``a`` and targets ``y`` (both ``(N, K)``), ``fn(a, y)`` returns the loss of
each sample, shape ``(N,)``, and ``delta(z, a, y)`` the output error dL_i/dz for each sample,
shape ``(N, K)``.
"""

import numpy as np

from ..errors import ConfigError
from .activations import Sigmoid, Softmax

LOG_FLOOR = 1e-300
"""Smallest probability fed to log, so that a confident wrong answer costs a large finite loss."""


class MeanSquaredError:
    """Quadratic cost C = 1/2 sum_k (a_k - y_k)^2;  dC/da = a - y.

    With a sigmoid output, delta = (a - y) a (1 - a): the classic update
    ``W += lr * ((t - o) o (1 - o)) a_prev^T`` is exactly one SGD step on this cost.
    """

    name = "mse"

    def __init__(self, output):
        self.output = output

    def fn(self, a, y):
        return 0.5 * ((a - y) ** 2).sum(axis=-1)

    def delta(self, z, a, y):
        return self.output.backward(z, a, a - y)


class CrossEntropy:
    """Cross-entropy, categorical for a softmax output and binary otherwise.

    softmax: C = -sum_k y_k log a_k;  sigmoid: C = -sum_k [y_k log a_k + (1 - y_k) log(1 - a_k)].
    For both, the output error simplifies to delta = a - y (the canonical pairing), which is
    what is computed: no division by a small a.
    """

    name = "cross_entropy"

    def __init__(self, output):
        if output not in (Softmax, Sigmoid):
            raise ConfigError(
                f"loss cross_entropy needs a softmax or sigmoid output, not {output.name!r}; "
                "set model.output_activation=softmax or use loss=mse"
            )
        self.output = output

    def fn(self, a, y):
        floor = max(LOG_FLOOR, np.finfo(a.dtype).tiny)
        if self.output is Softmax:
            return -(y * np.log(np.maximum(a, floor))).sum(axis=-1)
        return -(y * np.log(np.maximum(a, floor)) + (1 - y) * np.log(np.maximum(1 - a, floor))).sum(axis=-1)

    def delta(self, z, a, y):
        return a - y


LOSSES = {loss.name: loss for loss in (MeanSquaredError, CrossEntropy)}


def make_loss(name, output):
    """The loss called ``name`` bound to the output activation class ``output``."""
    if name not in LOSSES:
        raise ConfigError(f"unknown loss {name!r}; choose one of {', '.join(LOSSES)}")
    return LOSSES[name](output)
