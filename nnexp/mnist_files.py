"""MNIST from files on disk: IDX (gzipped or not) or CSV, parsed once and cached as ``.npy``.

Formats read here:

* IDX (LeCun): magic ``00 00 08 d`` (two zero bytes, dtype code 0x08 = unsigned byte, ``d`` dims),
  then ``d`` big-endian uint32 sizes, then the bytes of the array in C order. Images are
  ``(n, 28, 28)``, labels ``(n,)``. A file may be gzipped; that is told by its first bytes
  (``1f 8b``), never by its name.
* CSV: one image per line, ``label,p1,...,p784`` (785 integers), no header; one header line whose
  first field is not a number (``label,1x1,...``) is skipped.

``load_mnist_dir`` returns ``{"x_train": uint8 (n, 784), "labels_train": int64 (n,),
"x_test": uint8 (m, 784), "labels_test": int64 (m,)}``. The parsed arrays are kept as ``.npy``
files in a cache directory, keyed by the source files' absolute paths, sizes and mtimes, so the
second load takes milliseconds and a changed source file is parsed again.

Cache root: ``$NNEXP_CACHE`` if set, else ``pooch.os_cache("nnexp")``; parsed arrays live in
``<root>/mnist-npy`` and downloads in ``<root>/mnist``.
"""

import gzip
import hashlib
import json
import os
import warnings
import zlib
from pathlib import Path

import numpy as np
import pooch
import requests  # pooch's HTTP client: its errors mean "offline"

from .errors import DataError
from .storage import atomic_path

MNIST_URL = "https://ossci-datasets.s3.amazonaws.com/mnist/"
"""Live mirror of the classic files (yann.lecun.com no longer serves them); also used by torchvision."""

