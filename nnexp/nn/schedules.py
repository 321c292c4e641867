"""Learning-rate schedules: the rate of step k = 1..n of a run from its base rate lr. Training steps
them per epoch (every batch of epoch k uses rate(k, epochs)); the learning-rate finder per batch.

    constant      lr
    step          lr gamma^floor((k - 1) / step_size)
    exponential   lr gamma^(k - 1)
    cosine        min_lr + (lr - min_lr) (1 + cos(pi (k - 1) / (n - 1))) / 2     (lr at k = 1, min_lr at k = n)

An optional linear warm-up of w steps comes first: rate lr k / w for k = 1..w; the schedule then
runs over steps w + 1..n as its own steps 1..n - w. Only cosine depends on n, the run's length, unless
``span`` fixes n (a search sets it to its full budget, so that a run stopped early at a rung and one
trained to the budget share their first epochs).

``SCHEDULES`` maps each name a user types (``schedule=cosine``) to its class.
"""

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar, Optional

from ..errors import ConfigError


class Schedule(ABC):
    """``rate(k, n)``: the learning rate of step k of n (k counts from 1), after the warm-up. Every schedule
    takes every setting of the config's ``schedule`` section and uses those its formula names."""

    name: ClassVar[str]
    uses_length: ClassVar[bool] = False
    """True when the formula reads n, the run's length."""

    def __init__(self, lr: float, gamma: float = 0.1, step_size: int = 1, min_lr: float = 0.0, warmup: int = 0,
                 span: Optional[int] = None) -> None:
        self.lr, self.gamma, self.step_size = lr, gamma, int(step_size)
        self.min_lr, self.warmup = min_lr, int(warmup)
        self.span = None if span is None else int(span)

    @property
    def depends_on_length(self) -> bool:
        """True when a step's rate depends on how many steps the run has (cosine without a span)."""
        return self.uses_length and self.span is None

    def rate(self, k: int, n: int) -> float:
        """The rate of step k of a run of n steps (of ``span`` steps when it is set)."""
        n = self.span if self.span is not None else n
        if k <= self.warmup:
            return self.lr * k / self.warmup
        return self.after_warmup(k - self.warmup, max(n - self.warmup, 1))

    @abstractmethod
    def after_warmup(self, k: int, n: int) -> float:
        """The rate of the schedule's own step k of n (counted after the warm-up)."""


class Constant(Schedule):
    """lr."""

    name = "constant"

    def after_warmup(self, k, n):
        return self.lr


class Step(Schedule):
    """lr gamma^floor((k - 1) / step_size)."""

    name = "step"

    def after_warmup(self, k, n):
        return self.lr * self.gamma ** ((k - 1) // self.step_size)


class Exponential(Schedule):
    """lr gamma^(k - 1)."""

    name = "exponential"

    def after_warmup(self, k, n):
        return self.lr * self.gamma ** (k - 1)


class Cosine(Schedule):
    """min_lr + (lr - min_lr) (1 + cos(pi (k - 1) / (n - 1))) / 2."""

    name = "cosine"
    uses_length = True

    def after_warmup(self, k, n):
        fraction = (k - 1) / (n - 1) if n > 1 else 0.0
        return self.min_lr + (self.lr - self.min_lr) * (1 + math.cos(math.pi * fraction)) / 2


SCHEDULES: dict[str, type[Schedule]] = {s.name: s for s in (Constant, Step, Exponential, Cosine)}
"""The schedule a name stands for (``schedule=<name>``)."""


def make_schedule(settings: Mapping[str, Any], lr: float) -> Schedule:
    """The schedule of the config's ``schedule`` section (a plain dict; no name: constant) over the base
    rate ``lr``."""
    settings = dict(settings)
    name = settings.pop("name", "constant")
    if name not in SCHEDULES:
        raise ConfigError(f"unknown schedule {name!r}; choose one of {', '.join(SCHEDULES)}")
    return SCHEDULES[name](lr, **settings)
