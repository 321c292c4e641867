"""Properties of the statistics over replicates (nnexp/sweep/summary.py): on random samples, the
interval of the mean and the Welch and paired comparisons are the ones SciPy computes."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from nnexp.sweep.summary import difference, interval

scores = st.floats(0, 1, allow_nan=False).map(lambda v: round(v, 4))   # accuracies as results.csv holds them
samples = st.lists(scores, min_size=2, max_size=12)
pytestmark = pytest.mark.filterwarnings("ignore:Precision loss occurred:RuntimeWarning")   # SciPy on near ties


def close(a, b):
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12) or (math.isnan(a) and math.isnan(b))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.one_of(scores, st.just(float("nan"))), max_size=12))
def test_interval_is_scipys_t_interval_of_the_mean(values):
    got = interval(values)
    sample = np.array([v for v in values if not math.isnan(v)])
    assert got["n"] == len(sample)
    if len(sample) == 0:
        assert all(math.isnan(got[k]) for k in ("mean", "sd", "ci95", "min", "max"))
        return
    assert close(got["mean"], sample.mean()) and got["min"] == sample.min() and got["max"] == sample.max()
    if len(sample) < 2:
        assert math.isnan(got["sd"]) and math.isnan(got["ci95"])
        return
    assert close(got["sd"], np.std(sample, ddof=1))
    if sample.std() > 0:
        lo, hi = stats.t.interval(0.95, len(sample) - 1, loc=sample.mean(), scale=stats.sem(sample))
        assert close(got["ci95"], (hi - lo) / 2)
    else:
        assert got["ci95"] == 0


def assert_same(got, result, diff):
    """``difference``'s output against a SciPy t-test result of B - A."""
    low, high = result.confidence_interval(0.95)
    assert close(got["diff"], diff)
    assert close(got["lo"], low) and close(got["hi"], high) and close(got["p"], result.pvalue)


@settings(max_examples=100, deadline=None)
@given(samples, samples)
def test_welch_matches_scipy(a, b):
    got = difference(a, b)
    assert got["test"] == "welch" and got["n_a"] == len(a) and got["n_b"] == len(b)
    if np.std(a) + np.std(b) == 0:
        return   # SciPy's interval of two constant samples is NaN; ours is the point itself
    assert_same(got, stats.ttest_ind(b, a, equal_var=False), np.mean(b) - np.mean(a))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(scores, scores), min_size=2, max_size=12), st.randoms(use_true_random=False))
def test_paired_matches_scipy_and_pairs_by_replicate_not_by_position(pairs, random):
    """Replicates listed in another order on each side are still paired seed with seed."""
    a, b = (list(side) for side in zip(*pairs))
    order_a, order_b = list(range(len(pairs))), list(range(len(pairs)))
    random.shuffle(order_a)
    random.shuffle(order_b)
    got = difference([a[s] for s in order_a], [b[s] for s in order_b], order_a, order_b)
    assert got["test"] == "paired"
    d = np.subtract(b, a)
    if d.std() == 0:
        return   # SciPy's p of a constant difference is NaN
    assert_same(got, stats.ttest_rel(b, a), d.mean())


@settings(max_examples=50, deadline=None)
@given(samples, samples)
def test_other_replicates_or_a_repeated_seed_are_compared_unpaired(a, b):
    assert difference(a, b, list(range(len(a))), list(range(1, len(b) + 1)))["test"] == "welch"
    assert difference(a, b, [0] * len(a), [0] * len(b))["test"] == "welch"
    assert math.isnan(difference(a[:1], b)["p"]) and difference(a[:1], b)["test"] == ""


def test_edge_cases_constant_samples_one_value_and_a_missing_pair():
    """Two constant samples: the difference is exact (interval of width 0, whatever their sizes). One value
    on a side: no test. A pair with a missing score: left out of the paired difference, on both sides."""
    for a, b in (([0.5, 0.5], [0.7, 0.7]), ([0.5] * 2, [0.7] * 6), ([0.5] * 6, [0.7] * 2)):
        got = difference(a, b)
        assert got["test"] == "welch" and close(got["diff"], 0.2) and close(got["lo"], 0.2) and close(got["hi"], 0.2)
    for a, b in (([0.5], [0.1, 0.2]), ([0.1, 0.2], [0.5])):
        got = difference(a, b)
        assert got["test"] == "" and math.isnan(got["p"]) and math.isnan(got["lo"])
    got = difference([0.1, 0.2, 0.4, float("nan")], [0.2, 0.4, 0.5, 0.9], [0, 1, 2, 3], [0, 1, 2, 3])
    assert got["test"] == "paired" and close(got["diff"], (0.1 + 0.2 + 0.1) / 3)
