"""Many comparisons at once, tested as statistics: the family-wise rate of compare's ``significant``
under the null, Holm's p_adj recomputed by hand, the configurations tied with the best, and the seed
count of the power calculation against a simulation."""

import numpy as np
import pandas as pd
import pytest
from helpers import holm_by_hand
from scipy import stats
from statsmodels.stats.power import TTestIndPower, TTestPower

import nnexp.sweep.summary as summary_module
from nnexp.sweep.side_by_side import statistics
from nnexp.sweep.summary import ALPHA, choose, difference, holm, seeds_needed, summary_frame, versus_best
from nnexp.sweep.sweep_report import best_text

LRS = [0.05, 0.1, 0.2, 0.3, 0.4, 0.5]
"""Six configurations, as in the comparison of issue 22 (lr x epochs, six rows)."""


def results_table(means, sds, seeds, rng, metric="val_acc"):
    """A results.csv of completed jobs: for every lr of LRS, ``metric`` drawn from N(mean, sd) per seed."""
    scores = [[rng.normal(mean, sd) for _ in seeds] for mean, sd in zip(means, sds)]
    return scores_table(scores, seeds, metric)


def scores_table(scores, seeds, metric="val_acc"):
    """A results.csv of completed jobs with ``scores[i][j]`` the ``metric`` of LRS[i] and seeds[j]."""
    rows = [{"job": 0, "status": "completed", "lr": lr, "seed": seed, metric: float(value)}
            for lr, row in zip(LRS, scores) for seed, value in zip(seeds, row)]
    frame = pd.DataFrame(rows).assign(job=lambda f: range(len(f)))
    for score in ("val_acc", "test_acc", "val_loss", "test_loss"):
        if score not in frame:
            frame[score] = np.nan if score != "test_acc" else frame[metric]
    return frame


def null_families(families, seeds, seed=2026):
    """Scores of ``families`` comparisons of two sweeps drawn from one distribution: (2, families,
    six configurations, seeds), N(0.97, 0.002^2)."""
    return np.random.default_rng(seed).normal(0.97, 0.002, (2, families, len(LRS), seeds))


def holm_rows(p):
    """Holm's step-down adjustment of each row of ``p`` (families, m) at once, without NaN."""
    m = p.shape[1]
    order = np.argsort(p, axis=1, kind="stable")
    steps = np.take_along_axis(p, order, axis=1) * (m - np.arange(m))
    adjusted = np.empty_like(p)
    np.put_along_axis(adjusted, order, np.minimum(1.0, np.maximum.accumulate(steps, axis=1)), axis=1)
    return adjusted


def null_decisions(draws, test):
    """Per family and configuration, what compare's ``statistics`` must find for B - A, written out
    with SciPy over all families at once: the raw p-value and whether Holm's p_adj < ALPHA."""
    a, b = draws
    p = (stats.ttest_rel(b, a, axis=-1) if test == "paired" else stats.ttest_ind(b, a, equal_var=False, axis=-1)).pvalue
    return p, holm_rows(p) < ALPHA


@pytest.mark.parametrize("a_seeds, b_seeds, test", [(range(5), range(5), "paired"),
                                                    (range(5), range(5, 10), "welch")])
def test_under_the_null_any_significant_stays_at_5_percent_only_with_the_adjustment(a_seeds, b_seeds, test):
    """Six null comparisons at 0.05 flag at least one about 1 - 0.95^6 = 26% of the time unadjusted;
    Holm keeps the family-wise rate at or below 5%. 20000 families per test design (fixed seeds),
    simulated at once with SciPy and the step-down written out (``null_decisions``): the adjusted
    rate's 95% Clopper-Pearson interval must reach down to 5% or below, the raw rate's must lie wholly
    above 15%. That compare's ``statistics`` decides as the simulation does is checked end to end on
    fifteen of these families: five with a configuration significant after Holm, five flagged by the
    raw p only, five with nothing flagged; the same p-values, the same ``significant`` per
    configuration. Break tried: ``significant`` on the raw p fails that check."""
    a_seeds, b_seeds = list(a_seeds), list(b_seeds)
    families = 20000
    draws = null_families(families, len(a_seeds))
    p, significant = null_decisions(draws, test)
    adjusted, raw = significant.any(axis=1), (p < ALPHA).any(axis=1)
    adjusted_ci = stats.binomtest(int(adjusted.sum()), families).proportion_ci(0.95)
    raw_ci = stats.binomtest(int(raw.sum()), families).proportion_ci(0.95)
    assert adjusted_ci.low <= 0.05, (adjusted.sum(), families)
    assert raw_ci.low > 0.15, (raw.sum(), families)

    kinds = [adjusted, raw & ~adjusted, ~raw]
    assert all(kind.sum() >= 5 for kind in kinds)
    for family in np.concatenate([np.flatnonzero(kind)[:5] for kind in kinds]):
        inputs = [(scores_table(draws[side, family], seeds), None, ["lr", "seed"])
                  for side, seeds in enumerate((a_seeds, b_seeds))]
        table = statistics(inputs, ["A", "B"], ["lr"], pd.DataFrame({"lr": LRS}), ["val_acc"])
        assert (table["test_B-A"] == test).all()
        np.testing.assert_allclose(table["p_val_acc_B-A"], p[family], rtol=1e-10)
        assert table["significant_B-A"].tolist() == significant[family].tolist(), family


