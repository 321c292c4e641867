"""The checks a search makes before any job runs, and the settings it stores in its study.

Refused with one line: a space that does not parse or holds no searched key, a key outside the schema or
a value outside its range (the configuration of every value typed is composed and checked), ``epochs``
below ``min_epochs * eta``, ``n_trials < 1``, ``scheduler=asha`` without a validation split, an interval
with ``sampler=grid``, a cosine schedule with a span other than the budget.
"""

import logging

from ..errors import ConfigError
from .space import parse_space

log = logging.getLogger(__name__)

AT_LEAST = {"n_trials": 1, "n_jobs": 1, "eta": 2, "min_epochs": 1, "replicates": 0}
"""hydra.sweeper.<key>: its smallest value (n_trials and n_jobs may also be null)."""


def check_options(options):
    """ConfigError for a sweeper setting out of range."""
    for key, least in AT_LEAST.items():
        value = options[key]
        if value is not None and value < least:
            raise ConfigError(f"hydra.sweeper.{key}={value} must be at least {least}")
    seeds = options["replicate_seeds"]
    if options["replicates"] and (not seeds or min(seeds) < 0 or len(set(seeds)) != len(seeds)):
        raise ConfigError(f"hydra.sweeper.replicate_seeds={seeds}: replicates={options['replicates']} needs a list "
                          "of distinct seeds of at least 0, e.g. [0,1,2]")


def corner_points(space):
    """{key: value} points that together give every searched key each of its values (every value of a
    discrete key, both ends of an interval), the other keys at their first value."""
    firsts = {key: dim.grid[0] if dim.grid else dim.distribution.low for key, dim in space.dimensions.items()}
    points = [firsts]
    for key, dim in space.dimensions.items():
        values = dim.grid if dim.grid else [dim.distribution.low, dim.distribution.high]
        points += [{**firsts, key: value} for value in values[1:]]
    return points


def stored_space(space):
    """The space as JSON-able text: {key: Optuna's JSON of its distribution}."""
    from optuna.distributions import distribution_to_json

    return {key: distribution_to_json(dim.distribution) for key, dim in space.dimensions.items()}


def cosine_span(space, configs, budget):
    """Make a cosine schedule span the full budget, so that every rung's epochs are a prefix of the
    budget's and can be promoted through the reuse store; refuse a span the user set to anything else."""
    if not any(str(cfg.schedule.name) == "cosine" for cfg in configs):
        return
    given = [cfg.schedule.get("span") for cfg in configs if cfg.schedule.get("span") is not None]
    if any(span != budget for span in given):
        raise ConfigError(f"schedule.span={given[0]}: a search's cosine schedule spans its budget (epochs={budget}), "
                          "so that a job stopped at a rung and its promotion share their epochs; leave span out")
    space.fixed.setdefault("schedule.span", f"schedule.span={budget}")


def search_settings(options, params, arguments, compose, validate):
    """(settings stored in the study, Space, budget, metric, the jobs' seed) of a search typed as
    ``arguments`` (plus ``params``), each value's configuration made by ``compose(overrides)`` and checked
    by ``validate(cfg)``."""
    space = parse_space(arguments, params)
    points = corner_points(space)
    base = compose(space.overrides(points[0], space.budget or 1))
    budget = space.budget or int(base.epochs)
    configs = [compose(space.overrides(point, budget)) for point in points]
    for cfg in configs:
        validate(cfg)
    asha = options["scheduler"] == "asha"
    if asha and budget < options["min_epochs"] * options["eta"]:
        raise ConfigError(f"epochs={budget} is below min_epochs * eta = {options['min_epochs']} * {options['eta']}: "
                          "ASHA needs at least two rungs; give more epochs, or a smaller min_epochs or eta")
    validation = all(float(cfg.data.val_size) > 0 for cfg in configs)
    if asha and not validation:
        raise ConfigError("scheduler=asha stops and promotes on the validation score, and data.val_size=0 holds no "
                          "validation split; set data.val_size (e.g. 0.1), or use hydra.sweeper.scheduler=none")
    if not validation:
        log.warning("search: no validation split (data.val_size=0): trials are chosen on the test set, which "
                    "makes the chosen score optimistic")
    if options["sampler"] == "grid":
        space.grid()
    if asha and not all(cfg.reuse for cfg in configs):
        log.warning("search: reuse=false: a promoted trial trains again from its first epoch")
    cosine_span(space, configs, budget)
    split = "val" if validation else "test"
    metric = f"{split}_{'acc' if options['direction'] == 'maximize' else 'loss'}"
    settings = {"sampler": options["sampler"], "scheduler": options["scheduler"], "eta": options["eta"],
                "min_epochs": options["min_epochs"], "seed": options["seed"], "metric": metric, "budget": budget,
                "space": stored_space(space), "fixed": list(space.fixed.values())}
    return settings, space, budget, metric, int(base.seed)
