"""``python -m nnexp.report``: the same tables from disk at any time, partial sweeps included."""

import shutil
import subprocess
import sys

import pandas as pd
import pytest
from omegaconf import OmegaConf
from PIL import Image

from helpers import ROOT, TINY, run_cli
from nnexp.report import parse_overrides, planned_grid


def copy_sweep(sweep_dir, target):
    """A copy of a sweep whose recorded GIF setting is 4 frames, so that rebuilding it is quick."""
    copy = shutil.copytree(sweep_dir, target)
    multirun = copy / "multirun.yaml"
    multirun.write_text(multirun.read_text().replace("gif_frames: 72", "gif_frames: 4"))
    return copy


def report(*args):
    return subprocess.run([sys.executable, "-m", "nnexp.report", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


def test_rebuild_equals_what_the_callback_wrote(tiny_sweep, tmp_path):
    sweep_dir, _ = tiny_sweep
    copy = copy_sweep(sweep_dir, tmp_path / "copy")
    for name in ("results.csv", "history.csv", "report.md"):
        (copy / name).unlink()
    done = report(copy)
    assert done.returncode == 0, done.stderr
    assert "6 jobs" in done.stdout
    assert (copy / "results.csv").read_text() == (sweep_dir / "results.csv").read_text()
    assert (copy / "history.csv").read_text() == (sweep_dir / "history.csv").read_text()
    with Image.open(copy / "lr_epochs_surface.gif") as gif:
        assert gif.n_frames == 4


def test_killed_and_never_started_jobs_are_reported(tiny_sweep, tmp_path):
    sweep_dir, _ = tiny_sweep
    copy = copy_sweep(sweep_dir, tmp_path / "copy")
    (copy / "1" / "result.json").unlink()      # killed during the job
    shutil.rmtree(copy / "3")                  # the sweep stopped before job 3
    assert report(copy).returncode == 0
    results = pd.read_csv(copy / "results.csv").set_index("job")
    assert results.loc[1, "status"] == "missing" and results.loc[3, "status"] == "pending"
    assert results.loc[3, "lr"] == 0.3 and results.loc[3, "epochs"] == 2   # from multirun.yaml's grid
    assert results.loc[1, "error"] == "no result.json (killed, or still running)"
    assert list(results["status"]) == ["completed", "missing", "completed", "pending", "failed", "failed"]
    assert set(pd.read_csv(copy / "history.csv")["job"]) == {0, 1, 2}  # job 1's history.csv is still on disk


def test_bad_directories_are_one_line_errors(tmp_path):
    missing = report(tmp_path / "nowhere")
    assert missing.returncode == 1
    assert missing.stderr.strip() == f"nnexp.report: error: {tmp_path}/nowhere is not a directory; give a sweep or run directory"
    empty = report(tmp_path)
    assert empty.returncode == 1 and len(empty.stderr.strip().splitlines()) == 1
    assert "holds no jobs" in empty.stderr and list(tmp_path.iterdir()) == []


def test_a_single_run_draws_its_own_figures(tmp_path):
    done = run_cli(f"hydra.run.dir={tmp_path}", *TINY, "epochs=2")
    assert done.returncode == 0, done.stderr
    for name in ("loss_per_batch.png", "loss_per_epoch.png", "confusion.png", "per_label.png"):
        with Image.open(tmp_path / name) as image:
            assert image.format == "PNG", name
        (tmp_path / name).unlink()
    assert report(tmp_path).returncode == 0      # the report command redraws them from the tables
    assert (tmp_path / "confusion.png").is_file() and (tmp_path / "loss_per_epoch.png").is_file()


def test_overrides_are_parsed_with_hydra_grammar():
    parsed = parse_overrides(["lr=0.1", "model.hidden=[200,100]", "+experiment=xor", "data=digits", "~seed"])
    assert parsed == {"lr": 0.1, "model.hidden": "[200,100]", "experiment": "xor", "data": "digits"}


def test_the_planned_grid_follows_hydra_order_with_preset_params_first():
    multirun = OmegaConf.create({"hydra": {
        "sweeper": {"_target_": "hydra._internal.core_plugins.basic_sweeper.BasicSweeper",
                    "params": {"lr": "0.1,0.2", "epochs": "range(1,3)"}},
        "overrides": {"task": ["epochs=5", "model.hidden=[10],[20,10]"]}}})
    grid = planned_grid(multirun)
    assert grid == [["lr=0.1", "epochs=5", "model.hidden=[10]"], ["lr=0.1", "epochs=5", "model.hidden=[20,10]"],
                    ["lr=0.2", "epochs=5", "model.hidden=[10]"], ["lr=0.2", "epochs=5", "model.hidden=[20,10]"]]


@pytest.mark.parametrize("target", ["hydra_plugins.other.Sweeper", None])
def test_an_unknown_sweeper_gives_no_planned_grid(target):
    assert planned_grid(OmegaConf.create({"hydra": {"sweeper": {"_target_": target} if target else {}}})) is None
