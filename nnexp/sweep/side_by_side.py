"""Compare sweeps or runs: ``python -m nnexp.compare A B [C ...] [--out DIR]``.

Each argument is a sweep directory or a single run directory, read from disk as ``nnexp.report``
reads it. The completed jobs are joined on the swept keys they share (the keys present in every
input that vary within at least one); rows of one input with the same join keys are averaged.
Written to ``--out`` (default ``outputs/compare/<date>_<time>``) and printed::

    compare.csv          join keys, then for each metric: <metric>_A, <metric>_B, <metric>_B-A, ...,
                         then n, intervals, p-values (raw and Holm-adjusted), test and significance
    compare_sources.csv  label (A, B, ...) and directory
    compare_accuracy.png accuracy curves of all inputs overlaid (per epoch, or against the first
                         numeric join key when every job trained one epoch)
    compare_differences.png  B - A per configuration with its 95% interval (forest plot)

Compared on the score the sweeps chose on (validation accuracy or loss), test beside it; on test
when an input has no validation split (``compared_scores``).
"""

import argparse
import sys
from datetime import datetime
from pathlib import Path

import pandas as pd

from ..errors import NnexpError, error_line
from ..figures import forest_plot, sweep_plots
from ..storage import write_csv
from .collect import history_frame, jobs_in, key_columns, results_frame, varying
from .summary import ALPHA, REPLICATE_KEYS, difference, holm, jobs_of, selection_metric
from .views import longest_histories, with_interval

METRICS = ["test_acc", "best_test_acc", "best_epoch", "train_acc", "test_loss"]
"""Means compared side by side; the validation score the sweeps chose on is put in front when every input has it."""
MAX_LINES = 6
"""Curves drawn per input; beyond this only its best job's curve is drawn."""


def load(directory):
    """(results, history, keys) of a sweep directory or of a single run directory."""
    jobs = jobs_in(directory)[0]
    return results_frame(jobs, Path(directory)), history_frame(jobs), key_columns(jobs)


def join_keys(inputs, replicate_keys=REPLICATE_KEYS):
    """Keys present in every input that take more than one value within at least one of them, but the
    replicate keys (seed): a row of the comparison is a configuration, its replicates the sample."""
    common = [k for k in inputs[0][2] if all(k in keys for _, _, keys in inputs[1:]) and k not in replicate_keys]
    return [k for k in common if any(k in varying(results[results["status"] == "completed"], [k])
                                     for results, _, _ in inputs)]


def compared_scores(inputs, labels):
    """(scores, notice): the score the sweeps chose on (validation, ``summary.selection_metric``) and the
    test score beside it; only the test score, and a one-line notice, when an input has no validation
    split. An input without a completed job has no scores to tell it by, and is left out of the choice."""
    results = [part for part, _, _ in inputs]
    scored = [i for i, part in enumerate(results) if (part["status"] == "completed").any()] or range(len(results))
    chosen = {labels[i]: selection_metric(results[i]) for i in scored}
    first = next(iter(chosen.values()))
    test = "test_acc" if first.endswith("_acc") else "test_loss"
    if all(metric == f"val_{test[5:]}" for metric in chosen.values()):
        return [first, test], None
    without = [name for name, metric in chosen.items() if not metric.startswith("val")]
    return [test], (f"{', '.join(without)} without a validation split (data.val_size=0): significance is judged "
                    f"on {test}, the score such sweeps chose on")


