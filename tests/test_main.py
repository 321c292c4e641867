"""The command line as a user types it, run as a real subprocess."""

import json

import pandas as pd
from helpers import run_cli, run_refused, write_idx_dir


def test_default_command_writes_a_run_directory(tmp_path):
    done = run_cli(f"hydra.run.dir={tmp_path}", "data.train_size=1000")
    assert done.returncode == 0, done.stderr
    assert "epoch 1/1" in done.stdout + done.stderr
    for name in ("history.csv", "result.json", "per_label.csv", "confusion.csv", "weights.npz", "batches.csv"):
        assert (tmp_path / name).is_file(), name
    assert pd.read_csv(tmp_path / "history.csv")["test_acc"].iloc[0] > 0.5
    for name in ("loss_per_batch.png", "confusion.png", "per_label.png"):   # a single run draws its figures
        assert (tmp_path / name).read_bytes().startswith(b"\x89PNG"), name


def test_bad_value_is_one_line_and_nonzero_exit(tmp_path):
    done = run_refused(f"hydra.run.dir={tmp_path}", "lr=-1")
    assert done.returncode != 0
    assert done.stderr.strip() == "nnexp: error: lr=-1.0 must be greater than 0"
    assert json.loads((tmp_path / "result.json").read_text())["status"] == "failed"


def test_wrong_weights_file_is_named(tmp_path):
    done = run_refused(f"hydra.run.dir={tmp_path}", f"init_from={tmp_path}/missing.npz")
    assert done.returncode != 0
    assert done.stderr.strip() == f"nnexp: error: weights file {tmp_path}/missing.npz does not exist"


def test_fashion_mnist_from_a_directory_trains_and_names_the_classes(tmp_path):
    """python -m nnexp data=fashion_mnist data.dir=<the four files> (small ones written here): the class names
    are in per_label.csv and confusion.csv, and the figures drawn from them."""
    write_idx_dir(tmp_path / "fashion", n_train=60, n_test=20)
    done = run_cli(f"hydra.run.dir={tmp_path}/run", "data=fashion_mnist", f"data.dir={tmp_path}/fashion",
                   "model.hidden=[10]", env={"NNEXP_CACHE": str(tmp_path / "cache")})
    assert done.returncode == 0, done.stderr
    names = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
    assert pd.read_csv(tmp_path / "run" / "per_label.csv")["name"].tolist() == names
    assert pd.read_csv(tmp_path / "run" / "confusion.csv")["name"].tolist() == names
    assert json.loads((tmp_path / "run" / "result.json").read_text())["data"]["name"] == "fashion_mnist"
    for name in ("confusion.png", "per_label.png"):
        assert (tmp_path / "run" / name).read_bytes().startswith(b"\x89PNG"), name