MNIST_HASHES = {
    # sha256 of the standard files; their md5s are the published ones (torchvision's list):
    # f68b3c2d..., d53e105e..., 9fb629c4..., ec29112d... in this order.
    "train-images-idx3-ubyte.gz": "sha256:440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte.gz": "sha256:3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte.gz": "sha256:8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz": "sha256:f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}

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

DOWNLOAD_TIMEOUT = 60
"""Seconds to wait for the mirror before giving up."""

_GZIP_MAGIC = b"\x1f\x8b"
_IDX_DTYPE_CODES = {0x08: "unsigned byte", 0x09: "signed byte", 0x0B: "short", 0x0C: "int",
                    0x0D: "float", 0x0E: "double"}
_CSV_CHARS = str.maketrans("", "", "0123456789, \t\r")
_CACHE_VERSION = 1
_DATA_DIR_HINT = "put the four IDX files in a directory and pass data.dir=<dir>"


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
            table = np.loadtxt(path, delimiter=",", dtype=np.uint8, skiprows=int(header), ndmin=2)
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
    """True when the first line's first field is not a number (e.g. ``label,1x1,...``)."""
    try:
        with open(path, "rb") as f:
            first = f.readline()
    except FileNotFoundError:
        raise DataError(f"{path}: file not found; check the path") from None
    except OSError as e:
        raise DataError(f"{path}: cannot read file ({e.strerror or e}); check its permissions") from None
    field = first.split(b",")[0].strip()
    try:
        float(field)
        return False
    except ValueError:
        return bool(first.strip())


def _csv_lines(path, header):
    """The data lines as (1-based line number, text), skipping the header and blank lines."""
    text = Path(path).read_bytes().decode("latin-1")
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


def load_mnist_dir(directory, cache_dir=None):
    """Load the four IDX files (or mnist_train.csv + mnist_test.csv) found in ``directory``.

    Returns ``{"x_train": uint8 (n, 784), "labels_train": int64 (n,), "x_test": uint8 (m, 784),
    "labels_test": int64 (m,)}``. ``cache_dir`` holds the parsed ``.npy`` files (default
    ``<cache root>/mnist-npy``). Raises DataError for a missing or unreadable directory, an
    incomplete set of files, or a directory holding none of them (the message lists the names).
    """
    sources = find_mnist_files(directory)
    if sources is None:
        idx_names = ", ".join(f"{name}[.gz]" for name in IDX_FILES.values())
        raise DataError(f"{directory}: no MNIST files found (looked for {idx_names}, or "
                        f"{CSV_FILES['train']} + {CSV_FILES['test']}); put them there, "
                        "or pass data.dir=null to download them")
    return cached_arrays(list(sources[1].values()), lambda: _parse_sources(*sources), cache_dir)


def cached_arrays(sources, parse, cache_dir=None):
    """The four arrays of ``load_mnist_dir`` made by ``parse()`` from the files ``sources``: from the
    .npy cache while those files are unchanged (same paths, sizes, mtimes), else parsed and cached."""
    cache = Path(cache_dir) if cache_dir is not None else cache_root() / "mnist-npy"
    files = _cache_files(cache, sources)
    arrays = _load_cached(files)
    if arrays is None:
        arrays = parse()
        _save_cached(files, arrays)
    return arrays


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


def _parse_sources(kind, paths):
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


# ---------------------------------------------------------------------------------------------
# .npy cache


def cache_root():
    """``$NNEXP_CACHE`` if set, else the user cache directory ``pooch.os_cache("nnexp")``."""
    return Path(os.environ.get("NNEXP_CACHE") or pooch.os_cache("nnexp")).expanduser()


def _cache_files(cache, sources):
    """Cache paths ``mnist-<where>-<stamp>-<array>.npy`` for these sources.

    ``where`` hashes the absolute paths, ``stamp`` their sizes and mtimes: a changed file gives a
    new stamp, and the entries under the old stamp are removed when the new ones are written.
    """
    paths = [str(Path(p).resolve()) for p in sources]
    stats = [os.stat(p) for p in paths]
    where = _digest([_CACHE_VERSION, paths])
    stamp = _digest([[s.st_size, s.st_mtime_ns] for s in stats])
    return {name: cache / f"mnist-{where}-{stamp}-{name}.npy" for name in IDX_FILES}


def _digest(value):
    return hashlib.sha256(json.dumps(value).encode()).hexdigest()[:16]


def _load_cached(files):
    """The cached arrays, or None when absent; a corrupt entry is deleted (with a warning) -> None."""
    if not all(f.is_file() for f in files.values()):
        return None
    try:
        arrays = {name: np.load(f, allow_pickle=False) for name, f in files.items()}
        problem = _cache_problem(arrays)
    except Exception as e:  # noqa: BLE001 -- any failure to read means the entry is unusable
        problem = f"{type(e).__name__}: {e}"
    if problem is None:
        return arrays
    warnings.warn(f"{next(iter(files.values())).parent}: corrupt MNIST cache entry ({problem}); "
                  "deleted it, parsing the source files again", stacklevel=3)
    for f in files.values():
        f.unlink(missing_ok=True)
    return None


def _cache_problem(arrays):
    """What is wrong with cached arrays (dtypes, shapes, counts), or None if they are usable."""
    for split in ("train", "test"):
        x, labels = arrays[f"x_{split}"], arrays[f"labels_{split}"]
        if x.dtype != np.uint8 or x.ndim != 2 or x.shape[1] != 784:
            return f"x_{split} is {x.dtype} {x.shape}, expected uint8 (n, 784)"
        if labels.dtype != np.int64 or labels.shape != (len(x),):
            return f"labels_{split} is {labels.dtype} {labels.shape}, expected int64 ({len(x)},)"
    return None


def _save_cached(files, arrays):
    """Write each array atomically, then drop older entries for the same sources; warn on failure."""
    cache = next(iter(files.values())).parent
    try:
        cache.mkdir(parents=True, exist_ok=True)
        for name, f in files.items():
            _atomic_save(f, arrays[name])
    except OSError as e:
        warnings.warn(f"{cache}: cannot write the MNIST cache ({e}); loading will parse the files "
                      "every time; set NNEXP_CACHE to a writable directory", stacklevel=3)
        return
    prefix = "-".join(next(iter(files.values())).name.split("-")[:2])  # mnist-<where>
    for old in cache.glob(f"{prefix}-*.npy"):
        if old not in files.values():
            old.unlink(missing_ok=True)


def _atomic_save(path, array):
    """np.save into a temporary file in the same directory, then renamed: no reader sees half a file."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.save(f, array, allow_pickle=False)


# ---------------------------------------------------------------------------------------------
# Download


def download_mnist(cache_dir=None):
    """Download the four gzipped IDX files, checking their sha256, into ``cache_dir``; returns it.

    Default ``<cache root>/mnist``. Files already there with the right hash are not fetched again.
    Raises DataError when the mirror cannot be reached or serves a file with another hash.
    """
    directory = Path(cache_dir) if cache_dir is not None else cache_root() / "mnist"
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DataError(f"{directory}: cannot create the MNIST download directory ({e.strerror or e}); "
                        "set NNEXP_CACHE to a writable directory") from None
    downloader = pooch.HTTPDownloader(progressbar=False, timeout=DOWNLOAD_TIMEOUT)
    for name, known_hash in MNIST_HASHES.items():
        url = MNIST_URL + name
        try:
            pooch.retrieve(url, known_hash, fname=name, path=directory, downloader=downloader)
        except (requests.exceptions.RequestException, OSError) as e:
            raise DataError(f"could not download MNIST from {url} ({_short_reason(e)}); "
                            f"{_DATA_DIR_HINT}") from None
        except ValueError as e:  # pooch: the file's hash is not the known one
            reason = " ".join(str(e).split())
            raise DataError(f"{url}: downloaded file has the wrong checksum ({reason}); "
                            f"{_DATA_DIR_HINT}") from None
    return directory


def _short_reason(error):
    """The innermost cause of a requests error on one line, e.g. ``[Errno 111] Connection refused``."""
    cause = error
    for _ in range(10):  # requests -> urllib3 -> socket; bounded in case of a cycle
        inner = cause.__cause__ or cause.__context__
        if inner is None:
            break
        cause = inner
    return " ".join(str(cause).split()) or type(cause).__name__


def load_mnist(directory=None, cache_dir=None):
    """MNIST from ``directory`` if it holds the files, else downloaded (see ``download_mnist``).

    Returns the dict of ``load_mnist_dir``. A directory that does not exist is an error, not a
    reason to download: it is usually a typo in data.dir.
    """
    if directory is not None and find_mnist_files(directory) is not None:
        return load_mnist_dir(directory, cache_dir)
    return load_mnist_dir(download_mnist(), cache_dir)
