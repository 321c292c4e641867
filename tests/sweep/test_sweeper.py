"""nnexp's sweeper (hydra_plugins/nnexp_sweeper): Hydra's basic sweeper composing each job once."""

import importlib
import pickle
import subprocess
import sys

import pandas as pd
from helpers import TINY, cli_env, run_refused

COUNTING_RUN = """
import atexit, runpy, sys
import hydra._internal.config_loader_impl as loader
composed = []
original = loader.ConfigLoaderImpl.load_sweep_config
def counting(self, *args, **kwargs):
    composed.append(1)
    return original(self, *args, **kwargs)
loader.ConfigLoaderImpl.load_sweep_config = counting
atexit.register(lambda: print("COMPOSED", len(composed)))
sys.argv = ["nnexp", *sys.argv[1:]]
runpy.run_module("nnexp", run_name="__main__")
"""


def sweep_composing(tmp_path, name, *overrides):
    """Run a sweep in ``tmp_path/name`` counting Hydra's compositions; (results.csv, compositions)."""
    done = subprocess.run([sys.executable, "-c", COUNTING_RUN, "-m", *TINY, "epochs=1", "lr=0.1,0.3", "seed=0,1",
                           "reuse=false", f"hydra.sweep.dir={tmp_path / name}", "hydra.callbacks.report.gif_frames=0",
                           *overrides], cwd=tmp_path, env=cli_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    count = int(done.stdout.split("COMPOSED")[-1])
    results = pd.read_csv(tmp_path / name / "results.csv").drop(columns=["seconds"])
    return results, count


def test_each_job_is_composed_once_and_the_results_are_those_of_hydras_sweeper(tmp_path):
    """Fails if the launcher composes the jobs again (4 more compositions) or if the kept
    configurations differ from fresh ones (other results than Hydra's basic sweeper gives)."""
    ours, composed = sweep_composing(tmp_path, "nnexp")
    hydras, composed_by_hydra = sweep_composing(tmp_path, "basic", "hydra/sweeper=basic")
    assert (composed, composed_by_hydra) == (4, 8)
    pd.testing.assert_frame_equal(ours, hydras)


def test_a_bad_value_in_the_grid_stops_the_sweep_before_any_job_runs(tmp_path):
    """Validation still composes every job first: the third job's bad lr is refused with no job run."""
    done = run_refused("-m", *TINY, "epochs=1", "lr=0.1,0.3,fast", f"hydra.sweep.dir={tmp_path / 's'}", cwd=tmp_path)
    assert done.returncode != 0 and "lr" in done.stderr
    assert not list((tmp_path / "s").glob("*/result.json"))


class Loader:
    """A config loader that makes a new configuration per call and counts the calls."""

    def __init__(self):
        self.calls = 0

    def load_sweep_config(self, master_config, sweep_overrides):
        self.calls += 1
        return {"overrides": list(sweep_overrides), "call": self.calls}


def composed_once(loader, keep):
    """A ComposedOnce of the module as imported now (Hydra's plugin scan may have loaded it again)."""
    return importlib.import_module("hydra_plugins.nnexp_sweeper.compose_once").ComposedOnce(loader, keep)


def test_a_kept_configuration_is_handed_out_once_and_at_most_keep_are_kept():
    composed = composed_once(Loader(), 2)
    for overrides in (["a=1"], ["a=2"], ["a=3"]):
        composed.compose_and_keep(None, overrides)
    assert composed.load_sweep_config(None, ["a=1"])["call"] == 1
    assert composed.load_sweep_config(None, ["a=2"])["call"] == 2
    assert composed.load_sweep_config(None, ["a=3"])["call"] == 4      # beyond keep: composed again
    assert composed.load_sweep_config(None, ["a=1"])["call"] == 5      # handed out once only


def test_a_pickled_loader_leaves_the_kept_configurations_behind():
    """Launchers that compose in other processes pickle the loader: it must not carry the sweep."""
    composed = composed_once([], 10)
    composed.kept[("a=1",)].append({"big": "config"})
    composed.count = 1
    copy = pickle.loads(pickle.dumps(composed))
    assert not copy.kept and copy.count == 0 and copy.keep == 10
