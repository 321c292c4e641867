"""Learning-rate range test: ``python -m nnexp.lr_find [overrides]``.

One run of the configured network whose learning rate grows exponentially from ``lr_find.start``
to ``lr_find.end`` over ``lr_find.steps`` batches,

    lr_i = start * (end / start) ** (i / (steps - 1)),

recording each batch's training loss. The loss is smoothed by a bias-corrected exponential moving
average; the suggested learning rate is where the smoothed loss falls fastest per decade of lr,
before its minimum. The test stops early once the smoothed loss exceeds ``stop_factor`` times its
minimum (or is not finite). It writes into the run directory:

    lr_find.csv   step, lr, loss, smoothed_loss
    lr_find.json  suggested_lr, min_loss_lr, start, end, steps, steps_run, stopped_early
    lr_find.png   loss against lr (log x), the suggestion marked

Every setting of ``python -m nnexp`` applies (``experiment=two_hidden``, ``model.hidden=[16,16]``,
``batch_size=...``); ``lr`` and ``epochs`` are not used.
"""

import logging
from pathlib import Path

import hydra
import numpy as np
import pandas as pd
from hydra.core.hydra_config import HydraConfig

from .config import register_configs, validate
from .errors import ConfigError, NnexpError, exit_with_error
from .main import config_dir, hydra_command
from .nn.optim import make_optimizer
from .nn.schedules import Exponential
from .storage import write_csv, write_json
from .sweep.callbacks import released_if_it_fails
from .training.identity import plain
from .training.job import build_model, load_data
from .training.loop import epoch_order, epoch_rng

log = logging.getLogger("nnexp")


def check(finder):
    """Raise ConfigError for a range the test cannot run."""
    if not 0 < finder.start < finder.end:
        raise ConfigError(f"lr_find.start={finder.start} and lr_find.end={finder.end} must satisfy 0 < start < end")
    if finder.steps < 2:
        raise ConfigError(f"lr_find.steps={finder.steps} must be at least 2")
    if not 0 <= finder.smoothing < 1:
        raise ConfigError(f"lr_find.smoothing={finder.smoothing} must be in [0, 1)")


def learning_rates(start, end, steps):
    """The exponentially growing rates, (steps,) from start to end: an ``exponential`` schedule
    (nnexp/nn/schedules.py) stepped per batch, its factor (end / start)^(1 / (steps - 1))."""
    ramp = Exponential(start, gamma=(end / start) ** (1 / (steps - 1)))
    return np.array([ramp.rate(k, steps) for k in range(1, steps + 1)])


def suggest(lrs, smoothed, skip=0.1):
    """The learning rate where the smoothed loss falls fastest per unit of log lr, searched after
    the first ``skip`` share of the steps (where the average has not settled) and before the
    minimum of the smoothed loss; returns (suggested_lr, min_loss_lr), NaN when too short."""
    finite = np.isfinite(smoothed)
    lrs, smoothed = lrs[finite], smoothed[finite]
    first = int(len(lrs) * skip)
    if len(lrs) - first < 3:
        return float("nan"), float("nan")
    lowest = first + int(np.argmin(smoothed[first:]))
    slope = np.gradient(smoothed, np.log(lrs))
    steepest = first + int(np.argmin(slope[first:max(lowest, first + 1)]))
    return float(lrs[steepest]), float(lrs[lowest])


def range_test(model, data, cfg, finder):
    """Train ``model`` through the lr schedule; returns the table (step, lr, loss, smoothed_loss) and
    whether it stopped early. Batches follow the run's epoch order, continuing into the next epoch."""
    lrs = learning_rates(finder.start, finder.end, finder.steps)
    optimizer = make_optimizer(plain(cfg.optimizer), model, lrs[0])
    n = len(data.x_train)
    batches_per_epoch = -(-n // cfg.batch_size)
    losses, smoothed, order, avg = [], [], None, 0.0
    beta = finder.smoothing
    with np.errstate(over="ignore", invalid="ignore"):
        for step, lr in enumerate(lrs):
            epoch, b = divmod(step, batches_per_epoch)
            if b == 0:
                order = epoch_order(n, cfg.shuffle, epoch_rng(cfg.seed, epoch + 1))
            idx = order[b * cfg.batch_size:(b + 1) * cfg.batch_size]
            batch_losses = model.backprop(data.x_train[idx], data.y_train[idx], mean=cfg.batch_mean)
            optimizer.lr = lr
            optimizer.step()
            losses.append(float(batch_losses.mean()))
            avg = beta * avg + (1 - beta) * losses[-1]          # moving average, bias-corrected
            smoothed.append(avg / (1 - beta ** (step + 1)))
            if not np.isfinite(smoothed[-1]) or smoothed[-1] > finder.stop_factor * min(smoothed):
                break
    steps = len(losses)
    table = pd.DataFrame({"step": np.arange(1, steps + 1), "lr": lrs[:steps], "loss": losses,
                          "smoothed_loss": smoothed})
    return table, steps < finder.steps


def find(cfg, run_dir):
    """Run the range test for ``cfg`` and write lr_find.csv, lr_find.json and lr_find.png; return the summary."""
    from .figures.run_plots import lr_finder

    run_dir = Path(run_dir)
    validate(cfg)
    check(cfg.lr_find)
    data = load_data(cfg)
    model = build_model(cfg.model, data, np.dtype(str(cfg.dtype)), np.random.default_rng(cfg.seed))
    table, stopped = range_test(model, data, cfg, cfg.lr_find)
    suggested, lowest = suggest(table["lr"].to_numpy(), table["smoothed_loss"].to_numpy())
    summary = {"suggested_lr": suggested, "min_loss_lr": lowest, "start": cfg.lr_find.start, "end": cfg.lr_find.end,
               "steps": cfg.lr_find.steps, "steps_run": len(table), "stopped_early": stopped,
               "batch_size": cfg.batch_size, "seed": cfg.seed}
    write_csv(run_dir / "lr_find.csv", table)
    write_json(run_dir / "lr_find.json", summary)
    lr_finder(table, run_dir / "lr_find.png", suggested)
    return summary


register_configs()


@hydra.main(version_base="1.3", config_path=config_dir(), config_name="lr_find")
def main(cfg):
    """Run the range test; a user error is one line on stderr and a non-zero exit."""
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    try:
        with released_if_it_fails(HydraConfig.get().runtime.output_dir):
            summary = find(cfg, run_dir)
    except NnexpError as err:
        exit_with_error(err, "nnexp.lr_find")
    print(f"suggested lr {summary['suggested_lr']:.4g} (lowest loss at lr {summary['min_loss_lr']:.4g}); "
          f"wrote {run_dir / 'lr_find.png'}")


if __name__ == "__main__":
    hydra_command(main, "nnexp.lr_find")
