"""python -m nnexp.compare: sweeps and runs joined on their swept keys, side by side."""

import io
import json
import shutil
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from helpers import holm_by_hand
from PIL import Image
from scipy import stats

from nnexp.compare import main
from nnexp.figures import forest_plot, sweep_plots
from nnexp.storage import sha256_file, write_csv, write_json
from nnexp.sweep import side_by_side
from nnexp.sweep.side_by_side import (
    METRICS,
    compare,
    compared_scores,
    comparison,
    curves,
    forest_rows,
    join_keys,
    line_names,
    load,
    statistics,
)
from nnexp.sweep.summary import ALPHA
from nnexp.training.run_files import HISTORY_COLUMNS, history_frame, summarize


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


# In process, on sweep and run directories written here as nnexp and Hydra write them (milliseconds each).
# mutmut runs these without the three tiny_sweep tests above (pyproject.toml [tool.mutmut]).


def write_job(job_dir, overrides, finals, epochs=None):
    """A job directory as Hydra and a run leave it: .hydra/overrides.yaml (``overrides`` as typed) and, for a
    job that ran (``finals``: its scores after the last epoch), history.csv of ``epochs`` rows (each score 0.1
    lower per epoch before the last; the other columns 0.5) and result.json (``run_files.summarize`` with
    history.csv's sha256); a failed job (``finals`` None) only the result.json nnexp.main writes."""
    (job_dir / ".hydra").mkdir(parents=True)
    (job_dir / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump([f"{k}={v}" for k, v in overrides.items()]))
    if finals is None:
        write_json(job_dir / "result.json", {"status": "failed", "error": "lr=-1 is below 0", "seed": 0})
        return job_dir
    epochs = epochs or int(overrides.get("epochs", 1))
    history = [{**dict.fromkeys(HISTORY_COLUMNS, 0.5), "epoch": epoch,
                **{score: value - 0.1 * (epochs - epoch) for score, value in finals.items()}}
               for epoch in range(1, epochs + 1)]
    path = write_csv(job_dir / "history.csv", history_frame(history))
    result = summarize(history, "completed", 1.0) | {"files": {path.name: sha256_file(path)}}
    write_json(job_dir / "result.json", result)
    return job_dir


def write_sweep(sweep_dir, jobs):
    """A sweep directory of ``jobs`` [(overrides, finals)], job directories 0, 1, ... in that order."""
    for num, (overrides, finals) in enumerate(jobs):
        write_job(sweep_dir / str(num), overrides, finals)
    return sweep_dir


def seed_sweep(sweep_dir, scores, seeds=(0, 1, 2), epochs=2, failed=False):
    """lr (the keys of ``scores``) x ``seeds``, ``scores[lr]`` the (val_acc, test_acc) of each seed; with
    ``failed`` one more job, lr=-1, that failed."""
    jobs = [({"lr": lr, "seed": seed, "epochs": epochs}, {"val_acc": val, "test_acc": test})
            for lr, pairs in scores.items() for seed, (val, test) in zip(seeds, pairs)]
    return write_sweep(sweep_dir, jobs + ([({"lr": -1, "seed": seeds[0], "epochs": epochs}, None)] if failed else []))


A_SCORES = {0.1: [(0.80, 0.79), (0.82, 0.80), (0.81, 0.81)], 0.3: [(0.85, 0.84), (0.86, 0.85), (0.84, 0.85)],
            1.0: [(0.70, 0.71), (0.72, 0.70), (0.69, 0.70)]}
B_MINUS_A = {0.1: [(0.030, 0.02), (0.031, 0.01), (0.029, 0.02)], 0.3: [(0.03, 0.0), (0.02, 0.01), (0.04, 0.01)],
             1.0: [(0.01, -0.010), (-0.01, -0.011), (0.005, -0.012)]}
"""B - A per seed, (val_acc, test_acc): on val_acc lr=0.1 significant after Holm, lr=0.3 only unadjusted
(p about 0.035, times 2), lr=1.0 not at all."""
B_SCORES = {lr: [(v + dv, t + dt) for (v, t), (dv, dt) in zip(A_SCORES[lr], B_MINUS_A[lr])] for lr in A_SCORES}


@pytest.fixture
def drawn(monkeypatch):
    """What compare hands its two figures, in place of drawing them: {"differences": (frame, path, metric),
    "curves": (frame, path, x, metric)}; each writes an empty file at its path, as a figure would."""
    calls = {}

    def differences(frame, path, metric="val_acc", most=forest_plot.MOST_ROWS):
        calls["differences"] = (frame, path, metric, most)
        path.write_bytes(b"")
        return path

    def compare_curves(frame, path, x="epoch", metric="test_acc"):
        calls["curves"] = (frame, path, x, metric)
        path.write_bytes(b"")
        return path

    monkeypatch.setattr(forest_plot, "differences", differences)
    monkeypatch.setattr(sweep_plots, "compare_curves", compare_curves)
    return calls


def reference(a, b, paired):
    """SciPy's B - A: (lo, hi, p) of ttest_rel or Welch's ttest_ind and their 95% intervals."""
    result = stats.ttest_rel(b, a) if paired else stats.ttest_ind(b, a, equal_var=False)
    interval = result.confidence_interval(0.95)
    return interval.low, interval.high, result.pvalue


