"""The learning-rate range test: schedule, suggestion, early stop, and the command."""

import json

import numpy as np
import pandas as pd
from helpers import TINY, compose_config, open_files, run_cli, run_refused
from omegaconf import OmegaConf
from PIL import Image

from nnexp.data import load_dataset
from nnexp.lr_find import learning_rates, range_test, suggest
from nnexp.nn.build import mlp
from nnexp.training.identity import plain


def test_the_schedule_grows_exponentially_from_start_to_end():
    lrs = learning_rates(1e-4, 10.0, 6)
    np.testing.assert_allclose(lrs, [1e-4, 1e-3, 1e-2, 1e-1, 1, 10])


def test_the_suggestion_is_the_steepest_fall_before_the_minimum():
    lrs = np.logspace(-4, 1, 501)
    x = np.log10(lrs)
    loss = 1 - 0.8 / (1 + np.exp(-(x + 2) * 4)) + np.where(x > 0, (x * 3) ** 2, 0)   # falls fastest at lr 0.01
    suggested, lowest = suggest(lrs, loss)
    assert abs(np.log10(suggested) + 2) < 0.02
    assert abs(np.log10(lowest) - 0) < 0.05
    noisy_start = loss.copy()
    noisy_start[:20] = np.linspace(3, 1, 20)   # the moving average settling: not a suggestion
    assert abs(np.log10(suggest(lrs, noisy_start)[0]) + 2) < 0.02


def test_a_diverging_test_stops_early():
    cfg = compose_config(["data=digits", "model.output_activation=identity", "lr_find.end=1000", "lr_find.steps=300"])
    data = load_dataset(plain(cfg.data), "float64")
    model = mlp([64, 20, 10], output_activation="identity", dtype=np.float64, rng=np.random.default_rng(0))
    table, stopped = range_test(model, data, cfg, cfg.lr_find)
    assert stopped and len(table) < 300
    last = table["smoothed_loss"].iloc[-1]
    assert not np.isfinite(last) or last > cfg.lr_find.stop_factor * table["smoothed_loss"].min()
    assert (np.diff(table["lr"]) > 0).all() and table["step"].iloc[0] == 1


def test_the_command_writes_table_summary_and_figure(tmp_path):
    done = run_cli(f"hydra.run.dir={tmp_path}", *TINY, "lr_find.steps=150", module="nnexp.lr_find")
    assert done.returncode == 0, done.stderr
    summary = json.loads((tmp_path / "lr_find.json").read_text())
    table = pd.read_csv(tmp_path / "lr_find.csv")
    assert list(table.columns) == ["step", "lr", "loss", "smoothed_loss"]
    assert len(table) == summary["steps_run"] <= 150
    assert table["lr"].iloc[0] == summary["start"]
    # the suggestion, recomputed from the table: the steepest fall of the smoothed loss (in log lr)
    # between the first 10% of the steps and the lowest point (break tried: suggesting the lowest point)
    lr, smoothed = table["lr"].to_numpy(), table["smoothed_loss"].to_numpy()
    lowest = int(np.argmin(smoothed))
    first = len(lr) // 10
    slope = np.gradient(smoothed, np.log(lr))
    assert summary["suggested_lr"] == lr[first + int(np.argmin(slope[first:max(lowest, first + 1)]))]
    assert summary["min_loss_lr"] == lr[lowest] and summary["suggested_lr"] < summary["min_loss_lr"]
    assert f"suggested lr {summary['suggested_lr']:.4g}" in done.stdout
    with Image.open(tmp_path / "lr_find.png") as image:
        assert image.format == "PNG"


def test_a_preset_runs_its_finder_as_one_run(tmp_path):
    done = run_cli(f"hydra.run.dir={tmp_path}", "experiment=two_hidden", "data=mnist_sample", "lr_find.steps=50",
                   module="nnexp.lr_find")
    assert done.returncode == 0, done.stderr
    cfg = OmegaConf.load(tmp_path / ".hydra" / "config.yaml")
    assert list(cfg.model.hidden) == [16, 16] and cfg.model.bias and cfg.data.divisor == 256
    assert (tmp_path / "lr_find.png").is_file()


def test_a_bad_range_is_one_line(tmp_path):
    done = run_refused(f"hydra.run.dir={tmp_path}", "lr_find.start=1", "lr_find.end=0.1", module="nnexp.lr_find")
    assert done.returncode == 1
    assert done.stderr.strip() == ("nnexp.lr_find: error: lr_find.start=1.0 and lr_find.end=0.1 must satisfy "
                                   "0 < start < end")
    assert [path for path in open_files() if path.startswith(str(tmp_path))] == []   # its lock is released