def test_holm_matches_the_step_down_written_out():
    rng = np.random.default_rng(1)
    for m in (1, 2, 6, 20):
        p = rng.uniform(0, 0.2, m)
        p[rng.uniform(size=m) < 0.2] = np.nan
        np.testing.assert_allclose(holm(p).to_numpy(), holm_by_hand(p), equal_nan=True)
    assert list(holm([0.01, 0.04, 0.03])) == pytest.approx([0.03, 0.06, 0.06])   # 3 x 0.01; 2 x 0.03; max(0.06, 0.04)


def tied_sweep(seeds_b=None, seed=7):
    """Six configurations, 5 seeds: two near the top (0.975, 0.9748), a middle one, three clearly worse.
    ``seeds_b``: the seeds of the second-best configuration when they differ from the others'."""
    rng = np.random.default_rng(seed)
    frame = results_table([0.975, 0.9748, 0.973, 0.965, 0.960, 0.955], [0.0015] * 6, range(5), rng)
    if seeds_b is not None:
        frame.loc[frame["lr"] == 0.1, "seed"] = seeds_b
    return frame


@pytest.mark.parametrize("seeds_b, test", [(None, "paired"), ([5, 6, 7, 8, 9], "welch")])
def test_the_tie_list_is_the_configurations_whose_recomputed_p_adj_is_at_least_alpha(seeds_b, test):
    results = tied_sweep(seeds_b)
    choice = choose(results, ["lr", "seed"])
    summary = choice.summary.set_index("lr")
    best_lr = summary["val_acc_mean"].idxmax()
    best = results[results["lr"] == best_lr].sort_values("seed")["val_acc"].to_numpy()
    others = [lr for lr in LRS if lr != best_lr]
    p = []
    for lr in others:
        scores = results[results["lr"] == lr].sort_values("seed")["val_acc"].to_numpy()
        same_seeds = sorted(results.loc[results["lr"] == lr, "seed"]) == list(range(5))
        p.append(stats.ttest_rel(scores, best).pvalue if same_seeds
                 else stats.ttest_ind(scores, best, equal_var=False).pvalue)
    expected = pd.Series(holm_by_hand(p), index=others)
    np.testing.assert_allclose(summary.loc[others, "p_adj_vs_best"], expected)
    assert pd.isna(summary.loc[best_lr, "p_adj_vs_best"]) and summary.loc[best_lr, "tied_with_best"] is None
    tied = sorted(expected.index[expected >= ALPHA])
    assert sorted(summary.index[summary["tied_with_best"].eq(True)]) == tied
    assert 1 <= len(tied) < 5, "the sweep should have ties and clear losers, to test both"
    text = best_text(results, choice)
    assert f"{len(tied)} of the other 5 configurations are within noise of it." in text
    table = text.split("Within noise of the best")[1].split("\n\n")[1]
    by_score = summary.loc[tied, "val_acc_mean"].sort_values(ascending=False).index   # best first
    assert [line.split("|")[1].strip() for line in table.splitlines()[2:]] == [f"`lr={lr:g}`" for lr in by_score]
    for lr in tied:
        assert f"| {expected[lr]:.4f} |" in table
    design = {"paired": "(paired over seeds)", "welch": "(Welch)"}[test]
    assert design in text.split("runner-up")[1]


def test_with_one_seed_per_configuration_ties_cannot_be_judged():
    results = tied_sweep().query("seed == 0")
    choice = choose(results, ["lr", "seed"])
    assert choice.summary["tied_with_best"].isna().all()
    text = best_text(results, choice)
    assert "One seed per configuration" in text and "cannot be judged" in text and "within noise of it" not in text


