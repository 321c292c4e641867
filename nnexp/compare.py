"""``python -m nnexp.compare DIR DIR ...``: put sweeps (or runs) side by side. The work is in
``nnexp.sweep.compare``."""

import sys

from .sweep.compare import main

if __name__ == "__main__":
    sys.exit(main())