def test_load_reads_a_sweep_and_a_run_as_report_does(tmp_path):
    sweep = seed_sweep(tmp_path / "sweep", {0.1: A_SCORES[0.1]}, failed=True)
    results, history, keys = load(sweep)
    assert keys == ["lr", "seed", "epochs"]
    assert results["status"].tolist() == ["completed"] * 3 + ["failed"]
    assert results["dir"].tolist() == ["0", "1", "2", "3"]
    assert results["val_acc"].tolist()[:3] == [0.80, 0.82, 0.81] and results["best_epoch"].tolist()[:3] == [2, 2, 2]
    assert list(history.columns) == ["job", *keys, *HISTORY_COLUMNS] and history["job"].tolist() == [0, 0, 1, 1, 2, 2]
    results, history, keys = load(sweep / "1")
    assert keys == ["lr", "seed", "epochs"] and results["job"].tolist() == [0] and results["dir"].tolist() == ["."]
    assert results["test_acc"].tolist() == [0.80] and history["test_acc"].tolist() == pytest.approx([0.70, 0.80])


def frame_of(keys, rows, status=None):
    """A results table of completed jobs (``status``: each row's, if given), one row per tuple of ``rows``."""
    frame = pd.DataFrame(rows, columns=keys)
    return frame.assign(status=status or "completed")


def test_the_join_keys_are_shared_swept_keys_but_the_seed_in_the_first_inputs_order():
    """Shared by every input and taking two values in at least one of them (among completed jobs), the
    replicate key (seed) left out: a row is a configuration."""
    a = frame_of(["epochs", "lr", "seed", "momentum", "batch_size"],
                 [(1, 0.1, 0, 0.9, 10), (1, 0.3, 1, 0.9, 10), (1, 0.3, 1, 0.5, 20)], ["completed"] * 2 + ["failed"])
    b = frame_of(["batch_size", "seed", "momentum", "epochs"], [(10, 0, 0.9, 1), (10, 1, 0.9, 2)])
    inputs = [(a, None, list(a.columns[:-1])), (b, None, list(b.columns[:-1]))]
    assert join_keys(inputs) == ["epochs"]               # lr not in B; momentum, batch_size vary only in a failed job
    assert join_keys(inputs, replicate_keys=()) == ["epochs", "seed"]
    assert join_keys(inputs[::-1]) == ["epochs"] and join_keys([inputs[0], inputs[0]]) == ["lr"]
    c = frame_of(["epochs", "momentum"], [(3, None), (3, 0.9)])   # momentum unset in a job: an empty value is one
    assert join_keys([inputs[1], (c, None, ["epochs", "momentum"])]) == ["momentum", "epochs"]


def test_the_scores_compared_are_the_validation_score_then_test_else_test_with_a_notice():
    acc = frame_of(["val_loss", "val_acc", "test_acc"], [(0.3, 0.9, 0.8)])
    loss = frame_of(["val_loss", "val_acc", "test_loss", "test_acc"], [(0.3, None, 0.4, None)])
    no_split = frame_of(["val_loss", "val_acc", "test_acc"], [(None, None, 0.8)])
    no_split_loss = frame_of(["val_loss", "val_acc", "test_loss", "test_acc"], [(None, None, 0.4, None)])
    inputs = {name: (frame, None, []) for name, frame in
              (("acc", acc), ("loss", loss), ("no_split", no_split), ("no_split_loss", no_split_loss))}

    def scores(*names):
        return compared_scores([inputs[name] for name in names], ["A", "B", "C"][:len(names)])

    assert scores("acc", "acc", "acc") == (["val_acc", "test_acc"], None)
    assert scores("loss", "loss") == (["val_loss", "test_loss"], None)
    assert scores("acc", "no_split", "no_split") == (["test_acc"], "B, C without a validation split (data.val_size=0): "
                                                     "significance is judged on test_acc, the score such sweeps "
                                                     "chose on")
    assert scores("no_split", "acc") == (["test_acc"], "A without a validation split (data.val_size=0): "
                                         "significance is judged on test_acc, the score such sweeps chose on")
    scores_of_loss, notice = scores("loss", "no_split_loss")
    assert scores_of_loss == ["test_loss"] and "judged on test_loss," in notice
    assert scores("acc", "loss")[0] == ["test_acc"] and scores("loss", "acc")[0] == ["test_loss"]   # A's kind


def test_an_input_without_a_completed_job_does_not_decide_the_scores_compared():
    """It has no scores at all, so no split to tell: the others' validation score is compared, without a
    notice naming it (it said the empty input had no validation split). Inputs all empty: as before."""
    acc = frame_of(["val_loss", "val_acc", "test_acc"], [(0.3, 0.9, 0.8)])
    empty = frame_of(["val_loss", "val_acc", "test_acc"], [(None, None, None)], ["failed"])
    assert compared_scores([(acc, None, []), (empty, None, [])], ["A", "B"]) == (["val_acc", "test_acc"], None)
    assert compared_scores([(empty, None, []), (acc, None, [])], ["A", "B"]) == (["val_acc", "test_acc"], None)
    scores, notice = compared_scores([(empty, None, []), (empty, None, [])], ["A", "B"])
    assert scores == ["test_loss"] and notice.startswith("A, B without a validation split")


