"""The optimizer study's table and figure from its six sweeps (two networks x SGD, SGD with momentum
0.9, Adam; each over three learning rates x constant and cosine schedules x three seeds).

    python experiments/optimizers/analyze.py DIR [--out experiments/optimizers]

DIR holds the sweep directories <network>_<optimizer> (sigmoid_sgd, relu_adam, ...). Writes table.csv
(one row per network, optimizer, lr and schedule: mean and 95% interval of validation and test
accuracy over the seeds) and curves.png (validation accuracy per epoch, the best lr of each optimizer).
"""

import argparse
import sys
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))   # this checkout's nnexp

from nnexp.sweep.summary import grouped_intervals  # noqa: E402

NETWORKS = ("sigmoid", "relu")
OPTIMIZERS = ("sgd", "momentum", "adam")


def table(root):
    parts = []
    for network in NETWORKS:
        for optimizer in OPTIMIZERS:
            results = pd.read_csv(root / f"{network}_{optimizer}" / "results.csv")
            done = results[results["status"] == "completed"]
            stats = grouped_intervals(done, ["lr", "schedule"], ["val_acc", "test_acc"])
            parts.append(stats.assign(network=network, optimizer=optimizer))
    frame = pd.concat(parts, ignore_index=True)
    return frame[["network", "optimizer", "lr", "schedule", "n", "val_acc_mean", "val_acc_ci95", "test_acc_mean",
                  "test_acc_ci95"]]


def curves(root, summary, path):
    fig = Figure(figsize=(11, 4.5))
    for i, network in enumerate(NETWORKS):
        ax = fig.add_subplot(1, 2, i + 1)
        for k, optimizer in enumerate(OPTIMIZERS):
            rows = summary[(summary["network"] == network) & (summary["optimizer"] == optimizer)]
            best = rows.loc[rows["val_acc_mean"].idxmax()]
            history = pd.read_csv(root / f"{network}_{optimizer}" / "history.csv")
            chosen = history[(history["lr"] == best["lr"]) & (history["schedule"] == best["schedule"])]
            mean = chosen.groupby("epoch")["val_acc"].mean() * 100
            ax.plot(mean.index, mean.values, marker="o", color=f"C{k}",
                    label=f"{optimizer}, lr {best['lr']:g}, {best['schedule']}")
        ax.set_title({"sigmoid": "784-100-10 sigmoid, squared error", "relu": "784-100-10 relu, softmax cross-entropy"}
                     [network], fontsize=10)
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.set_xlabel("epoch")
        ax.set_ylabel("validation accuracy (%)")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("Validation accuracy per epoch at each optimizer's best lr and schedule (mean of 3 seeds)",
                 fontsize=10)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    return path


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root")
    parser.add_argument("--out", default=str(HERE))
    args = parser.parse_args()
    root, out = Path(args.root), Path(args.out)
    summary = table(root)
    summary.to_csv(out / "table.csv", index=False)
    curves(root, summary, out / "curves.png")
    with pd.option_context("display.width", 200):
        print(summary.to_string(index=False, float_format=lambda v: f"{v:.4f}"))


if __name__ == "__main__":
    main()
