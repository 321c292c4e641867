"""Convolution and pooling layers (CS231n style, the interface of ``nnexp.nn.layers.Layer``).

Image tensors are ``(N, C, H, W)``: samples, channels, height, width. Convolution is computed as
one matrix product over im2col columns (a Python loop only over the ``kh * kw`` kernel offsets);
a naive loop convolution lives in the tests, only to check this one.

Memory layout: shapes are always (N, C, H, W), but conv and pooling outputs are transposed views of
C-contiguous (C, N, H, W) arrays. im2col wants channel-major columns, and NumPy elementwise work
is several times faster when all operands share one layout, so the maps stay channel-major from
layer to layer and no copy is made only to reorder them.
"""

import numpy as np

from ..errors import ConfigError
from .layers import CompiledMoves, Layer, Parameter, ParameterFreeLayer, WeightLayer, pair

POOL_MODES = ("max", "avg")


def conv_output_size(size, kernel_size, stride, pad, dilation):
    """Output length of a convolution along one axis: (size + 2 pad - d (k - 1) - 1) // stride + 1."""
    return (size + 2 * pad - dilation * (kernel_size - 1) - 1) // stride + 1


def _offset_slices(i, j, dilation, stride, ho, wo):
    """Rows and columns of the padded input that kernel offset (i, j) sees, for every output pixel."""
    r, c = i * dilation, j * dilation
    return slice(r, r + stride * (ho - 1) + 1, stride), slice(c, c + stride * (wo - 1) + 1, stride)


def im2col(x, kernel_size, stride, pad, dilation):
    """Columns of every receptive field of ``x: (N, C, H, W)``.

    Returns ``cols: (C * kh * kw, N * Ho * Wo)`` with
    cols[(c, i, j), (n, p, q)] = xpad[n, c, p s + i d, q s + j d]  (s stride, d dilation),
    so a convolution is the matrix product W.reshape(F, C kh kw) @ cols.
    """
    n, c, h, w = x.shape
    kh, kw = kernel_size
    ph, pw = pad
    if (kh, kw, ph, pw, stride) == (1, 1, 0, 0, 1):  # 1x1 (pointwise): the pixels themselves
        return np.ascontiguousarray(x.transpose(1, 0, 2, 3)).reshape(c, n * h * w)
    ho = conv_output_size(h, kh, stride, ph, dilation)
    wo = conv_output_size(w, kw, stride, pw, dilation)
    xp = np.zeros((c, n, h + 2 * ph, w + 2 * pw), dtype=x.dtype)
    xp[:, :, ph:ph + h, pw:pw + w] = x.transpose(1, 0, 2, 3)
    cols = np.empty((c, kh, kw, n, ho, wo), dtype=x.dtype)
    for i in range(kh):
        for j in range(kw):
            rows, columns = _offset_slices(i, j, dilation, stride, ho, wo)
            cols[:, i, j] = xp[:, :, rows, columns]
    return cols.reshape(c * kh * kw, n * ho * wo)


def col2im(cols, x_shape, kernel_size, stride, pad, dilation):
    """Adjoint of ``im2col``: sum the column gradients back onto the input, ``dx: (N, C, H, W)``.

    dx[n, c, h, w] = sum of dcols[(c, i, j), (n, p, q)] over every (i, j, p, q) that read x[n, c, h, w].
    """
    n, c, h, w = x_shape
    kh, kw = kernel_size
    ph, pw = pad
    if (kh, kw, ph, pw, stride) == (1, 1, 0, 0, 1):
        return cols.reshape(c, n, h, w).transpose(1, 0, 2, 3)
    ho = conv_output_size(h, kh, stride, ph, dilation)
    wo = conv_output_size(w, kw, stride, pw, dilation)
    cols = cols.reshape(c, kh, kw, n, ho, wo)
    dxp = np.zeros((c, n, h + 2 * ph, w + 2 * pw), dtype=cols.dtype)
    for i in range(kh):
        for j in range(kw):
            rows, columns = _offset_slices(i, j, dilation, stride, ho, wo)
            dxp[:, :, rows, columns] += cols[:, i, j]
    return dxp[:, :, ph:ph + h, pw:pw + w].transpose(1, 0, 2, 3)




def geometry(layer):
    """A convolution's kernel, stride, pad and dilation as text (for its repr)."""
    (kh, kw), (ph, pw) = layer.kernel_size, layer.pad
    return f"kernel {kh}x{kw}, stride {layer.stride}, pad {ph}x{pw}, dilation {layer.dilation}"


