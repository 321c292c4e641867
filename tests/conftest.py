import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import settings

settings.register_profile("mutation", derandomize=True, database=None)
"""``--hypothesis-profile=mutation`` (the mutation runs, pyproject.toml [tool.mutmut]): the same examples
in every run, so a mutant's verdict does not depend on the draw."""


def relative_error(a, b):
    """||a - b|| / (||a|| + ||b||), 0 when both are 0."""
    denom = np.linalg.norm(a) + np.linalg.norm(b)
    return 0.0 if denom == 0 else float(np.linalg.norm(a - b) / denom)


def numerical_gradient(f, array, eps=1e-6):
    """Central finite differences of the scalar f() with respect to each entry of ``array``."""
    grad = np.zeros_like(array)
    for index in np.ndindex(array.shape):
        saved = array[index]
        array[index] = saved + eps
        plus = f()
        array[index] = saved - eps
        minus = f()
        array[index] = saved
        grad[index] = (plus - minus) / (2 * eps)
    return grad


SHARED_SESSION_FIXTURES = ("tiny_sweep", "finished_sweep", "straight_weights")
"""Session fixtures that run a command (a sweep; test_faults.py's run never stopped): the tests that use
one run on one worker, which makes it once."""


def xdist_group(item):
    """The pytest-xdist group of a test (``--dist loadgroup``, pyproject.toml addopts), or None for a test
    any worker may take: "slurm" for the tests on the one-node cluster (the ``slurm`` fixture), which
    then starts once and runs beside the other tests; the module's path for a module whose tests share
    a module-scoped fixture (a sweep, a search, an MLflow server: made once); else the first session
    fixture of SHARED_SESSION_FIXTURES the test uses."""
    names = item.fixturenames
    if "slurm" in names:
        return "slurm"
    definitions = getattr(item, "_fixtureinfo", None)
    for name in names:
        for definition in (definitions.name2fixturedefs.get(name, ()) if definitions else ()):
            if definition.scope == "module":
                return item.nodeid.split("::")[0]
    return next((name for name in SHARED_SESSION_FIXTURES if name in names), None)


QUICK_LAST = ("tests/nn/", "tests/data/", "tests/figures/", "_properties.py", "tests/test_goldens.py")
"""Tests of seconds or less, in process: run last, they fill the workers' gaps at the end (and those that
train with numba, the goldens among them, load it from the cache tests/numba_warmup.py has filled by then,
where in a fresh clone they would compile it again beside the warm-up)."""


def start_order(item):
    """Where a test starts under pytest-xdist (addopts: --no-loadscope-reorder keeps this order): the
    Slurm tests first (the longest group, mostly waiting on the cluster, beside all others), then the
    other groups, then the tests that start processes, the quick in-process ones last."""
    group = next((mark.args[0] for mark in item.iter_markers("xdist_group")), None)
    if group == "slurm":
        return 0
    if group:
        return 1
    return 3 if any(part in item.nodeid for part in QUICK_LAST) else 2


@pytest.hookimpl(wrapper=True)
def pytest_collection_modifyitems(config, items):
    """Before the other plugins (pytest-xdist reads the marks): each test's xdist_group. After them, on
    an xdist worker: the order of start_order, and the group in the test's id."""
    for item in items:
        group = xdist_group(item)
        if group and not item.get_closest_marker("xdist_group"):
            item.add_marker(pytest.mark.xdist_group(group))
    yield
    if hasattr(config, "workerinput"):   # without workers (-n 0) pytest's order stays
        if config.getvalue("loadgroup"):
            suffix_group_ids(items)
        items.sort(key=start_order)   # stable: the order within each part is pytest's


def suffix_group_ids(items):
    """pytest-xdist (3.8) tells its controller a test's group by appending ``@<group>`` to the test's id,
    where pytest 9.2 no longer takes it from (pytest-xdist issue 1386): the groups were silently ignored,
    every worker starting a Slurm cluster of its own. Until xdist does it again, do it here."""
    from _pytest.nodeid import NodeId

    for item in items:
        group = next((mark.args[0] for mark in item.iter_markers("xdist_group")), None)
        if group and not item.nodeid.endswith(f"@{group}") and hasattr(item, "_id"):
            item._id = NodeId.parse(f"{item.nodeid}@{group}")


def pytest_configure(config):
    """On pytest-xdist's controller: compile numba's functions once, in the background, into numba's
    disk cache (tests/numba_warmup.py), which the workers and the jobs they start then load instead of
    each compiling them again. Its error output goes to a file, shown at the end if it failed."""
    if config.getoption("numprocesses", None) and not hasattr(config, "workerinput"):
        config.numba_warmup_log = tempfile.TemporaryFile()
        config.numba_warmup = subprocess.Popen([sys.executable, str(Path(__file__).with_name("numba_warmup.py"))],
                                               stdout=subprocess.DEVNULL, stderr=config.numba_warmup_log)


def pytest_unconfigure(config):
    warmup = getattr(config, "numba_warmup", None)
    if warmup is None:
        return
    if warmup.poll() is None:
        warmup.kill()
    if warmup.wait() > 0:   # it failed (killed at the end: negative): the suite ran, only slower
        config.numba_warmup_log.seek(0)
        error = config.numba_warmup_log.read().decode(errors="replace").strip().splitlines()
        print(f"\ntests/numba_warmup.py failed (exit {warmup.returncode}): {error[-1] if error else ''}",
              file=sys.stderr)
    config.numba_warmup_log.close()


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture(scope="session")
def finished_sweep(tmp_path_factory):
    """A finished two-job sweep (TINY_SWEEP). Tests must not change it; copy it first."""
    from helpers import TINY_SWEEP, run_cli

    sweep_dir = tmp_path_factory.mktemp("finished") / "sweep"
    done = run_cli(*TINY_SWEEP, f"hydra.sweep.dir={sweep_dir}")
    assert done.returncode == 0, done.stderr
    return sweep_dir


@pytest.fixture(autouse=True)
def own_working_directory(tmp_path, monkeypatch):
    """Every test runs in an empty directory of its own: what a run writes relative to where it
    started (outputs/reuse) stays out of the checkout and out of the other tests."""
    monkeypatch.chdir(tmp_path)


SWEEP_GIF_FRAMES = 12
"""Views in the turning GIF of ``tiny_sweep`` (72 by default: about 10 s more for every such sweep)."""


@pytest.fixture(scope="session")
def tiny_sweep(tmp_path_factory):
    """A real 3 x 2 sweep as the user types it, one learning rate invalid (its two jobs fail):
    (sweep directory, CompletedProcess). Shared because it takes a few seconds."""
    from helpers import TINY, run_cli

    sweep_dir = tmp_path_factory.mktemp("sweep")
    done = run_cli("-m", "lr=0.1,0.3,-1", "epochs=1,2", *TINY, f"hydra.callbacks.report.gif_frames={SWEEP_GIF_FRAMES}",
                   f"hydra.sweep.dir={sweep_dir}")
    return sweep_dir, done


@pytest.fixture(scope="session")
def slurm():
    """A real one-node Slurm cluster on this machine (tests/slurm_cluster.py), started once for the
    session and stopped at its end; the tests that use it are skipped, with the reason, on a machine
    without Slurm or without root."""
    from slurm_cluster import skip_reason, start_cluster, stop_cluster

    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    cluster = start_cluster()
    yield cluster
    stop_cluster(cluster)
