"""Inverse query: the input a trained network associates with each digit 0-9.

back      (classic experiment 5, "Make your own neural network") push the target vector of a digit
          (0.01, with 0.99 at the digit) backwards, layer l = L..1:
              z_l = f_l^-1(a_l)                 inverse activation (logit for sigmoid)
              a_{l-1} = rescale(W_l^T z_l)       transposed weights, then into [0.01, 0.99]
          Works for any depth when every activation is invertible and there are no biases.
gradient  for any network (relu, softmax, biases): start from a grey image and climb the gradient of
          log softmax(z_L)_k, the k-th class score against the others, minus an L2 pull towards grey,
          keeping the pixels in the input range.

``python -m nnexp.inverse <run_dir> [--method auto|back|gradient] [--out file.png]`` writes one PNG
grid of the ten images (default ``<run_dir>/inverse_<method>.png``) and the images as .npz beside it.
"""

import argparse
import math
import sys
from pathlib import Path

import numpy as np
import yaml

from .errors import ConfigError, NnexpError, WeightsError
from .network import MLP
from .storage import read_npz, write_npz

TARGET_LOW, TARGET_HIGH = 0.01, 0.99
RANGES = {"tanh": (-0.99, 0.99)}
"""Interval each layer's back-queried activations are rescaled into (default [0.01, 0.99])."""

METHODS = ("auto", "back", "gradient")


def rescale(v, low=TARGET_LOW, high=TARGET_HIGH):
    """Shift and stretch ``v`` (..., n) linearly so that its minimum is ``low`` and its maximum ``high``."""
    v = v - v.min(axis=-1, keepdims=True)
    span = v.max(axis=-1, keepdims=True)
    return v / np.where(span > 0, span, 1) * (high - low) + low


def targets(n_classes, low=TARGET_LOW, high=TARGET_HIGH):
    """One target row per class: (n_classes, n_classes), ``high`` on the diagonal, ``low`` elsewhere."""
    return np.full((n_classes, n_classes), low) + np.eye(n_classes) * (high - low)


def back_query(model):
    """The back query of every class at once: (n_classes, n_inputs), each row in [0.01, 0.99]."""
    problems = [f.name for f in model.activations if getattr(f, "inverse", None) is None]
    if problems or model.biases is not None:
        reason = f"activation {problems[0]} has no inverse" if problems else "the network has biases"
        raise ConfigError(f"the back query needs invertible activations and no biases, but {reason}; "
                          "use --method gradient")
    a = targets(model.sizes[-1])
    for layer in reversed(range(len(model.weights))):
        z = model.activations[layer].inverse(a)
        below = model.activations[layer - 1].name if layer > 0 else None
        a = rescale(z @ model.weights[layer].astype(np.float64), *RANGES.get(below, (TARGET_LOW, TARGET_HIGH)))
    return a


def input_gradient(model, x, classes):
    """log softmax(z_L)[classes] of each row of x and its gradient with respect to x:
    x (N, n_0), classes (N,) -> ((N,), (N, n_0))."""
    rows = np.arange(len(x))
    zs, activations = model.forward(x)
    z = zs[-1] - zs[-1].max(axis=1, keepdims=True)
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    score = np.log(p[rows, classes])
    delta = -p
    delta[rows, classes] += 1             # d score / d z_L
    first = model.layer_errors(zs, activations, delta)[0]   # d score / d z_1
    return score, first @ model.weights[0]


def gradient_query(model, low, high, steps=300, step=0.02, l2=0.05):
    """For every class k, an input in [low, high] that maximises log softmax(z_L)_k - l2/2 |x - grey|^2
    by normalised gradient ascent, all classes in one batch: (n_classes, n_inputs)."""
    grey = (low + high) / 2
    x = np.full((model.sizes[-1], model.sizes[0]), grey, dtype=np.float64)
    classes = np.arange(len(x))
    for _ in range(steps):
        grads = input_gradient(model, x, classes)[1] - l2 * (x - grey)
        scale = np.sqrt((grads ** 2).mean(axis=1, keepdims=True)) + 1e-12
        x = np.clip(x + step * (high - low) * grads / scale, low, high)
    return x