def biased_maps(layer, out, x_shape, cols, train, shape):
    """A convolution's output matrix ``out`` (F, N Ho Wo) plus the layer's bias per map, as
    (N, F, Ho, Wo) maps (a view of channel-major memory); in training the layer keeps (x_shape, cols)."""
    if layer.b is not None:
        out += layer.b[:, None]
    if train:
        layer.cache = (x_shape, cols)
    return out.reshape(shape).transpose(1, 0, 2, 3)


class Conv2D(CompiledMoves, WeightLayer):
    """2-D convolution (cross-correlation) with zero padding, stride and dilation.

    x: (N, C, H, W), W: (F, C, kh, kw), b: (F,), out: (N, F, Ho, Wo) with
    out[n, f, p, q] = b[f] + sum_{c,i,j} W[f, c, i, j] xpad[n, c, p s + i d, q s + j d],
    Ho = (H + 2 ph - d (kh - 1) - 1) // s + 1 (and Wo alike).
    As matrices: out = Wm @ cols + b with Wm = W.reshape(F, C kh kw) and cols = im2col(x), so
    dW = dout @ cols^T, db = sum of dout over (n, p, q), dcols = Wm^T @ dout and dx = col2im(dcols).
    """

    def __init__(self, in_channels, filters, kernel_size, stride=1, pad=0, dilation=1, bias=True,
                 init="he", rng=None, dtype=np.float32, uniform_limit=0.5):
        super().__init__()
        self.kernel_size, self.pad = pair(kernel_size), pair(pad)
        self.stride, self.dilation = int(stride), int(dilation)
        kh, kw = self.kernel_size
        self._init_params((filters, in_channels, kh, kw), (in_channels * kh * kw, filters * kh * kw),
                          filters if bias else None, init, rng, dtype, uniform_limit)

    def __repr__(self):
        f, c = self.W.shape[:2]
        return f"Conv2D({c} -> {f}, {geometry(self)}, {self.bias_text})"

    def output_shape(self, shape):
        c, h, w = shape
        (kh, kw), (ph, pw) = self.kernel_size, self.pad
        return (self.W.shape[0], conv_output_size(h, kh, self.stride, ph, self.dilation),
                conv_output_size(w, kw, self.stride, pw, self.dilation))

    def forward(self, x, train=False, rng=None):
        """out = W * x + b (see the class docstring); x: (N, C, H, W) -> (N, F, Ho, Wo)."""
        n, _, h, w = x.shape
        f = self.W.shape[0]
        _, ho, wo = self.output_shape(x.shape[1:])
        if self.moves_compiled(x):
            cols = self.compiled.im2col(x, self.kernel_size, self.stride, self.pad, self.dilation, ho, wo)
        else:
            cols = im2col(x, self.kernel_size, self.stride, self.pad, self.dilation)
        wm = self.W.reshape(f, -1)
        out = wm * cols if wm.shape[1] == 1 else wm @ cols  # OpenBLAS is slow for inner size 1
        return biased_maps(self, out, x.shape, cols, train, (f, n, ho, wo))

    def backward(self, dout):
        """dout: (N, F, Ho, Wo) -> dx: (N, C, H, W); gradients dW (F, C, kh, kw), db (F,)."""
        x_shape, cols = self.cache
        f = self.W.shape[0]
        dmat = dout.transpose(1, 0, 2, 3).reshape(f, -1)
        self._set_grads((dmat @ cols.T).reshape(self.W.shape), dmat.sum(axis=1) if self.b is not None else None)
        if not self.input_grad:
            return None
        dcols = self.W.reshape(f, -1).T @ dmat
        if self.moves_compiled(dout):
            return self.compiled.col2im(dcols, x_shape, self.kernel_size, self.stride, self.pad, self.dilation,
                                        *dout.shape[2:])
        return col2im(dcols, x_shape, self.kernel_size, self.stride, self.pad, self.dilation)


