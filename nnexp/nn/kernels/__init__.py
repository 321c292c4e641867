"""Per-sample training (batch_size=1) of a dense stack: the same arithmetic as the reference loop
(``nnexp.training.loop.train_epoch``)
without Python-level work per sample beyond a few BLAS and ufunc calls on preallocated buffers.

For one sample x with target y, layers l = 1..L (W_l: (n_l, n_{l-1}), C order):

    a_0 = x,   z_l = W_l a_{l-1} (+ b_l),   a_l = f_l(z_l)                 (gemv, ufuncs)
    delta_L = loss.delta(z_L, a_L, y)
    g_{l-1} = W_l^T delta_l   (with W_l before its update)                 (gemv)
    W_l <- W_l - lr delta_l a_{l-1}^T                                      (ger: one rank-1 update)
    delta_{l-1} = f'_{l-1}(z_{l-1}) * g_{l-1}

BLAS sees each C-order W_l through its transpose W_l.T, a Fortran-order (n_{l-1}, n_l) view of the
same memory, so gemv and ger work on the model's own arrays in place. Momentum and weight decay add
full-matrix passes (v <- mu v - lr lambda W, then the rank-1 term into v, then W <- W + v). With
plain SGD the first layer (the large one: 784 x 100 for MNIST) is updated once per chunk of
samples instead of once per sample, exactly as if per sample (see ``BlasTrainer``).

The per-sample loss is not computed inside the loop: each sample's output a_L is written into a
row of an (N, n_L) buffer, and ``loss.fn`` scores all rows at once after the epoch (one batched
call), which gives the per-batch loss log for free.

Kernels (config key ``kernel``): ``numba`` compiles the whole epoch (``compiled``, the
extra ``nnexp[fast]``), ``numpy`` is the BLAS loop of ``blas``, ``reference`` is ``train_epoch`` itself,
``auto`` is numba when it is installed and the training set is large (NUMBA_MIN_SAMPLES), else
numpy. Every kernel covers every activation, loss, bias on/off, momentum and weight decay, in
float32 and float64; the numba kernel also Nesterov momentum, Adam, AdamW and RMSprop (``compiled``).
Anything else (another model or optimizer, inputs of another dtype than the weights) runs on the
reference path.
"""

import importlib.util
import logging
from typing import Optional

import numpy as np

from ...errors import ConfigError
from ..network import Network
from ..optim import Optimizer
from .base import RULES, PerSampleTrainer, rule_of

log = logging.getLogger(__name__)

KERNELS = ("auto", "numba", "numpy", "reference")
NUMBA_MIN_SAMPLES = 20_000
"""``auto`` uses numba for training sets at least this large (full MNIST, not the embedded sample).
A process spends about 3 s loading numba and its compiled epoch from numba's disk cache (about
25 s of CPU compiling it the first time on a machine), longer than the numpy kernel needs for an
epoch of a few thousand samples."""


def numba_available() -> bool:
    return importlib.util.find_spec("numba") is not None


def resolve_kernel(kernel: str, n_samples: int) -> str:
    """The kernel ``auto`` stands for when training on ``n_samples`` samples per epoch (numba when
    it is installed and the set has at least NUMBA_MIN_SAMPLES, else numpy); checks the name."""
    if kernel not in KERNELS:
        raise ConfigError(f"kernel={kernel} is not known; choose one of {', '.join(KERNELS)}")
    if kernel == "auto":
        return "numba" if numba_available() and n_samples >= NUMBA_MIN_SAMPLES else "numpy"
    if kernel == "numba" and not numba_available():
        raise ConfigError("kernel=numba needs numba: pip install 'nnexp[fast]', or use kernel=numpy")
    return kernel


COMPILED_RULES = RULES
"""The update rules the numba kernel runs (``rule_of``): SGD with or without (Nesterov) momentum, Adam,
AdamW and RMSprop. The numpy kernel runs SGD without Nesterov."""
BLAS_RULES = ("sgd",)


def unsupported(network: Network, optimizer: Optimizer, x: np.ndarray, kernel: str = "numpy") -> Optional[str]:
    """Why ``kernel`` (numba or numpy) cannot train this network with this optimizer on inputs x, or None."""
    stack = network.dense_stack()
    if stack is None:
        return "the network is not a stack of dense and activation layers"
    rules = COMPILED_RULES if kernel == "numba" else BLAS_RULES
    if rule_of(optimizer) not in rules:
        return f"kernel={kernel} runs {', '.join(rules)}, not {rule_of(optimizer)}"
    if any(p is not q for p, q in zip(optimizer.parameters, network.parameters.values())):
        return "the optimizer is not over the network's own parameters"
    decays = {id(p.value): d for p, d in zip(optimizer.parameters, optimizer.decay)}
    if any(decays[id(w)] != any(optimizer.decay) for w in stack.weights) or \
            any(decays[id(b)] for b in stack.biases or []):
        return "a decay mask other than every weight matrix and no bias"
    if network.dtype not in (np.float32, np.float64):
        return f"dtype {network.dtype} (float32 and float64 only)"
    if x.dtype != network.dtype:
        return f"inputs are {x.dtype} but the weights are {network.dtype}"
    if not all(p.value.flags.c_contiguous for p in network.parameters.values()):
        return "parameters that are not C-contiguous"
    return None


def per_sample_trainer(network: Network, optimizer: Optimizer, x: np.ndarray,
                       kernel: str = "auto") -> Optional[PerSampleTrainer]:
    """A trainer whose ``epoch(x, y, order, progress)`` replaces ``train_epoch`` at batch size 1,
    or None to use the reference path (kernel=reference, or a case the fast path does not cover)."""
    kernel = resolve_kernel(kernel, len(x))
    if kernel == "reference":
        return None
    reason = unsupported(network, optimizer, x, kernel)
    if reason is not None:
        log.info("per-sample fast path not used (%s): training on the reference path", reason)
        return None
    if kernel == "numba":
        from .compiled import NumbaTrainer

        return NumbaTrainer(network, optimizer)
    from .blas import BlasTrainer

    return BlasTrainer(network, optimizer)
