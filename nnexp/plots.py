"""Figures of runs and sweeps (matplotlib, Agg; the turning surface as a GIF via imageio).

Every function takes a DataFrame and a path, draws what the frame holds (it computes no results),
writes the file atomically and returns the path. Accuracies are stored as shares (0..1) and
drawn in percent. Figures are built with ``matplotlib.figure.Figure`` (no pyplot state), so
they can be drawn from any thread or process.
"""

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from .storage import atomic_path  # noqa: E402

DPI = 100
GIF_FRAMES = 72          # one frame per 5 degrees of the turn
GIF_FRAME_MS = 80        # 12.5 frames per second: one turn in under 6 s
GIF_SIZE = (4.8, 3.6)    # inches at GIF_DPI: 384 x 288 pixels per frame
GIF_DPI = 80

LABELS = {
    "lr": "learning rate (lr)",
    "epochs": "epochs trained",
    "epoch": "epoch",
    "test_acc": "test accuracy (%)",
    "train_acc": "training accuracy (%)",
    "best_test_acc": "best test accuracy (%)",
    "test_loss": "test loss (mean per sample)",
    "train_loss": "training loss (mean per sample)",
}


def label(key):
    """Axis label of a column: its description with unit, or the key itself."""
    return LABELS.get(key, key)


def shown(frame, metric):
    """Values of ``metric`` as drawn: accuracies in percent, anything else unchanged."""
    values = frame[metric].to_numpy(dtype=float)
    return values * 100 if metric.endswith("_acc") else values


def best_index(values, metric):
    """Position of the best value: the highest accuracy or the lowest loss (NaNs ignored)."""
    return int(np.nanargmax(values) if metric.endswith("_acc") else np.nanargmin(values))


def group_label(keys, values):
    """Legend text of one group of rows, e.g. 'epochs=5, model.hidden=[10]'."""
    values = values if isinstance(values, tuple) else (values,)
    return ", ".join(f"{k}={v}" for k, v in zip(keys, values))


def groups(frame, keys):
    """(label, rows) for each combination of the ``keys`` columns, in order of appearance."""
    keys = list(keys)
    if not keys:
        return [("", frame)]
    return [(group_label(keys, values), rows) for values, rows in frame.groupby(keys, sort=False, dropna=False)]


def save(fig, path):
    """Write ``fig`` as PNG to ``path`` atomically; return the path."""
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=DPI, bbox_inches="tight")
    return path


def mark_best(ax, x, y, text):
    """A red star on the best point with its value written beside it."""
    ax.plot([x], [y], marker="*", markersize=16, color="red", linestyle="none", label=text, zorder=5)


def accuracy_vs_lr(frame, path, group=(), metric="test_acc"):
    """``metric`` against the learning rate (log x), one line per value of the ``group`` columns,
    the best point starred (classic experiment 2, "Learning rate vs score")."""
    fig = Figure(figsize=(8, 4.5))
    ax = fig.add_subplot()
    lines = groups(frame.sort_values("lr", kind="stable"), group)
    for i, (name, rows) in enumerate(lines):
        ax.plot(rows["lr"], shown(rows, metric), marker="o", label=name or None, color=line_color(i, len(lines)))
    values = shown(frame, metric)
    best = best_index(values, metric)
    best_lr = frame["lr"].iloc[best]
    mark_best(ax, best_lr, values[best], f"best: lr={best_lr:g}, {values[best]:.2f}"
              + (f" ({group_label(group, tuple(frame[list(group)].iloc[best]))})" if group else ""))
    log_lr_axis(ax, frame["lr"])
    ax.set_ylabel(label(metric))
    ax.set_title(f"{label(metric).split(' (')[0].capitalize()} vs learning rate")
    ax.grid(True, alpha=0.3)
    outside_legend(ax)
    return save(fig, path)


def line_color(i, n):
    """Colour of line i of n: the default cycle for a few lines, viridis in order for many."""
    return f"C{i}" if n <= 10 else matplotlib.colormaps["viridis"](i / max(1, n - 1))


LABEL_GAP = 1 / 18
"""Smallest distance between two labelled ticks of a log axis, as a share of its width in decades
(about the width of a label such as "0.15" on the 8-inch figures here)."""


