"""Optimizers: each updates the network's own parameter arrays in place from their gradients g, one
``step(grads)`` per batch, with the learning rate ``lr`` of the moment (a schedule sets it). L2 weight
decay lambda applies where ``decay`` is True (weights, not biases). ``state()`` names every array
(and the step count) that, with the parameters, lets training continue exactly after a checkpoint.
"""

import numpy as np

from ..errors import ConfigError


class Optimizer:
    """What every optimizer shares: the parameters, their names and decay mask, lr, named state."""

    buffers = ()   # names of the per-parameter arrays the optimizer keeps (its state besides ``t``)

    def __init__(self, params, decay, lr, weight_decay=0.0, names=None):
        self.params = params
        self.names = [str(i) for i in range(len(params))] if names is None else list(names)
        self.decay = [bool(d) and weight_decay > 0 for d in decay]
        self.lr, self.weight_decay = lr, weight_decay
        self.t = 0   # steps taken
        for buffer in self.buffers:
            setattr(self, buffer, [np.zeros_like(p) for p in params])

    def scratch(self, i, w):
        """A work array shaped and typed like parameter i, allocated on first use and kept: a step that
        writes into it allocates nothing (a per-sample step of 784 x 100 weights spent as long allocating
        its temporary as computing it)."""
        buffers = self.__dict__.setdefault("_scratch", {})
        if i not in buffers:
            buffers[i] = np.empty_like(w)
        return buffers[i]

    def decayed(self, i, w, g):
        """g + lambda w where parameter i decays (coupled L2 weight decay), else g."""
        return g + self.weight_decay * w if self.decay[i] else g

    def state(self):
        """``<buffer>_<parameter name>`` for every kept array, and ``step_count`` when steps matter."""
        arrays = {f"{buffer}_{n}": a for buffer in self.buffers for n, a in zip(self.names, getattr(self, buffer))}
        if self.counts_steps:
            arrays["step_count"] = np.array(self.t, dtype=np.int64)
        return arrays

    def load_state(self, arrays):
        """Restore what ``state`` returned."""
        for buffer in self.buffers:
            for name, a in zip(self.names, getattr(self, buffer)):
                a[...] = arrays[f"{buffer}_{name}"]
        if self.counts_steps:
            self.t = int(arrays["step_count"])

    counts_steps = False

    @classmethod
    def of(cls, network, lr, **settings):
        """The optimizer over every parameter of ``network``, its state named like the network's."""
        return cls(network.params, network.decay, lr, names=network.param_keys, **settings)


class SGD(Optimizer):
    """Stochastic gradient descent, with optional momentum mu (Nesterov's if ``nesterov``):

        g' = g + lambda w            (weight decay, only where ``decay`` is True)
        v  = mu v - lr g'            (without momentum: w = w - lr g')
        w  = w + v                   (Nesterov: w = w + mu v - lr g', the look-ahead step)

    The velocity keeps lr inside it (Sutskever et al., 2013), so with a constant lr this is PyTorch's
    SGD exactly: its buffer b = mu b + g' is -v / lr.
    """

    def __init__(self, params, decay, lr, momentum=0.0, weight_decay=0.0, nesterov=False, names=None):
        self.buffers = ("velocity",) if momentum else ()
        super().__init__(params, decay, lr, weight_decay, names)
        self.momentum, self.nesterov = momentum, bool(nesterov)
        if self.nesterov and not momentum:
            raise ConfigError("optimizer.nesterov=true needs optimizer.momentum > 0")
        if not momentum:
            self.velocity = None

    def step(self, grads):
        """Apply one update from ``grads`` (aligned with ``params``)."""
        self.t += 1
        for i, (w, g) in enumerate(zip(self.params, grads)):
            g = self.decayed(i, w, g)
            step = np.multiply(self.lr, g, out=self.scratch(i, w))    # lr g', into a buffer kept between steps
            if self.velocity is None:
                w -= step
                continue
            v = self.velocity[i]
            v *= self.momentum
            v -= step
            if self.nesterov:
                w += self.momentum * v - self.lr * g
            else:
                w += v

    def state(self):
        """``velocity_<name>`` of every parameter with momentum; nothing without."""
        return super().state() if self.velocity is not None else {}

    def load_state(self, arrays):
        if self.velocity is not None:
            super().load_state(arrays)


class Adam(Optimizer):
    """Adam (Kingma and Ba, 2015), with coupled L2 weight decay (``decoupled=False``) or AdamW's
    decoupled decay (Loshchilov and Hutter, 2019).

    With step count t::

        g' = g + lambda w                         (Adam's L2 decay, where ``decay`` is True)
        m  = b1 m + (1 - b1) g'                   v = b2 v + (1 - b2) g'^2
        m^ = m / (1 - b1^t)                       v^ = v / (1 - b2^t)
        w  = w - lr m^ / (sqrt(v^) + eps)

    AdamW: g' = g, and before the step w = w - lr lambda w (where ``decay`` is True).
    """

    buffers = ("m", "v")
    counts_steps = True

    def __init__(self, params, decay, lr, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0, decoupled=False,
                 names=None):
        super().__init__(params, decay, lr, weight_decay, names)
        self.beta1, self.beta2, self.eps, self.decoupled = beta1, beta2, eps, decoupled

    def step(self, grads):
        self.t += 1
        correction1, correction2 = 1 - self.beta1 ** self.t, 1 - self.beta2 ** self.t
        for i, (w, g) in enumerate(zip(self.params, grads)):
            if self.decoupled:
                if self.decay[i]:
                    w *= 1 - self.lr * self.weight_decay
            else:
                g = self.decayed(i, w, g)
            m, v = self.m[i], self.v[i]
            m *= self.beta1
            m += (1 - self.beta1) * g
            v *= self.beta2
            v += (1 - self.beta2) * g * g
            w -= self.lr * (m / correction1) / (np.sqrt(v / correction2) + self.eps)


class RMSprop(Optimizer):
    """RMSprop (Tieleman and Hinton, 2012): a running mean of squared gradients scales each step.

        g' = g + lambda w          s = alpha s + (1 - alpha) g'^2          w = w - lr g' / (sqrt(s) + eps)
    """

    buffers = ("square",)

    def __init__(self, params, decay, lr, alpha=0.99, eps=1e-8, weight_decay=0.0, names=None):
        super().__init__(params, decay, lr, weight_decay, names)
        self.alpha, self.eps = alpha, eps

    def step(self, grads):
        self.t += 1
        for i, (w, g) in enumerate(zip(self.params, grads)):
            g = self.decayed(i, w, g)
            s = self.square[i]
            s *= self.alpha
            s += (1 - self.alpha) * g * g
            w -= self.lr * g / (np.sqrt(s) + self.eps)


OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop")


def make_optimizer(settings, network, lr):
    """The optimizer ``settings`` (a plain dict: the config's ``optimizer`` section) name, over
    ``network``'s parameters, starting at ``lr``."""
    settings = dict(settings)
    name = settings.pop("name")
    if name == "sgd":
        return SGD.of(network, lr, **settings)
    if name in ("adam", "adamw"):
        return Adam.of(network, lr, decoupled=name == "adamw", **settings)
    if name == "rmsprop":
        return RMSprop.of(network, lr, **settings)
    raise ConfigError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}")
