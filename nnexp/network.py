"""A fully connected network of any layer structure, written with NumPy only.

Notation (Nielsen's): for layers l = 1..L with weights W_l of shape (n_l, n_{l-1}) and biases
b_l of shape (n_l,), a batch of inputs x of shape (N, n_0) flows as

    a_0 = x,   z_l = a_{l-1} W_l^T + b_l,   a_l = f_l(z_l)          (each (N, n_l))

and the errors delta_l = dC/dz_l flow back as

    delta_L = loss.delta(z_L, a_L, y),   delta_{l-1} = f'_{l-1}(z_{l-1}) * (delta_l W_l)
    dC/dW_l = delta_l^T a_{l-1},          dC/db_l = sum over the batch of delta_l.
"""

import numpy as np

from .activations import get_activation
from .errors import WeightsError
from .initializers import initial_biases, initial_weights
from .losses import make_loss

PREDICT_CHUNK = 4096
"""Samples per forward pass in ``predict``: bounds memory for wide layers and big test sets."""


class MLP:
    """Fully connected network; ``sizes`` lists every layer width, input first, e.g. [784, 100, 10]."""

    def __init__(self, sizes, activation="sigmoid", output_activation="sigmoid", loss="mse",
                 init="normal", bias=False, uniform_limit=0.5, dtype=np.float32, rng=None):
        rng = np.random.default_rng() if rng is None else rng
        self.sizes = list(sizes)
        self.dtype = np.dtype(dtype)
        self.hidden_activation = get_activation(activation, hidden=True)
        self.output_activation = get_activation(output_activation)
        self.loss = make_loss(loss, self.output_activation)
        self.activations = [self.hidden_activation] * (len(sizes) - 2) + [self.output_activation]
        self.weights = []
        self.biases = [] if bias else None
        for n_in, n_out in zip(self.sizes[:-1], self.sizes[1:]):
            w = initial_weights(init, (n_out, n_in), n_in, n_out, rng, uniform_limit)
            self.weights.append(w.astype(self.dtype))
            if bias:
                self.biases.append(initial_biases(init, (n_out,), rng, uniform_limit).astype(self.dtype))

    @property
    def params(self):
        """Trainable arrays: all weights, then all biases (the optimizer updates them in place)."""
        return self.weights + (self.biases or [])

    @property
    def decay(self):
        """Weight decay applies to weights, not to biases."""
        return [True] * len(self.weights) + [False] * len(self.biases or [])

    def forward(self, x):
        """Weighted inputs and activations of every layer: lists [z_1..z_L], [a_0..a_L]."""
        zs, activations = [], [x]
        for i, (w, f) in enumerate(zip(self.weights, self.activations)):
            z = activations[-1] @ w.T
            if self.biases is not None:
                z += self.biases[i]
            zs.append(z)
            activations.append(f.fn(z))
        return zs, activations

    def predict(self, x):
        """Output activations a_L for inputs x (N, n_0), computed in chunks: (N, n_L)."""
        return np.concatenate([self.forward(x[i:i + PREDICT_CHUNK])[1][-1]
                               for i in range(0, max(len(x), 1), PREDICT_CHUNK)])

    def loss_and_grads(self, x, y, mean=True, rng=None):
        """Per-sample losses (N,) and the gradients of their mean (or sum) w.r.t. ``params``.

        x: (N, n_0), y: (N, n_L). ``rng`` is unused (no stochastic layers in an MLP).
        """
        zs, activations = self.forward(x)
        losses = self.loss.fn(activations[-1], y)
        delta = self.loss.delta(zs[-1], activations[-1], y)
        if mean:
            delta = delta / len(x)
        errors = self.layer_errors(zs, activations, delta)
        grad_w = [e.T @ a for e, a in zip(errors, activations)]
        grad_b = [e.sum(axis=0) for e in errors]
        return losses, grad_w + (grad_b if self.biases is not None else [])

    def layer_errors(self, zs, activations, delta):
        """The errors delta_1..delta_L (each (N, n_l)) of every layer from the output error
        delta = delta_L: delta_{l-1} = f'_{l-1}(z_{l-1}) * (delta_l W_l)."""
        errors = [delta]
        for layer in range(len(self.weights) - 1, 0, -1):
            g = errors[0] @ self.weights[layer]
            errors.insert(0, self.activations[layer - 1].backward(zs[layer - 1], activations[layer], g))
        return errors

    def state(self):
        """Named arrays for a weights file: W1..WL (n_l, n_{l-1}) and, with biases, b1..bL."""
        arrays = {f"W{i + 1}": w for i, w in enumerate(self.weights)}
        arrays.update({f"b{i + 1}": b for i, b in enumerate(self.biases or [])})
        return arrays

    def load_state(self, arrays, source="weights"):
        """Copy named arrays into the network, refusing any that do not fit it exactly."""
        check_state(self.state(), arrays, source)
        for name, target in self.state().items():
            target[...] = arrays[name]


def check_state(expected, found, source):
    """Raise WeightsError unless ``found`` has exactly the names and shapes of ``expected``."""
    missing = sorted(set(expected) - set(found))
    unexpected = sorted(set(found) - set(expected))
    wrong = [f"{name} {tuple(found[name].shape)} (expected {tuple(expected[name].shape)})"
             for name in sorted(set(expected) & set(found)) if found[name].shape != expected[name].shape]
    not_float = [f"{name} {found[name].dtype}" for name in sorted(set(expected) & set(found))
                 if found[name].dtype.kind != "f"]
    problems = ([f"missing {', '.join(missing)}"] if missing else []) + \
               ([f"unexpected {', '.join(unexpected)}"] if unexpected else []) + \
               ([f"wrong shape {', '.join(wrong)}"] if wrong else []) + \
               ([f"not floating point {', '.join(not_float)}"] if not_float else [])
    if problems:
        raise WeightsError(f"{source} does not fit the configured network: {'; '.join(problems)}")
    nonfinite = [name for name in sorted(expected) if not np.isfinite(found[name]).all()]
    if nonfinite:
        raise WeightsError(f"{source} holds non-finite values in {', '.join(nonfinite)}")