def spaced_labels(values):
    """Tick labels for sorted positive values on a log axis, none closer than LABEL_GAP of the axis
    to another: the ends and the shortest numbers (1, 0.1, 0.5 before 0.12) are labelled first,
    then every other value where there is room; the rest are left blank."""
    logs = np.log10(values)
    gap = LABEL_GAP * (logs[-1] - logs[0])
    texts = [f"{value:g}" for value in values]
    ends = {0, len(values) - 1}
    kept = []
    for i in sorted(range(len(values)), key=lambda i: (i not in ends, len(texts[i]), i)):
        if all(abs(logs[i] - logs[j]) >= gap for j in kept):
            kept.append(i)
    return [text if i in kept else "" for i, text in enumerate(texts)]


def log_lr_axis(ax, lrs):
    """A log-scale learning-rate x axis with a tick at every learning rate used, labelled plainly
    where there is room."""
    lrs = sorted(set(float(v) for v in lrs))
    ax.set_xscale("log")
    ax.set_xticks(lrs, spaced_labels(lrs), rotation=45 if len(lrs) > 6 else 0)
    ax.minorticks_off()
    ax.set_xlabel(label("lr") + ", log scale")


def outside_legend(ax):
    """The legend inside the axes for a few entries, to the right of them for many."""
    if len(ax.get_legend_handles_labels()[0]) > 6:
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    else:
        ax.legend()


def accuracy_vs_epochs(history, path, group=(), metric="acc"):
    """Training (dashed) and test (solid) ``metric`` ('acc' or 'loss') per epoch, one colour per
    group (e.g. per learning rate); the best test epoch of each group starred (classic experiment 3:
    test accuracy that stops rising while training accuracy rises is overfitting)."""
    fig = Figure(figsize=(8, 5))
    ax = fig.add_subplot()
    test, train = f"test_{metric}", f"train_{metric}"
    lines = groups(history.sort_values("epoch", kind="stable"), group)
    for i, (name, rows) in enumerate(lines):
        color = line_color(i, len(lines))
        values = shown(rows, test)
        ax.plot(rows["epoch"], values, color=color, marker=".", label=name or "test")
        ax.plot(rows["epoch"], shown(rows, train), color=color, linestyle="--", label=None if name else "training")
        best = best_index(values, test)
        ax.plot([rows["epoch"].iloc[best]], [values[best]], marker="*", markersize=14, color=color,
                markeredgecolor="black", linestyle="none")
    if group:  # line styles explained once, colours per group
        ax.plot([], [], color="black", label="test")
        ax.plot([], [], color="black", linestyle="--", label="training")
    ax.set_xlabel(label("epoch"))
    ax.set_ylabel(f"{'accuracy (%)' if metric == 'acc' else 'loss (mean per sample)'}")
    ax.set_title(f"{'Accuracy' if metric == 'acc' else 'Loss'} per epoch: test solid, training dashed, "
                 "best test epoch starred", fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.xaxis.get_major_locator().set_params(integer=True)
    outside_legend(ax)
    return save(fig, path)


def lr_epochs_grid(frame, metric):
    """The ``metric`` of ``frame`` as a matrix: rows sorted learning rates, columns sorted epochs."""
    table = frame.pivot_table(index="lr", columns="epochs", values=metric, aggfunc="mean")
    return table.sort_index().sort_index(axis=1)


def lr_epochs_heatmap(frame, path, metric="test_acc"):
    """Learning rate x epochs heatmap of ``metric``, each cell written, the best cell outlined."""
    table = lr_epochs_grid(frame, metric)
    values = table.to_numpy(dtype=float) * (100 if metric.endswith("_acc") else 1)
    fig = Figure(figsize=(max(5.0, 0.6 * table.shape[1] + 2.5), max(3.5, 0.5 * table.shape[0] + 1.5)))
    ax = fig.add_subplot()
    image = ax.imshow(values, cmap="coolwarm", aspect="auto", origin="lower")
    fig.colorbar(image, ax=ax, label=label(metric))
    for (i, j), value in np.ndenumerate(values):
        if np.isfinite(value):
            ax.text(j, i, f"{value:.1f}" if abs(value) >= 1 else f"{value:.3f}", ha="center", va="center",
                    fontsize=7)
    i, j = np.unravel_index(best_index(values.ravel(), metric), values.shape)
    ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="black", lw=2.5))
    ax.set_xticks(range(table.shape[1]), [f"{e:g}" for e in table.columns])
    ax.set_yticks(range(table.shape[0]), [f"{lr:g}" for lr in table.index])
    ax.set_xlabel(label("epochs"))
    ax.set_ylabel(label("lr"))
    ax.set_title(f"{label(metric).split(' (')[0].capitalize()}: best lr={table.index[i]:g}, "
                 f"epochs={table.columns[j]:g} ({values[i, j]:.2f}), outlined")
    return save(fig, path)


