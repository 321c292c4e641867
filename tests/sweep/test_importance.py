"""Views of many swept keys: the axes and positions the parallel coordinates draw, the importance ranking
(it must find the key the score truly depends on), and the warning when the jobs are too few."""

import itertools

import numpy as np
import pandas as pd
import pytest

from nnexp.figures import key_plots, style
from nnexp.sweep.importance import axis_of, importance_frame, jobs_to_trust, parallel_frame, trust_note
from nnexp.sweep.summary import choose
from nnexp.sweep.views import many_key_figures


def synthetic(score, seeds=2, noise=0.002):
    """Results of a full grid lr x epochs x optimizer x seed whose validation accuracy is ``score(row)`` plus
    Gaussian noise (fixed generator): the shape of results.csv, every job completed."""
    rng = np.random.default_rng(0)
    rows = [{"job": i, "status": "completed", "lr": lr, "epochs": e, "optimizer": opt, "seed": s}
            for i, (lr, e, opt, s) in enumerate(itertools.product([0.001, 0.01, 0.1, 1.0], [1, 2, 3, 4],
                                                                  ["sgd", "adam", "rmsprop"], range(seeds)))]
    frame = pd.DataFrame(rows)
    frame["val_acc"] = [score(r) for r in frame.itertuples()] + rng.normal(0, noise, len(frame))
    frame["test_acc"] = frame["val_acc"] - 0.01
    frame["val_loss"] = frame["test_loss"] = 1 - frame["val_acc"]
    return frame


KEYS = ["lr", "epochs", "optimizer", "seed"]


def test_each_key_gets_the_axis_of_its_values():
    lr = axis_of("lr", pd.Series([0.3, 0.03, 0.1, 0.1]))
    assert (lr.kind, lr.values) == ("log", [0.03, 0.1, 0.3])        # a rate: log, values sorted
    np.testing.assert_allclose(lr.positions(pd.Series([0.03, 0.1, 0.3])), [0, np.log10(0.1 / 0.03), 1])
    assert axis_of("epochs", pd.Series([1, 2, 3])).kind == "linear"
    assert axis_of("batch_size", pd.Series([1, 10])).kind == "linear"    # one decade: linear
    assert axis_of("batch_size", pd.Series([1, 10, 500])).kind == "log"  # over two decades: log
    optimizer = axis_of("optimizer", pd.Series(["sgd", "adam", "sgd", "rmsprop"]))
    assert (optimizer.kind, optimizer.values) == ("category", ["sgd", "adam", "rmsprop"])   # grid order
    np.testing.assert_allclose(optimizer.positions(pd.Series(["adam", "rmsprop", "sgd"])), [0.5, 1, 0])
    hidden = axis_of("model.hidden", pd.Series(["[100]", "[200,100]"]))
    assert hidden.kind == "category" and [t for _, t in hidden.ticks()] == ["[100]", "[200,100]"]
    shuffle = axis_of("shuffle", pd.Series([True, False]))
    assert shuffle.kind == "linear" and shuffle.ticks() == [(0.0, "false"), (1.0, "true")]


def test_the_importance_ranking_finds_the_key_that_matters():
    """The score rises with log(lr) alone: lr must come first by far, with rho near +1; the other keys (and the
    seed) near zero. Break tried: permuting the wrong column (importances in key order) fails here."""
    results = synthetic(lambda r: 0.8 + 0.04 * np.log10(r.lr))
    ranking, oob = importance_frame(results, KEYS, "val_acc")
    assert ranking["key"].iloc[0] == "lr"
    assert ranking["importance"].iloc[0] > 10 * ranking["importance"].iloc[1:].abs().max()
    assert ranking.set_index("key").loc["lr", "spearman"] > 0.95 and oob > 0.9
    assert np.isnan(ranking.set_index("key").loc["optimizer", "spearman"])   # categorical: no order


def test_a_categorical_key_that_matters_comes_first():
    gains = {"sgd": 0.0, "adam": 0.05, "rmsprop": 0.02}
    ranking, _ = importance_frame(synthetic(lambda r: 0.8 + gains[r.optimizer] + 0.001 * r.epochs), KEYS, "val_acc")
    assert ranking["key"].tolist()[:2] == ["optimizer", "epochs"]


