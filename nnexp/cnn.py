"""A convolutional network built from a layer list in the config, with the same model interface as
the MLP (``params``, ``decay``, ``loss``, ``loss_and_grads``, ``predict``, ``state``, ``load_state``).

A layer list is a list of plain dicts, one per layer, in order (the output activation and loss are
not layers; they come from ``output_activation`` and ``loss``)::

    {type: conv, filters: 32, kernel: 3, pad: 1}    # also stride (1), dilation (1), bias (model's)
    {type: activation, name: relu}                  # relu, leaky_relu, sigmoid, tanh, identity
    {type: pool, mode: max, size: 2}                # mode max|avg, stride (default: size)
    {type: flatten}
    {type: dense, units: 128}                       # also bias (model's); units: null -> n_outputs
    {type: dropout, rate: 0.5}

``kernel`` and ``pad`` may be an int or a [height, width] pair; ``pad: same`` keeps the size at
stride 1 (odd kernels). The list must end with a dense layer whose units equal the number of
classes (null: filled from ``n_outputs``). ``conv_type`` changes every conv layer of the stack:
standard as written; dilated uses dilation 2 and pads (k - 1) / 2 more on each side, so every
output keeps the standard size (odd kernels); separable is depthwise kh x kw per channel followed
by a 1x1 pointwise conv with the layer's filters.
"""

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, List

import numpy as np

from .activations import get_activation
from .errors import ConfigError
from .initializers import INITIALIZERS
from .layers import Activation, Conv2D, Dense, Dropout, Flatten, Pool2D, SeparableConv2D
from .losses import make_loss
from .network import check_state

CLASSIC_LAYERS = [
    {"type": "conv", "filters": 8, "kernel": 5, "pad": 2},
    {"type": "activation", "name": "leaky_relu"},
    {"type": "pool", "mode": "max", "size": 2},
    {"type": "conv", "filters": 16, "kernel": 5, "pad": 2},
    {"type": "activation", "name": "leaky_relu"},
    {"type": "pool", "mode": "max", "size": 2},
    {"type": "flatten"},
    {"type": "dense", "units": None},
]
"""The classic network of CLASSICS.md section 4: 28x28 -> 8@28x28 -> 8@14x14 -> 16@14x14 -> 16@7x7
-> 784 -> 10 (softmax output)."""

DEFAULT_LAYERS = [
    {"type": "conv", "filters": 32, "kernel": 3, "pad": 1},
    {"type": "activation", "name": "relu"},
    {"type": "pool", "mode": "max", "size": 2},
    {"type": "conv", "filters": 64, "kernel": 3, "pad": 1},
    {"type": "activation", "name": "relu"},
    {"type": "pool", "mode": "max", "size": 2},
    {"type": "flatten"},
    {"type": "dense", "units": 128},
    {"type": "activation", "name": "relu"},
    {"type": "dropout", "rate": 0.5},
    {"type": "dense", "units": None},
]
"""The default stack: 28x28 -> 32@28x28 -> 32@14x14 -> 64@14x14 -> 64@7x7 -> 3136 -> 128 -> 10."""

LAYER_KEYS = {
    "conv": {"filters", "kernel", "stride", "pad", "dilation", "bias"},
    "activation": {"name"},
    "pool": {"mode", "size", "stride"},
    "flatten": set(),
    "dense": {"units", "bias"},
    "dropout": {"rate"},
}
REQUIRED_KEYS = {"conv": {"filters", "kernel"}, "activation": {"name"}, "dense": {"units"},
                 "dropout": {"rate"}}
CONV_TYPES = ("standard", "dilated", "separable")
PREDICT_CHUNK = 256
"""Images per forward pass in ``predict``: bounds the im2col memory (about 60 MB for the default)."""


@dataclass
class CNNConfig:
    """Hydra schema of ``model=cnn``: the layer list and how the network is set up."""

    name: str = "cnn"
    layers: List[Any] = field(default_factory=lambda: [dict(layer) for layer in DEFAULT_LAYERS])
    output_activation: str = "softmax"
    loss: str = "cross_entropy"
    init: str = "he"
    uniform_limit: float = 0.5
    bias: bool = True
    conv_type: str = "standard"


