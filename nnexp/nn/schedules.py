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
"""

import math

from ..errors import ConfigError

SCHEDULES = ("constant", "step", "exponential", "cosine")


class Schedule:
    """``rate(k, n)``: the learning rate of step k of n (k counts from 1)."""

    def __init__(self, lr, name="constant", gamma=0.1, step_size=1, min_lr=0.0, warmup=0, span=None):
        if name not in SCHEDULES:
            raise ConfigError(f"unknown schedule {name!r}; choose one of {', '.join(SCHEDULES)}")
        self.lr, self.name, self.gamma, self.step_size = lr, name, gamma, int(step_size)
        self.min_lr, self.warmup = min_lr, int(warmup)
        self.span = None if span is None else int(span)

    @property
    def depends_on_length(self):
        """True when a step's rate depends on how many steps the run has (cosine without a span)."""
        return self.name == "cosine" and self.span is None

    def rate(self, k, n):
        """The rate of step k of a run of n steps (of ``span`` steps when it is set)."""
        n = self.span if self.span is not None else n
        if k <= self.warmup:
            return self.lr * k / self.warmup
        k, n = k - self.warmup, max(n - self.warmup, 1)
        if self.name == "step":
            return self.lr * self.gamma ** ((k - 1) // self.step_size)
        if self.name == "exponential":
            return self.lr * self.gamma ** (k - 1)
        if self.name == "cosine":
            fraction = (k - 1) / (n - 1) if n > 1 else 0.0
            return self.min_lr + (self.lr - self.min_lr) * (1 + math.cos(math.pi * fraction)) / 2
        return self.lr


def make_schedule(settings, lr):
    """The Schedule of the config's ``schedule`` section (a plain dict) over the base rate ``lr``."""
    return Schedule(lr, **dict(settings))
