"""The per-sample epoch compiled with numba (the extra ``nnexp[fast]``): the loop of ``blas``,
sample by sample and layer by layer, with no Python in between, and the same deferred first-layer
updates (see ``BlasTrainer``).

Same arithmetic as the reference path, to float rounding: the sums of the forward pass and of
W^T delta may be reassociated (vectorised), products may be fused (FMA); NaN and infinity keep
their meaning (no fast-math assumptions about them), so a diverging run is still detected.
Compiled once per dtype and cached on disk (numba's ``cache=True``), so later processes load it.
"""

import logging
import threading
from collections import namedtuple

import numpy as np
from numba import njit
from numba.typed import List

from ..activations import ACTIVATIONS, LEAKY_SLOPE
from .base import PerSampleTrainer
from .steps import FLAGS, _step

log = logging.getLogger(__name__)

CODES = {name: f.code for name, f in ACTIVATIONS.items()}
"""The number ``_activate`` and ``_backward`` know each activation by (its class's ``code``)."""

Stack = namedtuple("Stack", "ws bs vws vbs sws sbs codes")
"""The network's arrays, as typed lists per layer: W_l, b_l, the optimizer's first buffer of each
(velocity, Adam's m, RMSprop's square), its second (Adam's v), and the activation codes."""
Buffers = namedtuple("Buffers", "zs acts gs deltas rows z_first d_first gram")
"""Work arrays allocated once: per layer z, a, g = W^T delta, delta (index 0 unused: layer 1's live in
the chunk's rows z_first and d_first); the chunk's inputs ``rows`` and its Gram matrix."""
Rule = namedtuple("Rule", "cross_entropy keep_logits has_bias momentum decay lr mu wd slope chunk "
                         "kind b1 b2 one_b1 one_b2 eps keep zero one beta1 beta2")
"""The update: output error form, whether z_L is kept for the loss, biases, momentum and decay
switches, lr, mu, lambda, leaky slope, chunk length; then the rule's number in KINDS and its settings in
the weights' dtype (b1, b2: Adam's betas or RMSprop's alpha; one_b1 = 1 - b1, one_b2 = 1 - b2; eps;
keep = 1 - lr lambda, AdamW's decoupled decay; 0 and 1) and, in float64, the betas of Adam's bias corrections."""
KINDS = {"sgd": 0, "nesterov": 1, "adam": 2, "adamw": 3, "rmsprop": 4}
"""The number ``_step`` knows each update rule by (nnexp.nn.kernels.base.RULES)."""


@njit(cache=True, fastmath=FLAGS)
def _activate(code, z, a, slope):
    """a = f(z) for the activation numbered ``code`` (see CODES)."""
    n = z.shape[0]
    if code == 0:
        for k in range(n):
            a[k] = 1.0 / (1.0 + np.exp(-z[k]))
    elif code == 1:
        for k in range(n):
            a[k] = np.tanh(z[k])
    elif code == 2:
        for k in range(n):
            a[k] = z[k] if z[k] > 0 else 0.0
    elif code == 3:
        for k in range(n):
            a[k] = z[k] if z[k] > 0 else slope * z[k]
    elif code == 4:
        for k in range(n):
            a[k] = z[k]
    else:
        top = z.max()
        total = 0.0
        for k in range(n):
            a[k] = np.exp(z[k] - top)
            total += a[k]
        for k in range(n):
            a[k] = a[k] / total


@njit(cache=True, fastmath=FLAGS)
def _backward(code, z, a, g, out, slope):
    """out = dL/dz from g = dL/da for the activation numbered ``code``."""
    n = z.shape[0]
    if code == 0:
        for k in range(n):
            out[k] = g[k] * a[k] * (1.0 - a[k])
    elif code == 1:
        for k in range(n):
            out[k] = g[k] * (1.0 - a[k] * a[k])
    elif code == 2:
        for k in range(n):
            out[k] = g[k] if z[k] > 0 else 0.0
    elif code == 3:
        for k in range(n):
            out[k] = g[k] if z[k] > 0 else g[k] * slope
    elif code == 4:
        for k in range(n):
            out[k] = g[k]
    else:
        dot = 0.0
        for k in range(n):
            dot += g[k] * a[k]
        for k in range(n):
            out[k] = a[k] * (g[k] - dot)


@njit(cache=True, fastmath=FLAGS)
def _dot_rows(w, a, z):
    """z = W a, row by row."""
    for o in range(w.shape[0]):
        acc = w[o, 0] * a[0]
        for k in range(1, w.shape[1]):
            acc += w[o, k] * a[k]
        z[o] = acc


@njit(cache=True, fastmath=FLAGS)
def _first_layer_rows(w, b, x, z, has_bias):
    """z = x W^T (+ b) for the rows of the chunk x (n, n_0): the first layer at the chunk's start (gemm)."""
    z[:, :] = np.dot(x, w.T)
    if has_bias:
        for r in range(x.shape[0]):
            for o in range(b.shape[0]):
                z[r, o] += b[o]


