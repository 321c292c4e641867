"""Everything a sweep directory needs to be compared and reported, rebuilt from disk.

``python -m nnexp.report <dir>`` and the Hydra callback (``nnexp.sweep.callbacks``, at the end of
a multirun) both call ``build``. For a sweep directory it writes

    results.csv   one row per job (columns: see ``results_frame`` and README)
    history.csv   the per-epoch histories of all jobs in long form, the swept keys as columns
    *.png, *.gif  the figures that fit what was swept (see ``sweep_figures``)
    report.md     the grid, the best configuration, the results table and the figures

and for a single run directory (one that holds result.json) its own figures. Only files on disk
are read, so a partial or interrupted sweep is reported as far as it got:

    completed   result.json says completed          failed   the job raised (error recorded)
    diverged    the loss became non-finite           missing  a job directory without a readable
    pending     a grid point whose job never started          result.json (killed, or still running),
                                                              or whose files are not those result.json
                                                              recorded (sha256; changed or corrupt)
"""

import argparse
import logging
import shlex
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import NnexpError, error_line
from ..figures import run as run_plots
from ..figures import sweep as plots
from ..figures.style import GIF_FRAMES
from ..storage import write_csv, write_text
from ..training.run_files import CNN_FIGURES
from .collect import (
    STATUSES,
    ReportError,
    best_row,
    collect,
    history_frame,
    key_columns,
    multirun_config,
    results_frame,
    score_metric,
    varying,
)

log = logging.getLogger(__name__)

def safe_name(key):
    """A key as part of a file name: model.hidden -> model_hidden."""
    return "".join(c if c.isalnum() else "_" for c in key).strip("_")


def figure(title, path, sweep_dir):
    """(title, path relative to the sweep directory) for report.md."""
    return title, Path(path).relative_to(sweep_dir).as_posix()


def longest_histories(history, results, group):
    """Per combination of the ``group`` keys, the history of the completed job that trained the
    most epochs (in a deterministic sweep the shorter jobs repeat its first epochs)."""
    done = results[(results["status"] == "completed") & results["job"].isin(history["job"])]
    if done.empty:
        return history.iloc[0:0]
    trained = done.assign(trained=done["job"].map(history.groupby("job")["epoch"].max()))
    ranked = trained.sort_values("trained", ascending=False, kind="stable")
    chosen = ranked.drop_duplicates(subset=group) if group else ranked.head(1)
    return history[history["job"].isin(chosen["job"])]


def lr_epochs_frame(done, curves, swept, metric):
    """Rows (lr, epochs, metric) of the learning rate x epochs surface, or None when the sweep has
    fewer than two of either: from the jobs when epochs was swept, else from the epoch histories.
    Other swept keys are held at the best job's values."""
    if "lr" not in swept:
        return None
    best = best_row(done)
    others = [k for k in swept if k not in ("lr", "epochs")]
    if "epochs" in swept:
        rows = done
        for k in others:
            rows = rows[rows[k].astype(str) == str(best[k])]
        frame = rows[["lr", "epochs", metric]]
    else:
        rows = curves
        for k in others:
            rows = rows[rows[k].astype(str) == str(best[k])]
        frame = rows[["lr", "epoch", metric]].rename(columns={"epoch": "epochs"})
    if frame["lr"].nunique() < 2 or frame["epochs"].nunique() < 2:
        return None
    return frame.astype(float)


