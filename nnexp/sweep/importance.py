"""Many swept keys at once: where each job sits on one axis per key (parallel coordinates), and how much
each key matters to the score (permutation importance of a random forest, Spearman rank correlation).

Axes. A key whose values are all numbers is ordered: on a log axis when it is a rate (``RATE_KEYS``) or its
values span two decades or more, else on a linear one; booleans are ordered false < true. Any other key
(optimizer or activation names, layer lists such as ``[100]``) is categorical: its values in grid order,
evenly spaced. A job's position on an axis is its value mapped to [0, 1]:

    t = (f(v) - f(v_min)) / (f(v_max) - f(v_min)),   f = log10 (log axis) or identity (linear)
    t = i / (k - 1)                                   the i-th of k categories

Importance. A random forest (``FOREST_TREES`` trees, fixed seed, one thread) is fitted once to predict the
score y from the keys' codes X (f(v) for ordered keys, the category's index for categorical ones: a tree
splits on either). The permutation importance of key j is the mean drop of the forest's R^2 on the jobs
when column j of X is shuffled (``PERMUTATIONS`` shuffles; sklearn.inspection.permutation_importance):

    I_j = R^2(X, y) - mean_r R^2(X with column j permuted, y)

A key the score does not depend on gets I_j near 0 whatever its values. The forest's out-of-bag R^2 says how
much of the score the keys explain at all. Beside it, each ordered key's Spearman rank correlation rho with
the score (the sign says whether larger values score higher; categorical keys have no order, so no rho).
"""

from dataclasses import dataclass

import numpy as np
import pandas as pd

RATE_KEYS = ("lr", "weight_decay")
"""Keys (the last part of a dotted name) drawn on a log axis whenever their values are positive."""
LOG_SPAN = 100
"""Positive values whose largest is at least this many times the smallest are drawn on a log axis."""
FOREST_TREES = 50
"""Trees of the forest: fitted once per report, a fraction of a second for a 400-job sweep."""
PERMUTATIONS = 10
"""Shuffles of each key's column; the importance is their mean, its error bar their standard deviation."""
MIN_JOBS = 20
JOBS_PER_KEY = 10


def jobs_to_trust(n_keys):
    """The number of jobs below which the importances and correlations are flagged as not to be trusted::

        max(MIN_JOBS, JOBS_PER_KEY * n_keys)

    Ten jobs per key is the rule of thumb for fitting any model of several inputs (Peduzzi et al. 1996:
    about ten observations per parameter before estimated effects stop swinging), and a forest on fewer
    jobs than that memorises them, so its importances mostly rank noise. The floor of 20 is where a rank
    correlation starts to mean something: its standard error is about 1/sqrt(n - 3), so with n = 20 only
    ``|rho| > 1.96/sqrt(17) = 0.48`` differs from zero at the 5% level, and with fewer jobs even strong
    correlations do not."""
    return max(MIN_JOBS, JOBS_PER_KEY * n_keys)


def trust_note(n_jobs, n_configurations, n_keys):
    """(text, too_few) saying how many jobs a view rests on, and whether that is too few (``jobs_to_trust``)."""
    need = jobs_to_trust(n_keys)
    text = f"{n_jobs} completed jobs ({n_configurations} configurations) over {n_keys} keys"
    if n_jobs < need:
        return (f"{text}: too few to trust\n(fewer than {need}: {JOBS_PER_KEY} per key, at least {MIN_JOBS}); "
                "read the ranking as a hint, not a result"), True
    return text, False


