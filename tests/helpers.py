"""Shared by the tests: composing the project's config and running the command line."""

import os
import subprocess
import sys
from pathlib import Path

from hydra import compose, initialize_config_dir

from nnexp.config import register_configs
from nnexp.main import config_dir

ROOT = Path(__file__).resolve().parent.parent


def compose_config(overrides=()):
    """The config ``python -m nnexp <overrides>`` would run with (no Hydra run directory)."""
    register_configs()
    with initialize_config_dir(config_dir=config_dir(), version_base="1.3"):
        return compose(config_name="config", overrides=list(overrides))


def run_cli(*args, cwd=None, timeout=300):
    """Run ``python -m nnexp`` with ``args`` as a real subprocess; returns CompletedProcess."""
    env = dict(os.environ, HYDRA_FULL_ERROR="0")
    return subprocess.run([sys.executable, "-m", "nnexp", *args], cwd=cwd or ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)