def sweep_figures(sweep_dir, results, history, keys, gif_frames=GIF_FRAMES):
    """Draw the figures that fit what was swept; return [(title, file)] for report.md."""
    done = results[results["status"] == "completed"]
    if best_row(results) is None:
        return []
    metric = score_metric(results)
    swept = varying(done, keys)
    name = "accuracy" if metric == "test_acc" else "loss"
    out = []
    if "lr" in swept:
        path = plots.accuracy_vs_lr(done, sweep_dir / f"{name}_vs_lr.png",
                                    group=[k for k in swept if k != "lr"], metric=metric)
        out.append(figure(f"{name.capitalize()} vs learning rate", path, sweep_dir))
    group = [k for k in swept if k != "epochs"]
    curves = longest_histories(history, results, group)
    if not curves.empty and curves["epoch"].max() >= 2:
        path = plots.accuracy_vs_epochs(curves, sweep_dir / f"{name}_vs_epochs.png", group=group,
                                        metric="acc" if metric == "test_acc" else "loss")
        out.append(figure(f"{name.capitalize()} per epoch, training and test", path, sweep_dir))
    surface = lr_epochs_frame(done, curves, swept, metric)
    if surface is not None:
        out.append(figure("Learning rate x epochs: heatmap",
                          plots.lr_epochs_heatmap(surface, sweep_dir / "lr_epochs_heatmap.png", metric), sweep_dir))
        out.append(figure("Learning rate x epochs: surface",
                          plots.lr_epochs_surface(surface, sweep_dir / "lr_epochs_surface.png", metric), sweep_dir))
        if gif_frames:
            path = plots.lr_epochs_gif(surface, sweep_dir / "lr_epochs_surface.gif", metric, gif_frames)
            out.append(figure("Learning rate x epochs: the surface turning", path, sweep_dir))
    for key in swept:
        if key not in ("lr", "epochs"):
            path = plots.score_by_key(done, sweep_dir / f"{name}_by_{safe_name(key)}.png", key, metric)
            out.append(figure(f"{name.capitalize()} by {key}", path, sweep_dir))
    return out


def run_figures(run_dir, out_dir=None, prefix=""):
    """Figures of one run from its files (batches.csv, history.csv, confusion.csv, per_label.csv),
    written to ``out_dir`` (default: the run directory) as ``<prefix>loss_per_batch.png``,
    ``loss_per_epoch.png`` (2+ epochs), ``confusion.png`` and ``per_label.png``; [(title, path)]."""
    run_dir = Path(run_dir)
    out_dir = Path(out_dir or run_dir)
    drawn = []

    def table(name):
        path = run_dir / name
        try:
            frame = pd.read_csv(path) if path.is_file() else None
        except (ValueError, pd.errors.EmptyDataError):
            log.warning("skipping unreadable %s", path)
            return None
        return frame if frame is not None and not frame.empty else None

    batches, history = table("batches.csv"), table("history.csv")
    confusion, per_label = table("confusion.csv"), table("per_label.csv")
    if batches is not None:
        path = run_plots.loss_per_batch(batches, out_dir / f"{prefix}loss_per_batch.png")
        drawn.append(("Training loss per batch", path))
    if history is not None and len(history) >= 2:
        drawn.append(("Loss per epoch", run_plots.loss_per_epoch(history, out_dir / f"{prefix}loss_per_epoch.png")))
    if confusion is not None:
        drawn.append(("Confusion matrix", run_plots.confusion(confusion, out_dir / f"{prefix}confusion.png")))
    if per_label is not None:
        drawn.append(("Errors per label", run_plots.per_label_errors(per_label, out_dir / f"{prefix}per_label.png")))
    for name, title in CNN_FIGURES.items():   # drawn by the run itself (they need its network)
        source, target = run_dir / name, out_dir / f"{prefix}{name}"
        if source.is_file():
            if source.resolve() != target.resolve():
                shutil.copyfile(source, target)
            drawn.append((title, target))
    return drawn


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


def best_text(best, keys, results):
    """The best configuration in one Markdown paragraph."""
    if best is None:
        return "No job completed, so there is no best configuration."
    metric = score_metric(results)
    setting = ", ".join(f"`{k}={best[k]}`" for k in keys) or "(the defaults)"
    score = (f"test accuracy **{100 * best['test_acc']:.2f}%**" if metric == "test_acc"
             else f"test loss **{best['test_loss']:.5f}**")
    epoch = "" if pd.isna(best["best_epoch"]) else (
        f"; within the job the best epoch was {int(best['best_epoch'])}"
        + (f" ({100 * best['best_test_acc']:.2f}%)" if metric == "test_acc" else ""))
    return f"{setting}: {score} after its last epoch{epoch}. Job {best['job']}, directory `{best['dir']}`."


