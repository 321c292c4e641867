"""Speed of nnexp beside plain baselines, measured side by side in one run.

    python experiments/speed/benchmark.py --data path/to/mnist

(without --data, MNIST is downloaded once into nnexp's cache). Prints a table and writes it to
experiments/speed/results.csv and results.md. Each figure is the median of --repeats runs.

1. Per-sample SGD, one epoch of full MNIST (60,000 x 784), 784-100-10, sigmoid, squared error,
   no biases, float32, lr 0.1, file order: a plain NumPy loop in the classic style (written below)
   and nnexp's per-sample kernels (numpy, numba), each with one BLAS thread; and, on the first
   6,000 samples only, nnexp's reference path (train_epoch) and its numpy kernel with every core.
   The kernels' weights after the epoch are compared with the plain loop's.
2. Mini-batch 64, one epoch of the same network: nnexp (all cores) and PyTorch on the CPU when
   installed (its default threads: all cores).
3. The sweep -m lr=0.025,0.1,0.3 epochs=1,5,10 on full MNIST with hydra/launcher=parallel,
   with the reuse store (default) and with reuse=false: wall seconds of the whole command without
   its end-of-sweep report, and the epochs the jobs trained (result.json's epochs_trained, summed);
   then the report (python -m nnexp.report) on its own.
4. and 5. (cnn_and_small_jobs.py): the CNN's training epoch and scoring pass beside PyTorch's, and the
   per-job seconds of a sweep of 400 small jobs with nnexp's sweeper and with Hydra's.
"""

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy.special import expit
from threadpoolctl import threadpool_info, threadpool_limits

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT))   # this checkout's nnexp, wherever the command is started

from nnexp.data import load_dataset  # noqa: E402
from nnexp.nn.build import mlp  # noqa: E402
from nnexp.nn.kernels import numba_available, per_sample_trainer  # noqa: E402
from nnexp.nn.optim import SGD, Adam, RMSprop  # noqa: E402
from nnexp.training.loop import Learner, Recipe, train_epoch  # noqa: E402
from nnexp.training.threads import available_cores  # noqa: E402

sys.path.insert(0, str(HERE))
from cnn_and_small_jobs import cnn, small_jobs  # noqa: E402

ADAM_LR = 0.001
"""Adam's rate in the per-sample Adam row (its usual default)."""
LR = 0.1
SWEEP = ["lr=0.025,0.1,0.3", "epochs=1,5,10"]


class NoProgress:
    def update(self, n):
        pass


def classic_epoch(w_ih, w_ho, x, y, lr):
    """One per-sample epoch written the way the classic book code is: column vectors made with
    np.array(ndmin=2).T, np.dot, and an update W += lr * np.dot(delta, a.T) per layer."""
    for record in range(len(x)):
        inputs = np.array(x[record], ndmin=2).T
        targets = np.array(y[record], ndmin=2).T
        hidden = expit(np.dot(w_ih, inputs))
        outputs = expit(np.dot(w_ho, hidden))
        output_delta = (targets - outputs) * outputs * (1.0 - outputs)
        hidden_delta = np.dot(w_ho.T, output_delta) * hidden * (1.0 - hidden)
        w_ho += lr * np.dot(output_delta, hidden.T)
        w_ih += lr * np.dot(hidden_delta, inputs.T)


RULES = {"sgd": lambda model: SGD.of(model, LR),
         "momentum": lambda model: SGD.of(model, LR, momentum=0.9),
         "nesterov": lambda model: SGD.of(model, LR, momentum=0.9, nesterov=True),
         "adam": lambda model: Adam.of(model, ADAM_LR),
         "adamw": lambda model: Adam.of(model, ADAM_LR, weight_decay=0.01, decoupled=True),
         "rmsprop": lambda model: RMSprop.of(model, ADAM_LR)}
"""The optimizers timed per sample (section 1), by name."""


def fresh_model(rule="sgd"):
    model = mlp([784, 100, 10], dtype=np.float32, rng=np.random.default_rng(0))
    return model, RULES[rule](model)


def timed(function, repeats):
    """Seconds of each of ``repeats`` calls of function() (each call sets up its own state)."""
    seconds = []
    for _ in range(repeats):
        seconds.append(function())
    return seconds


