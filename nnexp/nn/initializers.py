"""Weight initialisation by name: ``INITIALIZERS`` maps each name a user types (``model.init``) to a
class with two functions side by side, ``weights`` and ``biases``. Every initialiser draws in float64 and
the caller casts.

``fan_in`` is the number of inputs of a unit (n_in for a dense layer, C*kh*kw for a convolution),
``fan_out`` the number of units fed by one input; ``limit`` is ``model.uniform_limit``.
"""

from abc import ABC, abstractmethod

import numpy as np

from ..errors import ConfigError

Shape = tuple[int, ...]


class Initializer(ABC):
    """An initialiser: its ``weights``, and its ``biases``, zeros unless the classic it comes from drew them."""

    name = ""

    @staticmethod
    @abstractmethod
    def weights(shape: Shape, fan_in: int, fan_out: int, rng: np.random.Generator, limit: float) -> np.ndarray:
        """A weight array of ``shape``."""

    @staticmethod
    def biases(shape: Shape, rng: np.random.Generator, limit: float) -> np.ndarray:
        return np.zeros(shape)


class Normal(Initializer):
    """W ~ N(0, fan_in^-1/2)  ("Make your own neural network": pow(inodes, -0.5)); b = 0."""

    name = "normal"

    @staticmethod
    def weights(shape, fan_in, fan_out, rng, limit):
        return rng.normal(0.0, fan_in ** -0.5, shape)


class UnitNormal(Initializer):
    """W, b ~ N(0, 1)  (the two-hidden-layer classic draws biases as it draws weights)."""

    name = "unit_normal"

    @staticmethod
    def weights(shape, fan_in, fan_out, rng, limit):
        return rng.normal(0.0, 1.0, shape)

    @staticmethod
    def biases(shape, rng, limit):
        return rng.normal(0.0, 1.0, shape)


class Uniform(Initializer):
    """W, b ~ U(-a, a), a = limit  (the any-structure classic: weights and biases U(-1, 1))."""

    name = "uniform"

    @staticmethod
    def weights(shape, fan_in, fan_out, rng, limit):
        return rng.uniform(-limit, limit, shape)

    @staticmethod
    def biases(shape, rng, limit):
        return rng.uniform(-limit, limit, shape)


class Xavier(Initializer):
    """W ~ U(-r, r), r = sqrt(6 / (fan_in + fan_out))  (Glorot and Bengio, 2010); b = 0."""

    name = "xavier"

    @staticmethod
    def weights(shape, fan_in, fan_out, rng, limit):
        r = np.sqrt(6.0 / (fan_in + fan_out))
        return rng.uniform(-r, r, shape)


class He(Initializer):
    """W ~ N(0, sqrt(2 / fan_in))  (He et al., 2015); b = 0."""

    name = "he"

    @staticmethod
    def weights(shape, fan_in, fan_out, rng, limit):
        return rng.normal(0.0, np.sqrt(2.0 / fan_in), shape)


INITIALIZERS: dict[str, type[Initializer]] = {i.name: i for i in (Normal, UnitNormal, Uniform, Xavier, He)}
"""The initialiser a name stands for (``model.init=<name>``)."""


def get_initializer(name: str) -> type[Initializer]:
    """The initialiser called ``name``."""
    if name not in INITIALIZERS:
        raise ConfigError(f"unknown init {name!r}; choose one of {', '.join(INITIALIZERS)}")
    return INITIALIZERS[name]


def initial_weights(name: str, shape: Shape, fan_in: int, fan_out: int, rng: np.random.Generator,
                    uniform_limit: float = 0.5) -> np.ndarray:
    """A weight array of ``shape`` drawn by the initialiser ``name``."""
    return get_initializer(name).weights(shape, fan_in, fan_out, rng, uniform_limit)


def initial_biases(name: str, shape: Shape, rng: np.random.Generator, uniform_limit: float = 0.5) -> np.ndarray:
    """A bias array of ``shape`` drawn by the initialiser ``name`` (zeros for most)."""
    return get_initializer(name).biases(shape, rng, uniform_limit)