def test_comparison_is_the_mean_of_each_configuration_per_input_side_by_side_with_its_difference_to_a():
    """Outer join on the keys (a configuration of one input only is a row, empty on the other side; an
    unset key is a value of its own); failed jobs left out; each metric A, B, B - A, C, C - A in turn."""
    keys, metrics = ["lr", "momentum"], ["val_acc", "test_acc"]
    a = frame_of([*keys, *metrics], [(0.1, None, 0.80, 0.70), (0.1, None, 0.90, 0.72), (0.3, 0.9, 0.60, 0.50),
                                     (0.3, 0.9, 0.99, 0.99)], ["completed"] * 3 + ["failed"])
    b = frame_of([*keys, *metrics], [(0.5, 0.9, 0.75, 0.65), (0.3, 0.9, 0.70, 0.40)])
    table = comparison([(a, None, keys), (b, None, keys)], ["A", "B"], keys, metrics)
    assert list(table.columns) == [*keys, "val_acc_A", "val_acc_B", "val_acc_B-A", "test_acc_A", "test_acc_B",
                                   "test_acc_B-A"]
    assert table["lr"].tolist() == [0.1, 0.3, 0.5] and table["momentum"].tolist()[1:] == [0.9, 0.9]
    assert np.isnan(table["momentum"][0])
    expected = [[0.85, np.nan, np.nan, 0.71, np.nan, np.nan], [0.60, 0.70, 0.10, 0.50, 0.40, -0.10],
                [np.nan, 0.75, np.nan, np.nan, 0.65, np.nan]]
    np.testing.assert_allclose(table.iloc[:, 2:].to_numpy(float), expected, atol=1e-12)

    three = comparison([(a, None, keys), (b, None, keys), (a, None, keys)], ["A", "B", "C"], keys, metrics)
    assert list(three.columns) == [*keys, "val_acc_A", "val_acc_B", "val_acc_B-A", "val_acc_C", "val_acc_C-A",
                                   "test_acc_A", "test_acc_B", "test_acc_B-A", "test_acc_C", "test_acc_C-A"]
    assert three["val_acc_C-A"].tolist()[:2] == [0, 0]
    assert three["test_acc_C"].tolist()[:2] == pytest.approx([0.71, 0.5])


def test_two_runs_are_one_row_and_every_metric_is_compared_by_default(tmp_path):
    first = write_job(tmp_path / "first", {"lr": 0.1}, {"val_acc": 0.9, "test_acc": 0.8, "train_acc": 0.95})
    second = write_job(tmp_path / "second", {"lr": 0.1}, {"val_acc": 0.85, "test_acc": 0.82, "train_acc": 0.9})
    table = comparison([load(first), load(second)], ["A", "B"], [])
    assert list(table.columns) == [f"{m}_{side}" for m in METRICS for side in ("A", "B", "B-A")]
    assert table.loc[0, ["test_acc_A", "test_acc_B", "train_acc_B", "best_epoch_A", "test_loss_A"]].tolist() == \
        [0.8, 0.82, 0.9, 1, 0.5]
    assert table.loc[0, ["test_acc_B-A", "train_acc_B-A", "best_epoch_B-A"]].tolist() == pytest.approx([0.02, -0.05, 0])


C_SCORES = {0.1: [(0.84, 0.83), (0.86, 0.82), (0.83, 0.84)], 0.3: [(0.80, 0.80), (0.83, 0.81), (0.79, 0.82)],
            1.0: [(0.71, 0.70), (0.75, 0.73)]}
"""A third sweep on other seeds (5, 6, 7): compared with A by Welch's test; lr=1.0 on two seeds only."""
STATISTICS_COLUMNS = ["n_{0}", "val_acc_{0}-A_lo", "val_acc_{0}-A_hi", "p_val_acc_{0}-A", "p_adj_val_acc_{0}-A",
                      "test_{0}-A", "test_acc_{0}-A_lo", "test_acc_{0}-A_hi", "p_test_acc_{0}-A",
                      "p_adj_test_acc_{0}-A"]
"""The statistics columns of input B, C, ... (``.format(name)``) scored on val_acc then test_acc: the test
named after the first score's."""


def test_each_configuration_is_tested_paired_over_shared_seeds_else_welch_as_scipy_does_then_holm(tmp_path):
    """B ran A's seeds: paired t-test; C other seeds: Welch. Intervals and p-values equal SciPy's, p_adj is
    Holm's over the three configurations (by hand), ``significant`` is p_adj < 0.05 on the first score
    (val_acc), so lr=0.3 (p about 0.035, p_adj 0.07) is not."""
    dirs = [seed_sweep(tmp_path / "a", A_SCORES, failed=True), seed_sweep(tmp_path / "b", B_SCORES),
            seed_sweep(tmp_path / "c", C_SCORES, seeds=(5, 6, 7))]
    inputs = [load(d) for d in dirs]
    labels, scores = ["A", "B", "C"], ["val_acc", "test_acc"]
    table = statistics(inputs, labels, ["lr"], comparison(inputs, labels, ["lr"], scores), scores)
    assert list(table.columns[11:]) == ["n_A", *[c.format("B") for c in STATISTICS_COLUMNS],
                                        *[c.format("C") for c in STATISTICS_COLUMNS],
                                        "significant_B-A", "significant_C-A"]
    assert table["lr"].tolist() == [0.1, 0.3, 1.0]
    assert table[["n_A", "n_B", "n_C"]].values.tolist() == [[3, 3, 3], [3, 3, 3], [3, 3, 2]]
    assert table["test_B-A"].tolist() == ["paired"] * 3 and table["test_C-A"].tolist() == ["welch"] * 3
    for name, others in (("B", B_SCORES), ("C", C_SCORES)):
        for score, column in (("val_acc", 0), ("test_acc", 1)):
            raw = []
            for row, lr in enumerate(A_SCORES):
                a = [pair[column] for pair in A_SCORES[lr]]
                b = [pair[column] for pair in others[lr]]
                expected = reference(a, b, paired=name == "B")
                got = table.loc[row, [f"{score}_{name}-A_lo", f"{score}_{name}-A_hi", f"p_{score}_{name}-A"]]
                np.testing.assert_allclose(got.to_numpy(float), expected, rtol=1e-9)
                raw.append(expected[2])
            np.testing.assert_allclose(table[f"p_adj_{score}_{name}-A"], holm_by_hand(raw), rtol=1e-9)
        adjusted = holm_by_hand(table[f"p_{'val_acc'}_{name}-A"])
        assert table[f"significant_{name}-A"].tolist() == [bool(p < ALPHA) for p in adjusted]
    assert table["significant_B-A"].tolist() == [True, False, False]
    assert table["p_val_acc_B-A"].tolist()[1] < ALPHA <= table["p_adj_val_acc_B-A"].tolist()[1]
    assert table["p_test_acc_B-A"].tolist()[2] < ALPHA    # significant on test alone: not what significant reads


