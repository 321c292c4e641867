"""The package's shape: one-way imports between its folders, the network free of Hydra, pandas and
matplotlib, small modules, and a clean ruff."""

import subprocess
import sys
from pathlib import Path

import pytest
from helpers import ROOT

PACKAGE = ROOT / "nnexp"
MAX_LINES = 400


def test_import_contracts_hold():
    """pyproject.toml's import-linter contracts: layers (commands and schema on top, the network at
    the bottom, nothing importing a layer above it) and a network that imports no Hydra, OmegaConf,
    pandas or matplotlib."""
    done = subprocess.run([sys.executable, "-c", "from importlinter.cli import lint_imports_command; "
                           "lint_imports_command()"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


@pytest.mark.parametrize("module", ["nnexp.nn", "nnexp.nn.build", "nnexp.nn.kernels", "nnexp.nn.inverse_queries",
                                    "nnexp.nn.kernels.blas"])
def test_the_network_loads_no_framework(module):
    code = (f"import sys, {module}; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'hydra', 'omegaconf', 'pandas', 'matplotlib'}))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize("module, unloaded", [
    ("nnexp.sweep.sweep_report", ("scipy.stats", "statsmodels.stats")),   # a sweep without replicates needs neither
    ("nnexp.sweep.search", ("matplotlib", "scipy.stats")),               # a refused search draws nothing
])
def test_a_command_loads_the_slow_libraries_only_when_it_uses_them(module, unloaded):
    """scipy.stats and statsmodels take half a second to import, matplotlib a third: each is imported by
    the functions that use it, not when its module loads."""
    code = f"import sys, {module}; print(sorted(set({unloaded!r}) & set(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert (done.returncode, done.stdout.strip()) == (0, "[]"), done.stderr


def test_no_module_is_long_and_the_top_holds_few():
    lengths = {path.relative_to(ROOT): len(path.read_text().splitlines()) for path in PACKAGE.rglob("*.py")}
    assert {path: n for path, n in lengths.items() if n > MAX_LINES} == {}
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert top == ["__init__.py", "__main__.py", "compare.py", "config.py", "errors.py", "inverse.py",
                   "lr_find.py", "main.py", "mlflow.py", "report.py", "storage.py"]
    for command in ("report.py", "compare.py", "mlflow.py"):   # python -m nnexp.<command>: a door to its subpackage
        assert len((PACKAGE / command).read_text().splitlines()) < 15


def test_ruff_is_clean():
    done = subprocess.run([sys.executable, "-m", "ruff", "check", "nnexp", "tests", "experiments"], cwd=ROOT,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_one_network_class_has_a_predict():
    """MLP and CNN are one abstraction: exactly one class in nnexp defines predict."""
    found = [str(path.relative_to(ROOT)) for path in PACKAGE.rglob("*.py")
             if "    def predict(" in Path(path).read_text()]
    assert found == ["nnexp/nn/network.py"]
