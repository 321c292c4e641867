"""The parts of the search sweeper one at a time: the space typed in Hydra's grammar, ASHA's rungs and
promotions, and the numbers the search report draws (from their data)."""

import math

import optuna
import pandas as pd
import pytest
from scipy import stats

from nnexp.errors import ConfigError
from nnexp.sweep.asha import Record, last_promotion, promotion, ranked, rungs
from nnexp.sweep.search_report import epochs_accounting, first_within, rank_correlation, trace_frame
from nnexp.sweep.search_setup import check_options, corner_points
from nnexp.sweep.space import parse_space

# the space


def test_each_kind_of_sweep_becomes_its_optuna_distribution():
    space = parse_space(["lr=tag(log, interval(0.001, 1))", "momentum=interval(0, 0.9)",
                         "batch_size=int(interval(1, 64))", "model.hidden=[50],[100]", "optimizer=choice(sgd,adam)",
                         "seed=range(0, 6, 2)", "x=range(0.1, 0.3, 0.1)", "data.train_size=300", "epochs=9"])
    d = space.distributions
    assert d["lr"] == optuna.distributions.FloatDistribution(0.001, 1.0, log=True)
    assert d["momentum"] == optuna.distributions.FloatDistribution(0.0, 0.9)
    assert d["batch_size"] == optuna.distributions.IntDistribution(1, 64)
    assert d["model.hidden"] == optuna.distributions.CategoricalDistribution(["[50]", "[100]"])
    assert d["optimizer"] == optuna.distributions.CategoricalDistribution(["sgd", "adam"])
    assert d["seed"] == optuna.distributions.IntDistribution(0, 4, step=2)
    assert list(d["x"].choices) == pytest.approx([0.1, 0.2])
    assert space.budget == 9 and space.fixed == {"data.train_size": "data.train_size=300"}
    assert space.size() is None    # lr is an interval


def test_a_jobs_overrides_give_each_key_its_value_as_hydra_reads_it_back():
    space = parse_space(["+foo=bar", "lr=tag(log, interval(0.001, 1))", "model.hidden=[50],[100]", "seed=3",
                         "epochs=9"])
    params = {"lr": 0.012345678901234567, "model.hidden": "[100]"}
    assert space.overrides(params, 3) == ["+foo=bar", "seed=3", "lr=0.012345678901234567", "model.hidden=[100]",
                                          "epochs=3"]
    assert space.overrides(params, 9, seed=1)[-2:] == ["epochs=9", "seed=1"]
    assert "seed=3" not in space.overrides(params, 9, seed=1)


def test_the_command_line_replaces_a_key_of_the_sweepers_params():
    space = parse_space(["lr=0.1,0.2"], params={"lr": "interval(0.001, 1)", "batch_size": "1,10"})
    assert list(space.dimensions) == ["lr", "batch_size"] and list(space.dimensions["lr"].grid) == [0.1, 0.2]
    assert space.grid() == {"lr": [0.1, 0.2], "batch_size": [1, 10]} and space.size() == 4


@pytest.mark.parametrize("args, message", [
    (["lr=0.1", "epochs=3"], "at least one searched key"),
    (["lr=0.1,0.2", "epochs=1,3"], "epochs is the full budget"),
    (["lr=interval(1, 0.5)"], "is empty"),
    (["lr=tag(log, interval(0, 1))"], "low end above 0"),
    (["lr=0.1,0.1"], "lists a value twice"),
])
def test_a_space_that_cannot_be_searched_is_one_line(args, message):
    with pytest.raises(ConfigError, match=message):
        parse_space(args)


def test_the_grid_sampler_refuses_an_interval():
    with pytest.raises(ConfigError, match="sampler=grid needs discrete values, and lr is an interval"):
        parse_space(["lr=interval(0.1, 1)", "batch_size=1,10"]).grid()


def test_the_corner_points_give_every_value_of_every_key_once():
    space = parse_space(["lr=interval(0.1, 1)", "batch_size=1,10,100"])
    points = corner_points(space)
    assert points == [{"lr": 0.1, "batch_size": 1}, {"lr": 1.0, "batch_size": 1}, {"lr": 0.1, "batch_size": 10},
                      {"lr": 0.1, "batch_size": 100}]


@pytest.mark.parametrize("key, value", [("n_trials", 0), ("eta", 1), ("min_epochs", 0), ("n_jobs", 0),
                                        ("replicates", -1)])
def test_sweeper_settings_out_of_range_are_refused(key, value):
    options = {"n_trials": None, "n_jobs": None, "eta": 3, "min_epochs": 1, "replicates": 0, "replicate_seeds": []}
    with pytest.raises(ConfigError, match=f"hydra.sweeper.{key}={value} must be at least"):
        check_options({**options, key: value})


# ASHA


@pytest.mark.parametrize("min_epochs, eta, budget, expected", [
    (1, 3, 27, [1, 3, 9, 27]), (1, 3, 10, [1, 3, 9, 10]), (2, 2, 9, [2, 4, 8, 9]), (1, 3, 1, [1]), (3, 3, 9, [3, 9])])
def test_rungs_grow_by_eta_up_to_the_budget(min_epochs, eta, budget, expected):
    assert rungs(min_epochs, eta, budget) == expected