def _as_dict(cfg):
    """A plain dict from a CNNConfig, an OmegaConf DictConfig or a mapping."""
    if dataclasses.is_dataclass(cfg):
        return dataclasses.asdict(cfg)
    try:
        from omegaconf import DictConfig, OmegaConf
        if isinstance(cfg, DictConfig):
            return OmegaConf.to_container(cfg, resolve=True)
    except ImportError:
        pass
    if isinstance(cfg, Mapping):
        return dict(cfg)
    raise ConfigError(f"model config must be a mapping or CNNConfig, got {type(cfg).__name__}")


def _check_spec(idx, spec):
    """The layer type of ``spec`` after checking its keys (unknown and missing keys are errors)."""
    if not isinstance(spec, Mapping) or "type" not in spec:
        raise ConfigError(f"model.layers[{idx}] must be a dict with a 'type' key, got {spec!r}")
    kind = spec["type"]
    if kind not in LAYER_KEYS:
        raise ConfigError(f"model.layers[{idx}] has unknown type {kind!r}; "
                          f"choose one of {', '.join(LAYER_KEYS)}")
    unknown = set(spec) - LAYER_KEYS[kind] - {"type"}
    if unknown:
        raise ConfigError(f"model.layers[{idx}] ({kind}) has unknown keys {sorted(unknown)}; "
                          f"allowed: {sorted(LAYER_KEYS[kind])}")
    missing = REQUIRED_KEYS.get(kind, set()) - set(spec)
    if missing:
        raise ConfigError(f"model.layers[{idx}] ({kind}) needs {sorted(missing)}")
    return kind


