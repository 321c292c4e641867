"""Optimizers and schedules: each step against values computed here by hand from the published
equations, and against PyTorch's optimizers when the torch extra is installed."""

import math

import numpy as np
import pytest

from nnexp.nn.layers import Parameter
from nnexp.nn.optim import SGD, Adam, Optimizer, RMSprop
from nnexp.nn.schedules import Constant, Cosine, Exponential, Step

W0 = np.array([[0.5, -1.0], [2.0, 0.25]])
GRADS = [np.array([[0.1, -0.2], [0.3, 0.05]]), np.array([[-0.4, 0.1], [0.2, -0.3]]),
         np.array([[0.05, 0.05], [-0.1, 0.2]])]


def take_steps(optimizer, grads):
    """One step per gradient of the optimizer's one parameter."""
    for g in grads:
        optimizer.parameters[0].grad = g.copy()
        optimizer.step()


def run(optimizer_class, **settings):
    w = W0.copy()
    optimizer = optimizer_class([Parameter(w, "W", True)], 0.1, **settings)
    take_steps(optimizer, GRADS)
    return w, optimizer


def test_sgd_with_momentum_nesterov_and_decay_by_hand():
    lr, mu, lam = 0.1, 0.9, 0.01
    w, v, wn, vn = W0.copy(), np.zeros_like(W0), W0.copy(), np.zeros_like(W0)
    for g in GRADS:
        v = mu * v - lr * (g + lam * w)
        w = w + v
        gn = g + lam * wn
        vn = mu * vn - lr * gn
        wn = wn + mu * vn - lr * gn
    np.testing.assert_allclose(run(SGD, momentum=mu, weight_decay=lam)[0], w, rtol=1e-12)
    np.testing.assert_allclose(run(SGD, momentum=mu, weight_decay=lam, nesterov=True)[0], wn, rtol=1e-12)
    plain = W0 - 0.1 * sum(GRADS)
    np.testing.assert_allclose(run(SGD)[0], plain, rtol=1e-12)


@pytest.mark.parametrize("decoupled", [False, True])
def test_adam_and_adamw_by_hand(decoupled):
    lr, b1, b2, eps, lam = 0.1, 0.9, 0.999, 1e-8, 0.01
    w, m, v = W0.copy(), np.zeros_like(W0), np.zeros_like(W0)
    for t, g in enumerate(GRADS, start=1):
        if decoupled:
            w = w - lr * lam * w
        else:
            g = g + lam * w
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g ** 2
        w = w - lr * (m / (1 - b1 ** t)) / (np.sqrt(v / (1 - b2 ** t)) + eps)
    got, optimizer = run(Adam, weight_decay=lam, decoupled=decoupled)
    np.testing.assert_allclose(got, w, rtol=1e-12)
    state = optimizer.state()
    assert int(state["step_count"]) == 3 and set(state) == {"m_0", "v_0", "step_count"}


def test_rmsprop_by_hand():
    lr, alpha, eps = 0.1, 0.99, 1e-8
    w, s = W0.copy(), np.zeros_like(W0)
    for g in GRADS:
        s = alpha * s + (1 - alpha) * g ** 2
        w = w - lr * g / (np.sqrt(s) + eps)
    np.testing.assert_allclose(run(RMSprop)[0], w, rtol=1e-12)


def test_a_plain_sgd_step_allocates_no_array_the_size_of_its_weights():
    """lr g goes into a work array kept between steps (Optimizer.scratch): a per-sample step of 784 x 100 weights
    spent as long allocating a temporary as computing it."""
    import tracemalloc

    w = np.zeros((500, 500))
    optimizer = SGD([Parameter(w, "W", True, np.ones_like(w))], 0.1)
    optimizer.step()                          # the work array is allocated here, once
    tracemalloc.start()
    try:
        optimizer.step()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < w.nbytes / 10
    np.testing.assert_array_equal(w, -0.2)


