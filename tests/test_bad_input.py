"""Every input a user can get wrong on the command line: one clear line on stderr, a non-zero exit,
and the results already on disk (a finished sweep) left exactly as they were.

A failing single run still records its failure in its own new run directory (result.json with
status failed and the same message, the traceback in its log).
"""

import json
import re

import numpy as np
import pytest
from helpers import TINY, csv_text, mnist_like, open_files, run_cli, run_refused, tree_digest, write_idx_dir

from nnexp.storage import write_npz


def bad_idx_dir(tmp_path):
    directory = tmp_path / "idx"
    write_idx_dir(directory, gz=False)
    (directory / "train-images-idx3-ubyte").write_bytes(b"\x08\x03\x00\x00" + bytes(100))
    return directory


def bad_csv_dir(tmp_path):
    directory = tmp_path / "csv"
    directory.mkdir()
    x, labels = mnist_like(3)
    (directory / "mnist_test.csv").write_text(csv_text(labels, x))
    lines = csv_text(labels, x).split("\n")
    lines[1] = lines[1].rsplit(",", 1)[0]    # line 2 loses its last pixel
    (directory / "mnist_train.csv").write_text("\n".join(lines))
    return directory


def foreign_weights(tmp_path):
    path = tmp_path / "weights.npz"
    write_npz(path, {"W1": np.zeros((10, 784), np.float32), "W2": np.zeros((10, 10), np.int32),
                     "W9": np.zeros(3, np.float32)})
    return path