def _conv_geometry(idx, spec, conv_type):
    """(kernel, pad, dilation) of a conv layer after applying ``conv_type`` (dilated: d = 2)."""
    kernel = spec["kernel"]
    kh, kw = (kernel, kernel) if isinstance(kernel, int) else tuple(kernel)
    pad, dilation = spec.get("pad", 0), spec.get("dilation", 1)
    if conv_type == "dilated":
        if dilation != 1:
            raise ConfigError(f"model.layers[{idx}] sets dilation={dilation} and conv_type=dilated; "
                              "use one or the other")
        if kh % 2 == 0 or kw % 2 == 0:
            raise ConfigError(f"conv_type=dilated keeps the output size only for odd kernels; "
                              f"model.layers[{idx}] has kernel {kernel}")
        dilation = 2
        if pad != "same":
            ph, pw = (pad, pad) if isinstance(pad, int) else tuple(pad)
            pad = (ph + (kh - 1) // 2, pw + (kw - 1) // 2)
    if pad == "same":
        if (dilation * (kh - 1)) % 2 or (dilation * (kw - 1)) % 2:
            raise ConfigError(f"model.layers[{idx}] pad=same needs an odd kernel, got {kernel}")
        pad = (dilation * (kh - 1) // 2, dilation * (kw - 1) // 2)
    return (kh, kw), pad, dilation


def _make_layer(idx, spec, shape, cfg, units, rng, dtype):
    """The layer for ``spec`` given one sample's input ``shape``."""
    kind = spec["type"]
    weights = dict(init=cfg["init"], rng=rng, dtype=dtype, uniform_limit=cfg["uniform_limit"])
    if kind in ("conv", "pool") and len(shape) != 3:
        raise ConfigError(f"model.layers[{idx}] ({kind}) needs (C, H, W) input, got {shape}")
    if kind == "dense" and len(shape) != 1:
        raise ConfigError(f"model.layers[{idx}] (dense) gets input of shape {shape}; "
                          "put {type: flatten} before it")
    if kind == "conv":
        kernel, pad, dilation = _conv_geometry(idx, spec, cfg["conv_type"])
        cls = SeparableConv2D if cfg["conv_type"] == "separable" else Conv2D
        return cls(shape[0], spec["filters"], kernel, spec.get("stride", 1), pad, dilation,
                   spec.get("bias", cfg["bias"]), **weights)
    if kind == "activation":
        return Activation(spec["name"])
    if kind == "pool":
        return Pool2D(spec.get("mode", "max"), spec.get("size", 2), spec.get("stride"))
    if kind == "flatten":
        return Flatten()
    if kind == "dense":
        return Dense(shape[0], units, spec.get("bias", cfg["bias"]), **weights)
    return Dropout(spec["rate"])


def _dense_units(idx, spec, last, n_outputs):
    """Units of a dense layer; the last one's must be the number of classes (null: n_outputs)."""
    units = spec["units"]
    if not last:
        if units is None:
            raise ConfigError(f"model.layers[{idx}] (dense) needs units; only the last may be null")
        return units
    if units is None and n_outputs is None:
        raise ConfigError("the last dense layer has units=null and n_outputs is not known")
    if units is not None and n_outputs is not None and units != n_outputs:
        raise ConfigError(f"the last dense layer has units={units} but the data have {n_outputs} "
                          f"classes (n_outputs); set its units to {n_outputs} or null")
    return n_outputs if units is None else units


def _layer_name(kind, layer, counts):
    """A readable, numbered layer name: conv1, relu1, maxpool1, flatten1, dense1, dropout1..."""
    base = {"activation": getattr(layer, "name", kind),
            "pool": f"{getattr(layer, 'mode', '')}pool"}.get(kind, kind)
    counts[base] = counts.get(base, 0) + 1
    return f"{base}{counts[base]}"


def build_cnn(model_cfg, input_shape, n_outputs, dtype=np.float32, rng=None):
    """The CNN described by ``model_cfg`` (CNNConfig, DictConfig or dict) for inputs of
    ``input_shape = (C, H, W)`` (arriving flat as (N, C H W)) and ``n_outputs`` classes.
    Weights are drawn from ``rng`` (a np.random.Generator; default seed 0).
    """
    cfg = {**dataclasses.asdict(CNNConfig()), **_as_dict(model_cfg)}
    rng = np.random.default_rng(0) if rng is None else rng
    dtype = np.dtype(dtype)
    if cfg["conv_type"] not in CONV_TYPES:
        raise ConfigError(f"unknown model.conv_type {cfg['conv_type']!r}; "
                          f"choose one of {', '.join(CONV_TYPES)}")
    if cfg["init"] not in INITIALIZERS:
        raise ConfigError(f"unknown model.init {cfg['init']!r}; "
                          f"choose one of {', '.join(INITIALIZERS)}")
    output = get_activation(cfg["output_activation"])
    loss = make_loss(cfg["loss"], output)
    specs = list(cfg["layers"])
    kinds = [_check_spec(i, spec) for i, spec in enumerate(specs)]
    if not specs or kinds[-1] != "dense":
        raise ConfigError("model.layers must end with a {type: dense, units: null} layer "
                          "(its units are the number of classes)")
    shape = tuple(int(s) for s in input_shape)
    if len(shape) != 3:
        raise ConfigError(f"the CNN needs input_shape (C, H, W), got {input_shape!r}")
    layers, names, counts = [], [], {}
    for i, (spec, kind) in enumerate(zip(specs, kinds)):
        units = _dense_units(i, spec, i == len(specs) - 1, n_outputs) if kind == "dense" else None
        layer = _make_layer(i, spec, shape, cfg, units, rng, dtype)
        shape = layer.output_shape(shape)
        if min(shape) < 1:
            raise ConfigError(f"model.layers[{i}] ({kind}) leaves no output: shape {shape}; "
                              "use more padding, smaller kernels or fewer pooling layers")
        layers.append(layer)
        names.append(_layer_name(kind, layer, counts))
    return CNN(layers, names, shape_in=tuple(int(s) for s in input_shape), output=output, loss=loss,
               dtype=dtype)


class CNN:
    """A stack of layers (``nnexp.layers``) followed by the output activation and the loss.

    Forward: z = layers(x) for x reshaped from (N, C H W) to (N, C, H, W); a = output(z).
    Backward: the output error delta = dL/dz (``loss.delta``, a - y for softmax + cross-entropy),
    divided by N for the mean loss, is passed down through every layer's ``backward``.
    """

    def __init__(self, layers, names, shape_in, output, loss, dtype=np.float32):
        self.layers, self.names = layers, names
        layers[0].input_grad = False
        self.input_shape, self.output, self.loss, self.dtype = shape_in, output, loss, dtype
        self.params = [p for layer in layers for p in layer.params]
        self.decay = [d for layer in layers for d in layer.decay]
        self.param_keys = [f"{name}.{p}" for layer, name in zip(layers, names)
                           for p in layer.param_names]

    def _images(self, x):
        """Flat inputs (N, C H W) (or already (N, C, H, W)) as a (N, C, H, W) array of the model dtype."""
        x = np.asarray(x, dtype=self.dtype)
        size = int(np.prod(self.input_shape))
        if x.ndim == 4 and x.shape[1:] == self.input_shape:
            return x
        if x.ndim != 2 or x.shape[1] != size:
            raise ValueError(f"inputs of shape {x.shape} do not fit input_shape {self.input_shape}: "
                             f"expected (N, {size})")
        return x.reshape(-1, *self.input_shape)

    def forward(self, x, train=False, rng=None):
        """Weighted output z: (N, K) of the last layer (before the output activation)."""
        out = self._images(x)
        for layer in self.layers:
            out = layer.forward(out, train, rng)
        return out

    def loss_and_grads(self, x, y, mean=True, rng=None):
        """Per-sample losses (N,) and the gradients of their mean (or sum) w.r.t. ``params``.

        x: (N, C H W), y: (N, K). Training mode: dropout draws its masks from ``rng``.
        """
        z = self.forward(x, train=True, rng=rng)
        y = np.asarray(y, dtype=self.dtype)
        a = self.output.fn(z)
        losses = self.loss.fn(a, y)
        delta = self.loss.delta(z, a, y)
        if mean:
            delta = delta / np.asarray(len(z), self.dtype)
        for layer in reversed(self.layers):
            delta = layer.backward(delta)
        return losses, [g for layer in self.layers for g in layer.grads]

    def predict(self, x, batch_size=PREDICT_CHUNK):
        """Output activations a: (N, K) in inference mode (no dropout), ``batch_size`` images at a time."""
        x = np.asarray(x)
        chunks = [self.output.fn(self.forward(x[i:i + batch_size]))
                  for i in range(0, len(x), batch_size)]
        return np.concatenate(chunks) if chunks else np.zeros((0, self.layers[-1].W.shape[1]))

    def state(self):
        """Copies of the parameters by name ('conv1.W', 'conv1.b', ..., 'dense2.b') for an .npz."""
        return {key: p.copy() for key, p in zip(self.param_keys, self.params)}

    def load_state(self, arrays, source="weights"):
        """Copy named ``arrays`` (a dict or an opened .npz) into ``params`` in place, after
        ``nnexp.network.check_state`` has checked every name and shape (WeightsError naming
        ``source``, the missing and unexpected arrays and the expected vs found shapes)."""
        check_state(dict(zip(self.param_keys, self.params)), arrays, source)
        for key, p in zip(self.param_keys, self.params):
            p[...] = arrays[key]

    def feature_maps(self, x):
        """(name, array) for one image x ((C H W,), (C, H, W) or a batch of one): the input, every
        layer's output (conv maps (F, Ho, Wo), dense vectors (units,)) and the output activation."""
        image = np.asarray(x, dtype=self.dtype).reshape(1, *self.input_shape)
        maps, out = [("input", image[0])], image
        for name, layer in zip(self.names, self.layers):
            out = layer.forward(out)
            maps.append((name, out[0]))
        maps.append((self.output.name, self.output.fn(out)[0]))
        return maps

    def first_conv_filters(self):
        """The first conv layer's filters (F, C, kh, kw) (effective filters if separable)."""
        for layer in self.layers:
            if isinstance(layer, SeparableConv2D):
                return layer.filters
            if isinstance(layer, Conv2D):
                return layer.W
        raise ConfigError("this CNN has no conv layer")

    def summary(self):
        """One line per layer: name, output shape of one sample, number of parameters."""
        shape, lines = self.input_shape, [f"input {self.input_shape}"]
        for name, layer in zip(self.names, self.layers):
            shape = layer.output_shape(shape)
            lines.append(f"{name} {shape} params={sum(p.size for p in layer.params)}")
        lines.append(f"total params={sum(p.size for p in self.params)}")
        return "\n".join(lines)
