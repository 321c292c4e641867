"""The per-sample fast path (nnexp/nn/kernels) against the reference path."""

import time

import numpy as np
import pytest
from arrays import values
from test_network import COMBINATIONS, targets_for

from nnexp.data import Dataset
from nnexp.errors import ConfigError
from nnexp.nn.build import mlp
from nnexp.nn.kernels import NUMBA_MIN_SAMPLES, numba_available, per_sample_trainer, resolve_kernel
from nnexp.nn.kernels.base import DEFERRED
from nnexp.nn.kernels.blas import BlasTrainer
from nnexp.nn.layers import Parameter
from nnexp.nn.optim import SGD, Adam, RMSprop
from nnexp.training.loop import Learner, Recipe, train

KERNELS = ["numpy", pytest.param("numba", marks=pytest.mark.skipif(not numba_available(),
                                                                    reason="numba is not installed"))]
TOLERANCE = {np.float64: dict(rtol=1e-9, atol=1e-12), np.float32: dict(rtol=2e-4, atol=2e-5)}


def toy_data(output, dtype, n=60, seed=5):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n + 10, 7)).astype(dtype)
    y = targets_for(output, rng, n + 10, 3).astype(dtype)
    return Dataset("toy", "regression", x[:n], y[:n], x[n:], y[n:])


def trained(kernel, data, hidden, output, loss, bias, dtype, momentum=0.0, weight_decay=0.0, epochs=2,
            sizes=(7, 6, 5, 3)):
    """A 7-6-5-3 network after ``epochs`` shuffled per-sample epochs on ``kernel``: (model, history, log)."""
    model = mlp(list(sizes), activation=hidden, output_activation=output, loss=loss, init="xavier", bias=bias,
                dtype=dtype, rng=np.random.default_rng(0))
    optimizer = SGD(model.parameters, lr=0.05, momentum=momentum, weight_decay=weight_decay)
    recipe = Recipe(epochs, batch_size=1, shuffle=True, seed=3, kernel=kernel)
    history, log = train(Learner(model, optimizer), data, recipe)
    return model, optimizer, history, log


def assert_same_training(kernel, dtype, n=60, **settings):
    data = toy_data(settings["output"], dtype, n)
    ref_model, ref_opt, ref_history, ref_log = trained("reference", data, dtype=dtype, **settings)
    model, opt, history, log = trained(kernel, data, dtype=dtype, **settings)
    start = mlp(list(settings.get("sizes", (7, 6, 5, 3))), dtype=dtype, rng=np.random.default_rng(0), init="xavier")
    # the reference did train
    assert not np.allclose(ref_model.dense_stack().weights[0], start.dense_stack().weights[0])
    tolerance = TOLERANCE[dtype]
    for fast, ref in zip(values(model) + (opt.velocity or []), values(ref_model) + (ref_opt.velocity or [])):
        np.testing.assert_allclose(fast, ref, **tolerance)
    np.testing.assert_allclose([r["train_loss"] for r in log], [r["train_loss"] for r in ref_log], **tolerance)
    np.testing.assert_allclose([r["test_loss"] for r in history], [r["test_loss"] for r in ref_history],
                               **tolerance)


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("hidden,output,loss,bias", COMBINATIONS)
def test_fast_path_equals_reference_for_every_activation_loss_and_bias(kernel, hidden, output, loss, bias):
    assert_same_training(kernel, np.float64, hidden=hidden, output=output, loss=loss, bias=bias)


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("hidden,output,loss", [("sigmoid", "sigmoid", "mse"), ("relu", "softmax", "cross_entropy"),
                                                ("tanh", "identity", "mse"), ("leaky_relu", "softmax", "mse")])
