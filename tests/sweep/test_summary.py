"""Seeds as replicates: the statistics against scipy.stats, selection on validation, summary.csv and
the report of a real seed sweep, and compare's tests."""

import numpy as np
import pandas as pd
import pytest
from helpers import TINY, holm_by_hand, run_cli
from scipy import stats

from nnexp.compare import main as compare_main
from nnexp.sweep.collect import varying
from nnexp.sweep.summary import (
    STATISTICS,
    best_configuration,
    best_job,
    choose,
    difference,
    grouped_intervals,
    interval,
    jobs_of,
    key_kinds,
    same_value,
    samples_of,
    selection_metric,
    summary_frame,
)


def test_interval_is_the_student_t_interval_of_the_mean():
    values = [0.91, 0.93, 0.92, 0.95, 0.90]
    low, high = stats.t.interval(0.95, len(values) - 1, loc=np.mean(values), scale=stats.sem(values))
    got = interval(values)
    assert got["n"] == 5 and got["mean"] == pytest.approx(np.mean(values))
    assert got["sd"] == pytest.approx(np.std(values, ddof=1))
    assert got["ci95"] == pytest.approx((high - low) / 2)
    assert (got["min"], got["max"]) == (0.90, 0.95)
    assert np.isnan(interval([0.9])["ci95"]) and interval([0.9, np.nan])["n"] == 1


def test_difference_is_welch_or_paired_as_scipy_computes_them():
    a, b = [0.90, 0.92, 0.91, 0.93], [0.94, 0.95, 0.93, 0.97, 0.96]
    welch = difference(a, b)
    assert welch["test"] == "welch" and welch["p"] == pytest.approx(stats.ttest_ind(b, a, equal_var=False).pvalue)
    result = stats.ttest_ind(b, a, equal_var=False)
    low, high = result.confidence_interval(0.95)
    assert (welch["lo"], welch["hi"]) == (pytest.approx(low), pytest.approx(high))
    seeds = [0, 1, 2, 3]
    paired = difference(a, [0.91, 0.935, 0.915, 0.94], seeds, [0, 1, 2, 3])
    assert paired["test"] == "paired"
    assert paired["p"] == pytest.approx(stats.ttest_rel([0.91, 0.935, 0.915, 0.94], a).pvalue)
    low, high = stats.ttest_rel([0.91, 0.935, 0.915, 0.94], a).confidence_interval(0.95)
    assert (paired["lo"], paired["hi"]) == (pytest.approx(low), pytest.approx(high))
    shuffled = difference(a, [0.935, 0.91, 0.94, 0.915], seeds, [1, 0, 3, 2])   # pairs aligned by seed
    assert shuffled["p"] == pytest.approx(paired["p"])
    assert np.isnan(difference([0.9], [0.8, 0.85])["p"])


def results_table():
    """Two configurations x three seeds, where validation and test disagree on the best one."""
    rows = []
    for lr, val, test in ((0.1, [0.90, 0.91, 0.92], [0.95, 0.96, 0.94]), (0.3, [0.93, 0.94, 0.92], [0.93, 0.92, 0.94])):
        for seed, (v, t) in enumerate(zip(val, test)):
            rows.append({"job": len(rows), "status": "completed", "lr": lr, "seed": seed, "epochs": 2,
                         "val_acc": v, "test_acc": t, "val_loss": 1 - v, "test_loss": 1 - t})
    return pd.DataFrame(rows)


def test_the_best_configuration_is_chosen_on_the_validation_mean():
    """Break tried: choosing on test_acc picks lr=0.1 (test mean 0.95) here instead of lr=0.3."""
    results = results_table()
    config, replicates, fixed = key_kinds(results, ["lr", "seed", "epochs"])
    assert (config, replicates, fixed) == (["lr"], ["seed"], ["epochs"])
    summary = summary_frame(results, config)
    assert list(summary["n"]) == [3, 3]
    assert summary.loc[1, "val_acc_mean"] == pytest.approx(0.93)
    assert selection_metric(results) == "val_acc"
    assert best_configuration(summary, "val_acc")["lr"] == 0.3
    assert best_configuration(summary, "test_acc")["lr"] == 0.1
    no_split = results.assign(val_acc=np.nan, val_loss=np.nan)
    assert selection_metric(no_split) == "test_acc"