def per_sample(data, repeats):
    """Section 1: rows of µs per sample; also checks that every variant ends with the same weights."""
    x, y = data.x_train, data.y_train
    n, order = len(x), np.arange(len(x))
    finals = {}

    def nnexp_epoch(kernel, samples=n, label=None, rule="sgd"):
        def run():
            model, optimizer = fresh_model(rule)
            trainer = per_sample_trainer(model, optimizer, x, kernel)
            started = time.perf_counter()
            if trainer is None:
                train_epoch(Learner(model, optimizer), x, y, order[:samples], Recipe(batch_size=1), None, NoProgress())
            else:
                trainer.epoch(x, y, order[:samples], NoProgress())
            seconds = time.perf_counter() - started
            finals[label or kernel] = model.dense_stack().weights[0].copy()
            return seconds / samples * 1e6
        return run

    def classic():
        model, _ = fresh_model()
        w_ih, w_ho = model.dense_stack().weights[0].copy(), model.dense_stack().weights[1].copy()
        started = time.perf_counter()
        classic_epoch(w_ih, w_ho, x, y, LR)
        seconds = time.perf_counter() - started
        finals["classic"] = w_ih
        return seconds / n * 1e6

    rows = []
    kernels = ["numpy"] + (["numba"] if numba_available() else [])
    with threadpool_limits(limits=1, user_api="blas"):
        if "numba" in kernels:
            nnexp_epoch("numba", 100)()    # compile (or load from numba's cache) before timing
        rows.append(("per-sample epoch", "plain NumPy loop (classic style), 1 thread", timed(classic, repeats)))
        rows.append(("per-sample epoch", "nnexp reference path (train_epoch), 1 thread, first 6,000 samples",
                     timed(nnexp_epoch("reference", 6000), repeats)))
        for kernel in kernels:
            rows.append(("per-sample epoch", f"nnexp kernel={kernel}, 1 thread", timed(nnexp_epoch(kernel), repeats)))
        # the other optimizers update every weight at every step (no deferred chunks): on the numba kernel,
        # beside Adam on the reference path
        rows.append(("per-sample epoch", "nnexp optimizer=adam, reference path, 1 thread, first 6,000 samples",
                     timed(nnexp_epoch("reference", 6000, "adam reference", "adam"), repeats)))
        if "numba" in kernels:
            for rule in ("momentum", "nesterov", "adam", "adamw", "rmsprop"):
                rows.append(("per-sample epoch", f"nnexp kernel=numba, {rule}, 1 thread",
                             timed(nnexp_epoch("numba", n, f"numba {rule}", rule), repeats)))
    cores = available_cores()
    with threadpool_limits(limits=cores, user_api="blas"):
        rows.append(("per-sample epoch", f"nnexp kernel=numpy, {cores} threads, first 6,000 samples",
                     timed(nnexp_epoch("numpy", 6000, "numpy, 6,000 samples"), repeats)))
    agreement = {name: float(np.abs(finals[name] - finals["classic"]).max()) for name in kernels}
    return [(section, name, "µs/sample", values) for section, name, values in rows], agreement


def mini_batch(data, repeats):
    """Section 2: seconds per epoch at batch size 64, nnexp and PyTorch (if installed)."""
    x, y = data.x_train, data.y_train
    order = np.arange(len(x))
    cores = available_cores()

    def nnexp_epoch():
        model, optimizer = fresh_model()
        started = time.perf_counter()
        with threadpool_limits(limits=cores, user_api="blas"):
            train_epoch(Learner(model, optimizer), x, y, order, Recipe(batch_size=64), None, NoProgress())
        return time.perf_counter() - started

    nnexp_epoch()    # untimed warm-up: first touches of the data and of BLAS's buffers
    rows = [("mini-batch 64 epoch", f"nnexp, {cores} threads", "s/epoch", timed(nnexp_epoch, repeats))]
    try:
        import torch
    except ImportError:
        return rows, None
    xt, yt = torch.from_numpy(np.array(x)), torch.from_numpy(np.array(y))   # writable copies

    def torch_epoch():
        model, _ = fresh_model()
        w1 = torch.tensor(model.dense_stack().weights[0], requires_grad=True)
        w2 = torch.tensor(model.dense_stack().weights[1], requires_grad=True)
        optimizer = torch.optim.SGD([w1, w2], lr=LR)
        started = time.perf_counter()
        for start in range(0, len(xt), 64):
            xb, yb = xt[start:start + 64], yt[start:start + 64]
            out = torch.sigmoid(torch.sigmoid(xb @ w1.T) @ w2.T)
            loss = 0.5 * ((out - yb) ** 2).sum(dim=1).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        return time.perf_counter() - started

    torch_epoch()    # untimed warm-up: PyTorch's first epoch also sets up its kernels and allocator
    rows.append(("mini-batch 64 epoch", f"PyTorch {torch.__version__} CPU, {torch.get_num_threads()} threads",
                 "s/epoch", timed(torch_epoch, repeats)))
    return rows, torch.__version__


