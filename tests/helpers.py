"""Shared by the tests: composing the project's config and running the command line."""

import contextlib
import gzip
import hashlib
import io
import logging
import os
import runpy
import signal
import subprocess
import sys
import tempfile
import traceback
import warnings
from pathlib import Path

import numpy as np
from hydra import compose, initialize_config_dir

from nnexp.config import register_configs
from nnexp.data import mnist_files
from nnexp.main import config_dir
from nnexp.nn.build import mlp
from nnexp.nn.optim import SGD
from nnexp.training.run_files import HISTORY_COLUMNS

ROOT = Path(__file__).resolve().parent.parent

TINY = ["data.train_size=200", "model.hidden=[10]"]
"""A job of a fraction of a second per epoch: 200 training samples, one hidden layer of 10."""

TINY_SWEEP = ["-m", *TINY, "epochs=1", "lr=0.1,0.3"]
"""A two-job sweep of one epoch each: the finished results that bad-input tests must not touch."""


def compose_config(overrides=(), return_hydra_config=False):
    """The config ``python -m nnexp <overrides>`` would run with (no Hydra run directory), with
    Hydra's own section (launcher, sweeper, callbacks) if ``return_hydra_config``."""
    register_configs()
    with initialize_config_dir(config_dir=config_dir(), version_base="1.3"):
        return compose(config_name="config", overrides=list(overrides), return_hydra_config=return_hydra_config)


def run_cli(*args, cwd=None, timeout=300, module="nnexp", env=None):
    """Run ``python -m <module>`` (default nnexp) with ``args`` as a real subprocess, with extra
    environment variables ``env``; returns CompletedProcess.

    It runs in ``cwd``, by default a new empty directory, so that what it writes relative to where
    it was started (outputs/, the reuse store) never lands in the checkout or in another test.
    """
    return subprocess.run([sys.executable, "-m", module, *args], cwd=cwd or tempfile.mkdtemp(prefix="nnexp-cli-"),
                          env=cli_env(env), capture_output=True, text=True, timeout=timeout)


def run_refused(*args, cwd=None, module="nnexp", env=None):
    """``run_cli`` for a command that is refused before any job trains (a bad value, a bad file, a
    bad search setting), run inside this process: the same code path from ``python -m <module>`` on,
    without half a second of imports per case. Returns a CompletedProcess as run_cli does: the exit
    code (Python's: that of SystemExit, 1 for an uncaught exception, whose traceback goes to stderr),
    and what went to stdout and stderr, including warnings, shown as a fresh interpreter shows them.

    What such a command changes in the process is put back afterwards: the working directory, the
    environment, sys.argv, Hydra's singletons (its global config, the job's HydraConfig), the logging
    configuration Hydra installs for the run, and the signal handlers. Anything that trains runs as a
    real process, through run_cli."""
    from hydra.core.singleton import Singleton

    saved = (os.getcwd(), dict(os.environ), sys.argv, Singleton.get_state(), logging_state(),
             {number: signal.getsignal(number) for number in HANDLED_SIGNALS})
    out, err, code = io.StringIO(), io.StringIO(), 0
    os.environ.update({"HYDRA_FULL_ERROR": "0", **(env or {})})   # as cli_env, which also sets the child's path
    os.chdir(cwd or tempfile.mkdtemp(prefix="nnexp-cli-"))
    sys.argv = [module, *args]
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), warnings.catch_warnings():
            warnings.resetwarnings()   # a fresh interpreter's filters, and its printing to stderr
            for category in (DeprecationWarning, PendingDeprecationWarning, ImportWarning, ResourceWarning):
                warnings.simplefilter("ignore", category)
            warnings.filterwarnings("ignore", "'nnexp[.a-z_]*' found in sys.modules", RuntimeWarning)   # runpy's:
            warnings.showwarning = print_warning   # the module was imported by this process, not by the command
            try:
                runpy.run_module(module, run_name="__main__", alter_sys=False)
            except SystemExit as stop:
                code = stop.code if isinstance(stop.code, int) else int(stop.code is not None)
                if stop.code is not None and not isinstance(stop.code, int):
                    print(stop.code, file=sys.stderr)
            except Exception:  # noqa: BLE001 - reported as the interpreter would: traceback, exit 1
                traceback.print_exc()
                code = 1
    finally:
        cwd_before, environ, sys.argv, hydra_state, logging_before, handlers = saved
        os.chdir(cwd_before)
        os.environ.clear()
        os.environ.update(environ)
        Singleton.set_state(hydra_state)
        restore_logging(logging_before)
        for number, handler in handlers.items():
            signal.signal(number, handler)
    return subprocess.CompletedProcess([module, *args], code, out.getvalue(), err.getvalue())


def open_files():
    """The paths of the files this process holds open (a refused command run by run_refused must leave none
    of its own: its directory's lock, its log)."""
    fds = "/proc/self/fd"
    return [os.path.realpath(os.path.join(fds, fd)) for fd in os.listdir(fds)]


def print_warning(message, category, filename, lineno, file=None, line=None):
    sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))


