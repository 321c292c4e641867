"""Stochastic gradient descent with optional momentum and L2 weight decay."""

import numpy as np


class SGD:
    """Update every parameter array in place from its gradient g:

        g' = g + lambda w          (weight decay, only where ``decay`` is True)
        v  = mu v - lr g'          (momentum mu; with mu = 0 this is v = -lr g')
        w  = w + v

    ``params`` are the model's own arrays: they are modified in place, never rebound.
    """

    def __init__(self, params, decay, lr, momentum=0.0, weight_decay=0.0):
        self.params = params
        self.decay = [bool(d) and weight_decay > 0 for d in decay]
        self.lr = lr
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.velocity = [np.zeros_like(p) for p in params] if momentum else None

    def step(self, grads):
        """Apply one update from ``grads`` (aligned with ``params``)."""
        for i, (w, g) in enumerate(zip(self.params, grads)):
            if self.decay[i]:
                g = g + self.weight_decay * w
            if self.velocity is None:
                w -= self.lr * g
            else:
                v = self.velocity[i]
                v *= self.momentum
                v -= self.lr * g
                w += v

    def state(self):
        """Named arrays that, with the parameters, let training continue exactly (momentum)."""
        return {} if self.velocity is None else {f"velocity_{i}": v for i, v in enumerate(self.velocity)}

    def load_state(self, arrays):
        """Restore what ``state`` returned (ignored without momentum)."""
        if self.velocity is not None:
            for i, v in enumerate(self.velocity):
                v[...] = arrays[f"velocity_{i}"]
