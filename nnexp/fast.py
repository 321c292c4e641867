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
full-matrix passes (v <- mu v - lr lambda W, then the rank-1 term into v, then W <- W + v). With
plain SGD the first layer (the large one: 784 x 100 for MNIST) is updated once per chunk of
samples instead of once per sample, exactly as if per sample (see ``BlasTrainer``).

The per-sample loss is not computed inside the loop: each sample's output a_L is written into a
row of an (N, n_L) buffer, and ``loss.fn`` scores all rows at once after the epoch (one batched
call), which gives the per-batch loss log for free.

Kernels (config key ``kernel``): ``numba`` compiles the whole epoch (nnexp/fast_numba.py, the
extra ``nnexp[fast]``), ``numpy`` is the BLAS loop here, ``reference`` is ``train_epoch`` itself,
``auto`` is numba when it is installed and the training set is large (NUMBA_MIN_SAMPLES), else
numpy. Every kernel covers every activation, loss, bias on/off, momentum and weight decay, in
float32 and float64; anything else (another model or optimizer, inputs of another dtype than the
weights) runs on the reference path.
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
NUMBA_MIN_SAMPLES = 20_000
"""``auto`` uses numba for training sets at least this large (full MNIST, not the embedded sample).
A process spends about 3 s loading numba and its compiled epoch from numba's disk cache (about
25 s of CPU compiling it the first time on a machine), longer than the numpy kernel needs for an
epoch of a few thousand samples."""
DEFERRED = 64
"""Samples per chunk over which both kernels defer the first layer's updates (see BlasTrainer). On
the 784-100-10 network, 48 to 96 measured within a few percent of each other, 32 and 128 slower."""


def numba_available():
    return importlib.util.find_spec("numba") is not None


def resolve_kernel(kernel, n_samples):
    """The kernel ``auto`` stands for when training on ``n_samples`` samples per epoch (numba when
    it is installed and the set has at least NUMBA_MIN_SAMPLES, else numpy); checks the name."""
    if kernel not in KERNELS:
        raise ConfigError(f"kernel={kernel} is not known; choose one of {', '.join(KERNELS)}")
    if kernel == "auto":
        return "numba" if numba_available() and n_samples >= NUMBA_MIN_SAMPLES else "numpy"
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
    kernel = resolve_kernel(kernel, len(x))
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
# Activations into preallocated buffers: forward(z, a) writes a = f(z) (for sigmoid and tanh the ufunc
# itself: no Python call around it); backward(z, a, g, out, t, m, ones) writes out = dL/dz from
# g = dL/da, using t (same shape, float) and m (bool) as scratch; ``ones`` is a vector of ones (an
# array operand: NumPy takes a slower path for a Python scalar).


def _sigmoid_backward(z, a, g, out, t, m, ones):
    np.multiply(g, a, out)            # g a (1 - a), in the reference's order
    np.subtract(ones, a, t)
    np.multiply(out, t, out)


def _tanh_backward(z, a, g, out, t, m, ones):
    np.multiply(a, a, t)              # g (1 - a a)
    np.subtract(ones, t, t)
    np.multiply(g, t, out)


def _relu(z, a):
    np.maximum(z, 0, out=a)


def _relu_backward(z, a, g, out, t, m, ones):
    np.greater(z, 0, m)               # g [z > 0]
    np.multiply(g, m, out)


def _leaky_relu(z, a):
    np.multiply(z, LEAKY_SLOPE, a)    # z > 0: z, else s z  (s < 1, so this is max(z, s z))
    np.maximum(z, a, out=a)


def _leaky_relu_backward(z, a, g, out, t, m, ones):
    np.multiply(g, LEAKY_SLOPE, out)  # g s, then g where z > 0
    np.greater(z, 0, m)
    np.copyto(out, g, where=m)


def _identity(z, a):
    np.copyto(a, z)


def _identity_backward(z, a, g, out, t, m, ones):
    np.copyto(out, g)


def _softmax(z, a):
    np.subtract(z, z.max(), a)        # exp(z - max z) / sum
    np.exp(a, a)
    np.divide(a, a.sum(), a)


def _softmax_backward(z, a, g, out, t, m, ones):
    np.multiply(g, a, t)              # a (g - sum_j g_j a_j)
    np.subtract(g, t.sum(), out)
    np.multiply(a, out, out)


