"""``python -m nnexp.report <dir>``: rebuild a sweep's (or a run's) tables, figures and report.md
from disk. The work is in ``nnexp.sweep.sweep_report``."""

import sys

from .sweep.sweep_report import main

if __name__ == "__main__":
    sys.exit(main())
