"""The experiment presets: the classic settings, their grids, and one preset run end to end."""

import pandas as pd
import pytest
from helpers import TINY, compose_config, run_cli
from omegaconf import OmegaConf
from PIL import Image

from nnexp.sweep.collect import planned_grid
from nnexp.training.identity import plain

CLASSIC = {"batch_size": 1, "shuffle": False, "data.name": "mnist", "data.scaling": "classic", "data.divisor": 255,
           "model.hidden": [100], "model.activation": "sigmoid", "model.output_activation": "sigmoid",
           "model.loss": "mse", "model.init": "normal", "model.bias": False}


def preset(name):
    """The composed config of ``experiment=name``, Hydra's own section included."""
    return compose_config([f"experiment={name}"], return_hydra_config=True)


def value(cfg, key):
    node = cfg
    for part in key.split("."):
        node = node[part]
    return list(node) if hasattr(node, "__len__") and not isinstance(node, str) else node


def grid(cfg):
    return planned_grid(OmegaConf.create({"hydra": {"sweeper": cfg.hydra.sweeper, "overrides": {"task": []}}}))


@pytest.mark.parametrize("name, settings, jobs", [
    ("fixed_lr", {"lr": 0.3, "epochs": 1}, [["lr=0.3"]]),
    ("lr_sweep", {"epochs": 1}, [[f"lr={lr}"] for lr in
                                 "0.01 0.05 0.08 0.1 0.12 0.15 0.18 0.2 0.3 0.5 0.7 1.0".split()]),
    ("epochs", {"lr": 0.1, "epochs": 20}, [["epochs=20"]]),
    ("lr_vs_epochs", {}, [[f"lr={lr}", f"epochs={e}"] for lr in "0.025 0.05 0.075 0.1 0.15 0.2 0.25 0.3".split()
                          for e in range(1, 16)]),
    ("inverse_query", {"lr": 0.025, "epochs": 13, "hydra.callbacks.report.inverse": True}, [["epochs=13"]]),
])
def test_the_make_your_own_presets(name, settings, jobs):
    cfg = preset(name)
    for key, expected in {**CLASSIC, **settings}.items():
        assert value(cfg, key) == expected, key
    assert cfg.experiment == name and cfg.hydra.mode.name == "MULTIRUN"
    assert grid(cfg) == jobs


def test_two_hidden_is_the_classic_784_16_16_10():
    cfg = preset("two_hidden")
    expected = {"lr": 0.17, "epochs": 1, "batch_size": 1, "shuffle": False, "data.scaling": "standard",
                "data.divisor": 256, "model.hidden": [16, 16], "model.init": "unit_normal", "model.bias": True,
                "model.loss": "mse", "model.activation": "sigmoid"}
    assert {k: value(cfg, k) for k in expected} == expected
    assert grid(cfg) == [["lr=0.17"]]


def test_softmax_minibatch_sums_the_batch_gradient_and_switches_to_the_mean():
    cfg = preset("softmax_minibatch")
    expected = {"lr": 0.001, "epochs": 5, "batch_size": 500, "batch_mean": False, "shuffle": True,
                "model.hidden": [625, 625], "model.output_activation": "softmax", "model.loss": "cross_entropy",
                "model.init": "unit_normal", "model.bias": False}
    assert {k: value(cfg, k) for k in expected} == expected
    assert grid(cfg) == [["batch_mean=False"], ["batch_mean=True"]]   # Hydra renders booleans so


@pytest.mark.parametrize("name, hidden, lr, epochs", [("xor", [2], 0.02, 200), ("sine", [6, 6], 0.4, 300)])
def test_the_toy_tasks(name, hidden, lr, epochs):
    cfg = preset(name)
    assert (cfg.data.name, list(cfg.model.hidden), cfg.lr, cfg.epochs) == (name, hidden, lr, epochs)
    assert (cfg.model.init, cfg.model.uniform_limit, cfg.model.bias) == ("uniform", 1.0, True)
    assert grid(cfg) == [["seed=0"], ["seed=1"], ["seed=2"]]


def test_a_preset_runs_its_whole_study_without_m(tmp_path):
    """inverse_query on the bundled sample, one epoch instead of 13 (the command line replaces the
    preset's grid value): a sweep, its report, and the best job's inverse query."""
    done = run_cli("experiment=inverse_query", "data=mnist_sample", *TINY, "epochs=1", f"hydra.sweep.dir={tmp_path}")
    assert done.returncode == 0, done.stderr
    results = pd.read_csv(tmp_path / "results.csv")
    assert list(results["status"]) == ["completed"] and results.loc[0, "epochs"] == 1
    assert "experiment" in results.columns and results.loc[0, "experiment"] == "inverse_query"
    with Image.open(tmp_path / "best_inverse.png") as image:
        assert image.format == "PNG"
    assert "![Best job: inverse query of every class](best_inverse.png)" in (tmp_path / "report.md").read_text()


def test_the_best_presets_are_the_published_commands():
    """experiments/best ran these as command-line overrides; each preset composes the same config."""
    mlp = ["data=mnist", "model.hidden=[500,300]", "model.activation=relu", "model.output_activation=softmax",
           "model.loss=cross_entropy", "model.init=he", "model.bias=true", "data.scaling=standard", "optimizer=adamw",
           "weight_decay=0.0001", "lr=0.001", "schedule=cosine", "epochs=20", "batch_size=128", "shuffle=true"]
    cnn = ["data=mnist", "model=cnn", "schedule=cosine", "epochs=10", "data.augment=2"]
    for name, overrides in (("best_mlp", mlp), ("best_cnn", cnn)):
        preset, typed = plain(compose_config([f"experiment={name}"])), plain(compose_config(overrides))
        assert {k: v for k, v in preset.items() if k != "experiment"} == \
            {k: v for k, v in typed.items() if k != "experiment"}, name
        assert compose_config([f"experiment={name}"], return_hydra_config=True).hydra.sweeper.params.seed == "0,1,2"


@pytest.mark.parametrize("folder", ["method/sweep", "optimizers/relu_sgd", "fashion/classic_fashion"])
def test_a_published_report_rebuilt_from_its_results_is_the_published_one(folder, tmp_path):
    """Golden outputs: experiments/rebuild_best.py recomputes summary.csv and report.md's best
    configuration (the ties with the best included) from the published results.csv, byte for byte."""
    import shutil
    import subprocess
    import sys

    from helpers import ROOT, cli_env

    published = ROOT / "experiments" / folder
    copy = tmp_path / "copy"
    copy.mkdir()
    for name in ("results.csv", "summary.csv", "report.md"):
        shutil.copyfile(published / name, copy / name)
    (copy / "summary.csv").unlink()
    done = subprocess.run([sys.executable, str(ROOT / "experiments" / "rebuild_best.py"), str(copy)], env=cli_env(),
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    for name in ("summary.csv", "report.md"):
        assert (copy / name).read_text() == (published / name).read_text(), name
    bad = subprocess.run([sys.executable, str(ROOT / "experiments" / "rebuild_best.py"), str(tmp_path / "nowhere")],
                         env=cli_env(), capture_output=True, text=True)
    assert bad.returncode == 1 and bad.stderr.strip().splitlines() == [
        f"rebuild_best: error: {tmp_path / 'nowhere'} has no results.csv and no report.md; give a published folder"]