CASES = {
    "negative learning rate": (lambda t: ["lr=-1"], lambda t: "lr=-1.0 must be greater than 0"),
    "missing data dir": (lambda t: ["data=mnist", f"data.dir={t}/nowhere"],
                         lambda t: f"data.dir {t}/nowhere is not a directory; give the folder that holds the "
                                   "MNIST files"),
    "data dir is a file": (lambda t: ["data=mnist", f"data.dir={foreign_weights(t)}"],
                           lambda t: f"data.dir {t}/weights.npz is not a directory; give the folder that holds "
                                     "the MNIST files"),
    "corrupt IDX header": (lambda t: ["data=mnist", f"data.dir={bad_idx_dir(t)}"],
                           lambda t: f"{t}/idx/train-images-idx3-ubyte: not an IDX file: magic number is 08 03 00 "
                                     "00, expected 00 00 08 <ndim>; pass an MNIST IDX file such as "
                                     "train-images-idx3-ubyte.gz"),
    "CSV row of the wrong width": (lambda t: ["data=mnist", f"data.dir={bad_csv_dir(t)}"],
                                   lambda t: f"{t}/csv/mnist_train.csv: line 2 has 784 fields, expected 785 "
                                             "(label + 784 pixels); fix or remove that line"),
    "weights of another network": (lambda t: [f"init_from={foreign_weights(t)}"],
                                   lambda t: f"init_from {t}/weights.npz does not fit the configured network: "
                                             "unexpected W9; not floating point W2 int32"),
    "init_from file that does not exist": (lambda t: [f"init_from={t}/none.npz"],
                                           lambda t: f"weights file {t}/none.npz does not exist"),
    "init_from file with pickled objects": (lambda t: [f"init_from={pickled_weights(t)}"],
                                            lambda t: f"weights file {t}/pickled.npz is not a readable .npz without "
                                                      "pickle: Object arrays cannot be loaded when allow_pickle=False"),
    "learning rate nan": (lambda t: ["lr=nan"], lambda t: "lr=nan is not a finite number; give a number such as "
                                                          "the default"),
    "learning rate inf": (lambda t: ["lr=inf"], lambda t: "lr=inf is not a finite number; give a number such as "
                                                          "the default"),
    "momentum nan": (lambda t: ["momentum=nan"], lambda t: "momentum=nan is not a finite number; give a number "
                                                           "such as the default"),
    "weight decay -inf": (lambda t: ["weight_decay=-inf"], lambda t: "weight_decay=-inf is not a finite number; "
                                                                     "give a number such as the default"),
    "negative seed": (lambda t: ["seed=-1"], lambda t: "seed=-1 must be a whole number of at least 0"),
    "zero epochs": (lambda t: ["epochs=0"], lambda t: "epochs=0 must be greater than 0"),
    "zero batch size": (lambda t: ["batch_size=0"], lambda t: "batch_size=0 must be greater than 0"),
    "momentum of 1": (lambda t: ["momentum=1"], lambda t: "momentum=1.0 must be in [0, 1)"),
    "negative weight decay": (lambda t: ["weight_decay=-0.1"], lambda t: "weight_decay=-0.1 must not be negative"),
    "test fraction of 1.5": (lambda t: ["data.test_fraction=1.5"],
                             lambda t: "data.test_fraction=1.5 must be in (0, 1)"),
    "divisor 0": (lambda t: ["data.divisor=0"], lambda t: "data.divisor=0.0 must be greater than 0"),
    "no threads": (lambda t: ["threads=0"], lambda t: "threads=0 must be auto or a whole number of at least 1"),
    "hidden layer of size 0": (lambda t: ["model.hidden=[10,0]"],
                               lambda t: "model.hidden=[10, 0] has a layer of size 0; every size must be at least 1"),
    "data dir without MNIST files": (
        lambda t: ["data=mnist", f"data.dir={empty_dir(t)}"],
        lambda t: f"{t}/empty: no MNIST files found (looked for train-images-idx3-ubyte[.gz], "
                  "train-labels-idx1-ubyte[.gz], t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz], or "
                  "mnist_train.csv + mnist_test.csv); put them there, or pass data.dir=null to download them"),
    "softmax cross-entropy on classic targets": (
        lambda t: ["model.output_activation=softmax", "model.loss=cross_entropy"],
        lambda t: "loss cross_entropy with a softmax output needs target rows that sum to 1, but a row sums to "
                  "1.08 (data.scaling=classic gives 0.01/0.99 targets); set data.scaling=standard for one-hot "
                  "targets, or use model.loss=mse"),
    "cross-entropy on a relu output": (
        lambda t: ["model.output_activation=relu", "model.loss=cross_entropy"],
        lambda t: "loss cross_entropy needs a softmax or sigmoid output, not 'relu'; set "
                  "model.output_activation=softmax or use loss=mse"),
    "a CNN on data without images": (lambda t: ["model=cnn", "data=xor"],
                                     lambda t: "model=cnn needs image data (mnist, fashion_mnist, kmnist, "
                                               "mnist_sample, digits); data=xor has none"),
    "a dropout rate of 1.5": (
        lambda t: ["model=cnn", "model.layers=[{type:flatten},{type:dropout,rate:1.5},{type:dense,units:null}]"],
        lambda t: "dropout rate must be in [0, 1), got 1.5"),
    "a read-only reuse store": (lambda t: ["reuse_dir=/proc/nnexp-reuse"],
                                lambda t: re.compile(r"cannot write /proc/nnexp-reuse/[0-9a-f]{24}/epoch_1\.lock: No "
                                                     "such file or directory; set reuse_dir to a writable "
                                                     "directory, or reuse=false")),
}


def pickled_weights(tmp_path):
    path = tmp_path / "pickled.npz"
    np.savez(path, W1=np.array([object()], dtype=object))
    return path


def empty_dir(tmp_path):
    (tmp_path / "empty").mkdir()
    return tmp_path / "empty"


