"""The figures of a sweep, chosen by what was swept: score against learning rate, per epoch, the
learning rate x epochs surface, the spread over seeds, one figure per other swept key, and for two or more
swept keys the parallel coordinates of every job and the importance of each key. Seeds (the replicate
keys) are averaged: lines are means with the 95% interval of the mean as a band."""

from pathlib import Path

import pandas as pd

from ..figures import key_plots, sweep_plots
from ..figures.style import GIF_FRAMES, group_label
from .importance import importance_frame, parallel_frame, scored_jobs, trust_note
from .summary import grouped_intervals, jobs_of, same_value


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


def lr_epochs_frame(done, curves, swept, metric, best):
    """Rows (lr, epochs, metric) of the learning rate x epochs surface (means over replicates: the
    figures average rows of one cell), or None when the sweep has fewer than two of either: from the
    jobs when epochs was swept, else from the epoch histories. Other swept keys are held at the best
    configuration's values."""
    if "lr" not in swept:
        return None
    others = [k for k in swept if k not in ("lr", "epochs")]
    if "epochs" in swept:
        rows = done
        for k in others:
            rows = rows[same_value(rows[k], best[k])]
        frame = rows[["lr", "epochs", metric]]
    else:
        rows = curves
        for k in others:
            rows = rows[same_value(rows[k], best[k])]
        frame = rows[["lr", "epoch", metric]].rename(columns={"epoch": "epochs"})
    if frame["lr"].nunique() < 2 or frame["epochs"].nunique() < 2:
        return None
    return frame.astype(float)


def with_interval(frame, by, columns):
    """Means of ``columns`` over the rows of each ``by`` group, with <column>_lo / _hi: the 95%
    interval of the mean (nnexp.sweep.summary.grouped_intervals)."""
    stats = grouped_intervals(frame, by, columns)
    out = stats[list(by)].copy()
    for column in columns:
        mean, half = stats[f"{column}_mean"], stats[f"{column}_ci95"]
        out[column], out[f"{column}_lo"], out[f"{column}_hi"] = mean, mean - half, mean + half
    return out


def configuration_names(frame, config_keys):
    """A short name per row: its configuration keys and values, e.g. 'lr=0.1, model.hidden=[50]'."""
    if not config_keys:
        return pd.Series(["all"] * len(frame), index=frame.index)
    return frame[config_keys].apply(lambda r: group_label(config_keys, tuple(r)), axis=1)


def sweep_figures(sweep_dir, results, history, choice, gif_frames=GIF_FRAMES):
    """Draw the figures that fit what was swept (``choice``: nnexp.sweep.summary.choose); return
    [(title, file)] for report.md. Replicates (seeds) are averaged: lines are means with 95% bands,
    and one figure shows the spread over seeds."""
    done = results[results["status"] == "completed"]
    metric, config_keys, replicates, best = choice.metric, choice.config_keys, choice.replicates, choice.best
    if best is None:
        return []
    name = "accuracy" if metric.endswith("_acc") else "loss"
    kind = "acc" if name == "accuracy" else "loss"
    out = []
    if "lr" in config_keys:
        by = config_keys
        frame = with_interval(done, by, [metric]) if replicates else done
        path = sweep_plots.accuracy_vs_lr(frame, sweep_dir / f"{name}_vs_lr.png", group=[k for k in by if k != "lr"],
                                    metric=metric)
        out.append(figure(f"{name.capitalize()} vs learning rate", path, sweep_dir))
    group = [k for k in config_keys if k != "epochs"]
    curves = longest_histories(history, results, group + replicates)
    if replicates and not curves.empty:
        columns = [c for c in (f"train_{kind}", f"val_{kind}", f"test_{kind}") if curves[c].notna().any()]
        curves = with_interval(curves, [*group, "epoch"], columns)
    if not curves.empty and curves["epoch"].max() >= 2:
        path = sweep_plots.accuracy_vs_epochs(curves, sweep_dir / f"{name}_vs_epochs.png", group=group, metric=kind)
        out.append(figure(f"{name.capitalize()} per epoch: training, validation and test", path, sweep_dir))
    surface = lr_epochs_frame(done, curves, config_keys, metric, best)
    if surface is not None:
        heatmap = sweep_plots.lr_epochs_heatmap(surface, sweep_dir / "lr_epochs_heatmap.png", metric)
        out.append(figure("Learning rate x epochs: heatmap", heatmap, sweep_dir))
        view = sweep_plots.lr_epochs_surface(surface, sweep_dir / "lr_epochs_surface.png", metric)
        out.append(figure("Learning rate x epochs: surface", view, sweep_dir))
        if gif_frames:
            path = sweep_plots.lr_epochs_gif(surface, sweep_dir / "lr_epochs_surface.gif", metric, gif_frames)
            out.append(figure("Learning rate x epochs: the surface turning", path, sweep_dir))
    if replicates:
        spread = done.assign(configuration=configuration_names(done, config_keys)).merge(
            with_interval(done.assign(configuration=configuration_names(done, config_keys)), ["configuration"],
                          [metric]).rename(columns={metric: f"{metric}_mean"}), on="configuration")
        path = sweep_plots.spread_by_configuration(spread, sweep_dir / f"{name}_spread.png", metric)
        out.append(figure(f"{name.capitalize()} of each configuration over its seeds", path, sweep_dir))
    for key in config_keys:
        if key not in ("lr", "epochs"):
            path = sweep_plots.score_by_key(done, sweep_dir / f"{name}_by_{safe_name(key)}.png", key, metric)
            out.append(figure(f"{name.capitalize()} by {key}", path, sweep_dir))
    if len(config_keys) >= 2:
        out += many_key_figures(sweep_dir, results, choice)
    return out


def many_key_figures(sweep_dir, results, choice):
    """The parallel coordinates of every completed job over the configuration keys, and each key's
    importance (nnexp.sweep.importance), each saying how many jobs it rests on; [(title, file)]."""
    metric, keys = choice.metric, choice.config_keys
    jobs = scored_jobs(results, metric)
    if len(jobs) < 2:
        return []
    best = jobs.index.isin(jobs_of(jobs, keys, choice.best).index)
    configurations = len(jobs.drop_duplicates(subset=keys))
    note, too_few = trust_note(len(jobs), configurations, len(keys))
    frame, axes = parallel_frame(jobs, keys, metric, best)
    drawn = [(a.key, a.kind, a.ticks()) for a in axes]
    out = [figure("Every job across the swept keys (parallel coordinates)",
                  key_plots.parallel_coordinates(frame, drawn, sweep_dir / "parallel_coordinates.png", metric, note,
                                                 too_few), sweep_dir)]
    ranking, oob = importance_frame(jobs, keys, metric)
    out.append(figure("What the score depends on: importance of each swept key",
                      key_plots.key_importance(ranking, sweep_dir / "key_importance.png", metric, note, too_few, oob),
                      sweep_dir))
    return out