def test_a_configuration_with_fewer_than_two_jobs_on_a_side_is_not_tested(tmp_path):
    """n is counted, the rest is empty: no interval, no p, no test, significant neither True nor False. The
    test named is the first score's: where A's val_acc has one value, none, though test_acc was paired."""
    a = seed_sweep(tmp_path / "a", A_SCORES)
    for job in ("1", "2"):                                       # lr=0.1, seeds 1 and 2; files unchanged: completed
        path = a / job / "result.json"
        path.write_text(json.dumps(json.loads(path.read_text()) | {"val_acc": None}))
    b = seed_sweep(tmp_path / "b", B_SCORES)
    run = write_job(tmp_path / "run", {"lr": 0.3, "epochs": 2}, {"val_acc": 0.9, "test_acc": 0.9})
    inputs = [load(d) for d in (a, b, run)]
    labels = ["A", "B", "C"]
    table = statistics(inputs, labels, ["lr"], comparison(inputs, labels, ["lr"], ["val_acc", "test_acc"]),
                       ["val_acc", "test_acc"])
    assert table[["n_A", "n_B", "n_C"]].values.tolist() == [[3, 3, 0], [3, 3, 1], [3, 3, 0]]
    assert table[[c.format("C") for c in STATISTICS_COLUMNS if not c.startswith(("n_", "test_{"))]].isna().all().all()
    assert table["test_C-A"].tolist() == [""] * 3 and table["significant_C-A"].tolist() == [None] * 3
    assert table["test_B-A"].tolist() == ["", "paired", "paired"]
    assert np.isnan(table.loc[0, "p_val_acc_B-A"]) and table.loc[0, "p_test_acc_B-A"] > 0
    assert table["significant_B-A"].tolist()[0] is None and table["significant_B-A"].tolist()[1:] == [False, False]


def test_a_run_without_seeds_beside_two_seed_sweeps_leaves_their_comparison_paired(tmp_path):
    """Whether B - A pairs over seeds depends on A and B only: a third input that did not sweep the seed
    (a single run) makes its own comparison Welch's, not theirs."""
    run_twice = [({"lr": 0.1}, {"val_acc": val, "test_acc": test}) for val, test in C_SCORES[0.1]]
    inputs = [load(seed_sweep(tmp_path / "a", A_SCORES)), load(seed_sweep(tmp_path / "b", B_SCORES)),
              load(write_sweep(tmp_path / "c", run_twice))]
    labels, scores = ["A", "B", "C"], ["val_acc"]
    table = statistics(inputs, labels, ["lr"], comparison(inputs, labels, ["lr"], scores), scores)
    assert table["test_B-A"].tolist() == ["paired"] * 3 and table["test_C-A"].tolist() == ["welch", "", ""]
    a, b = ([v for v, _ in scores[0.1]] for scores in (A_SCORES, B_SCORES))
    np.testing.assert_allclose(table.loc[0, "p_val_acc_B-A"], reference(a, b, paired=True)[2], rtol=1e-9)
    first = statistics(inputs[::-1], labels, ["lr"], comparison(inputs[::-1], labels, ["lr"], scores), scores)
    assert first["test_B-A"].tolist() == first["test_C-A"].tolist() == ["welch", "", ""]   # A without seeds


def test_the_forest_rows_are_each_difference_with_its_interval_named_by_configuration():
    """One row per configuration and input B, C, ...: the pair named in front only with three inputs or
    more; "all jobs" without join keys; significant only where it is True (not None)."""
    table = pd.DataFrame({"lr": [0.1, 0.3], "model.hidden": ["[10]", "[20]"], "val_acc_B-A": [0.01, -0.02],
                          "val_acc_B-A_lo": [0.005, -0.05], "val_acc_B-A_hi": [0.015, 0.01],
                          "significant_B-A": [True, None], "val_acc_C-A": [0.03, 0.04], "val_acc_C-A_lo": [0.02, 0.03],
                          "val_acc_C-A_hi": [0.04, 0.05], "significant_C-A": [False, True], "test_acc_B-A": [9.0, 9.0]})
    two = forest_rows(table, ["A", "B"], ["lr", "model.hidden"], "val_acc")
    assert two.to_dict("list") == {"label": ["lr=0.1, model.hidden=[10]", "lr=0.3, model.hidden=[20]"],
                                   "diff": [0.01, -0.02], "lo": [0.005, -0.05], "hi": [0.015, 0.01],
                                   "significant": [True, False]}
    three = forest_rows(table, ["A", "B", "C"], ["lr"], "val_acc")
    assert three["label"].tolist() == ["B-A: lr=0.1", "B-A: lr=0.3", "C-A: lr=0.1", "C-A: lr=0.3"]
    assert three["diff"].tolist() == [0.01, -0.02, 0.03, 0.04] and three["hi"].tolist() == [0.015, 0.01, 0.04, 0.05]
    assert three["significant"].tolist() == [True, False, False, True] and three.index.tolist() == [0, 1, 2, 3]
    alone = forest_rows(table.head(1), ["A", "B"], [], "val_acc")
    assert alone["label"].tolist() == ["all jobs"] and alone["lo"].tolist() == [0.005]


