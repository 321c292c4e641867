"""Asynchronous successive halving (ASHA, Li et al., MLSys 2020), the variant that pauses and resumes.

A configuration is trained to the epochs of rung 0, then paused. Rung k ends at

    r_k = min_epochs * eta^k  for k = 0, 1, ... while r_k < budget,   and the top rung ends at the budget.

Whenever a slot is free, it takes the first of (Algorithm 2 of the paper, ``get_job``):

1. a paused configuration that stands in the top floor(n_k / eta) of the n_k configurations finished at
   rung k, not yet promoted, looking from the highest rung k down; it is trained on to r_{k+1} (through
   the reuse store: only the epochs r_k + 1 .. r_{k+1});
2. a new configuration, from the sampler, at rung 0.

A configuration whose job failed or diverged stands at rung k with the worst score: it counts in n_k and
is never promoted. Only the scheduling is here; which configuration to try next is Optuna's sampler's.
"""

import math
from dataclasses import dataclass


def rungs(min_epochs, eta, budget):
    """[r_0, r_1, ..., budget]: the epochs at which a configuration is compared with the others."""
    ends, epochs = [], min_epochs
    while epochs < budget:
        ends.append(epochs)
        epochs *= eta
    return [*ends, budget]


@dataclass(frozen=True)
class Record:
    """One job of the search: its configuration, its rung, whether it finished, and its score there
    (NaN when it failed or diverged, or has not finished)."""

    config: int
    rung: int
    finished: bool
    score: float = math.nan


def ranked(scores, maximize):
    """Configurations of {config: score} best first; NaN (failed, diverged) last; ties by config."""
    def order(item):
        config, score = item
        if math.isnan(score):
            return (1, 0.0, config)
        return (0, -score if maximize else score, config)

    return [config for config, _ in sorted(scores.items(), key=order)]


def finished_at(records, rung):
    """{config: score} of the jobs that finished at ``rung``."""
    return {r.config: r.score for r in records if r.rung == rung and r.finished}


def started_at(records, rung):
    """Configurations with a job at ``rung``, finished or not."""
    return {r.config for r in records if r.rung == rung}


def promotion(records, n_rungs, eta, maximize):
    """(config, rung to train it to) of the first paused configuration in the top 1/eta of its rung,
    looking from the highest rung down; None when there is none."""
    for rung in reversed(range(n_rungs - 1)):
        scores = finished_at(records, rung)
        above = started_at(records, rung + 1)
        for config in ranked(scores, maximize)[:len(scores) // eta]:
            if config not in above and not math.isnan(scores[config]):
                return config, rung + 1
    return None


def last_promotion(records, n_rungs, maximize, wanted=1):
    """When the search has ended with fewer than ``wanted`` configurations finished at the top rung (too
    few trials for floor(n_k / eta) to reach it): (the best paused configuration of the highest rung that
    has one, its next rung), so that what the search names best (and the ``wanted`` it retrains with
    other seeds) was trained to the full budget. None otherwise."""
    if sum(math.isfinite(score) for score in finished_at(records, n_rungs - 1).values()) >= wanted:
        return None
    for rung in reversed(range(n_rungs - 1)):
        scores = finished_at(records, rung)
        above = started_at(records, rung + 1)
        for config in ranked(scores, maximize):
            if config not in above and not math.isnan(scores[config]):
                return config, rung + 1
    return None
