"""Activation functions, each a value and its backward pass side by side, chosen by name.

Notation (per layer): weighted input ``z``, activation ``a = f(z)``, and the gradient of the
loss with respect to the activation, ``g = dL/da``. ``backward(z, a, g)`` returns ``dL/dz``.
All functions work on arrays of shape ``(N, n)``: one row per sample.

For the per-sample kernels (``nnexp.nn.kernels``) each class also writes into buffers allocated once:
``fn_into(z, a)`` writes a = f(z) (for sigmoid and tanh the ufunc itself: no Python call around it);
``backward_into(z, a, g, out, t, m, ones)`` writes out = dL/dz from g = dL/da, with t (float, same
shape) and m (bool) as scratch and ``ones`` a vector of ones (an array operand: NumPy takes a slower
path for a Python scalar). ``code`` numbers the activation for the compiled kernel, which has its own
loop form of each (``nnexp.nn.kernels.compiled``).
"""

import numpy as np
from scipy.special import expit, logit

from ..errors import ConfigError

LEAKY_SLOPE = 0.01
"""Slope of leaky relu for z < 0 (the value the classic convolutional network used)."""


class Sigmoid:
    """a = 1 / (1 + exp(-z));  da/dz = a (1 - a);  inverse: z = log(a / (1 - a)) (logit)."""

    name = "sigmoid"
    code = 0
    fn_into = expit

    @staticmethod
    def fn(z):
        return expit(z)

    @staticmethod
    def backward_into(z, a, g, out, t, m, ones):
        np.multiply(g, a, out)            # g a (1 - a), in the order of ``backward``
        np.subtract(ones, a, t)
        np.multiply(out, t, out)

    @staticmethod
    def backward(z, a, g):
        return g * a * (1 - a)

    @staticmethod
    def inverse(a):
        return logit(a)


class Tanh:
    """a = tanh(z);  da/dz = 1 - a^2;  inverse: z = artanh(a)."""

    name = "tanh"
    code = 1
    fn_into = np.tanh

    @staticmethod
    def fn(z):
        return np.tanh(z)

    @staticmethod
    def backward_into(z, a, g, out, t, m, ones):
        np.multiply(a, a, t)              # g (1 - a a)
        np.subtract(ones, t, t)
        np.multiply(g, t, out)

    @staticmethod
    def backward(z, a, g):
        return g * (1 - a * a)

    @staticmethod
    def inverse(a):
        return np.arctanh(a)


class Relu:
    """a = max(z, 0);  da/dz = [z > 0]. Not invertible (every z < 0 maps to 0)."""

    name = "relu"
    code = 2
    inverse = None

    @staticmethod
    def fn(z):
        return np.maximum(z, 0)

    @staticmethod
    def fn_into(z, a):
        np.maximum(z, 0, out=a)

    @staticmethod
    def backward_into(z, a, g, out, t, m, ones):
        np.greater(z, 0, m)               # g [z > 0]
        np.multiply(g, m, out)

    @staticmethod
    def backward(z, a, g):
        return g * (z > 0)


class LeakyRelu:
    """a = z for z > 0 else s z (s = LEAKY_SLOPE);  da/dz = 1 or s;  inverse: z = a or a / s."""

    name = "leaky_relu"
    code = 3

    @staticmethod
    def fn(z):
        return np.where(z > 0, z, LEAKY_SLOPE * z)

    @staticmethod
    def fn_into(z, a):
        np.multiply(z, LEAKY_SLOPE, a)    # z > 0: z, else s z  (s < 1, so this is max(z, s z))
        np.maximum(z, a, out=a)

    @staticmethod
    def backward_into(z, a, g, out, t, m, ones):
        np.multiply(g, LEAKY_SLOPE, out)  # g s, then g where z > 0
        np.greater(z, 0, m)
        np.copyto(out, g, where=m)

    @staticmethod
    def backward(z, a, g):
        return g * np.where(z > 0, 1, LEAKY_SLOPE).astype(z.dtype)

    @staticmethod
    def inverse(a):
        return np.where(a > 0, a, a / LEAKY_SLOPE)


class Identity:
    """a = z;  da/dz = 1 (a linear output, for regression)."""

    name = "identity"
    code = 4

    @staticmethod
    def fn(z):
        return z

    @staticmethod
    def fn_into(z, a):
        np.copyto(a, z)

    @staticmethod
    def backward_into(z, a, g, out, t, m, ones):
        np.copyto(out, g)

    @staticmethod
    def backward(z, a, g):
        return g

    @staticmethod
    def inverse(a):
        return a


class Softmax:
    """a_k = exp(z_k - max z) / sum_j exp(z_j - max z) (max-shifted, so it never overflows).

    Backward is the Jacobian-vector product: dL/dz_k = a_k (g_k - sum_j g_j a_j).
    Not invertible (adding a constant to z gives the same a).
    """

    name = "softmax"
    code = 5
    inverse = None

    @staticmethod
    def fn(z):
        e = np.exp(z - z.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)

    @staticmethod
    def fn_into(z, a):
        np.subtract(z, z.max(), a)        # exp(z - max z) / sum, of one sample's vector
        np.exp(a, a)
        np.divide(a, a.sum(), a)

    @staticmethod
    def backward_into(z, a, g, out, t, m, ones):
        np.multiply(g, a, t)              # a (g - sum_j g_j a_j)
        np.subtract(g, t.sum(), out)
        np.multiply(a, out, out)

    @staticmethod
    def backward(z, a, g):
        return a * (g - (g * a).sum(axis=-1, keepdims=True))


ACTIVATIONS = {f.name: f for f in (Sigmoid, Tanh, Relu, LeakyRelu, Identity, Softmax)}
"""The activation a name stands for (``model.output_activation=<name>``)."""
HIDDEN_ACTIVATIONS = {name: f for name, f in ACTIVATIONS.items() if f is not Softmax}
"""Those a hidden layer may use (``model.activation``, ``{type: activation, name: <name>}``)."""


def get_activation(name, hidden=False):
    """The activation called ``name``; softmax is only allowed as the output activation."""
    allowed = HIDDEN_ACTIVATIONS if hidden else ACTIVATIONS
    if name not in allowed:
        where = "hidden" if hidden else "output"
        raise ConfigError(f"unknown {where} activation {name!r}; choose one of {', '.join(allowed)}")
    return ACTIVATIONS[name]
