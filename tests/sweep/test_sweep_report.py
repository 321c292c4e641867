"""``python -m nnexp.report``: the same tables from disk at any time, partial sweeps included."""

import re
import shutil

import pandas as pd
import pytest
from omegaconf import OmegaConf
from PIL import Image

from nnexp.report import main
from nnexp.sweep.collect import parse_overrides, planned_grid


def copy_sweep(sweep_dir, target):
    """A copy of a sweep whose recorded GIF setting is 4 frames, so that rebuilding it is quick."""
    copy = shutil.copytree(sweep_dir, target)
    multirun = copy / "multirun.yaml"
    multirun.write_text(re.sub(r"gif_frames: \d+", "gif_frames: 4", multirun.read_text()))
    return copy


def report(capsys, *args):
    """``python -m nnexp.report args``, in this process: (exit code, stdout, stderr)."""
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_rebuild_equals_what_the_callback_wrote(tiny_sweep, tmp_path, capsys):
    sweep_dir, _ = tiny_sweep
    copy = copy_sweep(sweep_dir, tmp_path / "copy")
    for name in ("results.csv", "history.csv", "report.md"):
        (copy / name).unlink()
    code, out, err = report(capsys, copy)
    assert code == 0, err
    assert "6 jobs" in out
    assert (copy / "results.csv").read_text() == (sweep_dir / "results.csv").read_text()
    assert (copy / "history.csv").read_text() == (sweep_dir / "history.csv").read_text()
    with Image.open(copy / "lr_epochs_surface.gif") as gif:
        assert gif.n_frames == 4


def test_killed_and_never_started_jobs_are_reported(tiny_sweep, tmp_path, capsys):
    sweep_dir, _ = tiny_sweep
    copy = copy_sweep(sweep_dir, tmp_path / "copy")
    (copy / "1" / "result.json").unlink()      # killed during the job
    shutil.rmtree(copy / "3")                  # the sweep stopped before job 3
    assert report(capsys, copy)[0] == 0
    results = pd.read_csv(copy / "results.csv").set_index("job")
    assert results.loc[1, "status"] == "missing" and results.loc[3, "status"] == "pending"
    assert results.loc[3, "lr"] == 0.3 and results.loc[3, "epochs"] == 2   # from multirun.yaml's grid
    assert results.loc[1, "error"] == "no result.json (killed, or still running)"
    assert list(results["status"]) == ["completed", "missing", "completed", "pending", "failed", "failed"]
    assert set(pd.read_csv(copy / "history.csv")["job"]) == {0, 1, 2}  # job 1's history.csv is still on disk


def test_a_job_whose_files_changed_after_it_finished_is_not_reported_as_completed(tiny_sweep, tmp_path, capsys):
    copy = copy_sweep(tiny_sweep[0], tmp_path / "copy")
    history = copy / "2" / "history.csv"
    history.write_text(history.read_text().replace("0.", "0.9", 1))   # an edited number
    assert report(capsys, copy)[0] == 0
    results = pd.read_csv(copy / "results.csv").set_index("job")
    assert list(results["status"]) == ["completed", "completed", "missing", "completed", "failed", "failed"]
    assert results.loc[2, "error"] == f"{history} is not the file result.json recorded (changed or corrupt)"
    assert pd.isna(results.loc[2, "test_acc"])


def test_bad_directories_are_one_line_errors(tmp_path, capsys):
    code, _, err = report(capsys, tmp_path / "nowhere")
    assert code == 1
    assert err.strip() == f"nnexp.report: error: {tmp_path}/nowhere is not a directory; give a sweep or run directory"
    code, _, err = report(capsys, tmp_path)
    assert code == 1 and len(err.strip().splitlines()) == 1
    assert "holds no jobs" in err and list(tmp_path.iterdir()) == []


def test_a_run_directory_gets_its_own_figures(tiny_sweep, tmp_path, capsys):
    run_dir = shutil.copytree(tiny_sweep[0] / "1", tmp_path / "run")     # a job of two epochs
    code, out, _ = report(capsys, run_dir)
    assert code == 0
    for name in ("loss_per_batch.png", "loss_per_epoch.png", "confusion.png", "per_label.png"):
        with Image.open(run_dir / name) as image:
            assert image.format == "PNG", name
        assert name in out


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


def test_results_table_holds_the_numbers_of_the_job_files(tiny_sweep):
    """results.csv and history.csv checked against each job's own files, read here with pandas and json.
    Break tried: results_frame taking the best epoch's accuracy as test_acc fails here."""
    import json

    sweep_dir, _ = tiny_sweep
    results = pd.read_csv(sweep_dir / "results.csv")
    history = pd.read_csv(sweep_dir / "history.csv")
    assert list(results["job"]) == list(range(6))
    for _, row in results.iterrows():
        job = sweep_dir / str(row["job"])
        overrides = dict(o.split("=", 1) for o in OmegaConf.load(job / ".hydra" / "overrides.yaml"))
        assert float(overrides["lr"]) == row["lr"] and int(overrides["epochs"]) == row["epochs"]
        result = json.loads((job / "result.json").read_text())
        assert row["status"] == result["status"]
        if result["status"] != "completed":
            assert result["error"] in row["error"] and pd.isna(row["test_acc"])
            continue
        own = pd.read_csv(job / "history.csv")
        assert row["test_acc"] == own["test_acc"].iloc[-1] and row["train_loss"] == own["train_loss"].iloc[-1]
        chosen = own.loc[own["val_acc"].idxmax()]                   # the best epoch is chosen on validation
        assert row["best_epoch"] == chosen["epoch"] and row["best_test_acc"] == chosen["test_acc"]
        assert row["best_val_acc"] == own["val_acc"].max() and row["selected_on"] == "validation"
        mine = history[history["job"] == row["job"]][list(own.columns)].reset_index(drop=True)
        pd.testing.assert_frame_equal(mine, own)
    completed = results[results["status"] == "completed"]
    best = completed.loc[completed["val_acc"].idxmax()]           # one job per configuration: no seeds
    text = (sweep_dir / "report.md").read_text()
    assert (f"`lr={best['lr']}`, `epochs={best['epochs']}`: validation accuracy **{100 * best['val_acc']:.2f}%**; "
            f"its test accuracy {100 * best['test_acc']:.2f}%") in text.replace(" after the last epoch", "")


def test_a_sweep_written_by_an_earlier_nnexp_is_still_reported(tiny_sweep, tmp_path, capsys):
    """Jobs whose history.csv lacks the columns added since (epoch_lr, val_loss, val_acc), as nnexp 0.2
    wrote them: report and compare still build, those columns empty. Break tried: selecting the history
    columns by name raised KeyError: ['epoch_lr'] not in index."""
    import json

    from nnexp.compare import main as compare_main
    from nnexp.storage import sha256_file

    copy = copy_sweep(tiny_sweep[0], tmp_path / "old")
    for job in copy.iterdir():
        history = job / "history.csv"
        if job.is_dir() and history.is_file():
            pd.read_csv(history).drop(columns=["epoch_lr", "val_loss", "val_acc"]).to_csv(history, index=False)
            result = json.loads((job / "result.json").read_text())
            result["files"]["history.csv"] = sha256_file(history)          # as that version recorded it
            (job / "result.json").write_text(json.dumps(result))
    code, out, err = report(capsys, copy)
    assert code == 0, err
    history = pd.read_csv(copy / "history.csv")
    assert history["epoch_lr"].isna().all() and history["test_acc"].notna().any()
    assert compare_main([str(copy), str(tiny_sweep[0]), "--out", str(tmp_path / "cmp")]) == 0