@dataclass
class Axis:
    """One swept key as an axis: its kind ('log', 'linear' or 'category') and values in axis order."""
    key: str
    kind: str
    values: list     # numbers sorted ascending (ordered), or categories in grid order

    @property
    def ordered(self):
        return self.kind != "category"

    def codes(self, column):
        """f(v) of each value of ``column`` (log10 or identity), or the category's index."""
        if not self.ordered:
            index = {str(v): i for i, v in enumerate(self.values)}
            return column.astype(str).map(index).to_numpy(dtype=float)
        numbers = column.astype(float).to_numpy()
        return np.log10(numbers) if self.kind == "log" else numbers

    def positions(self, column):
        """Each value's place on the axis, in [0, 1] (0.5 for all when the key has one value)."""
        codes = self.codes(column)
        ends = self.codes(pd.Series([self.values[0], self.values[-1]]))
        span = ends[1] - ends[0]
        return (codes - ends[0]) / span if span else np.full(len(codes), 0.5)

    def ticks(self):
        """[(position, label)] of every value of the key."""
        labels = [text(v) for v in self.values]
        return list(zip(self.positions(pd.Series(self.values)), labels))


def text(value):
    """A value as a tick label: 0.03 for 0.03, 3 for 3.0, true for True, the rest as written."""
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value)).lower()
    if isinstance(value, (int, float, np.number)):
        return f"{float(value):g}"
    return str(value)


def axis_of(key, column):
    """The Axis of a swept key from its values (``column``: one value per job)."""
    values = list(dict.fromkeys(column))
    if all(isinstance(v, (bool, np.bool_)) for v in values):
        return Axis(key, "linear", sorted(bool(v) for v in values))
    numbers = pd.to_numeric(pd.Series(values, dtype=object), errors="coerce")
    if numbers.isna().any():
        return Axis(key, "category", values)
    ordered = sorted(set(numbers.astype(float)))
    positive = ordered[0] > 0
    log = positive and (key.split(".")[-1] in RATE_KEYS or ordered[-1] / ordered[0] >= LOG_SPAN)
    return Axis(key, "log" if log else "linear", ordered)


def scored_jobs(results, metric):
    """The completed jobs with a finite ``metric``."""
    done = results[results["status"] == "completed"]
    return done[np.isfinite(pd.to_numeric(done[metric], errors="coerce").to_numpy(dtype=float))]


def parallel_frame(jobs, keys, metric, best_mask):
    """What the parallel-coordinates figure draws: one row per job, its position on each key's axis
    (columns = keys, values in [0, 1]), ``score`` (the metric) and ``best`` (a job of the best
    configuration); and the axes."""
    axes = [axis_of(k, jobs[k]) for k in keys]
    frame = pd.DataFrame({a.key: a.positions(jobs[a.key]) for a in axes}, index=jobs.index)
    frame["score"] = jobs[metric].astype(float)
    frame["best"] = np.asarray(best_mask, dtype=bool)
    return frame.reset_index(drop=True), axes


def importance_frame(jobs, keys, metric):
    """One row per key: ``kind``, ``importance`` and ``importance_sd`` (permutation importance of a random
    forest, see the module docstring), ``spearman`` (NaN for a categorical key), most important first; and
    the forest's out-of-bag R^2 (NaN when it cannot be computed)."""
    import warnings

    from scipy.stats import spearmanr
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.inspection import permutation_importance

    axes = [axis_of(k, jobs[k]) for k in keys]
    x = np.column_stack([a.codes(jobs[a.key]) for a in axes])
    y = jobs[metric].to_numpy(dtype=float)
    forest = RandomForestRegressor(n_estimators=FOREST_TREES, random_state=0, n_jobs=1, oob_score=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")      # too few jobs for OOB; a constant score: no correlation (NaN)
        forest.fit(x, y)
        drops = permutation_importance(forest, x, y, n_repeats=PERMUTATIONS, random_state=0, n_jobs=1)
        rho = [spearmanr(x[:, j], y).statistic if a.ordered else np.nan for j, a in enumerate(axes)]
    frame = pd.DataFrame({"key": keys, "kind": [a.kind for a in axes], "importance": drops.importances_mean,
                          "importance_sd": drops.importances_std, "spearman": np.asarray(rho, dtype=float)})
    oob = float(getattr(forest, "oob_score_", np.nan))
    return frame.sort_values("importance", ascending=False, kind="stable").reset_index(drop=True), oob
