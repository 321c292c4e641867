"""``python -m nnexp.compare DIR DIR ...``: put sweeps (or runs) side by side. The work is in
``nnexp.sweep.side_by_side``."""

import sys

from .sweep.side_by_side import main

if __name__ == "__main__":
    sys.exit(main())
