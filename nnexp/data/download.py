"""MNIST-format data sets (MNIST, Fashion-MNIST, Kuzushiji-MNIST) from a directory of files, or downloaded
once (checksums verified) into the user cache."""

from dataclasses import dataclass
from pathlib import Path

import pooch
import requests  # pooch's HTTP client: its errors mean "offline"

from ..errors import DataError
from .cache import cache_root, cached_arrays
from .mnist_files import CSV_FILES, IDX_FILES, find_mnist_files, parse_sources


@dataclass(frozen=True)
class Source:
    """Where a data set's four gzipped IDX files are downloaded from, and the hash each must have."""
    title: str      # the data set's name in messages
    url: str        # the folder the four files are in
    hashes: dict    # file name -> "sha256:..." or "md5:..." (pooch's known_hash)


SOURCES = {
    "mnist": Source("MNIST", "https://ossci-datasets.s3.amazonaws.com/mnist/", {
        # a live mirror of the classic files (yann.lecun.com no longer serves them; torchvision uses it too);
        # sha256 of the standard files, whose md5s are the published ones (torchvision's list):
        # f68b3c2d..., d53e105e..., 9fb629c4..., ec29112d... in this order.
        "train-images-idx3-ubyte.gz": "sha256:440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        "train-labels-idx1-ubyte.gz": "sha256:3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        "t10k-images-idx3-ubyte.gz": "sha256:8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        "t10k-labels-idx1-ubyte.gz": "sha256:f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
    }),
    "fashion_mnist": Source("Fashion-MNIST", "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/", {
        # the md5s the authors publish (README of zalandoresearch/fashion-mnist, "Get the Data")
        "train-images-idx3-ubyte.gz": "md5:8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte.gz": "md5:25c81989df183df01b3e8a0aad5dffbe",
        "t10k-images-idx3-ubyte.gz": "md5:bef4ecab320f06d8554ea6380940ec79",
        "t10k-labels-idx1-ubyte.gz": "md5:bb300cfdad3c16e7a12a480ee83cd310",
    }),
    "kmnist": Source("Kuzushiji-MNIST", "http://codh.rois.ac.jp/kmnist/dataset/kmnist/", {
        # the authors' README (rois-codh/kmnist) publishes no checksums; these md5s are torchvision's
        # (datasets.KMNIST), the list the MNIST hashes above come from
        "train-images-idx3-ubyte.gz": "md5:bdb82020997e1d708af4cf47b453dcf7",
        "train-labels-idx1-ubyte.gz": "md5:e144d726b3acfaa3e44228e80efcd344",
        "t10k-images-idx3-ubyte.gz": "md5:5c965bf0a639b31b8f53240b1b52f4d7",
        "t10k-labels-idx1-ubyte.gz": "md5:7320c461ea6c1c855c0b718fb2a4b134",
    }),
}
"""The MNIST-format data sets by their ``data`` name (conf/data/<name>.yaml)."""

DOWNLOAD_TIMEOUT = 60
"""Seconds to wait for the server before giving up."""

_DATA_DIR_HINT = "put the four IDX files in a directory and pass data.dir=<dir>"


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
    return cached_arrays(list(sources[1].values()), lambda: parse_sources(*sources), cache_dir)


def download_mnist(cache_dir=None, name="mnist"):
    """Download the four gzipped IDX files of data set ``name`` (``SOURCES``), checking their hashes, into
    ``cache_dir``; returns it.

    Default ``<cache root>/<name>``. Files already there with the right hash are not fetched again.
    Raises DataError when the server cannot be reached or serves a file with another hash.
    """
    source = SOURCES[name]
    directory = Path(cache_dir) if cache_dir is not None else cache_root() / name
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DataError(f"{directory}: cannot create the {source.title} download directory ({e.strerror or e}); "
                        "set NNEXP_CACHE to a writable directory") from None
    downloader = pooch.HTTPDownloader(progressbar=False, timeout=DOWNLOAD_TIMEOUT)
    for file, known_hash in source.hashes.items():
        url = source.url + file
        try:
            pooch.retrieve(url, known_hash, fname=file, path=directory, downloader=downloader)
        except (requests.exceptions.RequestException, OSError) as e:
            raise DataError(f"could not download {source.title} from {url} ({_short_reason(e)}); "
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


def load_mnist(directory=None, cache_dir=None, name="mnist"):
    """Data set ``name`` (mnist, fashion_mnist, kmnist) from ``directory`` when one is given, else downloaded
    once (see ``download_mnist``).

    Returns the dict of ``load_mnist_dir``. A given directory is the only place read: one that does
    not exist or holds no MNIST-format files is an error naming the files looked for, never a reason to
    read or download them elsewhere (it is usually a typo in data.dir).
    """
    if directory is not None:
        return load_mnist_dir(directory, cache_dir)
    return load_mnist_dir(download_mnist(name=name), cache_dir)