def test_an_optimizer_of_ones_own_decays_nothing_unless_asked():
    """A new optimizer is a subclass with a ``step`` (module docstring): without a weight_decay it decays nothing."""

    class SignSGD(Optimizer):
        def step(self):
            for i, p in enumerate(self.parameters):
                p.value -= self.lr * np.sign(self.decayed(i, p.value, p.grad))

    w = W0.copy()
    optimizer = SignSGD([Parameter(w, "W", True)], 0.1)
    assert optimizer.weight_decay == 0.0 and optimizer.decay == [False]
    take_steps(optimizer, GRADS[:1])
    np.testing.assert_allclose(w, W0 - 0.1 * np.sign(GRADS[0]))


@pytest.mark.parametrize("optimizer_class, settings", [(SGD, {"momentum": 0.9, "nesterov": True}), (Adam, {}),
                                                       (Adam, {"decoupled": True, "weight_decay": 0.01}),
                                                       (RMSprop, {})])
def test_state_round_trip_continues_exactly(optimizer_class, settings):
    """Two steps, state saved and loaded into a fresh optimizer, one more step: as three in a row.
    Break tried: Adam's state without step_count restarts the bias correction and differs."""
    straight, _ = run(optimizer_class, **settings)
    w = W0.copy()
    first = optimizer_class([Parameter(w, "W", True)], 0.1, **settings)
    take_steps(first, GRADS[:2])
    second = optimizer_class([Parameter(w, "W", True)], 0.1, **settings)
    second.load_state({k: np.array(v) for k, v in first.state().items()})
    take_steps(second, GRADS[2:])
    np.testing.assert_array_equal(w, straight)


def test_matches_pytorch_when_installed():
    torch = pytest.importorskip("torch")
    cases = [(SGD, {"momentum": 0.9, "weight_decay": 0.01}, torch.optim.SGD, {"momentum": 0.9, "weight_decay": 0.01}),
             (SGD, {"momentum": 0.9, "nesterov": True}, torch.optim.SGD, {"momentum": 0.9, "nesterov": True}),
             (Adam, {"weight_decay": 0.01}, torch.optim.Adam, {"weight_decay": 0.01}),
             (Adam, {"weight_decay": 0.01, "decoupled": True}, torch.optim.AdamW, {"weight_decay": 0.01}),
             (RMSprop, {}, torch.optim.RMSprop, {"eps": 1e-8})]
    for ours, settings, theirs, their_settings in cases:
        w = torch.tensor(W0, requires_grad=True)
        optimizer = theirs([w], lr=0.1, **their_settings)
        for g in GRADS:
            w.grad = torch.tensor(g)
            optimizer.step()
        np.testing.assert_allclose(run(ours, **settings)[0], w.detach().numpy(), rtol=1e-6, err_msg=str(ours))


def test_schedule_rates():
    assert [Constant(0.1).rate(k, 5) for k in range(1, 6)] == [0.1] * 5
    assert [Step(1.0, gamma=0.5, step_size=2).rate(k, 6) for k in range(1, 7)] == \
        [1.0, 1.0, 0.5, 0.5, 0.25, 0.25]
    assert [Exponential(1.0, gamma=0.5).rate(k, 3) for k in range(1, 4)] == [1.0, 0.5, 0.25]
    cosine = [Cosine(1.0, min_lr=0.1).rate(k, 5) for k in range(1, 6)]
    np.testing.assert_allclose(cosine, [0.1 + 0.9 * (1 + math.cos(math.pi * i / 4)) / 2 for i in range(5)])
    assert cosine[0] == 1.0 and cosine[-1] == pytest.approx(0.1)
    warm = [Cosine(1.0, warmup=2).rate(k, 5) for k in range(1, 6)]
    np.testing.assert_allclose(warm, [0.5, 1.0, 1.0, 0.5, 0.0], atol=1e-12)
    assert Cosine(1.0).depends_on_length and not Step(1.0).depends_on_length


def test_a_cosine_span_fixes_the_run_length_it_decays_over():
    """With ``span`` set, step k's rate is that of a run of span steps, whatever the run's own length."""
    from nnexp.nn.schedules import Cosine

    spanned, plain = Cosine(1.0, span=10), Cosine(1.0)
    assert not spanned.depends_on_length and plain.depends_on_length
    assert [spanned.rate(k, 4) for k in range(1, 5)] == [plain.rate(k, 10) for k in range(1, 5)]
    assert plain.rate(4, 4) != plain.rate(4, 10)
