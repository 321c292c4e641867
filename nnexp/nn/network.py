"""The network: layers in order (``nnexp.nn.layers``, ``nnexp.nn.conv``), then the output activation
and the loss. A fully connected network (MLP) and a convolutional one are the same class; an MLP is
the stack [dense, activation, dense, ..., dense].

Notation (Nielsen's, per dense layer l = 1..L with W_l: (n_l, n_{l-1}), b_l: (n_l,)): a batch x
(N, n_0) flows as a_0 = x, z_l = a_{l-1} W_l^T + b_l, a_l = f_l(z_l); the last layer's z_L goes
through the output activation a_L = f_L(z_L). The errors delta_l = dC/dz_l flow back as

    delta_L = loss.delta(z_L, a_L, y)      (divided by N for the mean loss)

and every layer's ``backward`` turns the error from above into the error below and its gradients:
for a dense layer dC/dW_l = delta_l^T a_{l-1}, dC/db_l = sum over the batch of delta_l, and the
activation below gives delta_{l-1} = f'_{l-1}(z_{l-1}) * (delta_l W_l).

Weights files (and checkpoints) name the parameters of the k-th layer that has any ``W{k}``, ``b{k}``
(``Wd{k}``, ``Wp{k}``, ``b{k}`` for a separable convolution: depthwise, pointwise, bias): for an MLP
that is W1..WL, b1..bL, the format nnexp 0.2 wrote. Files of nnexp 0.2's CNN (``conv1.W``,
``dense1.W`` stored as (in, out), ...) load too (``legacy_state``).
"""

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Optional, cast

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from ..errors import WeightsError
from .conv import Conv2D, SeparableConv2D
from .layers import Activation, Dense, Layer, Parameter, Shape, gradient

PREDICT_ELEMENTS = 4096 * 784
"""Predict in chunks whose largest per-sample array, times the rows of a chunk, stays below this
many elements (4,096 rows of a 784-input MLP; 128 images of the default CNN's 32x28x28 maps)."""


@dataclass
class DenseStack:
    """A network seen as Nielsen's MLP, for the per-sample kernels and the inverse query: W_l
    (n_l, n_{l-1}) and b_l (or None) of every dense layer, f_l of every layer (the hidden
    activations, then the output's), the widths n_0..n_L and the loss. Arrays are the network's own."""

    weights: list[np.ndarray]
    biases: Optional[list[np.ndarray]]
    activations: list[Any]
    sizes: list[int]
    loss: Any


