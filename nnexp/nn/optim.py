"""Optimizers: each updates the network's own parameter arrays in place from their gradients g, one
``step()`` per batch (after the network's backward filled every parameter's ``grad``), with the
learning rate ``lr`` of the moment (a schedule sets it). L2 weight decay lambda applies where a
parameter ``decays`` (weights, not biases). ``state()`` names every array (and the step count) that,
with the parameters, lets training continue exactly after a checkpoint.

``OPTIMIZERS`` maps the name a user types (``optimizer=adam``) to its class; the config schema's names
are made from it. A new optimizer is a subclass of ``Optimizer`` with a ``step``, one entry there, its
settings' schema in ``nnexp.config`` and its file in ``conf/optimizer/``.
"""

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Optional, Union

import numpy as np

from ..errors import ConfigError
from .layers import Parameter, gradient

Parameters = Union[Mapping[str, Parameter], Sequence[Parameter]]
"""The parameters an optimizer updates: by name (a network's ``parameters``), or in order (named 0, 1, ...)."""


class Optimizer(ABC):
    """What every optimizer shares: the parameters by name, lr, weight decay, named state."""

    buffers: tuple[str, ...] = ()
    """Names of the per-parameter arrays the optimizer keeps (its state besides ``t``)."""
    counts_steps: ClassVar[bool] = False
    """True when the step count is state (a checkpoint keeps it)."""

    def __init__(self, parameters: Parameters, lr: float, weight_decay: float = 0.0) -> None:
        named = parameters if isinstance(parameters, Mapping) else {str(i): p for i, p in enumerate(parameters)}
        self.names = list(named)
        self.parameters = list(named.values())
        self.decay = [p.decays and weight_decay > 0 for p in self.parameters]
        self.lr, self.weight_decay = lr, weight_decay
        self.t = 0   # steps taken
        for buffer in self.buffers:
            setattr(self, buffer, [np.zeros_like(p.value) for p in self.parameters])

    @abstractmethod
    def step(self) -> None:
        """Apply one update to every parameter from its ``grad``."""

    def scratch(self, i: int, w: np.ndarray) -> np.ndarray:
        """A work array shaped and typed like parameter i, allocated on first use and kept: a step that
        writes into it allocates nothing (a per-sample step of 784 x 100 weights spent as long allocating
        its temporary as computing it)."""
        buffers = self.__dict__.setdefault("_scratch", {})
        if i not in buffers:
            buffers[i] = np.empty_like(w)
        return buffers[i]

    def decayed(self, i: int, w: np.ndarray, g: np.ndarray) -> np.ndarray:
        """g + lambda w where parameter i decays (coupled L2 weight decay), else g."""
        return g + self.weight_decay * w if self.decay[i] else g

    def state(self) -> dict[str, np.ndarray]:
        """``<buffer>_<parameter name>`` for every kept array, and ``step_count`` when steps matter."""
        arrays = {f"{buffer}_{n}": a for buffer in self.buffers for n, a in zip(self.names, getattr(self, buffer))}
        if self.counts_steps:
            arrays["step_count"] = np.array(self.t, dtype=np.int64)
        return arrays

    def load_state(self, arrays: Mapping[str, np.ndarray]) -> None:
        """Restore what ``state`` returned."""
        for buffer in self.buffers:
            for name, a in zip(self.names, getattr(self, buffer)):
                a[...] = arrays[f"{buffer}_{name}"]
        if self.counts_steps:
            self.t = int(arrays["step_count"])

    @classmethod
    def of(cls, network: Any, lr: float, **settings: Any) -> "Optimizer":
        """The optimizer over every parameter of ``network``, its state named like the network's."""
        return cls(network.parameters, lr, **settings)


class SGD(Optimizer):
    """Stochastic gradient descent, with optional momentum mu (Nesterov's if ``nesterov``):

        g' = g + lambda w            (weight decay, only where ``decay`` is True)
        v  = mu v - lr g'            (without momentum: w = w - lr g')
        w  = w + v                   (Nesterov: w = w + mu v - lr g', the look-ahead step)

    The velocity keeps lr inside it (Sutskever et al., 2013), so with a constant lr this is PyTorch's
    SGD exactly: its buffer b = mu b + g' is -v / lr.
    """

    velocity: Optional[list[np.ndarray]]

    def __init__(self, parameters: Parameters, lr: float, momentum: float = 0.0, weight_decay: float = 0.0,
                 nesterov: bool = False) -> None:
        self.buffers = ("velocity",) if momentum else ()
        super().__init__(parameters, lr, weight_decay)
        self.momentum, self.nesterov = momentum, bool(nesterov)
        if self.nesterov and not momentum:
            raise ConfigError("optimizer.nesterov=true needs optimizer.momentum > 0")
        if not momentum:
            self.velocity = None

    def step(self) -> None:
        self.t += 1
        for i, p in enumerate(self.parameters):
            w, g = p.value, self.decayed(i, p.value, gradient(p))
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

    def state(self) -> dict[str, np.ndarray]:
        """``velocity_<name>`` of every parameter with momentum; nothing without."""
        return super().state() if self.velocity is not None else {}

    def load_state(self, arrays: Mapping[str, np.ndarray]) -> None:
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
    m: list[np.ndarray]
    v: list[np.ndarray]
    decoupled_default: ClassVar[bool] = False

    def __init__(self, parameters: Parameters, lr: float, beta1: float = 0.9, beta2: float = 0.999,
                 eps: float = 1e-8, weight_decay: float = 0.0, decoupled: Optional[bool] = None) -> None:
        super().__init__(parameters, lr, weight_decay)
        self.beta1, self.beta2, self.eps = beta1, beta2, eps
        self.decoupled = self.decoupled_default if decoupled is None else decoupled

    def step(self) -> None:
        self.t += 1
        correction1, correction2 = 1 - self.beta1 ** self.t, 1 - self.beta2 ** self.t
        for i, p in enumerate(self.parameters):
            w, g = p.value, gradient(p)
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
    square: list[np.ndarray]

    def __init__(self, parameters: Parameters, lr: float, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0.0) -> None:
        super().__init__(parameters, lr, weight_decay)
        self.alpha, self.eps = alpha, eps

    def step(self) -> None:
        self.t += 1
        for i, p in enumerate(self.parameters):
            w, g = p.value, self.decayed(i, p.value, gradient(p))
            s = self.square[i]
            s *= self.alpha
            s += (1 - self.alpha) * g * g
            w -= self.lr * g / (np.sqrt(s) + self.eps)


class AdamW(Adam):
    """AdamW (Loshchilov and Hutter, 2019): Adam with decoupled weight decay (see ``Adam``)."""

    decoupled_default = True


OPTIMIZERS: dict[str, type[Optimizer]] = {"sgd": SGD, "adam": Adam, "adamw": AdamW, "rmsprop": RMSprop}
"""The optimizer a name stands for (``optimizer=<name>``)."""


def make_optimizer(settings: Mapping[str, Any], network: Any, lr: float) -> Optimizer:
    """The optimizer ``settings`` (a plain dict: the config's ``optimizer`` section) name, over
    ``network``'s parameters, starting at ``lr``."""
    settings = dict(settings)
    name = settings.pop("name")
    if name not in OPTIMIZERS:
        raise ConfigError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}")
    return OPTIMIZERS[name].of(network, lr, **settings)
