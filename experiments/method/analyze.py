"""What choosing on the test set costs. From a sweep's history.csv (configurations x seeds x epochs,
with a validation split), every (configuration, epoch) is a candidate network. Per seed, a user picks
the candidate with the best test accuracy (what the classics reported: "best test point"), or the one
with the best validation accuracy; each pick reports its own test accuracy, and the same
(configuration, epoch) on the other seeds (fresh replicates) shows what it is really worth. The gap
is how much the pick overstates itself.

    python experiments/method/analyze.py SWEEP_DIR [--out experiments/method]

Writes selection.csv (one row per seed and rule) and selection.png beside this file (or --out).
"""

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))   # this checkout's nnexp

from nnexp.sweep.summary import interval  # noqa: E402

CONFIGURATION = ["lr", "model.hidden"]


def picks(history):
    """One row per (seed, rule): the (configuration, epoch) chosen among that seed's candidates by test or
    validation accuracy, the test accuracy it reports there, and its mean test accuracy on the other seeds."""
    frame = history.copy()
    frame["configuration"] = frame[CONFIGURATION].astype(str).agg(", ".join, axis=1)
    rows = []
    for seed, candidates in frame.groupby("seed"):
        others = frame[frame["seed"] != seed]
        for rule, column in (("test", "test_acc"), ("validation", "val_acc")):
            chosen = candidates.loc[candidates[column].idxmax()]
            same = others[(others["configuration"] == chosen["configuration"]) & (others["epoch"] == chosen["epoch"])]
            fresh = same["test_acc"].mean()
            rows.append({"seed": seed, "chosen_on": rule, "configuration": chosen["configuration"],
                         "epoch": int(chosen["epoch"]), "reported_test_acc": chosen["test_acc"],
                         "other_seeds_test_acc": fresh, "overstatement": chosen["test_acc"] - fresh})
    return pd.DataFrame(rows)


def draw(table, path):
    fig = Figure(figsize=(7, 4.5))
    ax = fig.add_subplot()
    for i, (rule, rows) in enumerate(table.groupby("chosen_on", sort=False)):
        points = 100 * rows["overstatement"].to_numpy()
        ax.plot(np.full(len(points), i), points, "o", alpha=0.6, color=f"C{i}", label=f"one seed, chosen on {rule}")
        summary = interval(points)
        ax.errorbar([i + 0.15], [summary["mean"]], yerr=[[summary["ci95"]], [summary["ci95"]]], fmt="s",
                    color="black", capsize=4, label="mean, 95% interval" if i == 0 else None)
    ax.axhline(0, color="grey", lw=1)
    ax.set_xticks([0, 1], ["chosen on test", "chosen on validation"])
    ax.set_ylabel("reported minus fresh test accuracy (points)")
    ax.set_title("How much a pick overstates its own test accuracy", fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    return path


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sweep_dir")
    parser.add_argument("--out", default=str(HERE))
    args = parser.parse_args()
    table = picks(pd.read_csv(Path(args.sweep_dir) / "history.csv"))
    out = Path(args.out)
    table.to_csv(out / "selection.csv", index=False)
    draw(table, out / "selection.png")
    print(table.to_string(index=False))
    for rule, rows in table.groupby("chosen_on", sort=False):
        summary = interval(100 * rows["overstatement"])
        print(f"chosen on {rule}: overstates by {summary['mean']:.3f} ± {summary['ci95']:.3f} points "
              f"(mean ± 95% half-width over {summary['n']} seeds; min {summary['min']:.3f}, max {summary['max']:.3f})")


if __name__ == "__main__":
    main()
