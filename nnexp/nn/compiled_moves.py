"""Convolution's, max pooling's and relu's data movement compiled with numba (the extra ``nnexp[fast]``),
on numba's threads: ``im2col``, ``col2im``, max pooling forward and backward in parallel over the
(channel, sample) planes of the channel-major maps (nnexp/nn/conv.py keeps maps as views of C-contiguous
(C, N, H, W) memory), and relu over chunks of its input's memory.

They move and add the same numbers in the same order as the NumPy reference of nnexp/nn/conv.py, so
training on them gives the same weights bit for bit (tested):

- im2col copies; a position in the padding is 0.
- col2im adds each column's entry onto its input pixel in kernel-offset order (i, j), starting from 0,
  as the reference's ``dxp[..] += cols[:, i, j]`` does (no fast-math: no reordering of the sums).
- relu gives max(z, 0) and g [z > 0] as NumPy's ``np.maximum(z, 0)`` and ``g * (z > 0)`` do.
- max pooling keeps the first maximum of a window in offset order (k = i size + j) and routes the
  error to it, as the reference's "first offset that holds the maximum" does; a NaN anywhere in a
  window makes its maximum NaN, as ``np.max`` does.

The matrix products stay with BLAS, which is threaded already.
"""

import os

import numba
import numpy as np
from numba import njit, prange

if "NUMBA_THREADING_LAYER" not in os.environ:
    # numba's own work queue: its threads sleep between loops. OpenMP's spin after each loop, and beside
    # OpenBLAS's threads (which spin after each product) two cores held four busy threads: a CNN epoch
    # measured 2x slower than NumPy's single-threaded moves, and 1.4x faster with the work queue.
    numba.config.THREADING_LAYER = "workqueue"