HANDLED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGUSR1, signal.SIGUSR2)
"""The signals a run handles (nnexp.training.signals): run_refused puts their handlers back."""


def all_loggers():
    """The root logger and every named one."""
    return [logging.getLogger(), *(logger for logger in logging.Logger.manager.loggerDict.values()
                                   if isinstance(logger, logging.Logger))]


def logging_state():
    """{logger: (handlers, level, disabled, propagate)} of every logger."""
    return {logger: (list(logger.handlers), logger.level, logger.disabled, logger.propagate)
            for logger in all_loggers()}


def restore_logging(before):
    """Undo a run's logging configuration: each logger as in ``before`` (loggers made since: no handlers,
    level NOTSET), and every handler the run added (its main.log, its console) closed."""
    kept = {handler for handlers, *_ in before.values() for handler in handlers}
    for logger in all_loggers():
        handlers, level, disabled, propagate = before.get(logger, ([], logging.NOTSET, False, True))
        for handler in logger.handlers:
            if handler not in kept:
                handler.close()
        logger.handlers[:] = handlers
        logger.setLevel(level)
        logger.disabled, logger.propagate = disabled, propagate


def cli_env(extra=None):
    """The environment of a command-line test: errors as a user without HYDRA_FULL_ERROR sees them,
    this checkout's nnexp first on the path (whatever the working directory), plus ``extra``."""
    path = os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
    env = {**os.environ, "HYDRA_FULL_ERROR": "0", "PYTHONPATH": path, **(extra or {})}
    if env.get("MUTANT_UNDER_TEST") == "stats":
        # mutmut's coverage pass (experiments/test_quality): a child in another directory cannot find its
        # config to record calls; it runs the unmutated code. Under a mutant the child runs that mutant.
        env["MUTANT_UNDER_TEST"] = ""
    return env


def tree_digest(root):
    """{relative path: sha256} of every file under ``root``: equal before and after means that
    nothing under it was written, added or removed."""
    root = Path(root)
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


# MNIST-like files for the data readers and the bad-input tests

RNG = np.random.default_rng(0)


def idx_bytes(array, dtype_code=0x08):
    """IDX encoding of a uint8 array: 00 00 <code> <ndim>, big-endian uint32 dims, data."""
    dims = np.array(array.shape, dtype=">u4").tobytes()
    return bytes([0, 0, dtype_code, array.ndim]) + dims + array.astype(np.uint8).tobytes()


def write(path, data, gz=False):
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def mnist_like(n):
    return RNG.integers(0, 256, (n, 28, 28), dtype=np.uint8), RNG.integers(0, 10, n, dtype=np.uint8)


def write_idx_dir(directory, gz=True, n_train=5, n_test=3, names=None):
    """Write the four IDX files; returns the arrays as load_mnist_dir should return them."""
    directory.mkdir(parents=True, exist_ok=True)
    names = names or mnist_files.IDX_FILES
    out = {}
    for split, n in (("train", n_train), ("test", n_test)):
        x, labels = mnist_like(n)
        suffix = ".gz" if gz else ""
        write(directory / (names[f"x_{split}"] + suffix), idx_bytes(x), gz)
        write(directory / (names[f"labels_{split}"] + suffix), idx_bytes(labels), gz)
        out[f"x_{split}"], out[f"labels_{split}"] = x.reshape(n, 784), labels.astype(np.int64)
    return out


def csv_text(labels, x, header=False):
    rows = [",".join(map(str, [label, *row])) for label, row in zip(labels, x.reshape(len(x), -1))]
    head = ["label," + ",".join(f"{i}x{j}" for i in range(1, 29) for j in range(1, 29))] if header else []
    return "\n".join(head + rows) + "\n"


def holm_by_hand(pvalues):
    """Holm's step-down adjustment written out, to check the library's: the m p-values (NaN left out)
    sorted ascending, the i-th (from 0) multiplied by m - i, capped at 1, made non-decreasing."""
    p = np.asarray(pvalues, dtype=float)
    out = np.full(p.shape, np.nan)
    valid = np.flatnonzero(~np.isnan(p))
    running = 0.0
    for i, index in enumerate(valid[np.argsort(p[valid], kind="stable")]):
        running = max(running, min(1.0, (len(valid) - i) * p[index]))
        out[index] = running
    return out


# Checkpoints and the reuse store without training

def small_learner(momentum=0.5, seed=0):
    """(network, optimizer) of 3 inputs and 2 outputs (W1 alone), float64, SGD with momentum's velocity."""
    network = mlp([3, 2], dtype=np.float64, rng=np.random.default_rng(seed))
    return network, SGD(network.parameters, 0.1, momentum=momentum)


def epoch_rows(epochs):
    """(history, batch_log) of ``epochs`` epochs, two batch rows each, every number distinct."""
    history = [{c: float(10 * e + i) for i, c in enumerate(HISTORY_COLUMNS)} | {"epoch": e}
               for e in range(1, epochs + 1)]
    batches = [{"epoch": e, "batch": b, "samples": 4 * e + b, "train_loss": e + b / 10}
               for e in range(1, epochs + 1) for b in (1, 2)]
    return history, batches