def test_line_names_are_the_keys_and_values_of_each_row():
    frame = pd.DataFrame({"lr": [0.1, 0.5700000000000001], "model.hidden": ["[10]", "[20,10]"]}, index=[3, 7])
    names = line_names(frame, ["lr", "model.hidden"])
    assert names.to_dict() == {3: "lr=0.1, model.hidden=[10]", 7: "lr=0.57, model.hidden=[20,10]"}
    assert line_names(frame, []) == ""


def test_the_curves_are_the_mean_over_seeds_with_its_interval_and_a_runs_own_history(tmp_path):
    """Per input and configuration, test_acc per epoch: a seed sweep's mean over its seeds with the 95%
    interval of that mean, a run's own history; each line named by its configuration and input."""
    sweep = seed_sweep(tmp_path / "a", {lr: A_SCORES[lr] for lr in (0.1, 0.3)})
    run = write_job(tmp_path / "run", {"lr": 0.1, "epochs": 2}, {"test_acc": 0.9})
    frame, x = curves([load(sweep), load(run)], ["A (a)", "B (run)"], ["lr"])
    assert x == "epoch"
    assert frame["source"].tolist() == ["A (a)"] * 4 + ["B (run)"] * 2
    assert frame["line"].tolist() == ["lr=0.1", "lr=0.1", "lr=0.3", "lr=0.3", "lr=0.1", "lr=0.1"]
    assert frame["epoch"].tolist() == [1, 2, 1, 2, 1, 2]
    for row, lr, epoch in ((0, 0.1, 1), (1, 0.1, 2), (2, 0.3, 1), (3, 0.3, 2)):
        seeds = np.array([test for _, test in A_SCORES[lr]]) - 0.1 * (2 - epoch)
        half = stats.t.ppf(0.975, 2) * seeds.std(ddof=1) / np.sqrt(3)
        assert frame.loc[row, ["test_acc", "test_acc_lo", "test_acc_hi"]].tolist() == \
            pytest.approx([seeds.mean(), seeds.mean() - half, seeds.mean() + half])
    assert frame["test_acc"].tolist()[4:] == pytest.approx([0.8, 0.9]) and frame["test_acc_lo"][4:].isna().all()
    assert frame["job"].tolist()[4:] == [0, 0] and frame["job"][:4].isna().all()   # the run's own rows


def test_two_seed_sweeps_of_one_configuration_are_one_mean_curve_each(tmp_path, drawn, capsys):
    """Nothing but the seed swept: no join key, one row of the table, compared paired over the seeds; the
    curve of each input the mean over its seeds with its interval."""
    a = seed_sweep(tmp_path / "a", {0.1: A_SCORES[0.1]})
    b = seed_sweep(tmp_path / "b", {0.1: B_SCORES[0.1]})
    table, _, _ = compare([a, b], tmp_path / "out")
    assert table.columns[:3].tolist() == ["val_acc_A", "val_acc_B", "val_acc_B-A"] and len(table) == 1
    assert table["test_B-A"].tolist() == ["paired"] and table["n_B"].tolist() == [3]
    val_a, val_b = ([v for v, _ in scores[0.1]] for scores in (A_SCORES, B_SCORES))
    assert table.loc[0, "p_val_acc_B-A"] == pytest.approx(reference(val_a, val_b, paired=True)[2], rel=1e-9)
    assert drawn["differences"][0]["label"].tolist() == ["all jobs"]
    frame, _, x, _ = drawn["curves"]
    assert x == "epoch" and frame["line"].tolist() == [""] * 4 and frame["epoch"].tolist() == [1, 2, 1, 2]
    tests = np.array([t for _, t in A_SCORES[0.1]])
    assert frame["test_acc"].tolist()[1] == pytest.approx(tests.mean()) and frame["test_acc_lo"].notna().all()


@pytest.mark.parametrize("p, significant", [(ALPHA, False), (np.nextafter(ALPHA, 0), True)])
def test_an_adjusted_p_of_exactly_alpha_is_not_significant(monkeypatch, tmp_path, p, significant):
    """significant is p_adj < 0.05. No t-test gives exactly 0.05: ``difference`` is replaced by one that does
    (a single configuration: Holm keeps it)."""
    monkeypatch.setattr(side_by_side, "difference",
                        lambda *args: {"diff": 0.02, "lo": 0.0, "hi": 0.04, "p": p, "test": "paired"})
    inputs = [load(seed_sweep(tmp_path / name, {0.1: scores[0.1]}))
              for name, scores in (("a", A_SCORES), ("b", B_SCORES))]
    table = statistics(inputs, ["A", "B"], [], comparison(inputs, ["A", "B"], [], ["val_acc"]), ["val_acc"])
    assert table.loc[0, "p_adj_val_acc_B-A"] == p and table["significant_B-A"].tolist() == [significant]


def test_the_curves_are_the_longest_history_of_each_configuration_but_epochs(tmp_path):
    """One seed given (seed=0 for every job) is no replicate: each curve is one job's history."""
    sweep = write_sweep(tmp_path / "a", [({"lr": lr, "epochs": epochs, "seed": 0},
                                          {"test_acc": 0.5 + lr + epochs / 100})
                                         for lr in (0.1, 0.3) for epochs in (2, 3, 1)])
    frame, x = curves([load(sweep), load(sweep)], ["A", "B"], ["lr", "epochs"])
    assert x == "epoch" and frame["job"].tolist() == [1, 1, 1, 4, 4, 4] * 2
    assert frame["line"].tolist() == ["lr=0.1"] * 3 + ["lr=0.3"] * 3 + ["lr=0.1"] * 3 + ["lr=0.3"] * 3
    assert frame["epoch"].tolist() == [1, 2, 3] * 4 and frame["source"].tolist() == ["A"] * 6 + ["B"] * 6


