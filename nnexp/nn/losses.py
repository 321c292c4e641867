"""Loss functions bound to the output activation, Nielsen style: a value and the output error.

For a batch of weighted outputs ``z`` (the logits), output activations ``a = f(z)`` and targets
``y`` (all ``(N, K)``), ``fn(z, a, y)`` returns the loss of each sample, shape ``(N,)``, and
``delta(z, a, y)`` the output error dL_i/dz for each sample, shape ``(N, K)``. ``fn`` reads
whichever of z and a gives the exact value: the cross-entropy is computed from the logits.
"""

import numpy as np

from ..errors import ConfigError
from .activations import Sigmoid, Softmax

DISTRIBUTION_TOLERANCE = 1e-5
"""How far a target row of a softmax cross-entropy may sum from 1 (float32 one-hot rows sum exactly)."""


class MeanSquaredError:
    """Quadratic cost C = 1/2 sum_k (a_k - y_k)^2;  dC/da = a - y.

    With a sigmoid output, delta = (a - y) a (1 - a): the classic update
    ``W += lr * ((t - o) o (1 - o)) a_prev^T`` is exactly one SGD step on this cost.
    """

    name = "mse"
    from_logits = False     # fn reads a only

    def __init__(self, output):
        self.output = output

    def fn(self, z, a, y):
        return 0.5 * ((a - y) ** 2).sum(axis=-1)

    def delta(self, z, a, y):
        return self.output.backward(z, a, a - y)

    def check_targets(self, y):
        """Any targets can be fitted by least squares."""


class CrossEntropy:
    """Cross-entropy, categorical for a softmax output and binary for a sigmoid one, from the logits z:

    softmax  C = -sum_k y_k log softmax(z)_k = lse(z) - sum_k y_k z_k      (rows of y sum to 1)
             with lse(z) = m + log sum_k exp(z_k - m), m = max_k z_k: exact for logits of any size
    sigmoid  C = -sum_k [y_k log s(z_k) + (1 - y_k) log(1 - s(z_k))] = sum_k [softplus(z_k) - y_k z_k]
             with softplus(z) = log(1 + e^z) = logaddexp(0, z)

    For both the output error is delta = a - y (the canonical pairing: no division by a small a).
    For softmax that needs sum_k y_k = 1 (in general dC/dz = a sum_k y_k - y): targets whose rows
    do not sum to 1 (data.scaling=classic, 0.01/0.99) are refused by ``check_targets``.
    """

    name = "cross_entropy"
    from_logits = True      # fn reads z

    def __init__(self, output):
        if output not in (Softmax, Sigmoid):
            raise ConfigError(
                f"loss cross_entropy needs a softmax or sigmoid output, not {output.name!r}; "
                "set model.output_activation=softmax or use loss=mse"
            )
        self.output = output

    def fn(self, z, a, y):
        if self.output is Softmax:
            top = z.max(axis=-1, keepdims=True)
            lse = top[..., 0] + np.log(np.exp(z - top).sum(axis=-1))
            return lse - (y * z).sum(axis=-1)
        return (np.logaddexp(0, z) - y * z).sum(axis=-1)

    def delta(self, z, a, y):
        return a - y

    def check_targets(self, y):
        """Refuse softmax targets that are not distributions (rows not summing to 1): their loss is
        not the one whose gradient a - y is."""
        if self.output is not Softmax or not len(y):
            return
        sums = y.sum(axis=-1)
        worst = float(sums[np.argmax(np.abs(sums - 1))])
        if abs(worst - 1) > DISTRIBUTION_TOLERANCE:
            raise ConfigError(f"loss cross_entropy with a softmax output needs target rows that sum to 1, but a row "
                              f"sums to {worst:.4g} (data.scaling=classic gives 0.01/0.99 targets); "
                              "set data.scaling=standard for one-hot targets, or use model.loss=mse")


LOSSES = {loss.name: loss for loss in (MeanSquaredError, CrossEntropy)}


def make_loss(name, output):
    """The loss called ``name`` bound to the output activation class ``output``."""
    if name not in LOSSES:
        raise ConfigError(f"unknown loss {name!r}; choose one of {', '.join(LOSSES)}")
    return LOSSES[name](output)
