"""Everything a sweep directory needs to be compared and reported, rebuilt from disk.

``python -m nnexp.report <dir>`` and the Hydra callback (``nnexp.sweep.callbacks``, at the end of
a multirun) both call ``build``. For a sweep directory it writes::

    results.csv   one row per job (columns: see ``results_frame`` and docs/sweeps.md)
    history.csv   the per-epoch histories of all jobs in long form, the swept keys as columns
    *.png, *.gif  the figures that fit what was swept (see ``sweep_figures``)
    report.md     the grid, the best configuration, the results table and the figures

and for a single run directory (one that holds result.json) its own figures (``nnexp.training.run_figures``).
Only files on disk are read, so a partial or interrupted sweep is reported as far as it got::

    completed   result.json says completed          failed   the job raised (error recorded)
    diverged    the loss became non-finite           missing  a job directory without a readable
    pending     a grid point whose job never started          result.json (killed, or still running),
                                                              or whose files are not those result.json
                                                              recorded (sha256; changed or corrupt)
"""

import argparse
import shlex
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import NnexpError, error_line
from ..figures.style import GIF_FRAMES
from ..storage import write_csv, write_text
from ..training.run_figures import run_figures
from .collect import STATUSES, ReportError, collect, history_frame, key_columns, multirun_config, results_frame
from .search_report import (
    chosen_jobs,
    search_figures,
    search_markdown,
    search_settings,
    search_table,
    with_search_columns,
)
from .summary import (
    ALPHA,
    POWER,
    REPLICATE_KEYS,
    best_job,
    choose,
    higher_is_better,
    paired,
    samples_of,
    seeds_needed,
)
from .views import figure, sweep_figures