def test_the_parallel_coordinates_draw_each_job_at_its_values_and_the_best_on_top(tmp_path, monkeypatch):
    """What is plotted: one line per job through its positions; the thick red lines are the best configuration's
    jobs; the colours follow the score. The note says how many jobs the view rests on."""
    results = synthetic(lambda r: 0.8 + 0.04 * np.log10(r.lr) + 0.01 * (r.optimizer == "adam"), noise=0)
    choice = choose(results, KEYS)
    figures = []
    monkeypatch.setattr(key_plots, "save", lambda fig, path: figures.append(fig) or style.save(fig, path))
    drawn = many_key_figures(tmp_path, results, choice)
    assert [file for _, file in drawn] == ["parallel_coordinates.png", "key_importance.png"]
    ax = figures[0].axes[0]
    jobs, best = ax.collections
    expected = np.column_stack([np.log10(results["lr"] / 0.001) / 3, (results["epochs"] - 1) / 3,
                                results["optimizer"].map({"sgd": 0, "adam": 0.5, "rmsprop": 1})])
    order = np.argsort(results["val_acc"].to_numpy(), kind="stable")      # drawn worst first, best on top
    y = np.array([segment[:, 1] for segment in jobs.get_segments()])        # (jobs in drawing order, axes)
    assert np.abs(y - expected[order]).max() <= key_plots.FAN + 1e-12       # each job at its values, fanned
    assert [segment[:, 0].tolist() for segment in jobs.get_segments()][0] == [0, 1, 2]   # one axis per key
    at_top = results["lr"].to_numpy()[order] == 1.0                         # jobs meeting at lr=1 on axis 0:
    assert np.all(np.diff(y[at_top, 0]) > 0)                                # fanned out in order of score
    winners = results[(results["lr"] == 1.0) & (results["optimizer"] == "adam")]      # every epochs value ties
    assert choice.best["lr"] == 1.0 and choice.best["optimizer"] == "adam"
    assert len(best.get_segments()) == len(winners[winners["epochs"] == choice.best["epochs"]]) == 2
    colours = jobs.get_colors()
    assert np.linalg.norm(colours[-1] - colours[0]) > 0.5       # lowest score first, highest last: far apart
    texts = " ".join(t.get_text() for t in figures[0].texts)
    assert "96 completed jobs (48 configurations) over 3 keys" in texts and "WARNING" not in texts


def test_too_few_jobs_carry_a_warning_on_both_figures(tmp_path, monkeypatch):
    results = synthetic(lambda r: 0.8 + 0.04 * np.log10(r.lr), seeds=1).query("epochs <= 2 and lr >= 0.01")
    figures = []
    monkeypatch.setattr(key_plots, "save", lambda fig, path: figures.append(fig) or style.save(fig, path))
    many_key_figures(tmp_path, results, choose(results, KEYS))
    for fig in figures:
        text = " ".join(t.get_text() for t in fig.texts)
        assert "WARNING: 18 completed jobs (18 configurations) over 3 keys: too few to trust\n(fewer than 30" in text


@pytest.mark.parametrize("n_keys, needed", [(1, 20), (2, 20), (3, 30), (5, 50)])
def test_the_threshold_is_ten_jobs_per_key_and_at_least_twenty(n_keys, needed):
    assert jobs_to_trust(n_keys) == needed
    assert trust_note(needed - 1, needed - 1, n_keys)[1] and not trust_note(needed, needed, n_keys)[1]


def test_the_frame_keeps_one_row_per_job_with_its_score():
    results = synthetic(lambda r: 0.5 + 0.1 * r.epochs, seeds=1)
    frame, axes = parallel_frame(results, ["lr", "epochs"], "val_acc", results["lr"] == 1.0)
    assert len(frame) == len(results) and frame["best"].sum() == 12
    np.testing.assert_allclose(frame["score"], results["val_acc"])
    assert [a.kind for a in axes] == ["log", "linear"]
