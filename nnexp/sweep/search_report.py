"""A search's part of the sweep report, read from the files the search sweeper wrote.

    search.csv    one row per job: trial, rung, epochs, seed, state, score, promoted, epochs_trained, ...
    search.json   the settings (sampler, scheduler, eta, min_epochs, seed, metric, budget, space), rungs

results.csv gets ``trial`` and ``rung`` beside each job. The best configuration is chosen among the jobs
trained to the full budget only (never a score seen at a lower rung), and when the search retrained
its best configurations with other seeds (``hydra.sweeper.replicates``), among those, by their mean.
"""

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from ..figures import search_plots
from .collect import collect, key_columns, results_frame
from .search import SETTINGS_FILE, TABLE_FILE
from .summary import choose, higher_is_better
from .views import figure

CLOSE = 0.003
"""Within this much of a grid's best (0.3 points of accuracy) a search counts as having reached it."""


def search_table(sweep_dir):
    """search.csv of a search sweep, or None for a grid sweep."""
    path = Path(sweep_dir) / TABLE_FILE
    return pd.read_csv(path) if path.is_file() else None


def search_settings(sweep_dir):
    path = Path(sweep_dir) / SETTINGS_FILE
    return json.loads(path.read_text()) if path.is_file() else {}


def with_search_columns(results, table):
    """results.csv's frame with ``trial`` and ``rung`` after ``status`` (empty for a job not in the table)."""
    by_job = table.set_index("job")
    out = results.copy()
    for position, column in enumerate(["trial", "rung"], start=2):
        out.insert(position, column, out["job"].map(by_job[column]).astype("Int64"))
    return out


def results_of(jobs, sweep_dir):
    """results.csv's frame of a sweep's jobs, with a search's ``trial`` and ``rung`` columns."""
    results = results_frame(jobs, Path(sweep_dir))
    table = search_table(sweep_dir)
    return results if table is None else with_search_columns(results, table)


def search_tags(results):
    """{job: {"nnexp.trial": ..., "nnexp.rung": ...}} of a search's results (empty for a grid)."""
    if "trial" not in results:
        return {}
    return {int(row.job): {"nnexp.trial": str(row.trial), "nnexp.rung": str(row.rung)}
            for row in results[["job", "trial", "rung"]].dropna().itertuples(index=False)}


def chosen_jobs(results, table):
    """The jobs a search chooses among: those trained to the full budget, and when it retrained its best
    configurations with other seeds, only those configurations."""
    budget = table["epochs"].max()
    replicated = set(table.loc[table["seed"].notna(), "trial"])
    at_budget = results[results["epochs"] == budget]
    return at_budget[at_budget["trial"].isin(replicated)] if replicated else at_budget


def trace_frame(table, metric, name="search"):
    """Rows (search, epochs, best) in the order the search's jobs finished (not the retraining with other
    seeds after it): the epochs trained by the jobs so far, and the best score among the jobs at the full
    budget so far (NaN before the first)."""
    budget = table["epochs"].max()
    search = table[table["seed"].isna() & (table["state"] != "running")]
    done = search.sort_values("finished_at", kind="stable")
    at_budget = done["score"].where(done["epochs"] == budget)
    best = at_budget.cummax() if higher_is_better(metric) else at_budget.cummin()
    return pd.DataFrame({"search": name, "epochs": done["epochs_trained"].fillna(0).cumsum().to_numpy(),
                         "best": best.ffill().to_numpy()})


def grid_reference(grid_dir):
    """(the best mean score of a grid sweep, by its own selection score; the epochs its jobs trained)."""
    jobs = collect(grid_dir)
    results = results_frame(jobs, Path(grid_dir))
    choice = choose(results, key_columns(jobs))
    if choice.best is None:
        return None
    return float(choice.best[f"{choice.metric}_mean"]), float(results["epochs_trained"].fillna(0).sum())


