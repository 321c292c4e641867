"""The configuration schema (Hydra structured configs) and the checks Hydra's types cannot make.

The YAML files in ``conf/`` fill these dataclasses; Hydra then refuses unknown keys, values of the
wrong type and, through the Enum fields, names outside a closed set (an activation, a loss, a
dtype...), each with the allowed names. ``validate`` checks what types cannot say: ranges.

Enum members reach the code below as their names: ``nnexp.training.identity.plain`` converts a
section, and each Enum here is also a ``str``, so ``cfg.dtype == "float32"`` holds.
"""

import math
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, List, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, ListConfig

from .data.datasets import SCALINGS
from .errors import ConfigError
from .nn.activations import ACTIVATIONS, HIDDEN_ACTIVATIONS
from .nn.build import CONV_TYPES, LAYERS, MODELS
from .nn.conv import POOL_MODES
from .nn.initializers import INITIALIZERS
from .nn.kernels import KERNELS
from .nn.losses import LOSSES
from .nn.optim import OPTIMIZERS
from .nn.schedules import SCHEDULES


class Choice(str, Enum):
    """A closed set of names; a member is its name, also as a string and in messages."""

    def __str__(self):
        return self.value

    __format__ = str.__format__


def choices(name, names):
    """An Enum ``name`` of the given names (each member's value is its name)."""
    return Choice(name, [(n, n) for n in names])


# Each closed set is defined once, by the code that implements it; the schema's Enums are made from it.
DType = choices("DType", ["float32", "float64"])
HiddenActivation = choices("HiddenActivation", HIDDEN_ACTIVATIONS)
OutputActivation = choices("OutputActivation", ACTIVATIONS)
Loss = choices("Loss", LOSSES)
Init = choices("Init", INITIALIZERS)
Kernel = choices("Kernel", KERNELS)
Scaling = choices("Scaling", SCALINGS)
ConvType = choices("ConvType", CONV_TYPES)
LayerType = choices("LayerType", LAYERS)
PoolMode = choices("PoolMode", POOL_MODES)
ScheduleName = choices("ScheduleName", SCHEDULES)
OptimizerName = choices("OptimizerName", OPTIMIZERS)
ModelName = choices("ModelName", MODELS)


@dataclass
class DataConfig:
    name: str = MISSING             # mnist_sample | mnist | fashion_mnist | kmnist | digits | xor | sine (conf/data/)
    dir: Optional[str] = None       # mnist, fashion_mnist, kmnist: folder with the IDX or CSV files (None: download)
    scaling: Scaling = Scaling.classic  # classic: x/divisor*0.99+0.01, targets 0.01/0.99; standard: x/divisor, one-hot
    divisor: float = 255.0
    train_size: Optional[int] = None  # use the first N training examples
    test_fraction: float = 0.2      # mnist_sample, digits: share of each class held out for test
    repeat: int = 1                 # xor: presentations of the four points per epoch
    n_train: int = 1000             # sine: training points
    n_test: int = 200               # sine: test points
    val_size: float = 0.1           # held out of the training set for validation: a fraction, or a count >= 1;
                                    # 0: no validation split (the classic reproductions)
    split_seed: int = 0             # the validation split's draw (the same for every job and seed)
    augment: int = 0                # image data: shift every training image by up to this many pixels, anew
                                    # each epoch (0: no augmentation)


@dataclass
class MLPConfig:
    name: ModelName = ModelName.mlp
    hidden: List[int] = field(default_factory=lambda: [100])
    activation: HiddenActivation = HiddenActivation.sigmoid     # hidden layers
    output_activation: OutputActivation = OutputActivation.sigmoid
    loss: Loss = Loss.mse
    init: Init = Init.normal
    uniform_limit: float = 0.5          # a of init=uniform, U(-a, a)
    bias: bool = False


@dataclass
class LayerConfig:
    """One layer of ``model.layers`` (nnexp/nn/build.py): ``type`` and the keys of that type; keys
    left null are not given (defaults: stride 1, pad 0, dilation 1, bias the model's, pool max 2)."""
    type: LayerType = MISSING
    filters: Optional[int] = None       # conv
    kernel: Any = None                  # conv: int or [h, w]
    stride: Optional[int] = None        # conv, pool
    pad: Any = None                     # conv: int, [h, w] or same
    dilation: Optional[int] = None      # conv
    bias: Optional[bool] = None         # conv, dense
    name: Optional[HiddenActivation] = None   # activation
    mode: Optional[PoolMode] = None     # pool
    size: Optional[int] = None          # pool
    units: Optional[int] = None         # dense (null on the last: the number of classes)
    rate: Optional[float] = None        # dropout


