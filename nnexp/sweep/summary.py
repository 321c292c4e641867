"""Seeds as replicates, and the best configuration chosen without the test set.

A sweep's keys fall in three kinds: configuration keys (swept, not replicates), replicate keys
(``REPLICATE_KEYS``, configurable: jobs that differ only in them are repeats of one configuration)
and fixed settings (given on the command line with one value). ``summary_frame`` makes summary.csv,
one row per configuration: ``n`` (completed replicates) and, for every score of ``SCORES``, its mean,
standard deviation (n - 1), the half-width of the 95% confidence interval of the mean (Student t,
n - 1 degrees of freedom: t_{0.975, n-1} sd / sqrt(n)), min and max over the replicates.

The best configuration is the one with the best mean of the selection score: validation accuracy
(validation loss for regression) when the jobs have a validation split, else the test set's, which
is what the classics did and is optimistic (the choice is made on the numbers it reports).
"""

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .collect import varying

# scipy.stats and statsmodels are imported in the functions that use them: together about half a second of
# start-up, which a sweep without replicates (and a refused command) never needs.

REPLICATE_KEYS = ("seed",)
"""Keys whose values are replicates of one configuration (``hydra.callbacks.report.replicate_keys``)."""
SCORES = ["val_acc", "test_acc", "val_loss", "test_loss", "best_val_acc", "best_test_acc", "best_val_loss",
          "best_test_loss"]
"""Scores summarised over replicates: after the last epoch, and at each job's best epoch."""
STATISTICS = ("mean", "sd", "ci95", "min", "max")
ALPHA = 0.05
"""Level of every test: a difference is significant when its Holm-adjusted p-value is below it."""
POWER = 0.8
"""Power asked of the seed count that would tell the best configuration from the runner-up."""


def selection_metric(results):
    """The score a configuration is chosen by: val_acc, val_loss (regression), test_acc or test_loss."""
    split = "val" if "val_loss" in results and results["val_loss"].notna().any() else "test"
    return f"{split}_acc" if results[f"{split}_acc"].notna().any() else f"{split}_loss"


def higher_is_better(metric):
    return metric.endswith("_acc")


def t_975(df):
    """t_{0.975, df}, the quantile of Student's t that makes a two-sided 95% interval (``scipy.stats.t.ppf``)."""
    from scipy import stats

    return stats.t.ppf(0.975, df)


def interval(values):
    """n, mean, sd, ci95 (the half-width of the 95% t-interval of the mean), min, max of ``values``
    (NaN left out); sd and ci95 are NaN for fewer than two values."""
    values = pd.Series(values, dtype=float).dropna()
    n = len(values)
    sd = values.std(ddof=1) if n > 1 else float("nan")
    half = t_975(n - 1) * sd / np.sqrt(n) if n > 1 else float("nan")
    return {"n": n, "mean": values.mean() if n else float("nan"), "sd": sd, "ci95": half,
            "min": values.min() if n else float("nan"), "max": values.max() if n else float("nan")}


def key_kinds(results, keys, replicate_keys=REPLICATE_KEYS, searched=()):
    """(configuration keys, replicate keys, fixed keys) of a results table: a key is fixed when every
    row of the sweep has the same value for it, unless a search ``searched`` it."""
    varied = varying(results, keys)
    swept = [k for k in keys if k in varied or k in searched]
    replicates = [k for k in swept if k in replicate_keys]
    return [k for k in swept if k not in replicates], replicates, [k for k in keys if k not in swept]


def grouped_intervals(frame, by, columns):
    """One row per group of ``by`` (the whole frame when ``by`` is empty), in order of appearance:
    ``by``, ``n`` (rows in the group) and ``<column>_<statistic>`` for every column and STATISTICS."""
    rows = []
    groups = frame.groupby(by, sort=False, dropna=False) if by else [((), frame)]
    for values, part in groups:
        row = dict(zip(by, values if isinstance(values, tuple) else (values,)))
        row["n"] = len(part)
        for column in columns:
            summary = interval(part[column])
            row.update({f"{column}_{name}": summary[name] for name in STATISTICS})
        rows.append(row)
    return pd.DataFrame(rows, columns=[*by, "n", *[f"{c}_{name}" for c in columns for name in STATISTICS]])


def summary_frame(results, config_keys):
    """summary.csv: one row per configuration of the completed jobs, ``n`` and the STATISTICS of every
    score present (columns ``<score>_<statistic>``)."""
    done = results[results["status"] == "completed"]
    return grouped_intervals(done, config_keys, [s for s in SCORES if s in done and done[s].notna().any()])