@pytest.mark.parametrize("case", CASES)
def test_bad_input_is_one_line_and_leaves_results_alone(case, finished_sweep, tmp_path):
    overrides, message = (make(tmp_path) for make in CASES[case])
    before = tree_digest(finished_sweep)
    run_dir = tmp_path / "run"
    tiny = [o for o in TINY if "model=cnn" not in overrides or not o.startswith("model.hidden")]
    done = run_refused(*tiny, *overrides, f"hydra.run.dir={run_dir}",
                       env={"NNEXP_CACHE": str(tmp_path / "cache")})
    assert done.returncode == 1
    recorded = json.loads((run_dir / "result.json").read_text())["error"]
    if isinstance(message, re.Pattern):
        assert message.fullmatch(recorded) and done.stderr == f"nnexp: error: {recorded}\n", done.stderr
    else:
        assert done.stderr == f"nnexp: error: {message}\n" and recorded == message
    assert tree_digest(finished_sweep) == before
    assert "Traceback" in (run_dir / "main.log").read_text()
    if "data=mnist" in overrides:   # a bad data file leaves no cache entry (a good one, the sample, may)
        assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").rglob("*.npy"))


@pytest.mark.parametrize("override, line", [
    ("lr=abc", "Error merging override lr=abc Value 'abc' of type 'str' could not be converted to Float"),
    ("batchsize=3", "Could not override 'batchsize'. To append to your config use +batchsize=3 "
                    "Key 'batchsize' not in 'Config'"),
    ("model.hidden=[ten]", "Error merging override model.hidden=[ten] "
                           "Value 'ten' of type 'str' could not be converted to Integer"),
    ("model=cnnn", "In 'config': Could not find 'model/cnnn' Available options in 'model': cnn cnn_classic mlp"),
    ("data=schema", "In 'config': Could not find 'data/schema' Available options in 'data': digits fashion_mnist "
                    "kmnist mnist mnist_sample sine xor"),   # the schemas are not config group options
    ("dtype=float16", "Error merging override dtype=float16 Invalid value 'float16', expected one of "
                      "[float32, float64]"),
    ("model.activation=swish", "Error merging override model.activation=swish Invalid value 'swish', expected "
                               "one of [sigmoid, tanh, relu, leaky_relu, identity]"),
    ("lr=[0.1", "override 'lr=[0.1' does not parse: no viable alternative at input '[0.1' "
                "See https://hydra.cc/docs/1.2/advanced/override_grammar/basic for details"),
])
def test_hydra_rejects_a_wrong_type_or_key_before_anything_is_written(override, line, tmp_path):
    """Hydra's composition errors, one line naming the override, exit code 1, nothing written."""
    done = run_refused(override, f"hydra.run.dir={tmp_path}/run")
    assert done.returncode == 1
    assert done.stderr.strip() == f"nnexp: error: {line}"
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("args", [["lr=-1"], ["lr=abc"], ["model=cnn", "data=xor"], ["-m", "lr=0.1,fast"],
                                  ["-m", "hydra/sweeper=search", "lr=0.1,0.2", "hydra.sweeper.n_trials=0"]])
def test_a_command_refused_in_process_is_refused_as_by_a_real_process(args, tmp_path):
    """The tests of refusals run them in the test's process (helpers.run_refused): the same exit code,
    stdout, stderr and files as ``python -m nnexp`` in a process of its own, and the test's process as
    it was before (working directory, environment, logging, Hydra's state, open files)."""
    import logging
    import os

    from hydra.core.hydra_config import HydraConfig

    runs = {}
    for name, run in (("process", run_cli), ("in-process", run_refused)):
        out = tmp_path / name
        before = (os.getcwd(), dict(os.environ), logging.getLogger().handlers[:], logging.getLogger().level)
        done = run(*args, *TINY, f"hydra.run.dir={out}", f"hydra.sweep.dir={out}")
        assert (os.getcwd(), dict(os.environ), logging.getLogger().handlers, logging.getLogger().level) == before
        assert [path for path in open_files() if path.startswith(str(out))] == []   # its lock, its log: closed
        assert not HydraConfig.initialized()
        files = sorted(str(path.relative_to(out)) for path in out.rglob("*")) if out.exists() else []
        runs[name] = done.returncode, done.stdout, done.stderr.replace(str(out), "DIR"), files
    assert runs["in-process"] == runs["process"]
    assert runs["process"][0] == 1 and runs["process"][2].startswith("nnexp: error: ")