def surface_axes(frame, metric, figsize, dpi):
    """A figure with the learning rate x epochs surface of ``metric`` (coolwarm), best point marked,
    its 3-D axes, and a line naming the best point. The learning rate axis is logarithmic when
    the rates span more than a factor of 30."""
    table = lr_epochs_grid(frame, metric)
    lrs, epochs = table.index.to_numpy(dtype=float), table.columns.to_numpy(dtype=float)
    log_x = lrs.max() / lrs.min() > 30
    x = np.log10(lrs) if log_x else lrs
    z = table.to_numpy(dtype=float) * (100 if metric.endswith("_acc") else 1)
    fig = Figure(figsize=figsize, dpi=dpi)
    ax = fig.add_subplot(projection="3d", computed_zorder=False)
    gx, gy = np.meshgrid(x, epochs, indexing="ij")
    finite = np.isfinite(z)
    if finite.all():
        ax.plot_surface(gx, gy, z, cmap="coolwarm", edgecolor="grey", linewidth=0.3, alpha=0.9)
    else:  # a partial grid: triangulate the points that exist
        ax.plot_trisurf(gx[finite], gy[finite], z[finite], cmap="coolwarm", edgecolor="grey", linewidth=0.3)
    i, j = np.unravel_index(best_index(z.ravel(), metric), z.shape)
    ax.scatter([gx[i, j]], [gy[i, j]], [z[i, j]], color="black", s=60, marker="o", depthshade=False, zorder=10)
    if log_x:
        decades = np.arange(np.ceil(x.min()), np.floor(x.max()) + 1)
        ax.set_xticks(decades, [f"{10 ** d:g}" for d in decades])
    ax.set_xlabel(label("lr") + (", log scale" if log_x else ""))
    ax.set_ylabel(label("epochs"))
    ax.set_zlabel(label(metric))
    return fig, ax, f"best: lr={lrs[i]:g}, epochs={epochs[j]:g}, {z[i, j]:.2f} (black dot)"


def lr_epochs_surface(frame, path, metric="test_acc"):
    """The learning rate x epochs surface of ``metric`` as a PNG (classic experiment 4)."""
    fig, ax, best = surface_axes(frame, metric, (7, 5.5), DPI)
    ax.view_init(elev=25, azim=-135)
    ax.set_title(best, fontsize=9)
    fig.suptitle(f"{label(metric).split(' (')[0].capitalize()} over learning rate and epochs")
    return save(fig, path)


def lr_epochs_gif(frame, path, metric="test_acc", frames=GIF_FRAMES):
    """The surface of ``lr_epochs_surface`` turning once around, ``frames`` rendered views (GIF)."""
    import imageio.v3 as iio

    fig, ax, best = surface_axes(frame, metric, GIF_SIZE, GIF_DPI)
    heading = text_strip([f"{label(metric).split(' (')[0].capitalize()} over learning rate and epochs", best],
                         GIF_SIZE[0], GIF_DPI)
    canvas = FigureCanvasAgg(fig)
    images = []
    for k in range(frames):
        ax.view_init(elev=25, azim=-135 + 360 * k / frames)
        canvas.draw()
        images.append(np.vstack([heading, np.asarray(canvas.buffer_rgba())[..., :3]]))
    indices, palette = shared_palette(images)
    path = Path(path)
    with atomic_path(path) as tmp:
        iio.imwrite(tmp, indices, mode="P", extension=".gif", palette=palette, duration=GIF_FRAME_MS, loop=0)
    return path


