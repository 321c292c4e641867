"""The network and its maths, NumPy (and SciPy) only: activations, losses, initializers, layers,
the network and its factory, the optimizer, metrics, the inverse query, and the per-sample kernels
(``nnexp.nn.kernels``). Nothing here imports Hydra, OmegaConf, pandas or matplotlib."""
