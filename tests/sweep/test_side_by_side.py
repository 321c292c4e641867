"""python -m nnexp.compare: sweeps and runs joined on their swept keys, side by side."""

import json
import shutil

import pandas as pd
import pytest
from PIL import Image

from nnexp.compare import main


def test_two_sweeps_and_a_run_side_by_side(tiny_sweep, tmp_path, capsys):
    sweep_dir, _ = tiny_sweep
    other = shutil.copytree(sweep_dir, tmp_path / "other")
    result = json.loads((other / "3" / "result.json").read_text())      # lr=0.3, epochs=2
    result["test_acc"] += 0.125
    (other / "3" / "result.json").write_text(json.dumps(result))
    run = shutil.copytree(sweep_dir / "0", tmp_path / "run")            # a single run: lr=0.1, epochs=1
    assert main([str(sweep_dir), str(other), str(run), "--out", str(tmp_path / "out")]) == 0
    printed = capsys.readouterr().out
    assert f"A = {sweep_dir}" in printed and f"C = {run}" in printed and "test_acc_B-A" in printed
    table = pd.read_csv(tmp_path / "out" / "compare.csv")
    assert list(table.columns[:5]) == ["lr", "epochs", "val_acc_A", "val_acc_B", "val_acc_B-A"]   # chosen on
    assert list(table.columns[7:10]) == ["test_acc_A", "test_acc_B", "test_acc_B-A"]                  # reported
    assert len(table) == 4                      # the completed grid points; the failed lr=-1 jobs are left out
    row = table.set_index(["lr", "epochs"])
    assert abs(row.loc[(0.3, 2), "test_acc_B-A"] - 0.125) < 1e-12
    assert (row.drop(index=(0.3, 2))["test_acc_B-A"] == 0).all()
    assert row.loc[(0.1, 1), "test_acc_C-A"] == 0 and row["test_acc_C"].notna().sum() == 1
    sources = pd.read_csv(tmp_path / "out" / "compare_sources.csv")
    assert list(sources["label"]) == ["A", "B", "C"]
    with Image.open(tmp_path / "out" / "compare_accuracy.png") as image:
        assert image.format == "PNG"


def test_compare_needs_two_real_directories(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([str(tmp_path)])
    assert exit_.value.code == 2 and "at least two" in capsys.readouterr().err
    assert main([str(tmp_path), str(tmp_path / "nowhere"), "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "holds no run" in err


def test_runs_alone_are_compared_and_a_changed_run_is_not(tiny_sweep, tmp_path, capsys):
    """Two single runs (no sweep): joined on nothing, side by side. A run whose history.csv changed since
    its result.json was written is reported as not completed, its numbers left out.
    Break tried: job_on_disk without the sha256 check puts the edited run's accuracy in the table."""
    sweep_dir, _ = tiny_sweep
    first = shutil.copytree(sweep_dir / "0", tmp_path / "first")       # lr=0.1, epochs=1
    second = shutil.copytree(sweep_dir / "1", tmp_path / "second")     # lr=0.1, epochs=2
    assert main([str(first), str(second), "--out", str(tmp_path / "out")]) == 0, capsys.readouterr().err
    table = pd.read_csv(tmp_path / "out" / "compare.csv")
    a, b = (json.loads((d / "result.json").read_text()) for d in (first, second))
    assert len(table) == 1
    assert table["test_acc_A"].item() == a["test_acc"] and table["test_acc_B"].item() == b["test_acc"]
    assert table["test_acc_B-A"].item() == pytest.approx(b["test_acc"] - a["test_acc"])
    history = second / "history.csv"
    history.write_text(history.read_text().replace(str(b["test_acc"]), "0.999"))
    assert main([str(first), str(second), "--out", str(tmp_path / "out2")]) == 0
    capsys.readouterr()
    changed = pd.read_csv(tmp_path / "out2" / "compare.csv")
    assert changed["test_acc_A"].item() == a["test_acc"] and changed["test_acc_B"].isna().all()


def test_a_sweep_without_validation_split_is_compared_on_test_and_says_so(tiny_sweep, tmp_path, capsys):
    """B's jobs have no validation scores (as with data.val_size=0): one line says so, and the
    p-values are on test accuracy. Break tried: comparing on val_acc regardless leaves p empty."""
    sweep_dir, _ = tiny_sweep
    other = shutil.copytree(sweep_dir, tmp_path / "no_split")
    for path in other.glob("*/result.json"):
        result = json.loads(path.read_text())
        result.update({k: None for k in result if k.startswith(("val_", "best_val_"))})
        path.write_text(json.dumps(result))
    assert main([str(sweep_dir), str(other), "--out", str(tmp_path / "out")]) == 0
    printed = capsys.readouterr().out
    notice = [line for line in printed.splitlines() if "without a validation split" in line]
    assert notice == ["B without a validation split (data.val_size=0): significance is judged on test_acc, "
                      "the score such sweeps chose on"]
    table = pd.read_csv(tmp_path / "out" / "compare.csv")
    assert "val_acc_A" not in table and "p_test_acc_B-A" in table and "p_val_acc_B-A" not in table
    assert "significant: p_adj_test_acc_B-A < 0.05" in printed
