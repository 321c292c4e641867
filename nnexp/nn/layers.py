"""The layers every network is built from, CS231n style: each a small class with a forward and a backward.

Every layer has the same interface:

- ``forward(x, train=False, rng=None) -> out``. With ``train=True`` it keeps on ``self`` what
  ``backward`` needs (the cache); in inference (``train=False``) it keeps nothing, so predicting
  10,000 images does not hold their intermediate arrays. ``rng`` (a ``np.random.Generator``) is
  used only by dropout.
- ``backward(dout) -> dx``: ``dout = dL/dout`` from the layer above, ``dx = dL/dx`` for the layer
  below, and the parameter gradients left in ``self.grads``. A layer with parameters whose
  ``input_grad`` is False (the network's first layer: nobody needs dL/dinputs) returns None instead
  of dx and skips that work.
- ``params`` (list of arrays, updated in place by the optimizer), ``grads`` (same order, filled by
  ``backward``), ``param_names`` (for weight files) and ``decay`` (True where L2 weight decay
  applies: weights, not biases).

This module holds the layers of any network (dense, activation, flatten, dropout); convolution and
pooling are in ``nnexp.nn.conv``.
"""

import numpy as np

from ..errors import ConfigError
from .activations import get_activation
from .initializers import initial_biases, initial_weights


def pair(v):
    """An int or a pair of ints as a tuple (height, width)."""
    if isinstance(v, (int, np.integer)):
        return int(v), int(v)
    h, w = v
    return int(h), int(w)


class Layer:
    """Base: no parameters, nothing to decay."""

    input_grad = True

    def __init__(self):
        self.params, self.grads, self.param_names, self.decay = [], [], [], []

    def output_shape(self, shape):
        """Shape of one sample's output for one sample's input ``shape`` (no batch axis)."""
        return shape

    def _init_params(self, w_shape, fan_in, fan_out, bias, init, rng, dtype, uniform_limit, units=None):
        """W (decayed) and, if ``bias``, b of size ``units`` (default w_shape[0]) (not decayed),
        drawn in float64 by ``nnexp.nn.initializers`` (he: N(0, 2 / fan_in), ...) and cast to dtype."""
        rng = np.random.default_rng() if rng is None else rng
        self.W = initial_weights(init, w_shape, fan_in, fan_out, rng, uniform_limit).astype(dtype)
        self.params, self.param_names, self.decay = [self.W], ["W"], [True]
        self.b = None
        if bias:
            units = w_shape[0] if units is None else units
            self.b = initial_biases(init, (units,), rng, uniform_limit).astype(dtype)
            self.params.append(self.b)
            self.param_names.append("b")
            self.decay.append(False)




class Flatten(Layer):
    """x: (N, C, H, W) -> (N, C H W), row-major; the backward reshapes the error back."""

    def output_shape(self, shape):
        return (int(np.prod(shape)),)

    def forward(self, x, train=False, rng=None):
        if train:
            self.cache = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, dout):
        return dout.reshape(self.cache)


