"""Pictures of a network: its first-layer filters, its feature maps of one input, and its inverse
query (what it answers to each class)."""

import math

import numpy as np
from matplotlib.figure import Figure

from .style import save


def inverse_grid(images, answers, path, title, names=None):
    """Ten (or n) grey images (n, H, W) in two rows, each titled with its class (``names``, default the
    digits) and the network's own answer for it (images from nnexp.inverse; darker = larger input)."""
    n = len(images)
    names = names or [str(k) for k in range(max(n, max(answers, default=0) + 1))]
    cols = math.ceil(n / 2)
    fig = Figure(figsize=(1.6 * cols, 4.4), layout="constrained")
    for k, image in enumerate(images):
        ax = fig.add_subplot(2, cols, k + 1)
        ax.imshow(image, cmap="Greys", interpolation="nearest")
        ax.set_title(f"{names[k]}\nnet says {names[answers[k]]}", fontsize=9,
                     color="black" if answers[k] == k else "firebrick")
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(f"{title}\n(pixel intensity: darker = larger input; red: the network answers another class)",
                 fontsize=9)
    return save(fig, path)


def filter_grid(filters, path, title="first-layer filters"):
    """The filters (F, C, kh, kw) of a conv layer as a grid of images, one per filter (input
    channel 0 when C > 1), on one symmetric colour scale: red excites, blue inhibits."""
    filters = np.asarray(filters, dtype=float)
    count, channels, kh, kw = filters.shape
    cols = min(count, 8)
    rows = math.ceil(count / cols)
    limit = float(np.abs(filters[:, 0]).max()) or 1.0
    fig = Figure(figsize=(1.1 * cols + 1.2, 1.1 * rows + 0.8))
    axes = fig.subplots(rows, cols, squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.set_xticks([])
        ax.set_yticks([])
        if i >= count:
            ax.set_axis_off()
            continue
        image = ax.imshow(filters[i, 0], cmap="RdBu_r", vmin=-limit, vmax=limit, interpolation="nearest")
        ax.set_title(f"filter {i + 1}", fontsize=7)
    channel = "" if channels == 1 else f", input channel 1 of {channels}"
    fig.suptitle(f"{title}: {count} filters of {kh}x{kw} pixels{channel}")
    fig.colorbar(image, ax=axes, label="weight", shrink=0.8)
    return save(fig, path)


FEATURE_MAPS_SHOWN = 8
"""Channels drawn per layer in ``feature_map_grid``."""


def feature_map_grid(maps, path, title="feature maps", shown_maps=FEATURE_MAPS_SHOWN, class_names=None):
    """What a CNN makes of one image: ``maps`` is a list of (layer name, array) from the input
    on (``CNN.feature_maps``). One row per layer with image output (C, H, W): its first
    ``shown_maps`` channels, each on its own colour scale; a vector output (dense, softmax) as
    a row of bars, one per class (named by ``class_names``, default the class numbers)."""
    images = [(name, np.asarray(a, dtype=float)) for name, a in maps if np.ndim(a) == 3]
    vectors = [(name, np.asarray(a, dtype=float)) for name, a in maps if np.ndim(a) == 1]
    last = vectors[-1:]           # the output activation: class probabilities
    rows = len(images) + len(last)
    height = 1.3 * rows + 1.0
    fig = Figure(figsize=(1.25 * shown_maps + 1.5, height))
    grid = fig.add_gridspec(rows, shown_maps, top=1 - 0.6 / height)
    for row, (name, array) in enumerate(images):
        for col in range(shown_maps):
            ax = fig.add_subplot(grid[row, col])
            ax.set_xticks([])
            ax.set_yticks([])
            if col >= len(array):
                ax.set_axis_off()
                continue
            ax.imshow(array[col], cmap="gray" if name == "input" else "viridis", interpolation="nearest")
            if col == 0:
                ax.set_ylabel(f"{name}\n{array.shape[0]}@{array.shape[1]}x{array.shape[2]}", fontsize=8)
            if row == 0 and name != "input":
                ax.set_title(f"map {col + 1}", fontsize=7)
    for name, vector in last:
        ax = fig.add_subplot(grid[len(images), :])
        ax.bar(np.arange(len(vector)), vector, color="tab:blue")
        names = class_names or [str(k) for k in range(len(vector))]
        long = max(map(len, names)) > 2
        ax.set_xticks(np.arange(len(vector)), names, fontsize=7 if long else None)
        ax.set_xlabel("class")
        ax.set_ylabel(f"{name}\nprobability")
        ax.set_ylim(0, 1)
    fig.suptitle(title)
    return save(fig, path)
