"""Sweeps: nnexp's Hydra callbacks (``callbacks``), one sweep per directory (``guard``), the sweep read
back from disk (``collect``), its figures and report.md (``sweep_report``, ``views``), seeds and the best
configuration (``summary``), sweeps side by side (``side_by_side``), a search (``space``, ``asha``,
``search``, ``search_setup``, ``search_report``), the export to MLflow and a Slurm sweep's own process
(``slurm``)."""
