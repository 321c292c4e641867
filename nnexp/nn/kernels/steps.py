"""The optimizers' per-sample steps of the numba kernel (``compiled``): SGD with or without momentum
and weight decay, Nesterov momentum, Adam, AdamW and RMSprop, each from one layer's rank-1 gradient
delta a_prev^T, on the layer's own arrays in place. Their formulas are nnexp.nn.optim's; the reference
path is what the tests hold them equal to, to float rounding.
"""

import numpy as np
from numba import njit

FLAGS = {"reassoc", "contract", "nsz"}
"""LLVM fast-math flags used: reorder sums, fuse multiply-adds, ignore the sign of zero. The optimizers'
loops also take ``error_model="numpy"``: a division by zero gives inf or NaN as in NumPy instead of a
checked branch, which let LLVM vectorise Adam's and RMSprop's divisions (measured 4x faster)."""

@njit(cache=True, fastmath=FLAGS)
def _update_layer(w, v, a_prev, delta, rule, decay):
    """SGD step of W from the rank-1 gradient delta a_prev^T (lr, mu, lambda and momentum from ``rule``).
    The choice of rule is made once, outside the loops: a branch inside the row loop keeps it from being
    vectorised (measured 1.8x slower)."""
    lr, mu, wd, momentum = rule.lr, rule.mu, rule.wd, rule.momentum
    n_out, n_in = w.shape
    if momentum:
        for o in range(n_out):
            d = delta[o]
            for i in range(n_in):
                grad = d * a_prev[i] + wd * w[o, i] if decay else d * a_prev[i]
                v[o, i] = mu * v[o, i] - lr * grad
                w[o, i] += v[o, i]
    elif decay:
        for o in range(n_out):
            d = delta[o]
            for i in range(n_in):
                w[o, i] -= lr * (d * a_prev[i] + wd * w[o, i])
    else:
        for o in range(n_out):
            step = lr * delta[o]
            for i in range(n_in):
                w[o, i] -= step * a_prev[i]


@njit(cache=True, fastmath=FLAGS)
def _update_bias(b, vb, delta, lr, mu, momentum):
    for o in range(b.shape[0]):
        if momentum:
            vb[o] = mu * vb[o] - lr * delta[o]
            b[o] += vb[o]
        else:
            b[o] -= lr * delta[o]


@njit(cache=True, fastmath=FLAGS, error_model="numpy")
def _nesterov(w, v, a_prev, delta, rule, decay):
    """Nesterov momentum (nnexp.nn.optim.SGD): g' = g (+ lambda w), v = mu v - lr g', w += mu v - lr g'."""
    n_out, n_in = w.shape
    lr, mu = rule.lr, rule.mu
    wd = rule.wd if decay else rule.zero                # no branch in the loop (see _adam)
    for o in range(n_out):
        d = delta[o]
        wo, vo = w[o], v[o]
        for i in range(n_in):
            grad = d * a_prev[i] + wd * wo[i]
            vi = mu * vo[i] - lr * grad
            vo[i] = vi
            wo[i] += mu * vi - lr * grad


@njit(cache=True, fastmath=FLAGS, error_model="numpy")
def _adam(w, m, v, a_prev, delta, rule, corrections, decay):
    """Adam and AdamW (nnexp.nn.optim.Adam) from the rank-1 gradient delta a_prev^T, with the step's
    bias ``corrections`` c1 = 1 - beta1^t, c2 = 1 - beta2^t: m = b1 m + (1 - b1) g', v = b2 v + (1 - b2) g'^2,
    w -= lr (m / c1) / (sqrt(v / c2) + eps); g' = g + lambda w (Adam's decay) or, AdamW, w *= 1 - lr lambda
    first."""
    n_out, n_in = w.shape
    c1, c2 = corrections[0], corrections[1]
    lr, b1, b2, one_b1, one_b2, eps = rule.lr, rule.b1, rule.b2, rule.one_b1, rule.one_b2, rule.eps
    # no branch inside the loop (it would not be vectorised): lambda = 0 and keep = 1 where a rule does
    # not apply them, which leave every value exactly as it is
    wd = rule.wd if decay and rule.kind == 2 else rule.zero
    keep = rule.keep if decay and rule.kind == 3 else rule.one
    for o in range(n_out):
        d = delta[o]
        wo, mo, vo = w[o], m[o], v[o]
        for i in range(n_in):
            grad = d * a_prev[i] + wd * wo[i]
            wo[i] *= keep
            mi = b1 * mo[i] + one_b1 * grad
            vi = b2 * vo[i] + one_b2 * (grad * grad)
            mo[i], vo[i] = mi, vi
            wo[i] -= lr * (mi / c1) / (np.sqrt(vi / c2) + eps)


@njit(cache=True, fastmath=FLAGS, error_model="numpy")
def _rmsprop(w, s, a_prev, delta, rule, decay):
    """RMSprop (nnexp.nn.optim.RMSprop): g' = g (+ lambda w), s = a s + (1 - a) g'^2, w -= lr g' / (sqrt(s) + eps)."""
    n_out, n_in = w.shape
    lr, alpha, one_alpha, eps = rule.lr, rule.b1, rule.one_b1, rule.eps
    wd = rule.wd if decay else rule.zero               # no branch in the loop (see _adam)
    for o in range(n_out):
        d = delta[o]
        wo, so = w[o], s[o]
        for i in range(n_in):
            grad = d * a_prev[i] + wd * wo[i]
            si = alpha * so[i] + one_alpha * (grad * grad)
            so[i] = si
            wo[i] -= lr * grad / (np.sqrt(si) + eps)


@njit(cache=True, fastmath=FLAGS)
def _step(w, b, kept, a_prev, delta, rule, t):
    """The optimizer's step of one layer (W, b; its ``kept`` buffers vw, vb, sw, sb) from its error delta
    and input a_prev, the ``t``-th step of training (Adam's bias corrections); biases never decay.
    ``rule.kind`` numbers the rule as nnexp.nn.kernels.compiled.KINDS does."""
    vw, vb, sw, sb = kept
    kind, has_bias, decay = rule.kind, rule.has_bias, rule.decay
    if kind == 0:
        _update_layer(w, vw, a_prev, delta, rule, decay)
        if has_bias:
            _update_bias(b, vb, delta, rule.lr, rule.mu, rule.momentum)
        return
    one = np.ones(1, w.dtype)
    bias, vbias, sbias = b.reshape((b.shape[0], 1)), vb.reshape((vb.shape[0], 1)), sb.reshape((sb.shape[0], 1))
    if kind == 1:
        _nesterov(w, vw, a_prev, delta, rule, decay)
        if has_bias:
            _nesterov(bias, vbias, one, delta, rule, False)
    elif kind <= 3:
        corrections = np.empty(2, w.dtype)                  # taken in float64, used in the weights' dtype
        corrections[0], corrections[1] = 1.0 - rule.beta1 ** t, 1.0 - rule.beta2 ** t
        _adam(w, vw, sw, a_prev, delta, rule, corrections, decay)
        if has_bias:
            _adam(bias, vbias, sbias, one, delta, rule, corrections, False)
    else:
        _rmsprop(w, vw, a_prev, delta, rule, decay)
        if has_bias:
            _rmsprop(bias, vbias, one, delta, rule, False)