def test_groups_keep_their_order_of_appearance_and_a_missing_key_value_is_a_group():
    """grouped_intervals: groups in the order the sweep ran them (not sorted), a key left empty (NaN, e.g.
    no init_from) a group of its own, no key at all the whole table, and the columns written even when
    no row is left (a sweep whose every job failed)."""
    frame = pd.DataFrame({"lr": [0.3, 0.1, np.nan, 0.3, np.nan], "val_acc": [0.9, 0.8, 0.5, 0.7, 0.7]})
    grouped = grouped_intervals(frame, ["lr"], ["val_acc"])
    assert grouped["lr"].tolist()[:2] == [0.3, 0.1] and np.isnan(grouped["lr"].iloc[2])
    assert grouped["n"].tolist() == [2, 1, 2]
    assert grouped["val_acc_mean"].tolist() == pytest.approx([0.8, 0.8, 0.6])
    whole = grouped_intervals(frame, [], ["val_acc"])
    assert whole["n"].tolist() == [5] and whole["val_acc_max"].tolist() == [0.9]
    empty = grouped_intervals(frame.iloc[:0], ["lr"], ["val_acc"])
    assert empty.empty and list(empty.columns) == ["lr", "n", *[f"val_acc_{name}" for name in STATISTICS]]


def test_a_loss_is_chosen_by_its_smallest_mean_and_no_score_chooses_nothing():
    summary = pd.DataFrame({"lr": [0.1, 0.3, 1.0], "val_loss_mean": [0.4, 0.2, 0.9]})
    assert best_configuration(summary, "val_loss")["lr"] == 0.3
    assert best_configuration(summary, "val_acc") is None                 # no such column
    assert best_configuration(summary.assign(val_loss_mean=np.nan), "val_loss") is None
    assert best_configuration(pd.DataFrame(), "val_loss") is None


def test_a_regression_sweep_is_chosen_on_its_loss():
    """No accuracy (a regression): validation loss, or the test loss without a validation split."""
    regression = results_table().assign(val_acc=np.nan, test_acc=np.nan)
    assert selection_metric(regression) == "val_loss"
    assert selection_metric(regression.assign(val_loss=np.nan)) == "test_loss"


def test_same_value_compares_numbers_as_numbers_and_the_rest_as_text():
    """A summary row holds 3.0 for a key results.csv holds as 3; text keys match as text; a value that is
    not a number is matched as text even against a column pandas reads as numbers (booleans)."""
    assert same_value(pd.Series([3, 4, 3]), 3.0).tolist() == [True, False, True]
    assert same_value(pd.Series(["relu", "tanh", "relu"]), "relu").tolist() == [True, False, True]
    assert same_value(pd.Series(["[10]", "[10, 10]"]), "[10, 10]").tolist() == [False, True]
    assert same_value(pd.Series([True, False]), "True").tolist() == [True, False]
    assert same_value(pd.Series([True, False]), False).tolist() == [False, True]


