"""Weight initialisation by name. Every initialiser draws in float64 and the caller casts.

``fan_in`` is the number of inputs of a unit (n_in for a dense layer, C*kh*kw for a convolution),
``fan_out`` the number of units fed by one input.
"""

import numpy as np

from ..errors import ConfigError


def initial_weights(name, shape, fan_in, fan_out, rng, uniform_limit=0.5):
    """Draw a weight array of ``shape``.

    normal       N(0, fan_in^-1/2)  ("Make your own neural network": pow(inodes, -0.5))
    unit_normal  N(0, 1)
    uniform      U(-a, a), a = uniform_limit
    xavier       U(-r, r), r = sqrt(6 / (fan_in + fan_out))  (Glorot and Bengio, 2010)
    he           N(0, sqrt(2 / fan_in))  (He et al., 2015)
    """
    if name == "normal":
        return rng.normal(0.0, fan_in ** -0.5, shape)
    if name == "unit_normal":
        return rng.normal(0.0, 1.0, shape)
    if name == "uniform":
        return rng.uniform(-uniform_limit, uniform_limit, shape)
    if name == "xavier":
        r = np.sqrt(6.0 / (fan_in + fan_out))
        return rng.uniform(-r, r, shape)
    if name == "he":
        return rng.normal(0.0, np.sqrt(2.0 / fan_in), shape)
    raise ConfigError(f"unknown init {name!r}; choose one of {', '.join(INITIALIZERS)}")


def initial_biases(name, shape, rng, uniform_limit=0.5):
    """Biases drawn like the weights where the classics did so, else zeros.

    unit_normal  N(0, 1)   (the two-hidden-layer classic draws biases as it draws weights)
    uniform      U(-a, a)  (the any-structure classic: weights and biases U(-1, 1))
    others       0
    """
    if name == "unit_normal":
        return rng.normal(0.0, 1.0, shape)
    if name == "uniform":
        return rng.uniform(-uniform_limit, uniform_limit, shape)
    return np.zeros(shape)


INITIALIZERS = ("normal", "unit_normal", "uniform", "xavier", "he")
