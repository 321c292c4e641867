"""One job: build the data and the network from the config, train, and write the run directory.

Files written (each atomically):
    history.csv    one row per epoch: epoch, train_loss, train_acc, test_loss, test_acc, seconds
    batches.csv    training loss per chunk of batches: epoch, batch, samples, train_loss
    result.json    status, final and best metrics, seconds, data split sizes, seed, config_hash,
                   files (sha256 of each file above that this run wrote), environment (versions,
                   git commit, BLAS), epochs_trained (by this job: not restored from a checkpoint
                   or the reuse store), kernel (per-sample kernel), blas_threads
    per_label.csv  label, count, errors, error_rate, error_share   (classification)
    filters.png    a CNN's first-layer filters (nnexp/plots.py filter_grid)
    feature_maps.png  what each layer of a CNN makes of the first test image (feature_map_grid)
    confusion.csv  label, pred_0..pred_K-1                          (classification)
    weights.npz    W1..WL (and b1..bL with biases) of an MLP, conv1.W, conv1.b, ... of a CNN;
                   loadable with allow_pickle=False
    checkpoints/   epoch_<E>.npz: the latest epoch's training state, to continue after an interruption
"""

import functools
import logging
import platform
import subprocess
import time
from pathlib import Path

import numpy as np
import pandas as pd

from . import __version__
from .checkpoint import BATCH_COLUMNS, HISTORY_COLUMNS, CheckpointStore
from .cnn import CNN, build_cnn
from .config import validate
from .data import load_dataset, resolve_dir
from .errors import ConfigError
from .fast import resolve_kernel
from .metrics import confusion_frame, confusion_matrix, per_label_frame
from .network import MLP
from .optim import SGD
from .resume import config_hash, file_digests
from .reuse import shared_epochs
from .storage import read_npz, write_csv, write_json, write_npz
from .threads import blas_thread_count, blas_threads
from .train import Diverged, train

log = logging.getLogger(__name__)


def build_model(model_cfg, data, dtype, rng):
    """The network named by ``model.name``, its input and output sizes taken from the data."""
    if model_cfg.name == "mlp":
        return MLP([data.n_inputs, *model_cfg.hidden, data.n_outputs], activation=model_cfg.activation,
                   output_activation=model_cfg.output_activation, loss=model_cfg.loss, init=model_cfg.init,
                   bias=model_cfg.bias, uniform_limit=model_cfg.uniform_limit, dtype=dtype, rng=rng)
    if model_cfg.name == "cnn":
        if data.image_shape is None:
            raise ConfigError(f"model=cnn needs image data (mnist, mnist_sample, digits); data={data.name} has none")
        return build_cnn(model_cfg, data.image_shape, data.n_outputs, dtype=dtype, rng=rng)
    raise ConfigError(f"unknown model {model_cfg.name!r}; choose mlp or cnn")


def summarize(history, status, seconds):
    """Final and best metrics of a history: the best epoch has the highest test accuracy
    (the lowest test loss for regression)."""
    result = {"status": status, "epochs_completed": len(history), "seconds": seconds}
    if not history:
        return result
    frame = pd.DataFrame(history)
    final = frame.iloc[-1]
    result.update({key: float(final[key]) for key in ("train_loss", "train_acc", "test_loss", "test_acc")})
    if frame["test_acc"].notna().any():
        best = frame.loc[frame["test_acc"].idxmax()]
    else:
        best = frame.loc[frame["test_loss"].idxmin()]
    result.update({"best_test_acc": float(best["test_acc"]), "best_test_loss": float(best["test_loss"]),
                   "best_epoch": int(best["epoch"])})
    return result


OUTPUT_FILES = ("history.csv", "batches.csv", "weights.npz", "per_label.csv", "confusion.csv", "filters.png",
                "feature_maps.png")
"""Files of a run directory that result.json lists (those this run wrote); others are removed."""


def environment():
    """What a result depends on besides its config: versions, the source's git commit, BLAS."""
    from threadpoolctl import threadpool_info

    blas = [{key: lib.get(key) for key in ("internal_api", "prefix", "version", "num_threads", "threading_layer",
                                           "architecture")}
            for lib in threadpool_info() if lib.get("user_api") == "blas"]
    return {"nnexp": __version__, "git": source_revision(), "python": platform.python_version(),
            "numpy": np.__version__, "blas": blas, "platform": platform.platform()}


@functools.lru_cache(maxsize=1)
def source_revision():
    """{"commit", "dirty"} of the git checkout nnexp runs from (dirty: uncommitted changes to
    tracked files or new files outside .gitignore), or None for an installed package."""
    root = Path(__file__).resolve().parent.parent

    def git(*args):
        return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True,
                              timeout=10, check=True).stdout.strip()
    try:
        if Path(git("rev-parse", "--show-toplevel")).resolve() != root:
            return None
        return {"commit": git("rev-parse", "HEAD"), "dirty": bool(git("status", "--porcelain"))}
    except (OSError, subprocess.SubprocessError):
        return None


