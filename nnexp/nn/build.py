"""One factory for every network: ``build_network`` turns a model config (a plain dict) into a
``Network`` of layers.

``model.name: mlp`` is the fully connected network of ``model.hidden`` (dense layers of those widths,
each followed by ``model.activation``, then a dense layer of the data's outputs). ``model.name: cnn``
is ``model.layers``, a list of plain dicts, one per layer, in order (the output activation and the
loss are not layers; they come from ``output_activation`` and ``loss``)::

    {type: conv, filters: 32, kernel: 3, pad: 1}    # also stride (1), dilation (1), bias (model's)
    {type: activation, name: relu}                  # relu, leaky_relu, sigmoid, tanh, identity
    {type: pool, mode: max, size: 2}                # mode max|avg, stride (default: size)
    {type: flatten}
    {type: dense, units: 128}                       # also bias (model's); units: null -> n_outputs
    {type: dropout, rate: 0.5}

Keys set to null count as not given. ``kernel`` and ``pad`` may be an int or a [height, width]
pair; ``pad: same`` keeps the size at stride 1 (odd kernels). The list must end with a dense layer
whose units equal the number of classes (null: filled from ``n_outputs``). ``conv_type`` changes
every conv layer of the stack: standard as written; dilated uses dilation 2 and pads (k - 1) / 2
more on each side, so every output keeps the standard size (odd kernels); separable is depthwise
kh x kw per channel followed by a 1x1 pointwise conv with the layer's filters. The layer lists live
in ``conf/model/``.
"""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np
from numpy.typing import DTypeLike

from ..errors import ConfigError
from .activations import get_activation
from .conv import Conv2D, Pool2D, SeparableConv2D
from .layers import Activation, Dense, Dropout, Flatten, Layer, Shape
from .losses import make_loss
from .network import Network

CONV_TYPES: dict[str, type[Conv2D] | type[SeparableConv2D]] = {
    "standard": Conv2D, "dilated": Conv2D, "separable": SeparableConv2D}
"""``conv_type``: the layer class every conv layer of a stack becomes (dilated: see ``conv_geometry``)."""


def mlp_layers(hidden, activation):
    """The layer list of a fully connected network: dense(h), activation for each hidden width h,
    then the output layer dense(n_outputs)."""
    layers = []
    for units in hidden:
        layers += [{"type": "dense", "units": int(units)}, {"type": "activation", "name": activation}]
    return layers + [{"type": "dense", "units": None}]


MODELS: dict[str, Callable[[Mapping[str, Any]], list]] = {
    "mlp": lambda model: mlp_layers(model["hidden"], model["activation"]),
    "cnn": lambda model: list(model["layers"]),
}
"""``model.name``: the layer list of the model section."""


@dataclass
class Site:
    """Where a layer is built: its index in the list, one sample's input ``shape``, the ``model`` section,
    the ``units`` of a dense layer (the last one's filled in), the weights' ``rng`` and ``dtype``."""

    idx: int
    shape: Shape
    model: Mapping[str, Any]
    units: Optional[int]
    rng: np.random.Generator
    dtype: np.dtype

    @property
    def weights(self) -> dict[str, Any]:
        """How a layer with weights draws them."""
        return dict(init=self.model["init"], rng=self.rng, dtype=self.dtype, uniform_limit=self.model["uniform_limit"])

    def needs_images(self, kind: str) -> None:
        if len(self.shape) != 3:
            raise ConfigError(f"model.layers[{self.idx}] ({kind}) needs (C, H, W) input, got {self.shape}")


def conv_layer(spec, site):
    site.needs_images("conv")
    conv_type = site.model.get("conv_type", "standard")
    kernel_size, pad, dilation = conv_geometry(site.idx, spec, conv_type)
    return CONV_TYPES[conv_type](site.shape[0], spec["filters"], kernel_size, spec.get("stride", 1), pad, dilation,
                                 spec.get("bias", site.model["bias"]), **site.weights)


def pool_layer(spec, site):
    site.needs_images("pool")
    return Pool2D(spec.get("mode", "max"), spec.get("size", 2), spec.get("stride"))


def dense_layer(spec, site):
    if len(site.shape) != 1:
        raise ConfigError(f"model.layers[{site.idx}] (dense) gets input of shape {site.shape}; "
                          "put {type: flatten} before it")
    # layer lists keep the order of operations of nnexp 0.2's CNN (see Dense)
    return Dense(site.shape[0], site.units, spec.get("bias", site.model["bias"]), **site.weights,
                 in_out_order=site.model["name"] != "mlp")


@dataclass(frozen=True)
class LayerKind:
    """A layer ``type`` of ``model.layers``: how it is made (from its spec and its Site), its keys, those it needs."""

    make: Callable[[Mapping[str, Any], Site], Layer]
    keys: frozenset[str] = frozenset()
    required: frozenset[str] = frozenset()


LAYERS: dict[str, LayerKind] = {
    "conv": LayerKind(conv_layer, frozenset({"filters", "kernel", "stride", "pad", "dilation", "bias"}),
                      frozenset({"filters", "kernel"})),
    "activation": LayerKind(lambda spec, site: Activation(spec["name"]), frozenset({"name"}), frozenset({"name"})),
    "pool": LayerKind(pool_layer, frozenset({"mode", "size", "stride"})),
    "flatten": LayerKind(lambda spec, site: Flatten()),
    "dense": LayerKind(dense_layer, frozenset({"units", "bias"})),
    "dropout": LayerKind(lambda spec, site: Dropout(spec["rate"]), frozenset({"rate"}), frozenset({"rate"})),
}
"""The layer a ``type`` of ``model.layers`` stands for."""


