"""What every per-sample kernel shares: the network seen as a dense stack, the SGD settings, the
deferred first layer's chunk length, and the epoch's bookkeeping."""

import numpy as np

PROGRESS_CHUNK = 2000
"""Samples between two progress-bar updates."""
DEFERRED = 64
"""Samples per chunk over which both kernels defer the first layer's updates (see BlasTrainer). On
the 784-100-10 network, 48 to 96 measured within a few percent of each other, 32 and 128 slower."""


class PerSampleTrainer:
    """The dense stack's arrays (``stack``: W_l, b_l, f_l, widths, loss), each parameter's momentum
    buffer (``velocity_w``, ``velocity_b``: None without momentum), and the SGD settings."""

    def __init__(self, network, optimizer):
        self.stack = stack = network.dense_stack()
        self.dtype = network.dtype
        self.optimizer = optimizer
        self.has_bias = stack.biases is not None
        self.lr, self.momentum, self.weight_decay = optimizer.lr, optimizer.momentum, optimizer.weight_decay
        self.decay = any(optimizer.decay)
        velocity = dict(zip((id(p.value) for p in optimizer.parameters), optimizer.velocity or []))
        self.velocity_w = [velocity[id(w)] for w in stack.weights] if velocity else None
        self.velocity_b = [velocity[id(b)] for b in stack.biases] if velocity and self.has_bias else None
        self.cross_entropy = stack.loss.name == "cross_entropy"
        # plain SGD: the first layer's updates wait for the end of a chunk (BlasTrainer says how)
        self.deferred = optimizer.velocity is None and not self.decay
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
            progress.update(stop - start)
        return self.stack.loss.fn(logits, outputs, y[order]).astype(np.float64)

    def rate_changed(self):
        """Called when the learning rate changed between epochs (kernels that copied it refresh it)."""
