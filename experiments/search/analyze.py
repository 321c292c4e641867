"""The grid against four searches of the same space (experiments/search/run_study.sh), read from their
sweep directories: how many epochs, and how many seconds, each search needed to come within 0.3 points of
the grid's best validation accuracy, what it finally chose and its test accuracy, the epochs promotion
through the reuse store saved, and how well rung 0 ranks the configurations.

    python experiments/search/analyze.py OUT [--out experiments/search]

OUT holds the sweeps of run_study.sh: grid/ and <method>_<seed>/. Writes runs.csv (one row per sweep),
methods.csv (one row per method: median and range over the search seeds) and search_vs_grid.png beside
this file (or --out), and prints the tables as Markdown. It also copies each sweep's tables and report
(COPIED, plus the search figures of the sweeps named by --figures) to sweeps/<sweep>/, with OUT's path
written as <out>.
"""

import argparse
import shutil
import sys
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))   # this checkout's nnexp

from nnexp.figures.style import save  # noqa: E402
from nnexp.sweep.collect import collect, key_columns  # noqa: E402
from nnexp.sweep.search_report import (  # noqa: E402
    CLOSE,
    chosen_jobs,
    epochs_accounting,
    first_within,
    grid_reference,
    rank_correlation,
    search_settings,
    search_table,
    trace_frame,
)
from nnexp.sweep.summary import best_job, choose  # noqa: E402

METHODS = {"random": "random, full budget", "tpe": "TPE, full budget",
           "asha_random": "ASHA + random", "asha_tpe": "ASHA + TPE"}
CONFIGURATION = ["lr", "model.hidden", "batch_size"]
METRIC = "val_acc"
COPIED = ["results.csv", "search.csv", "summary.csv", "report.md"]
FIGURES = ["search_trace.png", "search_rungs.png"]


def started(sweep_dir):
    """When the sweep began launching jobs: Hydra writes multirun.yaml just before the first job."""
    return datetime.fromtimestamp((Path(sweep_dir) / "multirun.yaml").stat().st_mtime)


def grid_table(grid_dir, results):
    """The grid's jobs as a search table (search.csv's columns that trace_frame and rank_correlation read),
    in the order they ran: each job's finish time is its result.json's."""
    finished = [datetime.fromtimestamp((Path(grid_dir) / d / "result.json").stat().st_mtime).isoformat()
                for d in results["dir"].astype(str)]
    return pd.DataFrame({"job": results["job"], "trial": results["job"], "rung": 0, "epochs": results["epochs"],
                         "seed": np.nan, "state": "complete", "score": results[METRIC],
                         "epochs_trained": results["epochs_trained"], "finished_at": finished})


def early_table(history, epoch):
    """Every grid configuration's validation accuracy at ``epoch`` (rung 0) and at its last epoch, as a
    search table, for rank_correlation over the whole space."""
    last = history["epoch"].max()
    rows = history[history["epoch"].isin([epoch, last])]
    return pd.DataFrame({"trial": rows["job"], "rung": np.where(rows["epoch"] == epoch, 0, 1),
                         "epochs": rows["epoch"], "seed": np.nan, "score": rows[METRIC]})


def choice_of(sweep_dir, results, table=None, searched=()):
    """The job the sweep's report chooses (among the jobs at the full budget for a search)."""
    chosen = results if table is None else chosen_jobs(results, table)
    choice = choose(chosen, key_columns(collect(sweep_dir)), searched=searched)
    return best_job(chosen, choice)


def elapsed(table, start):
    """The trace with its epochs replaced by the seconds since ``start`` at which each job finished (the
    same rows, in the same order, as trace_frame's)."""
    done = table[table["seed"].isna() & (table["state"] != "running")].sort_values("finished_at", kind="stable")
    return (pd.to_datetime(done["finished_at"]) - start).dt.total_seconds().to_numpy()


def best_by(trace, epochs):
    """The best full-budget score found within the first ``epochs`` epochs trained (NaN if none)."""
    within = trace[trace["epochs"] <= epochs]["best"].dropna()
    return within.iloc[-1] if len(within) else np.nan


