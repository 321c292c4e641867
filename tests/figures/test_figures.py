"""Every figure function: it writes a valid image at the path it returns, drawn from the frame."""

import warnings

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from nnexp.figures import forest_plot, run_plots, style, sweep_plots


@pytest.fixture
def grid():
    """A learning rate x epochs table shaped like a real sweep: a ridge of best scores."""
    rows = [{"lr": lr, "epochs": e, "test_acc": 0.9 + 0.06 * (1 - np.exp(-e * lr * 4)) - 0.003 * e * lr}
            for lr in (0.025, 0.1, 0.3) for e in (1, 5, 10)]
    return pd.DataFrame(rows)


@pytest.fixture
def history():
    epochs = np.arange(1, 7)
    return pd.DataFrame({"epoch": np.tile(epochs, 2), "lr": np.repeat([0.1, 0.3], 6),
                         "train_acc": np.tile(0.9 + 0.01 * epochs, 2),
                         "test_acc": np.tile([.9, .92, .93, .925, .92, .91], 2),
                         "train_loss": np.tile(0.1 / epochs, 2), "test_loss": np.tile(0.1 / epochs + 0.01 * epochs, 2)})


def assert_png(path, expected):
    assert path == expected
    with Image.open(path) as image:
        image.verify()
        assert image.format == "PNG"


def test_sweep_figures_are_pngs(tmp_path, grid, history):
    assert_png(sweep_plots.accuracy_vs_lr(grid, tmp_path / "a.png", group=["epochs"]), tmp_path / "a.png")
    assert_png(sweep_plots.accuracy_vs_epochs(history, tmp_path / "b.png", group=["lr"]), tmp_path / "b.png")
    assert_png(sweep_plots.lr_epochs_heatmap(grid, tmp_path / "c.png"), tmp_path / "c.png")
    assert_png(sweep_plots.lr_epochs_surface(grid, tmp_path / "d.png"), tmp_path / "d.png")
    by_seed = grid.assign(seed=[0, 1, 2] * 3)
    assert_png(sweep_plots.score_by_key(by_seed, tmp_path / "e.png", "seed"), tmp_path / "e.png")


def test_a_partial_grid_still_draws_a_surface(tmp_path, grid):
    partial = grid.drop(index=[8])   # the last job never finished
    assert_png(sweep_plots.lr_epochs_surface(partial, tmp_path / "s.png"), tmp_path / "s.png")
    assert_png(sweep_plots.lr_epochs_heatmap(partial, tmp_path / "h.png"), tmp_path / "h.png")


def test_the_gif_has_one_real_render_per_view(tmp_path, grid):
    path = sweep_plots.lr_epochs_gif(grid, tmp_path / "turn.gif", frames=12)
    with Image.open(path) as gif:
        assert gif.format == "GIF" and gif.n_frames == 12
        frames = []
        for k in (0, 3, 6):
            gif.seek(k)
            frames.append(np.asarray(gif.convert("RGB")))
    assert frames[0].shape[1] == 384 and frames[0].shape[0] > 288   # the plot under a still heading
    assert not np.array_equal(frames[0], frames[1]) and not np.array_equal(frames[1], frames[2])
    assert frames[0].std() > 10   # a drawing, not a blank frame


def test_run_figures_are_pngs(tmp_path, history):
    batches = pd.DataFrame({"epoch": np.repeat([1, 2], 50), "batch": np.tile(np.arange(1, 51), 2),
                            "samples": np.arange(1, 101) * 10, "train_loss": np.linspace(1, 0.1, 100)})
    counts = np.diag([50] * 10) + 1
    confusion = pd.DataFrame(counts, columns=[f"pred_{j}" for j in range(10)]).assign(label=range(10))
    errors = counts.sum(axis=1) - np.diag(counts)
    per_label = pd.DataFrame({"label": range(10), "count": counts.sum(axis=1), "errors": errors,
                              "error_rate": errors / counts.sum(axis=1), "error_share": errors / errors.sum()})
    one_run = history[history["lr"] == 0.1]
    for draw, frame in ((run_plots.loss_per_batch, batches), (run_plots.loss_per_epoch, one_run),
                        (run_plots.confusion, confusion), (run_plots.per_label_errors, per_label)):
        assert_png(draw(frame, tmp_path / f"{draw.__name__}.png"), tmp_path / f"{draw.__name__}.png")


def test_best_is_the_highest_accuracy_or_the_lowest_loss():
    values = np.array([0.3, np.nan, 0.9, 0.5])
    assert style.best_index(values, "test_acc") == 2
    assert style.best_index(values, "test_loss") == 0