@dataclass
class CNNConfig:
    """``model=cnn``: the layer list (in conf/model/) and how the network is set up."""
    name: ModelName = ModelName.cnn
    layers: List[LayerConfig] = MISSING
    output_activation: OutputActivation = OutputActivation.softmax
    loss: Loss = Loss.cross_entropy
    init: Init = Init.he
    uniform_limit: float = 0.5
    bias: bool = True
    conv_type: ConvType = ConvType.standard


@dataclass
class SGDConfig:
    """``optimizer=sgd`` (nnexp/nn/optim.py SGD); conf/optimizer/sgd.yaml takes momentum and weight_decay
    from the top-level keys of the same names, so ``momentum=0.9`` keeps working."""
    name: OptimizerName = OptimizerName.sgd
    momentum: float = 0.0
    nesterov: bool = False
    weight_decay: float = 0.0


@dataclass
class AdamConfig:
    """``optimizer=adam`` (L2 weight decay in the gradient) and ``optimizer=adamw`` (decoupled)."""
    name: OptimizerName = OptimizerName.adam
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    weight_decay: float = 0.0


@dataclass
class RMSpropConfig:
    """``optimizer=rmsprop``."""
    name: OptimizerName = OptimizerName.rmsprop
    alpha: float = 0.99
    eps: float = 1e-8
    weight_decay: float = 0.0


@dataclass
class ScheduleConfig:
    """``schedule=constant|step|exponential|cosine`` (nnexp/nn/schedules.py), stepped per epoch."""
    name: ScheduleName = ScheduleName.constant
    gamma: float = 0.1              # step, exponential: the factor (every step_size epochs, every epoch)
    step_size: int = 1              # step: epochs between two factors
    min_lr: float = 0.0             # cosine: the rate of the last epoch
    warmup: int = 0                 # epochs of linear warm-up first (lr k / warmup in epoch k)
    span: Optional[int] = None      # cosine: the epochs it spans (null: the run's epochs; a search sets its budget)


@dataclass
class FinderConfig:
    """Settings of the learning-rate range test, ``python -m nnexp.lr_find`` (unused by a training run)."""
    start: float = 1e-4             # first learning rate
    end: float = 10.0               # last learning rate
    steps: int = 1000               # batches, each at the next learning rate
    smoothing: float = 0.98         # beta of the moving average of the loss
    stop_factor: float = 4.0        # stop once the smoothed loss exceeds this times its minimum


@dataclass
class Config:
    data: Any = MISSING
    model: Any = MISSING
    optimizer: Any = MISSING
    schedule: Any = MISSING
    lr: float = 0.1
    epochs: int = 1
    batch_size: int = 1
    batch_mean: bool = True             # mean gradient over a batch (False: summed, as one classic did)
    shuffle: bool = False
    momentum: float = 0.0
    weight_decay: float = 0.0
    seed: int = 0
    dtype: DType = DType.float32
    init_from: Optional[str] = None     # weights.npz to continue from
    experiment: Optional[str] = None    # name of the experiment preset in use
    overwrite: bool = False             # -m into the directory of another sweep: delete it (else refused)
    threads: Any = "auto"               # BLAS threads: auto (nnexp/training/threads.py) or a number
    kernel: Kernel = Kernel.auto        # per-sample training (nnexp/nn/kernels)
    reuse: bool = True                  # share epochs with jobs that differ only in epochs (nnexp/training/reuse.py)
    reuse_dir: str = "outputs/reuse"    # where those epochs are kept (relative: to the launch directory)
    lr_find: FinderConfig = field(default_factory=FinderConfig)


def register_configs():
    """Make the schemas known to Hydra; the YAML files name them in their defaults lists."""
    store = ConfigStore.instance()
    store.store(name="schema", node=Config)
    # in a group of their own, so that no schema is offered as a data= or model= option
    store.store(group="schema", name="data", node=DataConfig)
    store.store(group="schema", name="mlp", node=MLPConfig)
    store.store(group="schema", name="cnn", node=CNNConfig)
    store.store(group="schema", name="sgd", node=SGDConfig)
    store.store(group="schema", name="adam", node=AdamConfig)
    store.store(group="schema", name="rmsprop", node=RMSpropConfig)
    store.store(group="schema", name="schedule", node=ScheduleConfig)


