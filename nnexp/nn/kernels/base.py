"""What every per-sample kernel shares: the network seen as a dense stack, the optimizer's rule and
buffers, the deferred first layer's chunk length, and the epoch's bookkeeping."""

import numpy as np

from ..optim import SGD, Adam, AdamW, RMSprop

PROGRESS_CHUNK = 2000
"""Samples between two progress-bar updates."""
DEFERRED = 64
"""Samples per chunk over which both kernels defer the first layer's updates (see BlasTrainer). On
the 784-100-10 network, 48 to 96 measured within a few percent of each other, 32 and 128 slower."""


RULES = ("sgd", "nesterov", "adam", "adamw", "rmsprop")
"""The update rules a per-sample kernel may know (``rule_of``); plain SGD and SGD with (heavy-ball)
momentum are both "sgd"."""


def rule_of(optimizer):
    """The name in RULES of ``optimizer``'s update rule."""
    if type(optimizer) is SGD:
        return "nesterov" if optimizer.nesterov else "sgd"
    if type(optimizer) in (Adam, AdamW):
        return "adamw" if optimizer.decoupled else "adam"
    if type(optimizer) is RMSprop:
        return "rmsprop"
    return type(optimizer).__name__


def buffers_of(optimizer, arrays):
    """Per optimizer buffer (velocity; m and v; square), the buffer's array of each of ``arrays`` (the
    optimizer's own parameters): [[array per parameter] per buffer]."""
    names = {"sgd": ("velocity",), "nesterov": ("velocity",), "adam": ("m", "v"), "adamw": ("m", "v"),
             "rmsprop": ("square",)}[rule_of(optimizer)]
    index = {id(p.value): i for i, p in enumerate(optimizer.parameters)}
    return [[getattr(optimizer, name)[index[id(a)]] for a in arrays] for name in names
            if getattr(optimizer, name, None) is not None]


class PerSampleTrainer:
    """The dense stack's arrays (``stack``: W_l, b_l, f_l, widths, loss), each parameter's optimizer
    buffers (``buffers_w``, ``buffers_b``: per buffer, one array per layer; [] for plain SGD), and the
    optimizer's settings."""

    def __init__(self, network, optimizer):
        self.stack = stack = network.dense_stack()
        self.dtype = network.dtype
        self.optimizer = optimizer
        self.rule_name = rule_of(optimizer)
        self.has_bias = stack.biases is not None
        self.lr, self.weight_decay = optimizer.lr, optimizer.weight_decay
        self.momentum = getattr(optimizer, "momentum", 0.0)
        self.decay = any(optimizer.decay)
        self.buffers_w = buffers_of(optimizer, stack.weights)
        self.buffers_b = buffers_of(optimizer, stack.biases) if self.has_bias else []
        self.velocity_w = self.buffers_w[0] if self.rule_name == "sgd" and self.buffers_w else None
        self.velocity_b = self.buffers_b[0] if self.rule_name == "sgd" and self.buffers_b else None
        self.cross_entropy = stack.loss.name == "cross_entropy"
        # plain SGD: the first layer's updates wait for the end of a chunk (BlasTrainer says how)
        self.deferred = self.rule_name == "sgd" and self.velocity_w is None and not self.decay
        self.chunk = DEFERRED if self.deferred else 1

    def epoch(self, x, y, order, progress):
        """Train on x[order] one sample at a time, at the optimizer's lr of the moment (a schedule may
        have changed it since the last epoch); returns each sample's loss (n,), float64."""
        if self.lr != self.optimizer.lr:
            self.lr = self.optimizer.lr
            self.rate_changed()
        outputs = np.empty((len(order), y.shape[1]), dtype=self.dtype)         # a_L of each sample
        logits = np.empty_like(outputs) if self.stack.loss.from_logits else None   # z_L, for the loss
        for start in range(0, len(order), PROGRESS_CHUNK):
            stop = min(start + PROGRESS_CHUNK, len(order))
            self.train_range(x, y, order, outputs, logits, start, stop)
            self.optimizer.t += stop - start                     # one step per sample, as the reference counts
            progress.update(stop - start)
        return self.stack.loss.fn(logits, outputs, y[order]).astype(np.float64)

    def rate_changed(self):
        """Called when the learning rate changed between epochs (kernels that copied it refresh it)."""