def rank_correlation(table):
    """Spearman's rho between the rung-0 score and the full-budget score of the trials that have both
    (NaN with fewer than 3), and how many trials that is."""
    from scipy import stats  # here: half a second of start-up that only a search's report needs

    budget = table["epochs"].max()
    search = table[table["seed"].isna() & table["score"].notna()]
    first = search[search["rung"] == 0].set_index("trial")["score"]
    full = search[search["epochs"] == budget].set_index("trial")["score"]
    both = first.to_frame("first").join(full.to_frame("full"), how="inner")
    if len(both) < 3:
        return math.nan, len(both)
    return float(stats.spearmanr(both["first"], both["full"]).statistic), len(both)


def epochs_accounting(table):
    """(epochs trained by the search's jobs, epochs they would have trained restarting every promoted
    trial from its first epoch)."""
    finished = table[table["state"] != "running"]
    return int(finished["epochs_trained"].fillna(0).sum()), int(finished["epochs"].sum())


def search_markdown(table, settings):
    """The report's search section: settings, jobs per rung, epochs, rank correlation."""
    budget = int(table["epochs"].max())
    trained, restarted = epochs_accounting(table)
    per_rung = table[table["seed"].isna()].groupby("epochs")["job"].count()
    rho, pairs = rank_correlation(table)
    lines = [f"Sampler `{settings.get('sampler')}`, scheduler `{settings.get('scheduler')}`"
             + (f" (eta {settings.get('eta')}, rungs {settings.get('rungs')} epochs)"
                if settings.get("scheduler") == "asha" else "")
             + f", seed {settings.get('seed')}; score `{settings.get('metric')}`, full budget {budget} epochs.", "",
             "| key | searched over |", "|---|---|"]
    lines += [f"| {key} | {text} |" for key, text in (settings.get("described") or {}).items()]
    lines += ["", f"{table['trial'].nunique()} trials, {len(table)} jobs: "
              + ", ".join(f"{n} at {e} epochs" for e, n in per_rung.items())
              + (f", {int(table['seed'].notna().sum())} retraining the best with other seeds"
                 if table["seed"].notna().any() else "") + ".",
              f"Epochs trained: {trained}; restarting each promoted trial from its first epoch would have trained "
              f"{restarted} (saved by promotion through the reuse store: {restarted - trained}).",
              f"Rank correlation (Spearman) of the rung-0 and full-budget scores: {rho:.2f} over the {pairs} trials "
              "trained to the full budget (trials ASHA had already picked at rung 0, so closer together than all)."
              if pairs >= 3 else "Too few trials reached the full budget for a rank correlation with rung 0.",
              "", "`search.csv` lists every job with its trial, rung, state and score; `study.journal` is the Optuna "
              "study (`optuna.load_study(study_name=\"nnexp\", storage=JournalStorage(JournalFileBackend(path)))`)."]
    return "\n".join(lines)


def search_figures(sweep_dir, table, metric, grid_dir=None):
    """The search trace (beside a grid's best with ``grid_dir``) and the rungs: [(title, file)]."""
    sweep_dir = Path(sweep_dir)
    grid = grid_reference(grid_dir) if grid_dir else None
    trace = search_plots.search_trace(trace_frame(table, metric, sweep_dir.name), sweep_dir / "search_trace.png",
                                      metric, grid)
    search = table[table["seed"].isna()]
    rungs = search_plots.rung_scores(search, sweep_dir / "search_rungs.png", metric)
    return [figure("Search trace: best at the full budget against epochs trained", trace, sweep_dir),
            figure("Rungs: every trial's score where it stopped or was promoted", rungs, sweep_dir)]


def first_within(trace, target, maximize=True):
    """Epochs trained when the trace first came within CLOSE of ``target`` (NaN if it never did)."""
    reached = trace["best"] >= target - CLOSE if maximize else trace["best"] <= target + CLOSE
    return float(trace.loc[reached, "epochs"].iloc[0]) if reached.any() else np.nan
