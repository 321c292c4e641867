"""Compile nnexp's numba functions into numba's disk cache once, at the start of a parallel test run.

numba compiles a function the first time a process calls it with new argument types, and keeps the
machine code on disk beside the source (``cache=True``); in a fresh clone that cache is empty. Under
pytest-xdist three workers, and the ``python -m nnexp`` jobs they start, would each compile the same
functions at once (about 30 s of CPU each time: 100 s of the suite's CPU on 2 cores). tests/conftest.py
starts this script in the background when the run starts; what it has compiled, the others load.

It trains through the code users run: the per-sample kernel (``kernel=numba``) for each dtype, update
rule, bias on and off, and the loss computed from logits or not, on writable arrays (the in-process tests')
and on read-only ones (a run's data set); and a small CNN's compiled data movement. It writes nothing
but numba's cache. A machine without numba skips it.

    python tests/numba_warmup.py
"""

import numpy as np
from helpers import compose_config

from nnexp.data import Dataset
from nnexp.nn.build import build_network, mlp
from nnexp.nn.kernels import numba_available
from nnexp.nn.optim import SGD, Adam, AdamW, RMSprop
from nnexp.training.identity import plain
from nnexp.training.loop import Learner, Recipe, train

OPTIMIZERS = [
    lambda p: SGD(p, lr=0.05),
    lambda p: SGD(p, lr=0.05, momentum=0.9, weight_decay=1e-4),
    lambda p: SGD(p, lr=0.05, momentum=0.9, nesterov=True),
    lambda p: Adam(p, lr=1e-3),
    lambda p: AdamW(p, lr=1e-3, weight_decay=1e-2),
    lambda p: RMSprop(p, lr=1e-3),
]
"""Every update rule of the numba kernel (nnexp.nn.kernels.COMPILED_RULES)."""

NETWORKS = [
    dict(activation="sigmoid", output_activation="softmax", loss="cross_entropy"),
    dict(activation="relu", output_activation="sigmoid", loss="mse"),
]
"""A loss from logits (softmax cross-entropy) and one from outputs."""


def toy_data(dtype, n=40, seed=0, read_only=False):
    """A small data set; ``read_only`` as a run's data set is (numba compiles for read-only arrays apart)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n + 8, 7)).astype(dtype)
    labels = rng.integers(0, 3, n + 8)
    y = np.eye(3, dtype=dtype)[labels]
    for array in (x, y):
        array.setflags(write=not read_only)
    return Dataset("toy", "classification", x[:n], y[:n], x[n:], y[n:], labels[:n], labels[n:])


def train_an_epoch(data, network, bias, make_optimizer):
    """One epoch of the per-sample numba kernel on ``data`` (its dtype) for a 7-6-3 network."""
    model = mlp([7, 6, 3], dtype=data.x_train.dtype, rng=np.random.default_rng(0), bias=bias, **network)
    train(Learner(model, make_optimizer(model.parameters)), data, Recipe(1, kernel="numba"))


def compile_per_sample_kernels():
    for dtype in (np.float32, np.float64):
        data = toy_data(dtype)
        for network in NETWORKS:
            for bias in (True, False):
                for make_optimizer in OPTIMIZERS:
                    train_an_epoch(data, network, bias, make_optimizer)


def compile_for_a_runs_data():
    """The kernel for a run's data set, which is read-only (``python -m nnexp kernel=numba``, the goldens):
    the default dtype's; the in-process tests above train on writable arrays."""
    train_an_epoch(toy_data(np.float32, read_only=True), NETWORKS[0], False, OPTIMIZERS[0])


def compile_data_movement():
    from nnexp.nn import compiled_moves

    compiled_moves.MIN_ELEMENTS = 0
    layers = [{"type": "conv", "filters": 2, "kernel": 3, "pad": 1}, {"type": "activation", "name": "relu"},
              {"type": "pool", "mode": "max", "size": 2}, {"type": "flatten"}, {"type": "dense", "units": None}]
    model = {**plain(compose_config(["model=cnn"]).model), "layers": layers}
    for dtype in (np.float32, np.float64):
        net = build_network(model, (1, 6, 6), 3, dtype, np.random.default_rng(0))
        net.compile_data_movement(True, threads=2)
        x = np.random.default_rng(1).standard_normal((2, 36)).astype(dtype)
        net.loss_and_grads(x, np.eye(3, dtype=dtype)[[0, 1]], rng=np.random.default_rng(0))


if __name__ == "__main__":
    if numba_available():
        compile_per_sample_kernels()
        compile_for_a_runs_data()
        compile_data_movement()