def numbers(node, prefix=""):
    """(dotted key, value) of every int and float in a config (bools are not numbers here)."""
    items = node.items() if hasattr(node, "items") else enumerate(node)
    for key, value in items:
        name = f"{prefix}.{key}" if prefix and not isinstance(key, int) else f"{prefix}[{key}]" if prefix else str(key)
        if hasattr(value, "items") or isinstance(value, (list, tuple, ListConfig)):
            yield from numbers(value, name)
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            yield name, value


def positive(v):
    return v > 0


def at_least_one(v):
    return v >= 1


RANGES = {
    "lr": (positive, "must be greater than 0"),
    "epochs": (positive, "must be greater than 0"),
    "batch_size": (positive, "must be greater than 0"),
    "seed": (lambda v: v >= 0, "must be a whole number of at least 0"),
    "momentum": (lambda v: 0 <= v < 1, "must be in [0, 1)"),
    "weight_decay": (lambda v: v >= 0, "must not be negative"),
    "data.divisor": (positive, "must be greater than 0"),
    "data.train_size": (at_least_one, "must be at least 1 (or null for all)"),
    "data.test_fraction": (lambda v: 0 < v < 1, "must be in (0, 1)"),
    "data.repeat": (at_least_one, "must be at least 1"),
    "data.n_train": (at_least_one, "must be at least 1"),
    "data.n_test": (at_least_one, "must be at least 1"),
    "data.val_size": (lambda v: v == 0 or 0 < v < 1 or (v >= 1 and float(v).is_integer()),
                      "must be 0 (no validation split), a fraction in (0, 1), or a whole count"),
    "data.split_seed": (lambda v: v >= 0, "must be a whole number of at least 0"),
    "data.augment": (lambda v: v >= 0, "must be a whole number of pixels, at least 0"),
    "model.uniform_limit": (positive, "must be greater than 0"),
    "optimizer.momentum": (lambda v: 0 <= v < 1, "must be in [0, 1)"),
    "optimizer.weight_decay": (lambda v: v >= 0, "must not be negative"),
    "optimizer.beta1": (lambda v: 0 <= v < 1, "must be in [0, 1)"),
    "optimizer.beta2": (lambda v: 0 <= v < 1, "must be in [0, 1)"),
    "optimizer.alpha": (lambda v: 0 <= v < 1, "must be in [0, 1)"),
    "optimizer.eps": (positive, "must be greater than 0"),
    "schedule.gamma": (positive, "must be greater than 0"),
    "schedule.step_size": (at_least_one, "must be at least 1"),
    "schedule.min_lr": (lambda v: v >= 0, "must not be negative"),
    "schedule.warmup": (lambda v: v >= 0, "must be a whole number of at least 0"),
    "schedule.span": (at_least_one, "must be at least 1 (or null: the run's epochs)"),
}
"""key: (the test its value must pass, what the message says it must be)."""


def validate(cfg):
    """Raise ConfigError (one line: key, value, what to do) for values no run could use: numbers that
    are not finite (nan, inf) anywhere in the config, and values outside RANGES."""
    flat = dict(numbers({key: value for key, value in cfg.items() if key != "hydra"}))
    # top-level keys first: optimizer.momentum interpolates momentum, the key the user typed
    for key, value in sorted(flat.items(), key=lambda item: "." in item[0]):
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"{key}={value} is not a finite number; give a number such as the default")
    for key, (test, must) in RANGES.items():
        if flat.get(key) is not None and not test(flat[key]):
            raise ConfigError(f"{key}={flat[key]} {must}")
    if cfg.threads != "auto" and (not isinstance(cfg.threads, int) or isinstance(cfg.threads, bool)
                                  or cfg.threads < 1):
        raise ConfigError(f"threads={cfg.threads} must be auto or a whole number of at least 1")
    if cfg.schedule.get("span") is not None and cfg.schedule.span < cfg.epochs:
        raise ConfigError(f"schedule.span={cfg.schedule.span} is shorter than epochs={cfg.epochs}; the schedule "
                          "must span the whole run: give a span of at least epochs, or null")
    if cfg.model.name == "mlp":
        bad = [h for h in cfg.model.hidden if h < 1]
        if bad:
            raise ConfigError(f"model.hidden={list(cfg.model.hidden)} has a layer of size {bad[0]}; "
                              "every size must be at least 1")
