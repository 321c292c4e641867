"""Training: the loop (``loop``), checkpoints, the reuse store shared by jobs, BLAS threads, the
configuration's identity, the run directory's files, and one job from config to run files (``job``)."""