def sweep(data_dir, repeats, reuse):
    """Section 3: wall seconds of the parallel sweep command (its jobs: the end-of-sweep report is
    switched off and timed on its own, with reuse), and the epochs its jobs trained."""
    seconds, trained, report = [], [], []
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    for _ in range(repeats):
        work = Path(tempfile.mkdtemp(prefix="nnexp-bench-"))
        command = [sys.executable, "-m", "nnexp", "-m", *SWEEP, "data=mnist", "hydra/launcher=parallel",
                   f"hydra.sweep.dir={work / 'sweep'}", f"reuse={str(reuse).lower()}", "~hydra.callbacks.report"]
        if data_dir is not None:
            command.append(f"data.dir={Path(data_dir).resolve()}")
        started = time.perf_counter()
        done = subprocess.run(command, cwd=work, env=env, capture_output=True, text=True)
        seconds.append(time.perf_counter() - started)
        if done.returncode != 0:
            raise SystemExit(f"the sweep failed:\n{done.stderr[-3000:]}")
        results = [json.loads(p.read_text()) for p in (work / "sweep").glob("*/result.json")]
        assert len(results) == 9 and all(r["status"] == "completed" for r in results)
        trained.append(sum(r["epochs_trained"] for r in results))
        if reuse:
            started = time.perf_counter()
            done = subprocess.run([sys.executable, "-m", "nnexp.report", str(work / "sweep")], cwd=work, env=env,
                                  capture_output=True, text=True)
            report.append(time.perf_counter() - started)
            if done.returncode != 0:
                raise SystemExit(f"the report failed:\n{done.stderr[-3000:]}")
        shutil.rmtree(work)
    label = "with reuse (default)" if reuse else "reuse=false"
    rows = [("parallel sweep lr x epochs", f"wall time of the jobs, {label}", "s", seconds),
            ("parallel sweep lr x epochs", f"epochs trained, {label}", "epochs", trained)]
    if reuse:
        rows.append(("end-of-sweep report", "python -m nnexp.report on that sweep (tables, figures, GIF)", "s",
                     report))
    return rows


def arithmetic_seconds(sweep_dir, cores):
    """The grid's arithmetic: every epoch its jobs trained (each once: the longest job of each learning
    rate holds them all, each with the seconds of the job that trained it) x that epoch's training and
    scoring seconds (history.csv), divided by the cores. Returns (seconds, epochs counted)."""
    import pandas as pd
    from omegaconf import OmegaConf

    longest = {}
    for path in Path(sweep_dir).glob("*/history.csv"):
        overrides = dict(o.split("=", 1) for o in OmegaConf.load(path.parent / ".hydra" / "overrides.yaml"))
        frame = pd.read_csv(path)
        if len(frame) > len(longest.get(overrides["lr"], ())):
            longest[overrides["lr"]] = frame
    epochs = pd.concat(longest.values())
    return float((epochs["train_seconds"] + epochs["score_seconds"]).sum()) / cores, len(epochs)


