"""Figures of a sweep: score against learning rate, epochs or any key, the lr x epochs heatmap and
surface (a turning GIF via imageio), and two sweeps compared."""

from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from ..storage import atomic_path
from .style import (
    DPI,
    GIF_DPI,
    GIF_FRAME_MS,
    GIF_FRAMES,
    GIF_SIZE,
    LEGEND_LINES,
    best_index,
    group_label,
    groups,
    label,
    line_color,
    log_lr_axis,
    mark_best,
    name_lines,
    outside_legend,
    save,
    shown,
    thinned,
)


def draw_band(ax, x, rows, metric, color):
    """The 95% interval of ``metric`` (columns <metric>_lo, <metric>_hi) as a shaded band, if present."""
    if f"{metric}_lo" in rows:
        scale = 100 if metric.endswith("_acc") else 1
        low, high = rows[f"{metric}_lo"].to_numpy(float), rows[f"{metric}_hi"].to_numpy(float)
        ax.fill_between(x, scale * low, scale * high, color=color, alpha=0.18, linewidth=0)


def band_note(frame, metric, lines=1):
    """Title suffix saying what the lines and bands are, when the frame holds means over replicates
    (more than LEGEND_LINES lines are drawn without their bands)."""
    if f"{metric}_lo" not in frame:
        return ""
    return " (mean over seeds; band: 95% interval of the mean)" if lines <= LEGEND_LINES else " (mean over seeds)"


def accuracy_vs_lr(frame, path, group=(), metric="test_acc"):
    """``metric`` against the learning rate (log x), one line per value of the ``group`` columns,
    the best point starred (classic experiment 2, "Learning rate vs score"). When the frame holds
    means over replicates, its ``<metric>_lo`` / ``_hi`` columns are drawn as a band around each line."""
    fig = Figure(figsize=(8, 4.5))
    ax = fig.add_subplot()
    lines = groups(frame.sort_values("lr", kind="stable"), group)
    named = len(lines) <= LEGEND_LINES
    for i, (name, rows) in enumerate(lines):
        color = line_color(i, len(lines))
        ax.plot(rows["lr"], shown(rows, metric), marker="o", label=(name or None) if named else None, color=color)
        if named:   # bands of many lines would cover each other: summary.csv holds their intervals
            draw_band(ax, rows["lr"], rows, metric, color)
    values = shown(frame, metric)
    best = best_index(values, metric)
    best_lr = frame["lr"].iloc[best]
    mark_best(ax, best_lr, values[best], f"best: lr={best_lr:g}, {values[best]:.2f}"
              + (f" ({group_label(group, tuple(frame[list(group)].iloc[best]))})" if group else ""))
    log_lr_axis(ax, frame["lr"])
    ax.set_ylabel(label(metric))
    ax.set_title(f"{label(metric).split(' (')[0].capitalize()} vs learning rate{band_note(frame, metric, len(lines))}",
                 fontsize=10)
    ax.grid(True, alpha=0.3)
    name_lines(fig, ax, [name for name, _ in lines], ", ".join(group))
    return save(fig, path)


CURVE_STYLES = {"test": "-", "val": ":", "train": "--"}
"""Line style of each set in the per-epoch figure: test solid, validation dotted, training dashed."""


def accuracy_vs_epochs(history, path, group=(), metric="acc"):
    """Training (dashed), validation (dotted, when there is a split) and test (solid) ``metric`` ('acc'
    or 'loss') per epoch, one colour per group (e.g. per learning rate); the best epoch of each group
    starred on the set it is chosen on (validation, else test). Test accuracy that stops rising while
    training accuracy rises is overfitting (classic experiment 3). Means over replicates come with
    ``<column>_lo`` / ``_hi`` columns, drawn as bands."""
    fig = Figure(figsize=(8, 5))
    ax = fig.add_subplot()
    sets = [name for name in CURVE_STYLES
            if f"{name}_{metric}" in history and history[f"{name}_{metric}"].notna().any()]
    chosen = f"{'val' if 'val' in sets else 'test'}_{metric}"
    lines = groups(history.sort_values("epoch", kind="stable"), group)
    named = len(lines) <= LEGEND_LINES   # else a colour bar names them, and their bands would cover each other
    for i, (name, rows) in enumerate(lines):
        color = line_color(i, len(lines))
        for part in sets:
            column = f"{part}_{metric}"
            ax.plot(rows["epoch"], shown(rows, column), color=color, linestyle=CURVE_STYLES[part],
                    marker="." if part == "test" else None, label=None if group or part != "test" else "test")
            if named:
                draw_band(ax, rows["epoch"], rows, column, color)
        if group and named:
            ax.plot([], [], color=color, label=name)
        values = shown(rows, chosen)
        best = best_index(values, chosen)
        ax.plot([rows["epoch"].iloc[best]], [values[best]], marker="*", markersize=14, color=color,
                markeredgecolor="black", linestyle="none")
    for part in sets:  # line styles explained once, colours per group
        if group or part != "test":
            ax.plot([], [], color="black", linestyle=CURVE_STYLES[part],
                    label={"test": "test", "val": "validation", "train": "training"}[part])
    ax.set_xlabel(label("epoch"))
    ax.set_ylabel(f"{'accuracy (%)' if metric == 'acc' else 'loss (mean per sample)'}")
    chosen_name = "validation" if chosen.startswith("val") else "test"
    ax.set_title(f"{'Accuracy' if metric == 'acc' else 'Loss'} per epoch: test solid, validation dotted, training "
                 f"dashed; best {chosen_name} epoch starred{band_note(history, chosen, len(lines))}", fontsize=9)
    ax.grid(True, alpha=0.3)
    ax.xaxis.get_major_locator().set_params(integer=True)
    name_lines(fig, ax, [name for name, _ in lines], ", ".join(group))
    return save(fig, path)