@pytest.mark.parametrize("paired", [True, False])
def test_the_seed_count_is_the_fewest_that_give_80_percent_power_in_simulation(paired):
    """The observed samples taken as the truth: with n = seeds_needed(a, b) seeds per side, a two-sided
    t-test at 0.05 on fresh draws rejects in at least 80% of 20000 simulated sweeps, with n - 1 in at
    most 80% (each within its binomial 99% interval). Break tried: a one-sided power calculation
    (fewer seeds, about 70% power) fails the first; a power of 0.9 the second."""
    rng = np.random.default_rng(11)
    a = rng.normal(0.975, 0.0015, 5)
    b = a + rng.normal(-0.0012, 0.0015, 5) if paired else rng.normal(0.9738, 0.0015, 5)
    ids = list(range(5)) if paired else None
    n = int(seeds_needed(a, b, ids, ids))
    assert 5 < n < 60, n

    def power_interval(seeds, sims=20000):
        draws = np.random.default_rng(3)
        if paired:
            d = b - a
            p = stats.ttest_1samp(draws.normal(d.mean(), d.std(ddof=1), (sims, seeds)), 0, axis=1).pvalue
        else:
            x = draws.normal(a.mean(), a.std(ddof=1), (sims, seeds))
            y = draws.normal(b.mean(), b.std(ddof=1), (sims, seeds))
            p = stats.ttest_ind(x, y, axis=1).pvalue
        return stats.binomtest(int((p < 0.05).sum()), sims).proportion_ci(0.99)

    assert power_interval(n).high >= 0.8
    assert power_interval(n - 1).low <= 0.8


VERSUS_COLUMNS = ["diff", "lo", "hi", "p", "test", "p_adj_vs_best", "tied_with_best"]


def small_sweep():
    """lr in an unsorted order of appearance, one configuration with lr left empty (NaN), two seeds each
    (lr 0.2 ran other seeds: Welch), lr 0.5 one seed only; lr 0.1 the best on val_acc."""
    scores = [(0.3, [0, 1], [0.931, 0.928]), (np.nan, [0, 1], [0.952, 0.949]), (0.1, [0, 1], [0.962, 0.958]),
              (0.2, [2, 3], [0.955, 0.947]), (0.5, [0], [0.940])]
    rows = [{"status": "completed", "lr": lr, "seed": seed, "val_acc": value}
            for lr, seeds, values in scores for seed, value in zip(seeds, values)]
    rows.append({"status": "failed", "lr": 0.3, "seed": 2, "val_acc": 0.999})   # not a replicate: it failed
    frame = pd.DataFrame(rows).assign(job=lambda f: range(len(f)))
    return frame.assign(test_acc=frame["val_acc"], val_loss=1 - frame["val_acc"], test_loss=np.nan)


def versus(results, replicates=("seed",), config_keys=("lr",)):
    summary = summary_frame(results, list(config_keys))
    best = summary.loc[summary["val_acc_mean"].idxmax()]
    return summary, best, versus_best(results, summary, best, "val_acc", list(config_keys), list(replicates))


def jobs_with(results, lr):
    done = results[results["status"] == "completed"]
    return done[done["lr"].isna()] if np.isnan(lr) else done[done["lr"] == lr]


def test_versus_best_is_difference_to_the_best_row_by_row_then_holm_and_the_tie_rule():
    """Each configuration with two seeds against the best (also of two): ``difference(best, row)`` with the
    seeds as pair ids, in the summary's row order (not sorted, the empty lr a row of its own); the best row
    and the one-seed row not compared (NaN, test "", tie None); p_adj Holm over the three compared.
    Without replicate keys, every comparison is Welch's."""
    results = small_sweep()
    summary, best, table = versus(results)
    assert summary["lr"].tolist()[2:] == [0.1, 0.2, 0.5] and summary["n"].tolist() == [2, 2, 2, 2, 1]
    assert best.name == 2 and table.columns.tolist() == VERSUS_COLUMNS and table.index.equals(summary.index)
    best_jobs = jobs_with(results, 0.1)
    compared = [0, 1, 3]
    for index in compared:
        jobs = jobs_with(results, summary.loc[index, "lr"])
        expected = difference(best_jobs["val_acc"], jobs["val_acc"], list(best_jobs["seed"]), list(jobs["seed"]))
        assert table.loc[index, ["diff", "lo", "hi", "p"]].tolist() == [expected[c] for c in ("diff", "lo", "hi", "p")]
        assert table.loc[index, "test"] == expected["test"] == ("welch" if index == 3 else "paired")
    adjusted = holm_by_hand(table.loc[compared, "p"])
    np.testing.assert_allclose(table.loc[compared, "p_adj_vs_best"], adjusted)
    assert table.loc[compared, "tied_with_best"].tolist() == [bool(p >= ALPHA) for p in adjusted]
    assert table.loc[compared, "tied_with_best"].tolist() == [False, True, True]
    for index in (2, 4):
        assert table.loc[index, ["diff", "lo", "hi", "p", "p_adj_vs_best"]].isna().all(), index
        assert table.loc[index, "test"] == "" and table.loc[index, "tied_with_best"] is None

    _, _, welch = versus(results, replicates=())
    assert welch.loc[compared, "test"].tolist() == ["welch"] * 3
    for index in compared:
        expected = difference(best_jobs["val_acc"], jobs_with(results, summary.loc[index, "lr"])["val_acc"])
        assert welch.loc[index, "p"] == expected["p"]


