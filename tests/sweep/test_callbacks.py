"""The report callback at the end of a real multirun, started as a subprocess (one job fails)."""

import pandas as pd
from conftest import SWEEP_GIF_FRAMES
from helpers import compose_config, run_cli
from PIL import Image

from nnexp.training.run_files import TIMING_COLUMNS

FIGURES = ["accuracy_vs_lr.png", "accuracy_vs_epochs.png", "lr_epochs_heatmap.png", "lr_epochs_surface.png",
           "best_loss_per_batch.png", "best_loss_per_epoch.png", "best_confusion.png", "best_per_label.png",
           "parallel_coordinates.png", "key_importance.png"]   # the last two: two keys (lr, epochs) were swept


def test_sweep_with_a_failing_job_writes_the_whole_report(tiny_sweep):
    sweep_dir, done = tiny_sweep
    assert done.returncode == 1 and "2 of 6 jobs" in done.stderr   # the sweep says jobs failed, after its report
    results = pd.read_csv(sweep_dir / "results.csv")
    assert list(results["job"]) == list(range(6))
    assert list(results.columns[:6]) == ["job", "status", "lr", "epochs", "data.train_size", "model.hidden"]
    assert list(results["status"]) == ["completed"] * 4 + ["failed"] * 2
    assert list(results["lr"]) == [0.1, 0.1, 0.3, 0.3, -1, -1]
    assert set(results["model.hidden"]) == {"[10]"}
    failed = results[results["status"] == "failed"]
    assert (failed["error"] == "lr=-1.0 must be greater than 0").all()
    assert failed["test_acc"].isna().all()
    completed = results[results["status"] == "completed"]
    assert completed["test_acc"].between(0, 1).all() and (completed["best_epoch"] <= completed["epochs"]).all()
    assert list(completed["dir"].astype(str)) == ["0", "1", "2", "3"]


def test_history_is_long_form_with_the_swept_keys(tiny_sweep):
    sweep_dir, _ = tiny_sweep
    history = pd.read_csv(sweep_dir / "history.csv")
    assert list(history.columns) == ["job", "lr", "epochs", "data.train_size", "model.hidden", "epoch", "epoch_lr",
                                     "train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc",
                                     *TIMING_COLUMNS]
    assert list(history["job"]) == [0, 1, 1, 2, 3, 3]
    job3 = history[history["job"] == 3]
    results = pd.read_csv(sweep_dir / "results.csv").set_index("job")
    assert job3["test_acc"].iloc[-1] == results.loc[3, "test_acc"]


def test_figures_are_valid_images_and_the_gif_turns(tiny_sweep):
    sweep_dir, _ = tiny_sweep
    for name in FIGURES:
        with Image.open(sweep_dir / name) as image:
            assert image.format == "PNG" and image.size[0] > 300, name
    with Image.open(sweep_dir / "lr_epochs_surface.gif") as gif:
        assert gif.format == "GIF" and gif.n_frames == SWEEP_GIF_FRAMES
    # each frame is compressed on its own: the default turn of 72 views stays under 5 MB
    default_frames = compose_config(return_hydra_config=True).hydra.callbacks.report.gif_frames
    assert default_frames == 72
    assert (sweep_dir / "lr_epochs_surface.gif").stat().st_size * default_frames / SWEEP_GIF_FRAMES < 5_000_000


def test_report_md_names_the_best_job_and_embeds_existing_figures(tiny_sweep):
    sweep_dir, _ = tiny_sweep
    text = (sweep_dir / "report.md").read_text()
    results = pd.read_csv(sweep_dir / "results.csv")
    best = results.loc[results["val_acc"].idxmax()]                 # chosen on validation, not test
    assert f"`lr={best['lr']:g}`, `epochs={best['epochs']}`: validation accuracy" in text
    assert "Fixed for every job: `data.train_size=200`, `model.hidden=[10]`." in text
    assert "4 completed, 2 failed" in text
    embedded = [line.split("](")[1].rstrip(")") for line in text.splitlines() if line.startswith("![")]
    assert set(FIGURES) <= set(embedded)
    assert all((sweep_dir / name).is_file() for name in embedded)


def test_a_sweep_without_completed_jobs_still_writes_results(tmp_path):
    done = run_cli("-m", "lr=-1,-2", f"hydra.sweep.dir={tmp_path}")
    assert done.returncode == 1
    results = pd.read_csv(tmp_path / "results.csv")
    assert list(results["status"]) == ["failed", "failed"]
    assert "No job completed" in (tmp_path / "report.md").read_text()