@njit(cache=True, fastmath=FLAGS)
def _gram(x, gram, has_bias):
    """gram = x x^T (+ 1 with a bias: its input is fixed at 1), (n, n) (gemm)."""
    gram[:x.shape[0], :x.shape[0]] = np.dot(x, x.T)
    if has_bias:
        gram += 1.0


@njit(cache=True, fastmath=FLAGS)
def _apply_deferred(w, b, x, d, lr, has_bias):
    """W <- W - lr D^T x and b <- b - lr sum_r d_r: the chunk's first-layer steps, all at once."""
    step = np.dot(d.T, x)                                   # (n_1, n_0), gemm
    for o in range(w.shape[0]):
        for i in range(w.shape[1]):
            w[o, i] -= lr * step[o, i]
        if has_bias:
            for r in range(x.shape[0]):
                b[o] -= lr * d[r, o]


@njit(cache=True, fastmath=FLAGS)
def _train_range(stack, buffers, rule, samples, outputs, logits, span):
    """Train on ``samples`` (x, y, order) order[start:stop] one at a time (``span``: start, stop, t);
    outputs[i] = a_L of sample i (and
    logits[i] = z_L when the rule keeps them).

    Samples go in chunks of ``chunk`` rows (gathered into ``rows``); within a chunk the first
    layer's updates are deferred as in blas.BlasTrainer (chunk 1 with momentum or
    decay): z_first[t] = W x_t - lr sum_{r<t} gram[r, t] d_first[r], one gemm-like pass per chunk.
    Items of the typed lists are taken out once per layer, never inside a loop over rows: every
    access costs a reference count, and would keep the row loops from being vectorised. ``t``: the
    optimizer's steps before sample ``start`` (one step per sample).
    """
    x, y, order = samples
    start, stop, t = span
    ws, bs, vws, vbs, sws, sbs, codes = stack
    zs, acts, gs, deltas, rows, z_first, d_first, gram = buffers
    cross_entropy, keep_logits, has_bias, lr, slope, chunk = (rule.cross_entropy, rule.keep_logits, rule.has_bias,
                                                              rule.lr, rule.slope, rule.chunk)
    n_layers = len(ws)
    last = n_layers - 1
    w_first, b_first = ws[0], bs[0]
    for first in range(start, stop, chunk):
        n = min(chunk, stop - first)
        x_chunk, z_chunk, d_chunk = rows[:n], z_first[:n], d_first[:n]
        for r in range(n):
            x_chunk[r, :] = x[order[first + r]]
        _first_layer_rows(w_first, b_first, x_chunk, z_chunk, has_bias)
        _gram(x_chunk, gram, has_bias)
        for q in range(n):
            i, j = first + q, order[first + q]
            step_t = t + i - start + 1                       # this sample's step of the optimizer
            z0 = z_chunk[q]
            for r in range(q):                               # W_q x_q from W at the chunk's start
                step = lr * gram[r, q]
                for o in range(z0.shape[0]):
                    z0[o] -= step * d_chunk[r, o]
            for layer in range(n_layers):                    # forward: z = W a (+ b), a = f(z)
                z = z0 if layer == 0 else zs[layer]
                if layer > 0:
                    _dot_rows(ws[layer], acts[layer - 1], z)
                    if has_bias:
                        b = bs[layer]
                        for o in range(z.shape[0]):
                            z[o] += b[o]
                _activate(codes[layer], z, acts[layer], slope)
            out = acts[last]
            outputs[i, :] = out
            if keep_logits:
                logits[i, :] = z0 if last == 0 else zs[last]
            delta = d_chunk[q] if last == 0 else deltas[last]
            if cross_entropy:
                for k in range(out.shape[0]):
                    delta[k] = out[k] - y[j, k]
            else:
                g = gs[last]
                for k in range(out.shape[0]):
                    g[k] = out[k] - y[j, k]
                _backward(codes[last], z0 if last == 0 else zs[last], out, g, delta, slope)
            for layer in range(last, 0, -1):                 # backward, updating each upper layer in turn
                w, v = ws[layer], vws[layer]                  # (list items fetched once, not per row)
                g = gs[layer - 1]                           # g = W^T delta, before W changes
                g[:] = 0.0
                for o in range(w.shape[0]):
                    for k in range(w.shape[1]):
                        g[k] += w[o, k] * delta[o]
                kept = (v, vbs[layer], sws[layer], sbs[layer])
                _step(w, bs[layer], kept, acts[layer - 1], delta, rule, step_t)
                below = d_chunk[q] if layer == 1 else deltas[layer - 1]
                _backward(codes[layer - 1], z0 if layer == 1 else zs[layer - 1], acts[layer - 1], g, below, slope)
                delta = below
        if chunk > 1:
            _apply_deferred(w_first, b_first, x_chunk, d_chunk, lr, has_bias)
        else:
            _step(w_first, b_first, (vws[0], vbs[0], sws[0], sbs[0]), x_chunk[0], d_chunk[0], rule,
                  t + first - start + 1)