def test_learning_rate_labels_never_overlap_and_every_rate_keeps_its_tick():
    """The lr_sweep grid has 0.15, 0.18 and 0.2 side by side: their labels would overlap."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    lrs = [0.01, 0.05, 0.08, 0.1, 0.12, 0.15, 0.18, 0.2, 0.3, 0.5, 0.7, 1.0]
    fig = Figure(figsize=(8, 4.5))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.plot(lrs, np.linspace(0.88, 0.95, len(lrs)))
    style.log_lr_axis(ax, lrs)
    fig.canvas.draw()
    assert list(ax.get_xticks()) == lrs
    shown = [t for t in ax.get_xticklabels() if t.get_text()]
    assert {t.get_text() for t in shown} >= {"0.01", "0.1", "1"}
    boxes = [t.get_window_extent() for t in shown]
    assert not any(a.overlaps(b) for a, b in zip(boxes, boxes[1:]))
    assert style.spaced_labels([0.025, 0.1, 0.3]) == ["0.025", "0.1", "0.3"]   # room for every label


@pytest.fixture
def drawn(monkeypatch):
    """The Figure each function hands to ``save`` (the file is still written): the plotted data can be read."""
    figures = []

    def keep(fig, path):
        figures.append(fig)
        return style.save(fig, path)

    for module in (run_plots, sweep_plots, forest_plot):
        monkeypatch.setattr(module, "save", keep)
    return figures


def series(ax):
    """{label: (x, y)} of the lines of an axes."""
    return {line.get_label(): (np.asarray(line.get_xdata(), float), np.asarray(line.get_ydata(), float))
            for line in ax.get_lines()}


def test_accuracy_vs_lr_draws_each_group_in_percent(tmp_path, grid, drawn):
    """Break tried: plotting train_acc, or epochs not grouped, fails here (a valid PNG either way)."""
    sweep_plots.accuracy_vs_lr(grid, tmp_path / "a.png", group=["epochs"])
    lines = series(drawn[-1].axes[0])
    for epochs, rows in grid.groupby("epochs"):
        (name,) = [n for n in lines if n.endswith(f"={epochs}")]
        x, y = lines[name]
        np.testing.assert_allclose(x, rows["lr"])
        np.testing.assert_allclose(y, 100 * rows["test_acc"])
    assert drawn[-1].axes[0].get_xscale() == "log"


def test_accuracy_vs_epochs_draws_training_and_test_curves(tmp_path, history, drawn):
    sweep_plots.accuracy_vs_epochs(history, tmp_path / "b.png", group=["lr"])
    plotted = [y for x, y in series(drawn[-1].axes[0]).values() if len(x) == 6]
    for lr, rows in history.groupby("lr"):
        for column in ("train_acc", "test_acc"):
            assert any(np.allclose(y, 100 * rows[column]) for y in plotted), (lr, column)


def test_the_heatmap_holds_the_grid(tmp_path, grid, drawn):
    sweep_plots.lr_epochs_heatmap(grid, tmp_path / "c.png")
    image = drawn[-1].axes[0].get_images()[0].get_array()
    expected = 100 * grid.pivot(index="lr", columns="epochs", values="test_acc").sort_index().to_numpy()
    np.testing.assert_allclose(np.asarray(image), expected)
    best = grid.loc[grid["test_acc"].idxmax()]
    assert f"best lr={best['lr']:g}, epochs={best['epochs']:g}" in drawn[-1].axes[0].get_title()


def test_run_figures_draw_the_run_tables(tmp_path, history, drawn):
    """Break tried: loss_per_epoch drawing train_loss twice fails here."""
    one_run = history[history["lr"] == 0.1]
    run_plots.loss_per_epoch(one_run, tmp_path / "e.png")
    lines = series(drawn[-1].axes[0])
    np.testing.assert_allclose(lines["training"][1], one_run["train_loss"])
    np.testing.assert_allclose(lines["test"][1], one_run["test_loss"])
    batches = pd.DataFrame({"epoch": [1, 1, 2, 2], "batch": [1, 2, 1, 2], "samples": [5, 10, 15, 20],
                            "train_loss": [0.9, 0.5, 0.4, 0.3]})
    run_plots.loss_per_batch(batches, tmp_path / "p.png")
    x, y = series(drawn[-1].axes[0])["training loss (chunk mean)"]
    np.testing.assert_allclose(x, [5, 10, 15, 20])
    np.testing.assert_allclose(y, [0.9, 0.5, 0.4, 0.3])
    counts = np.array([[5, 1], [2, 7]])
    confusion = pd.DataFrame(counts, columns=["pred_0", "pred_1"]).assign(label=[0, 1])
    run_plots.confusion(confusion, tmp_path / "c.png")
    np.testing.assert_allclose(np.asarray(drawn[-1].axes[0].get_images()[0].get_array()), np.log1p(counts))
    assert "accuracy 80.00%" in drawn[-1].axes[0].get_title()
    per_label = pd.DataFrame({"label": [0, 1], "count": [6, 9], "errors": [1, 2], "error_rate": [1 / 6, 2 / 9],
                              "error_share": [1 / 3, 2 / 3]})
    run_plots.per_label_errors(per_label, tmp_path / "l.png")
    heights = [bar.get_height() for bar in drawn[-1].axes[0].patches]
    np.testing.assert_allclose(heights, [100 / 6, 200 / 9, 100 / 3, 200 / 3])


def test_class_names_label_the_run_figures_and_hiragana_have_a_font(tmp_path, drawn):
    """Confusion matrix and errors per label name the classes (the ``name`` column; tables without it, from
    before class names, fall back to the label). KMNIST's hiragana are drawn from the fallback font: matplotlib
    warns "Glyph ... missing" for a character no font has, and that warning is an error here."""
    names = ["お (o)", "き (ki)"]
    counts = np.array([[5, 1], [2, 7]])
    confusion = pd.DataFrame(counts, columns=["pred_0", "pred_1"]).assign(label=[0, 1], name=names)
    per_label = pd.DataFrame({"label": [0, 1], "name": names, "count": [6, 9], "errors": [1, 2],
                              "error_rate": [1 / 6, 2 / 9], "error_share": [1 / 3, 2 / 3]})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        run_plots.confusion(confusion, tmp_path / "c.png")
        ax = drawn[-1].axes[0]
        assert [t.get_text() for t in ax.get_xticklabels()] == [t.get_text() for t in ax.get_yticklabels()] == names
        run_plots.per_label_errors(per_label, tmp_path / "l.png")
        assert [t.get_text() for t in drawn[-1].axes[0].get_xticklabels()] == names
    run_plots.per_label_errors(per_label.drop(columns="name"), tmp_path / "old.png")
    assert [t.get_text() for t in drawn[-1].axes[0].get_xticklabels()] == ["0", "1"]


def forest_frame(n, seed=0):
    rng = np.random.default_rng(seed)
    diff = rng.normal(0, 0.004, n)
    half = rng.uniform(0.002, 0.006, n)
    return pd.DataFrame({"label": [f"lr={i}" for i in range(n)], "diff": diff, "lo": diff - half, "hi": diff + half,
                         "significant": np.abs(diff) > half})


def drawn_points(ax):
    """{label: (x of the dot, colour is red)} of a forest plot's rows."""
    labels = [t.get_text() for t in ax.get_yticklabels()]
    points = {}
    for container in ax.containers:
        line = container.lines[0]
        red = line.get_markerfacecolor() != "white"
        for x, y in zip(line.get_xdata(), line.get_ydata()):
            points[labels[int(y)]] = (x, red)
    return labels, points


