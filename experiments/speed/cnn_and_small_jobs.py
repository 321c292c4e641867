"""Sections 4 and 5 of benchmark.py: the CNN beside PyTorch, and a sweep of many small jobs.

4. model=cnn (conv 32@3x3, relu, max-pool 2, conv 64@3x3, relu, max-pool 2, dense 128, relu,
   dropout 0.5, dense 10; softmax cross-entropy; SGD lr 0.02, momentum 0.9; batch 64; float32),
   one training epoch over the first 10,000 training images in one shuffled order, and one scoring
   pass over the 10,000 test images: nnexp's network built from conf/model/cnn.yaml, and the same
   stack in PyTorch started from the same weights. Both use every core (BLAS / PyTorch threads).
   Runs alternate (nnexp, PyTorch, nnexp, ...) so that anything else on the machine slows both.
5. The sweep -m data=xor model.hidden=[2] 'lr=range(0.01,2.01,0.01)' epochs=2 seed=0,1 reuse=false
   (400 jobs of a fraction of a second each, basic launcher): wall seconds of the whole command
   (report included) per job, with nnexp's sweeper (each job composed once) and with Hydra's own
   (hydra/sweeper=basic, each job composed twice), alternating; then the report on its own.
"""

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

ROOT = Path(__file__).resolve().parent.parent.parent
CNN_IMAGES = 10_000
SMALL_JOBS = ["data=xor", "model.hidden=[2]", "lr=range(0.01,2.01,0.01)", "epochs=2", "seed=0,1", "reuse=false"]


class NoProgress:
    def update(self, n):
        pass


def cnn_config():
    """The composed model=cnn configuration (network and recipe) of this checkout."""
    from hydra import compose, initialize_config_dir

    from nnexp.config import register_configs

    register_configs()
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        return compose("config", ["model=cnn"])