def test_fast_path_equals_reference_in_float32(kernel, hidden, output, loss):
    assert_same_training(kernel, np.float32, hidden=hidden, output=output, loss=loss, bias=True)


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("momentum,weight_decay", [(0.9, 0.0), (0.0, 0.01), (0.5, 0.01)])
def test_fast_path_equals_reference_with_momentum_and_weight_decay(kernel, dtype, momentum, weight_decay):
    assert_same_training(kernel, dtype, hidden="sigmoid", output="sigmoid", loss="mse", bias=True,
                         momentum=momentum, weight_decay=weight_decay)


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("sizes", [(7, 3), (7, 6, 3)])
@pytest.mark.parametrize("bias", [True, False])
def test_deferred_first_layer_with_any_depth_and_a_last_chunk_cut_short(kernel, sizes, bias):
    """The first layer's updates are deferred over chunks of DEFERRED samples: also when it is the
    output layer, and when the epoch (DEFERRED * 2 + 7 samples) does not end on a chunk boundary."""
    assert_same_training(kernel, np.float64, n=DEFERRED * 2 + 7, sizes=sizes, hidden="tanh", output="sigmoid",
                         loss="mse", bias=bias)


def test_kernel_choice_and_fallbacks():
    model = mlp([4, 3, 2], dtype=np.float32, rng=np.random.default_rng(0))
    optimizer = SGD(model.parameters, lr=0.1)
    x32 = np.zeros((5, 4), np.float32)
    assert isinstance(per_sample_trainer(model, optimizer, x32, "numpy"), BlasTrainer)
    assert isinstance(per_sample_trainer(model, optimizer, x32), BlasTrainer)      # kernel=auto, a small set: numpy
    assert per_sample_trainer(model, optimizer, x32, "reference") is None
    assert per_sample_trainer(model, optimizer, x32.astype(np.float64), "numpy") is None  # other dtype
    other = SGD([Parameter(p.value.copy(), p.name, p.decays) for p in model.parameters.values()], lr=0.1)
    assert per_sample_trainer(model, other, x32, "numpy") is None          # not the model's arrays
    assert resolve_kernel("auto", NUMBA_MIN_SAMPLES) == ("numba" if numba_available() else "numpy")
    assert resolve_kernel("auto", NUMBA_MIN_SAMPLES - 1) == "numpy"     # not worth loading numba
    assert resolve_kernel("numpy", 10**6) == "numpy"
    with pytest.raises(ConfigError, match="kernel=fastest is not known"):
        resolve_kernel("fastest", 10)


def test_diverging_run_is_detected_on_the_fast_path():
    data = toy_data("identity", np.float64)
    model = mlp([7, 6, 5, 3], activation="identity", output_activation="identity", init="unit_normal",
                dtype=np.float64, rng=np.random.default_rng(0))
    optimizer = SGD(model.parameters, lr=5.0)
    from nnexp.training.loop import Diverged

    with pytest.raises(Diverged):
        train(Learner(model, optimizer), data, Recipe(1, batch_size=1, kernel="numpy"))


@pytest.mark.skipif(not numba_available(), reason="numba is not installed")
def test_a_slow_first_call_of_the_compiled_kernel_says_it_is_compiling_once(monkeypatch, caplog):
    """The first call per dtype that outlasts COMPILE_NOTICE_SECONDS logs the notice (here the limit
    is 0 s, so every first call does); later calls in the process say nothing."""
    from nnexp.nn.kernels import compiled

    monkeypatch.setattr(compiled, "COMPILE_NOTICE_SECONDS", 0.0)
    monkeypatch.setattr(compiled, "_noticed", set())
    data = toy_data("sigmoid", np.float64)
    with caplog.at_level("WARNING", logger=compiled.__name__):
        for _ in range(2):
            trained("numba", data, "sigmoid", "sigmoid", "mse", True, np.float64)
            time.sleep(0.05)     # the notice comes from a timer thread
    notices = [r.getMessage() for r in caplog.records if "numba is compiling" in r.getMessage()]
    assert notices == ["numba is compiling the per-sample kernel for float64: once per install (about 10-30 s), "
                       "then loaded from numba's cache"]