def load_model(run_dir):
    """The trained network of a run directory (weights.npz and .hydra/config.yaml) and its config."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise WeightsError(f"{run_dir} is not a directory; give a run directory (it holds weights.npz)")
    if not (run_dir / "weights.npz").is_file():
        raise WeightsError(f"{run_dir} has no weights.npz (not a run directory, or the run failed or "
                           "diverged); give the directory of a completed run")
    config_path = run_dir / ".hydra" / "config.yaml"
    if not config_path.is_file():
        raise ConfigError(f"{run_dir} has no .hydra/config.yaml, so its activations are unknown; "
                          "give a run directory written by python -m nnexp")
    cfg = yaml.safe_load(config_path.read_text())
    arrays = read_npz(run_dir / "weights.npz")
    n_layers = sum(1 for name in arrays if name.startswith("W"))
    weights = [arrays.get(f"W{i + 1}") for i in range(n_layers)]
    if n_layers == 0 or any(w is None or w.ndim != 2 for w in weights):
        raise WeightsError(f"{run_dir}/weights.npz does not hold a fully connected network (W1..WL)")
    m = cfg["model"]
    model = MLP([weights[0].shape[1]] + [w.shape[0] for w in weights], activation=m["activation"],
                output_activation=m["output_activation"], loss=m["loss"], bias=any(k.startswith("b") for k in arrays),
                dtype=np.float64)
    model.load_state({k: v.astype(np.float64) for k, v in arrays.items()}, source=f"{run_dir}/weights.npz")
    return model, cfg


def input_range(data_cfg):
    """The interval pixel inputs took in training: classic [0.01, 1], standard [0, 1]."""
    return (0.01, 1.0) if data_cfg.get("scaling", "classic") == "classic" else (0.0, 1.0)


def inverse_query(run_dir, out=None, method="auto"):
    """Draw the ten inverse-query images of ``run_dir`` into one PNG grid; return its path."""
    if method not in METHODS:
        raise ConfigError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    model, cfg = load_model(run_dir)
    side = math.isqrt(model.sizes[0])
    if side * side != model.sizes[0]:
        raise ConfigError(f"the network has {model.sizes[0]} inputs, not a square image; the inverse "
                          "query draws images (e.g. 784 = 28 x 28 inputs)")
    if method == "auto":
        invertible = all(getattr(f, "inverse", None) is not None for f in model.activations)
        method = "back" if invertible and model.biases is None else "gradient"
    images = back_query(model) if method == "back" else gradient_query(model, *input_range(cfg.get("data", {})))
    answers = model.predict(images)
    out = Path(out) if out else Path(run_dir) / f"inverse_{method}.png"
    write_npz(out.with_suffix(".npz"), {"images": images.reshape(-1, side, side), "outputs": answers})
    from .plots import inverse_grid

    return inverse_grid(images.reshape(-1, side, side), answers.argmax(axis=1), out,
                        f"Inverse query ({method}) of the network in {'/'.join(Path(run_dir).resolve().parts[-2:])}")


def main(argv=None):
    """``python -m nnexp.inverse <run_dir>``: the image each digit 0-9 stands for in a trained network."""
    parser = argparse.ArgumentParser(prog="python -m nnexp.inverse", description=main.__doc__)
    parser.add_argument("run_dir", help="a run directory holding weights.npz and .hydra/config.yaml")
    parser.add_argument("--method", default="auto", choices=METHODS,
                        help="back: the classic back query (invertible activations, no biases); gradient: "
                             "optimise an input per class (any network); auto: back where possible")
    parser.add_argument("--out", help="PNG file to write (default: <run_dir>/inverse_<method>.png)")
    args = parser.parse_args(argv)
    try:
        path = inverse_query(args.run_dir, args.out, args.method)
    except NnexpError as err:
        print(f"nnexp.inverse: error: {err}", file=sys.stderr)
        return 1
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