@njit(cache=True)
def _inside(size, stride, offset, pad, length):
    """The output positions [lo, hi) whose input position ``p stride + offset - pad`` lies in [0, size)."""
    lo = max(0, -((offset - pad) // stride))                  # ceil((pad - offset) / stride)
    hi = min(length, (size - 1 + pad - offset) // stride + 1) if size - 1 + pad - offset >= 0 else 0
    return lo, max(lo, hi)


# The loops below index flat (1-D) views of C-contiguous arrays with offsets they compute, as unsigned
# integers: taking a row of a 4-D or 6-D array inside a loop makes an array object each time, and a signed
# index is checked for being negative on every access (each measured 2-3x slower). Each parallel loop
# calls a plain compiled function per (channel, sample) plane: numba's parallel loops compile their body
# less well (pooling measured 3x slower written inline). A convolution's ``geometry`` is the tuple (kh, kw,
# stride, ph, pw, dilation, Ho, Wo), a pooling's ``grid`` (stride, Ho, Wo).

@njit(cache=True)
def _im2col_plane(plane, xf, shape, geometry, colsf):
    """One (channel, sample) plane of _im2col."""
    kh, kw, stride, ph, pw, dilation, ho, wo = geometry
    channels, samples, h, w = shape
    c, n = plane // samples, plane % samples
    source = plane * h * w
    for i in range(kh):
        for j in range(kw):
            lo, hi = _inside(w, stride, j * dilation, pw, wo)
            shift = j * dilation - pw
            for p in range(ho):
                row = p * stride + i * dilation - ph
                target = ((((c * kh + i) * kw + j) * samples + n) * ho + p) * wo
                if row < 0 or row >= h:
                    for q in range(wo):
                        colsf[np.uint64(target + q)] = 0
                    continue
                line = source + row * w + shift
                for q in range(lo):
                    colsf[np.uint64(target + q)] = 0
                for q in range(lo, hi):               # unsigned: no check for a negative index
                    colsf[np.uint64(target + q)] = xf[np.uint64(line + q * stride)]
                for q in range(hi, wo):
                    colsf[np.uint64(target + q)] = 0


@njit(parallel=True, cache=True)
def _im2col(xf, shape, geometry, colsf):
    """cols[c, i, j, n, p, q] = x[c, n, p s + i d - ph, q s + j d - pw] (0 outside), on flat views of
    x (C, N, H, W) and cols (C, kh, kw, N, Ho, Wo)."""
    channels, samples, h, w = shape
    for plane in prange(channels * samples):
        _im2col_plane(plane, xf, shape, geometry, colsf)


@njit(cache=True)
def _col2im_plane(plane, colsf, geometry, shape, dxf):
    """One (channel, sample) plane of _col2im."""
    kh, kw, stride, ph, pw, dilation, ho, wo = geometry
    channels, samples, h, w = shape
    c, n = plane // samples, plane % samples
    target = plane * h * w
    for i in range(kh):
        for j in range(kw):
            lo, hi = _inside(w, stride, j * dilation, pw, wo)
            shift = j * dilation - pw
            for p in range(ho):
                row = p * stride + i * dilation - ph
                if 0 <= row < h:
                    source = ((((c * kh + i) * kw + j) * samples + n) * ho + p) * wo
                    line = target + row * w + shift
                    for q in range(lo, hi):
                        dxf[np.uint64(line + q * stride)] += colsf[np.uint64(source + q)]


@njit(parallel=True, cache=True)
def _col2im(colsf, geometry, shape, dxf):
    """dx[c, n, y, x] += cols[c, i, j, n, p, q] over every (i, j, p, q) that read pixel (y, x), offsets
    (i, j) in order, on flat views of cols (C, kh, kw, N, Ho, Wo) and dx (C, N, H, W) (zeros)."""
    channels, samples, h, w = shape
    for plane in prange(channels * samples):
        _col2im_plane(plane, colsf, geometry, shape, dxf)


@njit(cache=True)
def _max_pool_plane(plane, xf, shape, offsets, grid, outf, winnerf):
    """One (channel, sample) plane of _max_pool."""
    stride, ho, wo = grid
    channels, samples, h, w = shape
    source, target = plane * h * w, plane * ho * wo
    for p in range(ho):
        for q in range(wo):
            corner = source + p * stride * w + q * stride
            best = xf[np.uint64(corner)]
            first = 0
            for k in range(1, offsets.shape[0]):
                value = xf[np.uint64(corner + offsets[k])]
                if value > best or value != value:
                    best = value
                    first = k
            outf[np.uint64(target + p * wo + q)] = best
            winnerf[np.uint64(target + p * wo + q)] = first


@njit(parallel=True, cache=True)
def _max_pool(xf, shape, offsets, grid, outf, winnerf):
    """out[c, n, p, q] = max of the window at (p s, q s) of x (C, N, H, W), whose k-th value lies
    ``offsets[k]`` (= i W + j) after its corner; winner: k of its first maximum (a NaN wins: the max is
    NaN, as np.max gives); flat views."""
    channels, samples, h, w = shape
    for plane in prange(channels * samples):
        _max_pool_plane(plane, xf, shape, offsets, grid, outf, winnerf)


@njit(cache=True)
def _max_pool_backward_plane(plane, doutf, winnerf, offsets, grid, shape, dxf):
    """One (channel, sample) plane of _max_pool_backward. Overlapping windows (stride < size) add onto a
    pixel offset by offset (k outer), in the reference's order; otherwise each pixel gets one value."""
    stride, ho, wo = grid
    channels, samples, h, w = shape
    source, target = plane * ho * wo, plane * h * w
    size = offsets.shape[0]
    for k in range(size if stride * stride < size else 1):
        for p in range(ho):
            for q in range(wo):
                at = np.uint64(source + p * wo + q)
                if stride * stride >= size or winnerf[at] == k:
                    dxf[np.uint64(target + p * stride * w + q * stride + offsets[winnerf[at]])] += doutf[at]


@njit(parallel=True, cache=True)
def _max_pool_backward(doutf, winnerf, offsets, grid, shape, dxf):
    """dx[c, n, (p s, q s) + offsets[k]] += dout[c, n, p, q] at each window's winner k; flat views of
    dout, winner (C, N, Ho, Wo) and dx (C, N, H, W) (zeros)."""
    channels, samples, h, w = shape
    for plane in prange(channels * samples):
        _max_pool_backward_plane(plane, doutf, winnerf, offsets, grid, shape, dxf)


def window_offsets(size, width):
    """Offset of window value k = i size + j from the window's corner in a row of ``width``: i width + j."""
    return np.array([i * width + j for i in range(size) for j in range(size)], dtype=np.int64)


@njit(parallel=True, cache=True)
def _relu(zf, af, chunk):
    """a = max(z, 0) (a NaN stays NaN, -0 gives +0, as np.maximum(z, 0)), in chunks of ``chunk`` values."""
    for part in prange((zf.shape[0] + chunk - 1) // chunk):
        for i in range(part * chunk, min((part + 1) * chunk, zf.shape[0])):
            value = zf[np.uint64(i)]
            af[np.uint64(i)] = value if value > 0 or value != value else 0


@njit(parallel=True, cache=True)
def _relu_backward(zf, gf, outf, chunk):
    """out = g [z > 0] (g times 1 or 0, as NumPy's g * (z > 0)), in chunks of ``chunk`` values."""
    for part in prange((zf.shape[0] + chunk - 1) // chunk):
        for i in range(part * chunk, min((part + 1) * chunk, zf.shape[0])):
            at = np.uint64(i)
            outf[at] = gf[at] * (zf[at] > 0)


MIN_ELEMENTS = 1 << 16
"""Arrays with fewer values stay with NumPy (starting the threads costs more than the work)."""
CHUNK = 1 << 14
"""Values per parallel piece of relu."""


def memory_order(x):
    """x as the C-contiguous array of its memory: (that array, the axes that make x of it), or None when
    x is not a C-contiguous or channel-major array."""
    if x.flags.c_contiguous:
        return x, tuple(range(x.ndim))
    if x.ndim == 4 and x.transpose(1, 0, 2, 3).flags.c_contiguous:
        return x.transpose(1, 0, 2, 3), (1, 0, 2, 3)
    return None


def relu(z):
    """max(z, 0) on numba's threads, in z's own memory layout."""
    found = memory_order(z)
    if found is None:
        return np.maximum(z, 0)
    memory, axes = found
    out = np.empty_like(memory)
    _relu(memory.reshape(-1), out.reshape(-1), CHUNK)
    return out.transpose(axes)


def relu_backward(z, g):
    """g [z > 0] on numba's threads, in z's memory layout (g is brought to it when it differs)."""
    found = memory_order(z)
    if found is None:
        return g * (z > 0)
    memory, axes = found
    out = np.empty_like(memory)
    _relu_backward(memory.reshape(-1), np.ascontiguousarray(g.transpose(axes)).reshape(-1), out.reshape(-1), CHUNK)
    return out.transpose(axes)


def channel_major(x):
    """(N, C, H, W) maps -> the (C, N, H, W) view of the same memory (a copy only when it is not
    channel-major memory already)."""
    return np.ascontiguousarray(x.transpose(1, 0, 2, 3))


def im2col(x, kernel, stride, pad, dilation, ho, wo):
    """``nnexp.nn.conv.im2col`` on numba's threads: x (N, C, H, W) -> cols (C kh kw, N Ho Wo)."""
    (kh, kw), (ph, pw) = kernel, pad
    xt = channel_major(x)
    cols = np.empty(xt.shape[0] * kh * kw * xt.shape[1] * ho * wo, dtype=x.dtype)
    _im2col(xt.reshape(-1), xt.shape, (kh, kw, stride, ph, pw, dilation, ho, wo), cols)
    return cols.reshape(xt.shape[0] * kh * kw, -1)


def col2im(dcols, x_shape, kernel, stride, pad, dilation, ho, wo):
    """``nnexp.nn.conv.col2im`` on numba's threads: dcols (C kh kw, N Ho Wo) -> dx (N, C, H, W), a view
    of channel-major memory."""
    n, c, h, w = x_shape
    (kh, kw), (ph, pw) = kernel, pad
    dxt = np.zeros((c, n, h, w), dtype=dcols.dtype)
    _col2im(np.ascontiguousarray(dcols).reshape(-1), (kh, kw, stride, ph, pw, dilation, ho, wo), dxt.shape,
            dxt.reshape(-1))
    return dxt.transpose(1, 0, 2, 3)


def max_pool(x, size, stride, ho, wo):
    """Max pooling of x (N, C, H, W): (out (C, N, Ho, Wo), winner (C, N, Ho, Wo) int8 offsets)."""
    xt = channel_major(x)
    out = np.empty((xt.shape[0], xt.shape[1], ho, wo), dtype=x.dtype)
    winner = np.empty(out.shape, dtype=np.int8)
    _max_pool(xt.reshape(-1), xt.shape, window_offsets(size, xt.shape[3]), (stride, ho, wo), out.reshape(-1),
              winner.reshape(-1))
    return out, winner


def max_pool_backward(dout, winner, x_shape, size, stride):
    """The error dout (N, C, Ho, Wo) routed to each window's winner: dx (N, C, H, W), a view of
    channel-major memory."""
    n, c, h, w = x_shape
    doutt = channel_major(dout)
    dxt = np.zeros((c, n, h, w), dtype=dout.dtype)
    _max_pool_backward(doutt.reshape(-1), winner.reshape(-1), window_offsets(size, w),
                       (stride, doutt.shape[2], doutt.shape[3]), dxt.shape, dxt.reshape(-1))
    return dxt.transpose(1, 0, 2, 3)


def set_threads(count):
    """numba's threads for these loops in this thread: ``count`` (None: leave numba's default, every core)."""
    if count:
        numba.set_num_threads(min(int(count), numba.config.NUMBA_NUM_THREADS))