class Network:
    """``layers`` with their display ``names`` (conv1, relu1, dense1, ...), for inputs of one-sample
    shape ``input_shape`` ((n_0,) or (C, H, W), arriving flat as (N, prod)); then ``output`` (an
    activation class) and ``loss`` (bound to it, ``nnexp.nn.losses``)."""

    parameters: dict[str, Parameter]
    """Every layer's parameters in order, by the names weight files give them (W1, b1, W2, ...)."""

    def __init__(self, layers: list[Layer], names: list[str], input_shape: Sequence[int], output: Any, loss: Any,
                 dtype: DTypeLike = np.float32) -> None:
        self.layers, self.names = layers, names
        layers[0].input_grad = False
        self.input_shape = tuple(int(s) for s in input_shape)
        self.output, self.loss, self.dtype = output, loss, np.dtype(dtype)
        self.parameters = named_parameters(layers)
        self.predict_rows = max(1, PREDICT_ELEMENTS // largest_sample(layers, self.input_shape))

    def inputs(self, x: ArrayLike) -> np.ndarray:
        """Flat inputs ``(N, prod(input_shape))`` (or already ``(N, *input_shape)``) as a ``(N, *input_shape)``
        array of the network's dtype."""
        x = np.asarray(x, dtype=self.dtype)
        if x.ndim == 1 + len(self.input_shape) and x.shape[1:] == self.input_shape:
            return x
        size = math.prod(self.input_shape)
        if x.ndim != 2 or x.shape[1] != size:
            raise ValueError(f"inputs of shape {x.shape} do not fit input_shape {self.input_shape}: "
                             f"expected (N, {size})")
        return x.reshape(-1, *self.input_shape)

    def forward(self, x: ArrayLike, train: bool = False, rng: Optional[np.random.Generator] = None) -> np.ndarray:
        """The last layer's weighted output z_L: (N, K), before the output activation."""
        out = self.inputs(x)
        for layer in self.layers:
            out = layer.forward(out, train, rng)
        return out

    def backward(self, delta: np.ndarray) -> Optional[np.ndarray]:
        """Pass the output error delta = dC/dz_L (N, K) down through every layer's ``backward``
        (after a ``forward`` with train=True); returns dC/dx when the first layer computes it."""
        out: Any = delta   # None only from the first layer, when it skips dC/dx
        for layer in reversed(self.layers):
            out = layer.backward(out)
        return out

    def backprop(self, x: ArrayLike, y: ArrayLike, mean: bool = True,
                 rng: Optional[np.random.Generator] = None) -> np.ndarray:
        """Per-sample losses (N,); the gradients of their mean (or sum) left in each parameter's ``grad``.

        x: (N, n_0), y: (N, K). Training mode: dropout draws its masks from ``rng``.
        """
        z = self.forward(x, train=True, rng=rng)
        y = np.asarray(y, dtype=self.dtype)
        a = self.output.fn(z)
        losses = self.loss.fn(z, a, y)
        delta = self.loss.delta(z, a, y)
        if mean and len(z) > 1:   # the mean of one sample is itself: no division (a per-sample step's time)
            delta = delta / np.asarray(len(z), self.dtype)
        self.backward(delta)
        return losses

    def loss_and_grads(self, x: ArrayLike, y: ArrayLike, mean: bool = True,
                       rng: Optional[np.random.Generator] = None) -> tuple[np.ndarray, list[np.ndarray]]:
        """``backprop``'s losses and the gradients it left, in ``parameters`` order."""
        losses = self.backprop(x, y, mean, rng)
        return losses, [gradient(p) for p in self.parameters.values()]

    def input_gradient(self, x: np.ndarray, delta_of: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
        """dS/dx of a score S of the outputs: x (N, n_0) -> (N, n_0), with ``delta_of(z)`` giving
        dS/dz_L (N, K) from the weighted outputs; the first layer computes dx for this call."""
        z = self.forward(x, train=True)
        first = self.layers[0]
        first.input_grad = True
        try:
            return cast(np.ndarray, self.backward(delta_of(z))).reshape(len(x), -1)
        finally:
            first.input_grad = False

    def logits(self, x: ArrayLike) -> np.ndarray:
        """Weighted outputs z_L: (N, K) in inference mode (no dropout), ``predict_rows`` at a time."""
        x = np.asarray(x)
        chunks = [self.forward(x[i:i + self.predict_rows]) for i in range(0, len(x), self.predict_rows)]
        return np.concatenate(chunks) if chunks else np.zeros((0, self.n_outputs), self.dtype)

    def predict(self, x: ArrayLike) -> np.ndarray:
        """Output activations a_L = f(z_L): (N, K) in inference mode (no dropout)."""
        return self.output.fn(self.logits(x))

    @property
    def n_outputs(self) -> int:
        """K, the width of the last (dense) layer."""
        return int(cast(Dense, self.layers[-1]).W.shape[0])

    def state(self) -> dict[str, np.ndarray]:
        """Copies of the parameters by name (W1, b1, W2, ...; see the module docstring) for an .npz."""
        return {key: p.value.copy() for key, p in self.parameters.items()}

    def load_state(self, arrays: Mapping[str, np.ndarray], source: str = "weights") -> None:
        """Copy named ``arrays`` into the parameters in place, after ``check_state`` has checked every
        name and shape (WeightsError naming ``source``); nnexp 0.2 CNN files are translated first."""
        arrays = legacy_state(arrays, self) if any("." in key for key in arrays) else arrays
        check_state({key: p.value for key, p in self.parameters.items()}, arrays, source)
        for key, p in self.parameters.items():
            p.value[...] = arrays[key]

    def dense_stack(self) -> Optional[DenseStack]:
        """This network as a DenseStack, or None unless its layers are dense and activation layers
        in turn, beginning and ending with a dense layer, all with biases or all without."""
        dense, activations = self.layers[::2], self.layers[1::2]
        if not (all(type(d) is Dense for d in dense) and all(type(a) is Activation for a in activations)
                and len(dense) == len(activations) + 1 and len(self.input_shape) == 1):
            return None
        biases = [d.b for d in dense if isinstance(d, Dense) and d.b is not None]
        if biases and len(biases) < len(dense):
            return None
        return DenseStack(weights=[d.W for d in dense if isinstance(d, Dense)], biases=biases or None,
                          activations=[a.fn for a in activations if isinstance(a, Activation)] + [self.output],
                          sizes=[self.input_shape[0]] + [d.W.shape[0] for d in dense if isinstance(d, Dense)],
                          loss=self.loss)

    def feature_maps(self, x: ArrayLike) -> list[tuple[str, np.ndarray]]:
        """(name, array) for one input x (flat, shaped, or a batch of one): the input, every layer's
        output (conv maps (F, Ho, Wo), dense vectors (units,)) and the output activation."""
        image = np.asarray(x, dtype=self.dtype).reshape(1, *self.input_shape)
        maps, out = [("input", image[0])], image
        for name, layer in zip(self.names, self.layers):
            out = layer.forward(out)
            maps.append((name, out[0]))
        maps.append((self.output.name, self.output.fn(out)[0]))
        return maps

    def compile_data_movement(self, enabled, threads=None):
        """Run the conv and pooling layers' data movement on numba's ``threads`` (nnexp.nn.compiled_moves:
        the same numbers bit for bit) when ``enabled``, else on NumPy (the reference). Returns whether any
        layer moves its data compiled."""
        movers = [part for layer in self.layers for part in getattr(layer, "parts", (layer,))
                  if hasattr(part, "compiled")]
        compiled = None
        if enabled and movers:
            from . import compiled_moves

            compiled_moves.set_threads(threads)
            compiled = compiled_moves
        for layer in movers:
            layer.compiled = compiled
        return compiled is not None

    def first_conv_filters(self) -> Optional[np.ndarray]:
        """The first conv layer's filters (F, C, kh, kw) (the effective ones if separable), or None."""
        for layer in self.layers:
            if isinstance(layer, SeparableConv2D):
                return layer.filters
            if isinstance(layer, Conv2D):
                return layer.W
        return None


def largest_sample(layers: list[Layer], shape: Shape) -> int:
    """The most elements one sample occupies at any layer's input or output."""
    largest = int(np.prod(shape))
    for layer in layers:
        shape = layer.output_shape(shape)
        largest = max(largest, int(np.prod(shape)))
    return largest


def named_parameters(layers: list[Layer]) -> dict[str, Parameter]:
    """Every layer's parameters in order, by the name weight files give them: ``{name}{k}`` for the
    k-th layer with any (W1, b1, W2, ...)."""
    named: dict[str, Parameter] = {}
    k = 0
    for layer in layers:
        if layer.parameters:
            k += 1
            named.update((f"{p.name}{k}", p) for p in layer.parameters)
    return named


LEGACY_KEY = re.compile(r"(?P<layer>[a-z]+\d+)\.(?:(?P<part>depthwise|pointwise)\.)?(?P<param>[Wb])")
"""Parameter names of nnexp 0.2's CNN: conv1.W, conv2.b, dense1.W, conv1.depthwise.W ..."""


def legacy_state(arrays, network):
    """``arrays`` of an nnexp 0.2 CNN file renamed to this version's keys: 0.2 named parameters by
    layer (conv1.W, dense1.W) and stored a dense W as (in, out); W{k} here is (out, in)."""
    layer_keys = [name for name, layer in zip(network.names, network.layers) if layer.parameters]
    renamed = {}
    for key, value in arrays.items():
        match = LEGACY_KEY.fullmatch(key)
        if match is None or match["layer"] not in layer_keys:
            renamed[key] = value
            continue
        k = layer_keys.index(match["layer"]) + 1
        part = {"depthwise": "Wd", "pointwise": "Wp"}.get(match["part"], "W") if match["param"] == "W" else "b"
        renamed[f"{part}{k}"] = value.T if match["layer"].startswith("dense") and value.ndim == 2 else value
    return renamed


def check_state(expected, found, source):
    """Raise WeightsError unless ``found`` has exactly the names and shapes of ``expected``."""
    missing = sorted(set(expected) - set(found))
    unexpected = sorted(set(found) - set(expected))
    common = sorted(set(expected) & set(found))
    wrong = [f"{name} {tuple(found[name].shape)} (expected {tuple(expected[name].shape)})"
             for name in common if found[name].shape != expected[name].shape]
    not_float = [f"{name} {found[name].dtype}" for name in common if found[name].dtype.kind != "f"]
    problems = ([f"missing {', '.join(missing)}"] if missing else []) + \
               ([f"unexpected {', '.join(unexpected)}"] if unexpected else []) + \
               ([f"wrong shape {', '.join(wrong)}"] if wrong else []) + \
               ([f"not floating point {', '.join(not_float)}"] if not_float else [])
    if problems:
        raise WeightsError(f"{source} does not fit the configured network: {'; '.join(problems)}")
    nonfinite = [name for name in sorted(expected) if not np.isfinite(found[name]).all()]
    if nonfinite:
        raise WeightsError(f"{source} holds non-finite values in {', '.join(nonfinite)}")