class DepthwiseConv2D(WeightLayer):
    """Depthwise convolution: channel c is convolved with its own single filter W[c, 0].

    x: (N, C, H, W), W: (C, 1, kh, kw), b: (C,), out: (N, C, Ho, Wo) with
    out[n, c, p, q] = b[c] + sum_{i,j} W[c, 0, i, j] xpad[n, c, p s + i d, q s + j d].
    With cols = im2col(x) viewed as (C, kh kw, M): out[c] = W[c] @ cols[c],
    dW[c] = cols[c] @ dout[c], dcols[c] = W[c]^T dout[c] (an outer product), dx = col2im(dcols).
    """

    def __init__(self, channels, kernel_size, stride=1, pad=0, dilation=1, bias=False,
                 init="he", rng=None, dtype=np.float32, uniform_limit=0.5):
        super().__init__()
        self.kernel_size, self.pad = pair(kernel_size), pair(pad)
        self.stride, self.dilation = int(stride), int(dilation)
        kh, kw = self.kernel_size
        self._init_params((channels, 1, kh, kw), (kh * kw, kh * kw), channels if bias else None, init, rng, dtype,
                          uniform_limit)

    def __repr__(self):
        return f"DepthwiseConv2D({self.W.shape[0]}, {geometry(self)}, {self.bias_text})"

    def output_shape(self, shape):
        c, h, w = shape
        (kh, kw), (ph, pw) = self.kernel_size, self.pad
        return (c, conv_output_size(h, kh, self.stride, ph, self.dilation),
                conv_output_size(w, kw, self.stride, pw, self.dilation))

    def forward(self, x, train=False, rng=None):
        """x: (N, C, H, W) -> (N, C, Ho, Wo), each channel filtered on its own."""
        n, c, _, _ = x.shape
        _, ho, wo = self.output_shape(x.shape[1:])
        cols = im2col(x, self.kernel_size, self.stride, self.pad, self.dilation).reshape(c, -1, n * ho * wo)
        out = np.einsum("ck,ckm->cm", self.W.reshape(c, -1), cols, optimize=True)
        return biased_maps(self, out, x.shape, cols, train, (c, n, ho, wo))

    def backward(self, dout):
        """dout: (N, C, Ho, Wo) -> dx: (N, C, H, W); gradients dW (C, 1, kh, kw), db (C,)."""
        x_shape, cols = self.cache
        c = x_shape[1]
        dmat = dout.transpose(1, 0, 2, 3).reshape(c, -1)
        self._set_grads(np.einsum("ckm,cm->ck", cols, dmat, optimize=True).reshape(self.W.shape),
                        dmat.sum(axis=1) if self.b is not None else None)
        if not self.input_grad:
            return None
        dcols = self.W.reshape(c, -1, 1) * dmat[:, None, :]
        return col2im(dcols, x_shape, self.kernel_size, self.stride, self.pad, self.dilation)


class SeparableConv2D(Layer):
    """Depthwise-separable convolution: a depthwise conv (kh x kw, one filter per channel, no bias)
    followed by a pointwise 1x1 conv mixing the channels (F filters, optional bias).

    x: (N, C, H, W) -> (N, F, Ho, Wo). The effective filters are W[f, c] = Wp[f, c] Wd[c]
    (rank one across channels), with C (kh kw) + F C weights instead of F C kh kw.
    No activation sits between the two, so with init=he the depthwise part gets the linear-layer
    variance 1 / fan_in (init=normal) and only the pointwise part the relu gain 2 / fan_in.
    """

    def __init__(self, in_channels, filters, kernel_size, stride=1, pad=0, dilation=1, bias=True,
                 init="he", rng=None, dtype=np.float32, uniform_limit=0.5):
        super().__init__()
        depth_init = "normal" if init == "he" else init
        self.depthwise = DepthwiseConv2D(in_channels, kernel_size, stride, pad, dilation, False,
                                         depth_init, rng, dtype, uniform_limit)
        self.pointwise = Conv2D(in_channels, filters, 1, 1, 0, 1, bias, init, rng, dtype,
                                uniform_limit)
        self.parts = (self.depthwise, self.pointwise)
        self.depthwise.parameters[0].name, self.pointwise.parameters[0].name = "Wd", "Wp"

    @property
    def parameters(self) -> list[Parameter]:
        """Wd, Wp and b: the records of its two parts."""
        return self.depthwise.parameters + self.pointwise.parameters

    def __repr__(self):
        f, c = self.pointwise.W.shape[:2]
        return f"SeparableConv2D({c} -> {f}, {geometry(self.depthwise)}, {self.pointwise.bias_text})"

    def output_shape(self, shape):
        return self.pointwise.output_shape(self.depthwise.output_shape(shape))

    @property
    def filters(self):
        """The effective (F, C, kh, kw) filters Wp[f, c] Wd[c] of the composed convolution."""
        wd, wp = self.depthwise.W, self.pointwise.W
        return wp[:, :, 0, 0][:, :, None, None] * wd[None, :, 0]

    def forward(self, x, train=False, rng=None):
        """x: (N, C, H, W) -> pointwise(depthwise(x)): (N, F, Ho, Wo)."""
        return self.pointwise.forward(self.depthwise.forward(x, train), train)

    def backward(self, dout):
        """dout: (N, F, Ho, Wo) -> dx: (N, C, H, W); each part fills its own parameters' gradients."""
        self.depthwise.input_grad = self.input_grad
        return self.depthwise.backward(self.pointwise.backward(dout))


