"""Epoch-prefix reuse: jobs whose configurations differ only in ``epochs`` share their training.

Epoch e of a run depends on the configuration and on nothing about how many epochs follow it (the
learning rate has no schedule over the total, and every epoch's randomness depends only on (seed,
e)). So the state after epoch e of a 10-epoch job *is* the final state of a 5-epoch job with the
same configuration, bit for bit. Every job saves the state after each epoch into a shared store,

    <reuse_dir>/<key>/epoch_<E>.npz     (a CheckpointStore with keep_all=True)

where the key hashes the whole configuration except ``REUSE_IGNORES`` (epochs, and the keys of
identity.NOT_IDENTITY), plus what the configuration leaves open: the kernel ``auto`` resolves to, the
number of BLAS threads (OpenBLAS's sums depend on it: a mini-batch epoch on 1 and on 2 threads
differs in the last bits), the content of an ``init_from`` file, the data directory's absolute
path, and the nnexp and NumPy versions. A job asking for E epochs takes epoch E from the store if it is there, else
continues from the longest saved epoch below E.

Parallel jobs: files are written atomically (temporary file, then rename), and a job about to
train epoch e first takes an exclusive lock on ``epoch_<e>.lock`` (fcntl.flock: released by the
system if the job dies). Another job that needs epoch e waits on that lock and then loads the
epoch instead of training it again, so a sweep over ``epochs=1,5,10`` trains 10 epochs per
configuration, not 16, however its jobs are spread over processes. Two jobs never hold more than
one lock each, so they cannot deadlock. Lock files stay (empty) beside the checkpoints.

Switch it off with ``reuse=false``; delete ``reuse_dir`` to reclaim its space (a 784-100-10
float32 network takes 0.3 MB per epoch).
"""

import fcntl
import logging

import numpy as np

from .. import __version__
from ..storage import WriteError, sha256_file, sha256_json, try_lock
from .checkpoint import CheckpointStore
from .environment import launch_path
from .identity import config_hash

log = logging.getLogger(__name__)

REUSE_IGNORES = ("epochs", "experiment", "kernel")
"""Top-level config keys outside the key besides identity.NOT_IDENTITY (``threads``, replaced by the
count it resolves to; the reuse switches): epochs (what is shared), the preset's name (its values
are in the config), and ``kernel`` (replaced by the kernel it resolves to)."""


def reuse_key(cfg, kernel, threads, data_dir=None):
    """Hex digest naming the store of ``cfg``'s configuration (all but REUSE_IGNORES), with what
    the configuration leaves open: the resolved kernel and BLAS thread count, the data directory,
    init_from's content."""
    identity = {"config": config_hash(cfg, ignore=REUSE_IGNORES), "kernel": kernel, "blas_threads": threads,
                "data_dir": str(data_dir) if data_dir is not None else None,
                "init_from": sha256_file(cfg.init_from) if cfg.init_from else None,
                "versions": {"nnexp": __version__, "numpy": np.__version__}}
    return sha256_json(identity)[:24]


class SharedEpochs:
    """The shared store of one configuration, with one lock held while this job trains an epoch."""

    def __init__(self, directory):
        self.store = CheckpointStore(directory, keep_all=True)
        self.lock = None   # (epoch, open file) while this job trains that epoch

    def load(self, model, optimizer, epoch, target, history, batch_log):
        """Before training ``epoch`` (of ``target``): bring model, optimizer, history and batch_log
        to the latest stored epoch in [epoch, target], waiting while another job trains ``epoch``.
        Returns True when it did (the epoch needs no training here); otherwise this job holds the
        lock of ``epoch`` until ``save`` (or ``release``)."""
        if self.restore(model, optimizer, epoch, target, history, batch_log):
            return True
        path = self.directory / f"epoch_{epoch}.lock"
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            lock = open(path, "a+")
        except OSError as err:
            raise WriteError.of(path, err, "; set reuse_dir to a writable directory, or reuse=false") from None
        if not try_lock(lock):
            log.info("waiting for epoch %d: another job is training it (%s)", epoch, self.directory)
            fcntl.flock(lock, fcntl.LOCK_EX)
        if self.restore(model, optimizer, epoch, target, history, batch_log):
            lock.close()
            return True
        self.lock = (epoch, lock)
        return False

    def save(self, model, optimizer, history, batch_log):
        """After an epoch: store it unless another job already did, and release its lock."""
        if history[-1]["epoch"] not in self.store.saved_epochs():
            self.store.save(model, optimizer, history, batch_log)
        self.release()

    def release(self):
        if self.lock is not None:
            self.lock[1].close()   # closing the file drops its flock
            self.lock = None

    @property
    def directory(self):
        return self.store.directory

    def restore(self, model, optimizer, epoch, target, history, batch_log):
        """Load the latest stored epoch in [epoch, target]; True if one was loaded."""
        restored, restored_log = self.store.restore(model, optimizer, target, min_epoch=epoch)
        if not restored:
            return False
        history[:], batch_log[:] = restored, restored_log
        log.info("epochs %d-%d taken from the reuse store %s", epoch, len(restored), self.directory)
        return True


def shared_epochs(cfg, kernel, threads, data_dir):
    """The SharedEpochs of ``cfg`` under ``cfg.reuse_dir`` (relative: to the launch directory),
    or None with ``reuse=false``."""
    if not cfg.reuse:
        return None
    return SharedEpochs(launch_path(cfg.reuse_dir) / reuse_key(cfg, kernel, threads, data_dir))
