"""One job: the pipeline config -> data -> network -> training -> run files, read top to bottom in
``run_job``. The run directory's files are described in ``nnexp.training.run_files``; result.json
holds status, final and best metrics, seconds, the data split, seed, config_hash, files (sha256 of
each file the run wrote), environment, epochs_trained (by this job: not restored from a checkpoint
or the reuse store), kernel (per-sample kernel) and blas_threads.
"""

import logging
import time
from pathlib import Path
from typing import Any, Union

import numpy as np

from ..data import Dataset, load_dataset, resolve_dir
from ..errors import ConfigError, Interrupted
from ..nn.build import build_network
from ..nn.kernels import resolve_kernel
from ..nn.network import Network
from ..nn.optim import make_optimizer
from ..nn.schedules import make_schedule
from ..storage import read_npz, sha256_file, write_csv, write_json, write_npz
from .checkpoint import CheckpointStore
from .environment import environment, launch_path
from .identity import config_hash, plain
from .loop import Diverged, Learner, Recipe, train
from .reuse import shared_epochs
from .run_figures import write_network_figures
from .run_files import RUN_FILES, batch_frame, history_frame, summarize, write_scores
from .threads import blas_thread_count, blas_threads

log = logging.getLogger(__name__)


def data_config(cfg):
    """The config's ``data`` section as a plain dict whose ``dir`` is absolute (a relative one is
    taken from where the command was started) or null, checked to be a directory."""
    section = plain(cfg.data)
    if section.get("dir"):
        section["dir"] = str(resolve_dir(launch_path(section["dir"])))
    return section


def load_data(cfg, section=None):
    """The data set of the config (``section``: its data_config, when already made), in its dtype."""
    return load_dataset(section or data_config(cfg), str(cfg.dtype))


def build_model(model_cfg: Any, data: Dataset, dtype: np.dtype, rng: np.random.Generator) -> Network:
    """The network of the config's ``model`` section, its input and output sizes taken from the data."""
    model = plain(model_cfg)
    if model["name"] == "cnn" and data.image_shape is None:
        raise ConfigError("model=cnn needs image data (mnist, fashion_mnist, kmnist, mnist_sample, digits); "
                          f"data={data.name} has none")
    input_shape = data.image_shape if model["name"] == "cnn" else (data.n_inputs,)
    network = build_network(model, input_shape, data.n_outputs, dtype=dtype, rng=rng)
    network.loss.check_targets(data.y_train)
    return network


class EpochStores:
    """Where a job's epochs are kept and found: its own checkpoints (the latest epoch, to resume a
    killed job) and the reuse store shared with jobs that differ only in ``epochs``, for the ``learner`` of
    ``cfg``; ``kernel``, ``threads`` and ``data_dir`` are what the config leaves open (``reuse_key``).
    ``before_epoch`` and ``after_epoch`` are the training loop's hooks (``EpochHooks``)."""

    def __init__(self, cfg, run_dir, learner, kernel, threads, data_dir):
        self.network, self.optimizer, self.epochs = learner.network, learner.optimizer, cfg.epochs
        schedule = learner.schedule
        # a schedule over the run's length (cosine) makes every epoch depend on epochs: no prefix to share,
        # and a checkpoint of another length is another configuration
        fixed = ("epochs",) if not schedule.depends_on_length else ()
        self.checkpoints = CheckpointStore(run_dir / "checkpoints", identity=config_hash(cfg, ignore=fixed))
        self.shared = shared_epochs(cfg, kernel, threads, data_dir) if fixed else None
        if cfg.reuse and not fixed:
            log.info("epoch reuse off: schedule=%s depends on the number of epochs", schedule.name)
        self.trained = []   # epochs this job trained itself

    def restore(self):
        """(history, batch_log) of the job's own latest checkpoint, loaded into network and optimizer."""
        history, batch_log = self.checkpoints.restore(self.network, self.optimizer, self.epochs)
        if history:
            log.info("resuming from the checkpoint of epoch %d of %d", len(history), self.epochs)
        return history, batch_log

    def before_epoch(self, epoch, history, batch_log):
        """Bring the job to ``epoch`` or later from the reuse store (keeping a checkpoint of it here);
        True when it did, so the loop does not train those epochs."""
        found = self.shared is not None and self.shared.load(self.network, self.optimizer, epoch, self.epochs,
                                                             history, batch_log)
        if found:
            self.checkpoints.save(self.network, self.optimizer, history, batch_log)
        return found

    def after_epoch(self, history, batch_log):
        """Checkpoint the epoch just trained, here and in the reuse store."""
        self.trained.append(history[-1]["epoch"])
        self.checkpoints.save(self.network, self.optimizer, history, batch_log)
        if self.shared is not None:
            self.shared.save(self.network, self.optimizer, history, batch_log)

    def release(self):
        if self.shared is not None:
            self.shared.release()