def typed_list(arrays):
    result = List()
    for array in arrays:
        result.append(array)
    return result


class NumbaTrainer(PerSampleTrainer):
    """The compiled kernel: the network's and the optimizer's own arrays, updated in place."""

    def __init__(self, network, optimizer):
        super().__init__(network, optimizer)
        dtype, sizes, n = self.dtype, self.stack.sizes, len(self.stack.weights)
        scalar = dtype.type
        vectors = lambda first: typed_list([np.zeros(k, dtype) for k in [first, *sizes[2:]]])  # noqa: E731
        # without biases or momentum, same-typed empty stand-ins keep one compiled signature
        none = lambda shape: typed_list([np.zeros(shape, dtype)] * n)  # noqa: E731
        buffers_w = [typed_list(arrays) for arrays in self.buffers_w] + [none((0, 0))] * (2 - len(self.buffers_w))
        buffers_b = [typed_list(arrays) for arrays in self.buffers_b] + [none(0)] * (2 - len(self.buffers_b))
        self.arrays = Stack(ws=typed_list(self.stack.weights),
                            bs=typed_list(self.stack.biases) if self.has_bias else none(0),
                            vws=buffers_w[0], vbs=buffers_b[0], sws=buffers_w[1], sbs=buffers_b[1],
                            codes=np.array([f.code for f in self.stack.activations], dtype=np.int64))
        self.buffers = Buffers(zs=vectors(0), acts=typed_list([np.zeros(k, dtype) for k in sizes[1:]]),
                               gs=typed_list([np.zeros(k, dtype) for k in sizes[1:]]), deltas=vectors(0),
                               rows=np.empty((self.chunk, sizes[0]), dtype),
                               z_first=np.empty((self.chunk, sizes[1]), dtype),
                               d_first=np.empty((self.chunk, sizes[1]), dtype),
                               gram=np.empty((self.chunk, self.chunk), dtype))
        self.rule = Rule(self.cross_entropy, self.stack.loss.from_logits, self.has_bias,
                         self.velocity_w is not None, self.decay,
                         scalar(self.lr), scalar(self.momentum), scalar(self.weight_decay), scalar(LEAKY_SLOPE),
                         self.chunk, KINDS[self.rule_name], *self.adaptive_settings(scalar))

    def adaptive_settings(self, scalar):
        """Rule's b1 b2 one_b1 one_b2 eps keep zero one (in the weights' dtype) and beta1 beta2 (float64): Adam's
        betas, or RMSprop's alpha as b1; 1 - x is taken in float64 first, as the reference's Python does."""
        opt = self.optimizer
        b1, b2 = (opt.beta1, opt.beta2) if self.rule_name in ("adam", "adamw") else (getattr(opt, "alpha", 0.0), 0.0)
        eps = getattr(opt, "eps", 0.0)
        return (scalar(b1), scalar(b2), scalar(1 - b1), scalar(1 - b2), scalar(eps),
                scalar(1 - self.lr * self.weight_decay), scalar(0), scalar(1), float(b1), float(b2))

    def rate_changed(self):
        scalar = self.dtype.type
        self.rule = self.rule._replace(lr=scalar(self.lr), keep=scalar(1 - self.lr * self.weight_decay))

    def train_range(self, x, y, order, outputs, logits, start, stop):
        logits = outputs[:0] if logits is None else logits      # a stand-in of the same type, never read
        with compile_notice(self.dtype):
            _train_range(self.arrays, self.buffers, self.rule, (x, y, order), outputs, logits,
                         (start, stop, self.optimizer.t))


COMPILE_NOTICE_SECONDS = 3.0
"""A first call still running after this long is compiling, not loading numba's disk cache (about 1 s)."""

_noticed: set[str] = set()


class compile_notice:
    """Around a call of the kernel: if the first call for ``dtype`` in this process is still running
    after COMPILE_NOTICE_SECONDS, say on the console (once) that numba is compiling it."""

    def __init__(self, dtype):
        self.key = str(dtype)
        self.timer = None

    def __enter__(self):
        if self.key not in _noticed:
            _noticed.add(self.key)
            self.timer = threading.Timer(COMPILE_NOTICE_SECONDS, log.warning,
                                         ["numba is compiling the per-sample kernel for %s: once per install "
                                          "(about 10-30 s), then loaded from numba's cache", self.key])
            self.timer.daemon = True
            self.timer.start()
        return self

    def __exit__(self, *exc):
        if self.timer is not None:
            self.timer.cancel()