def test_hydra_full_error_keeps_hydra_report(tmp_path):
    """HYDRA_FULL_ERROR=1 is the user asking for Hydra's own report (with its traceback)."""
    done = run_refused("lr=abc", f"hydra.run.dir={tmp_path}/run", env={"HYDRA_FULL_ERROR": "1"})
    assert done.returncode == 1 and "Traceback" in done.stderr and "nnexp: error" not in done.stderr


def test_weights_files_are_refused_naming_each_wrong_array(tmp_path):
    """Every kind of mismatch at once, each array named; then non-finite values; then pickles."""
    from nnexp.errors import WeightsError
    from nnexp.nn.build import mlp
    from nnexp.storage import read_npz

    model = mlp([4, 3, 2], bias=True)
    write_npz(tmp_path / "w.npz", {"W1": np.zeros((3, 5)), "W2": np.zeros((2, 3), np.int64), "b1": np.zeros(3),
                                   "extra": np.zeros(1)})
    with pytest.raises(WeightsError) as refused:
        model.load_state(read_npz(tmp_path / "w.npz"), source="w.npz")
    assert str(refused.value) == ("w.npz does not fit the configured network: missing b2; unexpected extra; "
                                  "wrong shape W1 (3, 5) (expected (3, 4)); not floating point W2 int64")
    state = {name: np.full_like(array, np.nan) for name, array in model.state().items()}
    with pytest.raises(WeightsError, match="w.npz holds non-finite values in W1, W2, b1, b2"):
        model.load_state(state, source="w.npz")
    np.savez(tmp_path / "pickled.npz", W1=np.array([{"a": 1}], dtype=object))
    with pytest.raises(WeightsError, match="is not a readable .npz without pickle"):
        read_npz(tmp_path / "pickled.npz")
    (tmp_path / "cut.npz").write_bytes((tmp_path / "w.npz").read_bytes()[:150])
    with pytest.raises(WeightsError, match="cut.npz is not a readable .npz"):
        read_npz(tmp_path / "cut.npz")


def test_report_of_an_empty_directory_is_one_line_and_writes_nothing(tmp_path):
    empty = tmp_path / "sweep"
    empty.mkdir()
    done = run_refused(str(empty), module="nnexp.report")
    assert done.returncode == 1
    assert done.stderr == (f"nnexp.report: error: {empty} holds no jobs: no multirun.yaml grid and no job "
                           "directories (.hydra/overrides.yaml); give the directory of a sweep or of a run\n")
    assert list(empty.iterdir()) == []


def test_inverse_of_a_run_without_weights_is_one_line_and_changes_nothing(finished_sweep, tmp_path):
    """A diverged job's directory: everything but weights.npz."""
    import shutil

    run_dir = shutil.copytree(finished_sweep / "0", tmp_path / "run")
    (run_dir / "weights.npz").unlink()
    before = tree_digest(run_dir)
    done = run_refused(str(run_dir), module="nnexp.inverse")
    assert done.returncode == 1
    assert done.stderr == (f"nnexp.inverse: error: {run_dir} has no weights.npz (not a run directory, or the run "
                           "failed or diverged); give the directory of a completed run\n")
    assert tree_digest(run_dir) == before


def test_a_diverged_run_says_so_in_one_line_and_exits_with_its_own_code(tmp_path):
    """``lr=1e308``: one console line and one main.log line name the epoch, the non-finite loss and the
    remedy; the exit code is DIVERGED_EXIT_CODE (README), and result.json records it."""
    from nnexp.errors import DIVERGED_EXIT_CODE

    done = run_cli(*TINY, "epochs=3", "lr=1e308", f"hydra.run.dir={tmp_path}")
    assert done.returncode == DIVERGED_EXIT_CODE == 3
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert re.search(r"training diverged in epoch 1: the training loss is (nan|inf|-inf) at lr 1e\+308; lower lr",
                     lines[0])
    logged = (tmp_path / "main.log").read_text().splitlines()
    assert [line for line in logged if "diverged" in line] == [lines[0]]
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["status"] == "diverged" and result["diverged_epoch"] == 1
