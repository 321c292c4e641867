"""MNIST files on disk: IDX (gzipped or not) or CSV, found in a directory and parsed.

Formats read here:

* IDX (LeCun): magic ``00 00 08 d`` (two zero bytes, dtype code 0x08 = unsigned byte, ``d`` dims),
  then ``d`` big-endian uint32 sizes, then the bytes of the array in C order. Images are
  ``(n, 28, 28)``, labels ``(n,)``. A file may be gzipped; that is told by its first bytes
  (``1f 8b``), never by its name.
* CSV: one image per line, ``label,p1,...,p784`` (785 integers), no header; one header line whose
  first field is not a number (``label,1x1,...``) is skipped.

Parsed, the four arrays are ``{"x_train": uint8 (n, 784), "labels_train": int64 (n,), "x_test":
uint8 (m, 784), "labels_test": int64 (m,)}``; ``nnexp.data.cache`` keeps them as ``.npy`` and
``nnexp.data.download`` loads a directory or fetches the files.
"""

import codecs
import gzip
import os
import warnings
import zlib
from pathlib import Path

import numpy as np

from ..errors import DataError

IDX_FILES = {
    "x_train": "train-images-idx3-ubyte",
    "labels_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "labels_test": "t10k-labels-idx1-ubyte",
}
"""Array name -> standard IDX file name; ``.gz`` and the ``train-images.idx3-ubyte`` spelling match too."""

CSV_FILES = {"train": "mnist_train.csv", "test": "mnist_test.csv"}

CSV_WIDTH = 785
"""Fields per CSV line: the label, then 28 * 28 pixels."""

_GZIP_MAGIC = b"\x1f\x8b"
_IDX_DTYPE_CODES = {0x08: "unsigned byte", 0x09: "signed byte", 0x0B: "short", 0x0C: "int",
                    0x0D: "float", 0x0E: "double"}
_CSV_CHARS = str.maketrans("", "", "0123456789, \t\r")



# ---------------------------------------------------------------------------------------------
# IDX


def read_idx(path):
    """Read an IDX file of unsigned bytes, gzipped or not; returns a uint8 array of the stored dims.

    MNIST images come back as ``(n, 28, 28)``, labels as ``(n,)``. Raises DataError for a missing
    file, a corrupt gzip stream, a wrong magic number, a dtype other than 0x08, or a byte count that
    disagrees with the dims.
    """
    path = Path(path)
    data = _read_bytes(path)
    if data[:2] == _GZIP_MAGIC:
        data = _gunzip(path, data)
    dims, offset = _idx_header(path, data)
    expected, found = int(np.prod(dims, dtype=np.int64)), len(data) - offset
    if found != expected:
        kind = "truncated" if found < expected else "too long"
        raise DataError(f"{path}: IDX data {kind}: dims {dims} need {expected} bytes after the "
                        f"{offset}-byte header, found {found}; re-download or re-extract the file")
    return np.frombuffer(data, dtype=np.uint8, offset=offset).reshape(dims).copy()


def _read_bytes(path):
    """The whole file as bytes, or a DataError naming the file."""
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        raise DataError(f"{path}: file not found; check the path") from None
    except OSError as e:
        raise DataError(f"{path}: cannot read file ({e.strerror or e}); check its permissions") from None


def _gunzip(path, data):
    """Decompress a gzip stream, turning every kind of corruption into one DataError."""
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(f"{path}: corrupt gzip stream ({e}); re-download the file") from None


def _idx_header(path, data):
    """Parse ``00 00 08 d`` and the ``d`` big-endian uint32 dims; returns (dims tuple, data offset)."""
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPE_CODES:
        found = data[:4].hex(" ") or "nothing (empty file)"
        raise DataError(f"{path}: not an IDX file: magic number is {found}, expected 00 00 08 <ndim>; "
                        "pass an MNIST IDX file such as train-images-idx3-ubyte.gz")
    if data[2] != 0x08:
        raise DataError(f"{path}: unsupported IDX dtype code 0x{data[2]:02x} "
                        f"({_IDX_DTYPE_CODES[data[2]]}); only 0x08 (unsigned byte, as in MNIST) is read")
    offset = 4 + 4 * data[3]
    if len(data) < offset:
        raise DataError(f"{path}: IDX header truncated: {data[3]} dims need {offset} header bytes, "
                        f"found {len(data)}; re-download or re-extract the file")
    dims = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=data[3], offset=4))
    return dims, offset


