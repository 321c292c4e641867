"""Per-sample training (batch_size=1) of the MLP: the same arithmetic as ``train.train_epoch``
without Python-level work per sample beyond a few BLAS and ufunc calls on preallocated buffers.

For one sample x with target y, layers l = 1..L (W_l: (n_l, n_{l-1}), C order):

    a_0 = x,   z_l = W_l a_{l-1} (+ b_l),   a_l = f_l(z_l)                 (gemv, ufuncs)
    delta_L = loss.delta(z_L, a_L, y)
    g_{l-1} = W_l^T delta_l   (with W_l before its update)                 (gemv)
    W_l <- W_l - lr delta_l a_{l-1}^T                                      (ger: one rank-1 update)
    delta_{l-1} = f'_{l-1}(z_{l-1}) * g_{l-1}

BLAS sees each C-order W_l through its transpose W_l.T, a Fortran-order (n_{l-1}, n_l) view of the
same memory, so gemv and ger work on the model's own arrays in place. Momentum and weight decay add
full-matrix passes (v <- mu v - lr lambda W, then the rank-1 term into v, then W <- W + v).

The per-sample loss is not computed inside the loop: each sample's output a_L is written into a
row of an (N, n_L) buffer, and ``loss.fn`` scores all rows at once after the epoch (one batched
call), which gives the per-batch loss log for free.

Kernels (config key ``kernel``): ``numba`` compiles the whole epoch (nnexp/fast_numba.py, the
extra ``nnexp[fast]``), ``numpy`` is the BLAS loop here, ``reference`` is ``train_epoch`` itself,
``auto`` is numba when it is installed, else numpy. Every kernel covers every activation, loss,
bias on/off, momentum and weight decay, in float32 and float64; anything else (another model or
optimizer, inputs of another dtype than the weights) runs on the reference path.
"""

import importlib.util
import logging

import numpy as np
from scipy.linalg import blas
from scipy.special import expit

from .activations import LEAKY_SLOPE
from .errors import ConfigError
from .network import MLP
from .optim import SGD

log = logging.getLogger(__name__)

KERNELS = ("auto", "numba", "numpy", "reference")
PROGRESS_CHUNK = 2000
"""Samples between two progress-bar updates."""


def numba_available():
    return importlib.util.find_spec("numba") is not None


def resolve_kernel(kernel):
    """The kernel ``auto`` stands for here (numba when installed, else numpy); checks the name."""
    if kernel not in KERNELS:
        raise ConfigError(f"kernel={kernel} is not known; choose one of {', '.join(KERNELS)}")
    if kernel == "auto":
        return "numba" if numba_available() else "numpy"
    if kernel == "numba" and not numba_available():
        raise ConfigError("kernel=numba needs numba: pip install 'nnexp[fast]', or use kernel=numpy")
    return kernel


def unsupported(model, optimizer, x):
    """Why the fast path cannot train this model with this optimizer on inputs x, or None."""
    if type(model) is not MLP:
        return f"model {type(model).__name__} is not an MLP"
    if type(optimizer) is not SGD or any(p is not q for p, q in zip(optimizer.params, model.params)):
        return "the optimizer is not SGD over the model's own parameters"
    if model.dtype not in (np.float32, np.float64):
        return f"dtype {model.dtype} (float32 and float64 only)"
    if x.dtype != model.dtype:
        return f"inputs are {x.dtype} but the weights are {model.dtype}"
    names = [f.name for f in model.activations]
    if any(name not in FORWARD for name in names):
        return f"an activation without a fast form among {names}"
    if not all(p.flags.c_contiguous for p in model.params):
        return "parameters that are not C-contiguous"
    return None


def per_sample_trainer(model, optimizer, x, kernel="auto"):
    """A trainer whose ``epoch(x, y, order, progress)`` replaces ``train_epoch`` at batch size 1,
    or None to use the reference path (kernel=reference, or a case the fast path does not cover)."""
    kernel = resolve_kernel(kernel)
    if kernel == "reference":
        return None
    reason = unsupported(model, optimizer, x)
    if reason is not None:
        log.info("per-sample fast path not used (%s): training on the reference path", reason)
        return None
    if kernel == "numba":
        from .fast_numba import NumbaTrainer

        return NumbaTrainer(model, optimizer)
    return BlasTrainer(model, optimizer)