def report_markdown(sweep_dir, results, keys, figures, multirun):
    """report.md: command, job counts, grid, best configuration, results table, figures."""
    counts = results["status"].value_counts()
    status = ", ".join(f"{counts[s]} {s}" for s in STATUSES if s in counts)
    shown_columns = ["job", "status", *keys, "test_acc", "train_acc", "test_loss", "best_test_acc", "best_epoch",
                     "seconds", "error"]
    table = results[shown_columns].copy().astype({"best_epoch": object})
    for column in [*keys, "best_epoch"]:
        table[column] = table[column].map(lambda v: "" if v is None or pd.isna(v) else f"{v:g}"
                                          if isinstance(v, float) else str(v))
    table["seconds"] = table["seconds"].map(lambda v: "" if pd.isna(v) else f"{v:.1f}")
    command = command_line(multirun)
    parts = [f"# Sweep report: {Path(sweep_dir).name}", ""]
    if command:
        parts += ["```", command, "```", ""]
    parts += [f"{len(results)} jobs: {status}. Files: `results.csv` (one row per job), `history.csv` "
              "(every epoch of every job). Rebuild with `python -m nnexp.report <this directory>`.", "",
              "## Grid", "", grid_lines(results, keys), "",
              "## Best configuration", "", best_text(best_row(results), keys, results), "",
              "## Results", "", markdown_table(table), ""]
    if figures:
        parts += ["## Figures", ""]
        for title, file in figures:
            parts += [f"### {title}", "", f"![{title}]({file})", ""]
    return "\n".join(parts)


def build_sweep(sweep_dir, inverse=False, gif_frames=GIF_FRAMES):
    """Write results.csv, history.csv, the figures and report.md of a sweep; return results.

    ``inverse``: also draw the best job's inverse query; ``gif_frames``: views in the turning
    surface GIF (0: no GIF)."""
    sweep_dir = Path(sweep_dir)
    jobs = collect(sweep_dir)
    if not jobs:
        raise ReportError(f"{sweep_dir} holds no jobs: no multirun.yaml grid and no job directories "
                          "(.hydra/overrides.yaml); give the directory of a sweep or of a run")
    keys = key_columns(jobs)
    results, history = results_frame(jobs, sweep_dir), history_frame(jobs)
    write_csv(sweep_dir / "results.csv", results)
    write_csv(sweep_dir / "history.csv", history)
    figures = sweep_figures(sweep_dir, results, history, keys, gif_frames)
    best = best_row(results)
    if best is not None:
        best_dir = sweep_dir / best["dir"]
        figures += [figure(f"Best job: {title.lower()}", path, sweep_dir)
                    for title, path in run_figures(best_dir, sweep_dir, prefix="best_")]
        if inverse:
            from .inverse import inverse_query

            figures.append(figure("Best job: inverse query of every digit",
                                  inverse_query(best_dir, sweep_dir / "best_inverse.png"), sweep_dir))
    write_text(sweep_dir / "report.md", report_markdown(sweep_dir, results, keys, figures, multirun_config(sweep_dir)))
    return results


def callback_options(multirun):
    """The settings of the report callback recorded in multirun.yaml (hydra.callbacks.report)."""
    callbacks = (multirun.get("hydra") or {}).get("callbacks") or {}
    report = callbacks.get("report") or {}
    return {"inverse": bool(report.get("inverse", False)),
            "gif_frames": int(report.get("gif_frames", GIF_FRAMES))}


def build(directory):
    """Rebuild everything for a sweep directory or a single run directory, from disk."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ReportError(f"{directory} is not a directory; give a sweep or run directory")
    if (directory / "result.json").is_file():
        drawn = run_figures(directory)
        return [path for _, path in drawn]
    results = build_sweep(directory, **callback_options(multirun_config(directory)))
    return results


def main(argv=None):
    """``python -m nnexp.report <dir>``: rebuild a sweep's tables, figures and report.md."""
    parser = argparse.ArgumentParser(prog="python -m nnexp.report", description=main.__doc__)
    parser.add_argument("directory", help="a sweep directory (holding job directories) or a run directory")
    args = parser.parse_args(argv)
    try:
        out = build(args.directory)
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
