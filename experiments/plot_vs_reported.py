"""Figures of our numbers beside the classic's reported ones (experiments/*/vs_reported.png).

    python experiments/plot_vs_reported.py lr_sweep <results.csv> [<classic_rule.csv>] <out.png>
    python experiments/plot_vs_reported.py epochs <history.csv> [<classic_rule.csv>] <out.png>
    python experiments/plot_vs_reported.py per_label <run_dir> [<run_dir> ...] <out.png>

results.csv / history.csv come from the nnexp sweep (3 seeds: mean with min-max band);
classic_rule.csv from experiments/classic_backprop/classic_vs_true.py (the classic update rule).
"""

import sys

import matplotlib
import numpy as np
import pandas as pd

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

LR_SWEEP = {0.01: .909, 0.05: .940, 0.08: .948, 0.1: .949, 0.12: .949, 0.15: .950, 0.18: .957,
            0.2: .949, 0.3: .944, 0.5: .916, 0.7: .905, 1.0: .865}
# the two-hidden-layer classic: share of all test errors per label (%)
ERROR_SHARE = [3.141, 2.462, 13.667, 12.054, 12.394, 16.638, 5.518, 12.649, 14.601, 6.876]
EPOCHS = {1: .949, 2: .959, 3: .963, 4: .967, 5: .967, 7: .966, 10: .966, 15: .965, 20: .961}


def band(ax, x, groups, label, style):
    mean = groups.mean() * 100
    ax.plot(x, mean.values, style, label=label)
    if groups.size().max() > 1:
        ax.fill_between(x, groups.min().values * 100, groups.max().values * 100, alpha=0.2)


def per_label(run_dirs, out):
    """Error share per label: the classic's reported bars beside each of our runs' per_label.csv."""
    fig, ax = plt.subplots(figsize=(8, 4.6))
    labels = np.arange(10)
    width = 0.8 / (len(run_dirs) + 1)
    ax.bar(labels - 0.4 + width / 2, ERROR_SHARE, width, color="black", label="reported (classic, 88.22%)")
    for i, run in enumerate(run_dirs, start=1):
        t = pd.read_csv(f"{run}/per_label.csv")
        acc = 1 - t["errors"].sum() / t["count"].sum()
        ax.bar(labels - 0.4 + width * (i + 0.5), t["error_share"] * 100, width,
               label=f"nnexp run {i} ({acc * 100:.2f}%)")
    ax.set_xticks(labels)
    ax.set_xlabel("true label")
    ax.set_ylabel("share of all test errors (%)")
    ax.set_title("784-16-16-10, lr 0.17, 1 epoch: where the errors fall")
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    print(f"wrote {out}")


def main(kind, table, *rest):
    *classic, out = rest
    if kind == "per_label":
        return per_label([table, *classic], out)
    fig, ax = plt.subplots(figsize=(7.5, 4.6))
    if kind == "lr_sweep":
        ours = pd.read_csv(table)
        g = ours.groupby("lr")["test_acc"]
        band(ax, sorted(ours["lr"].unique()), g,
             f"nnexp (true backprop), mean of {g.size().max()} seeds, min-max band", "o-")
        if classic:
            c = pd.read_csv(classic[0])
            c = c[(c["rule"] == "classic") & (c["epoch"] == c["epoch"].max())]
            gc = c.groupby("lr")["test_acc"]
            n = gc.size().max()
            band(ax, sorted(c["lr"].unique()), gc,
                 "classic update rule re-run, " + (f"mean of {n} seeds" if n > 1 else "1 seed"), "s--")
        ax.plot(list(LR_SWEEP), np.array(list(LR_SWEEP.values())) * 100, "k^:",
            label="reported (classic, read from its plot)")
        ax.set_xscale("log")
        ax.set_xlabel("learning rate (log scale)")
        ax.set_title("784-100-10, 1 epoch: test accuracy vs learning rate")
    else:
        ours = pd.read_csv(table)
        g = ours.groupby("epoch")["test_acc"]
        band(ax, sorted(ours["epoch"].unique()), g,
             f"nnexp (true backprop), mean of {g.size().max()} seeds, min-max band", "o-")
        if classic:
            c = pd.read_csv(classic[0])
            c = c[c["rule"] == "classic"]
            gc = c.groupby("epoch")["test_acc"]
            band(ax, sorted(c["epoch"].unique()), gc, "classic update rule re-run, 1 seed", "s--")
        ax.plot(list(EPOCHS), np.array(list(EPOCHS.values())) * 100, "k^:", label="reported (classic)")
        ax.set_xlabel("epochs")
        ax.set_xticks(range(0, 21, 2))
        ax.set_title("784-100-10, lr 0.1: test accuracy after each epoch")
    ax.set_ylabel("test accuracy (%)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right" if kind == "epochs" else "lower center")
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    print(f"wrote {out}")


if __name__ == "__main__":
    main(*sys.argv[1:])
