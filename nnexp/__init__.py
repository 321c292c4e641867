"""nnexp: a neural network written from scratch in NumPy, trained and swept with Hydra."""

__version__ = "0.3.0"
