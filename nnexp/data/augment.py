"""Data augmentation: random shifts of the training images, drawn anew for every epoch.

``shift_images(x, shape, max_shift, background, rng)``: every image of x (N, C H W) moved by its own
(dy, dx), each uniform in {-max_shift, ..., max_shift}, the pixels shifted in from outside set to
``background`` (the scaled value of a blank pixel). The generator is the epoch's own
(``augmentation_rng(seed, epoch)``), so a run stays reproducible and resumes exactly.
"""

import numpy as np


def augmentation_rng(seed, epoch):
    """The generator of one epoch's shifts: its own stream, apart from the epoch's shuffle and dropout."""
    return np.random.default_rng([seed, epoch, 1])


def shift_images(x, shape, max_shift, background, rng):
    """x (N, C H W) with every image shifted by a random (dy, dx) in [-max_shift, max_shift]^2: (N, C H W)."""
    n = len(x)
    images = x.reshape(n, *shape)
    shifts = rng.integers(-max_shift, max_shift + 1, size=(n, 2))
    out = np.full_like(images, background)
    _, height, width = shape
    for dy in range(-max_shift, max_shift + 1):
        for dx in range(-max_shift, max_shift + 1):
            rows = np.flatnonzero((shifts[:, 0] == dy) & (shifts[:, 1] == dx))
            if len(rows):
                out[rows, :, window(dy, height), window(dx, width)] = images[rows, :, window(-dy, height),
                                                                             window(-dx, width)]
    return out.reshape(n, -1)


def window(shift, size):
    """The positions along one axis that a shift by ``shift`` writes to (its negative: reads from)."""
    return slice(max(shift, 0), size + min(shift, 0))
