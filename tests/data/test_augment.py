"""Random shifts of training images: the right pixels move, per epoch reproducibly, and a run with them
resumes bit for bit."""

import numpy as np
import pandas as pd
import pytest
from helpers import TINY, compose_config

from nnexp.data.augment import augmentation_rng, shift_images
from nnexp.errors import ConfigError
from nnexp.storage import read_npz
from nnexp.training.job import run_job


def test_each_image_moves_by_its_own_shift_with_a_blank_border():
    x = np.zeros((200, 1, 5, 5))
    x[:, 0, 2, 2] = 1.0                                    # one lit pixel in the middle of each image
    shifted = shift_images(x.reshape(200, -1), (1, 5, 5), 2, -1.0, np.random.default_rng(0)).reshape(200, 5, 5)
    again = shift_images(x.reshape(200, -1), (1, 5, 5), 2, -1.0, np.random.default_rng(0))
    np.testing.assert_array_equal(again, shifted.reshape(200, -1))
    shifts = np.random.default_rng(0).integers(-2, 3, size=(200, 2))
    for image, (dy, dx) in zip(shifted, shifts):
        assert image[2 + dy, 2 + dx] == 1.0 and (image == 1.0).sum() == 1
        assert (image == -1.0).sum() == 25 - (5 - abs(dy)) * (5 - abs(dx))    # the border shifted in is blank
    assert len({tuple(s) for s in shifts}) > 20                                   # every shift in [-2, 2]^2 occurs
    assert not np.array_equal(shift_images(x.reshape(200, -1), (1, 5, 5), 2, 0.0, augmentation_rng(0, 1)),
                              shift_images(x.reshape(200, -1), (1, 5, 5), 2, 0.0, augmentation_rng(0, 2)))


def test_an_augmented_run_resumes_bit_for_bit_and_differs_from_plain(tmp_path):
    """Break tried: drawing the shifts from one generator for the whole run makes the resumed run differ."""
    settings = [*TINY, "data.augment=2", "reuse=false"]
    run_job(compose_config(settings + ["epochs=3"]), tmp_path / "straight")
    run_job(compose_config(settings + ["epochs=2"]), tmp_path / "resumed")
    (tmp_path / "resumed" / "result.json").unlink()
    assert run_job(compose_config(settings + ["epochs=3"]), tmp_path / "resumed")["epochs_trained"] == 1
    for name, array in read_npz(tmp_path / "straight" / "weights.npz").items():
        np.testing.assert_array_equal(read_npz(tmp_path / "resumed" / "weights.npz")[name], array)
    plain = run_job(compose_config([*TINY, "reuse=false", "epochs=3"]), tmp_path / "plain")
    history = pd.read_csv(tmp_path / "straight" / "history.csv")
    assert history["train_loss"].iloc[-1] != plain["train_loss"]
    with pytest.raises(ConfigError, match="data.augment=2 shifts images, and data=xor has none"):
        run_job(compose_config(["data=xor", "data.augment=2", "reuse=false"]), tmp_path / "xor")
