"""Figures of a search (hydra/sweeper=search): its trace against the epochs it trained, and its rungs."""

import numpy as np
from matplotlib.figure import Figure

from .style import label, save


def percent(metric):
    return 100 if metric.endswith("_acc") else 1


def search_trace(frame, path, metric="val_acc", grid=None):
    """The best score at the full budget found so far against the epochs trained so far: one step line
    per search in ``frame`` (columns ``search``, ``epochs``: cumulative epochs trained when a job ended,
    ``best``: the best full-budget score by then, NaN before the first). ``grid``: (its best score, the
    epochs it trained), drawn as a horizontal line and a marker, with the band within 0.3 points below."""
    fig = Figure(figsize=(8, 4.5))
    ax = fig.add_subplot()
    scale = percent(metric)
    for name, rows in frame.groupby("search", sort=False):
        rows = rows[rows["best"].notna()]
        if rows.empty:
            continue
        x = np.append(rows["epochs"].to_numpy(float), frame["epochs"].max())
        y = np.append(rows["best"].to_numpy(float), rows["best"].iloc[-1]) * scale
        ax.step(x, y, where="post", label=str(name), linewidth=1.6)
        better = np.r_[True, np.diff(y[:-1]) != 0]    # where the best changed
        ax.plot(x[:-1][better], y[:-1][better], "o", markersize=3, color=ax.lines[-1].get_color())
    if grid is not None:
        best, epochs = grid
        ax.axhline(best * scale, color="black", linestyle="--", linewidth=1,
                   label=f"grid's best {best * scale:.2f} ({epochs:g} epochs trained)")
        if metric.endswith("_acc"):
            ax.axhspan((best - 0.003) * scale, best * scale, color="black", alpha=0.08, linewidth=0,
                       label="within 0.3 points of the grid's best")
        ax.axvline(epochs, color="black", linestyle=":", linewidth=1)
    ax.set_xlabel("epochs trained (all jobs, cumulative)")
    ax.set_ylabel(f"best {label(metric)} at the full budget so far")
    ax.set_title("Search trace: the best configuration trained to the full budget, as the search went on",
                 fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    return save(fig, path)


def rung_scores(frame, path, metric="val_acc"):
    """Every trial's score at each rung it reached (``frame``: one row per job, columns ``trial``,
    ``epochs``, ``score``, ``promoted``), a line joining a trial's rungs (its promotions); trials stopped
    at a rung grey, those that reached the full budget in colour, the best starred."""
    fig = Figure(figsize=(8, 4.5))
    ax = fig.add_subplot()
    scale = percent(metric)
    top = frame["epochs"].max()
    finished = frame[frame["score"].notna()]
    reached = set(finished.loc[finished["epochs"] == top, "trial"])
    stopped = finished[~finished["trial"].isin(reached)]
    ax.scatter(stopped["epochs"], stopped["score"] * scale, s=14, color="0.6", label="stopped at this rung", zorder=2)
    for _, rows in stopped.groupby("trial"):
        if len(rows) > 1:
            rows = rows.sort_values("epochs")
            ax.plot(rows["epochs"], rows["score"] * scale, color="0.7", linewidth=0.8, zorder=1)
    for trial in sorted(reached):
        rows = finished[finished["trial"] == trial].sort_values("epochs")
        ax.plot(rows["epochs"], rows["score"] * scale, marker="o", markersize=4, linewidth=1.4, zorder=3,
                label=f"trial {trial}" if len(reached) <= 8 else None)
    at_top = finished[finished["epochs"] == top]
    if not at_top.empty:
        best = at_top.loc[at_top["score"].idxmax() if metric.endswith("_acc") else at_top["score"].idxmin()]
        ax.plot([best["epochs"]], [best["score"] * scale], marker="*", markersize=16, color="gold",
                markeredgecolor="black", zorder=4, label=f"best: trial {best['trial']}, {best['score'] * scale:.2f}")
    rungs = sorted(frame["epochs"].unique())
    ax.set_xscale("log")
    ax.set_xticks(rungs, [f"{r:g}" for r in rungs])
    ax.minorticks_off()
    ax.set_xlabel("epochs (rungs)")
    ax.set_ylabel(label(metric))
    counts = ", ".join(f"{(finished['epochs'] == r).sum()} at {r:g}" for r in rungs)
    ax.set_title(f"Rungs: each trial's score where it was stopped or promoted ({counts})", fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    return save(fig, path)
