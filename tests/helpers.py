"""Shared by the tests: composing the project's config and running the command line."""

import hashlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from hydra import compose, initialize_config_dir

from nnexp.config import register_configs
from nnexp.main import config_dir

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


def cli_env(extra=None):
    """The environment of a command-line test: errors as a user without HYDRA_FULL_ERROR sees them,
    this checkout's nnexp first on the path (whatever the working directory), plus ``extra``."""
    path = os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
    return {**os.environ, "HYDRA_FULL_ERROR": "0", "PYTHONPATH": path, **(extra or {})}


def tree_digest(root):
    """{relative path: sha256} of every file under ``root``: equal before and after means that
    nothing under it was written, added or removed."""
    root = Path(root)
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}