@pytest.mark.skipif(not numba_available(), reason="numba is not installed")
def test_a_quick_first_call_says_nothing(monkeypatch, caplog):
    from nnexp.nn.kernels import compiled

    data = toy_data("sigmoid", np.float64)
    trained("numba", data, "sigmoid", "sigmoid", "mse", True, np.float64)     # compiled or loaded here, if not before
    caplog.clear()
    monkeypatch.setattr(compiled, "_noticed", set())
    with caplog.at_level("WARNING", logger=compiled.__name__):
        trained("numba", data, "sigmoid", "sigmoid", "mse", True, np.float64)
    assert not [r for r in caplog.records if "numba is compiling" in r.getMessage()]


RULES = {"nesterov": lambda model: SGD.of(model, 0.05, momentum=0.9, nesterov=True, weight_decay=0.01),
         "adam": lambda model: Adam.of(model, 0.01, weight_decay=0.01),
         "adamw": lambda model: Adam.of(model, 0.01, weight_decay=0.1, decoupled=True),
         "rmsprop": lambda model: RMSprop.of(model, 0.01, alpha=0.9, weight_decay=0.01)}
"""Optimizers the numba kernel compiles beside SGD, with weight decay (so a decayed bias would show)."""


def trained_with(kernel, rule, dtype, bias, epochs=3):
    data = toy_data("softmax", dtype)
    model = mlp([7, 6, 5, 3], activation="tanh", output_activation="softmax", loss="cross_entropy", init="xavier",
                bias=bias, dtype=dtype, rng=np.random.default_rng(0))
    optimizer = RULES[rule](model)
    recipe = Recipe(epochs, batch_size=1, shuffle=True, seed=3, kernel=kernel)
    history, log = train(Learner(model, optimizer), data, recipe)
    return model, optimizer, log


@pytest.mark.skipif(not numba_available(), reason="numba is not installed")
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("rule", list(RULES))
def test_compiled_optimizers_equal_the_reference(rule, bias, dtype):
    """Nesterov, Adam, AdamW and RMSprop on the numba kernel: weights, every optimizer buffer (m, v, square,
    velocity), the step count and the losses equal the reference path's to float rounding after 3 epochs
    of 60 shuffled samples (180 steps of Adam's bias correction)."""
    ref_model, ref_opt, ref_log = trained_with("reference", rule, dtype, bias)
    model, opt, log = trained_with("numba", rule, dtype, bias)
    assert opt.t == ref_opt.t == 180
    tolerance = TOLERANCE[dtype]
    for name, array in ref_model.state().items():
        np.testing.assert_allclose(model.state()[name], array, **tolerance, err_msg=name)
    assert opt.state().keys() == ref_opt.state().keys()
    for name, array in ref_opt.state().items():
        np.testing.assert_allclose(opt.state()[name], array, **tolerance, err_msg=name)
    np.testing.assert_allclose([r["train_loss"] for r in log], [r["train_loss"] for r in ref_log], **tolerance)


@pytest.mark.skipif(not numba_available(), reason="numba is not installed")
def test_which_kernel_runs_which_optimizer():
    """numba runs every rule; numpy only SGD without Nesterov; a decay mask other than weights-only (a
    decayed bias) goes to the reference path on both."""
    from nnexp.nn.kernels.compiled import NumbaTrainer

    model = mlp([4, 3, 2], dtype=np.float32, bias=True, rng=np.random.default_rng(0))
    x32 = np.zeros((5, 4), np.float32)
    for rule in RULES:
        assert isinstance(per_sample_trainer(model, RULES[rule](model), x32, "numba"), NumbaTrainer)
        assert per_sample_trainer(model, RULES[rule](model), x32, "numpy") is None
    for p in model.parameters.values():   # the biases decay too
        p.decays = True
    every = Adam(model.parameters, 0.01, weight_decay=0.1)
    assert per_sample_trainer(model, every, x32, "numba") is None


