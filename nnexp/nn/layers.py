"""The layers every network is built from, CS231n style: each a small class with a forward and a backward.

Every layer is a ``Layer`` (the abstract base class below): ``forward``, ``backward``, its
``parameters`` (``Parameter`` records: each array with its gradient, its name and whether it decays) and a
readable ``repr``.

This module holds the layers of any network (dense, activation, flatten, dropout); convolution and
pooling are in ``nnexp.nn.conv``.
"""

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Optional, Union

import numpy as np

from ..errors import ConfigError
from .activations import get_activation
from .initializers import initial_biases, initial_weights

Shape = tuple[int, ...]
"""One sample's shape, without the batch axis: (n,) or (C, H, W)."""


def pair(v: Union[int, tuple[int, int], list[int]]) -> tuple[int, int]:
    """An int or a pair of ints as a tuple (height, width)."""
    if isinstance(v, (int, np.integer)):
        return int(v), int(v)
    h, w = v
    return int(h), int(w)


@dataclass(eq=False)
class Parameter:
    """One trainable array of a layer: ``value`` (updated in place by the optimizer), ``grad`` (dL/dvalue,
    same shape, filled by the layer's ``backward``; None before), ``name`` (the layer's own: W, b, Wd, Wp;
    the network numbers them for weight files) and ``decays`` (True where L2 weight decay applies:
    weights, not biases)."""

    value: np.ndarray
    name: str
    decays: bool
    grad: Optional[np.ndarray] = None


def gradient(p: Parameter) -> np.ndarray:
    """The gradient the layer's backward left in ``p``."""
    if p.grad is None:
        raise ValueError(f"parameter {p.name} has no gradient: call the network's backprop first")
    return p.grad


class Layer(ABC):
    """What every layer is (CS231n style):

    - ``forward(x, train=False, rng=None) -> out``. With ``train=True`` it keeps on ``self`` what
      ``backward`` needs (the cache); in inference (``train=False``) it keeps nothing, so predicting
      10,000 images does not hold their intermediate arrays. ``rng`` (a ``np.random.Generator``) is
      used only by dropout.
    - ``backward(dout) -> dx``: ``dout = dL/dout`` from the layer above, ``dx = dL/dx`` for the layer
      below, and each parameter's gradient left in its ``grad``. A layer with parameters whose
      ``input_grad`` is False (the network's first layer: nobody needs dL/dinputs) returns None instead
      of dx and skips that work.
    - ``parameters``: its ``Parameter`` records, in the order weight files number them (none: []).
    - ``output_shape(shape)``: one sample's output shape for one sample's input shape.
    - ``repr``: the layer and its settings, e.g. ``Dense(784 -> 100, bias)``.
    """

    input_grad: bool = True

    @property
    @abstractmethod
    def parameters(self) -> list[Parameter]:
        """Its ``Parameter`` records, in the order weight files number them (none: [])."""

    def output_shape(self, shape: Shape) -> Shape:
        """Shape of one sample's output for one sample's input ``shape`` (no batch axis)."""
        return shape

    @abstractmethod
    def forward(self, x: np.ndarray, train: bool = False, rng: Optional[np.random.Generator] = None) -> np.ndarray:
        """The layer's output for a batch ``x``."""

    @abstractmethod
    def backward(self, dout: np.ndarray) -> Optional[np.ndarray]:
        """dL/dx from dL/dout (after a forward with train=True); parameter gradients into their ``grad``."""

    @abstractmethod
    def __repr__(self) -> str:
        """The layer and its settings."""


class ParameterFreeLayer(Layer):
    """A layer without parameters (flatten, dropout, activation, pooling)."""

    @property
    def parameters(self) -> list[Parameter]:
        return []


class WeightLayer(Layer):
    """A layer with a weight array W (decayed) and an optional bias b (not decayed)."""

    W: np.ndarray
    b: Optional[np.ndarray]
    _parameters: list[Parameter]

    @property
    def parameters(self) -> list[Parameter]:
        """W, then b if the layer has a bias."""
        return self._parameters

    def _init_params(self, w_shape, fans, bias_units, init, rng, dtype, uniform_limit):
        """W of ``w_shape`` (decayed) and, unless ``bias_units`` is None, b of that size (not decayed),
        drawn in float64 by ``nnexp.nn.initializers`` from ``fans`` = (fan_in, fan_out) (he:
        N(0, 2 / fan_in), ...) and cast to dtype."""
        rng = np.random.default_rng() if rng is None else rng
        self.W = initial_weights(init, w_shape, *fans, rng, uniform_limit).astype(dtype)
        self.b = None
        if bias_units is not None:
            self.b = initial_biases(init, (bias_units,), rng, uniform_limit).astype(dtype)
        self._keep_params()

    def _keep_params(self) -> None:
        """Make W and b (if any) the layer's parameters: call once they are final."""
        self._parameters = [Parameter(self.W, "W", True)]
        if self.b is not None:
            self._parameters.append(Parameter(self.b, "b", False))

    def _set_grads(self, dw: np.ndarray, db: Optional[np.ndarray] = None) -> None:
        """The gradients of W and (with a bias) b."""
        self.parameters[0].grad = dw
        if self.b is not None:
            self.parameters[1].grad = db

    @property
    def bias_text(self) -> str:
        return "bias" if self.b is not None else "no bias"


class Flatten(ParameterFreeLayer):
    """x: (N, C, H, W) -> (N, C H W), row-major; the backward reshapes the error back."""

    def output_shape(self, shape):
        return (int(np.prod(shape)),)

    def forward(self, x, train=False, rng=None):
        if train:
            self.cache = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, dout):
        return dout.reshape(self.cache)

    def __repr__(self):
        return "Flatten()"


class Dense(WeightLayer):
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
        self._init_params(shape, (in_features, units), units if bias else None, init, rng, dtype, uniform_limit)
        if in_out_order:
            self.W = np.ascontiguousarray(self.W.T)
            self._keep_params()

    def __repr__(self):
        return f"Dense({self.W.shape[1]} -> {self.W.shape[0]}, {self.bias_text})"

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
        """dout: (N, out) -> dx: (N, in); gradients dW (out, in), db (out,)."""
        x = self.cache
        self._set_grads((x.T @ dout).T if self.in_out_order else outer_product_sum(dout, x),
                        dout.sum(axis=0) if self.b is not None else None)
        return dout @ self.W if self.input_grad else None


def outer_product_sum(dout, x):
    """dout^T x: (out, in) from dout (N, out) and x (N, in). For a batch of one it is the outer product,
    through np.dot: NumPy's matmul does not hand an inner dimension of 1 to BLAS (measured 130 µs against
    np.dot's 17 µs for 100 x 784 in float32), and each entry is then one product, so both give the same
    numbers. Larger batches keep matmul."""
    return np.dot(dout.T, x) if len(x) == 1 else dout.T @ x


class Dropout(ParameterFreeLayer):
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

    def __repr__(self):
        return f"Dropout({self.rate})"


class CompiledMoves:
    """A layer whose data movement (im2col, col2im, pooling, relu) may run compiled: ``compiled`` is None
    (the NumPy code, the reference) or ``nnexp.nn.compiled_moves`` (numba's threads, the same numbers bit
    for bit), set by ``Network.compile_data_movement``. Arrays below the module's MIN_ELEMENTS stay with
    NumPy: starting numba's threads costs more than moving a few values."""

    compiled = None

    def moves_compiled(self, x):
        return self.compiled is not None and x.size >= self.compiled.MIN_ELEMENTS


class Activation(CompiledMoves, ParameterFreeLayer):
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

    def __repr__(self):
        return f"Activation({self.name})"