FORWARD = {"sigmoid": expit, "tanh": np.tanh, "relu": _relu, "leaky_relu": _leaky_relu,
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
        # plain SGD: the first layer's updates wait for the end of a chunk (BlasTrainer says how)
        self.deferred = optimizer.velocity is None and not self.decay
        self.chunk = DEFERRED if self.deferred else 1

    def epoch(self, x, y, order, progress):
        """Train on x[order] one sample at a time; returns each sample's loss (n,), float64."""
        outputs = np.empty((len(order), y.shape[1]), dtype=self.model.dtype)
        for start in range(0, len(order), PROGRESS_CHUNK):
            stop = min(start + PROGRESS_CHUNK, len(order))
            self.train_range(x, y, order, outputs, start, stop)
            progress.update(stop - start)
        return self.model.loss.fn(outputs, y[order]).astype(np.float64)


class BlasTrainer(PerSampleTrainer):
    """The NumPy kernel: scipy's BLAS and ufuncs writing into preallocated vectors.

    The first layer's weight updates are deferred over chunks of ``DEFERRED`` samples when the
    optimizer is plain SGD (no momentum, no weight decay): its weights W (n_1, n_0) then change by
    rank-1 steps only, so after the samples r < s of a chunk X (n, n_0) that started from W,

        W_s x_s = W x_s - lr sum_{r<s} delta_r (x_r . x_s) = Z[s] - lr D[:s]^T G[:s, s]

    with Z = X W^T and G = X X^T computed once per chunk (gemm), and D (n, n_1) the chunk's
    first-layer errors delta_r. Per sample that is one small gemv instead of streaming W twice
    (gemv and ger, the bulk of the cost); at the chunk's end W <- W - lr D^T X is one gemm. A bias
    b_1 joins as an input fixed at 1: G + 1, Z + b_1, and b_1 <- b_1 - lr sum_r delta_r. This is
    the reference's arithmetic in another order, equal to float rounding. With momentum or decay
    every step touches all of W, so chunks are one sample long and each step is taken at once.
    """

    def __init__(self, model, optimizer):
        super().__init__(model, optimizer)
        double = model.dtype == np.float64
        self.gemv, self.ger, self.gemm, self.axpy = ((blas.dgemv, blas.dger, blas.dgemm, blas.daxpy) if double
                                                     else (blas.sgemv, blas.sger, blas.sgemm, blas.saxpy))
        sizes, dtype = model.sizes, model.dtype
        self.first_deltas, self.first_z = np.empty((2, self.chunk, sizes[1]), dtype)
        self.upper = np.triu(np.ones((self.chunk, self.chunk), dtype), 1)      # 1 where r < t
        self.zs = [np.empty(n, dtype) for n in sizes[1:]]
        self.acts = [np.empty(n, dtype) for n in sizes[1:-1]]   # a_1..a_{L-1}; a_L is a row of outputs
        self.deltas = [np.empty(n, dtype) for n in sizes[1:]]
        self.gs = [np.empty(n, dtype) for n in sizes[1:]]
        self.scratch = [np.empty(n, dtype) for n in sizes[1:]]
        self.masks = [np.empty(n, bool) for n in sizes[1:]]
        self.ones = [np.ones(n, dtype) for n in sizes[1:]]
        self.lr_delta = [np.empty(n, dtype) for n in sizes[1:]]
        self.forward = [FORWARD[f.name] for f in model.activations]
        self.backward = [BACKWARD[f.name] for f in model.activations]
        self.cross_entropy = model.loss.name == "cross_entropy"
        self.transposed = [w.T for w in model.weights]             # Fortran-order views for BLAS
        self.velocity_t = [v.T for v in optimizer.velocity[:len(model.weights)]] if optimizer.velocity else None
        self.flat = [(w.reshape(-1), v.reshape(-1)) for w, v in zip(model.weights, optimizer.velocity or [])]

    def train_range(self, x, y, order, outputs, start, stop):
        """Train on samples order[start:stop] in chunks; write each sample's output into outputs[i]."""
        for first in range(start, stop, self.chunk):
            rows = order[first:min(first + self.chunk, stop)]
            self.train_chunk(x[rows], y[rows], outputs[first:first + len(rows)])

    def train_chunk(self, x, y, outputs):
        """Train on the rows of x (n, n_0) one at a time; outputs[t] = a_L of row t.

        Written for few Python operations per sample: everything per layer is looked up once per
        chunk, and plain SGD without biases updates the upper layers with ger right in the loop.
        """
        n, lr, last, deferred = len(x), self.lr, len(self.zs) - 1, self.deferred
        gemv, ger, neg_lr, subtract = self.gemv, self.ger, -self.lr, np.subtract
        first_bias = self.model.biases[0] if self.has_bias else None
        z_first = self.first_layer_inputs(x, first_bias)                     # (n, n_1)
        deltas_first = self.first_deltas[:n]
        if deferred:                                 # earlier[r, t] = x_r . x_t (+ 1) for r < t, else 0
            earlier = self.gemm(1.0, x.T, x.T, trans_a=1)
            if first_bias is not None:
                np.add(earlier, 1, earlier)
            np.multiply(earlier, self.upper[:n, :n], earlier)
            deltas_first.fill(0)                     # rows not yet trained on add nothing
        forward_first = self.forward[0]
        act_first = self.acts[0] if last else None
        upper_forward = list(zip(self.transposed[1:], self.zs[1:], self.acts[1:] + [None], self.forward[1:],
                                 (self.model.biases or [None] * (last + 1))[1:], range(2, last + 2)))
        # layer 1 takes its z and delta from the chunk's rows: None here, filled in per sample
        backward_layers = [(layer, self.transposed[layer], self.gs[layer - 1],
                            self.deltas[layer - 1] if layer > 1 else None, self.backward[layer - 1],
                            self.zs[layer - 1] if layer > 1 else None, self.scratch[layer - 1],
                            self.masks[layer - 1], self.ones[layer - 1]) for layer in range(last, 0, -1)]
        out_g, out_backward = self.gs[last], self.backward[last]
        out_scratch, out_mask, out_ones = self.scratch[last], self.masks[last], self.ones[last]
        top = (self.zs[last], self.deltas[last]) if last else None
        cross_entropy, plain = self.cross_entropy, deferred and not self.has_bias
        update = self.update
        inputs = [None] * (last + 2)
        all_deltas = deltas_first.T                                        # (n_1, n), Fortran order
        for z0, delta0, out, target, column in zip(z_first, deltas_first, outputs, y,
                                                   earlier.T if deferred else [None]):
            if deferred:                                   # W_t x_t = W x_t - lr sum_r delta_r (x_r . x_t)
                gemv(neg_lr, all_deltas, column, 1.0, z0, 0, 1, 0, 1, 0, 1)
            a = inputs[1] = act_first if last else out
            forward_first(z0, a)
            for wt, z, buffer, forward, bias, k in upper_forward:
                gemv(1.0, wt, a, 0.0, z, 0, 1, 0, 1, 1, 1)                 # z = W a (trans=1)
                if bias is not None:
                    np.add(z, bias, z)
                a = inputs[k] = out if buffer is None else buffer
                forward(z, a)
            out_z, delta = top or (z0, delta0)
            if cross_entropy:                                              # output error delta_L
                subtract(out, target, delta)
            else:
                subtract(out, target, out_g)
                out_backward(out_z, out, out_g, delta, out_scratch, out_mask, out_ones)
            for layer, wt, g, below, backward, z, scratch, mask, ones in backward_layers:
                gemv(1.0, wt, delta, 0.0, g, 0, 1, 0, 1, 0, 1)            # g = W^T delta, before W changes
                if plain:
                    ger(neg_lr, inputs[layer], delta, 1, 1, wt, 1, 1, 1)  # W - lr delta a^T
                else:
                    update(layer, inputs[layer], delta)
                if below is None:
                    below, z = delta0, z0
                backward(z, inputs[layer], g, below, scratch, mask, ones)
                delta = below
        if deferred:                                                       # W_1 - lr D^T x, b_1 - lr sum D
            self.gemm(neg_lr, x.T, deltas_first.T, 1.0, self.transposed[0], 0, 1, 1)
            if first_bias is not None:
                np.subtract(first_bias, lr * deltas_first.sum(axis=0), first_bias)
        else:
            update(0, x[0], deltas_first[0])

    def first_layer_inputs(self, x, bias):
        """z_1 = W_1 x (+ b_1) of every row of x as rows of a C-order (n, n_1) buffer: W_1 as at the
        chunk's start. (BLAS computes the product faster into a Fortran-order result; one copy.)"""
        z = self.first_z[:len(x)]
        np.copyto(z, self.gemm(1.0, x.T, self.transposed[0], trans_a=1))
        if bias is not None:
            np.add(z, bias, z)
        return z

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
