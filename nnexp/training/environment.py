"""What a result depends on besides its config, recorded in result.json: versions, the source's git
commit, the BLAS libraries and their threads, the platform."""

import functools
import os
import platform
import subprocess
from pathlib import Path

import numpy as np

from .. import __version__


def environment():
    """{nnexp, git, python, numpy, blas, platform} of this process."""
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
    root = Path(__file__).resolve().parents[2]

    def git(*args):
        return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True,
                              timeout=10, check=True).stdout.strip()
    try:
        if Path(git("rev-parse", "--show-toplevel")).resolve() != root:
            return None
        return {"commit": git("rev-parse", "HEAD"), "dirty": bool(git("status", "--porcelain"))}
    except (OSError, subprocess.SubprocessError):
        return None


def launch_path(path):
    """``path`` as an absolute Path, a relative one taken from where the command was started (Hydra's
    original working directory, which a job with hydra.job.chdir=true has left; else the current one)."""
    path = Path(path)
    if path.is_absolute():
        return path
    from hydra.core.hydra_config import HydraConfig

    start = HydraConfig.get().runtime.cwd if HydraConfig.initialized() else os.getcwd()
    return Path(start) / path