def best_configuration(summary, metric):
    """The summary row with the best mean of ``metric``, or None when no configuration has one."""
    column = f"{metric}_mean"
    if summary.empty or column not in summary or summary[column].isna().all():
        return None
    return summary.loc[summary[column].idxmax() if higher_is_better(metric) else summary[column].idxmin()]


@dataclass
class Choice:
    """The best configuration of a sweep and how it was chosen, made once by ``choose``."""

    metric: str                 # the selection score (val_acc, val_loss, test_acc or test_loss)
    config_keys: list
    replicates: list            # the replicate keys that were swept
    fixed: list                 # keys with one value for every job
    summary: pd.DataFrame       # summary_frame over the configuration keys
    best: pd.Series = None      # its best row, None when no job completed


def choose(results, keys, replicate_keys=REPLICATE_KEYS, searched=()):
    """The Choice of a results table (results.csv) with override ``keys`` (``searched``: the keys a
    search searched, configuration keys even where the chosen jobs share one value)."""
    metric = selection_metric(results)
    config_keys, replicates, fixed = key_kinds(results, keys, replicate_keys, searched)
    summary = summary_frame(results, config_keys)
    best = best_configuration(summary, metric)
    if best is not None:
        summary = summary.join(versus_best(results, summary, best, metric, config_keys, replicates)[
            ["p_adj_vs_best", "tied_with_best"]])
        best = summary.loc[best.name]
    return Choice(metric, config_keys, replicates, fixed, summary, best)


def best_job(results, choice):
    """The job whose figures stand for the chosen configuration: its replicate with the best score."""
    if choice.best is None:
        return None
    jobs = jobs_of(results, choice.config_keys, choice.best)
    return jobs.loc[jobs[choice.metric].idxmax() if higher_is_better(choice.metric) else jobs[choice.metric].idxmin()]


def jobs_of(results, config_keys, configuration):
    """The completed jobs of one configuration (a summary row)."""
    done = results[results["status"] == "completed"]
    mask = np.ones(len(done), dtype=bool)
    for key in config_keys:
        mask &= same_value(done[key], configuration[key])
    return done[mask]


def same_value(column, value):
    """Where ``column`` holds ``value``: numbers compared as numbers (a summary row may hold 3.0 for
    3), an empty value (NaN, None: a key a job left unset) with the empty entries, anything else as text."""
    if pd.isna(value):
        return column.isna().to_numpy()
    numbers = pd.to_numeric(column, errors="coerce")
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = None
    if number is not None and numbers.notna().all():
        return (numbers == number).to_numpy()
    return (column.astype(str) == str(value)).to_numpy()


def paired(a_ids, b_ids):
    """Whether two samples pair up: both ran the same replicates (e.g. seeds), each once."""
    return a_ids is not None and b_ids is not None and sorted(a_ids) == sorted(b_ids) and len(set(a_ids)) == len(a_ids)


def difference(a, b, a_ids=None, b_ids=None):
    """B - A of two samples of a score (e.g. test accuracy over seeds): the difference of the means,
    its 95% confidence interval, the p-value and which test gave them. Paired (Student t on the
    differences, ``scipy.stats.ttest_rel``) when both sides ran the same replicates ``a_ids`` ==
    ``b_ids`` (their order aligns the pairs); else Welch's t-test (unequal variances,
    ``ttest_ind(equal_var=False)``), the interval from the Welch-Satterthwaite degrees of freedom.
    NaN interval and p-value with fewer than two values on a side."""
    a, b = pd.Series(a, dtype=float), pd.Series(b, dtype=float)
    out = {"n_a": a.notna().sum(), "n_b": b.notna().sum(), "diff": b.mean() - a.mean(),
           "lo": float("nan"), "hi": float("nan"), "p": float("nan"), "test": ""}
    if out["n_a"] < 2 or out["n_b"] < 2:
        return out
    from scipy import stats

    if paired(a_ids, b_ids):
        a = a.set_axis(list(a_ids)).sort_index()
        b = b.set_axis(list(b_ids)).sort_index()
        d = (b - a).dropna()
        half = t_975(len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d))
        p = stats.ttest_rel(b, a).pvalue
        out.update(diff=d.mean(), lo=d.mean() - half, hi=d.mean() + half, p=float(p), test="paired")
        return out
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    se = np.sqrt(va + vb)
    df = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1)) if se > 0 else len(a) + len(b) - 2
    half = t_975(df) * se
    p = stats.ttest_ind(b, a, equal_var=False).pvalue
    out.update(lo=out["diff"] - half, hi=out["diff"] + half, p=float(p), test="welch")
    return out