@pytest.mark.parametrize("kernel", KERNELS)
def test_a_schedule_changes_the_kernels_rate_between_epochs_as_on_the_reference_path(kernel):
    """Step decay (lr 0.5, then 0.05, then 0.005): the kernel trains each epoch at the schedule's rate, as
    the reference path does (a kernel keeping its first rate ends elsewhere)."""
    from nnexp.nn.schedules import make_schedule

    data = toy_data("sigmoid", np.float64)

    def run(on):
        model = mlp([7, 6, 5, 3], activation="sigmoid", output_activation="sigmoid", init="xavier", bias=True,
                    dtype=np.float64, rng=np.random.default_rng(0))
        optimizer = SGD(model.parameters, lr=0.5)
        schedule = make_schedule({"name": "step", "gamma": 0.1, "step_size": 1}, 0.5)
        history, _ = train(Learner(model, optimizer, schedule), data,
                           Recipe(3, batch_size=1, shuffle=True, seed=3, kernel=on))
        return model, history

    (ref_model, _), (model, history) = run("reference"), run(kernel)
    assert [row["epoch_lr"] for row in history] == pytest.approx([0.5, 0.05, 0.005])
    for name, array in ref_model.state().items():
        np.testing.assert_allclose(model.state()[name], array, **TOLERANCE[np.float64], err_msg=name)


@pytest.mark.skipif(not numba_available(), reason="numba is not installed")
def test_a_schedule_changes_adamws_decoupled_decay_on_the_compiled_kernel_as_on_the_reference_path():
    """AdamW's decay factor 1 - lr lambda follows the schedule's rate from epoch to epoch on the numba kernel,
    as on the reference path (a kernel keeping the first epoch's factor decays the weights elsewhere)."""
    from nnexp.nn.schedules import make_schedule

    data = toy_data("softmax", np.float64)

    def run(on):
        model = mlp([7, 6, 5, 3], activation="tanh", output_activation="softmax", loss="cross_entropy",
                    init="xavier", bias=True, dtype=np.float64, rng=np.random.default_rng(0))
        optimizer = Adam.of(model, 0.05, weight_decay=0.5, decoupled=True)
        schedule = make_schedule({"name": "step", "gamma": 0.1, "step_size": 1}, 0.05)
        train(Learner(model, optimizer, schedule), data, Recipe(3, batch_size=1, shuffle=True, seed=3, kernel=on))
        return model

    ref_model, model = run("reference"), run("numba")
    for name, array in ref_model.state().items():
        np.testing.assert_allclose(model.state()[name], array, **TOLERANCE[np.float64], err_msg=name)


class Counting:
    """A progress bar that adds up what it is told."""

    def __init__(self):
        self.total = 0

    def update(self, n):
        self.total += n


@pytest.mark.parametrize("kernel", KERNELS)
def test_a_long_epoch_counts_each_sample_once_as_a_step_and_on_the_progress_bar(kernel):
    """Epochs longer than PROGRESS_CHUNK (trained in several ranges): the optimizer's step count (Adam's
    bias correction on numba) and the progress bar grow by exactly one per sample."""
    from nnexp.nn.kernels.base import PROGRESS_CHUNK

    n = PROGRESS_CHUNK + 150
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(n, 3)).astype(np.float32), rng.random((n, 2)).astype(np.float32)
    model = mlp([3, 2], dtype=np.float32, rng=np.random.default_rng(0))
    optimizer = Adam(model.parameters, 0.001) if kernel == "numba" else SGD(model.parameters, 0.01)
    trainer, progress = per_sample_trainer(model, optimizer, x, kernel), Counting()
    for _ in range(2):
        trainer.epoch(x, y, np.arange(n), progress)
    assert optimizer.t == progress.total == 2 * n


@pytest.mark.parametrize("kernel", KERNELS)
def test_only_plain_sgd_defers_the_first_layer(kernel):
    """Plain SGD trains in chunks of DEFERRED samples (the speed of both kernels); momentum, decay and the
    other optimizers step every weight at every sample, chunks of one."""
    model = mlp([4, 3, 2], dtype=np.float32, bias=True, rng=np.random.default_rng(0))
    x32 = np.zeros((5, 4), np.float32)
    assert per_sample_trainer(model, SGD(model.parameters, 0.1), x32, kernel).chunk == DEFERRED
    for slower in (SGD(model.parameters, 0.1, momentum=0.9), SGD(model.parameters, 0.1, weight_decay=0.01)):
        assert per_sample_trainer(model, slower, x32, kernel).chunk == 1
    if kernel == "numba":
        assert per_sample_trainer(model, Adam(model.parameters, 0.01), x32, kernel).chunk == 1


