"""Properties of the random shifts (nnexp/data/augment.py): every image is itself moved by at most the
shift asked for, the uncovered border blank."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from nnexp.data.augment import augmentation_rng, shift_images


def shift_of(original, shifted, blank):
    """(dy, dx) that moves ``original`` (C, H, W), whose pixels are distinct and not ``blank``, onto
    ``shifted``; asserts that ``shifted`` is exactly that move with a blank border."""
    c, h, w = original.shape
    ys, xs = np.nonzero(shifted[0] != blank)
    if len(ys) == 0:
        raise AssertionError("the image was shifted out of its frame")
    source = np.argwhere(original[0] == shifted[0, ys[0], xs[0]])[0]
    dy, dx = ys[0] - source[0], xs[0] - source[1]
    expected = np.full_like(original, blank)
    expected[:, max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = \
        original[:, max(-dy, 0):h + min(-dy, 0), max(-dx, 0):w + min(-dx, 0)]
    np.testing.assert_array_equal(shifted, expected)
    return int(dy), int(dx)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 3), st.integers(3, 9), st.integers(3, 9), st.integers(0, 3), st.integers(1, 60),
       st.integers(0, 2 ** 32 - 1), st.integers(1, 20))
def test_no_image_is_shifted_by_more_than_asked(channels, height, width, max_shift, n, seed, epoch):
    max_shift = min(max_shift, height - 1, width - 1)
    shape = (channels, height, width)
    x = np.arange(1, n * channels * height * width + 1, dtype=np.float64).reshape(n, -1)   # distinct pixels
    out = shift_images(x, shape, max_shift, -1.0, augmentation_rng(seed, epoch))
    assert out.shape == x.shape
    shifts = [shift_of(image.reshape(shape), moved.reshape(shape), -1.0) for image, moved in zip(x, out)]
    assert all(abs(dy) <= max_shift and abs(dx) <= max_shift for dy, dx in shifts)
    if max_shift and n >= 30:   # 30 draws from (2s + 1)^2 >= 9 shifts: not all the same, some at the limit
        assert len(set(shifts)) > 1 and max(max(abs(dy), abs(dx)) for dy, dx in shifts) == max_shift
    np.testing.assert_array_equal(out, shift_images(x, shape, max_shift, -1.0, augmentation_rng(seed, epoch)))
