"""The configuration schema (Hydra structured configs) and the checks Hydra's types cannot make.

The YAML files in ``conf/`` fill these dataclasses; Hydra then refuses unknown keys and values of
the wrong type. ``validate`` checks ranges and names.
"""

from dataclasses import dataclass, field
from typing import Any, List, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING

from .cnn import CONV_TYPES, CNNConfig
from .errors import ConfigError


@dataclass
class DataConfig:
    name: str = MISSING             # mnist_sample | mnist | digits | xor | sine
    dir: Optional[str] = None       # mnist: folder with the IDX or CSV files (None: download)
    scaling: str = "classic"        # classic: x/divisor*0.99+0.01, targets 0.01/0.99; standard: x/divisor, one-hot
    divisor: float = 255.0
    train_size: Optional[int] = None  # use the first N training examples
    test_fraction: float = 0.2      # mnist_sample, digits: share of each class held out for test
    repeat: int = 1                 # xor: presentations of the four points per epoch
    n_train: int = 1000             # sine: training points
    n_test: int = 200               # sine: test points


@dataclass
class MLPConfig:
    name: str = "mlp"
    hidden: List[int] = field(default_factory=lambda: [100])
    activation: str = "sigmoid"         # hidden layers
    output_activation: str = "sigmoid"
    loss: str = "mse"                   # mse | cross_entropy
    init: str = "normal"                # normal | unit_normal | uniform | xavier | he
    uniform_limit: float = 0.5          # a of init=uniform, U(-a, a)
    bias: bool = False


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
    lr: float = 0.1
    epochs: int = 1
    batch_size: int = 1
    batch_mean: bool = True             # mean gradient over a batch (False: summed, as one classic did)
    shuffle: bool = False
    momentum: float = 0.0
    weight_decay: float = 0.0
    seed: int = 0
    dtype: str = "float32"
    init_from: Optional[str] = None     # weights.npz to continue from
    experiment: Optional[str] = None    # name of the experiment preset in use
    overwrite: bool = False             # -m into the directory of another sweep: delete it (else refused)
    threads: Any = "auto"               # BLAS threads: auto (nnexp/threads.py) or a number
    kernel: str = "auto"                # per-sample training: auto | numba | numpy | reference (nnexp/fast.py)
    reuse: bool = True                  # share epochs with jobs that differ only in epochs (nnexp/reuse.py)
    reuse_dir: str = "outputs/reuse"    # where those epochs are kept (relative: to the launch directory)
    lr_find: FinderConfig = field(default_factory=FinderConfig)


def register_configs():
    """Make the schemas known to Hydra; the YAML files name them in their defaults lists."""
    store = ConfigStore.instance()
    store.store(name="schema", node=Config)
    store.store(group="data", name="schema", node=DataConfig)
    store.store(group="model", name="schema_mlp", node=MLPConfig)
    store.store(group="model", name="schema_cnn", node=CNNConfig)


DTYPES = ("float32", "float64")


def validate(cfg):
    """Raise ConfigError (one line: key, value, what to do) for values no run could use."""
    positive = {"lr": cfg.lr, "epochs": cfg.epochs, "batch_size": cfg.batch_size}
    for key, value in positive.items():
        if value <= 0:
            raise ConfigError(f"{key}={value} must be greater than 0")
    if not 0 <= cfg.momentum < 1:
        raise ConfigError(f"momentum={cfg.momentum} must be in [0, 1)")
    if cfg.weight_decay < 0:
        raise ConfigError(f"weight_decay={cfg.weight_decay} must not be negative")
    if cfg.threads != "auto" and (not isinstance(cfg.threads, int) or isinstance(cfg.threads, bool)
                                  or cfg.threads < 1):
        raise ConfigError(f"threads={cfg.threads} must be auto or a whole number of at least 1")
    if cfg.dtype not in DTYPES:
        raise ConfigError(f"dtype={cfg.dtype} is not supported; choose one of {', '.join(DTYPES)}")
    if cfg.data.train_size is not None and cfg.data.train_size < 1:
        raise ConfigError(f"data.train_size={cfg.data.train_size} must be at least 1 (or null for all)")
    if cfg.data.divisor <= 0:
        raise ConfigError(f"data.divisor={cfg.data.divisor} must be greater than 0")
    if cfg.model.name == "mlp":
        bad = [h for h in cfg.model.hidden if h < 1]
        if bad:
            raise ConfigError(f"model.hidden={list(cfg.model.hidden)} has a layer of size {bad[0]}; every size must be at least 1")
    if cfg.model.name == "cnn" and cfg.model.conv_type not in CONV_TYPES:
        raise ConfigError(f"model.conv_type={cfg.model.conv_type} is not known; choose one of {', '.join(CONV_TYPES)}")
