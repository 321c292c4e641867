"""Data sets by name (``datasets``), MNIST files (``mnist_files``), their ``.npy`` cache (``cache``) and
download (``download``). Every data set arrives as a ``Dataset`` of read-only arrays."""

from .datasets import Dataset, load_dataset, resolve_dir

__all__ = ["Dataset", "load_dataset", "resolve_dir"]
