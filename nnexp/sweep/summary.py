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
from scipy import stats

from .collect import varying

REPLICATE_KEYS = ("seed",)
"""Keys whose values are replicates of one configuration (``hydra.callbacks.report.replicate_keys``)."""
SCORES = ["val_acc", "test_acc", "val_loss", "test_loss", "best_val_acc", "best_test_acc", "best_val_loss",
          "best_test_loss"]
"""Scores summarised over replicates: after the last epoch, and at each job's best epoch."""
STATISTICS = ("mean", "sd", "ci95", "min", "max")


def selection_metric(results):
    """The score a configuration is chosen by: val_acc, val_loss (regression), test_acc or test_loss."""
    split = "val" if "val_loss" in results and results["val_loss"].notna().any() else "test"
    return f"{split}_acc" if results[f"{split}_acc"].notna().any() else f"{split}_loss"


def higher_is_better(metric):
    return metric.endswith("_acc")


def interval(values):
    """n, mean, sd, ci95 (the half-width of the 95% t-interval of the mean), min, max of ``values``
    (NaN left out); sd and ci95 are NaN for fewer than two values."""
    values = pd.Series(values, dtype=float).dropna()
    n = len(values)
    sd = values.std(ddof=1) if n > 1 else float("nan")
    half = stats.t.ppf(0.975, n - 1) * sd / np.sqrt(n) if n > 1 else float("nan")
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
    return Choice(metric, config_keys, replicates, fixed, summary, best_configuration(summary, metric))


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
    3), anything else as text."""
    numbers = pd.to_numeric(column, errors="coerce")
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = None
    if number is not None and numbers.notna().all():
        return (numbers == number).to_numpy()
    return (column.astype(str) == str(value)).to_numpy()


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
    if a_ids is not None and b_ids is not None and sorted(a_ids) == sorted(b_ids) and len(set(a_ids)) == len(a_ids):
        a = a.set_axis(list(a_ids)).sort_index()
        b = b.set_axis(list(b_ids)).sort_index()
        d = (b - a).dropna()
        half = stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d))
        p = stats.ttest_rel(b, a).pvalue
        out.update(diff=d.mean(), lo=d.mean() - half, hi=d.mean() + half, p=float(p), test="paired")
        return out
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    se = np.sqrt(va + vb)
    df = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1)) if se > 0 else len(a) + len(b) - 2
    half = stats.t.ppf(0.975, df) * se
    p = stats.ttest_ind(b, a, equal_var=False).pvalue
    out.update(lo=out["diff"] - half, hi=out["diff"] + half, p=float(p), test="welch")
    return out
