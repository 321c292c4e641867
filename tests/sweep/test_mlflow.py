"""Sweeps exported to MLflow (hydra.callbacks.mlflow and python -m nnexp.mlflow), read back through the REST
API of a real MLflow server started on 127.0.0.1 (one for the module: its start-up is the cost)."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request

import pandas as pd
import pytest
from helpers import ROOT, compose_config, run_cli
from omegaconf import OmegaConf

from nnexp.sweep.callbacks import MlflowCallback
from nnexp.sweep.mlflow_export import main as export_main
from nnexp.training.run_files import HISTORY_COLUMNS

SWEEP = ["-m", "data=xor", "epochs=2", "lr=0.1,0.5", "seed=0,1", "hydra.callbacks.report.gif_frames=0"]
"""Four jobs of two epochs on XOR (a second each), without the turning GIF (seconds to draw)."""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(database, cwd):
    """``mlflow server`` on ``database`` at a free port of 127.0.0.1, in a process group of its own:
    (Popen, base URL), once /health answers."""
    port = free_port()
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}   # no job-runner processes
    server = subprocess.Popen([sys.executable, "-m", "mlflow", "server", "--backend-store-uri",
                               f"sqlite:///{database}", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
                              cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert server.poll() is None, "mlflow server exited at start-up"
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as answer:
                if answer.status == 200:
                    return server, url
        except OSError:
            time.sleep(0.2)
    stop_server(server)
    raise AssertionError("mlflow server did not answer within 120 s")


def stop_server(server):
    """End the server and the workers it started: its process group, by the server's pid."""
    os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()


