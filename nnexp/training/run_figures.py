"""A run's figures: those its trained network draws at the end of the run (``write_network_figures``:
filters and feature maps, for a network with convolutions), and those drawn from its files
(``run_figures``: the loss curves, the confusion matrix, the errors per label), by ``python -m nnexp``
after a single run, by ``python -m nnexp.report <run_dir>``, and for a sweep's best job.
"""

import logging
import shutil
from pathlib import Path

import pandas as pd

from .run_files import CNN_FIGURES

log = logging.getLogger(__name__)


def write_network_figures(run_dir, network, data):
    """filters.png and feature_maps.png of a trained network with convolutions (none without)."""
    filters = network.first_conv_filters()
    if filters is None:
        return []
    from ..figures.network_images import feature_map_grid, filter_grid  # matplotlib: only when needed

    image, names = data.x_test[0], data.class_names
    label, predicted = int(data.labels_test[0]), int(network.predict(image[None]).argmax(axis=1)[0])
    return [filter_grid(filters, run_dir / "filters.png", title=f"First-layer filters ({network.names[0]})"),
            feature_map_grid(network.feature_maps(image), run_dir / "feature_maps.png",
                             title=f"Feature maps of test image 1 (label {names[label]}, predicted {names[predicted]})",
                             class_names=names)]


def run_figures(run_dir, out_dir=None, prefix=""):
    """Figures of one run from its files (batches.csv, history.csv, confusion.csv, per_label.csv),
    written to ``out_dir`` (default: the run directory) as ``<prefix>loss_per_batch.png``,
    ``loss_per_epoch.png`` (2+ epochs), ``confusion.png`` and ``per_label.png``; [(title, path)]."""
    run_dir = Path(run_dir)
    out_dir = Path(out_dir or run_dir)
    drawn = []

    def table(name):
        path = run_dir / name
        try:
            frame = pd.read_csv(path) if path.is_file() else None
        except (ValueError, pd.errors.EmptyDataError):
            log.warning("skipping unreadable %s", path)
            return None
        return frame if frame is not None and not frame.empty else None

    from ..figures import run_plots  # matplotlib: only when drawing

    batches, history = table("batches.csv"), table("history.csv")
    confusion, per_label = table("confusion.csv"), table("per_label.csv")
    if batches is not None:
        path = run_plots.loss_per_batch(batches, out_dir / f"{prefix}loss_per_batch.png")
        drawn.append(("Training loss per batch", path))
    if history is not None and len(history) >= 2:
        drawn.append(("Loss per epoch", run_plots.loss_per_epoch(history, out_dir / f"{prefix}loss_per_epoch.png")))
    if confusion is not None:
        drawn.append(("Confusion matrix", run_plots.confusion(confusion, out_dir / f"{prefix}confusion.png")))
    if per_label is not None:
        drawn.append(("Errors per label", run_plots.per_label_errors(per_label, out_dir / f"{prefix}per_label.png")))
    for name, title in CNN_FIGURES.items():   # drawn by the run itself (they need its network)
        source, target = run_dir / name, out_dir / f"{prefix}{name}"
        if source.is_file():
            if source.resolve() != target.resolve():
                shutil.copyfile(source, target)
            drawn.append((title, target))
    return drawn