def check_spec(idx, spec):
    """``spec`` without its null keys, after checking its type and keys (unknown and missing keys
    are errors)."""
    if not isinstance(spec, Mapping) or "type" not in spec:
        raise ConfigError(f"model.layers[{idx}] must be a dict with a 'type' key, got {spec!r}")
    kind = spec["type"]
    if kind not in LAYERS:
        raise ConfigError(f"model.layers[{idx}] has unknown type {kind!r}; "
                          f"choose one of {', '.join(LAYERS)}")
    spec = {key: value for key, value in spec.items() if value is not None}
    unknown = set(spec) - LAYERS[kind].keys - {"type"}
    if unknown:
        raise ConfigError(f"model.layers[{idx}] ({kind}) has unknown keys {sorted(unknown)}; "
                          f"allowed: {sorted(LAYERS[kind].keys)}")
    missing = LAYERS[kind].required - set(spec)
    if missing:
        raise ConfigError(f"model.layers[{idx}] ({kind}) needs {sorted(missing)}")
    return spec


def conv_geometry(idx, spec, conv_type):
    """(kernel_size, pad, dilation) of a conv layer (its config key ``kernel`` as (kh, kw)) after applying
    ``conv_type`` (dilated: d = 2)."""
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


def dense_units(idx, spec, last, n_outputs):
    """Units of a dense layer; the last one's must be the number of outputs (null: n_outputs)."""
    units = spec.get("units")
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


def layer_name(kind, layer, counts):
    """A readable, numbered layer name: conv1, relu1, maxpool1, flatten1, dense1, dropout1..."""
    base = {"activation": getattr(layer, "name", kind),
            "pool": f"{getattr(layer, 'mode', '')}pool"}.get(kind, kind)
    counts[base] = counts.get(base, 0) + 1
    return f"{base}{counts[base]}"


def build_network(model: Mapping[str, Any], input_shape: Sequence[int], n_outputs: Optional[int],
                  dtype: DTypeLike = np.float32, rng: Optional[np.random.Generator] = None) -> Network:
    """The network described by ``model`` (a plain dict: the ``model`` section of the config) for
    inputs of one-sample ``input_shape`` ((n_0,) or (C, H, W); arriving flat as (N, prod)) and
    ``n_outputs`` outputs. Weights are drawn from ``rng`` (a np.random.Generator; default seed 0)
    layer by layer, each layer's weights before its biases."""
    rng = np.random.default_rng(0) if rng is None else rng
    dtype = np.dtype(dtype)
    if model["name"] not in MODELS:
        raise ConfigError(f"unknown model {model['name']!r}; choose one of {', '.join(MODELS)}")
    specs = MODELS[model["name"]](model)
    if model.get("conv_type", "standard") not in CONV_TYPES:
        raise ConfigError(f"unknown model.conv_type {model['conv_type']!r}; choose one of {', '.join(CONV_TYPES)}")
    output = get_activation(model["output_activation"])
    loss = make_loss(model["loss"], output)
    specs = [check_spec(i, spec) for i, spec in enumerate(specs)]
    if not specs or specs[-1]["type"] != "dense":
        raise ConfigError("model.layers must end with a {type: dense, units: null} layer "
                          "(its units are the number of classes)")
    shape = tuple(int(s) for s in input_shape)
    layers: list[Layer] = []
    names: list[str] = []
    counts: dict[str, int] = {}
    for i, spec in enumerate(specs):
        kind = spec["type"]
        units = dense_units(i, spec, i == len(specs) - 1, n_outputs) if kind == "dense" else None
        layer = LAYERS[kind].make(spec, Site(i, shape, model, units, rng, dtype))
        shape = layer.output_shape(shape)
        if min(shape) < 1:
            raise ConfigError(f"model.layers[{i}] ({kind}) leaves no output: shape {shape}; "
                              "use more padding, smaller kernels or fewer pooling layers")
        layers.append(layer)
        names.append(layer_name(kind, layer, counts))
    return Network(layers, names, input_shape, output, loss, dtype)


MLP_DEFAULTS = {"activation": "sigmoid", "output_activation": "sigmoid", "loss": "mse", "init": "normal",
                "bias": False, "uniform_limit": 0.5}
"""``mlp``'s model settings when a caller gives none."""


def mlp(sizes: Sequence[int], dtype: DTypeLike = np.float32, rng: Optional[np.random.Generator] = None,
        **settings: Any) -> Network:
    """The fully connected network of widths ``sizes`` (input first, e.g. [784, 100, 10]), as
    ``model=mlp`` builds it: a shorthand of ``build_network``. ``settings`` are keys of the model
    section (activation, output_activation, loss, init, bias, uniform_limit; MLP_DEFAULTS otherwise)."""
    unknown = set(settings) - set(MLP_DEFAULTS)
    if unknown:
        raise TypeError(f"mlp() got unknown settings {sorted(unknown)}; known: {sorted(MLP_DEFAULTS)}")
    model = {"name": "mlp", "hidden": list(sizes[1:-1]), **MLP_DEFAULTS, **settings}
    return build_network(model, (sizes[0],), sizes[-1], dtype, np.random.default_rng() if rng is None else rng)
