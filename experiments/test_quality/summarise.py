"""The verdicts of mutmut's last run for the mutant names matching the globs given (run from the
checkout's root, after ``mutmut run``): a count per verdict, the test time, and every mutant that was
not killed, by name (``mutmut show <name>`` prints its diff).

    python experiments/test_quality/summarise.py 'nnexp.storage.*' ['nnexp.data.*' ...] [--markdown | --not-killed]

``--markdown`` prints one row of the results table, ``--not-killed`` only the names of the mutants not
killed (run_mutation.sh --again tests these again).
"""

import fnmatch
import json
import sys
from collections import Counter
from pathlib import Path

from mutmut.stats import status_by_exit_code


def verdicts(globs):
    """{mutant name: (verdict, seconds its tests took)} of every mutant matching one of ``globs``."""
    found = {}
    for meta in sorted(Path("mutants").rglob("*.py.meta")):
        data = json.loads(meta.read_text())
        durations = data.get("durations_by_key", {})
        for name, code in data["exit_code_by_key"].items():
            if any(fnmatch.fnmatch(name, pattern) for pattern in globs):
                found[name] = (status_by_exit_code[code], durations.get(name, 0.0))
    return found


def main(argv):
    markdown = "--markdown" in argv
    globs = [a for a in argv if not a.startswith("--")]
    found = verdicts(globs)
    if "--not-killed" in argv:
        print("\n".join(name for name, (verdict, _) in sorted(found.items()) if verdict != "killed"))
        return 0
    counts = Counter(verdict for verdict, _ in found.values())
    seconds = sum(duration for _, duration in found.values())
    if markdown:
        other = len(found) - counts["killed"] - counts["survived"] - counts["timeout"] - counts["no tests"]
        print(f"| {' '.join(globs)} | {len(found)} | {counts['killed']} | {counts['survived']} | "
              f"{counts['timeout']} | {counts['no tests']} | {other} | {seconds:.0f} |")
        return 0
    print(f"{len(found)} mutants of {' '.join(globs)}: " + ", ".join(f"{n} {v}" for v, n in counts.most_common())
          + f"; their tests ran {seconds:.0f} s")
    for name, (verdict, _) in sorted(found.items()):
        if verdict != "killed":
            print(f"  {verdict:12} {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
