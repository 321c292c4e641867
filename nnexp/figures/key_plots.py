"""Figures of a sweep over several keys at once: parallel coordinates (one axis per key, one line per job)
and the importance of each key (nnexp.sweep.importance computes what they draw)."""

import numpy as np
from matplotlib import colormaps
from matplotlib.cm import ScalarMappable
from matplotlib.collections import LineCollection
from matplotlib.colors import Normalize
from matplotlib.figure import Figure

from .style import label, save

AXIS_KINDS = {"log": "log scale", "linear": "", "category": "categories"}

FAN = 0.03
"""Half-width (a share of the axis height) over which the lines that meet at one value of an axis are fanned
out: in a grid sweep many jobs share every value, and drawn exactly on it they hide one another."""


def fanned(points, goodness):
    """``points`` (jobs, axes) with the lines that share a value on an axis spread evenly over ±FAN around it,
    in order of ``goodness`` (the best job highest): every job stays visible, and where it meets the others
    its colour sits in rank order."""
    out = points.copy()
    for j in range(points.shape[1]):
        for value in np.unique(points[:, j]):
            rows = np.flatnonzero(points[:, j] == value)
            if len(rows) > 1:
                ranks = np.argsort(np.argsort(goodness[rows], kind="stable"), kind="stable")
                out[rows, j] += FAN * (2 * ranks / (len(rows) - 1) - 1)
    return out


def note_line(fig, note, too_few):
    """The line under the title saying what the figure rests on, red when that is too little."""
    fig.text(0.5, 0.005, ("WARNING: " if too_few else "") + note, ha="center", va="bottom", fontsize=9,
             color="firebrick" if too_few else "dimgrey")


def parallel_coordinates(frame, axes, path, metric, note, too_few=False):
    """One vertical axis per swept key and one line per job through its values (``frame``: a column of
    positions in [0, 1] per key, ``score``, ``best``; lines meeting at a value fanned out by score, see
    ``fanned``), coloured by ``metric`` (viridis, brighter is better); the jobs of the best configuration
    drawn thick in red, on top. ``axes``: per key,
    (key, kind, [(position, tick label)]) with kind 'log', 'linear' or 'category'."""
    keys = [key for key, _, _ in axes]
    fig = Figure(figsize=(max(6.5, 2.2 * len(keys) + 2.5), 5.4))
    ax = fig.add_axes((0.08, 0.14, 0.76, 0.72))
    scale = 100 if metric.endswith("_acc") else 1
    scores = scale * frame["score"].to_numpy(float)
    norm = Normalize(np.nanmin(scores), np.nanmax(scores) if np.nanmax(scores) > np.nanmin(scores) else
                     np.nanmin(scores) + 1)
    cmap = colormaps["viridis" if metric.endswith("_acc") else "viridis_r"]
    goodness = scores if metric.endswith("_acc") else -scores
    order = np.argsort(goodness, kind="stable")         # best drawn last, on top
    x = np.arange(len(keys), dtype=float)
    points = fanned(frame[keys].to_numpy(float), goodness)   # (jobs, keys): each job's place on each axis

    def lines(rows):
        return [np.column_stack([x, points[i]]) for i in rows]

    ax.add_collection(LineCollection(lines(order), colors=cmap(norm(scores[order])), linewidths=1.2, alpha=0.8))
    ax.add_collection(LineCollection(lines(np.flatnonzero(frame["best"].to_numpy(bool))), colors="red",
                                     linewidths=3.0, zorder=3, label="best configuration"))
    for i, (_, _, ticks) in enumerate(axes):
        ax.axvline(i, color="black", linewidth=1)
        last = i == len(axes) - 1                       # the last axis is labelled on its right, out of the lines
        for position, text in ticks:
            ax.text(i + (0.03 if last else -0.03), position, text, ha="left" if last else "right", va="center",
                    fontsize=8, zorder=5,
                    bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": "none", "alpha": 0.85})
    ax.set_xticks(x, [f"{key}\n({AXIS_KINDS[kind]})" if AXIS_KINDS[kind] else key for key, kind, _ in axes])
    ax.set_xlim(-0.35, len(keys) - 0.65)
    ax.set_ylim(-0.05, 1.05)
    ax.set_yticks([])
    for side in ("left", "right", "top"):
        ax.spines[side].set_visible(False)
    ax.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)
    colorbar = fig.colorbar(ScalarMappable(norm, cmap), cax=fig.add_axes((0.87, 0.14, 0.02, 0.72)))
    colorbar.set_label(label(metric))
    fig.suptitle(f"Every job across the swept keys, coloured by {label(metric).split(' (')[0]}", y=0.97)
    note_line(fig, note, too_few)
    return save(fig, path)


def key_importance(frame, path, metric, note, too_few=False, oob_r2=float("nan")):
    """Per key (``frame``: key, kind, importance, importance_sd, spearman; most important first), the
    permutation importance of a random forest (bars, error bar: sd over the shuffles) and the Spearman
    rank correlation with ``metric`` (bars in [-1, 1]; 'no order' for a categorical key)."""
    keys = frame["key"].tolist()[::-1]          # most important at the top
    rows = frame.iloc[::-1]
    fig = Figure(figsize=(9, max(3.2, 0.55 * len(keys) + 2.0)))
    left, right = fig.subplots(1, 2, sharey=True, gridspec_kw={"width_ratios": [3, 2], "bottom": 0.26, "top": 0.74})
    y = np.arange(len(keys))
    left.barh(y, rows["importance"], xerr=rows["importance_sd"], color="C0", capsize=3)
    left.axvline(0, color="black", linewidth=0.8)
    left.set_yticks(y, keys)
    left.set_xlabel("drop in the forest's R² when the key is shuffled")
    left.set_title("permutation importance", fontsize=10)
    rho = rows["spearman"].to_numpy(float)
    right.barh(y, np.nan_to_num(rho), color=["C2" if r >= 0 else "C3" for r in np.nan_to_num(rho)])
    for i, r in enumerate(rho):
        right.text(0 if np.isnan(r) else r, i, " no order (categorical)" if np.isnan(r) else f" {r:+.2f} ",
                   va="center", ha="left" if np.isnan(r) or r >= 0 else "right", fontsize=8)
    right.axvline(0, color="black", linewidth=0.8)
    right.set_xlim(-1.15, 1.15)
    right.set_xlabel(f"Spearman ρ with {label(metric).split(' (')[0]}")
    right.set_title("rank correlation", fontsize=10)
    for ax in (left, right):
        ax.grid(True, axis="x", alpha=0.3)
    fit = f"\n(the keys explain out-of-bag R² = {oob_r2:.2f} of its variation)" if np.isfinite(oob_r2) else ""
    fig.suptitle(f"What the {label(metric).split(' (')[0]} depends on: random forest on the swept keys{fit}",
                 fontsize=10)
    note_line(fig, note, too_few)
    return save(fig, path)
