"""Training state saved after every epoch, so that a job can continue exactly where it stopped.

A checkpoint is one .npz file (no pickle) holding the network's arrays (``param/<name>``), the
optimizer's (``optim/<name>``, e.g. momentum), and the history and batch log so far as numeric
tables (``history``: (epochs, len(HISTORY_COLUMNS)), ``batches``: (rows, 4)), and, when the store has one, the
identity of the configuration that wrote it (``identity``: the hash as bytes), so that a job
directory reused by another configuration never continues from the wrong run. Training continues
from it bit-identically, because every epoch's randomness depends only on (seed, epoch).

Every checkpoint carries the sha256 of its arrays (``nnexp.storage.write_checked_npz``); one that
cannot be read or does not match it (a bad disk, an interrupted copy, a hand edit) is logged,
deleted and recomputed, never used.
"""

import logging
import re
from pathlib import Path

import numpy as np

from ..errors import WeightsError
from ..storage import read_checked_npz, write_checked_npz
from .run_files import BATCH_COLUMNS, EARLIER_HISTORY_COLUMNS, HISTORY_COLUMNS, INTEGER_COLUMNS

log = logging.getLogger(__name__)

def rows_to_array(rows, columns):
    return np.array([[row[c] for c in columns] for row in rows], dtype=np.float64).reshape(-1, len(columns))


def array_to_rows(array, columns):
    return [{c: (int(v) if c in INTEGER_COLUMNS else float(v)) for c, v in zip(columns, line)} for line in array]


def history_table(arrays, path):
    """A checkpoint's history table (epochs, len(HISTORY_COLUMNS)); one of nnexp 0.3, without the later
    timing columns, gets them as NaN. Any other width is a WeightsError naming ``path``."""
    table = arrays.get("history", np.empty((0, len(HISTORY_COLUMNS))))
    if table.ndim == 2 and table.shape[1] == len(EARLIER_HISTORY_COLUMNS):
        table = np.hstack([table, np.full((len(table), len(HISTORY_COLUMNS) - table.shape[1]), np.nan)])
    if table.ndim != 2 or table.shape[1] != len(HISTORY_COLUMNS):
        raise WeightsError(f"{path} holds a history of another nnexp version")
    return table


class CheckpointStore:
    """Checkpoints ``epoch_<E>.npz`` in one directory, for one configuration (all but ``epochs``)."""

    def __init__(self, directory, keep_all=False, identity=None):
        self.directory = Path(directory)
        self.keep_all = keep_all   # keep every epoch (shared reuse store) or only the latest (a job's own)
        self.identity = identity   # e.g. the config hash without epochs: checkpoints of others are ignored

    def path(self, epoch):
        return self.directory / f"epoch_{epoch}.npz"

    def saved_epochs(self):
        """Epochs that have a checkpoint file, ascending."""
        if not self.directory.is_dir():
            return []
        found = (re.fullmatch(r"epoch_(\d+)\.npz", p.name) for p in self.directory.iterdir())
        return sorted(int(m.group(1)) for m in found if m)

    def save(self, model, optimizer, history, batch_log):
        """Write the state after the last epoch of ``history``; drop older ones unless keep_all."""
        epoch = history[-1]["epoch"]
        arrays = {f"param/{k}": v for k, v in model.state().items()}
        arrays.update({f"optim/{k}": v for k, v in optimizer.state().items()})
        arrays["history"] = rows_to_array(history, HISTORY_COLUMNS)
        arrays["batches"] = rows_to_array(batch_log, BATCH_COLUMNS)
        if self.identity is not None:
            arrays["identity"] = np.frombuffer(self.identity.encode(), dtype=np.uint8)
        write_checked_npz(self.path(epoch), arrays)
        if not self.keep_all:
            for old in self.saved_epochs():
                if old != epoch:
                    self.path(old).unlink(missing_ok=True)

    def restore(self, model, optimizer, max_epoch, min_epoch=1):
        """Load the latest checkpoint in [min_epoch, max_epoch] into model and optimizer.

        Returns (history, batch_log) of that checkpoint, or ([], []) when there is none. A file
        that cannot be read or fails its checksum is reported in the log and deleted; one that does
        not fit the network or comes from another configuration is reported and skipped.
        """
        for epoch in reversed([e for e in self.saved_epochs() if min_epoch <= e <= max_epoch]):
            try:
                arrays = self.read(epoch)
                if self.identity is not None and \
                        arrays.get("identity", np.empty(0, np.uint8)).tobytes() != self.identity.encode():
                    raise WeightsError(f"{self.path(epoch)} was written by another configuration")
                history = array_to_rows(history_table(arrays, self.path(epoch)), HISTORY_COLUMNS)
                optim = {k[6:]: v for k, v in arrays.items() if k.startswith("optim/")}
                if len(history) != epoch or "batches" not in arrays or set(optimizer.state()) - set(optim):
                    raise WeightsError(f"{self.path(epoch)} is incomplete (history, batch log or optimizer state)")
                model.load_state({k[6:]: v for k, v in arrays.items() if k.startswith("param/")},
                                 source=str(self.path(epoch)))   # checks every array before copying
                optimizer.load_state(optim)
                return history, array_to_rows(arrays["batches"], BATCH_COLUMNS)
            except WeightsError as err:
                log.warning("ignoring unusable checkpoint: %s", err)
        return [], []

    def read(self, epoch):
        """The arrays of ``epoch``'s checkpoint; a corrupt file is deleted (WeightsError names it)."""
        try:
            return read_checked_npz(self.path(epoch))
        except WeightsError as err:
            self.path(epoch).unlink(missing_ok=True)
            raise WeightsError(f"{err}; deleted it, the epoch will be trained again") from None
