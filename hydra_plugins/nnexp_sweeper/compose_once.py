"""nnexp's sweeper: Hydra's basic sweeper, composing each job's configuration once instead of twice.

Hydra's basic sweeper composes every job's configuration before launching any (to refuse a bad
override before a job has run), and the launcher then composes each one again to run it. Composing
is most of the time a job of a sweep of small jobs spends outside its own work (about 60 ms each
on the 2-core test machine). Here the configurations composed to validate a batch are kept and
handed to the launcher, each used once, when it composes in this process (Hydra's basic launcher).
Other launchers compose elsewhere (joblib's workers, Slurm jobs): nothing is kept for them, and a
pickled loader carries nothing kept. At most ``keep`` configurations are kept,
so a sweep of tens of thousands of jobs does not hold them all in memory (about 0.3 MB each); the
jobs beyond are composed twice, as with the basic sweeper. Grammar, schema checks and callbacks are
Hydra's own: ``hydra/sweeper=basic`` gives Hydra's sweeper back.

On joblib's launcher (``hydra/launcher=parallel``) the jobs start in nnexp.sweep.job_order's order, with
their Hydra job numbers: jobs that differ only in epochs run one after another, so no worker waits on
a sibling's epochs.
"""

import logging
from collections import defaultdict, deque
from dataclasses import dataclass
from typing import Dict, Optional

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.config_store import ConfigStore
from hydra.types import HydraContext

from nnexp.sweep.job_order import EpochOrder

from .search import keep_slots_full, launcher_slots

log = logging.getLogger(__name__)


class ComposedOnce:
    """A config loader that keeps up to ``keep`` sweep configurations it composed and returns each
    kept one once, to the next request for the same overrides; everything else is the loader's."""

    def __init__(self, loader, keep):
        self.loader, self.keep = loader, keep
        self.kept = defaultdict(deque)
        self.count = 0

    def load_sweep_config(self, master_config, sweep_overrides):
        key = tuple(sweep_overrides)
        if self.kept.get(key):
            self.count -= 1
            return self.kept[key].popleft()
        return self.loader.load_sweep_config(master_config, sweep_overrides)

    def compose_and_keep(self, master_config, sweep_overrides):
        """Compose (validate) one job's configuration, keeping it if there is room."""
        config = self.loader.load_sweep_config(master_config, list(sweep_overrides))
        if self.count < self.keep:
            self.kept[tuple(sweep_overrides)].append(config)
            self.count += 1

    def forget(self):
        self.kept.clear()
        self.count = 0

    def __getattr__(self, name):   # only for what is not set here: the loader's own methods
        if name == "loader":
            raise AttributeError(name)
        return getattr(self.loader, name)

    def __getstate__(self):
        return {"loader": self.loader, "keep": self.keep, "kept": defaultdict(deque), "count": 0}

    def __setstate__(self, state):
        self.__dict__.update(state)


class EpochOrderedLauncher:
    """A launcher that runs ``slots`` jobs at once (joblib's workers), started in nnexp.sweep.job_order's
    order: jobs that differ only in epochs one after another, fewest epochs first, so that none waits on
    a sibling's epochs in the reuse store. Each job is launched alone, from one of ``slots`` threads, with
    its Hydra job number; the results come back in the batch's order. Everything else is the launcher's."""

    def __init__(self, launcher, slots, shared):
        self.launcher, self.slots, self.shared = launcher, slots, shared

    def launch(self, job_overrides, initial_job_idx):
        order, results = EpochOrder(job_overrides, self.shared), [None] * len(job_overrides)

        def start(index):
            # joblib's launcher numbers the one job of each call #0: the job's own number here
            log.info("job %d: %s", initial_job_idx + index, " ".join(job_overrides[index]))
            return self.launcher.launch([job_overrides[index]], initial_job_idx + index)

        def finished(index, future):
            [results[index]] = future.result()
            order.done(index)

        keep_slots_full(self.slots, order.next_job, start, finished)
        return results

    def __getattr__(self, name):   # only for what is not set here: the launcher's own
        if name == "launcher":
            raise AttributeError(name)
        return getattr(self.launcher, name)


class ComposeOnceSweeper(BasicSweeper):
    """Hydra's BasicSweeper whose launcher receives the configurations composed to validate a batch."""

    def __init__(self, max_batch_size: Optional[int] = None, params: Optional[Dict[str, str]] = None,
                 keep: int = 1000):
        super().__init__(max_batch_size=max_batch_size, params=params)
        self.keep = keep

    def setup(self, *, hydra_context, task_function, config):
        self.composed = ComposedOnce(hydra_context.config_loader, self.keep)
        context = HydraContext(config_loader=self.composed, callbacks=hydra_context.callbacks)
        super().setup(hydra_context=context, task_function=task_function, config=config)
        if type(self.launcher).__name__ != "BasicLauncher":   # it composes in other processes
            self.composed.keep = 0
        slots = launcher_slots(self.launcher)
        if getattr(self.launcher, "joblib", None) is not None and slots > 1:   # jobs side by side on this machine
            self.launcher = EpochOrderedLauncher(self.launcher, slots, bool(config.get("reuse", True)))

    def sweep(self, arguments):
        from nnexp.sweep.callbacks import released_if_it_fails

        with released_if_it_fails(self.config.hydra.sweep.dir):
            return super().sweep(arguments)

    def validate_batch_is_legal(self, batch):
        """Compose every job of the batch (a bad override stops the sweep before any job runs)."""
        self.composed.forget()
        for overrides in batch:
            self.composed.compose_and_keep(self.config, overrides)


@dataclass
class ComposeOnceSweeperConf:
    _target_: str = "hydra_plugins.nnexp_sweeper.compose_once.ComposeOnceSweeper"
    max_batch_size: Optional[int] = None
    params: Optional[Dict[str, str]] = None
    keep: int = 1000   # at most this many composed configurations kept for the launcher


ConfigStore.instance().store(group="hydra/sweeper", name="nnexp", node=ComposeOnceSweeperConf, provider="nnexp")
