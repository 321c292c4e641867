"""The inverse query of a trained run: load its network from weights.npz and .hydra/config.yaml,
compute the image each class stands for (``nnexp.nn.inverse_queries``), save them as .npz and draw the grid."""

import math
from pathlib import Path

import numpy as np
import yaml

from ..data.datasets import class_names
from ..errors import ConfigError, WeightsError
from ..nn.build import mlp
from ..nn.inverse_queries import back_query, gradient_query, invertible
from ..storage import read_npz, write_npz

METHODS = ("auto", "back", "gradient")


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
    if m.get("name", "mlp") != "mlp":
        raise WeightsError(f"{run_dir} holds a model={m.get('name')} network; the inverse query draws fully "
                           "connected networks (model=mlp)")
    model = mlp([weights[0].shape[1]] + [w.shape[0] for w in weights], activation=m["activation"],
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
    n_inputs = model.input_shape[0]
    side = math.isqrt(n_inputs)
    if side * side != n_inputs:
        raise ConfigError(f"the network has {n_inputs} inputs, not a square image; the inverse "
                          "query draws images (e.g. 784 = 28 x 28 inputs)")
    if method == "auto":
        method = "back" if invertible(model.dense_stack()) else "gradient"
    images = back_query(model) if method == "back" else gradient_query(model, *input_range(cfg.get("data", {})))
    answers = model.predict(images)
    out = Path(out) if out else Path(run_dir) / f"inverse_{method}.png"
    write_npz(out.with_suffix(".npz"), {"images": images.reshape(-1, side, side), "outputs": answers})
    from ..figures.network_images import inverse_grid

    names = class_names((cfg.get("data") or {}).get("name", ""), len(images))
    return inverse_grid(images.reshape(-1, side, side), answers.argmax(axis=1), out,
                        f"Inverse query ({method}) of the network in {'/'.join(Path(run_dir).resolve().parts[-2:])}",
                        names=names)