# ---------------------------------------------------------------------------------------------
# CSV


def read_mnist_csv(path):
    """Read ``label,p1..p784`` lines; returns (images uint8 (n, 784), labels int64 (n,)).

    Parsed by ``np.loadtxt`` straight into uint8 (about 2.5 s for 60,000 lines). Only when that
    fails is the file scanned line by line, to name the first bad line and what is wrong with it.
    """
    path = Path(path)
    header = _csv_has_header(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "input contained no data": handled below
            table = np.loadtxt(path, delimiter=",", dtype=np.uint8, skiprows=int(header), ndmin=2,
                               encoding="utf-8-sig")   # a byte-order mark (a spreadsheet's export) is not data
    except (ValueError, OverflowError) as e:
        raise _csv_diagnosis(path, header, e) from None
    if table.shape[0] == 0:
        raise _csv_empty(path)
    if table.shape[1] != CSV_WIDTH:
        lineno, line = _csv_lines(path, header)[0]
        raise _csv_width_error(path, lineno, line.count(",") + 1)
    bad = np.flatnonzero(table[:, 0] > 9)
    if bad.size:
        lineno = _csv_lines(path, header)[bad[0]][0]
        raise _csv_label_error(path, lineno, table[bad[0], 0])
    return np.ascontiguousarray(table[:, 1:]), table[:, 0].astype(np.int64)


def _csv_has_header(path):
    """True when the first line's first field is not a number (e.g. ``label,1x1,...``), after a UTF-8
    byte-order mark if the file starts with one."""
    try:
        with open(path, "rb") as f:
            first = f.readline()
    except FileNotFoundError:
        raise DataError(f"{path}: file not found; check the path") from None
    except OSError as e:
        raise DataError(f"{path}: cannot read file ({e.strerror or e}); check its permissions") from None
    field = first.removeprefix(codecs.BOM_UTF8).split(b",")[0].strip()
    try:
        float(field)
        return False
    except ValueError:
        return bool(first.strip())


def _csv_lines(path, header):
    """The data lines as (1-based line number, text), skipping the header and blank lines."""
    text = Path(path).read_bytes().removeprefix(codecs.BOM_UTF8).decode("latin-1")
    lines = enumerate(text.split("\n"), start=1)
    return [(n, line) for n, line in lines if line.strip() and not (header and n == 1)]


def _csv_diagnosis(path, header, loadtxt_error):
    """Find the first bad line after np.loadtxt failed; returns the DataError to raise."""
    rows = _csv_lines(path, header)
    if not rows:
        return _csv_empty(path)
    for lineno, line in rows:  # cheap checks first: width, then characters an integer never has
        if line.count(",") != CSV_WIDTH - 1 or line.translate(_CSV_CHARS):
            return _csv_line_error(path, lineno, line)
    try:
        table = np.loadtxt([line for _, line in rows], delimiter=",", dtype=np.int64, ndmin=2)
    except (ValueError, OverflowError):  # empty fields, inner spaces, huge numbers: go slowly
        errors = (_csv_line_error(path, lineno, line) for lineno, line in rows)
        return next((e for e in errors if e is not None), None) or _csv_unknown(path, loadtxt_error)
    bad = np.flatnonzero((table[:, 0] > 9) | (table[:, 1:] > 255).any(axis=1))
    if bad.size:
        lineno, line = rows[bad[0]]
        return _csv_line_error(path, lineno, line)
    return _csv_unknown(path, loadtxt_error)


def _csv_line_error(path, lineno, line):
    """The DataError for one line (wrong width, non-integer or out-of-range field), or None."""
    fields = line.split(",")
    if len(fields) != CSV_WIDTH:
        return _csv_width_error(path, lineno, len(fields))
    for column, field in enumerate(fields, start=1):
        try:
            value = int(field)
        except ValueError:
            return DataError(f"{path}: line {lineno}, column {column}: {field.strip()!r} is not an "
                             "integer; MNIST CSV holds integer labels 0..9 and pixels 0..255")
        if column == 1 and not 0 <= value <= 9:
            return _csv_label_error(path, lineno, value)
        if not 0 <= value <= 255:
            return DataError(f"{path}: line {lineno}, column {column}: pixel value {value} outside "
                             "0..255; MNIST CSV pixels are bytes 0..255")
    return None


def _csv_width_error(path, lineno, width):
    return DataError(f"{path}: line {lineno} has {width} fields, expected {CSV_WIDTH} "
                     "(label + 784 pixels); fix or remove that line")


def _csv_label_error(path, lineno, label):
    return DataError(f"{path}: line {lineno}: label {label} outside 0..9; "
                     "the first field of each line must be the digit")


def _csv_empty(path):
    return DataError(f"{path}: empty file, no data lines; pass an MNIST CSV with one "
                     "'label,784 pixels' line per image")


def _csv_unknown(path, loadtxt_error):
    reason = " ".join(str(loadtxt_error).split())
    return DataError(f"{path}: cannot parse as MNIST CSV ({reason}); check the file's format")


# ---------------------------------------------------------------------------------------------
# A directory of MNIST files


def find_mnist_files(directory):
    """Which MNIST files ``directory`` holds: ``("idx", {array name: path})``, ``("csv", {split: path})``,
    or None when it holds none of them. Raises DataError for a missing, unreadable or partial directory.
    """
    directory = _check_directory(directory)
    idx = {key: _first_file(directory, _idx_names(name)) for key, name in IDX_FILES.items()}
    csv = {split: directory / name for split, name in CSV_FILES.items()}
    csv_found = {split: p for split, p in csv.items() if p.is_file()}
    if all(idx.values()):
        return "idx", idx
    if len(csv_found) == len(csv):
        return "csv", csv
    found = [p.name for p in idx.values() if p] + [p.name for p in csv_found.values()]
    if not found:
        return None
    missing = [f"{IDX_FILES[k]}[.gz]" for k, p in idx.items() if not p] if any(idx.values()) \
        else [p.name for s, p in csv.items() if s not in csv_found]
    raise DataError(f"{directory}: incomplete MNIST files: found {', '.join(found)} but not "
                    f"{', '.join(missing)}; add the missing files")


def _check_directory(directory):
    """``directory`` as a Path, after checking that it exists and can be listed."""
    path = Path(directory).expanduser()
    if not path.exists():
        raise DataError(f"{path}: directory not found; pass data.dir=<directory holding the MNIST "
                        "files>, or data.dir=null to download them")
    if not path.is_dir():
        raise DataError(f"{path}: not a directory; pass data.dir=<directory holding the MNIST files>")
    try:
        os.listdir(path)
    except OSError as e:
        raise DataError(f"{path}: cannot read directory ({e.strerror or e}); "
                        "check its permissions") from None
    return path


def _idx_names(name):
    """Accepted spellings of one IDX file: plain, gzipped, and with ``.idx`` in place of ``-idx``."""
    dotted = name.replace("-idx", ".idx")
    return [name, name + ".gz", dotted, dotted + ".gz"]


def _first_file(directory, names):
    return next((directory / n for n in names if (directory / n).is_file()), None)


def parse_sources(kind, paths):
    """Parse the source files into the four arrays (see ``load_mnist_dir``)."""
    arrays = {}
    for split in ("train", "test"):
        if kind == "csv":
            x, labels = read_mnist_csv(paths[split])
        else:
            x, labels = _idx_pair(paths[f"x_{split}"], paths[f"labels_{split}"])
        arrays[f"x_{split}"], arrays[f"labels_{split}"] = x, labels
    return arrays


def _idx_pair(image_path, label_path):
    """Images (n, 28, 28) and labels (n,) from two IDX files; returns (uint8 (n, 784), int64 (n,))."""
    images, labels = read_idx(image_path), read_idx(label_path)
    if images.ndim != 3 or images.shape[1:] != (28, 28):
        raise DataError(f"{image_path}: images have shape {images.shape}, expected (n, 28, 28); "
                        "pass the MNIST images file")
    if labels.ndim != 1:
        raise DataError(f"{label_path}: labels have shape {labels.shape}, expected (n,); "
                        "pass the MNIST labels file")
    if len(images) != len(labels):
        raise DataError(f"{image_path} holds {len(images)} images but {label_path} holds "
                        f"{len(labels)} labels; use files from the same MNIST set")
    if labels.size and labels.max() > 9:
        raise DataError(f"{label_path}: label {labels.max()} outside 0..9; pass the MNIST labels file")
    return images.reshape(len(images), -1), labels.astype(np.int64)