def statistics(inputs, labels, keys, table, scores, replicate_keys=REPLICATE_KEYS):
    """Per configuration (row of ``table``) and input B, C, ... against A: n on each side; for each of
    ``scores`` the 95% interval of the difference of the means, its p-value ``p_<score>_B-A`` and
    ``p_adj_<score>_B-A``, Holm-adjusted over the configurations (``summary.holm``); the test (paired
    when B and A both ran the same seeds, whatever the other inputs ran, else Welch; ``summary.difference``)
    and ``significant_B-A``: p_adj < ALPHA on the first score (validation when there is one)."""
    done = [results[results["status"] == "completed"] for results, _, _ in inputs]
    columns = {}
    for index, row in table.iterrows():
        samples = [jobs_of(part, keys, row) for part in done]
        columns.setdefault(f"n_{labels[0]}", {})[index] = len(samples[0])
        for name, sample in zip(labels[1:], samples[1:]):
            pair = f"{name}-{labels[0]}"
            columns.setdefault(f"n_{name}", {})[index] = len(sample)
            replicate = next((k for k in replicate_keys if k in samples[0] and k in sample), None)
            ids = [list(part[replicate]) if replicate else None for part in (samples[0], sample)]
            for score in scores:
                result = difference(samples[0][score], sample[score], *ids)
                for column, value in ((f"{score}_{pair}_lo", result["lo"]), (f"{score}_{pair}_hi", result["hi"]),
                                      (f"p_{score}_{pair}", result["p"]), (f"p_adj_{score}_{pair}", None)):
                    columns.setdefault(column, {})[index] = value
                columns.setdefault(f"test_{pair}", {}).setdefault(index, result["test"])
    frame = table.assign(**{name: pd.Series(values, index=table.index) for name, values in columns.items()})
    for name in labels[1:]:
        pair = f"{name}-{labels[0]}"
        for score in scores:
            frame[f"p_adj_{score}_{pair}"] = holm(frame[f"p_{score}_{pair}"])
        frame[f"significant_{pair}"] = [None if pd.isna(p) else bool(p < ALPHA)
                                        for p in frame[f"p_adj_{scores[0]}_{pair}"]]
    return frame


def forest_rows(table, labels, keys, score):
    """Rows of compare_differences.png: per configuration and input B, C, ... the difference to A of
    ``score`` with its 95% interval and whether it is significant after adjustment."""
    parts = []
    for name in labels[1:]:
        pair = f"{name}-{labels[0]}"
        names = line_names(table, keys) if keys else pd.Series("all jobs", index=table.index)
        parts.append(pd.DataFrame({
            "label": (names if len(labels) == 2 else f"{pair}: " + names),
            "diff": table[f"{score}_{pair}"], "lo": table[f"{score}_{pair}_lo"], "hi": table[f"{score}_{pair}_hi"],
            "significant": table[f"significant_{pair}"].eq(True)}))
    return pd.concat(parts, ignore_index=True)


def comparison(inputs, labels, keys, metrics=METRICS):
    """The joined table: keys, then each metric per input and its difference to the first input."""
    table = None
    for (results, _, _), name in zip(inputs, labels):
        done = results[results["status"] == "completed"]
        part = (done.groupby(keys, sort=False, dropna=False)[metrics].mean().reset_index() if keys
                else done[metrics].mean().to_frame().T)
        part = part.rename(columns={m: f"{m}_{name}" for m in metrics})
        table = part if table is None else (table.merge(part, on=keys, how="outer") if keys
                                            else pd.concat([table, part], axis=1))
    columns = list(keys)
    for metric in metrics:
        columns.append(f"{metric}_{labels[0]}")
        for name in labels[1:]:
            table[f"{metric}_{name}-{labels[0]}"] = table[f"{metric}_{name}"] - table[f"{metric}_{labels[0]}"]
            columns += [f"{metric}_{name}", f"{metric}_{name}-{labels[0]}"]
    return table[columns]


def line_names(frame, keys):
    """Legend text of each row: 'lr=0.1, model.hidden=[10]' ('' without keys), floats as the sweep's figures
    write them (``style.value_text``: lr=0.57, not 0.5700000000000001)."""
    if not keys:
        return ""
    return pd.Series([sweep_plots.group_label(keys, row) for row in frame[keys].itertuples(index=False, name=None)],
                     index=frame.index)


