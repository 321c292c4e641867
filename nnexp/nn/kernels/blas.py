"""The NumPy per-sample kernel (``kernel=numpy``): scipy's BLAS and ufuncs writing into buffers
allocated once; the arithmetic is written out in ``nnexp.nn.kernels``' docstring and in BlasTrainer's."""

import numpy as np
from scipy.linalg import blas

from .base import PerSampleTrainer


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

    def __init__(self, network, optimizer):
        super().__init__(network, optimizer)
        stack = self.stack
        double = self.dtype == np.float64
        self.gemv, self.ger, self.gemm, self.axpy = ((blas.dgemv, blas.dger, blas.dgemm, blas.daxpy) if double
                                                     else (blas.sgemv, blas.sger, blas.sgemm, blas.saxpy))
        sizes, dtype = stack.sizes, self.dtype
        self.first_deltas, self.first_z = np.empty((2, self.chunk, sizes[1]), dtype)   # z_1, delta_1 per row
        self.upper = np.triu(np.ones((self.chunk, self.chunk), dtype), 1)      # 1 where r < t
        self.zs = [None] + [np.empty(n, dtype) for n in sizes[2:]]       # z_2..z_L (z_1: first_z)
        self.acts = [np.empty(n, dtype) for n in sizes[1:-1]]   # a_1..a_{L-1}; a_L is a row of outputs
        self.deltas = [None] + [np.empty(n, dtype) for n in sizes[2:]]   # delta_2..delta_L (delta_1: first_deltas)
        self.gs = [np.empty(n, dtype) for n in sizes[1:]]
        self.scratch = [np.empty(n, dtype) for n in sizes[1:]]
        self.masks = [np.empty(n, bool) for n in sizes[1:]]
        self.ones = [np.ones(n, dtype) for n in sizes[1:]]
        self.lr_delta = [np.empty(n, dtype) for n in sizes[1:]]
        self.forward = [f.fn_into for f in stack.activations]
        self.backward = [f.backward_into for f in stack.activations]
        self.transposed = [w.T for w in stack.weights]             # Fortran-order views for BLAS
        self.velocity_t = [v.T for v in self.velocity_w] if self.velocity_w else None
        self.flat = [(w.reshape(-1), v.reshape(-1)) for w, v in zip(stack.weights, self.velocity_w or [])]

    def train_range(self, x, y, order, outputs, logits, start, stop):
        """Train on samples order[start:stop] in chunks; write each sample's output a_L into outputs[i]
        and, when ``logits`` is not None, its z_L into logits[i]."""
        for first in range(start, stop, self.chunk):
            rows = order[first:min(first + self.chunk, stop)]
            self.train_chunk(x[rows], y[rows], outputs[first:first + len(rows)],
                             None if logits is None else logits[first:first + len(rows)])

    def train_chunk(self, x, y, outputs, logits=None):
        """Train on the rows of x (n, n_0) one at a time; outputs[t] = a_L of row t (logits[t] = z_L).

        Written for few Python operations per sample: everything per layer is looked up once per
        chunk, and plain SGD without biases updates the upper layers with ger right in the loop.
        """
        n, lr, last, deferred = len(x), self.lr, len(self.zs) - 1, self.deferred
        gemv, ger, neg_lr, subtract = self.gemv, self.ger, -self.lr, np.subtract
        first_bias = self.stack.biases[0] if self.has_bias else None
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
                                 (self.stack.biases or [None] * (last + 1))[1:], range(2, last + 2)))
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
        for z0, delta0, out, target, column, logit in zip(z_first, deltas_first, outputs, y,
                                                          earlier.T if deferred else [None] * n,
                                                          [None] * n if logits is None else logits):
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
            if logit is not None:
                np.copyto(logit, out_z)
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
        lr, w, wt = self.lr, self.stack.weights[layer], self.transposed[layer]
        if self.velocity_t is None:
            if self.decay:
                np.multiply(w, 1 - lr * self.weight_decay, w)                 # w - lr lambda w
            self.ger(-lr, a_prev, delta, 1, 1, wt, 1, 1, 1)                    # w - lr delta a^T
        else:
            v, vt = self.velocity_w[layer], self.velocity_t[layer]
            np.multiply(v, self.momentum, v)
            if self.decay:
                w_flat, v_flat = self.flat[layer]
                self.axpy(w_flat, v_flat, a=-lr * self.weight_decay)         # v - lr lambda w
            self.ger(-lr, a_prev, delta, 1, 1, vt, 1, 1, 1)
            np.add(w, v, w)
        if self.has_bias:
            b, step = self.stack.biases[layer], self.lr_delta[layer]
            np.multiply(delta, lr, step)
            if self.velocity_t is None:
                np.subtract(b, step, b)
            else:
                vb = self.velocity_b[layer]
                np.multiply(vb, self.momentum, vb)
                np.subtract(vb, step, vb)
                np.add(b, vb, b)
