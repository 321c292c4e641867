"""What a result depends on besides its config (nnexp/training/environment.py), and where a relative path
of the config is taken from."""

import platform
from pathlib import Path

import numpy as np
from helpers import compose_config
from hydra.core.hydra_config import HydraConfig
from omegaconf import open_dict
from threadpoolctl import threadpool_info

import nnexp
from nnexp.training.environment import environment, launch_path, source_revision


def test_environment_names_the_versions_the_blas_libraries_and_the_platform():
    found = environment()
    assert found == {"nnexp": nnexp.__version__, "git": source_revision(), "python": platform.python_version(),
                     "numpy": np.__version__, "blas": found["blas"], "platform": platform.platform()}
    keys = ("internal_api", "prefix", "version", "num_threads", "threading_layer", "architecture")
    assert found["blas"] == [{key: lib.get(key) for key in keys} for lib in threadpool_info()
                             if lib["user_api"] == "blas"]
    assert found["blas"] and all(set(lib) == set(keys) and lib["prefix"] for lib in found["blas"])


def test_a_relative_path_is_taken_from_where_the_command_was_started(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert launch_path("/abs/store") == Path("/abs/store")
    assert launch_path("outputs/reuse") == tmp_path / "outputs" / "reuse"
    assert launch_path(Path("x")) == tmp_path / "x"
    # in a Hydra job (hydra.job.chdir=true has left the start directory): Hydra's original working directory
    cfg = compose_config(return_hydra_config=True)
    with open_dict(cfg):
        cfg.hydra.runtime.cwd = "/where/it/started"
    monkeypatch.setattr(HydraConfig.instance(), "cfg", None)          # restored after the test
    HydraConfig.instance().set_config(cfg)
    assert launch_path("outputs/reuse") == Path("/where/it/started/outputs/reuse")
    assert launch_path("/abs/store") == Path("/abs/store")