def text_strip(lines, width, dpi):
    """Centred lines of text rendered once as an RGB band ``width`` inches wide: the still heading
    above every frame of an animation (drawing titles again for each frame would double its cost)."""
    fig = Figure(figsize=(width, 0.22 * len(lines) + 0.1), dpi=dpi)
    for i, line in enumerate(lines):
        fig.text(0.5, 1 - (i + 0.75) / (len(lines) + 0.5), line, ha="center", va="center",
                 fontsize=10 if i == 0 else 8)
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def shared_palette(images, colors=128):
    """Frames (RGB) as palette indices of one palette drawn from four of them: one quantisation for
    the whole animation instead of one per frame (faster, smaller, and no colour flicker)."""
    from PIL import Image

    sample = np.concatenate(images[:: max(1, len(images) // 4)], axis=0)
    palette = Image.fromarray(sample).quantize(colors=colors, method=Image.Quantize.MEDIANCUT)
    indices = np.stack([np.asarray(Image.fromarray(image).quantize(palette=palette, dither=Image.Dither.NONE))
                        for image in images])
    return indices, bytes(palette.getpalette())


def loss_per_batch(batches, path):
    """Training loss over the samples seen (chunks of batches, batches.csv), epochs separated by
    dotted lines: the per-batch view the mini-batch classic plotted."""
    fig = Figure(figsize=(8, 4.5))
    ax = fig.add_subplot()
    ax.plot(batches["samples"], batches["train_loss"], color="C0", label="training loss (chunk mean)")
    ends = batches.groupby("epoch")["samples"].max().to_numpy()
    for end in ends[:-1]:
        ax.axvline(end, color="grey", linestyle=":", linewidth=1)
    ax.set_xlabel("training samples seen")
    ax.set_ylabel(label("train_loss"))
    ax.set_title(f"Training loss per batch ({len(ends)} epoch{'s' if len(ends) != 1 else ''}, "
                 "dotted: epoch ends)")
    ax.grid(True, alpha=0.3)
    ax.legend()
    return save(fig, path)


def loss_per_epoch(history, path):
    """Training and test loss after each epoch (history.csv), the lowest test loss starred."""
    fig = Figure(figsize=(7, 4.5))
    ax = fig.add_subplot()
    ax.plot(history["epoch"], history["train_loss"], marker="o", linestyle="--", label="training")
    ax.plot(history["epoch"], history["test_loss"], marker="o", label="test")
    best = best_index(history["test_loss"].to_numpy(dtype=float), "test_loss")
    mark_best(ax, history["epoch"].iloc[best], history["test_loss"].iloc[best],
              f"lowest test loss: epoch {history['epoch'].iloc[best]}")
    ax.set_xlabel(label("epoch"))
    ax.set_ylabel("loss (mean per sample)")
    ax.set_title("Loss per epoch")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.grid(True, alpha=0.3)
    ax.legend()
    return save(fig, path)


def confusion(frame, path):
    """The confusion matrix (confusion.csv: label, pred_0..pred_K-1) with every count written."""
    counts = frame[[c for c in frame.columns if c.startswith("pred_")]].to_numpy()
    fig = Figure(figsize=(6.5, 5.5))
    ax = fig.add_subplot()
    image = ax.imshow(np.log1p(counts), cmap="Blues")
    fig.colorbar(image, ax=ax, label="log(1 + samples)")
    threshold = np.log1p(counts).max() / 2
    for (i, j), n in np.ndenumerate(counts):
        ax.text(j, i, str(n), ha="center", va="center", fontsize=7,
                color="white" if np.log1p(n) > threshold else "black")
    ax.set_xticks(range(counts.shape[1]), range(counts.shape[1]))
    ax.set_yticks(range(counts.shape[0]), frame["label"])
    ax.set_xlabel("predicted label")
    ax.set_ylabel("true label")
    ax.set_title(f"Confusion matrix on the test set (accuracy {100 * np.trace(counts) / counts.sum():.2f}%)")
    return save(fig, path)


def per_label_errors(frame, path):
    """Per label: error rate (errors / samples of that label) and share of all errors, in percent
    (per_label.csv; the share is what the two-hidden-layer classic printed)."""
    fig = Figure(figsize=(8, 4.5))
    ax = fig.add_subplot()
    x = np.arange(len(frame))
    ax.bar(x - 0.2, 100 * frame["error_rate"], width=0.4, label="error rate of the label")
    ax.bar(x + 0.2, 100 * frame["error_share"], width=0.4, label="share of all errors")
    ax.set_xticks(x, frame["label"])
    ax.set_xlabel("true label")
    ax.set_ylabel("percent (%)")
    ax.set_ylim(0, 1.25 * max(100 * frame["error_rate"].max(), 100 * frame["error_share"].max(), 1))
    total = frame["errors"].sum() / frame["count"].sum()
    ax.set_title(f"Test errors per label ({frame['errors'].sum()} errors, {100 * total:.2f}% of the test set)")
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend()
    return save(fig, path)


def score_by_key(frame, path, key, metric="test_acc"):
    """``metric`` of every job against the values of one swept ``key`` (in grid order), with the
    mean over the other keys joined by a line: for keys such as seed or model.hidden."""
    values = list(dict.fromkeys(frame[key]))
    position = {v: i for i, v in enumerate(values)}
    x = frame[key].map(position).to_numpy(dtype=float)
    y = shown(frame, metric)
    fig = Figure(figsize=(max(6.0, 0.8 * len(values) + 3), 4.5))
    ax = fig.add_subplot()
    ax.plot(x, y, marker="o", linestyle="none", alpha=0.6, label="one job")
    means = [np.nanmean(y[x == i]) for i in range(len(values))]
    ax.plot(range(len(values)), means, color="C1", marker="s", label="mean over the other keys")
    ax.set_xticks(range(len(values)), [str(v) for v in values], rotation=30 if len(values) > 6 else 0)
    ax.set_xlabel(key)
    ax.set_ylabel(label(metric))
    ax.set_title(f"{label(metric).split(' (')[0].capitalize()} by {key}")
    ax.grid(True, alpha=0.3)
    ax.legend()
    return save(fig, path)


def lr_finder(frame, path, suggestion=None):
    """Loss against the learning rate of a range test (lr_find.csv: lr, loss, smoothed_loss; log x),
    the suggested learning rate marked."""
    fig = Figure(figsize=(7.5, 4.5))
    ax = fig.add_subplot()
    ax.plot(frame["lr"], frame["loss"], color="C0", alpha=0.3, linewidth=0.8, label="loss of each batch")
    ax.plot(frame["lr"], frame["smoothed_loss"], color="C0", label="smoothed loss")
    if suggestion is not None and math.isfinite(suggestion):
        ax.axvline(suggestion, color="red", linestyle="--", label=f"suggested lr = {suggestion:.3g}")
    finite = frame["smoothed_loss"][np.isfinite(frame["smoothed_loss"])]
    if len(finite):
        low, high = finite.min(), finite.iloc[: max(1, len(finite) // 10)].max()
        ax.set_ylim(low - 0.1 * (high - low), high + 0.5 * (high - low) + 1e-12)
    ax.set_xscale("log")
    ax.set_xlabel(label("lr") + ", log scale")
    ax.set_ylabel("training loss (per batch)")
    ax.set_title("Learning-rate range test: lr grows exponentially per batch")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    return save(fig, path)


def compare_curves(frame, path, x="epoch", metric="test_acc"):
    """``metric`` of several sweeps or runs overlaid: ``frame`` has columns source (A, B, ...), line
    (the job or group within it), ``x`` (epoch, or a swept key such as lr) and ``metric``; one colour
    per source, one line style per line."""
    fig = Figure(figsize=(8, 5))
    ax = fig.add_subplot()
    styles = ["-", "--", ":", "-."]
    for i, (source, rows) in enumerate(frame.groupby("source", sort=False)):
        for k, (line, part) in enumerate(rows.groupby("line", sort=False)):
            ax.plot(part[x], shown(part, metric), color=f"C{i % 10}", linestyle=styles[k % 4],
                    marker=".", label=f"{source}: {line}" if line else source)
    if x == "lr":
        log_lr_axis(ax, frame["lr"])
    else:
        ax.set_xlabel(label(x))
    if x == "epoch":
        ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_ylabel(label(metric))
    ax.set_title(f"{label(metric).split(' (')[0].capitalize()} compared (colour: source)")
    ax.grid(True, alpha=0.3)
    outside_legend(ax)
    return save(fig, path)


def inverse_grid(images, answers, path, title):
    """Ten (or n) grey images (n, H, W) in two rows, each titled with its digit and the network's
    own answer for it (images from nnexp.inverse; darker = larger input)."""
    n = len(images)
    cols = math.ceil(n / 2)
    fig = Figure(figsize=(1.6 * cols, 4.4), layout="constrained")
    for k, image in enumerate(images):
        ax = fig.add_subplot(2, cols, k + 1)
        ax.imshow(image, cmap="Greys", interpolation="nearest")
        ax.set_title(f"digit {k}\nnet says {answers[k]}", fontsize=9,
                     color="black" if answers[k] == k else "firebrick")
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(f"{title}\n(pixel intensity: darker = larger input; red: the network answers another digit)",
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


def feature_map_grid(maps, path, title="feature maps", shown_maps=FEATURE_MAPS_SHOWN):
    """What a CNN makes of one image: ``maps`` is a list of (layer name, array) from the input
    on (``CNN.feature_maps``). One row per layer with image output (C, H, W): its first
    ``shown_maps`` channels, each on its own colour scale; a vector output (dense, softmax) as
    a row of bars."""
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
        ax.set_xticks(np.arange(len(vector)))
        ax.set_xlabel("class")
        ax.set_ylabel(f"{name}\nprobability")
        ax.set_ylim(0, 1)
    fig.suptitle(title)
    return save(fig, path)