def write_run_files(run_dir, network, data, history, batch_log, status):
    """The run directory's tables, weights and figures (weights, scores and figures only when the
    run completed: not when it diverged or was interrupted); removes files of RUN_FILES that an
    earlier run left. Returns the paths written."""
    written = [write_csv(run_dir / "history.csv", history_frame(history)),
               write_csv(run_dir / "batches.csv", batch_frame(batch_log))]
    if status == "completed":
        written.append(write_npz(run_dir / "weights.npz", network.state()))
        if data.task == "classification":
            written.extend(write_scores(run_dir, network, data))
        written.extend(write_network_figures(run_dir, network, data))
    for stale in set(RUN_FILES) - {path.name for path in written}:
        (run_dir / stale).unlink(missing_ok=True)
    return written


def run_job(cfg: Any, run_dir: Union[str, Path], parallel_sweep: bool = False) -> dict[str, Any]:
    """Train the configured network once and write the run directory; return result.json's dict.
    ``cfg`` is a composed, validated config (``nnexp.config.validate``); ``parallel_sweep``: this
    job runs beside others on this machine (BLAS threads, ``nnexp.training.threads``)."""
    started = time.perf_counter()
    run_dir = Path(run_dir)
    section = data_config(cfg)
    data = load_data(cfg, section)
    if cfg.data.augment and data.image_shape is None:
        raise ConfigError(f"data.augment={cfg.data.augment} shifts images, and data={data.name} has none; "
                          "set data.augment=0")
    network = build_model(cfg.model, data, np.dtype(str(cfg.dtype)), np.random.default_rng(cfg.seed))
    if cfg.init_from:
        network.load_state(read_npz(cfg.init_from), source=f"init_from {cfg.init_from}")
    learner = Learner(network, make_optimizer(plain(cfg.optimizer), network, cfg.lr),
                      make_schedule(plain(cfg.schedule), cfg.lr))
    kernel = resolve_kernel(str(cfg.kernel), len(data.x_train))
    thread_count = blas_thread_count(cfg.threads, cfg.batch_size, parallel_sweep)
    stores = EpochStores(cfg, run_dir, learner, kernel, thread_count, section["dir"])
    history, batch_log = stores.restore()
    moved = network.compile_data_movement(kernel == "numba", thread_count)   # a CNN's im2col, pooling...
    status, diverged_epoch, threads, stopped = "completed", None, None, None
    try:
        with blas_threads(thread_count) as threads:
            train(learner, data, Recipe.of(cfg, kernel), history, batch_log, hooks=stores)
    except Diverged as err:   # one line on the console and in main.log; a sweep goes on
        status, diverged_epoch = "diverged", err.epoch
        log.warning("%s: %s", run_dir, err)
    except (Interrupted, KeyboardInterrupt) as err:   # the finished epochs are checkpointed already
        status = "interrupted"
        stopped = err if isinstance(err, Interrupted) else Interrupted()
    finally:
        stores.release()
    written = write_run_files(run_dir, network, data, history, batch_log, status)
    result = summarize(history, status, time.perf_counter() - started)
    if stopped is not None:
        result["error"] = (f"interrupted by {stopped.signal_name} after epoch {len(history)} of {cfg.epochs}; "
                           "rerun the same command to continue from its checkpoint")
    result.update({"epochs": cfg.epochs, "diverged_epoch": diverged_epoch, "seed": cfg.seed,
                   "epochs_trained": len(stores.trained), "kernel": kernel if cfg.batch_size == 1 or moved else None,
                   "blas_threads": threads,
                   "data": {"name": data.name, "task": data.task, "split": data.split,
                            "train_size": len(data.x_train), "test_size": len(data.x_test),
                            "validation": data.validation},
                   "config_hash": config_hash(cfg), "files": {p.name: sha256_file(p) for p in written},
                   "environment": environment()})
    write_json(run_dir / "result.json", result)
    if stopped is not None:
        raise stopped
    return result
