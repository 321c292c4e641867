"""Inverse query: the input a trained network associates with each digit 0-9, by one of two methods::

    back      (classic experiment 5, "Make your own neural network") push the target vector of a digit
              (0.01, with 0.99 at the digit) backwards, layer l = L..1:
                  z_l = f_l^-1(a_l)                 inverse activation (logit for sigmoid)
                  a_{l-1} = rescale(W_l^T z_l)       transposed weights, then into [0.01, 0.99]
              Works for any depth when every activation is invertible and there are no biases.
    gradient  for any network (relu, softmax, biases): start from a grey image and climb the gradient of
              log softmax(z_L)_k, the k-th class score against the others, minus an L2 pull towards grey,
              keeping the pixels in the input range.

The maths only; ``nnexp.training.run_inverse`` loads a run and draws the images.
"""

import numpy as np

from ..errors import ConfigError

TARGET_LOW, TARGET_HIGH = 0.01, 0.99
RANGES = {"tanh": (-0.99, 0.99)}
"""Interval each layer's back-queried activations are rescaled into (default [0.01, 0.99])."""


def rescale(v, low=TARGET_LOW, high=TARGET_HIGH):
    """Shift and stretch ``v`` (..., n) linearly so that its minimum is ``low`` and its maximum ``high``."""
    v = v - v.min(axis=-1, keepdims=True)
    span = v.max(axis=-1, keepdims=True)
    return v / np.where(span > 0, span, 1) * (high - low) + low


def targets(n_classes, low=TARGET_LOW, high=TARGET_HIGH):
    """One target row per class: (n_classes, n_classes), ``high`` on the diagonal, ``low`` elsewhere."""
    return np.full((n_classes, n_classes), low) + np.eye(n_classes) * (high - low)


def invertible(stack):
    """True when the back query applies: a dense stack, every activation invertible, no biases."""
    return (stack is not None and stack.biases is None
            and all(getattr(f, "inverse", None) is not None for f in stack.activations))


def back_query(network):
    """The back query of every class at once: (n_classes, n_inputs), each row in [0.01, 0.99]."""
    stack = network.dense_stack()
    if not invertible(stack):
        problems = [] if stack is None else [f.name for f in stack.activations if getattr(f, "inverse", None) is None]
        reason = ("the network is not a stack of dense layers" if stack is None else
                  f"activation {problems[0]} has no inverse" if problems else "the network has biases")
        raise ConfigError(f"the back query needs invertible activations and no biases, but {reason}; "
                          "use --method gradient")
    a = targets(stack.sizes[-1])
    for layer in reversed(range(len(stack.weights))):
        z = stack.activations[layer].inverse(a)
        below = stack.activations[layer - 1].name if layer > 0 else None
        a = rescale(z @ stack.weights[layer].astype(np.float64), *RANGES.get(below, (TARGET_LOW, TARGET_HIGH)))
    return a


def input_gradient(network, x, classes):
    """log softmax(z_L)[classes] of each row of x and its gradient with respect to x:
    x (N, n_0), classes (N,) -> ((N,), (N, n_0))."""
    rows = np.arange(len(x))
    scores = {}

    def delta_of(z):                      # d score / d z_L
        z = z - z.max(axis=1, keepdims=True)
        p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
        scores["score"] = np.log(p[rows, classes])
        delta = -p
        delta[rows, classes] += 1
        return delta

    grad = network.input_gradient(x, delta_of)
    return scores["score"], grad


def gradient_query(network, low, high, steps=300, step=0.02, l2=0.05):
    """For every class k, an input in [low, high] that maximises ``log softmax(z_L)_k - l2/2 |x - grey|^2``
    by normalised gradient ascent, all classes in one batch: (n_classes, n_inputs)."""
    grey = (low + high) / 2
    x = np.full((network.n_outputs, int(np.prod(network.input_shape))), grey, dtype=np.float64)
    classes = np.arange(len(x))
    for _ in range(steps):
        grads = input_gradient(network, x, classes)[1] - l2 * (x - grey)
        scale = np.sqrt((grads ** 2).mean(axis=1, keepdims=True)) + 1e-12
        x = np.clip(x + step * (high - low) * grads / scale, low, high)
    return x
