"""The type hints of the network (``nnexp/nn``) and of training (``nnexp/training``) hold: mypy, with
pyproject.toml's ``[tool.mypy]`` settings, finds no error in either package."""

import subprocess
import sys
import tempfile
from pathlib import Path

from helpers import ROOT

CACHE = Path(tempfile.gettempdir()) / "nnexp-mypy-cache"
"""mypy's cache, outside the checkout: a second run reads NumPy's types from it (about 1 s, not 15)."""


def test_mypy_finds_no_error_in_nn_and_training():
    done = subprocess.run([sys.executable, "-m", "mypy", "--cache-dir", str(CACHE), "nnexp/nn", "nnexp/training"],
                          cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("Success: no issues found")