def whole_grid(data_dir, repeats):
    """Section 3b: the used-by grid as a user runs it, launch to report.md (the report included), with
    nnexp's sweeper (jobs ordered by nnexp.sweep.job_order) and with Hydra's basic sweeper (Hydra's order),
    alternating; beside each, its arithmetic (arithmetic_seconds) from the same run."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    runs = {"nnexp": ([], []), "basic": ([], [])}
    for _ in range(repeats):
        for sweeper, (walls, arithmetic) in runs.items():
            work = Path(tempfile.mkdtemp(prefix="nnexp-bench-"))
            command = [sys.executable, "-m", "nnexp", "-m", "hydra/launcher=parallel", "data=mnist", *SWEEP,
                       f"hydra/sweeper={sweeper}", f"hydra.sweep.dir={work / 'sweep'}", f"reuse_dir={work / 'store'}"]
            if data_dir is not None:
                command.append(f"data.dir={Path(data_dir).resolve()}")
            started = time.perf_counter()
            done = subprocess.run(command, cwd=work, env=env, capture_output=True, text=True)
            walls.append(time.perf_counter() - started)
            if done.returncode != 0 or not (work / "sweep" / "report.md").is_file():
                raise SystemExit(f"the sweep failed:\n{done.stderr[-3000:]}")
            arithmetic.append(arithmetic_seconds(work / "sweep", available_cores())[0])
            shutil.rmtree(work)
    section = "used-by grid, launch to report.md"
    return [(section, "nnexp's sweeper (jobs ordered), whole command", "s", runs["nnexp"][0]),
            (section, "its arithmetic (epochs trained x train+score seconds / cores)", "s", runs["nnexp"][1]),
            (section, "whole command / arithmetic, nnexp's sweeper", "ratio",
             [w / a for w, a in zip(*runs["nnexp"])]),
            (section, "Hydra's basic sweeper (Hydra's order), whole command", "s", runs["basic"][0]),
            (section, "whole command / arithmetic, Hydra's basic sweeper", "ratio",
             [w / a for w, a in zip(*runs["basic"])])]


def machine():
    blas = [f"{lib['internal_api']} {lib['version']} ({lib.get('architecture')})" for lib in threadpool_info()
            if lib["user_api"] == "blas"]
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    return {"cpu": cpu, "cores": available_cores(), "blas": sorted(set(blas)), "python": platform.python_version(),
            "numpy": np.__version__}


def table(rows):
    """Markdown: one line per measurement with its median, the runs, and its speed relative to the
    first row of its section (time of the first row / its time: above 1 is faster)."""
    lines = ["| measurement | variant | median | unit | runs | speed vs first row |",
             "| --- | --- | ---: | --- | --- | ---: |"]
    first = {}
    for section, name, unit, values in rows:
        median = statistics.median(values)
        key = (section, unit)
        ratio = "" if key not in first or unit == "epochs" else f"{first[key] / median:.2f}x"
        first.setdefault(key, median)
        shown = ", ".join(f"{v:.3g}" for v in values)
        lines.append(f"| {section} | {name} | {median:.3g} | {unit} | {shown} | {ratio} |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", help="directory holding the MNIST files (default: download)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per figure (the median is reported)")
    parser.add_argument("--sweep-repeats", type=int, default=3, help="runs of each sweep (a few minutes each)")
    parser.add_argument("--out", default=str(HERE), help="directory for results.csv and results.md")
    parser.add_argument("--skip", nargs="*", default=[],
                        choices=["per-sample", "mini-batch", "sweep", "grid", "cnn", "small-jobs"])
    parser.add_argument("--table", metavar="CSV", help="only print the table of an earlier run's results.csv")
    args = parser.parse_args()
    if args.table:
        import pandas as pd

        frame = pd.read_csv(args.table)
        print(table([(r.measurement, r.variant, r.unit, [float(v) for v in str(r.runs).split()])
                     for r in frame.itertuples()]))
        return
    from omegaconf import OmegaConf

    from nnexp.config import DataConfig
    from nnexp.training.identity import plain

    data_config = DataConfig(name="mnist", dir=str(Path(args.data).resolve()), val_size=0)   # all 60,000
    data = load_dataset(plain(OmegaConf.structured(data_config)), "float32")
    rows, notes = [], {"machine": machine(), "repeats": args.repeats, "sweep repeats": args.sweep_repeats,
                       "load average (1, 5, 15 min) at the start": list(os.getloadavg())}
    sections = {
        "per-sample": lambda: per_sample(data, args.repeats),
        "mini-batch": lambda: mini_batch(data, args.repeats),
        "sweep": lambda: (sweep(args.data, args.sweep_repeats, True) + sweep(args.data, args.sweep_repeats, False),
                          None),
        "grid": lambda: (whole_grid(args.data, args.sweep_repeats), None),
        "cnn": lambda: cnn(load_dataset(plain(OmegaConf.structured(DataConfig(
            name="mnist", dir=str(Path(args.data).resolve()), val_size=0, scaling="standard"))), "float32"),
            args.repeats),
        "small-jobs": lambda: (small_jobs(args.sweep_repeats), None),
    }
    for name, measure in sections.items():
        if name in args.skip:
            continue
        found, extra = measure()
        rows += found
        if name == "per-sample":
            notes["largest |W1 - W1 of the plain loop| after the epoch (float32)"] = extra
        if name in ("mini-batch", "cnn"):
            notes["torch"] = extra or "not installed"
        notes["load average (1, 5, 15 min) at the end"] = list(os.getloadavg())
        write(rows, notes, Path(args.out))   # after every section: an interrupted run keeps what it measured
    print((Path(args.out) / "results.md").read_text())


def write(rows, notes, out):
    """results.csv (one row per measurement, every run) and results.md (the table and the notes)."""
    import pandas as pd

    out.mkdir(parents=True, exist_ok=True)
    frame = pd.DataFrame([{"measurement": s, "variant": n, "median": statistics.median(v), "unit": u,
                           "runs": " ".join(f"{x:.6g}" for x in v)} for s, n, u, v in rows])
    frame.to_csv(out / "results.csv", index=False)
    text = f"{table(rows)}\n\n```json\n{json.dumps(notes, indent=2, ensure_ascii=False)}\n```\n"
    (out / "results.md").write_text(text)


if __name__ == "__main__":
    main()
