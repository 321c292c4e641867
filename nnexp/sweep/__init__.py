"""Sweeps: nnexp's Hydra callbacks (``callbacks``), one sweep per directory (``guard``), the sweep read
back from disk (``collect``), its figures and report.md (``report``), sweeps side by side
(``compare``), and a run's inverse query (``inverse``)."""
