"""model=cnn inside the harness: its config group brings the CNN recipe, run_job trains it and
writes the run directory, and bad combinations are refused in one line."""

import json

import pandas as pd
import pytest
from helpers import compose_config, run_cli, run_refused

from nnexp.errors import ConfigError
from nnexp.storage import read_npz
from nnexp.training.job import run_job

SMALL_STACK = ("model.layers=[{type:conv,filters:4,kernel:3,pad:1},{type:activation,name:relu},"
               "{type:pool,mode:max,size:2},{type:flatten},{type:dense,units:null}]")
TINY_CNN = ["model=cnn", "data=digits", "data.train_size=200", SMALL_STACK, "batch_size=16", "epochs=3"]
"""A CNN job of about a second: 200 8x8 digits, one conv layer of 4 filters, 3 epochs of 13 batches."""


def test_cnn_group_brings_its_recipe_and_the_command_line_wins():
    mlp = compose_config()
    assert (mlp.model.name, mlp.lr, mlp.batch_size, mlp.momentum, mlp.shuffle, mlp.epochs,
            mlp.data.scaling) == ("mlp", 0.1, 1, 0.0, False, 1, "classic")
    cnn = compose_config(["model=cnn"])
    assert (cnn.model.name, cnn.lr, cnn.batch_size, cnn.momentum, cnn.shuffle, cnn.data.scaling,
            cnn.model.init, cnn.model.output_activation, cnn.model.loss) == \
        ("cnn", 0.02, 64, 0.9, True, "standard", "he", "softmax", "cross_entropy")
    assert len(cnn.model.layers) == 11 and cnn.model.layers[0].filters == 32
    classic = compose_config(["model=cnn_classic", "data=digits"])
    assert [layer.get("name") for layer in classic.model.layers if layer.type == "activation"] == \
        ["leaky_relu", "leaky_relu"]
    assert [layer.filters for layer in classic.model.layers if layer.type == "conv"] == [8, 16]
    assert classic.data.scaling == "standard" and classic.data.divisor == 16
    mine = compose_config(["model=cnn", "lr=0.5", "batch_size=8", "data.scaling=classic", "momentum=0"])
    assert (mine.lr, mine.batch_size, mine.data.scaling, mine.momentum) == (0.5, 8, "classic", 0.0)


def test_cnn_run_writes_the_run_directory(tmp_path):
    result = run_job(compose_config(TINY_CNN), tmp_path)
    saved = json.loads((tmp_path / "result.json").read_text())
    assert saved["status"] == "completed" and saved["data"]["train_size"] == 200
    assert pd.read_csv(tmp_path / "history.csv")["epoch"].tolist() == [1, 2, 3]
    assert set(read_npz(tmp_path / "weights.npz")) == {"W1", "b1", "W2", "b2"}
    assert pd.read_csv(tmp_path / "confusion.csv").filter(like="pred_").to_numpy().sum() == saved["data"]["test_size"]
    assert result["test_acc"] > 0.3   # 10 classes: chance is 0.1
    assert result["kernel"] is None   # a mini-batch on the numpy kernel: no compiled data movement
    for name in ("filters.png", "feature_maps.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and name in saved["files"]


def test_conv_type_sweep_compares_the_three_types(tmp_path):
    done = run_cli("-m", *TINY_CNN, "epochs=1", "model.conv_type=standard,dilated,separable",
                   f"hydra.sweep.dir={tmp_path}")
    assert done.returncode == 0, done.stderr
    results = pd.read_csv(tmp_path / "results.csv")
    assert sorted(results["model.conv_type"]) == ["dilated", "separable", "standard"]
    assert (results["status"] == "completed").all()
    weights = {row["model.conv_type"]: set(read_npz(tmp_path / str(row["dir"]) / "weights.npz"))
               for _, row in results.iterrows()}
    assert {"Wd1", "Wp1"} <= weights["separable"] and "W1" in weights["standard"]
    assert weights["dilated"] == weights["standard"]   # same filter shapes, applied dilated
    for name in ("accuracy_by_model_conv_type.png", "best_filters.png", "best_feature_maps.png"):
        assert (tmp_path / name).is_file(), name
    assert "best_filters.png" in (tmp_path / "report.md").read_text()


def test_cnn_with_a_huge_learning_rate_diverges_and_is_recorded(tmp_path):
    result = run_job(compose_config(TINY_CNN + ["lr=1e30"]), tmp_path)
    assert result["status"] == "diverged" and result["diverged_epoch"] == 1
    assert not (tmp_path / "weights.npz").exists()
    assert json.loads((tmp_path / "result.json").read_text())["status"] == "diverged"


@pytest.mark.parametrize("name", ["xor", "sine"])
def test_cnn_config_errors_are_one_line(tmp_path, name):
    with pytest.raises(ConfigError) as err:
        run_job(compose_config(TINY_CNN + [f"data={name}"]), tmp_path)
    assert str(err.value) == ("model=cnn needs image data (mnist, fashion_mnist, kmnist, mnist_sample, digits); "
                              f"data={name} has none")


def test_an_unknown_conv_type_is_refused_by_the_schema_in_one_line():
    done = run_refused(*TINY_CNN, "model.conv_type=deformable")
    assert done.returncode == 1 and done.stderr.count("\n") == 1, done.stderr
    assert "Invalid value 'deformable', expected one of [standard, dilated, separable]" in done.stderr
