"""Training: the loop (``loop``), checkpoints, the reuse store shared by jobs, BLAS threads, the
configuration's identity, the run directory's files (``run_files``), one job from config to run files
(``job``), what a job does with the signals that stop it (``signals``), and a run read back: its result
(``results``), its figures (``run_figures``), its inverse query (``run_inverse``)."""