# ---------------------------------------------------------------------------------------------
# Activations into preallocated buffers: forward(z, a) writes a = f(z); backward(z, a, g, out, t)
# writes out = dL/dz from g = dL/da, using t (same shape, float) and m (bool) as scratch.


def _sigmoid(z, a):
    expit(z, a)


def _sigmoid_backward(z, a, g, out, t, m):
    np.multiply(g, a, out)            # g a (1 - a), in the reference's order
    np.subtract(1, a, t)
    np.multiply(out, t, out)


def _tanh(z, a):
    np.tanh(z, a)


def _tanh_backward(z, a, g, out, t, m):
    np.multiply(a, a, t)              # g (1 - a a)
    np.subtract(1, t, t)
    np.multiply(g, t, out)


def _relu(z, a):
    np.maximum(z, 0, out=a)


def _relu_backward(z, a, g, out, t, m):
    np.greater(z, 0, m)               # g [z > 0]
    np.multiply(g, m, out)


def _leaky_relu(z, a):
    np.multiply(z, LEAKY_SLOPE, a)    # z > 0: z, else s z  (s < 1, so this is max(z, s z))
    np.maximum(z, a, out=a)


def _leaky_relu_backward(z, a, g, out, t, m):
    np.multiply(g, LEAKY_SLOPE, out)  # g s, then g where z > 0
    np.greater(z, 0, m)
    np.copyto(out, g, where=m)


def _identity(z, a):
    np.copyto(a, z)


def _identity_backward(z, a, g, out, t, m):
    np.copyto(out, g)


def _softmax(z, a):
    np.subtract(z, z.max(), a)        # exp(z - max z) / sum
    np.exp(a, a)
    np.divide(a, a.sum(), a)


def _softmax_backward(z, a, g, out, t, m):
    np.multiply(g, a, t)              # a (g - sum_j g_j a_j)
    np.subtract(g, t.sum(), out)
    np.multiply(a, out, out)


FORWARD = {"sigmoid": _sigmoid, "tanh": _tanh, "relu": _relu, "leaky_relu": _leaky_relu,
           "identity": _identity, "softmax": _softmax}
BACKWARD = {"sigmoid": _sigmoid_backward, "tanh": _tanh_backward, "relu": _relu_backward,
            "leaky_relu": _leaky_relu_backward, "identity": _identity_backward,
            "softmax": _softmax_backward}


# ---------------------------------------------------------------------------------------------


class PerSampleTrainer:
    """What every kernel shares: the model, the optimizer's settings, and the epoch's bookkeeping."""

    def __init__(self, model, optimizer):
        self.model = model
        self.optimizer = optimizer
        self.has_bias = model.biases is not None
        self.lr, self.momentum, self.weight_decay = optimizer.lr, optimizer.momentum, optimizer.weight_decay
        self.decay = any(optimizer.decay)

    def epoch(self, x, y, order, progress):
        """Train on x[order] one sample at a time; returns each sample's loss (n,), float64."""
        outputs = np.empty((len(order), y.shape[1]), dtype=self.model.dtype)
        for start in range(0, len(order), PROGRESS_CHUNK):
            stop = min(start + PROGRESS_CHUNK, len(order))
            self.train_range(x, y, order, outputs, start, stop)
            progress.update(stop - start)
        return self.model.loss.fn(outputs, y[order]).astype(np.float64)