def torch_cnn(network):
    """nnexp's CNN as a torch.nn.Sequential holding the same weights (dense W is (out, in) in both)."""
    import torch

    conv1, conv2 = [layer for layer in network.layers if type(layer).__name__ == "Conv2D"]
    dense1, dense2 = [layer for layer in network.layers if type(layer).__name__ == "Dense"]
    model = torch.nn.Sequential(
        torch.nn.Conv2d(1, 32, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(32, 64, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2), torch.nn.Flatten(),
        torch.nn.Linear(64 * 7 * 7, 128), torch.nn.ReLU(), torch.nn.Dropout(0.5), torch.nn.Linear(128, 10))
    with torch.no_grad():
        for ours, theirs in zip([conv1, conv2, dense1, dense2], [model[0], model[3], model[7], model[10]]):
            theirs.weight.copy_(torch.from_numpy(np.ascontiguousarray(ours.W)))
            theirs.bias.copy_(torch.from_numpy(ours.b))
    return model


def cnn(data, repeats):
    """Section 4: seconds of a CNN training epoch and of a scoring pass, nnexp and PyTorch in turn."""
    from nnexp.nn.build import build_network
    from nnexp.nn.kernels import numba_available
    from nnexp.nn.optim import make_optimizer
    from nnexp.training.identity import plain
    from nnexp.training.loop import Learner, Recipe, train_epoch
    from nnexp.training.threads import available_cores

    cfg = cnn_config()
    x, y = data.x_train[:CNN_IMAGES], data.y_train[:CNN_IMAGES]
    order = np.random.default_rng(0).permutation(len(x))
    cores = available_cores()

    def nnexp_run(compiled=False):
        network = build_network(plain(cfg.model), (1, 28, 28), 10, rng=np.random.default_rng(0))
        network.compile_data_movement(compiled, cores)
        optimizer = make_optimizer(plain(cfg.optimizer), network, cfg.lr)
        with threadpool_limits(limits=cores, user_api="blas"):
            started = time.perf_counter()
            train_epoch(Learner(network, optimizer), x, y, order, Recipe(batch_size=cfg.batch_size),
                        np.random.default_rng(1), NoProgress())
            trained = time.perf_counter() - started
            started = time.perf_counter()
            network.logits(data.x_test)
            return trained, time.perf_counter() - started

    variants = {"nnexp": False, "nnexp compiled": True} if numba_available() else {"nnexp": False}
    names = {"nnexp": f"nnexp, NumPy data movement (kernel=numpy), {cores} threads",
              "nnexp compiled": f"nnexp, compiled data movement (kernel=numba), {cores} threads"}
    try:
        import torch
    except ImportError:
        return [("CNN epoch (10,000 images)", names[name], "s/epoch", [nnexp_run(compiled)[0]])
                for name, compiled in variants.items()], None
    torch.set_num_threads(cores)
    xt = torch.from_numpy(np.array(x.reshape(-1, 1, 28, 28)))   # writable copies for torch
    labels = torch.from_numpy(y.argmax(axis=1))
    test = torch.from_numpy(np.array(data.x_test.reshape(-1, 1, 28, 28)))
    torch_order = torch.from_numpy(order)

    def torch_run():
        model = torch_cnn(build_network(plain(cfg.model), (1, 28, 28), 10, rng=np.random.default_rng(0)))
        optimizer = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum)
        loss = torch.nn.CrossEntropyLoss()
        model.train()
        started = time.perf_counter()
        for start in range(0, len(torch_order), cfg.batch_size):
            batch = torch_order[start:start + cfg.batch_size]
            optimizer.zero_grad()
            loss(model(xt[batch]), labels[batch]).backward()
            optimizer.step()
        trained = time.perf_counter() - started
        model.eval()
        started = time.perf_counter()
        with torch.no_grad():
            for start in range(0, len(test), 500):
                model(test[start:start + 500])
        return trained, time.perf_counter() - started

    for compiled in variants.values():   # untimed warm-ups: first touches, allocators, kernels chosen
        nnexp_run(compiled)
    torch_run()
    runs = {name: [] for name in [*variants, "torch"]}
    for _ in range(repeats):
        for name, compiled in variants.items():
            runs[name].append(nnexp_run(compiled))
        runs["torch"].append(torch_run())
    names["torch"] = f"PyTorch {torch.__version__} CPU, {torch.get_num_threads()} threads"
    return ([("CNN epoch (10,000 images)", names[name], "s/epoch", [r[0] for r in runs[name]]) for name in runs]
            + [("CNN scoring (10,000 test images)", names[name], "s", [r[1] for r in runs[name]]) for name in runs],
            torch.__version__)


def small_jobs(repeats):
    """Section 5: wall seconds per job of the 400-job sweep (report included), nnexp's sweeper and
    Hydra's in turn, and the report's own seconds."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    per_job = {"nnexp": [], "basic": []}
    report = []
    for _ in range(repeats):
        for sweeper in per_job:
            work = Path(tempfile.mkdtemp(prefix="nnexp-bench-"))
            command = [sys.executable, "-m", "nnexp", "-m", *SMALL_JOBS, f"hydra.sweep.dir={work / 'sweep'}",
                       f"hydra/sweeper={sweeper}"]
            started = time.perf_counter()
            done = subprocess.run(command, cwd=work, env=env, capture_output=True, text=True)
            seconds = time.perf_counter() - started
            if done.returncode != 0:
                raise SystemExit(f"the sweep failed:\n{done.stderr[-3000:]}")
            jobs = len(list((work / "sweep").glob("*/result.json")))
            per_job[sweeper].append(seconds / jobs)
            if sweeper == "nnexp":
                started = time.perf_counter()
                subprocess.run([sys.executable, "-m", "nnexp.report", str(work / "sweep")], cwd=work, env=env,
                               capture_output=True, text=True, check=True)
                report.append(time.perf_counter() - started)
            shutil.rmtree(work)
    section = "sweep of 400 small jobs"
    return [(section, "nnexp's sweeper (each job composed once)", "s/job", per_job["nnexp"]),
            (section, "Hydra's basic sweeper (each job composed twice)", "s/job", per_job["basic"]),
            ("report of the 400-job sweep", "python -m nnexp.report", "s", report)]