def holm(pvalues):
    """Holm's step-down adjustment (statsmodels ``multipletests(method="holm")``): with the m p-values
    sorted, p_(i) -> max_{j <= i} min(1, (m - j + 1) p_(j)); the chance of any false rejection among
    the m stays <= ALPHA. NaN p-values stay NaN and are not counted in m. ``pvalues``: (m,) -> (m,)."""
    p = pd.Series(pvalues, dtype=float)
    adjusted = pd.Series(np.nan, index=p.index)
    if p.notna().any():
        from statsmodels.stats.multitest import multipletests

        adjusted[p.notna()] = multipletests(p[p.notna()].to_numpy(), alpha=ALPHA, method="holm")[1]
    return adjusted


def samples_of(results, config_keys, replicates, configuration, metric):
    """(scores, replicate ids or None) of one configuration's completed jobs."""
    jobs = jobs_of(results, config_keys, configuration)
    return jobs[metric], (list(jobs[replicates[0]]) if replicates else None)


def versus_best(results, summary, best, metric, config_keys, replicates):
    """Every configuration (summary row) against the best one on ``metric``: ``difference(best, row)``
    (paired over seeds when both ran the same ones, else Welch) as diff, lo, hi, p, test;
    ``p_adj_vs_best``, Holm over the other configurations that have a p-value; ``tied_with_best``,
    p_adj_vs_best >= ALPHA (within noise of the best). The best row itself, and rows with fewer than
    two replicates on a side, get NaN / None. Indexed as ``summary``."""
    table = pd.DataFrame({"diff": np.nan, "lo": np.nan, "hi": np.nan, "p": np.nan, "test": ""}, index=summary.index)
    if summary["n"].max() >= 2 and best["n"] >= 2:
        done = results[results["status"] == "completed"]
        # the groups of summary_frame, in its row order
        parts = dict(zip(summary.index, (part for _, part in done.groupby(config_keys, sort=False, dropna=False))
                         if config_keys else [done]))
        ids = (lambda part: list(part[replicates[0]])) if replicates else (lambda part: None)
        best_part = parts[best.name]
        for index in summary.index[(summary["n"] >= 2) & (summary.index != best.name)]:
            result = difference(best_part[metric], parts[index][metric], ids(best_part), ids(parts[index]))
            table.loc[index, ["diff", "lo", "hi", "p", "test"]] = [result[c] for c in ("diff", "lo", "hi", "p", "test")]
    table["p_adj_vs_best"] = holm(table["p"])
    table["tied_with_best"] = [None if pd.isna(p) else bool(p >= ALPHA) for p in table["p_adj_vs_best"]]
    return table


def seeds_needed(a, b, a_ids=None, b_ids=None, alpha=ALPHA, power=POWER):
    """Replicates per configuration a two-sided t-test at ``alpha`` needs to find the observed
    difference of the means of ``a`` and ``b`` with probability ``power``, taking the observed sds as
    true. Paired over seeds (as ``difference``, statsmodels ``TTestPower``): effect size
    ``d = |mean(b - a)| / sd(b - a)``; else two samples of equal size (``TTestIndPower``):
    ``d = |mean(b) - mean(a)| / sqrt((sd_a^2 + sd_b^2) / 2)``. Rounded up; 2 (the fewest a t-test takes)
    when two already give that power, as for samples without spread and different means; inf for equal
    means; NaN with fewer than two values on a side."""
    a, b = pd.Series(a, dtype=float).dropna(), pd.Series(b, dtype=float).dropna()
    if len(a) < 2 or len(b) < 2:
        return float("nan")
    from statsmodels.stats.power import TTestIndPower, TTestPower

    if paired(a_ids, b_ids):
        d = b.set_axis(list(b_ids)).sort_index() - a.set_axis(list(a_ids)).sort_index()
        effect, analysis = abs(d.mean()) / d.std(ddof=1), TTestPower()
    else:
        spread = np.sqrt((a.var(ddof=1) + b.var(ddof=1)) / 2)
        effect, analysis = abs(b.mean() - a.mean()) / spread, TTestIndPower()
    if np.isnan(effect) or effect == 0:   # equal means (0 / 0: two constant samples of the same value)
        return float("inf")
    if np.isinf(effect) or not analysis.power(effect, 2, alpha) < power:   # NaN: an effect too large to compute
        return 2.0
    n = analysis.solve_power(effect_size=effect, alpha=alpha, power=power, alternative="two-sided")
    return float(np.ceil(n))