def test_an_empty_key_value_finds_its_jobs_and_makes_the_key_vary():
    """grouped_intervals keeps a key left empty (NaN, e.g. no init_from) as a configuration of its own; its
    jobs are found again (jobs_of, best_job, compare), and a key empty for some jobs varies. Bug it fixed:
    with pandas 3, ``astype(str)`` keeps NaN missing (it wrote "nan"), so an empty key matched no job and a
    best configuration without init_from stopped the report with a ValueError."""
    assert same_value(pd.Series([np.nan, 0.1, np.nan]), np.nan).tolist() == [True, False, True]
    assert same_value(pd.Series([None, "w.npz"], dtype=object), np.nan).tolist() == [True, False]
    assert same_value(pd.Series([None, "w.npz"], dtype=object), "w.npz").tolist() == [False, True]
    results = pd.DataFrame({"job": [0, 1, 2, 3], "status": "completed", "init_from": [None, "w.npz", None, "w.npz"],
                            "seed": [0, 0, 1, 1], "lr": 0.1, "val_acc": [0.9, 0.5, 0.8, 0.6], "test_acc": 0.5,
                            "val_loss": 0.1, "test_loss": 0.5})
    assert varying(results, ["init_from", "seed", "lr"]) == ["init_from", "seed"]
    choice = choose(results, ["init_from", "seed", "lr"])
    assert choice.config_keys == ["init_from"] and pd.isna(choice.best["init_from"])
    assert jobs_of(results, ["init_from"], choice.best)["job"].tolist() == [0, 2]
    assert best_job(results, choice)["job"] == 0


def two_key_table():
    """lr x momentum x two seeds, val_acc the job number / 100 (job 7 the best, job 0 the worst)."""
    rows = [{"job": job, "status": "completed", "lr": lr, "momentum": momentum, "seed": seed,
             "val_acc": job / 100, "test_acc": 0.5, "val_loss": 1 - job / 100, "test_loss": 0.5}
            for job, (lr, momentum, seed) in enumerate((lr, m, s) for lr in (0.1, 0.3) for m in (0.0, 0.9)
                                                       for s in (0, 1))]
    return pd.DataFrame(rows)


def test_the_jobs_of_a_configuration_match_every_configuration_key():
    """Break tried: keeping only the last key's match returns the jobs of both learning rates."""
    results = two_key_table()
    results.loc[results["job"] == 6, "status"] = "failed"
    configuration = pd.Series({"lr": 0.3, "momentum": 0.9, "n": 2})
    assert jobs_of(results, ["lr", "momentum"], configuration)["job"].tolist() == [7]
    assert jobs_of(results, ["momentum"], configuration)["job"].tolist() == [2, 3, 7]
    assert jobs_of(results, [], configuration)["job"].tolist() == [0, 1, 2, 3, 4, 5, 7]


def test_samples_of_gives_the_scores_and_the_replicate_ids_when_a_replicate_key_was_swept():
    results = two_key_table()
    configuration = pd.Series({"lr": 0.1, "momentum": 0.9})
    scores, ids = samples_of(results, ["lr", "momentum"], ["seed"], configuration, "val_acc")
    assert scores.tolist() == [0.02, 0.03] and ids == [0, 1]
    scores, ids = samples_of(results, ["lr", "momentum"], [], configuration, "val_loss")
    assert scores.tolist() == pytest.approx([0.98, 0.97]) and ids is None


def test_the_best_job_is_the_best_replicate_of_the_chosen_configuration():
    """Accuracy: the chosen configuration's seed with the highest; loss: the lowest; no completed job, none."""
    results = two_key_table()
    results.loc[results["job"] == 6, "val_acc"] = 0.99   # lr 0.3, momentum 0.9 stays the best configuration
    choice = choose(results, ["lr", "momentum", "seed"])
    assert choice.metric == "val_acc" and (choice.best["lr"], choice.best["momentum"]) == (0.3, 0.9)
    assert best_job(results, choice)["job"] == 6
    by_loss = results.assign(val_acc=np.nan, test_acc=np.nan)
    by_loss.loc[by_loss["job"] == 7, "val_loss"] = 0.01                   # the lowest loss: job 7 of lr 0.3, 0.9
    choice = choose(by_loss, ["lr", "momentum", "seed"])
    assert choice.metric == "val_loss" and (choice.best["lr"], choice.best["momentum"]) == (0.3, 0.9)
    assert best_job(by_loss, choice)["job"] == 7
    failed = results.assign(status="failed")
    assert best_job(failed, choose(failed, ["lr", "momentum", "seed"])) is None


