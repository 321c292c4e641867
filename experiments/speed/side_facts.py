"""Two facts the Speed page (docs/speed.md) states, measured and written to side_facts.md beside this file.

    python experiments/speed/side_facts.py --data path/to/mnist

1. What numba costs a process: a per-sample epoch of 2,000 MNIST samples with kernel=numba and
   kernel=numpy, each in a new process, timed as whole commands (wall seconds, median of --repeats):
   with an empty numba cache (NUMBA_CACHE_DIR a new directory: numba compiles the kernel), and with
   the cache that run left (numba loads it). The difference to kernel=numpy is numba's cost.
2. How far OpenBLAS's thread count moves a mini-batch result: one epoch of 784-100-10, batch 64,
   on full MNIST, threads=1 and threads=2, same seed: the largest difference in the weights.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent


def command_seconds(overrides, env, repeats):
    """Median wall seconds of ``python -m nnexp <overrides>`` (reuse off, outputs in a temporary directory)."""
    times = []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as out:
            started = time.perf_counter()
            done = subprocess.run([sys.executable, "-m", "nnexp", *overrides, "reuse=false",
                                   f"hydra.run.dir={out}"], cwd=ROOT, env=env, capture_output=True, text=True)
            times.append(time.perf_counter() - started)
            if done.returncode != 0:
                raise SystemExit(done.stderr)
    return statistics.median(times), times


def weights_after(overrides, env):
    with tempfile.TemporaryDirectory() as out:
        done = subprocess.run([sys.executable, "-m", "nnexp", *overrides, "reuse=false", f"hydra.run.dir={out}"],
                              cwd=ROOT, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(done.stderr)
        with np.load(Path(out) / "weights.npz", allow_pickle=False) as npz:
            return {name: npz[name].copy() for name in npz.files}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="directory holding the MNIST files")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    data = ["data=mnist", f"data.dir={Path(args.data).resolve()}"]
    sample = [*data, "data.train_size=2000", "lr=0.3"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    rows = []
    with tempfile.TemporaryDirectory() as cache:
        numba_env = {**env, "NUMBA_CACHE_DIR": cache}
        cold, cold_all = command_seconds([*sample, "kernel=numba"], numba_env, 1)
        warm, warm_all = command_seconds([*sample, "kernel=numba"], numba_env, args.repeats)
    numpy_time, numpy_all = command_seconds([*sample, "kernel=numpy"], env, args.repeats)
    rows += [("kernel=numpy, whole command", numpy_time, numpy_all),
             ("kernel=numba, empty numba cache (compiles)", cold, cold_all),
             ("kernel=numba, numba cache filled (loads)", warm, warm_all)]
    one = weights_after([*data, "batch_size=64", "lr=0.3", "threads=1"], env)
    two = weights_after([*data, "batch_size=64", "lr=0.3", "threads=2"], env)
    gaps = {name: float(np.abs(one[name].astype(np.float64) - two[name]).max()) for name in one}
    lines = ["# Side facts of the Speed section", "",
             f"    python experiments/speed/side_facts.py --data {args.data}", "",
             "| command (2,000 per-sample MNIST samples, one epoch) | wall s (median) | runs |", "|---|---:|---|"]
    lines += [f"| {name} | {median:.2f} | {', '.join(f'{t:.2f}' for t in runs)} |" for name, median, runs in rows]
    lines += ["", f"numba's compile, once per machine: {cold - numpy_time:.1f} s of wall clock beyond the numpy "
              f"kernel's command; its load from the cache in every later process: {warm - numpy_time:.1f} s.", "",
              "| mini-batch 64, one epoch of full MNIST, threads=1 vs threads=2 | largest difference |", "|---|---:|"]
    lines += [f"| {name} | {gap:.2g} |" for name, gap in gaps.items()]
    lines += ["", f"Python {sys.version.split()[0]}, NumPy {np.__version__}, {os.cpu_count()} cores."]
    text = "\n".join(lines) + "\n"
    (HERE / "side_facts.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