def test_ranking_puts_failed_last_and_breaks_ties_by_trial():
    assert ranked({0: 0.5, 1: math.nan, 2: 0.7, 3: 0.5}, maximize=True) == [2, 0, 3, 1]
    assert ranked({0: 0.5, 1: math.nan, 2: 0.7, 3: 0.5}, maximize=False) == [0, 3, 2, 1]


def done(config, rung, score):
    return Record(config, rung, True, score)


def test_a_slot_takes_the_top_third_of_a_rung_from_the_highest_rung_down():
    records = [done(c, 0, s) for c, s in enumerate([0.1, 0.9, 0.5, 0.8, 0.2, 0.3])]   # 6 at rung 0: top 2
    assert promotion(records, 3, 3, maximize=True) == (1, 1)
    records.append(Record(1, 1, False))                                             # 1 is running at rung 1
    assert promotion(records, 3, 3, maximize=True) == (3, 1)
    records += [Record(3, 1, True, 0.85), done(5, 1, 0.4)]
    assert promotion(records, 3, 3, maximize=True) is None                           # 2 of rung 0's top 2 are up
    records[-3] = done(1, 1, 0.95)                                                   # rung 1: 3 finished, top 1
    assert promotion(records, 3, 3, maximize=True) == (1, 2)
    assert promotion(records, 3, 3, maximize=False) == (5, 2)                        # minimising: 0.4 is best


def test_a_failed_trial_counts_in_its_rung_but_is_never_promoted():
    records = [done(0, 0, math.nan), done(1, 0, math.nan), done(2, 0, math.nan)]
    assert promotion(records, 2, 3, maximize=True) is None
    records.append(done(3, 0, 0.2))
    assert promotion(records, 2, 3, maximize=True) == (3, 1)


def test_at_the_end_the_best_paused_trial_is_carried_to_the_full_budget():
    records = [done(0, 0, 0.3), done(1, 0, 0.6), done(1, 1, 0.7), done(2, 0, 0.5)]
    assert last_promotion(records, 3, maximize=True) == (1, 2)
    assert last_promotion([*records, done(1, 2, 0.8)], 3, maximize=True) is None
    assert last_promotion([*records, done(1, 2, 0.8)], 3, maximize=True, wanted=2) == (2, 1)


# the numbers the report draws


def table(rows):
    columns = ["job", "trial", "rung", "epochs", "seed", "state", "score", "epochs_trained", "finished_at"]
    return pd.DataFrame(rows, columns=columns)


SEARCH = table([
    [0, 0, 0, 1, None, "pruned", 0.50, 1, "2026-01-01T00:00:01"],
    [1, 1, 0, 1, None, "pruned", 0.70, 1, "2026-01-01T00:00:02"],
    [2, 1, 1, 3, None, "complete", 0.80, 2, "2026-01-01T00:00:04"],
    [3, 2, 0, 1, None, "pruned", 0.60, 1, "2026-01-01T00:00:03"],
    [4, 2, 1, 3, None, "complete", 0.85, 2, "2026-01-01T00:00:06"],
    [5, 0, 1, 3, None, "complete", 0.75, 2, "2026-01-01T00:00:05"],
    [6, 1, 1, 3, 1.0, "complete", 0.99, 3, "2026-01-01T00:00:07"],     # a retraining with seed 1: not in the trace
    [7, 3, 0, 1, None, "running", None, None, None],
])


def test_the_trace_is_the_best_full_budget_score_against_the_epochs_trained_in_the_order_jobs_ended():
    trace = trace_frame(SEARCH, "val_acc")
    assert trace["epochs"].tolist() == [1, 2, 3, 5, 7, 9]
    assert trace["best"].tolist()[:3] == [None] * 3 or trace["best"].isna().tolist()[:3] == [True] * 3
    assert trace["best"].tolist()[3:] == [0.80, 0.80, 0.85]
    assert first_within(trace, 0.853) == 9 and first_within(trace, 0.802) == 5 and math.isnan(first_within(trace, 0.9))
    assert trace_frame(SEARCH, "val_loss")["best"].tolist()[3:] == [0.80, 0.75, 0.75]


def test_epochs_saved_by_promotion_and_the_rank_correlation_of_rung_0_with_the_full_budget():
    assert epochs_accounting(SEARCH) == (1 + 1 + 2 + 1 + 2 + 2 + 3, 1 + 1 + 3 + 1 + 3 + 3 + 3)
    rho, pairs = rank_correlation(SEARCH)
    assert pairs == 3 and rho == pytest.approx(stats.spearmanr([0.5, 0.7, 0.6], [0.75, 0.8, 0.85]).statistic)


def test_a_search_fills_as_many_slots_as_its_launcher_runs_jobs_at_once():
    import os
    from types import SimpleNamespace

    from hydra_plugins.nnexp_sweeper.search import launcher_slots

    assert launcher_slots(SimpleNamespace(joblib={"n_jobs": 3})) == 3
    assert launcher_slots(SimpleNamespace(joblib={"n_jobs": -1})) == os.cpu_count()
    assert launcher_slots(SimpleNamespace(params={"array_parallelism": 64})) == 64
    assert launcher_slots(SimpleNamespace()) == 1
