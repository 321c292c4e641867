"""Rebuild, from a published sweep folder's results.csv alone, the parts of its report that are
computed from results.csv: summary.csv and the "Best configuration" section of report.md.

The published folders hold the sweeps' tables and figures but not their job directories (kept
outside the repository), so ``python -m nnexp.report`` cannot rebuild them; this does the part it
can, with the same functions (``nnexp.sweep.summary.choose``, ``nnexp.sweep.sweep_report.best_text``):

    python experiments/rebuild_best.py experiments/method/sweep [more folders ...]

The override keys are results.csv's columns between ``status`` and the first score; seed is the
replicate key. Every other line of report.md is kept as it is.
"""

import argparse
import sys
from pathlib import Path

import pandas as pd

from nnexp.storage import write_csv, write_text
from nnexp.sweep.collect import METRICS
from nnexp.sweep.summary import choose
from nnexp.sweep.sweep_report import best_text

SECTION = "## Best configuration\n\n"


def override_keys(results):
    """The override columns of a results.csv: those between status and the first score."""
    columns = list(results.columns)
    return columns[columns.index("status") + 1:columns.index(METRICS[0])]


def rebuild(folder):
    """Rewrite summary.csv (when seeds were swept) and report.md's best-configuration section."""
    folder = Path(folder)
    missing = [name for name in ("results.csv", "report.md") if not (folder / name).is_file()]
    if missing:
        raise SystemExit(f"rebuild_best: error: {folder} has no {' and no '.join(missing)}; give a published folder")
    results = pd.read_csv(folder / "results.csv")
    choice = choose(results, override_keys(results))
    if choice.replicates:
        write_csv(folder / "summary.csv", choice.summary)
    report = (folder / "report.md").read_text()
    if SECTION not in report:
        raise SystemExit(f"rebuild_best: error: {folder / 'report.md'} has no '## Best configuration' section")
    before, rest = report.split(SECTION, 1)
    after = rest[rest.index("\n## "):] if "\n## " in rest else "\n"
    write_text(folder / "report.md", before + SECTION + best_text(results, choice) + "\n" + after)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folders", nargs="+", help="published sweep folders (results.csv and report.md)")
    for folder in parser.parse_args(argv).folders:
        rebuild(folder)
        print(f"{folder}: rebuilt summary.csv and the best configuration of report.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