def curves(inputs, sources, keys):
    """Rows (source, line, x, metric) of the overlay figure, and the name of the x column: per input
    the longest history of each combination of the join keys but epochs (only the best job's when
    there are more than MAX_LINES), or the final scores against a numeric key if all ran one epoch."""
    group = [k for k in keys if k != "epochs"]
    parts = []
    for (results, history, input_keys), name in zip(inputs, sources):
        replicates = [k for k in REPLICATE_KEYS if k in input_keys and results[k].nunique() > 1]
        chosen = longest_histories(history, results, group + replicates)
        if chosen.drop_duplicates(group)["job"].nunique() > MAX_LINES if group else False:
            done = results[results["status"] == "completed"]
            chosen = history[history["job"] == done.loc[done["test_acc"].idxmax(), "job"]]
        elif replicates and not chosen.empty:   # the mean over seeds, with its 95% interval
            chosen = with_interval(chosen, [*group, "epoch"], ["test_acc"])
        if not chosen.empty:   # an input without a completed job draws nothing (its empty table has no dtypes)
            parts.append(chosen.assign(source=name, line=line_names(chosen, group)))
    frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    if not frame.empty and frame["epoch"].max() >= 2:
        return frame, "epoch"
    numeric = [k for k in keys if pd.api.types.is_numeric_dtype(inputs[0][0][k])]
    if not numeric:
        return frame, "epoch"
    x, others = numeric[0], [k for k in keys if k != numeric[0]]
    rows = []
    for (results, _, _), name in zip(inputs, sources):
        done = results[results["status"] == "completed"].sort_values(x, kind="stable")
        rows.append(done.assign(source=name, line=line_names(done, others)))
    return pd.concat(rows, ignore_index=True), x


def compare(directories, out):
    """Write compare.csv, compare_sources.csv, compare_accuracy.png and compare_differences.png into
    ``out``; return the table, the figures' paths (None for one with nothing to draw) and the notice
    of ``compared_scores`` (None when every input has a validation split)."""
    inputs = [load(d) for d in directories]
    labels = [chr(ord("A") + i) for i in range(len(directories))]
    keys = join_keys(inputs)
    scores, notice = compared_scores(inputs, labels)
    metrics = [*[s for s in scores if s not in METRICS], *METRICS]
    table = statistics(inputs, labels, keys, comparison(inputs, labels, keys, metrics), scores)
    out = Path(out)
    write_csv(out / "compare.csv", table)
    forest = forest_rows(table, labels, keys, scores[0]).dropna(subset=["lo", "hi"])
    differences = None
    if not forest.empty:
        differences = forest_plot.differences(forest, out / "compare_differences.png", scores[0])
    write_csv(out / "compare_sources.csv", pd.DataFrame({"label": labels, "directory": [str(d) for d in directories]}))
    frame, x = curves(inputs, [f"{name} ({Path(d).name})" for name, d in zip(labels, directories)], keys)
    figure = out / "compare_accuracy.png"
    if not frame.empty and frame["test_acc"].notna().any():
        sweep_plots.compare_curves(frame, figure, x=x)
    return table, (figure if figure.is_file() else None, differences), notice


def main(argv=None):
    """``python -m nnexp.compare A B [C ...]``: sweeps or runs side by side, joined on their swept keys."""
    parser = argparse.ArgumentParser(prog="python -m nnexp.compare", description=main.__doc__)
    parser.add_argument("directories", nargs="+", help="two or more sweep or run directories")
    parser.add_argument("--out", help="folder for compare.csv and the figure (default outputs/compare/<time>)")
    args = parser.parse_args(argv)
    if len(args.directories) < 2:
        parser.error("give at least two directories to compare")
    out = Path(args.out or f"outputs/compare/{datetime.now():%Y-%m-%d_%H-%M-%S}")
    try:
        table, (figure, differences), notice = compare(args.directories, out)
    except NnexpError as err:
        return error_line(err, "nnexp.compare")
    for i, directory in enumerate(args.directories):
        print(f"{chr(ord('A') + i)} = {directory}")
    shown = [c for c in table.columns
             if not c.startswith(("best_", "train_", "test_loss")) and not c.endswith(("_lo", "_hi"))]
    with pd.option_context("display.float_format", "{:.4f}".format):
        print(table[shown].to_string(index=False))
    print("(the 95% intervals of the differences (_lo, _hi), test_loss, best_test_acc, best_epoch and train_acc "
          "are in compare.csv too)")
    significance = [c for c in table.columns if c.startswith("p_adj_")][:1]
    if notice:
        print(notice)
    if significance:
        print(f"significant: {significance[0]} < {ALPHA}, p Holm-adjusted over the {len(table)} configurations "
              f"(p_: unadjusted, each read alone)")
    drawn = [str(path) for path in (figure, differences) if path]
    print(f"wrote {out / 'compare.csv'}" + (f" and {', '.join(drawn)}" if drawn else " (no accuracies to draw)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