@pytest.mark.filterwarnings("ignore:Precision loss occurred:RuntimeWarning")   # the pairs differ by 0.04 each
def test_a_searched_key_with_one_value_is_a_configuration_key():
    """A search that tried one value of a key still searched it: it names the configuration, not a fixed setting."""
    results = two_key_table().query("momentum == 0.9")
    assert choose(results, ["lr", "momentum", "seed"]).config_keys == ["lr"]
    choice = choose(results, ["lr", "momentum", "seed"], searched=("lr", "momentum"))
    assert (choice.config_keys, choice.replicates, choice.fixed) == (["lr", "momentum"], ["seed"], [])
    assert choice.summary.columns[:3].tolist() == ["lr", "momentum", "n"]


def test_a_seed_sweep_writes_summary_and_a_report_that_names_no_seed(tmp_path):
    done = run_cli("-m", *TINY, "lr=0.1,0.3", "seed=0,1,2", "epochs=2", "hydra.callbacks.report.gif_frames=0",
                   f"hydra.sweep.dir={tmp_path}")
    assert done.returncode == 0, done.stderr
    results, summary = pd.read_csv(tmp_path / "results.csv"), pd.read_csv(tmp_path / "summary.csv")
    assert list(summary["lr"]) == [0.1, 0.3] and list(summary["n"]) == [3, 3]
    assert list(summary.columns[-2:]) == ["p_adj_vs_best", "tied_with_best"]
    for _, row in summary.iterrows():
        jobs = results[results["lr"] == row["lr"]]
        for score in ("val_acc", "test_acc", "best_test_acc"):
            expected = interval(jobs[score])
            for name in ("mean", "sd", "ci95", "min", "max"):
                assert row[f"{score}_{name}"] == pytest.approx(expected[name]), (score, name)
    best = summary.loc[summary["val_acc_mean"].idxmax()]
    text = (tmp_path / "report.md").read_text()
    section = text.split("## Best configuration")[1].split("## Results")[0]
    assert f"`lr={best['lr']:g}`: validation accuracy **{100 * best['val_acc_mean']:.2f}% ± " in section
    assert "(3 seeds)" in section and "seed=" not in section.split("Fixed")[0]
    assert "Fixed for every job: `data.train_size=200`, `model.hidden=[10]`, `epochs=2`." in section
    for name in ("accuracy_vs_lr.png", "accuracy_vs_epochs.png", "accuracy_spread.png"):
        assert (tmp_path / name).is_file(), name
    assert not (tmp_path / "accuracy_by_seed.png").exists()

    other = tmp_path.parent / (tmp_path.name + "-b")
    assert run_cli("-m", *TINY, "lr=0.1,0.3", "seed=0,1,2", "epochs=2", "model.hidden=[3]",
                   "hydra.callbacks.report.gif_frames=0", f"hydra.sweep.dir={other}").returncode == 0
    assert compare_main([str(tmp_path), str(other), "--out", str(tmp_path / "cmp")]) == 0
    table = pd.read_csv(tmp_path / "cmp" / "compare.csv")
    assert list(table["lr"]) == [0.1, 0.3] and (table["test_B-A"] == "paired").all()
    theirs = pd.read_csv(other / "results.csv")
    for score in ("val_acc", "test_acc"):
        for _, row in table.iterrows():
            a = results[results["lr"] == row["lr"]].sort_values("seed")[score]
            b = theirs[theirs["lr"] == row["lr"]].sort_values("seed")[score]
            expected = stats.ttest_rel(b.to_numpy(), a.to_numpy()).pvalue
            assert row[f"p_{score}_B-A"] == pytest.approx(expected, nan_ok=True)
            assert row["n_A"] == 3 and row["n_B"] == 3
        adjusted = holm_by_hand(table[f"p_{score}_B-A"])
        assert table[f"p_adj_{score}_B-A"].to_numpy() == pytest.approx(adjusted, nan_ok=True)
    # significant is judged on validation, the score the sweeps chose on, after adjustment
    assert list(table["significant_B-A"]) == [bool(p < 0.05) for p in holm_by_hand(table["p_val_acc_B-A"])]