def test_past_six_configurations_only_the_best_jobs_curve_is_drawn(tmp_path):
    """Six configurations are six lines; seven are one: the history of the job with the best test_acc."""
    def sweep(name, lrs):
        return load(write_sweep(tmp_path / name, [({"lr": lr, "seed": seed, "epochs": 2},
                                                   {"test_acc": 0.9 if (lr, seed) == (0.3, 1) else 0.5 + lr / 10})
                                                  for lr in lrs for seed in (0, 1)]))
    seven, six = sweep("seven", [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7]), sweep("six", [0.1, 0.2, 0.3, 0.4, 0.5, 0.6])
    frame, x = curves([seven, six], ["A", "B"], ["lr"])
    a, b = frame[frame["source"] == "A"], frame[frame["source"] == "B"]
    assert a["job"].tolist() == [5, 5] and a["line"].tolist() == ["lr=0.3"] * 2 and a["test_acc"].tolist() == [0.8, 0.9]
    assert b["line"].nunique() == 6 and len(b) == 12 and b["test_acc_lo"].notna().all()   # means over the two seeds


def test_after_one_epoch_the_curves_are_the_final_scores_against_the_first_numeric_key(tmp_path):
    """Every job trained one epoch: test_acc against lr (the first numeric join key), in increasing lr,
    one line per value of the other keys; without a numeric key, the one-epoch histories."""
    sweep = write_sweep(tmp_path / "a", [({"optimizer": optimizer, "lr": lr, "batch_size": 10},
                                          {"test_acc": lr + (optimizer == "adam")})
                                         for optimizer in ("sgd", "adam") for lr in (0.3, 0.1)]
                        + [({"optimizer": "sgd", "lr": -1, "batch_size": 10}, None)])
    run = write_job(tmp_path / "run", {"optimizer": "sgd", "lr": 0.2, "batch_size": 10}, {"test_acc": 0.25})
    keys = ["optimizer", "lr", "batch_size"]
    frame, x = curves([load(sweep), load(run)], ["A", "B"], keys)
    assert x == "lr"
    assert frame[["source", "line", "lr", "test_acc"]].values.tolist() == [
        ["A", "optimizer=sgd, batch_size=10", 0.1, 0.1], ["A", "optimizer=adam, batch_size=10", 0.1, 1.1],
        ["A", "optimizer=sgd, batch_size=10", 0.3, 0.3], ["A", "optimizer=adam, batch_size=10", 0.3, 1.3],
        ["B", "optimizer=sgd, batch_size=10", 0.2, 0.25]]
    frame, x = curves([load(sweep), load(run)], ["A", "B"], ["optimizer"])
    assert x == "epoch" and frame["line"].tolist() == ["optimizer=sgd", "optimizer=adam", "optimizer=sgd"]
    assert frame["job"].tolist() == [0, 2, 0] and frame["epoch"].tolist() == [1, 1, 1]


def three_inputs(tmp_path):
    """Sweeps A and B over lr x seeds 0-2 (A with a failed job), and C a single run of lr=0.1 without a seed."""
    return [seed_sweep(tmp_path / "a", A_SCORES, failed=True), seed_sweep(tmp_path / "b", B_SCORES),
            write_job(tmp_path / "c", {"lr": 0.1, "epochs": 2}, {"val_acc": 0.9, "test_acc": 0.88})]


COMPARE_COLUMNS = ["lr", *[f"{metric}_{side}" for metric in ["val_acc", *METRICS]
                           for side in ("A", "B", "B-A", "C", "C-A")],
                   "n_A", *[c.format("B") for c in STATISTICS_COLUMNS], *[c.format("C") for c in STATISTICS_COLUMNS],
                   "significant_B-A", "significant_C-A"]
"""compare.csv of three_inputs."""


def test_compare_writes_the_table_the_sources_and_hands_each_figure_its_rows(tmp_path, drawn):
    dirs = three_inputs(tmp_path)
    out = tmp_path / "out"
    table, (figure, differences), notice = compare(dirs, out)
    assert notice is None and figure == out / "compare_accuracy.png" and differences == out / "compare_differences.png"
    written = pd.read_csv(out / "compare.csv")
    assert list(written.columns) == COMPARE_COLUMNS and list(table.columns) == COMPARE_COLUMNS
    assert written["lr"].tolist() == [0.1, 0.3, 1.0] and written["test_B-A"].tolist() == ["paired"] * 3
    assert written[["n_A", "n_B", "n_C"]].values.tolist() == [[3, 3, 1], [3, 3, 0], [3, 3, 0]]
    means = {lr: np.mean([v for v, _ in B_SCORES[lr]]) - np.mean([v for v, _ in A_SCORES[lr]]) for lr in A_SCORES}
    np.testing.assert_allclose(written["val_acc_B-A"], list(means.values()), atol=1e-12)
    assert written["test_acc_C"].tolist()[0] == 0.88 and written["test_acc_C"][1:].isna().all()
    assert written["best_epoch_A"].tolist() == [2, 2, 2] and written["test_loss_B-A"].tolist() == [0, 0, 0]
    assert written["significant_B-A"].tolist() == [True, False, False] and written["significant_C-A"].isna().all()
    a = [v for v, _ in A_SCORES[0.1]]
    np.testing.assert_allclose(written.loc[0, "p_val_acc_B-A"], reference(a, [v for v, _ in B_SCORES[0.1]], True)[2])
    sources = pd.read_csv(out / "compare_sources.csv")
    assert sources.to_dict("list") == {"label": ["A", "B", "C"], "directory": [str(d) for d in dirs]}

    forest, path, metric, most = drawn["differences"]
    assert (path, metric, most) == (differences, "val_acc", forest_plot.MOST_ROWS)
    assert forest["label"].tolist() == ["B-A: lr=0.1", "B-A: lr=0.3", "B-A: lr=1"]   # C-A: no interval, not drawn
    np.testing.assert_allclose(forest["diff"], list(means.values()), atol=1e-12)
    assert forest["lo"].tolist() == table["val_acc_B-A_lo"].tolist()
    assert forest["significant"].tolist() == [True, False, False]
    frame, path, x, metric = drawn["curves"]
    assert (path, x, metric) == (figure, "epoch", "test_acc")
    assert frame.drop_duplicates(["source", "line"])[["source", "line"]].values.tolist() == [
        ["A (a)", "lr=0.1"], ["A (a)", "lr=0.3"], ["A (a)", "lr=1"], ["B (b)", "lr=0.1"], ["B (b)", "lr=0.3"],
        ["B (b)", "lr=1"], ["C (c)", "lr=0.1"]]