def test_a_best_configuration_of_one_seed_is_compared_with_nothing():
    """The best mean from a single seed: no test against it, not even a difference of the means."""
    results = small_sweep()
    results.loc[results["lr"] == 0.5, "val_acc"] = 0.999
    summary, best, table = versus(results)
    assert best["lr"] == 0.5 and best["n"] == 1
    assert table.columns.tolist() == VERSUS_COLUMNS
    assert table[["diff", "lo", "hi", "p", "p_adj_vs_best"]].isna().all().all()
    assert (table["test"] == "").all() and table["tied_with_best"].isna().all()


def test_a_sweep_of_seeds_alone_is_one_configuration_compared_with_nothing():
    results = small_sweep().query("lr == 0.1")
    choice = choose(results, ["lr", "seed"])
    assert choice.config_keys == [] and len(choice.summary) == 1 and choice.summary["n"].tolist() == [2]
    _, _, table = versus(results, config_keys=())
    assert table.columns.tolist() == VERSUS_COLUMNS and len(table) == 1
    assert pd.isna(table["p"].iloc[0]) and table["test"].iloc[0] == "" and table["tied_with_best"].iloc[0] is None


@pytest.mark.parametrize("p, tied", [(ALPHA, True), (np.nextafter(ALPHA, 0), False)])
def test_an_adjusted_p_of_exactly_alpha_is_a_tie(monkeypatch, p, tied):
    """Significant is p_adj < ALPHA (as compare's ``significant``), so p_adj = ALPHA is within noise. No
    t-test gives exactly 0.05: ``difference`` is replaced by one that does (one comparison: Holm keeps it)."""
    results = small_sweep().query("lr in (0.1, 0.3)")
    monkeypatch.setattr(summary_module, "difference",
                        lambda *args: {"diff": -0.026, "lo": -0.05, "hi": -0.002, "p": p, "test": "paired"})
    _, best, table = versus(results)
    assert best["lr"] == 0.1 and table.loc[0, "p_adj_vs_best"] == p
    assert table.loc[0, "tied_with_best"] is tied


def test_seeds_needed_wants_two_values_on_each_side():
    """NaN below two values on either side; with exactly two each, statsmodels' answer rounded up."""
    assert np.isnan(seeds_needed([0.90], [0.85, 0.86, 0.84])) and np.isnan(seeds_needed([0.85, 0.86, 0.84], [0.90]))
    assert np.isnan(seeds_needed([0.90, np.nan], [0.85, 0.86, 0.84]))
    a, b = [0.90, 0.92], [0.85, 0.86]
    effect = (np.mean(a) - np.mean(b)) / np.sqrt((np.var(a, ddof=1) + np.var(b, ddof=1)) / 2)
    expected = np.ceil(TTestIndPower().solve_power(effect_size=effect, alpha=0.05, power=0.8))
    assert seeds_needed(a, b) == seeds_needed(b, a) == expected == 3


def test_seeds_needed_is_infinite_for_equal_means_and_finite_for_an_effect_of_one_sd():
    """Equal means: no seed count finds a difference. An effect size of exactly 1 (differences 0, 1/8, 1/4
    over three seeds: mean = sd = 1/8) is an ordinary one: TTestPower's 10 seeds."""
    assert seeds_needed([0.90, 0.92, 0.91], [0.91, 0.90, 0.92]) == np.inf
    a, b = [0.5, 0.75, 0.625], [0.5, 0.875, 0.875]
    expected = np.ceil(TTestPower().solve_power(effect_size=1.0, alpha=0.05, power=0.8, alternative="two-sided"))
    assert seeds_needed(a, b, [0, 1, 2], [0, 1, 2]) == expected == 10


def test_two_seeds_are_enough_when_two_give_the_power_and_samples_without_spread_differ():
    """Samples without spread and different means are told apart by the fewest seeds a t-test takes, 2 (the
    report said "their means are equal"; near-constant samples made statsmodels' solver fail, NaN, and the
    line was left out). Two constant samples of the same value stay infinite."""
    assert seeds_needed([0.9] * 3, [0.8] * 3) == seeds_needed([0.9] * 3, [0.8] * 3, [0, 1, 2], [0, 1, 2]) == 2
    assert seeds_needed([0.9, 0.9 + 1e-12, 0.9], [0.8, 0.8, 0.8 - 1e-12]) == 2
    assert seeds_needed([0.9] * 3, [0.9] * 3) == np.inf
    a, b = [0.90, 0.91, 0.92], [0.50, 0.51, 0.52]   # an effect of 40 sds: statsmodels' power at n = 2 is over 0.8
    assert TTestIndPower().power(40.0, 2, 0.05) > 0.8 and seeds_needed(a, b) == 2
