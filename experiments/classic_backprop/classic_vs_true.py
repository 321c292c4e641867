"""The classic 784-100-10 update rule against true backpropagation, on full MNIST.

The "Make your own neural network" code sends the RAW output error e = t - o back to the hidden
layer (hidden error = W_ho^T e) and only then multiplies by the hidden sigmoid slope h (1 - h).
True backpropagation of the quadratic cost sends the output DELTA d = (t - o) o (1 - o) back
(hidden error = W_ho^T d), which is what nnexp does. Since o (1 - o) <= 1/4, the true hidden-layer
step is at least four times smaller than the classic one at the same learning rate. Both rules
update the output layer identically: W_ho += lr d h^T.

This script trains both rules from the SAME initial weights (N(0, fan_in^-1/2), no biases), one
sample at a time in file order, inputs x/255*0.99+0.01, targets 0.01/0.99, and scores the 10,000
test images after every epoch. It writes a CSV (rule, lr, seed, epoch, test_acc) and a figure.

    python experiments/classic_backprop/classic_vs_true.py path/to/mnist \
        --lr 0.01 0.05 0.1 0.18 0.3 0.5 1.0 --epochs 1 --out experiments/classic_backprop/lr_1epoch
"""

import argparse
import csv
import time
from pathlib import Path

import numpy as np
from scipy.special import expit

from nnexp.data.download import load_mnist_dir


def train_epoch(w_ih, w_ho, x, y, lr, rule):
    """One per-sample pass in place. rule: 'classic' (raw error backwards) or 'true' (delta)."""
    _epoch(w_ih, w_ho, x, y, lr, rule == "classic")


def _epoch_py(w_ih, w_ho, x, y, lr, classic):
    n_hidden, n_in = w_ih.shape
    n_out = w_ho.shape[0]
    h = np.empty(n_hidden)
    o = np.empty(n_out)
    d_out = np.empty(n_out)
    back = np.empty(n_hidden)
    for i in range(x.shape[0]):
        for j in range(n_hidden):
            s = 0.0
            for k in range(n_in):
                s += w_ih[j, k] * x[i, k]
            h[j] = 1.0 / (1.0 + np.exp(-s))
        for m in range(n_out):
            s = 0.0
            for j in range(n_hidden):
                s += w_ho[m, j] * h[j]
            o[m] = 1.0 / (1.0 + np.exp(-s))
            d_out[m] = (y[i, m] - o[m]) * o[m] * (1.0 - o[m])
        for j in range(n_hidden):                       # W_ho^T (error or delta), before W_ho changes
            s = 0.0
            for m in range(n_out):
                s += w_ho[m, j] * ((y[i, m] - o[m]) if classic else d_out[m])
            back[j] = s * h[j] * (1.0 - h[j])
        for m in range(n_out):
            for j in range(n_hidden):
                w_ho[m, j] += lr * d_out[m] * h[j]
        for j in range(n_hidden):
            for k in range(n_in):
                w_ih[j, k] += lr * back[j] * x[i, k]


try:
    from numba import njit
    _epoch = njit(cache=False)(_epoch_py)
except ImportError:  # plain Python loops: correct but slow
    _epoch = _epoch_py


def accuracy(w_ih, w_ho, x, labels):
    out = expit(expit(x @ w_ih.T) @ w_ho.T)
    return float((out.argmax(axis=1) == labels).mean())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mnist_dir")
    parser.add_argument("--lr", type=float, nargs="+", required=True)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--seed", type=int, nargs="+", default=[0])
    parser.add_argument("--rules", nargs="+", default=["classic", "true"], choices=["classic", "true"])
    parser.add_argument("--out", required=True, help="output prefix: <out>.csv and <out>.png")
    args = parser.parse_args()

    data = load_mnist_dir(args.mnist_dir)
    x = data["x_train"].astype(np.float64) / 255 * 0.99 + 0.01
    x_test = data["x_test"].astype(np.float64) / 255 * 0.99 + 0.01
    y = np.full((len(x), 10), 0.01)
    y[np.arange(len(x)), data["labels_train"]] = 0.99

    rows = []
    for seed in args.seed:
        for lr in args.lr:
            for rule in args.rules:
                rng = np.random.default_rng(seed)
                w_ih = rng.normal(0.0, 784 ** -0.5, (100, 784))
                w_ho = rng.normal(0.0, 100 ** -0.5, (10, 100))
                for epoch in range(1, args.epochs + 1):
                    start = time.perf_counter()
                    train_epoch(w_ih, w_ho, x, y, lr, rule)
                    acc = accuracy(w_ih, w_ho, x_test, data["labels_test"])
                    rows.append({"rule": rule, "lr": lr, "seed": seed, "epoch": epoch, "test_acc": acc})
                    print(f"{rule:7s} lr {lr:<5g} seed {seed} epoch {epoch:2d}  test acc {acc:.4f}"
                          f"  ({time.perf_counter() - start:.1f} s)", flush=True)

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out.with_suffix(".csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    plot(rows, args, out.with_suffix(".png"))


def plot(rows, args, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for rule, style in (("classic", "o-"), ("true", "s--")):
        sel = [r for r in rows if r["rule"] == rule]
        if not sel:
            continue
        if len(args.lr) > 1:
            lrs = sorted({r["lr"] for r in sel})
            last = [np.mean([r["test_acc"] * 100 for r in sel if r["lr"] == lr and r["epoch"] == args.epochs])
                    for lr in lrs]
            ax.plot(lrs, last, style, label=f"{rule} rule")
        else:
            eps = sorted({r["epoch"] for r in sel})
            acc = [np.mean([r["test_acc"] * 100 for r in sel if r["epoch"] == e]) for e in eps]
            ax.plot(eps, acc, style, label=f"{rule} rule, lr {args.lr[0]:g}")
    if len(args.lr) > 1:
        ax.set_xscale("log")
        ax.set_xlabel("learning rate (log scale)")
        ax.set_title(f"Classic vs true backprop, 784-100-10, {args.epochs} epoch(s), "
                     f"seed{'s' if len(args.seed) > 1 else ''} {','.join(map(str, args.seed))}")
    else:
        ax.set_xlabel("epochs")
        ax.set_title(f"Classic vs true backprop, 784-100-10, lr {args.lr[0]:g}")
    ax.set_ylabel("test accuracy (%)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)


if __name__ == "__main__":
    main()