class Pool2D(CompiledMoves, ParameterFreeLayer):
    """Max or average pooling over size x size windows moved by ``stride`` (default: size).

    x: (N, C, H, W) -> out: (N, C, Ho, Wo), Ho = (H - size) // stride + 1 (leftover rows and
    columns are dropped). max: out = max over the window, and the backward routes the error from
    above, dout, to the input that was the maximum (the first one on a tie), zero elsewhere.
    avg: out = window mean, and each input gets dout / size^2 from every window holding it.
    """

    def __init__(self, mode="max", size=2, stride=None):
        super().__init__()
        if mode not in POOL_MODES:
            raise ConfigError(f"unknown pool mode {mode!r}; choose one of {', '.join(POOL_MODES)}")
        self.mode, self.size = mode, int(size)
        self.stride = int(stride) if stride is not None else self.size

    def output_shape(self, shape):
        c, h, w = shape
        return (c, (h - self.size) // self.stride + 1, (w - self.size) // self.stride + 1)

    def __repr__(self):
        return f"Pool2D({self.mode}, size {self.size}, stride {self.stride})"

    def _windows(self, ho, wo):
        """Slices of the input seen by each window offset (i, j), i, j < size."""
        return [_offset_slices(i, j, 1, self.stride, ho, wo)
                for i in range(self.size) for j in range(self.size)]

    def forward(self, x, train=False, rng=None):
        """x: (N, C, H, W) -> (N, C, Ho, Wo), the max or mean of each window.

        The size^2 window offsets are stacked into one contiguous (size^2, C, N, Ho, Wo) array
        (arithmetic on strided slices is several times slower) and reduced over axis 0.
        """
        _, ho, wo = self.output_shape(x.shape[1:])
        if self.moves_compiled(x) and self.mode == "max":
            out, winner = self.compiled.max_pool(x, self.size, self.stride, ho, wo)
            if train:
                self.cache = (x.shape, winner, None)
            return out.transpose(1, 0, 2, 3)
        xt = x.transpose(1, 0, 2, 3)
        stacked = np.stack([xt[:, :, r, c] for r, c in self._windows(ho, wo)])
        out = stacked.mean(axis=0) if self.mode == "avg" else stacked.max(axis=0)
        if train:
            self.cache = (x.shape, stacked if self.mode == "max" else None, out)
        return out.transpose(1, 0, 2, 3)

    def backward(self, dout):
        """dout: (N, C, Ho, Wo) -> dx: (N, C, H, W), the error from above routed to the inputs.

        max: offset k of a window gets dout where it holds the window's maximum and no earlier
        offset does (one winner per window, so ties do not multiply the gradient).
        avg: every offset gets dout / size^2.
        """
        (n, c, h, w), stacked, out = self.cache
        if out is None:                               # the compiled forward kept each window's winner
            return self.compiled.max_pool_backward(dout, stacked, (n, c, h, w), self.size, self.stride)
        dout = dout.transpose(1, 0, 2, 3)
        dx = np.zeros((c, n, h, w), dtype=dout.dtype)
        share = dout / np.asarray(self.size * self.size, dout.dtype)
        taken = np.zeros(out.shape, dtype=bool)
        for k, (r, q) in enumerate(self._windows(*out.shape[2:])):
            if self.mode == "avg":
                part = share
            else:
                hit = stacked[k] == out
                hit &= ~taken
                taken |= hit
                part = dout * hit
            if self.stride < self.size:
                dx[:, :, r, q] += part
            else:
                dx[:, :, r, q] = part
        return dx.transpose(1, 0, 2, 3)
