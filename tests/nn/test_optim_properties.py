"""Properties of the optimizers' weight decay (nnexp/nn/optim.py) and of the schedules
(nnexp/nn/schedules.py), for random settings."""

import math
from types import SimpleNamespace

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from nnexp.nn.build import mlp
from nnexp.nn.layers import Parameter
from nnexp.nn.optim import Adam, make_optimizer
from nnexp.nn.schedules import SCHEDULES, make_schedule

OPTIMIZERS = [{"name": "sgd"}, {"name": "sgd", "momentum": 0.9}, {"name": "sgd", "momentum": 0.5, "nesterov": True},
              {"name": "adam"}, {"name": "adamw"}, {"name": "rmsprop"}]


def trajectory(settings_, params, decay, grads, lr, weight_decay):
    """The parameters after one step per entry of ``grads``, by the optimizer ``settings_`` names."""
    params = [p.copy() for p in params]
    network = SimpleNamespace(parameters={f"p{i}": Parameter(p, "W", d) for i, (p, d) in enumerate(zip(params, decay))})
    optimizer = make_optimizer({**settings_, "weight_decay": weight_decay}, network, lr)
    take_steps(optimizer, grads)
    return params


def take_steps(optimizer, grads):
    """One step per entry of ``grads`` (a gradient per parameter)."""
    for step in grads:
        for p, g in zip(optimizer.parameters, step):
            p.grad = g.copy()
        optimizer.step()


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(OPTIMIZERS), st.lists(st.booleans(), min_size=1, max_size=4), st.integers(1, 4),
       st.floats(1e-3, 0.5), st.floats(1e-3, 0.5), st.integers(0, 2 ** 32 - 1))
def test_parameters_without_decay_are_untouched_by_decay(settings_, decay, steps, lr, weight_decay, seed):
    """With weight decay lambda > 0, a parameter whose mask says no decay (a bias) moves exactly as with
    lambda = 0, bit for bit; a parameter with decay moves differently. AdamW's decoupled decay too."""
    rng = np.random.default_rng(seed)
    params = [rng.normal(size=(3, 2)) + 0.5 for _ in decay]
    grads = [[rng.normal(size=(3, 2)) for _ in decay] for _ in range(steps)]
    decayed = trajectory(settings_, params, decay, grads, lr, weight_decay)
    plain = trajectory(settings_, params, decay, grads, lr, 0.0)
    for mask, with_decay, without in zip(decay, decayed, plain):
        if mask:
            assert not np.array_equal(with_decay, without), settings_
        else:
            np.testing.assert_array_equal(with_decay, without)
    # lambda = 0: the mask makes no difference
    np.testing.assert_equal(plain, trajectory(settings_, params, [not d for d in decay], grads, lr, 0.0))


@settings(max_examples=20, deadline=None)
@given(st.sampled_from(OPTIMIZERS), st.floats(1e-3, 0.5), st.integers(0, 2 ** 32 - 1))
def test_a_networks_biases_are_not_decayed_and_its_weights_are(settings_, weight_decay, seed):
    network = mlp([4, 3, 2], bias=True, init="uniform", dtype=np.float64, rng=np.random.default_rng(seed))
    decay = [p.decays for p in network.parameters.values()]
    assert decay == [name.startswith("W") for name in network.parameters] and any(decay)
    assert not all(decay)
    params = [p.value for p in network.parameters.values()]
    grads = [[np.random.default_rng(seed + 1).normal(size=p.shape) for p in params]]
    decayed = trajectory(settings_, params, decay, grads, 0.1, weight_decay)
    plain = trajectory(settings_, params, decay, grads, 0.1, 0.0)
    for name, with_decay, without in zip(network.parameters, decayed, plain):
        assert np.array_equal(with_decay, without) == name.startswith("b"), name


def expected_rate(k, n, lr, name, gamma, step_size, min_lr, warmup):
    """The schedules' formulas, written out again (nnexp/nn/schedules.py's docstring)."""
    if k <= warmup:
        return lr * k / warmup
    j, m = k - warmup, n - warmup   # the schedule's own step and length
    if name == "step":
        return lr * gamma ** math.floor((j - 1) / step_size)
    if name == "exponential":
        return lr * gamma ** (j - 1)
    if name == "cosine":
        if m <= 1:
            return lr
        return min_lr + (lr - min_lr) * (1 + math.cos(math.pi * (j - 1) / (m - 1))) / 2
    return lr


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(["constant", "step", "exponential", "cosine"]), st.floats(1e-4, 10),
       st.floats(0.01, 0.99), st.integers(1, 6), st.floats(0, 1e-4), st.integers(0, 5), st.integers(1, 30),
       st.data())
def test_every_schedules_rate_matches_its_formula(name, lr, gamma, step_size, min_lr, warmup, n, data):
    settings_ = {"name": name, "gamma": gamma, "step_size": step_size, "min_lr": min_lr, "warmup": warmup}
    schedule = make_schedule(settings_, lr)
    k = data.draw(st.integers(1, n))
    assert math.isclose(schedule.rate(k, n), expected_rate(k, n, lr, **settings_), rel_tol=1e-12, abs_tol=1e-15)
    assert schedule.depends_on_length == (name == "cosine")


@settings(max_examples=50, deadline=None)
@given(st.sampled_from(["constant", "step", "exponential", "cosine"]), st.floats(1e-3, 10), st.integers(0, 5),
       st.integers(2, 30))
def test_warmup_rises_linearly_to_the_rate_then_the_schedule_starts(name, lr, warmup, n):
    """Warm-up steps climb lr/w, 2 lr/w, ..., lr; the first step after it is the schedule's first: lr."""
    schedule = SCHEDULES[name](lr, gamma=0.5, step_size=1, warmup=warmup)
    rates = [schedule.rate(k, warmup + n) for k in range(1, warmup + n + 1)]
    np.testing.assert_allclose(rates[:warmup], [lr * k / warmup for k in range(1, warmup + 1)], rtol=1e-12)
    assert math.isclose(rates[warmup], lr, rel_tol=1e-12)
    if name != "constant":
        assert rates[-1] < lr and all(a >= b for a, b in zip(rates[warmup:], rates[warmup + 1:]))


@settings(max_examples=20, deadline=None)
@given(st.floats(1e-3, 0.5), st.floats(1e-3, 0.5), st.integers(0, 2 ** 32 - 1))
def test_adamw_is_decoupled_adam_and_adam_is_not(lr, weight_decay, seed):
    """``optimizer=adamw`` decays w by lr lambda w before the step; ``optimizer=adam`` adds lambda w to g."""
    rng = np.random.default_rng(seed)
    params, grads = [rng.normal(size=(3, 2)) + 0.5], [[rng.normal(size=(3, 2))] for _ in range(2)]
    by_name = {name: trajectory({"name": name}, params, [True], grads, lr, weight_decay)[0]
               for name in ("adam", "adamw")}
    for name, decoupled in (("adam", False), ("adamw", True)):
        w = params[0].copy()
        optimizer = Adam([Parameter(w, "W", True)], lr, weight_decay=weight_decay, decoupled=decoupled)
        take_steps(optimizer, grads)
        np.testing.assert_array_equal(by_name[name], w)
    assert not np.array_equal(by_name["adam"], by_name["adamw"])
