"""Golden outputs: short runs whose numbers must not move when the code is only reorganised.

Each case is a job run in-process (``run_job``) on embedded data with one BLAS thread; what it wrote
is reduced to its numbers: history.csv (every column but the times, ``*seconds``, each float as ``float.hex``),
the metrics of result.json, and the sha256 of every array of weights.npz (``arrays_digest``: the file's
own bytes hold zip timestamps). ``tests/goldens.json`` holds them, with the environment they were
recorded in: NumPy, the BLAS library and numba round differently from one version or CPU to another, so
on another environment the comparison is skipped, naming the difference.

Record them again (only for a change that is meant to change results, and say so in the changelog)::

    python tests/test_goldens.py
"""

import json
import platform
import sys
from pathlib import Path

import pandas as pd
import pytest
from helpers import compose_config

from nnexp.storage import arrays_digest, read_npz
from nnexp.training.job import run_job

GOLDENS = Path(__file__).with_name("goldens.json")

ONE_THREAD = ["threads=1", "reuse=false"]
MINI = ["data.train_size=1000", "batch_size=32", "epochs=2", "model.hidden=[30]", "seed=3", "shuffle=true"]
CNN = ["model=cnn", "data.train_size=200", "epochs=1", "model.layers.0.filters=8", "model.layers.3.filters=8",
       "model.layers.7.units=16"]
CASES = {
    "default": [],
    "default_reference": ["kernel=reference", "data.train_size=1000"],
    "default_numba": ["kernel=numba", "data.train_size=1000"],
    "momentum_decay_numpy": ["lr=0.01", "momentum=0.9", "weight_decay=0.001", "data.train_size=1000", "model.bias=true",
                             "model.activation=relu", "model.output_activation=softmax", "model.loss=cross_entropy",
                             "data.scaling=standard"],
    "momentum_decay_numba": ["kernel=numba", "lr=0.01", "momentum=0.9", "weight_decay=0.001", "data.train_size=1000",
                             "model.bias=true", "model.activation=tanh"],
    "sgd_minibatch_float64": MINI + ["dtype=float64"],
    "nesterov": MINI + ["momentum=0.9", "optimizer.nesterov=true", "weight_decay=0.0001"],
    "adam": MINI + ["optimizer=adam", "lr=0.01", "weight_decay=0.0001"],
    "adamw": MINI + ["optimizer=adamw", "lr=0.01", "weight_decay=0.01"],
    "rmsprop": MINI + ["optimizer=rmsprop", "lr=0.001", "model.init=xavier"],
    "step_warmup": MINI + ["epochs=3", "schedule=step", "schedule.step_size=1", "schedule.gamma=0.5",
                           "schedule.warmup=1"],
    "cosine_warmup": MINI + ["epochs=3", "schedule=cosine", "schedule.warmup=1", "schedule.min_lr=0.01"],
    "cnn": CNN,
    "cnn_separable": CNN + ["model.conv_type=separable", "data.augment=1"],
    "cnn_dilated_avg": CNN + ["model.conv_type=dilated", "model.layers.2.mode=avg", "optimizer=adam", "lr=0.001"],
    "xor": ["data=xor", "model.hidden=[2]", "model.bias=true", "model.init=uniform", "model.uniform_limit=1",
            "lr=0.5", "epochs=40"],
    "sine": ["data=sine", "data.val_size=0", "model.hidden=[6,6]", "model.bias=true", "model.init=uniform",
             "model.uniform_limit=1", "lr=0.2", "epochs=30"],
}
"""name: the overrides of a job (besides ONE_THREAD)."""

RESULT_KEYS = ("status", "epochs_completed", "train_loss", "train_acc", "val_loss", "val_acc", "test_loss",
               "test_acc", "best_test_acc", "best_test_loss", "best_val_acc", "best_val_loss", "best_epoch",
               "selected_on", "kernel", "epochs_trained", "diverged_epoch")


def exact(value):
    """A float as its exact hex text (NaN too), anything else as it is."""
    return float(value).hex() if isinstance(value, float) else value


def numbers(run_dir, result):
    """What a golden compares of one run directory."""
    history = pd.read_csv(run_dir / "history.csv")
    history = history.drop(columns=[c for c in history.columns if c.endswith("seconds")])   # wall-clock times
    weights = read_npz(run_dir / "weights.npz")
    return {"history": [[exact(v) for v in row] for row in history.astype(float).itertuples(index=False)],
            "history_columns": list(history.columns),
            "result": {key: exact(result.get(key)) for key in RESULT_KEYS},
            "weights": {"keys": sorted(weights), "shapes": {k: list(v.shape) for k, v in sorted(weights.items())},
                        "sha256": arrays_digest(weights)}}


def run_case(name, directory):
    return numbers(directory, run_job(compose_config(CASES[name] + ONE_THREAD), directory))


def environment():
    """What the goldens' rounding depends on besides the code."""
    import numba
    import numpy as np
    from threadpoolctl import threadpool_info

    blas = sorted(f"{lib.get('internal_api')} {lib.get('version')} {lib.get('architecture')}"
                  for lib in threadpool_info() if lib.get("user_api") == "blas")
    return {"numpy": np.__version__, "numba": numba.__version__, "blas": blas, "machine": platform.machine()}


def stored():
    return json.loads(GOLDENS.read_text())


@pytest.mark.parametrize("name", list(CASES))
def test_golden_outputs_are_unchanged(name, tmp_path):
    goldens = stored()
    if goldens["environment"] != environment():
        pytest.skip(f"goldens recorded with {goldens['environment']}, this is {environment()}")
    assert run_case(name, tmp_path / name) == goldens["cases"][name]


def test_every_case_has_a_golden():
    assert sorted(stored()["cases"]) == sorted(CASES)


if __name__ == "__main__":
    import os
    import tempfile

    os.chdir(tempfile.mkdtemp(prefix="nnexp-goldens-"))
    cases = {name: run_case(name, Path(name)) for name in CASES}
    GOLDENS.write_text(json.dumps({"environment": environment(), "cases": cases}, indent=1) + "\n")
    print(f"wrote {GOLDENS} ({len(cases)} cases)", file=sys.stderr)
