"""MNIST file reading: IDX and CSV round trips, the .npy cache, downloads, and every DataError.

All files are small ones written here (5 or 3 images); nothing touches the network or shared data.
"""

import codecs
import dataclasses
import functools
import gzip
import hashlib
import http.server
import os
import socket
import threading
import warnings

import numpy as np
import pytest
from helpers import csv_text, idx_bytes, mnist_like, write, write_idx_dir

from nnexp.data import download, mnist_files
from nnexp.data.download import download_mnist, load_mnist, load_mnist_dir
from nnexp.data.mnist_files import read_idx, read_mnist_csv
from nnexp.errors import DataError


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    """Every test gets its own cache root and never goes through a proxy to 127.0.0.1."""
    monkeypatch.setenv("NNEXP_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


def assert_same(arrays, expected):
    assert set(arrays) == {"x_train", "labels_train", "x_test", "labels_test"}
    for key, value in expected.items():
        assert arrays[key].dtype == value.dtype and arrays[key].shape == value.shape, key
        np.testing.assert_array_equal(arrays[key], value)


def raises(match_file, *words):
    """Context manager: a DataError whose one-line message names the file and holds every word."""
    class Check:
        def __enter__(self):
            self.ctx = pytest.raises(DataError)
            self.info = self.ctx.__enter__()

        def __exit__(self, *exc):
            handled = self.ctx.__exit__(*exc)
            message = str(self.info.value)
            assert "\n" not in message
            for word in (str(match_file), *words):
                assert word in message, (word, message)
            return handled
    return Check()


# --- IDX -------------------------------------------------------------------------------------


@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_round_trip(tmp_path, gz):
    x, labels = mnist_like(5)
    images = read_idx(write(tmp_path / "images", idx_bytes(x), gz))
    assert images.dtype == np.uint8 and images.shape == (5, 28, 28)
    np.testing.assert_array_equal(images, x)
    np.testing.assert_array_equal(read_idx(write(tmp_path / "labels", idx_bytes(labels), gz)), labels)


def test_read_idx_detects_gzip_by_content_not_name(tmp_path):
    x, _ = mnist_like(2)
    np.testing.assert_array_equal(read_idx(write(tmp_path / "plain.gz", idx_bytes(x))), x)
    np.testing.assert_array_equal(read_idx(write(tmp_path / "zipped.idx", idx_bytes(x), gz=True)), x)


def test_read_idx_missing_file(tmp_path):
    with raises(tmp_path / "nope.gz", "not found"):
        read_idx(tmp_path / "nope.gz")


def test_read_idx_wrong_magic_shows_bytes(tmp_path):
    path = write(tmp_path / "photo.idx", b"\xff\xd8\xff\xe0" + bytes(100))
    with raises(path, "magic number", "ff d8 ff e0"):
        read_idx(path)


def test_read_idx_unsupported_dtype(tmp_path):
    path = write(tmp_path / "floats.idx", idx_bytes(np.zeros((2, 2), np.uint8), dtype_code=0x0D))
    with raises(path, "dtype code 0x0d"):
        read_idx(path)


@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_truncated_and_too_long(tmp_path, gz):
    data = idx_bytes(mnist_like(5)[0])
    short = write(tmp_path / "short", data[:-20], gz)
    with raises(short, "truncated", "3920 bytes", "found 3900"):
        read_idx(short)
    long = write(tmp_path / "long", data + b"extra", gz)
    with raises(long, "too long", "3920 bytes", "found 3925"):
        read_idx(long)
    header = write(tmp_path / "header", data[:10], gz)
    with raises(header, "header truncated"):
        read_idx(header)


def test_read_idx_corrupt_gzip(tmp_path):
    zipped = gzip.compress(idx_bytes(mnist_like(5)[0]))
    cut = write(tmp_path / "cut.gz", zipped[: len(zipped) // 2])
    with raises(cut, "corrupt gzip stream"):
        read_idx(cut)
    garbage = write(tmp_path / "garbage.gz", b"\x1f\x8b" + bytes(range(200)))
    with raises(garbage, "corrupt gzip stream"):
        read_idx(garbage)


def message(call, *args):
    """The DataError message that ``call(*args)`` raises."""
    with pytest.raises(DataError) as info:
        call(*args)
    return str(info.value)


NOT_IDX = "expected 00 00 08 <ndim>; pass an MNIST IDX file such as train-images-idx3-ubyte.gz"
REFETCH = "re-download or re-extract the file"


@pytest.mark.parametrize("data, shown", [
    (b"", "nothing (empty file)"),
    (b"\x00\x00\x08", "00 00 08"),                       # three bytes: no room for the number of dims
    (b"\x00\x01\x08\x01" + bytes(8), "00 01 08 01"),     # second byte not zero
    (b"\x01\x00\x08\x01" + bytes(8), "01 00 08 01"),     # first byte not zero
    (b"\xff\xd8\xff\xe0\x10" + bytes(20), "ff d8 ff e0"),  # a JPEG: only the four magic bytes shown
], ids=["empty", "three bytes", "second byte", "first byte", "jpeg"])
def test_read_idx_wrong_magic_message_is_exact(tmp_path, data, shown):
    """Each byte of the magic number is checked, and the message shows the first four bytes found."""
    path = write(tmp_path / "file", data)
    assert message(read_idx, path) == f"{path}: not an IDX file: magic number is {shown}, {NOT_IDX}"


def test_read_idx_size_messages_are_exact(tmp_path):
    """Truncated, too long and a cut header each name the dims, the byte counts and the remedy."""
    data = idx_bytes(mnist_like(5)[0])
    short = write(tmp_path / "short", data[:-20])
    assert message(read_idx, short) == (f"{short}: IDX data truncated: dims (5, 28, 28) need 3920 bytes after "
                                        f"the 16-byte header, found 3900; {REFETCH}")
    long = write(tmp_path / "long", data + b"extra")
    assert message(read_idx, long) == (f"{long}: IDX data too long: dims (5, 28, 28) need 3920 bytes after "
                                       f"the 16-byte header, found 3925; {REFETCH}")
    header = write(tmp_path / "header", data[:10])
    assert message(read_idx, header) == (f"{header}: IDX header truncated: 3 dims need 16 header bytes, "
                                         f"found 10; {REFETCH}")


def test_read_idx_header_of_four_bytes_is_a_zero_dim_file(tmp_path):
    """``00 00 08 00`` is a valid magic number of 0 dims (one byte of data follows): four bytes are a
    header without its byte, five a scalar."""
    path = write(tmp_path / "scalar", b"\x00\x00\x08\x00")
    assert message(read_idx, path) == (f"{path}: IDX data truncated: dims () need 1 bytes after the 4-byte "
                                       f"header, found 0; {REFETCH}")
    scalar = read_idx(write(tmp_path / "scalar", b"\x00\x00\x08\x00\x07"))
    assert scalar.shape == () and scalar == 7


def test_read_idx_of_zero_items_is_an_empty_array(tmp_path):
    """A header and no data is a whole file when its dims say 0 items."""
    empty = read_idx(write(tmp_path / "labels", idx_bytes(np.zeros(0, np.uint8))))
    assert empty.dtype == np.uint8 and empty.shape == (0,)


def test_read_idx_unsupported_dtype_message_is_exact(tmp_path):
    path = write(tmp_path / "floats.idx", idx_bytes(np.zeros((2, 2), np.uint8), dtype_code=0x0D))
    assert message(read_idx, path) == (f"{path}: unsupported IDX dtype code 0x0d (float); only 0x08 (unsigned "
                                       "byte, as in MNIST) is read")


@pytest.mark.skipif(os.name != "posix", reason="Windows refuses to open a directory as a permission error")
def test_read_idx_and_csv_of_a_directory_say_it_cannot_be_read(tmp_path):
    """Not FileNotFoundError but another OSError (here: a directory): its reason without the errno."""
    expected = f"{tmp_path}: cannot read file (Is a directory); check its permissions"
    assert message(read_idx, tmp_path) == expected
    assert message(read_mnist_csv, tmp_path) == expected


def test_read_idx_missing_file_message_is_exact(tmp_path):
    assert message(read_idx, tmp_path / "nope.gz") == f"{tmp_path / 'nope.gz'}: file not found; check the path"


# --- CSV -------------------------------------------------------------------------------------


@pytest.mark.parametrize("header", [False, True])
def test_read_mnist_csv_round_trip(tmp_path, header):
    x, labels = mnist_like(5)
    path = tmp_path / "mnist_train.csv"
    path.write_text(csv_text(labels, x, header))
    images, got_labels = read_mnist_csv(path)
    assert images.dtype == np.uint8 and images.shape == (5, 784) and images.flags.c_contiguous
    assert got_labels.dtype == np.int64
    np.testing.assert_array_equal(images, x.reshape(5, 784))
    np.testing.assert_array_equal(got_labels, labels)


@pytest.mark.parametrize("header", [False, True])
def test_a_csv_that_starts_with_a_byte_order_mark_keeps_its_first_image(tmp_path, header):
    """A spreadsheet's UTF-8 export starts with a byte-order mark. Break tried (the bug it fixed): the mark
    made the first label not a number, the first image was taken for a header and dropped, silently."""
    x, labels = mnist_like(5)
    path = tmp_path / "exported.csv"
    path.write_bytes(codecs.BOM_UTF8 + csv_text(labels, x, header).encode())
    images, got_labels = read_mnist_csv(path)
    np.testing.assert_array_equal(images, x.reshape(5, 784))
    np.testing.assert_array_equal(got_labels, labels)
    for bad_line in (1, 3):   # and a bad line is still named by its number in the file, the mark not taken for it
        bad = tmp_path / f"bad{bad_line}.csv"
        lines = csv_text(labels, x, header).splitlines()
        lines[bad_line - 1 + header] += ",7"
        bad.write_bytes(codecs.BOM_UTF8 + "\n".join(lines).encode() + b"\n")
        with raises(bad, f"line {bad_line + header}", "786 fields"):
            read_mnist_csv(bad)


def bad_csv(tmp_path, line3):
    """A 5-line CSV with a header whose 4th physical line (3rd data line) is ``line3``."""
    x, labels = mnist_like(5)
    lines = csv_text(labels, x, header=True).splitlines()
    lines[3] = line3(lines[3])
    path = tmp_path / "bad.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("edit, words", [
    (lambda line: line.rsplit(",", 1)[0], ["line 4", "784 fields", "expected 785"]),
    (lambda line: line + ",7", ["line 4", "786 fields", "expected 785"]),
    (lambda line: line.replace(",", ",1.5,", 1).rsplit(",", 1)[0], ["line 4", "column 2", "'1.5'", "not an integer"]),
    (lambda line: line.replace(",", ",abc,", 1).rsplit(",", 1)[0], ["line 4", "column 2", "'abc'", "not an integer"]),
    (lambda line: line.replace(",", ",,", 1).rsplit(",", 1)[0], ["line 4", "column 2", "not an integer"]),
    (lambda line: line.rsplit(",", 1)[0] + ",256", ["line 4", "column 785", "pixel value 256", "0..255"]),
    (lambda line: line.rsplit(",", 1)[0] + ",-1", ["line 4", "column 785", "pixel value -1", "0..255"]),
    (lambda line: "10" + line[1:], ["line 4", "label 10", "0..9"]),
    (lambda line: "300" + line[1:], ["line 4", "label 300", "0..9"]),
])
def test_read_mnist_csv_bad_line(tmp_path, edit, words):
    path = bad_csv(tmp_path, edit)
    with raises(path, *words):
        read_mnist_csv(path)


def test_read_mnist_csv_uniform_wrong_width(tmp_path):
    path = tmp_path / "narrow.csv"
    path.write_text("1,2,3\n4,5,6\n")
    with raises(path, "line 1", "3 fields", "expected 785"):
        read_mnist_csv(path)


@pytest.mark.parametrize("text", ["", "\n\n", "label,1x1,1x2\n"])
def test_read_mnist_csv_empty(tmp_path, text):
    path = tmp_path / "empty.csv"
    path.write_text(text)
    with raises(path, "empty"):
        read_mnist_csv(path)


def test_read_mnist_csv_missing(tmp_path):
    with raises(tmp_path / "mnist_train.csv", "not found"):
        read_mnist_csv(tmp_path / "mnist_train.csv")


def csv_row(label=5, **pixels):
    """One CSV line: ``label`` and 784 zero pixels, but ``c<column>=text`` in those columns (column 2 is the
    first pixel)."""
    fields = [str(label)] + ["0"] * 784
    for column, text in pixels.items():
        fields[int(column[1:]) - 1] = text
    return ",".join(fields)


def write_csv(tmp_path, *lines):
    path = tmp_path / "data.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


INTEGERS = "MNIST CSV holds integer labels 0..9 and pixels 0..255"
BYTES = "MNIST CSV pixels are bytes 0..255"
DIGIT = "the first field of each line must be the digit"
WIDTH = "expected 785 (label + 784 pixels); fix or remove that line"


@pytest.mark.parametrize("lines, problem", [
    ([csv_row(), csv_row()[:-2]], f"line 2 has 784 fields, {WIDTH}"),
    ([csv_row(), "", csv_row()[:-2]], f"line 3 has 784 fields, {WIDTH}"),       # a blank line is counted
    (["label,1x1,1x2", "1,2,3", "4,5,6"], f"line 2 has 3 fields, {WIDTH}"),      # after the header
    ([csv_row(), csv_row(c3="x")], f"line 2, column 3: 'x' is not an integer; {INTEGERS}"),
    ([csv_row(c2="256")], f"line 1, column 2: pixel value 256 outside 0..255; {BYTES}"),   # the first pixel
    ([csv_row(300)], f"line 1: label 300 outside 0..9; {DIGIT}"),                # a file of one line
    ([csv_row(), csv_row(10)], f"line 2: label 10 outside 0..9; {DIGIT}"),
    # the first bad line is named, and a good line before it (label 9) is not
    ([csv_row(9), csv_row(c785="256")], f"line 2, column 785: pixel value 256 outside 0..255; {BYTES}"),
    ([csv_row(10), csv_row(c785="256")], f"line 1: label 10 outside 0..9; {DIGIT}"),
    ([csv_row(9), csv_row(c3="")], f"line 2, column 3: '' is not an integer; {INTEGERS}"),
    ([csv_row(10), csv_row(c3="")], f"line 1: label 10 outside 0..9; {DIGIT}"),
], ids=["short line", "after a blank line", "after the header", "letters", "first pixel 256", "one line",
        "label 10", "label 9 then pixel 256", "label 10 then pixel 256", "label 9 then empty field",
        "label 10 then empty field"])
def test_read_mnist_csv_message_names_the_first_bad_line_exactly(tmp_path, lines, problem):
    path = write_csv(tmp_path, *lines)
    assert message(read_mnist_csv, path) == f"{path}: {problem}"


def test_read_mnist_csv_of_one_line(tmp_path):
    images, labels = read_mnist_csv(write_csv(tmp_path, csv_row(3, c2="255")))
    assert images.shape == (1, 784) and images[0, 0] == 255 and labels.tolist() == [3]


def test_read_mnist_csv_of_whitespace_lines_is_empty(tmp_path):
    path = write_csv(tmp_path, " ", "\t")
    assert message(read_mnist_csv, path) == (f"{path}: empty file, no data lines; pass an MNIST CSV with one "
                                             "'label,784 pixels' line per image")


@pytest.mark.parametrize("lines", [
    [csv_row(), csv_row(c2="\r0")],      # a carriage return inside a line: two lines for NumPy, one here
    [csv_row(), " ", csv_row()],         # a line of blanks: skipped here, one empty field for NumPy
], ids=["carriage return", "line of blanks"])
def test_read_mnist_csv_without_a_bad_line_found_quotes_numpy(tmp_path, lines):
    """When no line is found wrong, the message gives NumPy's reason, on one line."""
    path = write_csv(tmp_path, *lines)
    with pytest.raises(ValueError) as numpy_error:
        np.loadtxt(path, delimiter=",", dtype=np.uint8)
    reason = " ".join(str(numpy_error.value).split())
    assert message(read_mnist_csv, path) == f"{path}: cannot parse as MNIST CSV ({reason}); check the file's format"


# --- directories -----------------------------------------------------------------------------


@pytest.mark.parametrize("gz", [False, True])
def test_load_mnist_dir_idx(tmp_path, gz):
    expected = write_idx_dir(tmp_path / "mnist", gz=gz)
    assert_same(load_mnist_dir(tmp_path / "mnist"), expected)


@pytest.mark.parametrize("gz", [False, True])
def test_load_mnist_dir_dotted_names(tmp_path, gz):
    dotted = {k: v.replace("-idx", ".idx") for k, v in mnist_files.IDX_FILES.items()}
    expected = write_idx_dir(tmp_path / "mnist", gz=gz, names=dotted)
    assert_same(load_mnist_dir(tmp_path / "mnist"), expected)


def test_load_mnist_dir_csv(tmp_path):
    directory = tmp_path / "mnist"
    directory.mkdir()
    expected = {}
    for split, n in (("train", 4), ("test", 2)):
        x, labels = mnist_like(n)
        (directory / f"mnist_{split}.csv").write_text(csv_text(labels, x))
        expected[f"x_{split}"], expected[f"labels_{split}"] = x.reshape(n, 784), labels.astype(np.int64)
    assert_same(load_mnist_dir(directory), expected)


def test_load_mnist_dir_count_mismatch(tmp_path):
    directory = tmp_path / "mnist"
    write_idx_dir(directory)
    labels = directory / "t10k-labels-idx1-ubyte.gz"
    write(labels, idx_bytes(np.zeros(4, np.uint8)), gz=True)
    with raises(labels, "3 images", "4 labels"):
        load_mnist_dir(directory)


def test_load_mnist_dir_missing_and_not_a_directory(tmp_path):
    with raises(tmp_path / "nowhere", "directory not found"):
        load_mnist_dir(tmp_path / "nowhere")
    write(tmp_path / "file", b"x")
    with raises(tmp_path / "file", "not a directory"):
        load_mnist_dir(tmp_path / "file")


def test_load_mnist_dir_unreadable_as_any_user(tmp_path, monkeypatch):
    """Root (as CI runs) reads every directory, so the listing is made to fail as chmod 000 makes it fail
    for a user. Break tried: not catching os.listdir's PermissionError turns this red (a traceback)."""
    locked = tmp_path / "locked"
    locked.mkdir()
    listdir = os.listdir

    def denied(path):
        if str(path) == str(locked):
            raise PermissionError(13, "Permission denied", str(path))
        return listdir(path)

    monkeypatch.setattr(mnist_files.os, "listdir", denied)
    assert message(load_mnist_dir, locked) == (f"{locked}: cannot read directory (Permission denied); "
                                               "check its permissions")


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads any directory")
def test_load_mnist_dir_unreadable(tmp_path):
    (tmp_path / "locked").mkdir(mode=0o000)
    try:
        with raises(tmp_path / "locked", "cannot read directory"):
            load_mnist_dir(tmp_path / "locked")
    finally:
        (tmp_path / "locked").chmod(0o755)


def test_load_mnist_dir_directory_messages_are_exact(tmp_path):
    assert message(load_mnist_dir, tmp_path / "nowhere") == (
        f"{tmp_path / 'nowhere'}: directory not found; pass data.dir=<directory holding the MNIST files>, or "
        "data.dir=null to download them")
    file = write(tmp_path / "file", b"x")
    assert message(load_mnist_dir, file) == (f"{file}: not a directory; pass data.dir=<directory holding the "
                                             "MNIST files>")
    (tmp_path / "empty").mkdir()
    assert message(load_mnist_dir, tmp_path / "empty") == (
        f"{tmp_path / 'empty'}: no MNIST files found (looked for train-images-idx3-ubyte[.gz], "
        "train-labels-idx1-ubyte[.gz], t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz], or "
        "mnist_train.csv + mnist_test.csv); put them there, or pass data.dir=null to download them")


def test_find_mnist_files_tells_idx_from_csv(tmp_path):
    """The kind and the paths of the files found, or None for a directory without any."""
    write_idx_dir(tmp_path / "idx")
    assert mnist_files.find_mnist_files(tmp_path / "idx") == (
        "idx", {key: tmp_path / "idx" / f"{name}.gz" for key, name in mnist_files.IDX_FILES.items()})
    (tmp_path / "csv").mkdir()
    for name in ("mnist_train.csv", "mnist_test.csv"):
        (tmp_path / "csv" / name).write_text("")
    assert mnist_files.find_mnist_files(tmp_path / "csv") == (
        "csv", {"train": tmp_path / "csv" / "mnist_train.csv", "test": tmp_path / "csv" / "mnist_test.csv"})
    (tmp_path / "none").mkdir()
    assert mnist_files.find_mnist_files(tmp_path / "none") is None


def test_load_mnist_dir_incomplete_messages_name_found_and_missing_files(tmp_path):
    idx = tmp_path / "idx"
    write_idx_dir(idx)
    (idx / "t10k-images-idx3-ubyte.gz").unlink()
    (idx / "t10k-labels-idx1-ubyte.gz").unlink()
    assert message(load_mnist_dir, idx) == (
        f"{idx}: incomplete MNIST files: found train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz but not "
        "t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz]; add the missing files")
    csv = tmp_path / "csv"
    csv.mkdir()
    (csv / "mnist_train.csv").write_text("")
    assert message(load_mnist_dir, csv) == (
        f"{csv}: incomplete MNIST files: found mnist_train.csv but not mnist_test.csv; add the missing files")


@pytest.mark.parametrize("key, array, problem", [
    ("x_train", np.zeros((5, 8, 8), np.uint8), "images have shape (5, 8, 8), expected (n, 28, 28); "
                                               "pass the MNIST images file"),
    ("x_train", np.zeros((5, 784), np.uint8), "images have shape (5, 784), expected (n, 28, 28); "
                                              "pass the MNIST images file"),
    ("labels_train", np.zeros((5, 1), np.uint8), "labels have shape (5, 1), expected (n,); pass the MNIST labels file"),
    ("labels_train", np.array([3, 10, 0, 0, 0], np.uint8), "label 10 outside 0..9; pass the MNIST labels file"),
], ids=["8x8 images", "flat images", "labels of 2 dims", "label 10"])
def test_load_mnist_dir_wrong_idx_content_message_is_exact(tmp_path, key, array, problem):
    """An IDX file that is valid but not MNIST's: the message names it and what is wrong."""
    write_idx_dir(tmp_path / "mnist")
    path = write(tmp_path / "mnist" / f"{mnist_files.IDX_FILES[key]}.gz", idx_bytes(array), gz=True)
    assert message(load_mnist_dir, tmp_path / "mnist") == f"{path}: {problem}"


def test_load_mnist_dir_without_files_lists_names(tmp_path):
    (tmp_path / "empty").mkdir()
    with raises(tmp_path / "empty", "no MNIST files", "train-images-idx3-ubyte[.gz]",
                "t10k-labels-idx1-ubyte[.gz]", "mnist_train.csv"):
        load_mnist_dir(tmp_path / "empty")


def test_load_mnist_dir_partial(tmp_path):
    directory = tmp_path / "mnist"
    write_idx_dir(directory)
    (directory / "t10k-images-idx3-ubyte.gz").unlink()
    with raises(directory, "incomplete", "but not t10k-images-idx3-ubyte[.gz]"):
        load_mnist_dir(directory)


# --- .npy cache ------------------------------------------------------------------------------


def fail(*args, **kwargs):
    raise AssertionError("parsed again instead of using the .npy cache")


def test_cache_is_used_the_second_time(tmp_path, monkeypatch):
    expected = write_idx_dir(tmp_path / "mnist")
    load_mnist_dir(tmp_path / "mnist")
    assert len(list((tmp_path / "cache" / "mnist-npy").glob("*.npy"))) == 4
    monkeypatch.setattr(mnist_files, "read_idx", fail)
    assert_same(load_mnist_dir(tmp_path / "mnist"), expected)


def test_cache_dir_argument(tmp_path, monkeypatch):
    expected = write_idx_dir(tmp_path / "mnist")
    load_mnist_dir(tmp_path / "mnist", cache_dir=tmp_path / "elsewhere")
    assert len(list((tmp_path / "elsewhere").glob("*.npy"))) == 4
    assert not (tmp_path / "cache").exists()
    monkeypatch.setattr(mnist_files, "read_idx", fail)
    assert_same(load_mnist_dir(tmp_path / "mnist", cache_dir=tmp_path / "elsewhere"), expected)


def test_changed_file_is_parsed_again(tmp_path):
    directory = tmp_path / "mnist"
    write_idx_dir(directory)
    load_mnist_dir(directory)
    expected = write_idx_dir(directory)  # same sizes, new content
    for f in directory.iterdir():
        os.utime(f, ns=(f.stat().st_atime_ns, f.stat().st_mtime_ns + 10**9))
    assert_same(load_mnist_dir(directory), expected)
    assert len(list((tmp_path / "cache" / "mnist-npy").glob("*.npy"))) == 4  # old entry removed


@pytest.mark.parametrize("damage", ["truncate", "garbage", "wrong shape", "other numbers", "no checksum"])
def test_corrupt_cache_is_deleted_and_reparsed(tmp_path, damage):
    """Break tried: loading without the sha256 comparison uses the "other numbers" entry (a valid .npy
    of the right shape and dtype) and returns wrong pixels."""
    expected = write_idx_dir(tmp_path / "mnist")
    load_mnist_dir(tmp_path / "mnist")
    (cached,) = (tmp_path / "cache" / "mnist-npy").glob("*-x_train.npy")
    if damage == "truncate":
        cached.write_bytes(cached.read_bytes()[:300])
    elif damage == "garbage":
        cached.write_bytes(b"not a npy file at all")
    elif damage == "other numbers":
        np.save(cached, np.load(cached)[::-1].copy())       # same shape and dtype, rows reversed
    elif damage == "no checksum":
        next((tmp_path / "cache" / "mnist-npy").glob("*.sha256")).unlink()
    else:
        np.save(cached, np.zeros((5, 10), np.uint8))
    with pytest.warns(UserWarning, match="corrupt MNIST cache"):
        assert_same(load_mnist_dir(tmp_path / "mnist"), expected)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert_same(load_mnist_dir(tmp_path / "mnist"), expected)  # rewritten and healthy


@pytest.mark.skipif(os.name != "posix", reason="the errno text is POSIX's")
def test_unwritable_cache_warns_and_loads_anyway(tmp_path):
    """A cache directory that cannot be made: one warning naming it and the remedy; the arrays still load."""
    expected = write_idx_dir(tmp_path / "mnist")
    blocked = write(tmp_path / "blocked", b"a file where the cache directory should be")
    with pytest.warns(UserWarning) as caught:
        assert_same(load_mnist_dir(tmp_path / "mnist", cache_dir=blocked), expected)
    assert [str(w.message) for w in caught] == [
        f"{blocked}: cannot write the MNIST cache ([Errno 17] File exists: '{blocked}'); loading will parse the "
        "files every time; set NNEXP_CACHE to a writable directory"]


def test_cache_writes_leave_no_temporary_files(tmp_path):
    write_idx_dir(tmp_path / "mnist")
    load_mnist_dir(tmp_path / "mnist")
    names = sorted(p.name for p in (tmp_path / "cache" / "mnist-npy").iterdir())
    assert [n.split("-")[-1] for n in names if n.endswith(".npy")] == [
        "labels_test.npy", "labels_train.npy", "x_test.npy", "x_train.npy"]
    assert len(names) == 5 and sum(n.endswith(".sha256") for n in names) == 1   # the checksum, written last


# --- download --------------------------------------------------------------------------------


def serve(directory):
    """A local HTTP server of ``directory`` on 127.0.0.1; returns (server, its URL)."""
    handler = functools.partial(Quiet, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_port}/"


def point_at(monkeypatch, name, url, algorithm="sha256", directory=None):
    """Make data set ``name`` download from ``url``, with the hashes of the files in ``directory``."""
    hashes = {p.name: f"{algorithm}:" + hashlib.new(algorithm, p.read_bytes()).hexdigest()
              for p in (directory.iterdir() if directory else [])}
    source = download.SOURCES[name]
    monkeypatch.setitem(download.SOURCES, name, dataclasses.replace(source, url=url, hashes=hashes or source.hashes))


@pytest.fixture
def mirror(tmp_path, monkeypatch):
    """A local HTTP server serving four small gzipped IDX files, with their hashes patched in."""
    served = tmp_path / "served"
    expected = write_idx_dir(served, gz=True)
    server, url = serve(served)
    point_at(monkeypatch, "mnist", url, directory=served)
    yield expected
    server.shutdown()
    server.server_close()


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def test_download_offline_error(tmp_path, monkeypatch):
    point_at(monkeypatch, "mnist", "http://127.0.0.1:9/")
    with raises("http://127.0.0.1:9/train-images-idx3-ubyte.gz", "could not download MNIST from",
                "data.dir=<dir>"):
        download_mnist(tmp_path / "downloads")


def test_download_and_load_mnist_without_directory(tmp_path, mirror):
    assert_same(load_mnist(), mirror)
    assert len(list((tmp_path / "cache" / "mnist").glob("*.gz"))) == 4


def test_download_reuses_verified_files(tmp_path, mirror, monkeypatch):
    directory = download_mnist(tmp_path / "downloads")
    point_at(monkeypatch, "mnist", "http://127.0.0.1:9/")  # offline from now on
    assert download_mnist(tmp_path / "downloads") == directory


def test_download_wrong_checksum(tmp_path, mirror, monkeypatch):
    monkeypatch.setitem(download.SOURCES["mnist"].hashes, "train-images-idx3-ubyte.gz", "sha256:" + "0" * 64)
    with raises("train-images-idx3-ubyte.gz", "wrong checksum"):
        download_mnist(tmp_path / "downloads")


def test_every_source_lists_the_four_idx_files():
    for name, source in download.SOURCES.items():
        assert set(source.hashes) == {f"{file}.gz" for file in mnist_files.IDX_FILES.values()}, name


@pytest.mark.parametrize("name, title", [("fashion_mnist", "Fashion-MNIST"), ("kmnist", "Kuzushiji-MNIST")])
def test_download_other_sets_by_md5_into_their_own_folder(tmp_path, monkeypatch, name, title):
    """Fashion-MNIST and KMNIST are checked by the md5s their authors publish: the right files load from
    <cache>/<name>, a file with another md5 is refused, and an unreachable server names the data set."""
    served = tmp_path / "served"
    expected = write_idx_dir(served, gz=True)
    server, url = serve(served)
    try:
        point_at(monkeypatch, name, url, algorithm="md5", directory=served)
        assert_same(load_mnist(name=name), expected)
        assert len(list((tmp_path / "cache" / name).glob("*.gz"))) == 4
        monkeypatch.setitem(download.SOURCES[name].hashes, "t10k-labels-idx1-ubyte.gz", "md5:" + "0" * 32)
        with raises("t10k-labels-idx1-ubyte.gz", "wrong checksum"):
            download_mnist(tmp_path / "other", name=name)
    finally:
        server.shutdown()
        server.server_close()
    point_at(monkeypatch, name, "http://127.0.0.1:9/")
    with raises("http://127.0.0.1:9/", f"could not download {title} from"):
        download_mnist(tmp_path / "offline", name=name)


def test_load_mnist_uses_directory_without_downloading(tmp_path, monkeypatch):
    expected = write_idx_dir(tmp_path / "mnist")
    monkeypatch.setattr(download, "download_mnist", fail)
    assert_same(load_mnist(tmp_path / "mnist"), expected)


def test_load_mnist_never_downloads_for_a_directory_without_files(tmp_path, monkeypatch):
    """data.dir given means that directory only. Break tried: falling back to download_mnist (nnexp 0.2
    did, into the user cache) fails on the monkeypatched download."""
    monkeypatch.setattr(download, "download_mnist", fail)
    (tmp_path / "empty").mkdir()
    with raises(tmp_path / "empty", "no MNIST files", "train-images-idx3-ubyte[.gz]", "data.dir=null"):
        load_mnist(tmp_path / "empty")
    with raises(tmp_path / "typo", "directory not found"):
        load_mnist(tmp_path / "typo")


HINT = "put the four IDX files in a directory and pass data.dir=<dir>"


def test_download_into_the_given_directory_without_a_progress_bar(tmp_path, mirror, capsys):
    """cache_dir is where the files go (not the cache root), and nothing but pooch's log line is printed."""
    directory = tmp_path / "downloads"
    assert download_mnist(directory) == directory
    assert sorted(p.name for p in directory.iterdir()) == sorted(f"{n}.gz" for n in mnist_files.IDX_FILES.values())
    assert not (tmp_path / "cache").exists()
    assert "%|" not in capsys.readouterr().err            # tqdm's bar: "100%|██████████| 2.35k/2.35k"


def test_download_gives_up_after_the_timeout(tmp_path, monkeypatch):
    """A server that takes the connection and never answers: the download stops after DOWNLOAD_TIMEOUT
    seconds. The listening socket is closed after 5 s at the latest (a download without a timeout then
    fails with another reason instead of waiting forever)."""
    server = socket.create_server(("127.0.0.1", 0))      # listens, never accepts: no answer ever comes
    url = f"http://127.0.0.1:{server.getsockname()[1]}/"
    point_at(monkeypatch, "mnist", url)
    monkeypatch.setattr(download, "DOWNLOAD_TIMEOUT", 0.2)
    closer = threading.Timer(5, server.close)
    closer.start()
    try:
        assert message(download_mnist, tmp_path / "downloads") == (
            f"could not download MNIST from {url}train-images-idx3-ubyte.gz (timed out); {HINT}")
    finally:
        closer.cancel()
        server.close()


def test_download_directory_that_cannot_be_made_message_is_exact(tmp_path):
    directory = write(tmp_path / "file", b"x") / "mnist"
    assert message(download_mnist, directory) == (f"{directory}: cannot create the MNIST download directory (Not a "
                                                  "directory); set NNEXP_CACHE to a writable directory")


def test_download_wrong_checksum_message_names_both_hashes(tmp_path, mirror, monkeypatch):
    """pooch's reason on one line: the known hash and the one the file has."""
    monkeypatch.setitem(download.SOURCES["mnist"].hashes, "train-images-idx3-ubyte.gz", "sha256:" + "0" * 64)
    url = download.SOURCES["mnist"].url + "train-images-idx3-ubyte.gz"
    served = hashlib.sha256((tmp_path / "served" / "train-images-idx3-ubyte.gz").read_bytes()).hexdigest()
    text = message(download_mnist, tmp_path / "downloads")
    assert text.startswith(f"{url}: downloaded file has the wrong checksum (") and text.endswith(f"); {HINT}")
    assert f" sha256:{'0' * 64} " in text and served in text and "\n" not in text


def test_load_mnist_keeps_the_npy_cache_in_cache_dir(tmp_path, mirror):
    """Read from a directory or downloaded, the parsed arrays go to cache_dir, not the cache root's mnist-npy."""
    write_idx_dir(tmp_path / "mnist")
    load_mnist(tmp_path / "mnist", cache_dir=tmp_path / "npy")
    assert len(list((tmp_path / "npy").glob("*.npy"))) == 4
    assert_same(load_mnist(cache_dir=tmp_path / "downloaded-npy"), mirror)
    assert len(list((tmp_path / "downloaded-npy").glob("*.npy"))) == 4
    assert not (tmp_path / "cache" / "mnist-npy").exists()


def chain(*texts, link="__cause__"):
    """Exceptions with ``texts``, each the cause (or context) of the one before; returns the first."""
    errors = [OSError(text) for text in texts]
    for outer, inner in zip(errors, errors[1:]):
        setattr(outer, link, inner)
    return errors[0]


@pytest.mark.parametrize("link", ["__cause__", "__context__"])
def test_short_reason_is_the_innermost_cause_on_one_line(link):
    assert download._short_reason(chain("outer", "middle", "[Errno 111]\n  Connection refused", link=link)) == \
        "[Errno 111] Connection refused"


def test_short_reason_without_text_is_the_type_name():
    assert download._short_reason(chain("outer", "")) == "OSError"
    assert download._short_reason(TimeoutError()) == "TimeoutError"


def test_short_reason_follows_at_most_ten_links():
    """A chain of 12: ten links from the first is the eleventh error; a cycle ends too."""
    assert download._short_reason(chain(*map(str, range(12)))) == "10"
    a, b = OSError("a"), OSError("b")
    a.__cause__, b.__cause__ = b, a
    assert download._short_reason(a) == "a"


def test_a_label_0_is_good_on_the_slow_scan_for_the_first_bad_line(tmp_path):
    """An empty field sends the reader to its line-by-line scan (np.loadtxt cannot say where); a line of
    label 0 before the bad one is good there too (0..9, not 1..9)."""
    x, _ = mnist_like(3)
    lines = csv_text(np.array([0, 0, 5]), x, header=False).splitlines()
    lines[1] = lines[1].replace(",", ",,", 1).rsplit(",", 1)[0]
    path = tmp_path / "empty_field.csv"
    path.write_text("\n".join(lines) + "\n")
    with raises(path, "line 2, column 2", "is not an integer"):
        read_mnist_csv(path)