def sweep_row(name, method, seed, sweep_dir, table, results, target, quarter, searched=()):
    """One row of runs.csv, and the sweep's trace."""
    trace = trace_frame(table, METRIC, name)
    seconds = trace.assign(epochs=elapsed(table, started(sweep_dir)))
    trained, restarted = epochs_accounting(table)
    rho, pairs = rank_correlation(table)
    best = choice_of(sweep_dir, results, None if method == "grid" else table, searched)
    row = {"sweep": name, "method": method, "seed": seed, "jobs": len(table),
           "configurations": table["trial"].nunique(),
           "at_full_budget": int((table["epochs"] == table["epochs"].max()).sum()),
           "epochs_trained": trained, "epochs_if_restarted": restarted, "epochs_saved": restarted - trained,
           "seconds": float(seconds["epochs"].max()),
           "epochs_to_target": first_within(trace, target), "seconds_to_target": first_within(seconds, target),
           f"best_val_acc_by_{quarter:g}_epochs": best_by(trace, quarter),
           "chosen_val_acc": best[METRIC], "chosen_test_acc": best["test_acc"],
           **{f"chosen_{key}": best[key] for key in CONFIGURATION},
           "rank_correlation": rho if method.startswith("asha") else np.nan,
           "rank_pairs": pairs if method.startswith("asha") else 0}
    return row, trace


def spread(values, digits=0, never=False):
    """'median (min-max)' of the values; ``never``: a NaN is a search that never got there, counted as
    later than any other (so the median is 'never' when more than half never did); else NaN is left out."""
    values = pd.Series(values, dtype=float)
    values = values.fillna(np.inf) if never else values.dropna()
    if values.empty:
        return "-"

    def text(value):
        return "never" if np.isinf(value) else f"{value:.{digits}f}"

    median = text(np.median(values))  # of an odd count: a value of the list (inf stays inf)
    return median if len(values) == 1 else f"{median} ({text(values.min())}-{text(values.max())})"


def method_rows(runs, quarter):
    rows = []
    for method, group in runs.groupby("method", sort=False):
        missed = int(group["epochs_to_target"].isna().sum())
        by_quarter = f"best_val_acc_by_{quarter:g}_epochs"
        rows.append({"method": METHODS.get(method, method), "sweeps": len(group),
                     "epochs_to_target": spread(group["epochs_to_target"], never=True),
                     "seconds_to_target": spread(group["seconds_to_target"], never=True),
                     "never_reached": missed,
                     "epochs_trained": spread(group["epochs_trained"]), "seconds": spread(group["seconds"]),
                     by_quarter: spread(100 * group[by_quarter], 2),
                     "chosen_val_acc": spread(100 * group["chosen_val_acc"], 2),
                     "chosen_test_acc": spread(100 * group["chosen_test_acc"], 2),
                     "epochs_saved": spread(group["epochs_saved"]),
                     "epochs_if_restarted": spread(group["epochs_if_restarted"]),
                     "rank_correlation": spread(group["rank_correlation"], 2)})
    return pd.DataFrame(rows)


def draw(traces, grid_trace, target, grid_epochs, path):
    """One panel per search method: each seed's trace (best validation accuracy at the full budget
    against epochs trained), the grid's own trace in the order it ran, its best and the 0.3-point band."""
    fig = Figure(figsize=(11, 7.5), layout="constrained")
    axes = fig.subplots(2, 2, sharex=True, sharey=True).ravel()
    top = max(t["epochs"].max() for t in [grid_trace, *traces.values()])
    for ax, (method, title) in zip(axes, METHODS.items()):
        rows = [(name, trace) for name, trace in traces.items() if name.rsplit("_", 1)[0] == method]
        for i, (name, trace) in enumerate(rows):
            line = trace[trace["best"].notna()]
            x = np.append(line["epochs"].to_numpy(float), trace["epochs"].max())
            y = 100 * np.append(line["best"].to_numpy(float), line["best"].iloc[-1])
            ax.step(x, y, where="post", color=f"C{i}", linewidth=1.4, label=f"seed {name.rsplit('_', 1)[1]}")
            ax.plot(x[-1], y[-1], "o", color=f"C{i}", markersize=4)
        g = grid_trace[grid_trace["best"].notna()]
        ax.step(np.append(g["epochs"], top), 100 * np.append(g["best"], g["best"].iloc[-1]), where="post",
                color="0.55", linewidth=1.2, linestyle="-.", label="the grid, in the order it ran")
        ax.axhline(100 * target, color="black", linestyle="--", linewidth=1,
                   label=f"grid's best {100 * target:.2f}% ({grid_epochs:g} epochs)")
        ax.axhspan(100 * (target - CLOSE), 100 * target, color="black", alpha=0.1, linewidth=0,
                   label="within 0.3 points of it")
        ax.axvline(grid_epochs / 4, color="black", linestyle=":", linewidth=1, label="a quarter of the grid's epochs")
        ax.set_title(title, fontsize=10)
        ax.set_xscale("log")
        ax.grid(True, alpha=0.3)
    axes[0].set_ylim(100 * target - 3, 100 * target + 0.6)
    for ax in axes[2:]:
        ax.set_xlabel("epochs trained (all jobs so far)")
    for ax in axes[::2]:
        ax.set_ylabel("best val. accuracy at 27 epochs so far (%)")
    axes[3].legend(fontsize=7, loc="lower right")
    fig.suptitle("Search traces against the grid (5 search seeds per method; dots: where each search ended)",
                 fontsize=11)
    return save(fig, path)