def test_compare_draws_real_figures_beside_an_input_without_a_completed_job(tmp_path):
    """The figures are PNG images, the accuracy curves drawn also when one input has no completed job (an
    empty table of no type, put beside the others' numbers, made the figure a TypeError traceback)."""
    dirs = three_inputs(tmp_path)[:2] + [seed_sweep(tmp_path / "failed", {}, failed=True)]
    _, (figure, differences), _ = compare(dirs, tmp_path / "out")
    for path in (figure, differences):
        with Image.open(path) as image:
            assert image.format == "PNG" and image.width > 300 and image.height > 100


def test_with_nothing_completed_there_is_nothing_to_draw(tmp_path, drawn, capsys):
    """Two failed runs: compare.csv is written, empty but for n; neither figure is drawn and the last
    line says so; the notice names both inputs, which have no validation score either."""
    a = write_job(tmp_path / "a", {"lr": -1}, None)
    b = write_job(tmp_path / "b", {"lr": -2}, None)
    _, figures, _ = compare([a, b], tmp_path / "first")
    assert figures == (None, None)
    assert main([str(a), str(b), "--out", str(tmp_path / "out")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-3] == ("A, B without a validation split (data.val_size=0): significance is judged on test_loss, "
                         "the score such sweeps chose on")
    assert lines[-1] == f"wrote {tmp_path / 'out' / 'compare.csv'} (no accuracies to draw)"
    assert drawn == {}
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["compare.csv", "compare_sources.csv"]
    table = pd.read_csv(tmp_path / "out" / "compare.csv")
    assert table[["n_A", "n_B"]].values.tolist() == [[0, 0]] and table["test_acc_A"].isna().all()


def test_after_one_epoch_compare_draws_the_scores_against_the_first_inputs_numeric_key(tmp_path, drawn):
    """One-epoch jobs: the accuracy figure has optimizer.momentum, swept by A, as its x axis, though B (a run
    with optimizer.momentum=null) has no number for it; the points in increasing momentum, the lines (other keys)
    in the order of the jobs."""
    sweep = write_sweep(tmp_path / "a", [({"optimizer.momentum": momentum, "batch_size": size, "epochs": 1},
                                          {"val_acc": momentum, "test_acc": momentum + size / 100})
                                         for momentum in (0.9, 0.5) for size in range(1, 9)])
    run = write_job(tmp_path / "b", {"optimizer.momentum": "null", "batch_size": 10, "epochs": 1},
                    {"val_acc": 0.5, "test_acc": 0.5})
    table, _, _ = compare([sweep, run], tmp_path / "out")
    assert table.columns[:2].tolist() == ["optimizer.momentum", "batch_size"]
    frame, _, x, _ = drawn["curves"]
    assert x == "optimizer.momentum"
    assert frame["optimizer.momentum"].tolist()[:16] == [0.5] * 8 + [0.9] * 8
    assert frame["line"].tolist() == [f"batch_size={size}" for size in range(1, 9)] * 2 + ["batch_size=10"]
    assert frame["source"].tolist() == ["A (a)"] * 16 + ["B (b)"]


def test_regression_sweeps_are_compared_on_their_losses_and_draw_no_accuracy(tmp_path, drawn, capsys):
    """Sweeps of a regression (no accuracy): compared on val_loss, then test_loss; the forest plot of val_loss
    is drawn, the accuracy curves are not (their scores are all empty)."""
    def regression(name, shift):
        return write_sweep(tmp_path / name, [({"lr": lr, "seed": seed, "epochs": 2},
                                              {"val_loss": 0.3 + lr + shift * seed,
                                               "test_loss": 0.4 + lr - shift * seed ** 2,
                                               "val_acc": np.nan, "test_acc": np.nan, "train_acc": np.nan})
                                             for lr in (0.1, 0.3) for seed in (0, 1, 2)])
    out = tmp_path / "out"
    assert main([str(regression("a", 0.01)), str(regression("b", 0.02)), "--out", str(out)]) == 0
    assert capsys.readouterr().out.splitlines()[-2:] == [
        "significant: p_adj_val_loss_B-A < 0.05, p Holm-adjusted over the 2 configurations (p_: unadjusted, each "
        "read alone)", f"wrote {out / 'compare.csv'} and {out / 'compare_differences.png'}"]
    assert "curves" not in drawn and drawn["differences"][2] == "val_loss"
    table = pd.read_csv(out / "compare.csv")
    assert table.columns[:4].tolist() == ["lr", "val_loss_A", "val_loss_B", "val_loss_B-A"]
    np.testing.assert_allclose(table["val_loss_B-A"], [0.01, 0.01], atol=1e-12)
    assert table["test_B-A"].tolist() == ["paired"] * 2 and table["p_test_loss_B-A"].between(0.01, 1).all()


def test_compare_prints_the_sources_the_table_and_what_significant_means(tmp_path, drawn, capsys):
    dirs = three_inputs(tmp_path)
    out = tmp_path / "out"
    assert main([*map(str, dirs), "--out", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[:3] == [f"A = {dirs[0]}", f"B = {dirs[1]}", f"C = {dirs[2]}"]
    shown = ["lr", "val_acc_A", "val_acc_B", "val_acc_B-A", "val_acc_C", "val_acc_C-A", "test_acc_A", "test_acc_B",
             "test_acc_B-A", "test_acc_C", "test_acc_C-A", "n_A", "n_B", "p_val_acc_B-A", "p_adj_val_acc_B-A",
             "test_B-A", "p_test_acc_B-A", "p_adj_test_acc_B-A", "n_C", "p_val_acc_C-A", "p_adj_val_acc_C-A",
             "test_C-A", "p_test_acc_C-A", "p_adj_test_acc_C-A", "significant_B-A", "significant_C-A"]
    printed = pd.read_fwf(io.StringIO("\n".join(lines[3:7])))
    assert list(printed.columns) == shown and len(printed) == 3
    table = pd.read_csv(out / "compare.csv")
    for column in shown:
        if table[column].dtype == float:                 # floats to four decimals
            np.testing.assert_allclose(printed[column], table[column].round(4), atol=1e-12)
        else:
            assert printed[column].astype(str).tolist() == table[column].astype(str).tolist(), column
    assert lines[4].split()[:2] == ["0.1000", "0.8100"]
    assert len(lines) == 3 + 1 + 3 + 3
    assert lines[7:] == [
        "(the 95% intervals of the differences (_lo, _hi), test_loss, best_test_acc, best_epoch and train_acc are in "
        "compare.csv too)",
        "significant: p_adj_val_acc_B-A < 0.05, p Holm-adjusted over the 3 configurations (p_: unadjusted, each read "
        "alone)",
        f"wrote {out / 'compare.csv'} and {out / 'compare_accuracy.png'}, {out / 'compare_differences.png'}"]


def test_without_a_validation_split_the_notice_is_printed_and_significance_is_on_test(tmp_path, drawn, capsys):
    a = seed_sweep(tmp_path / "a", A_SCORES)
    b = write_sweep(tmp_path / "b", [({"lr": lr, "seed": seed, "epochs": 2},
                                      {"val_acc": np.nan, "val_loss": np.nan, "test_acc": test})
                                     for lr, pairs in B_SCORES.items() for seed, (_, test) in enumerate(pairs)])
    assert main([str(a), str(b), "--out", str(tmp_path / "out")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-3:-1] == ["B without a validation split (data.val_size=0): significance is judged on test_acc, "
                            "the score such sweeps chose on",
                            "significant: p_adj_test_acc_B-A < 0.05, p Holm-adjusted over the 3 configurations "
                            "(p_: unadjusted, each read alone)"]
    table = pd.read_csv(tmp_path / "out" / "compare.csv")
    assert "val_acc_A" not in table and list(table.columns[1:4]) == ["test_acc_A", "test_acc_B", "test_acc_B-A"]
    forest, _, metric, _ = drawn["differences"]
    assert metric == "test_acc" and forest["label"].tolist() == ["lr=0.1", "lr=0.3", "lr=1"]


def test_compare_writes_to_a_new_folder_named_by_the_time_by_default(tmp_path, drawn, monkeypatch, capsys):
    class Now(datetime):
        @classmethod
        def now(cls, tz=None):
            return datetime(2026, 12, 6, 9, 5, 7)

    monkeypatch.setattr(side_by_side, "datetime", Now)
    dirs = three_inputs(tmp_path)
    assert main([str(dirs[0]), str(dirs[2])]) == 0
    out = Path("outputs/compare/2026-12-06_09-05-07")
    assert (tmp_path / out / "compare.csv").is_file()
    assert capsys.readouterr().out.splitlines()[-1] == \
        f"wrote {out / 'compare.csv'} and {out / 'compare_accuracy.png'}"   # no interval with a single run: no forest


def test_the_refused_inputs_are_one_line_each(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([])
    assert exit_.value.code == 2 and capsys.readouterr().err.splitlines()[-1] == \
        "python -m nnexp.compare: error: the following arguments are required: directories"
    with pytest.raises(SystemExit) as exit_:
        main([str(tmp_path)])
    assert exit_.value.code == 2 and capsys.readouterr().err.splitlines()[-1] == \
        "python -m nnexp.compare: error: give at least two directories to compare"
    file = tmp_path / "notes.txt"
    file.write_text("")
    assert main([str(tmp_path), str(file), "--out", str(tmp_path / "out")]) == 1
    assert capsys.readouterr().err == (f"nnexp.compare: error: {tmp_path} holds no run (result.json) and no sweep "
                                       "jobs; give sweep or run directories\n")
    run = write_job(tmp_path / "run", {"lr": 0.1}, {"test_acc": 0.8})
    assert main([str(run), str(file), "--out", str(tmp_path / "out")]) == 1
    assert capsys.readouterr().err == (f"nnexp.compare: error: {file} is not a directory; give sweep or run "
                                       "directories\n")
    assert not (tmp_path / "out").exists()


def test_the_help_says_what_to_give(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert exit_.value.code == 0 and text.startswith("usage: python -m nnexp.compare [-h] [--out OUT] directories")
    assert "sweeps or runs side by side, joined on their swept keys" in text
    assert "directories two or more sweep or run directories" in text
    assert "--out OUT folder for compare.csv and the figure (default outputs/compare/<time>)" in text
