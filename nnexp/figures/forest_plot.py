"""The forest plot of a comparison: one row per configuration, the difference B - A of a score
with its 95% interval, a line at zero."""

import numpy as np
from matplotlib.figure import Figure

from .style import label, save

MOST_ROWS = 30
"""Rows a forest plot draws; past this only the largest differences are drawn, the rest named in its title."""


def drawn_rows(frame, most=MOST_ROWS):
    """The ``most`` rows of ``frame`` drawn: the significant ones first, then those with the largest
    ``|diff|``; sorted by diff (the largest last)."""
    order = frame.assign(size=frame["diff"].abs()).sort_values(["significant", "size"], ascending=False, kind="stable")
    return frame.loc[order.index[:most]].sort_values("diff", kind="stable")


def differences(frame, path, metric="val_acc", most=MOST_ROWS):
    """Forest plot of ``frame``: columns label, diff, lo, hi (the 95% interval of diff) and significant
    (bool, after adjustment), one row per configuration. Each difference is a dot with its interval as
    a bar, sorted by the difference (the largest at the top); significant rows are red and filled.
    Accuracies are drawn in points. Past ``most`` rows only ``drawn_rows`` are, and the title says
    that all are in compare.csv."""
    rows = drawn_rows(frame, most)
    scale = 100 if metric.endswith("_acc") else 1
    diff, lo, hi = (scale * rows[c].to_numpy(float) for c in ("diff", "lo", "hi"))
    y = np.arange(len(rows))
    fig = Figure(figsize=(8, 1.6 + 0.3 * len(rows)))
    ax = fig.add_subplot()
    ax.axvline(0, color="black", linewidth=0.8)
    for significant, color, face in ((False, "0.35", "white"), (True, "tab:red", "tab:red")):
        part = rows["significant"].to_numpy(bool) == significant
        if part.any():
            ax.errorbar(diff[part], y[part], xerr=[diff[part] - lo[part], hi[part] - diff[part]], fmt="o",
                        color=color, markerfacecolor=face, capsize=3)
    ax.set_yticks(y, list(rows["label"]))
    ax.set_ylim(-0.7, len(rows) - 0.3)
    unit = " (points)" if scale == 100 else ""
    ax.set_xlabel(f"B − A, {label(metric).split(' (')[0]}{unit}")
    title = (f"{label(metric).split(' (')[0].capitalize()}: B − A per configuration, 95% interval (unadjusted)\n"
             "red, filled: significant after Holm's adjustment (p_adj < 0.05)")
    if len(frame) > most:
        title += f"\n{most} of {len(frame)} drawn (significant first, then the largest); all are in compare.csv"
    ax.set_title(title, fontsize=10)
    ax.grid(True, axis="x", alpha=0.3)
    return save(fig, path)