def copy_sweep(sweep_dir, dest, out, figures=False):
    """The sweep's tables and report (and its search figures) into dest/<sweep>/, OUT written as <out>."""
    target = dest / sweep_dir.name
    target.mkdir(parents=True, exist_ok=True)
    for name in COPIED:
        if (sweep_dir / name).is_file():
            text = (sweep_dir / name).read_text()
            (target / name).write_text(text.replace(str(out.resolve()), "<out>").replace(str(out), "<out>"))
    for name in FIGURES if figures else []:
        if (sweep_dir / name).is_file():
            shutil.copyfile(sweep_dir / name, target / name)


def markdown(frame):
    lines = ["| " + " | ".join(map(str, frame.columns)) + " |", "|" + "---|" * len(frame.columns)]
    lines += ["| " + " | ".join(map(str, row)) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path, help="the directory run_study.sh wrote the sweeps to")
    parser.add_argument("--out", dest="dest", type=Path, default=HERE, help="where the tables and figure go")
    parser.add_argument("--figures", nargs="*", default=["asha_tpe_0"], help="sweeps whose search figures to copy")
    args = parser.parse_args()

    grid_dir = args.out / "grid"
    target, grid_epochs = grid_reference(grid_dir)
    quarter = grid_epochs / 4
    grid_results = pd.read_csv(grid_dir / "results.csv")
    grid, grid_trace = sweep_row("grid", "grid", np.nan, grid_dir, grid_table(grid_dir, grid_results), grid_results,
                                 target, quarter)
    history = pd.read_csv(grid_dir / "history.csv")
    for epoch in (1, 3, 9):
        rho, pairs = rank_correlation(early_table(history, epoch))
        print(f"grid: Spearman rho of epoch {epoch} and epoch {history['epoch'].max()} over its {pairs} "
              f"configurations: {rho:.2f}")

    rows, traces = [grid], {}
    for method in METHODS:
        for sweep_dir in sorted(args.out.glob(f"{method}_[0-9]*")):
            table = search_table(sweep_dir)
            if table is None or not (sweep_dir / "results.csv").is_file():
                continue
            settings = search_settings(sweep_dir)
            row, traces[sweep_dir.name] = sweep_row(
                sweep_dir.name, method, int(sweep_dir.name.rsplit("_", 1)[1]), sweep_dir, table,
                pd.read_csv(sweep_dir / "results.csv"), target, quarter, tuple(settings.get("space") or ()))
            rows.append(row)
    runs = pd.DataFrame(rows)
    methods = method_rows(runs, quarter)
    args.dest.mkdir(parents=True, exist_ok=True)
    runs.to_csv(args.dest / "runs.csv", index=False, float_format="%.6g")
    methods.to_csv(args.dest / "methods.csv", index=False)
    draw(traces, grid_trace, target, grid_epochs, args.dest / "search_vs_grid.png")
    for name in runs["sweep"]:
        copy_sweep(args.out / name, args.dest / "sweeps", args.out, name in args.figures)
    print(f"grid's best validation accuracy {100 * target:.2f}% ({grid_epochs:g} epochs trained); target "
          f"{100 * (target - CLOSE):.2f}%\n")
    print(markdown(methods))
    print()
    print(markdown(runs))


if __name__ == "__main__":
    main()