class Dense(Layer):
    """Fully connected layer, z = x W^T + b with W: (out, in) (Nielsen's layout: row o holds the
    weights into unit o; the per-sample kernels hand it to BLAS as it is).

    x: (N, in), W: (out, in), b: (out,), z: (N, out);
    dW = dout^T x, db = sum_n dout[n], dx = dout W.

    ``in_out_order``: the order of operations of the layer lists of nnexp 0.2 (``model.layers``, the
    CNN presets), which kept W as (in, out): draw the initial W as an (in, out) array (stored
    transposed) and compute dW as (x^T dout)^T. The same numbers in exact arithmetic; BLAS rounds
    x^T dout and dout^T x differently in the last bit, so this keeps a seed's network and its
    training, and the published results of those presets, bit for bit as before.
    """

    def __init__(self, in_features, units, bias=True, init="he", rng=None, dtype=np.float32,
                 uniform_limit=0.5, in_out_order=False):
        super().__init__()
        self.in_out_order = in_out_order
        shape = (in_features, units) if in_out_order else (units, in_features)
        self._init_params(shape, in_features, units, bias, init, rng, dtype, uniform_limit,
                          units=units)
        if in_out_order:
            self.W = self.params[0] = np.ascontiguousarray(self.W.T)

    def output_shape(self, shape):
        return (self.W.shape[0],)

    def forward(self, x, train=False, rng=None):
        """x: (N, in) -> x W^T + b: (N, out)."""
        out = x @ self.W.T
        if self.b is not None:
            out += self.b
        if train:
            self.cache = x
        return out

    def backward(self, dout):
        """dout: (N, out) -> dx: (N, in); grads [dW (out, in), db (out,)]."""
        x = self.cache
        self.grads = [(x.T @ dout).T if self.in_out_order else outer_product_sum(dout, x)]
        if self.b is not None:
            self.grads.append(dout.sum(axis=0))
        return dout @ self.W if self.input_grad else None


def outer_product_sum(dout, x):
    """dout^T x: (out, in) from dout (N, out) and x (N, in). For a batch of one it is the outer product,
    through np.dot: NumPy's matmul does not hand an inner dimension of 1 to BLAS (measured 130 µs against
    np.dot's 17 µs for 100 x 784 in float32), and each entry is then one product, so both give the same
    numbers. Larger batches keep matmul."""
    return np.dot(dout.T, x) if len(x) == 1 else dout.T @ x


class Dropout(Layer):
    """Inverted dropout: in training, out = x m / (1 - rate) with m ~ Bernoulli(1 - rate) per entry,
    so the expected activation is unchanged and inference is the identity. dx = dout m / (1 - rate).
    Any shape. Training needs ``rng`` (a np.random.Generator): a missing one is an error, not a
    silent switch-off.
    """

    def __init__(self, rate):
        super().__init__()
        if not 0.0 <= rate < 1.0:
            raise ConfigError(f"dropout rate must be in [0, 1), got {rate!r}")
        self.rate = float(rate)

    def forward(self, x, train=False, rng=None):
        if not train or self.rate == 0.0:
            self.cache = None
            return x
        if rng is None:
            raise ValueError("dropout in training mode needs rng=np.random.Generator")
        keep = 1.0 - self.rate
        self.cache = (rng.random(x.shape) < keep).astype(x.dtype) / np.asarray(keep, x.dtype)
        return x * self.cache

    def backward(self, dout):
        return dout if self.cache is None else dout * self.cache


class CompiledMoves:
    """A layer whose data movement (im2col, col2im, pooling, relu) may run compiled: ``compiled`` is None
    (the NumPy code, the reference) or ``nnexp.nn.kernels.images`` (numba's threads, the same numbers bit
    for bit), set by ``Network.compile_data_movement``. Arrays below the module's MIN_ELEMENTS stay with
    NumPy: starting numba's threads costs more than moving a few values."""

    compiled = None

    def moves_compiled(self, x):
        return self.compiled is not None and x.size >= self.compiled.MIN_ELEMENTS


class Activation(CompiledMoves, Layer):
    """Elementwise hidden activation a = f(z) from ``nnexp.nn.activations`` (relu, leaky_relu, sigmoid,
    tanh, identity), any shape; backward dz = f'(z) * da via the activation's own ``backward``.
    """

    def __init__(self, name):
        super().__init__()
        self.name = name
        self.fn = get_activation(name, hidden=True)

    def forward(self, z, train=False, rng=None):
        a = self.compiled.relu(z) if self.fn.name == "relu" and self.moves_compiled(z) else self.fn.fn(z)
        if train:
            self.cache = (z, a)
        return a

    def backward(self, dout):
        z, a = self.cache
        if self.fn.name == "relu" and self.moves_compiled(z):
            return self.compiled.relu_backward(z, dout)
        return self.fn.backward(z, a, dout)
