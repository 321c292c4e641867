"""Stochastic gradient descent with optional momentum and L2 weight decay."""

import numpy as np


class SGD:
    """Update every parameter array in place from its gradient g:

        g' = g + lambda w          (weight decay, only where ``decay`` is True)
        v  = mu v - lr g'          (momentum mu; with mu = 0 this is v = -lr g')
        w  = w + v

    ``params`` are the model's own arrays: they are modified in place, never rebound.
    """

    def __init__(self, params, decay, lr, momentum=0.0, weight_decay=0.0, names=None):
        self.params = params
        self.names = [str(i) for i in range(len(params))] if names is None else list(names)
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
        """Named arrays that, with the parameters, let training continue exactly: the momentum of
        each parameter, ``velocity_<name>`` (the parameter's name in the weights file)."""
        return {} if self.velocity is None else {f"velocity_{n}": v for n, v in zip(self.names, self.velocity)}

    def load_state(self, arrays):
        """Restore what ``state`` returned (ignored without momentum)."""
        for name, v in zip(self.names, self.velocity or []):
            v[...] = arrays[f"velocity_{name}"]

    @classmethod
    def of(cls, network, lr, momentum=0.0, weight_decay=0.0):
        """SGD over every parameter of ``network``, its state named like the network's."""
        return cls(network.params, network.decay, lr, momentum, weight_decay, names=network.param_keys)
