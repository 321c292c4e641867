"""What every figure shares: the Agg backend, the fonts, sizes, axis labels, class names, colours, the
best-point marker, learning-rate axes, and the atomic save."""

from importlib import metadata
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
from matplotlib import font_manager  # noqa: E402

from ..storage import atomic_path  # noqa: E402

FALLBACK_FONT = ("matplotlib-fontja", "ipaexg.ttf", "IPAexGothic")
"""(package, file, family) of the font that draws what DejaVu Sans cannot: the hiragana of KMNIST's class names."""


def use_fallback_font(package=FALLBACK_FONT[0], file=FALLBACK_FONT[1], family=FALLBACK_FONT[2]):
    """Let text fall back, glyph by glyph, from DejaVu Sans (matplotlib's default, which draws every Latin
    character as before) to ``family``, whose font file ships in ``package``. The file is registered, the
    package not imported (its import makes every figure Japanese-first). Returns whether the font is there."""
    try:
        distribution = metadata.distribution(package)
    except metadata.PackageNotFoundError:
        return False
    files = [f for f in distribution.files or () if f.name == file]
    if not files:
        return False
    font_manager.fontManager.addfont(str(distribution.locate_file(files[0])))
    matplotlib.rcParams["font.family"] = ["DejaVu Sans", family]
    return True


use_fallback_font()

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
    "val_acc": "validation accuracy (%)",
    "val_loss": "validation loss (mean per sample)",
    "best_val_acc": "best validation accuracy (%)",
}


def label(key):
    """Axis label of a column: its description with unit, or the key itself."""
    return LABELS.get(key, key)


def class_names(frame):
    """The class name of each row of a per-class table (per_label.csv, confusion.csv): its ``name`` column,
    or the label itself in tables written before nnexp had class names."""
    return [str(v) for v in (frame["name"] if "name" in frame else frame["label"])]


def shown(frame, metric):
    """Values of ``metric`` as drawn: accuracies in percent, anything else unchanged."""
    values = frame[metric].to_numpy(dtype=float)
    return values * 100 if metric.endswith("_acc") else values


def best_index(values, metric):
    """Position of the best value: the highest accuracy or the lowest loss (NaNs ignored)."""
    return int(np.nanargmax(values) if metric.endswith("_acc") else np.nanargmin(values))


def value_text(value):
    """A swept value as written in a figure: floats to 6 significant digits (lr=0.57, not the
    0.5700000000000001 of Hydra's range()), anything else as it is."""
    return f"{value:.6g}" if isinstance(value, (float, np.floating)) else str(value)


def group_label(keys, values):
    """Legend text of one group of rows, e.g. 'epochs=5, model.hidden=[10]'."""
    values = values if isinstance(values, tuple) else (values,)
    return ", ".join(f"{k}={value_text(v)}" for k, v in zip(keys, values))


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


LEGEND_LINES = 10
"""Most lines named one by one in a legend; beyond, lines take viridis colours in order and a colour
bar names them (``name_lines``)."""


def line_color(i, n):
    """Colour of line i of n: the default cycle for a few lines, viridis in order for many."""
    return f"C{i}" if n <= LEGEND_LINES else matplotlib.colormaps["viridis"](i / max(1, n - 1))


MOST_LABELS = 30
"""Most tick labels written along one axis of a figure; the others are left blank (``thinned``)."""


def thinned(texts, most=MOST_LABELS):
    """(positions, texts) of every k-th of ``texts`` (and the last), at most about ``most`` of them:
    the ticks of a 200-value sweep stay readable and its figure the size of a page."""
    step = max(1, -(-len(texts) // most))
    positions, last = list(range(0, len(texts), step)), len(texts) - 1
    if positions and positions[-1] != last:   # the last too, in place of a neighbour too close to it
        if last - positions[-1] < step / 2:
            positions.pop()
        positions.append(last)
    return positions, [texts[i] for i in positions]


def name_lines(fig, ax, names, title):
    """Name the lines drawn with ``line_color``: a legend for up to LEGEND_LINES, else a colour bar
    from the first line's colour to the last, labelled with (thinned) ``names`` and ``title``."""
    if len(names) <= LEGEND_LINES:
        outside_legend(ax)
        return
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    positions, texts = thinned(list(names))
    mappable = ScalarMappable(norm=Normalize(0, len(names) - 1), cmap="viridis")
    bar = fig.colorbar(mappable, ax=ax, ticks=positions, pad=0.02)
    bar.ax.set_yticklabels(texts, fontsize=7)
    bar.set_label(title)
    if ax.get_legend_handles_labels()[0]:   # below the axes: no search for a free corner among many lines
        ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=4)


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
