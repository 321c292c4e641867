"""The one Hydra internal nnexp uses: the basic sweeper's grid expansion (``expand_grid``)."""

import yaml
from helpers import TINY, run_cli
from omegaconf import OmegaConf

from nnexp.sweep.guard import expand_grid, job_dirs, sweep_args


def test_expand_grid_gives_the_jobs_hydra_launches_in_their_order(tmp_path):
    """Fails when Hydra's BasicSweeper changes how (or in which order) it expands a grid."""
    done = run_cli("-m", *TINY, "epochs=1", "lr=0.1,0.3", "seed=0,1", "model.hidden=[4],[6]",
                   "hydra.callbacks.report.gif_frames=0", f"hydra.sweep.dir={tmp_path}")
    assert done.returncode == 0, done.stderr
    launched = [yaml.safe_load((job / ".hydra" / "overrides.yaml").read_text()) for job in job_dirs(tmp_path)]
    planned = expand_grid(sweep_args(OmegaConf.load(tmp_path / "multirun.yaml")))
    assert len(launched) == 8
    assert planned == [[o for o in job if o.split("=")[0] in ("lr", "seed", "model.hidden", "epochs",
                                                                  "data.train_size")] for job in launched]
