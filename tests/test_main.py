"""The command line as a user types it, run as a real subprocess."""

import json

import pandas as pd
from helpers import run_cli


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
    done = run_cli(f"hydra.run.dir={tmp_path}", "lr=-1")
    assert done.returncode != 0
    assert done.stderr.strip() == "nnexp: error: lr=-1.0 must be greater than 0"
    assert json.loads((tmp_path / "result.json").read_text())["status"] == "failed"


def test_wrong_weights_file_is_named(tmp_path):
    done = run_cli(f"hydra.run.dir={tmp_path}", f"init_from={tmp_path}/missing.npz")
    assert done.returncode != 0
    assert done.stderr.strip() == f"nnexp: error: weights file {tmp_path}/missing.npz does not exist"