def write_scores(run_dir, model, data):
    """Confusion matrix and per-label error table of the final network on the test set."""
    predicted = model.predict(data.x_test).argmax(axis=1)
    counts = confusion_matrix(data.labels_test, predicted, data.n_outputs)
    return [write_csv(run_dir / "confusion.csv", confusion_frame(counts)),
            write_csv(run_dir / "per_label.csv", per_label_frame(counts))]


def write_cnn_figures(run_dir, model, data):
    """The first-layer filters and the feature maps of the first test image of a trained CNN."""
    from . import plots   # matplotlib: imported only when a CNN has finished

    image, label = data.x_test[0], int(data.labels_test[0])
    predicted = int(model.predict(image[None]).argmax(axis=1)[0])
    filters = plots.filter_grid(model.first_conv_filters(), run_dir / "filters.png",
                                title=f"First-layer filters ({model.names[0]})")
    maps = plots.feature_map_grid(model.feature_maps(image), run_dir / "feature_maps.png",
                                  title=f"Feature maps of test image 1 (label {label}, predicted {predicted})")
    return [filters, maps]


def run_job(cfg, run_dir, parallel_sweep=False):
    """Train the configured network once and write the run directory; return result.json's dict.

    ``parallel_sweep``: this job runs beside others on this machine (BLAS threads, nnexp/threads.py).
    """
    started = time.perf_counter()
    run_dir = Path(run_dir)
    validate(cfg)
    data = load_dataset(cfg.data, cfg.dtype)
    model = build_model(cfg.model, data, np.dtype(cfg.dtype), np.random.default_rng(cfg.seed))
    if cfg.init_from:
        model.load_state(read_npz(cfg.init_from), source=f"init_from {cfg.init_from}")
    optimizer = SGD(model.params, model.decay, cfg.lr, cfg.momentum, cfg.weight_decay)
    checkpoints = CheckpointStore(run_dir / "checkpoints", identity=config_hash(cfg, ignore=("epochs",)))
    history, batch_log = checkpoints.restore(model, optimizer, cfg.epochs)
    if history:
        log.info("resuming from the checkpoint of epoch %d of %d", len(history), cfg.epochs)
    kernel = resolve_kernel(cfg.kernel, len(data.x_train))
    thread_count = blas_thread_count(cfg.threads, cfg.batch_size, parallel_sweep)
    shared = shared_epochs(cfg, kernel, thread_count, resolve_dir(cfg.data.dir))

    def before_epoch(epoch):   # epochs another job of this configuration trained: load, keep a copy here
        found = shared is not None and shared.load(model, optimizer, epoch, cfg.epochs, history, batch_log)
        if found:
            checkpoints.save(model, optimizer, history, batch_log)
        return found

    trained = []   # epochs this job trained itself (the others came from a checkpoint or the reuse store)

    def on_epoch(history, batch_log):
        trained.append(history[-1]["epoch"])
        checkpoints.save(model, optimizer, history, batch_log)
        if shared is not None:
            shared.save(model, optimizer, history, batch_log)

    status, diverged_epoch, threads = "completed", None, None
    try:
        with blas_threads(thread_count) as threads:
            train(model, optimizer, data, cfg.epochs, cfg.batch_size, cfg.shuffle, cfg.seed, cfg.batch_mean,
                  history, batch_log, on_epoch=on_epoch, kernel=kernel, before_epoch=before_epoch)
    except Diverged as err:
        status, diverged_epoch = "diverged", err.epoch
    finally:
        if shared is not None:
            shared.release()
    written = [write_csv(run_dir / "history.csv", pd.DataFrame(history, columns=HISTORY_COLUMNS)),
               write_csv(run_dir / "batches.csv", pd.DataFrame(batch_log, columns=BATCH_COLUMNS))]
    if status == "completed":
        written.append(write_npz(run_dir / "weights.npz", model.state()))
        if data.task == "classification":
            written.extend(write_scores(run_dir, model, data))
        if isinstance(model, CNN):
            written.extend(write_cnn_figures(run_dir, model, data))
    for stale in set(OUTPUT_FILES) - {path.name for path in written}:   # left by an earlier run here
        (run_dir / stale).unlink(missing_ok=True)
    result = summarize(history, status, time.perf_counter() - started)
    result.update({"epochs": cfg.epochs, "diverged_epoch": diverged_epoch, "seed": cfg.seed,
                   "epochs_trained": len(trained), "kernel": kernel if cfg.batch_size == 1 else None,
                   "blas_threads": threads,
                   "data": {"name": data.name, "task": data.task, "split": data.split,
                            "train_size": len(data.x_train), "test_size": len(data.x_test)},
                   "config_hash": config_hash(cfg), "files": file_digests(written),
                   "environment": environment()})
    write_json(run_dir / "result.json", result)
    return result