def lr_epochs_grid(frame, metric):
    """The ``metric`` of ``frame`` as a matrix: rows sorted learning rates, columns sorted epochs."""
    table = frame.pivot_table(index="lr", columns="epochs", values=metric, aggfunc="mean")
    return table.sort_index().sort_index(axis=1)


WRITTEN_CELLS = (30, 20)
"""A heatmap writes each cell's value while it has at most this many rows and columns (beyond, the
numbers would be too small to read; the colour bar gives the scale)."""

MOST_INCHES = (16.0, 12.0)
"""Largest width and height of a figure whose size grows with the sweep (heatmap, spread)."""


def lr_epochs_heatmap(frame, path, metric="test_acc"):
    """Learning rate x epochs heatmap of ``metric``, each cell written (while they fit), the best cell outlined."""
    table = lr_epochs_grid(frame, metric)
    values = table.to_numpy(dtype=float) * (100 if metric.endswith("_acc") else 1)
    fig = Figure(figsize=(min(MOST_INCHES[0], max(5.0, 0.6 * table.shape[1] + 2.5)),
                          min(MOST_INCHES[1], max(3.5, 0.5 * table.shape[0] + 1.5))))
    ax = fig.add_subplot()
    image = ax.imshow(values, cmap="coolwarm", aspect="auto", origin="lower")
    fig.colorbar(image, ax=ax, label=label(metric))
    if table.shape[0] <= WRITTEN_CELLS[0] and table.shape[1] <= WRITTEN_CELLS[1]:
        for (i, j), value in np.ndenumerate(values):
            if np.isfinite(value):
                ax.text(j, i, f"{value:.1f}" if abs(value) >= 1 else f"{value:.3f}", ha="center", va="center",
                        fontsize=7)
    i, j = np.unravel_index(best_index(values.ravel(), metric), values.shape)
    ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="black", lw=2.5))
    ax.set_xticks(*thinned([f"{e:g}" for e in table.columns]))
    ax.set_yticks(*thinned([f"{lr:g}" for lr in table.index]))
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


def spread_by_configuration(frame, path, metric="test_acc"):
    """Every replicate's ``metric`` (dots) and their mean with its 95% interval (bar) for each
    configuration (``frame``: one row per job, the configuration's name in column ``configuration``,
    in the order to draw; ``<metric>_mean``, ``_lo``, ``_hi`` per configuration)."""
    names = list(dict.fromkeys(frame["configuration"]))
    position = {v: i for i, v in enumerate(names)}
    x = frame["configuration"].map(position).to_numpy(dtype=float)
    fig = Figure(figsize=(min(MOST_INCHES[0], max(6.0, 0.9 * len(names) + 3)), 4.8))
    ax = fig.add_subplot()
    ax.plot(x, shown(frame, metric), marker="o", linestyle="none", alpha=0.55, label="one seed")
    per = frame.drop_duplicates("configuration")
    scale = 100 if metric.endswith("_acc") else 1
    mean = scale * per[f"{metric}_mean"].to_numpy(float)
    low, high = scale * per[f"{metric}_lo"].to_numpy(float), scale * per[f"{metric}_hi"].to_numpy(float)
    ax.errorbar(range(len(names)), mean, yerr=[mean - low, high - mean], fmt="s", color="C1", capsize=4,
                label="mean, 95% interval")
    tilted = len(names) > 4
    ax.set_xticks(*thinned(names), rotation=30 if tilted else 0, ha="right" if tilted else "center", fontsize=8)
    ax.set_ylabel(label(metric))
    ax.set_title(f"{label(metric).split(' (')[0].capitalize()} of each configuration over its seeds")
    ax.grid(True, alpha=0.3)
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
            draw_band(ax, part[x], part, metric, f"C{i % 10}")
    if x == "lr":
        log_lr_axis(ax, frame["lr"])
    else:
        ax.set_xlabel(label(x))
    if x == "epoch":
        ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_ylabel(label(metric))
    ax.set_title(f"{label(metric).split(' (')[0].capitalize()} compared (colour: source)"
                 f"{band_note(frame, metric)}", fontsize=10)
    ax.grid(True, alpha=0.3)
    outside_legend(ax)
    return save(fig, path)