class BlasTrainer(PerSampleTrainer):
    """The NumPy kernel: scipy's BLAS (gemv, ger) and ufuncs writing into preallocated vectors."""

    def __init__(self, model, optimizer):
        super().__init__(model, optimizer)
        double = model.dtype == np.float64
        self.gemv, self.ger, self.axpy = ((blas.dgemv, blas.dger, blas.daxpy) if double
                                          else (blas.sgemv, blas.sger, blas.saxpy))
        sizes, dtype = model.sizes, model.dtype
        self.zs = [np.empty(n, dtype) for n in sizes[1:]]
        self.acts = [np.empty(n, dtype) for n in sizes[1:-1]]   # a_1..a_{L-1}; a_L is a row of outputs
        self.deltas = [np.empty(n, dtype) for n in sizes[1:]]
        self.gs = [np.empty(n, dtype) for n in sizes[1:]]
        self.scratch = [np.empty(n, dtype) for n in sizes[1:]]
        self.masks = [np.empty(n, bool) for n in sizes[1:]]
        self.lr_delta = [np.empty(n, dtype) for n in sizes[1:]]
        self.forward = [FORWARD[f.name] for f in model.activations]
        self.backward = [BACKWARD[f.name] for f in model.activations]
        self.cross_entropy = model.loss.name == "cross_entropy"
        self.transposed = [w.T for w in model.weights]             # Fortran-order views for BLAS
        self.velocity_t = [v.T for v in optimizer.velocity[:len(model.weights)]] if optimizer.velocity else None
        self.flat = [(w.reshape(-1), v.reshape(-1)) for w, v in zip(model.weights, optimizer.velocity or [])]

    def train_range(self, x, y, order, outputs, start, stop):
        """Train on samples order[start:stop]; write each sample's output into outputs[i].

        Written for few Python operations per sample: everything per layer is looked up once per
        call, and plain SGD (no momentum, decay or biases) updates with ger right in the loop.
        """
        gemv, ger, neg_lr = self.gemv, self.ger, -self.lr
        last = len(self.zs) - 1
        forward_layers = list(zip(self.transposed, self.zs, self.acts + [None], self.forward,
                                  self.model.biases or [None] * (last + 1)))
        backward_layers = [(layer, self.transposed[layer], self.gs[layer - 1], self.deltas[layer - 1],
                            self.backward[layer - 1], self.zs[layer - 1], self.scratch[layer - 1],
                            self.masks[layer - 1]) for layer in range(last, 0, -1)]
        out_delta, out_g, out_z = self.deltas[last], self.gs[last], self.zs[last]
        out_backward, out_scratch, out_mask = self.backward[last], self.scratch[last], self.masks[last]
        cross_entropy, plain = self.cross_entropy, self.velocity_t is None and not self.decay and not self.has_bias
        update, subtract = self.update, np.subtract
        inputs = [None] * (last + 2)
        for i in range(start, stop):
            j = order[i]
            a = inputs[0] = x[j]
            out = outputs[i]
            for k, (wt, z, buffer, forward, bias) in enumerate(forward_layers):
                gemv(1.0, wt, a, 0.0, z, 0, 1, 0, 1, 1, 1)                 # z = W a (trans=1)
                if bias is not None:
                    np.add(z, bias, z)
                a = inputs[k + 1] = out if buffer is None else buffer
                forward(z, a)
            if cross_entropy:                                              # output error delta_L
                subtract(out, y[j], out_delta)
            else:
                subtract(out, y[j], out_g)
                out_backward(out_z, out, out_g, out_delta, out_scratch, out_mask)
            delta = out_delta
            for layer, wt, g, below, backward, z, scratch, mask in backward_layers:
                gemv(1.0, wt, delta, 0.0, g, 0, 1, 0, 1, 0, 1)            # g = W^T delta, before W changes
                if plain:
                    ger(neg_lr, inputs[layer], delta, 1, 1, wt, 1, 1, 1)  # W - lr delta a^T
                else:
                    update(layer, inputs[layer], delta)
                backward(z, inputs[layer], g, below, scratch, mask)
                delta = below
            if plain:
                ger(neg_lr, inputs[0], delta, 1, 1, forward_layers[0][0], 1, 1, 1)
            else:
                update(0, inputs[0], delta)

    def update(self, layer, a_prev, delta):
        """SGD step of layer ``layer`` from the rank-1 gradient delta a_prev^T (and delta for b)."""
        lr, w, wt = self.lr, self.model.weights[layer], self.transposed[layer]
        if self.velocity_t is None:
            if self.decay:
                np.multiply(w, 1 - lr * self.weight_decay, w)                 # w - lr lambda w
            self.ger(-lr, a_prev, delta, 1, 1, wt, 1, 1, 1)                    # w - lr delta a^T
        else:
            v, vt = self.optimizer.velocity[layer], self.velocity_t[layer]
            np.multiply(v, self.momentum, v)
            if self.decay:
                w_flat, v_flat = self.flat[layer]
                self.axpy(w_flat, v_flat, a=-lr * self.weight_decay)         # v - lr lambda w
            self.ger(-lr, a_prev, delta, 1, 1, vt, 1, 1, 1)
            np.add(w, v, w)
        if self.has_bias:
            b, step = self.model.biases[layer], self.lr_delta[layer]
            np.multiply(delta, lr, step)
            if self.velocity_t is None:
                np.subtract(b, step, b)
            else:
                vb = self.optimizer.velocity[len(self.model.weights) + layer]
                np.multiply(vb, self.momentum, vb)
                np.subtract(vb, step, vb)
                np.add(b, vb, b)
