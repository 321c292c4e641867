"""Compare sweeps or runs: ``python -m nnexp.compare A B [C ...] [--out DIR]``.

Each argument is a sweep directory or a single run directory, read from disk as ``nnexp.report``
reads it. The completed jobs are joined on the swept keys they share (the keys present in every
input that vary within at least one); rows of one input with the same join keys are averaged.
Written to ``--out`` (default ``outputs/compare/<date>_<time>``) and printed::

    compare.csv          join keys, then for each metric: <metric>_A, <metric>_B, <metric>_B-A, ...
    compare_sources.csv  label (A, B, ...) and directory
    compare_accuracy.png accuracy curves of all inputs overlaid (per epoch, or against the first
                         numeric join key when every job trained one epoch)
"""

import argparse
import sys
from datetime import datetime
from pathlib import Path

import pandas as pd

from ..errors import NnexpError, error_line
from ..figures import sweep as plots
from ..storage import write_csv
from .collect import history_frame, jobs_in, key_columns, results_frame, varying
from .summary import REPLICATE_KEYS, difference, jobs_of
from .views import longest_histories, with_interval

METRICS = ["test_acc", "best_test_acc", "best_epoch", "train_acc", "test_loss"]
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


def statistics(inputs, labels, keys, table, replicate_keys=REPLICATE_KEYS):
    """Per configuration (row of ``table``) and input B, C, ... against A: n on each side, the
    difference of the mean test score with its 95% interval, the p-value, the test (paired when both
    ran the same seeds, else Welch) and whether p < 0.05 (nnexp.sweep.summary.difference)."""
    score = "test_acc" if inputs[0][0]["test_acc"].notna().any() else "test_loss"
    done = [results[results["status"] == "completed"] for results, _, _ in inputs]
    columns = {}
    for index, row in table.iterrows():
        samples = [jobs_of(part, keys, row) for part in done]
        replicate = next((k for k in replicate_keys if all(k in part for part in samples)), None)
        ids = [list(part[replicate]) if replicate else None for part in samples]
        columns.setdefault(f"n_{labels[0]}", {})[index] = len(samples[0])
        for name, sample, sample_ids in zip(labels[1:], samples[1:], ids[1:]):
            result = difference(samples[0][score], sample[score], ids[0], sample_ids)
            pair = f"{name}-{labels[0]}"
            for column, value in ((f"n_{name}", result["n_b"]), (f"{score}_{pair}_lo", result["lo"]),
                                  (f"{score}_{pair}_hi", result["hi"]), (f"p_{pair}", result["p"]),
                                  (f"test_{pair}", result["test"]),
                                  (f"significant_{pair}", bool(result["p"] < 0.05) if result["test"] else None)):
                columns.setdefault(column, {})[index] = value
    return table.assign(**{name: pd.Series(values) for name, values in columns.items()})


def comparison(inputs, labels, keys):
    """The joined table: keys, then each metric per input and its difference to the first input."""
    table = None
    for (results, _, _), name in zip(inputs, labels):
        done = results[results["status"] == "completed"]
        part = (done.groupby(keys, sort=False, dropna=False)[METRICS].mean().reset_index() if keys
                else done[METRICS].mean().to_frame().T)
        part = part.rename(columns={m: f"{m}_{name}" for m in METRICS})
        table = part if table is None else (table.merge(part, on=keys, how="outer") if keys
                                            else pd.concat([table, part], axis=1))
    columns = list(keys)
    for metric in METRICS:
        columns.append(f"{metric}_{labels[0]}")
        for name in labels[1:]:
            table[f"{metric}_{name}-{labels[0]}"] = table[f"{metric}_{name}"] - table[f"{metric}_{labels[0]}"]
            columns += [f"{metric}_{name}", f"{metric}_{name}-{labels[0]}"]
    return table[columns]


def line_names(frame, keys):
    """Legend text of each row: 'lr=0.1, model.hidden=[10]' ('' without keys)."""
    if not keys:
        return ""
    return frame[keys].astype(str).apply(lambda row: plots.group_label(keys, tuple(row)), axis=1)


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
    """Write compare.csv, compare_sources.csv and compare_accuracy.png into ``out``; return the
    table and the figure's path (None when there was nothing to draw)."""
    inputs = [load(d) for d in directories]
    labels = [chr(ord("A") + i) for i in range(len(directories))]
    keys = join_keys(inputs)
    table = statistics(inputs, labels, keys, comparison(inputs, labels, keys))
    out = Path(out)
    write_csv(out / "compare.csv", table)
    write_csv(out / "compare_sources.csv", pd.DataFrame({"label": labels, "directory": [str(d) for d in directories]}))
    frame, x = curves(inputs, [f"{name} ({Path(d).name})" for name, d in zip(labels, directories)], keys)
    figure = out / "compare_accuracy.png"
    if not frame.empty and frame["test_acc"].notna().any():
        plots.compare_curves(frame, figure, x=x)
    return table, figure if figure.is_file() else None


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
        table, figure = compare(args.directories, out)
    except NnexpError as err:
        return error_line(err, "nnexp.compare")
    for i, directory in enumerate(args.directories):
        print(f"{chr(ord('A') + i)} = {directory}")
    shown = [c for c in table.columns if not c.startswith(("best_", "train_"))]
    with pd.option_context("display.float_format", "{:.4f}".format):
        print(table[shown].to_string(index=False))
    print("(best_test_acc, best_epoch and train_acc side by side are in compare.csv too)")
    print(f"wrote {out / 'compare.csv'}" + (f" and {figure}" if figure else " (no accuracies to draw)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