class Rest:
    """MLflow's REST API (/api/2.0/mlflow/...) with plain HTTP."""

    def __init__(self, url):
        self.url = url

    def get(self, endpoint, **query):
        with urllib.request.urlopen(f"{self.url}{endpoint}?{urllib.parse.urlencode(query)}", timeout=30) as answer:
            return answer.read() if endpoint == "/get-artifact" else json.load(answer)

    def post(self, endpoint, body):
        request = urllib.request.Request(f"{self.url}{endpoint}", json.dumps(body).encode(),
                                         {"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as answer:
            return json.load(answer)

    def runs(self, experiment="nnexp"):
        """{run id: (tags, params, run info)} of the experiment's active runs."""
        found = self.get("/api/2.0/mlflow/experiments/get-by-name", experiment_name=experiment)
        runs = self.post("/api/2.0/mlflow/runs/search", {"experiment_ids": [found["experiment"]["experiment_id"]],
                                                          "max_results": 1000}).get("runs", [])
        return {run["info"]["run_id"]: ({t["key"]: t["value"] for t in run["data"].get("tags", [])},
                                        {p["key"]: p["value"] for p in run["data"].get("params", [])}, run["info"])
                for run in runs}

    def history(self, run_id, key):
        points = self.get("/api/2.0/mlflow/metrics/get-history", run_id=run_id, metric_key=key).get("metrics", [])
        return sorted((p["step"], p["value"]) for p in points)

    def artifacts(self, run_id, path=""):
        files = self.get("/api/2.0/mlflow/artifacts/list", run_id=run_id, path=path).get("files", [])
        return {f["path"] for f in files}

    def snapshot(self):
        """Run ids, names, params, tags but the digest, and the metric points of every run."""
        return {run_id: (info["run_name"], params, {k: v for k, v in tags.items() if k != "nnexp.digest"},
                         {key: self.history(run_id, key) for key in HISTORY_COLUMNS[1:]})
                for run_id, (tags, params, info) in self.runs().items()}


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A real sweep launched with the one override that turns the MLflow callback on, and an MLflow
    server on the store it wrote (the default, mlruns.db where the sweep started): (sweep dir, store
    URI, Rest). The server is stopped at the end of the module."""
    root = tmp_path_factory.mktemp("mlflow")
    sweep_dir = root / "outputs" / "sweep"
    done = run_cli(*SWEEP, f"hydra.sweep.dir={sweep_dir}", "hydra.callbacks.mlflow.enabled=true", cwd=root)
    assert done.returncode == 0, done.stderr
    assert "MLflow: run" in done.stdout and "(5 created)" in done.stdout
    server, url = start_server(root / "mlruns.db", root)
    try:
        yield sweep_dir, f"sqlite:///{root / 'mlruns.db'}", Rest(url)
    finally:
        stop_server(server)


def test_the_callback_is_off_by_default_and_runs_after_the_report():
    callbacks = compose_config(return_hydra_config=True).hydra.callbacks
    assert callbacks.mlflow.enabled is False and callbacks.mlflow.tracking_uri == "sqlite:///mlruns.db"
    order = list(callbacks)   # Hydra calls the end hooks in reverse order: the report's before the export's
    assert order.index("result_guard") < order.index("mlflow") < order.index("report")


def parent_and_children(rest):
    runs = rest.runs()
    parents = [run_id for run_id, (tags, _, _) in runs.items() if "mlflow.parentRunId" not in tags]
    assert len(parents) == 1
    children = {int(tags["nnexp.job"]): (run_id, tags, params) for run_id, (tags, params, _) in runs.items()
                if tags.get("mlflow.parentRunId") == parents[0]}
    return parents[0], runs[parents[0]], children


def test_the_callback_exports_the_sweep_as_a_parent_run_with_a_child_per_job(exported):
    sweep_dir, _, rest = exported
    parent_id, (tags, params, info), children = parent_and_children(rest)
    assert tags["nnexp.dir"] == str(sweep_dir.resolve()) and tags["nnexp.jobs"] == "4 completed"
    assert params == {"data": "xor", "epochs": "2", "lr": "0.1,0.5", "seed": "0,1"}   # the grid as typed
    assert info["status"] == "FINISHED"
    results = pd.read_csv(sweep_dir / "results.csv")
    assert sorted(children) == list(results["job"]) == [0, 1, 2, 3]
    for row in results.itertuples():
        run_id, tags, params = children[row.job]
        result = json.loads((sweep_dir / str(row.dir) / "result.json").read_text())
        assert params == {"data": "xor", "epochs": "2", "lr": str(row.lr), "seed": str(row.seed)}
        assert tags["mlflow.runName"] == f"#{row.job} lr={row.lr} seed={row.seed}"
        assert (tags["nnexp.status"], tags["nnexp.seed"]) == ("completed", str(row.seed))
        assert tags["nnexp.config_hash"] == result["config_hash"]
        assert tags["mlflow.source.git.commit"] == ((result["environment"]["git"] or {}).get("commit") or "unknown")


def test_every_epoch_of_history_csv_is_a_metric_point_at_its_step(exported):
    sweep_dir, _, rest = exported
    _, _, children = parent_and_children(rest)
    for job, (run_id, _, _) in children.items():
        history = pd.read_csv(sweep_dir / str(job) / "history.csv")
        for column in ("epoch_lr", "train_loss", "train_acc", "test_loss", "test_acc", "seconds"):
            assert rest.history(run_id, column) == list(zip(history["epoch"], history[column])), column
        assert rest.history(run_id, "val_acc") == []   # XOR has no validation split: no points, not NaNs
        result = json.loads((sweep_dir / str(job) / "result.json").read_text())
        assert rest.history(run_id, "best_test_acc") == [(result["best_epoch"], result["best_test_acc"])]


def test_files_are_artifacts_of_the_job_and_of_the_sweep(exported):
    sweep_dir, _, rest = exported
    parent_id, _, children = parent_and_children(rest)
    job_files = rest.artifacts(children[0][0])
    assert {"history.csv", "batches.csv", "weights.npz", "result.json", "hydra"} <= job_files
    assert rest.artifacts(children[0][0], "hydra") == {"hydra/config.yaml", "hydra/overrides.yaml"}
    sweep_files = rest.artifacts(parent_id)
    figures = {p.name for pattern in ("*.png", "*.gif") for p in sweep_dir.glob(pattern)}
    assert figures and {"results.csv", "history.csv", "summary.csv", "report.md", *figures} == sweep_files
    assert rest.get("/get-artifact", path="results.csv", run_uuid=parent_id) == (sweep_dir / "results.csv").read_bytes()


def test_exporting_again_changes_nothing_and_an_update_adds_no_points(exported, capsys):
    sweep_dir, uri, rest = exported
    before = rest.snapshot()
    assert len(before) == 5 and sum(len(points) for *_, metrics in before.values() for points in metrics.values()) \
        == 4 * 2 * 8   # 4 jobs x 2 epochs x (epoch_lr, train_loss, train_acc, test_loss, test_acc, 3 seconds)
    assert export_main([str(sweep_dir), "--tracking-uri", rest.url]) == 0   # through the server this time
    assert "(5 unchanged)" in capsys.readouterr().out
    assert rest.snapshot() == before
    from mlflow import MlflowClient

    _, _, children = parent_and_children(rest)
    MlflowClient(uri).delete_tag(children[1][0], "nnexp.digest")   # as if the last export was cut short
    assert export_main([str(sweep_dir), "--tracking-uri", uri]) == 0
    assert "(4 unchanged, 1 updated)" in capsys.readouterr().out
    assert rest.snapshot() == before


def test_a_run_directory_is_one_run_found_again_by_its_config_hash(exported, tmp_path, capsys):
    sweep_dir, uri, rest = exported
    run_dir = tmp_path / "run"
    shutil.copytree(sweep_dir / "0", run_dir)
    for attempt in ("1 created", "1 unchanged"):
        assert export_main([str(run_dir), "--tracking-uri", uri, "--experiment", "single"]) == 0
        assert f"({attempt})" in capsys.readouterr().out
    [(tags, params, info)] = rest.runs("single").values()
    assert tags["nnexp.dir"] == str(run_dir.resolve()) and "mlflow.parentRunId" not in tags
    assert params == {"data": "xor", "epochs": "2", "lr": "0.1", "seed": "0"} and info["status"] == "FINISHED"


def damaged_results(sweep_dir):
    results = sweep_dir / "results.csv"
    results.write_text(results.read_text()[:200])   # cut short: rows of the jobs on disk are missing


def garbage_results(sweep_dir):
    (sweep_dir / "results.csv").write_bytes(b"\x00\xff" * 100)


@pytest.mark.parametrize("damage, expected", [
    (None, "is not a directory"),
    (lambda d: shutil.rmtree(d) or d.mkdir(), "holds no run (result.json) and no sweep jobs"),
    (lambda d: (d / "results.csv").unlink(), "has no results.csv"),
    (damaged_results, "results.csv does not match the jobs on disk"),
    (garbage_results, "results.csv is damaged"),
])
def test_bad_input_is_one_line_and_writes_nothing(exported, tmp_path, capsys, damage, expected):
    sweep_dir = tmp_path / "sweep"
    if damage is not None:
        shutil.copytree(exported[0], sweep_dir)
        damage(sweep_dir)
    store = tmp_path / "store.db"
    assert export_main([str(sweep_dir), "--tracking-uri", f"sqlite:///{store}"]) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and err.startswith("nnexp.mlflow: error: ") and expected in err
    assert not store.exists()


@pytest.mark.parametrize("store", ["sqlite:///{tmp}/not_a_database.db", "nosuch://{tmp}"])
def test_a_store_mlflow_cannot_use_is_one_line_and_the_callback_says_how_to_retry(exported, tmp_path, capsys, caplog,
                                                                                   store):
    (tmp_path / "not_a_database.db").write_text("not a database\n")
    uri, sweep_dir = store.format(tmp=tmp_path), exported[0]
    assert export_main([str(sweep_dir), "--tracking-uri", uri]) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith(f"nnexp.mlflow: error: the MLflow store {uri} refused the export: ")
    # at the end of a sweep: logged with the command that retries it; the sweep goes on to its own exit code
    MlflowCallback(enabled=True, tracking_uri=uri).on_multirun_end(OmegaConf.create({"hydra": {"sweep": {
        "dir": str(sweep_dir)}}}))
    assert f"no MLflow export: the MLflow store {uri} refused" in caplog.text
    assert f"python -m nnexp.mlflow {sweep_dir} --tracking-uri {uri} --experiment nnexp" in caplog.text


def test_nnexp_imports_no_mlflow_until_an_export_starts():
    code = ("import sys, nnexp.main, nnexp.report, nnexp.sweep.callbacks, nnexp.mlflow; "
            "print('mlflow' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert (done.returncode, done.stdout.strip()) == (0, "False"), done.stderr


def test_without_mlflow_the_command_and_the_callback_say_what_to_install(exported, tmp_path):
    """MLflow absent (a package on the path that fails to import, as a missing one does): one line
    naming the extra, exit 1, no job started."""
    blocker = tmp_path / "blocker" / "mlflow"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text("raise ImportError('No module named mlflow')\n")
    env = {"PYTHONPATH": os.pathsep.join([str(blocker.parent), str(ROOT)])}
    install = 'MLflow is not installed; install the extra: pip install -e ".[mlflow]"'
    done = run_cli(str(exported[0]), module="nnexp.mlflow", env=env, cwd=tmp_path)
    assert (done.returncode, done.stderr.strip()) == (1, f"nnexp.mlflow: error: {install}")
    sweep_dir = tmp_path / "sweep"
    done = run_cli(*SWEEP, f"hydra.sweep.dir={sweep_dir}", "hydra.callbacks.mlflow.enabled=true", env=env, cwd=tmp_path)
    assert (done.returncode, done.stderr.strip()) == (1, f"nnexp: error: {install}")
    assert not list(sweep_dir.glob("*/result.json")) and not (tmp_path / "mlruns.db").exists()
