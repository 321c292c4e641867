"""A naive loop convolution: the oracle the im2col convolution is tested against."""

import numpy as np

from nnexp.nn.conv import conv_output_size
from nnexp.nn.layers import pair


def conv2d_naive(x, W, b=None, stride=1, pad=0, dilation=1):
    """Reference convolution by explicit loops; same shapes and math as ``Conv2D``."""
    n, c, h, w = x.shape
    f, _, kh, kw = W.shape
    ph, pw = pair(pad)
    ho = conv_output_size(h, kh, stride, ph, dilation)
    wo = conv_output_size(w, kw, stride, pw, dilation)
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    out = np.zeros((n, f, ho, wo), dtype=x.dtype)
    for s in range(n):
        for k in range(f):
            for p in range(ho):
                for q in range(wo):
                    total = 0.0 if b is None else b[k]
                    for i in range(kh):
                        for j in range(kw):
                            for ch in range(c):
                                total += W[k, ch, i, j] * xp[s, ch, p * stride + i * dilation,
                                                             q * stride + j * dilation]
                    out[s, k, p, q] = total
    return out


def conv2d_naive_backward(dout, x, W, stride=1, pad=0, dilation=1):
    """Reference gradients (dx, dW, db) of ``conv2d_naive`` by explicit loops."""
    n, c, h, w = x.shape
    f, _, kh, kw = W.shape
    ph, pw = pair(pad)
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    dxp, dW = np.zeros_like(xp), np.zeros_like(W)
    db = dout.sum(axis=(0, 2, 3))
    for s in range(n):
        for k in range(f):
            for p in range(dout.shape[2]):
                for q in range(dout.shape[3]):
                    for i in range(kh):
                        for j in range(kw):
                            r, col = p * stride + i * dilation, q * stride + j * dilation
                            dW[k, :, i, j] += dout[s, k, p, q] * xp[s, :, r, col]
                            dxp[s, :, r, col] += dout[s, k, p, q] * W[k, :, i, j]
    return dxp[:, :, ph:ph + h, pw:pw + w], dW, db
