"""``python -m nnexp.mlflow SWEEP_OR_RUN_DIR [MORE_DIRS...] [--tracking-uri URI] [--experiment NAME]``: export sweeps
and runs to MLflow (the optional extra: ``pip install -e ".[mlflow]"``). The work is in
``nnexp.sweep.mlflow_export``."""

import sys

from .sweep.mlflow_export import main

if __name__ == "__main__":
    sys.exit(main())