def test_an_optimizer_no_kernel_runs_is_named_when_it_falls_back(caplog):
    class Lion(SGD):
        """Not one of the kernels' rules."""

    from nnexp.nn import kernels

    model = mlp([4, 3, 2], dtype=np.float32, rng=np.random.default_rng(0))
    x32 = np.zeros((5, 4), np.float32)
    caplog.set_level("INFO")
    assert per_sample_trainer(model, Lion(model.parameters, 0.1), x32, "numpy") is None
    assert [r.getMessage() for r in caplog.records if r.name == kernels.__name__] == [
        "per-sample fast path not used (kernel=numpy runs sgd, not Lion): training on the reference path"]
    assert kernels.unsupported(model, Lion(model.parameters, 0.1), x32, "numba") == (
        "kernel=numba runs sgd, nesterov, adam, adamw, rmsprop, not Lion")


def test_each_reason_the_fast_path_is_not_used_is_named(monkeypatch, caplog):
    """unsupported() names why a kernel cannot train a case (the log line of the fallback says it whole)."""
    from nnexp.nn import kernels
    from nnexp.nn.build import build_network
    from nnexp.nn.network import named_parameters

    def model(**settings):
        return mlp([4, 3, 2], dtype=settings.pop("dtype", np.float32), bias=True, rng=np.random.default_rng(0),
                   **settings)

    x32 = np.zeros((5, 4), np.float32)
    net = model()
    assert kernels.unsupported(net, SGD(net.parameters, 0.1), x32) is None
    assert kernels.unsupported(net, SGD(net.parameters, 0.1, momentum=0.9, weight_decay=0.1), x32) is None
    assert kernels.unsupported(net, Adam(net.parameters, 0.1), x32) == "kernel=numpy runs sgd, not adam"
    assert kernels.unsupported(net, SGD(net.parameters, 0.1, momentum=0.5, nesterov=True), x32, "numba") is None
    flat = build_network({"name": "cnn", "layers": [{"type": "flatten"}, {"type": "dense", "units": None}],
                          "output_activation": "sigmoid", "loss": "mse", "init": "normal", "bias": False,
                          "uniform_limit": 0.5}, (4,), 2)
    assert kernels.unsupported(flat, SGD(flat.parameters, 0.1), x32) == (
        "the network is not a stack of dense and activation layers")
    copies = [Parameter(p.value.copy(), p.name, p.decays) for p in net.parameters.values()]
    assert kernels.unsupported(net, SGD(copies, 0.1), x32) == "the optimizer is not over the network's own parameters"
    for decay in ([True, True, True, False], [True, False, False, False]):   # W1 b1 W2 b2: b1 decayed; W2 not
        optimizer = SGD(net.parameters, 0.1, weight_decay=0.1)
        optimizer.decay = decay
        assert kernels.unsupported(net, optimizer, x32) == "a decay mask other than every weight matrix and no bias"
    half = model(dtype=np.float16)
    assert kernels.unsupported(half, SGD(half.parameters, 0.1), x32.astype(np.float16)) == (
        "dtype float16 (float32 and float64 only)")
    assert kernels.unsupported(net, SGD(net.parameters, 0.1), x32.astype(np.float64)) == (
        "inputs are float64 but the weights are float32")
    fortran = model()
    fortran.layers[0].W = np.asfortranarray(fortran.layers[0].W)
    fortran.layers[0]._keep_params()
    fortran.parameters = named_parameters(fortran.layers)
    assert kernels.unsupported(fortran, SGD(fortran.parameters, 0.1), x32) == "parameters that are not C-contiguous"
    caplog.set_level("INFO")
    assert per_sample_trainer(net, SGD(copies, 0.1), x32, "numpy") is None
    assert ("per-sample fast path not used (the optimizer is not over the network's own parameters): training on "
            "the reference path") in caplog.text
    monkeypatch.setattr(kernels, "numba_available", lambda: False)
    assert resolve_kernel("auto", NUMBA_MIN_SAMPLES) == "numpy"
    with pytest.raises(ConfigError) as err:
        resolve_kernel("numba", 10)
    assert str(err.value) == "kernel=numba needs numba: pip install 'nnexp[fast]', or use kernel=numpy"
    with pytest.raises(ConfigError) as err:
        resolve_kernel("fastest", 10)
    assert str(err.value) == "kernel=fastest is not known; choose one of auto, numba, numpy, reference"