def test_the_forest_plot_draws_every_difference_sorted_with_the_significant_ones_red(tmp_path, drawn):
    frame = forest_frame(12)
    assert_png(forest_plot.differences(frame, tmp_path / "f.png", "val_acc"), tmp_path / "f.png")
    ax = drawn[-1].axes[0]
    labels, points = drawn_points(ax)
    assert labels == list(frame.sort_values("diff")["label"])          # sorted, the largest at the top
    for _, row in frame.iterrows():
        assert points[row["label"]] == (pytest.approx(100 * row["diff"]), row["significant"])
    assert [line.get_xdata()[0] for line in ax.get_lines() if line.get_linestyle() == "-"][:1] == [0]   # zero line
    assert "compare.csv" not in ax.get_title()


def test_past_30_rows_the_forest_plot_keeps_the_significant_ones_and_names_compare_csv(tmp_path, drawn):
    frame = forest_frame(45)
    frame.loc[0, ["diff", "lo", "hi", "significant"]] = [0.0001, 0.00005, 0.00015, True]   # small but significant
    forest_plot.differences(frame, tmp_path / "f.png", "val_acc")
    ax = drawn[-1].axes[0]
    labels, _ = drawn_points(ax)
    assert len(labels) == 30 and "lr=0" in labels and "all are in compare.csv" in ax.get_title()
    significant = frame["significant"].astype(bool)
    rest = frame[~significant].assign(size=frame["diff"].abs()).nlargest(30 - significant.sum(), "size")
    assert set(labels) == set(frame.loc[significant, "label"]) | set(rest["label"])
