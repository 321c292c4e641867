"""Properties of the validation split and the test split (nnexp/data/datasets.py): disjoint from
training, every sample once, stratified within one sample per class, the same for the same split seed."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nnexp.data.datasets import stratified_split, validation_split
from nnexp.errors import ConfigError


@st.composite
def labelled(draw):
    """(labels, val_size): 2-400 samples of 1-6 classes in any order, and a count or a fraction."""
    labels = np.array(draw(st.lists(st.integers(0, 5), min_size=2, max_size=400)))
    n = len(labels)
    val_size = draw(st.one_of(st.integers(1, n - 1), st.floats(0.5 / n, 1 - 0.5 / n, exclude_max=True)))
    return labels, val_size


def assert_partition(train, val, n):
    assert len(np.intersect1d(train, val)) == 0
    assert sorted(np.concatenate([train, val])) == list(range(n))   # every sample exactly once
    assert np.all(np.diff(val) > 0) and np.all(np.diff(train) > 0)  # sorted; training keeps its order


@settings(max_examples=100, deadline=None)
@given(labelled(), st.integers(0, 2 ** 32 - 1), st.booleans())
def test_validation_is_disjoint_covers_every_sample_once_and_is_stratified(drawn, split_seed, stratify):
    labels, val_size = drawn
    n = len(labels)
    total = int(round(val_size * n)) if val_size < 1 else int(val_size)
    if not 0 < total < n:
        with pytest.raises(ConfigError, match="val_size"):
            validation_split(n, val_size, split_seed, labels if stratify else None)
        return
    train, val = validation_split(n, val_size, split_seed, labels if stratify else None)
    assert_partition(train, val, n)
    if stratify:
        for label in np.unique(labels):
            share = np.sum(labels == label) * total / n
            assert abs(np.sum(labels[val] == label) - share) <= 1, label
    else:
        assert len(val) == total
    again = validation_split(n, val_size, split_seed, labels if stratify else None)
    np.testing.assert_array_equal(val, again[1])


@settings(max_examples=30, deadline=None)
@given(st.integers(50, 400), st.integers(0, 2 ** 32 - 1))
def test_the_split_seed_draws_the_held_out_samples(n, split_seed):
    """Another split seed holds out other samples (the chance of the same 10 of >= 50 is below 1e-10)."""
    val = validation_split(n, 10, split_seed)[1]
    assert not np.array_equal(val, validation_split(n, 10, split_seed + 1)[1])
    assert not np.array_equal(val, np.arange(10)) or not np.array_equal(val, np.arange(n - 10, n))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 5), min_size=2, max_size=400), st.floats(0, 0.9))
def test_the_test_split_takes_the_last_share_of_each_class(labels, fraction):
    labels = np.array(labels)
    train, test = stratified_split(labels, fraction)
    assert len(np.intersect1d(train, test)) == 0
    assert sorted(np.concatenate([train, test])) == list(range(len(labels)))
    assert np.all(np.diff(test) > 0)
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        n_test = int(round(len(members) * fraction))
        np.testing.assert_array_equal(test[labels[test] == label], members[len(members) - n_test:])
    np.testing.assert_array_equal(train, stratified_split(labels, fraction)[0])
    if len(train) > 20:   # a fixed mixed order, not file order
        assert not np.all(np.diff(train) > 0)


def test_a_validation_size_that_rounds_to_nothing_or_everything_is_refused_with_advice():
    for val_size, total in ((0.004, 0), (100, 100), (0.996, 100)):
        with pytest.raises(ConfigError) as error:
            validation_split(100, val_size, 0)
        assert str(error.value) == (f"data.val_size={val_size} holds out {total} of the 100 training samples; give a "
                                    "count or a fraction that leaves samples on both sides")