@pytest.mark.parametrize("bias", [True, False])
def test_the_numpy_kernels_work_arrays_are_of_the_networks_dtype(bias):
    """Every buffer BlasTrainer allocates once is float32 for a float32 network: nothing is cast per sample
    (a float64 buffer would make each BLAS call copy its vector and compute the step in mixed precision)."""
    model = mlp([7, 6, 5, 3], dtype=np.float32, bias=bias, rng=np.random.default_rng(0))
    for optimizer in (SGD(model.parameters, 0.1), SGD(model.parameters, 0.1, momentum=0.9)):
        trainer = BlasTrainer(model, optimizer)
        arrays = [trainer.first_deltas, trainer.first_z, trainer.upper, *trainer.zs[1:], *trainer.acts,
                  *trainer.deltas[1:], *trainer.gs, *trainer.scratch, *trainer.ones, *trainer.lr_delta]
        assert {a.dtype for a in arrays} == {np.dtype(np.float32)}
        assert {m.dtype for m in trainer.masks} == {np.dtype(bool)}
        assert [a.shape for a in trainer.acts] == [(6,), (5,)] and [g.shape for g in trainer.gs] == [(6,), (5,), (3,)]


@pytest.mark.parametrize("kernel", KERNELS)
def test_a_float32_networks_per_sample_losses_are_float32_numbers_as_on_the_reference_path(kernel):
    """Each sample's output is kept and scored in the network's dtype, as the reference path's backprop scores it:
    an epoch's losses (float64) are float32 numbers, not float64 work on float32 outputs."""
    data = toy_data("sigmoid", np.float32)
    model = mlp([7, 6, 5, 3], dtype=np.float32, bias=True, rng=np.random.default_rng(0))
    assert model.backprop(data.x_train[:1], data.y_train[:1]).dtype == np.float32
    trainer = per_sample_trainer(model, SGD(model.parameters, 0.05), data.x_train, kernel)
    losses = trainer.epoch(data.x_train, data.y_train, np.arange(len(data.x_train)), Counting())
    assert losses.dtype == np.float64 and len(losses) == 60
    np.testing.assert_array_equal(losses, losses.astype(np.float32))


@pytest.mark.skipif(not numba_available(), reason="numba is not installed")
def test_the_numba_kernels_arrays_are_of_the_networks_dtype_with_one_signature_per_dtype():
    """Every array NumbaTrainer hands the compiled epoch, stand-ins for absent biases and buffers included, is of the
    network's dtype: no float64 work in a float32 run, one compiled signature per dtype (each 10-30 s to compile)."""
    import numba

    from nnexp.nn.kernels.compiled import NumbaTrainer

    for dtype in (np.float32, np.float64):
        signatures = set()
        for bias in (True, False):
            model = mlp([7, 6, 5, 3], dtype=dtype, bias=bias, rng=np.random.default_rng(0))
            for optimizer in (SGD(model.parameters, 0.1), SGD(model.parameters, 0.1, momentum=0.9),
                              Adam(model.parameters, 0.01), RMSprop(model.parameters, 0.01)):
                trainer = NumbaTrainer(model, optimizer)
                lists = [*trainer.arrays[:-1], *trainer.buffers[:4]]
                arrays = [a for arrays in lists for a in arrays] + list(trainer.buffers[4:])
                assert {a.dtype for a in arrays} == {np.dtype(dtype)}
                assert trainer.arrays.codes.dtype == np.int64
                signatures.add(numba.typeof((trainer.arrays, trainer.buffers, trainer.rule)))
        assert len(signatures) == 1, signatures
