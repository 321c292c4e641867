"""The Hydra callback that turns a finished multirun into results.csv, history.csv, figures and
report.md (registered in conf/config.yaml under ``hydra.callbacks.report``).

It reads only what the jobs wrote to disk, through the same code as ``python -m nnexp.report``.
"""

import logging
from pathlib import Path

from hydra.experimental.callback import Callback

from .errors import NnexpError

log = logging.getLogger(__name__)


class ReportCallback(Callback):
    """At the end of a multirun, aggregate its jobs into the sweep directory.

    ``inverse``: also draw the inverse query of the best job (the inverse_query preset sets it);
    ``gif_frames``: views in the turning-surface GIF (0: no GIF).
    """

    def __init__(self, inverse=False, gif_frames=72):
        self.inverse = inverse
        self.gif_frames = gif_frames

    def on_multirun_end(self, config, **kwargs):
        from .report import build_sweep

        sweep_dir = Path(config.hydra.sweep.dir)
        try:
            results = build_sweep(sweep_dir, inverse=self.inverse, gif_frames=self.gif_frames)
        except NnexpError as err:
            log.error("no sweep report: %s", err)
            return
        except Exception:  # noqa: BLE001 - the jobs' results are on disk; say how to retry
            log.exception("building the sweep report failed; the jobs' results are intact, "
                          "rerun it with: python -m nnexp.report %s", sweep_dir)
            return
        counts = results["status"].value_counts()
        log.info("sweep report: %s (%s)", sweep_dir / "report.md",
                 ", ".join(f"{n} {s}" for s, n in counts.items()))