def markdown_table(frame, digits=4):
    """A DataFrame as a GitHub-flavoured Markdown table (floats to ``digits`` places, NaN empty)."""
    def cell(value):
        if value is None or (isinstance(value, float) and np.isnan(value)):
            return ""
        if isinstance(value, float):
            return f"{value:.{digits}f}"
        return str(value).replace("|", "\\|")

    lines = ["| " + " | ".join(frame.columns) + " |", "|" + "---|" * len(frame.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines)


def command_line(multirun):
    """The command that launched the sweep, rebuilt from multirun.yaml (None when unknown)."""
    overrides = (multirun.get("hydra") or {}).get("overrides") or {}
    if not overrides:
        return None
    hydra_args = [a for a in overrides.get("hydra") or [] if a != "hydra.mode=MULTIRUN"]
    multi = "-m " if "hydra.mode=MULTIRUN" in (overrides.get("hydra") or []) else ""
    return "python -m nnexp " + multi + " ".join(shlex.quote(a) for a in hydra_args + list(overrides.get("task") or []))


def grid_lines(results, keys):
    """One Markdown table row per override key with its values in grid order."""
    rows = [{"key": k, "values": ", ".join(f"{v:g}" if isinstance(v, float) else str(v)
                                           for v in dict.fromkeys(results[k]))} for k in keys]
    return markdown_table(pd.DataFrame(rows, columns=["key", "values"]))


def plain_value(value):
    """A swept value as typed: 3 for 3.0 (a summary row holds numbers as floats)."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def score_text(row, metric, column=None):
    """'mean ± half-width (n seeds)' of a summary row, or the one value of a single job."""
    column = column or metric
    scale, unit, digits = (100, "%", 2) if metric.endswith("_acc") else (1, "", 5)
    mean, half, n = row[f"{column}_mean"], row[f"{column}_ci95"], int(row["n"])
    if n > 1 and not pd.isna(half):
        return f"{scale * mean:.{digits}f}{unit} ± {scale * half:.{digits}f} ({n} seeds)"
    return f"{scale * mean:.{digits}f}{unit}"


def best_text(results, choice):
    """The best configuration in Markdown: its swept settings (no seed, no constant override), its
    selection score (validation when there is a split) with the test score of the same configuration
    beside it, and the fixed settings once."""
    metric, config_keys, replicates, fixed, best = (choice.metric, choice.config_keys, choice.replicates,
                                                    choice.fixed, choice.best)
    if best is None:
        return "No job completed, so there is no best configuration."
    setting = configuration_text(best, config_keys) or "The configuration (only seeds vary)"
    test = "test_acc" if metric.endswith("_acc") else "test_loss"
    what = "accuracy" if metric.endswith("_acc") else "loss"
    if metric.startswith("val"):
        lines = [f"{setting}: validation {what} **{score_text(best, metric)}** after the last epoch; its test "
                 f"{what} {score_text(best, test)}.{tie_count(choice)}", "",
                 "Chosen on the validation set (held out of the training set, the same for every job); the test "
                 "set was not used to choose, so its figure is an honest estimate."]
    else:
        lines = [f"{setting}: test {what} **{score_text(best, test)}** after the last epoch.{tie_count(choice)}", "",
                 "Chosen on the test set, as the classic experiments did (no validation split, `data.val_size=0`): "
                 "the figure of the chosen configuration is optimistic."]
    lines += ties_text(results, choice)
    if replicates:
        lines += ["", f"Replicates: {', '.join(replicates)} ({int(best['n'])} completed for this configuration); "
                      "`summary.csv` has every configuration's mean, sd, 95% interval and range."]
    constant = [f"`{k}={results[k].iloc[0]}`" for k in fixed]
    if constant:
        lines += ["", f"Fixed for every job: {', '.join(constant)}."]
    return "\n".join(lines)


def tie_count(choice):
    """' N of the other M configurations are within noise of it.' ('' when there is nothing to count)."""
    tied = choice.summary.get("tied_with_best")
    others = len(choice.summary) - 1
    if tied is None or others < 1 or tied.isna().all():
        return ""
    return f" {int(tied.eq(True).sum())} of the other {others} configurations are within noise of it."


def configuration_text(row, config_keys):
    """'`lr=0.2`, `model.hidden=[200]`': the swept settings of a summary row ('' without any)."""
    return ", ".join(f"`{k}={plain_value(row[k])}`" for k in config_keys)


def score_name(metric):
    """'validation accuracy' for val_acc, 'test loss' for test_loss, ..."""
    return f"{'validation' if metric.startswith('val') else 'test'} {'accuracy' if metric.endswith('_acc') else 'loss'}"


def ties_text(results, choice):
    """Lines on the configurations that cannot be told from the best (Holm-adjusted p >= ALPHA against
    it, ``summary.versus_best``), with their score and p_adj, and when the best is tied, the seeds per
    configuration that would tell it from the runner-up; or why ties cannot be judged."""
    summary, metric = choice.summary, choice.metric
    if len(summary) < 2:
        return []
    if summary["tied_with_best"].isna().all():
        return ["", "One seed per configuration: whether another configuration is as good as the best cannot be "
                    "judged (sweep a replicate key, e.g. `seed=0,1,2`, to compare them)."]
    tied = summary[summary["tied_with_best"].eq(True)].sort_values(   # the column holds True, False or None
        f"{metric}_mean", ascending=not higher_is_better(metric), kind="stable")
    untested = summary["p_adj_vs_best"].isna().sum() - 1
    left_out = f"; {untested} with fewer than two seeds not compared." if untested else "."
    lines = ["", f"Compared with the best on {score_name(metric)} (paired over seeds when both ran the same ones, "
                 f"else Welch; p Holm-adjusted over the {len(summary) - 1 - untested} other configurations, "
                 "`p_adj_vs_best` in `summary.csv`)" + left_out]
    if tied.empty:
        return lines + ["", f"None is within noise of the best: every one is worse at adjusted p < {ALPHA}."]
    table = pd.DataFrame({"configuration": [configuration_text(row, choice.config_keys) for _, row in tied.iterrows()],
                          score_name(metric): [score_text(row, metric) for _, row in tied.iterrows()],
                          "p_adj": tied["p_adj_vs_best"].to_numpy()})
    lines += ["", f"Within noise of the best (adjusted p >= {ALPHA}; not shown worse, which with few seeds is not "
                  "shown equal either):", "", markdown_table(table)]
    return lines + seeds_text(results, choice)


def seeds_text(results, choice):
    """The seeds per configuration a two-sided test at ALPHA needs to tell the best from the runner-up
    (second-best mean) with POWER, from their observed sds (``summary.seeds_needed``)."""
    summary, metric = choice.summary, choice.metric
    ordered = summary[f"{metric}_mean"].sort_values(ascending=not higher_is_better(metric)).dropna()
    runner = summary.loc[ordered.index[1]]
    best_scores, best_ids = samples_of(results, choice.config_keys, choice.replicates, choice.best, metric)
    scores, ids = samples_of(results, choice.config_keys, choice.replicates, runner, metric)
    n = seeds_needed(best_scores, scores, best_ids, ids)
    if np.isnan(n):
        return []
    gap = abs(choice.best[f"{metric}_mean"] - runner[f"{metric}_mean"]) * (100 if metric.endswith("_acc") else 1)
    unit = " points" if metric.endswith("_acc") else ""
    what = (f"about {int(n)} seeds per configuration" if np.isfinite(n) else
            "more seeds than any sweep runs (their means are equal)")
    design, power = ("paired over seeds", "TTestPower") if paired(best_ids, ids) else ("Welch", "TTestIndPower")
    return ["", f"To tell the best from the runner-up, {configuration_text(runner, choice.config_keys)} "
                f"({gap:.2g}{unit} apart), a two-sided test at {ALPHA} ({design}) would need "
                f"{what} for {POWER:.0%} power, if the observed difference and sds were the true ones "
                f"(statsmodels' `{power}`)."]


def report_markdown(sweep_dir, results, keys, figures, multirun, choice, search=None, chosen=None):
    """report.md: command, job counts, grid (or ``search``: a search's section), best configuration (among
    the ``chosen`` jobs: all of them for a grid), results table, figures."""
    counts = results["status"].value_counts()
    status = ", ".join(f"{counts[s]} {s}" for s in STATUSES if s in counts)
    validation = ["val_acc"] if results["val_acc"].notna().any() else []
    searched = [c for c in ("trial", "rung") if c in results]
    shown_columns = ["job", "status", *searched, *keys, *validation, "test_acc", "train_acc", "test_loss",
                     "best_test_acc", "best_epoch", "seconds", "error"]
    table = results[shown_columns].copy().astype({"best_epoch": object})
    for column in [*searched, *keys, "best_epoch"]:
        table[column] = table[column].map(lambda v: "" if v is None or pd.isna(v) else f"{v:g}"
                                          if isinstance(v, float) else str(v))
    table["seconds"] = table["seconds"].map(lambda v: "" if pd.isna(v) else f"{v:.1f}")
    command = command_line(multirun)
    parts = [f"# Sweep report: {Path(sweep_dir).name}", ""]
    if command:
        parts += ["```", command, "```", ""]
    parts += [f"{len(results)} jobs: {status}. Files: `results.csv` (one row per job), `history.csv` "
              "(every epoch of every job). Rebuild with `python -m nnexp.report <this directory>`.", "",
              *(["## Search", "", search] if search else ["## Grid", "", grid_lines(results, keys)]), "",
              "## Best configuration", "", best_text(results if chosen is None else chosen, choice), "",
              "## Results", "", markdown_table(table), ""]
    if figures:
        parts += ["## Figures", ""]
        for title, file in figures:
            parts += [f"### {title}", "", f"![{title}]({file})", ""]
    return "\n".join(parts)


def build_sweep(sweep_dir, inverse=False, gif_frames=GIF_FRAMES, replicate_keys=REPLICATE_KEYS, vs=None):
    """Write results.csv, history.csv, summary.csv (when replicates were swept), the figures and
    report.md of a sweep; return results.

    ``inverse``: also draw the best job's inverse query; ``gif_frames``: views in the turning
    surface GIF (0: no GIF); ``replicate_keys``: keys whose values repeat one configuration (seed);
    ``vs``: for a search, a grid sweep's directory whose best is drawn beside the search's trace."""
    sweep_dir = Path(sweep_dir)
    jobs = collect(sweep_dir)
    if not jobs:
        raise ReportError(f"{sweep_dir} holds no jobs: no multirun.yaml grid and no job directories "
                          "(.hydra/overrides.yaml); give the directory of a sweep or of a run")
    keys = key_columns(jobs)
    results, history = results_frame(jobs, sweep_dir), history_frame(jobs)
    table = search_table(sweep_dir)
    if table is not None:
        results = with_search_columns(results, table)
    write_csv(sweep_dir / "results.csv", results)
    write_csv(sweep_dir / "history.csv", history)
    chosen = results if table is None else chosen_jobs(results, table)
    settings = {} if table is None else search_settings(sweep_dir)
    choice = choose(chosen, keys, tuple(replicate_keys), tuple(settings.get("space") or ()))
    if choice.replicates:
        write_csv(sweep_dir / "summary.csv", choice.summary)
    else:
        (sweep_dir / "summary.csv").unlink(missing_ok=True)
    search = None
    figures = []
    if table is not None:
        search = search_markdown(table, settings)
        figures += search_figures(sweep_dir, table, settings.get("metric", choice.metric), vs)
    figures += sweep_figures(sweep_dir, chosen, history[history["job"].isin(chosen["job"])], choice, gif_frames)
    best = best_job(chosen, choice)
    if best is not None:
        best_dir = sweep_dir / best["dir"]
        figures += [figure(f"Best job: {title.lower()}", path, sweep_dir)
                    for title, path in run_figures(best_dir, sweep_dir, prefix="best_")]
        if inverse:
            from ..training.run_inverse import inverse_query

            figures.append(figure("Best job: inverse query of every class",
                                  inverse_query(best_dir, sweep_dir / "best_inverse.png"), sweep_dir))
    write_text(sweep_dir / "report.md", report_markdown(sweep_dir, results, keys, figures, multirun_config(sweep_dir),
                                                        choice, search, chosen))
    return results


def callback_options(multirun):
    """The settings of the report callback recorded in multirun.yaml (hydra.callbacks.report)."""
    callbacks = (multirun.get("hydra") or {}).get("callbacks") or {}
    report = callbacks.get("report") or {}
    return {"inverse": bool(report.get("inverse", False)),
            "gif_frames": int(report.get("gif_frames", GIF_FRAMES)),
            "replicate_keys": tuple(report.get("replicate_keys", REPLICATE_KEYS))}


def build(directory, vs=None):
    """Rebuild everything for a sweep directory or a single run directory, from disk (``vs``: a grid
    sweep to draw beside a search's trace)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ReportError(f"{directory} is not a directory; give a sweep or run directory")
    if (directory / "result.json").is_file():
        drawn = run_figures(directory)
        return [path for _, path in drawn]
    results = build_sweep(directory, **callback_options(multirun_config(directory)), vs=vs)
    return results


def main(argv=None):
    """``python -m nnexp.report <dir>``: rebuild a sweep's tables, figures and report.md."""
    parser = argparse.ArgumentParser(prog="python -m nnexp.report", description=main.__doc__)
    parser.add_argument("directory", help="a sweep directory (holding job directories) or a run directory")
    parser.add_argument("--vs", metavar="GRID_DIR", help="a search: draw this grid sweep's best and its epochs "
                        "beside the search trace")
    args = parser.parse_args(argv)
    try:
        if args.vs is not None and not Path(args.vs).is_dir():
            raise ReportError(f"--vs {args.vs} is not a directory; give the directory of a grid sweep")
        out = build(args.directory, vs=args.vs)
    except NnexpError as err:
        return error_line(err, "nnexp.report")
    if isinstance(out, pd.DataFrame):
        counts = out["status"].value_counts()
        print(f"{args.directory}: {len(out)} jobs ({', '.join(f'{n} {s}' for s, n in counts.items())}); "
              f"wrote results.csv, history.csv, report.md and the figures")
    else:
        print(f"{args.directory}: wrote {', '.join(p.name for p in out) or 'no figures (no tables found)'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
