import json

import numpy as np
import pandas as pd
import pytest
from helpers import compose_config

from nnexp.errors import WeightsError
from nnexp.storage import read_npz, write_npz
from nnexp.training.job import run_job
from nnexp.training.run_files import HISTORY_COLUMNS

SMALL = ["data.train_size=300", "model.hidden=[20]", "epochs=2"]


def test_run_directory_holds_every_documented_file(tmp_path):
    result = run_job(compose_config(SMALL), tmp_path)
    history = pd.read_csv(tmp_path / "history.csv")
    assert list(history.columns) == HISTORY_COLUMNS and history["epoch"].tolist() == [1, 2]
    per_label = pd.read_csv(tmp_path / "per_label.csv")
    assert per_label["count"].sum() == 500 and per_label["error_share"].sum() == pytest.approx(1.0)
    assert per_label["errors"].sum() == round((1 - result["test_acc"]) * 500)
    confusion = pd.read_csv(tmp_path / "confusion.csv")
    assert confusion.shape == (10, 12) and confusion.filter(like="pred_").to_numpy().sum() == 500
    digits = [str(k) for k in range(10)]
    assert per_label["name"].astype(str).tolist() == confusion["name"].astype(str).tolist() == digits
    saved = json.loads((tmp_path / "result.json").read_text())
    assert saved["status"] == "completed" and saved["data"]["train_size"] == 300 and saved["data"]["test_size"] == 500
    assert saved["test_acc"] == history["test_acc"].iloc[-1]
    assert saved["best_test_acc"] == history["test_acc"].max()
    assert set(read_npz(tmp_path / "weights.npz")) == {"W1", "W2"}
    batches = pd.read_csv(tmp_path / "batches.csv")
    assert batches["samples"].iloc[-1] == 600 and len(batches) == 200


def test_same_seed_same_run_other_seed_other_run(tmp_path):
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        run_job(compose_config(SMALL + [f"seed={seed}", "shuffle=true"]), tmp_path / name)
    a, b, c = (read_npz(tmp_path / n / "weights.npz")["W1"] for n in "abc")
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_init_from_continues_and_refuses_other_shapes(tmp_path):
    run_job(compose_config(SMALL + ["epochs=1"]), tmp_path / "first")
    weights = tmp_path / "first" / "weights.npz"
    continued = run_job(compose_config(SMALL + ["epochs=1", f"init_from={weights}"]), tmp_path / "second")
    two_epochs = run_job(compose_config(SMALL), tmp_path / "both")
    # no shuffle: epoch 2 of one run is epoch 1 of a run that starts from its weights, bit for bit
    # (break tried: init_from ignored gives the first run's numbers)
    assert continued["epochs_trained"] == 1
    assert (continued["test_acc"], continued["test_loss"]) == (two_epochs["test_acc"], two_epochs["test_loss"])
    for name, array in read_npz(tmp_path / "both" / "weights.npz").items():
        np.testing.assert_array_equal(read_npz(tmp_path / "second" / "weights.npz")[name], array)
    with pytest.raises(WeightsError, match=r"W1 \(20, 784\) \(expected \(30, 784\)\)"):
        run_job(compose_config(SMALL + ["model.hidden=[30]", f"init_from={weights}"]), tmp_path / "wrong")


def test_weights_with_pickled_objects_are_refused(tmp_path):
    path = tmp_path / "evil.npz"
    np.savez(path, W1=np.array([object()], dtype=object))
    with pytest.raises(WeightsError, match="without pickle"):
        read_npz(path)
    write_npz(tmp_path / "ok.npz", {"W1": np.ones(2)})
    assert read_npz(tmp_path / "ok.npz")["W1"].tolist() == [1, 1]


def test_divergence_is_recorded_and_no_weights_are_written(tmp_path):
    cfg = compose_config(SMALL + ["model.activation=identity", "model.output_activation=identity", "lr=10",
                                  "model.init=unit_normal"])
    result = run_job(cfg, tmp_path)
    assert result["status"] == "diverged" and result["diverged_epoch"] == 1
    assert not (tmp_path / "weights.npz").exists()
    assert json.loads((tmp_path / "result.json").read_text())["status"] == "diverged"


def test_xor_and_or_are_learned(tmp_path):
    cfg = compose_config(["data=xor", "model.hidden=[4]", "model.bias=true", "model.init=uniform",
                          "model.uniform_limit=1", "lr=0.5", "epochs=20", "dtype=float64"])
    result = run_job(cfg, tmp_path)
    assert result["test_acc"] == 1.0


def test_regression_leaves_accuracy_empty(tmp_path):
    cfg = compose_config(["data=sine", "data.n_train=200", "model.hidden=[6,6]", "model.bias=true", "epochs=2"])
    result = run_job(cfg, tmp_path)
    history = pd.read_csv(tmp_path / "history.csv")
    assert history["test_acc"].isna().all() and history["test_loss"].notna().all()
    assert result["best_epoch"] in (1, 2) and not (tmp_path / "per_label.csv").exists()
