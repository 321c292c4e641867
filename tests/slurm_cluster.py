"""A real one-node Slurm cluster on this machine, for the tests of ``hydra/launcher=slurm``.

``start_cluster`` writes a ``slurm.conf`` into a new directory (this host as the only node, with the
cores and memory ``slurmd -C`` finds, one partition, no accounting), starts munged (with a key of its
own), slurmctld and slurmd there, listening on 127.0.0.1 only, and waits until ``sinfo`` shows the
node idle. ``stop_cluster`` cancels what still runs on it and stops the three daemons by process id.
Slurm's daemons run as root: ``skip_reason`` says why a machine cannot start the cluster.

By hand, the same as a user trying the launcher on one machine (as root, after
``apt-get install slurm-wlm munge``): ``python tests/slurm_cluster.py`` starts a cluster and
prints the ``SLURM_CONF`` to export; Ctrl-C stops it.
"""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

DAEMONS = ("munged", "mungekey", "slurmctld", "slurmd")
COMMANDS = ("sinfo", "sbatch", "squeue", "scancel", "scontrol")

REQUEUE_DELAY_S = 5
"""``cred_expire``: how long Slurm keeps a requeued job pending before it may start again (120 s by
default)."""


def skip_reason():
    """Why this machine cannot start the cluster (a sentence), or None when it can."""
    missing = [name for name in DAEMONS + COMMANDS if shutil.which(name) is None]
    if missing:
        return f"Slurm is not installed ({', '.join(missing)} not found): apt-get install slurm-wlm munge"
    if os.geteuid() != 0:
        return "starting Slurm's daemons (slurmctld, slurmd, munged) needs root"
    return None


@dataclass
class Cluster:
    """A running cluster: its directory (slurm.conf, state, the daemons' logs), its one node and
    partition, and the daemons' processes (munged, slurmctld, slurmd)."""

    directory: Path
    node: str
    partition: str = "debug"
    processes: list = field(default_factory=list)

    @property
    def env(self):
        """The environment a Slurm command (sbatch, sinfo, a sweep) needs to talk to this cluster."""
        return {"SLURM_CONF": str(self.directory / "slurm.conf")}

    def run(self, *command, check=True):
        """A Slurm command against this cluster; its stdout."""
        return subprocess.run(command, env={**os.environ, **self.env}, capture_output=True, text=True,
                              check=check, timeout=60).stdout


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def node_line():
    """``NodeName=<host> CPUs=... RealMemory=...``: this machine as slurmd sees it."""
    return subprocess.run(["slurmd", "-C"], capture_output=True, text=True, check=True).stdout.splitlines()[0]


def slurm_conf(directory, node, ports):
    """The text of a slurm.conf for one node (``node``: slurmd -C's line) on 127.0.0.1."""
    name = node.split()[0].split("=", 1)[1]
    return "\n".join([
        "ClusterName=nnexp-test",
        f"SlurmctldHost={name}(127.0.0.1)",
        f"SlurmctldPort={ports[0]}",
        f"SlurmdPort={ports[1]}",
        "CommunicationParameters=NoInAddrAny,NoCtldInAddrAny",  # listen on 127.0.0.1, not on every interface
        "AuthType=auth/munge",
        "CredType=cred/munge",
        f"AuthInfo=socket={directory}/munge.socket,cred_expire={REQUEUE_DELAY_S}",
        "SlurmUser=root",
        f"StateSaveLocation={directory}/state",
        f"SlurmdSpoolDir={directory}/spool",
        f"SlurmctldPidFile={directory}/slurmctld.pid",
        f"SlurmdPidFile={directory}/slurmd.pid",
        "ProctrackType=proctrack/linuxproc",
        "TaskPlugin=task/none",
        "SelectType=select/cons_tres",
        "SelectTypeParameters=CR_Core",
        "SchedulerType=sched/builtin",
        "SchedulerParameters=sched_interval=1",  # look at pending jobs every second (default 60)
        "AccountingStorageType=accounting_storage/none",  # no slurmdbd: sacct cannot answer
        "JobAcctGatherType=jobacct_gather/none",
        "JobCompType=jobcomp/none",
        "MpiDefault=none",
        "ReturnToService=2",
        f"{node} NodeAddr=127.0.0.1 State=UNKNOWN",
        f"PartitionName=debug Nodes={name} Default=YES MaxTime=INFINITE State=UP",
        "",
    ])


def start_daemon(cluster, command):
    """Start ``command`` in the foreground of a process of ours, its output in <directory>/<name>.log."""
    with open(cluster.directory / f"{Path(command[0]).name}.log", "w") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **cluster.env},
                                   start_new_session=True)
    cluster.processes.append(process)
    return process


def wait_for(ready, what, cluster, timeout=60):
    deadline = time.monotonic() + timeout
    while not ready():
        dead = [p.args[0] for p in cluster.processes if p.poll() is not None]
        if dead or time.monotonic() > deadline:
            stop_cluster(cluster)
            raise RuntimeError(f"the test Slurm cluster did not start: {what} ({', '.join(dead) or 'timeout'}); "
                               f"logs in {cluster.directory}")
        time.sleep(0.2)


def node_state(cluster):
    return cluster.run("sinfo", "--noheader", "--nodes", cluster.node, "--format=%T", check=False).strip()


def start_cluster():
    """Start munged, slurmctld and slurmd on this machine; the running Cluster."""
    # munged wants every directory above its socket open to all; pytest's temporary directories are not
    directory = Path(tempfile.mkdtemp(prefix="nnexp-slurm-"))
    directory.chmod(0o755)
    for sub in ("state", "spool"):
        (directory / sub).mkdir()
    node = node_line()
    cluster = Cluster(directory, node=node.split()[0].split("=", 1)[1])
    (directory / "slurm.conf").write_text(slurm_conf(directory, node, (free_port(), free_port())))
    key = directory / "munge.key"
    subprocess.run(["mungekey", "--create", f"--keyfile={key}"], check=True, capture_output=True)
    start_daemon(cluster, ["munged", "--foreground", f"--socket={directory}/munge.socket", f"--key-file={key}",
                           f"--pid-file={directory}/munged.pid", f"--seed-file={directory}/munged.seed"])
    wait_for((directory / "munge.socket").exists, "munged", cluster)
    start_daemon(cluster, ["slurmctld", "-D", "-f", str(directory / "slurm.conf")])
    start_daemon(cluster, ["slurmd", "-D", "-f", str(directory / "slurm.conf")])
    wait_for(lambda: node_state(cluster) == "idle", "node idle", cluster)
    return cluster


def stop_cluster(cluster, timeout=30):
    """Cancel the jobs still on the cluster, then stop the daemons it started (by process id), newest first."""
    if all(process.poll() is None for process in cluster.processes):
        cluster.run("scancel", f"--partition={cluster.partition}", check=False)
        deadline = time.monotonic() + timeout
        while cluster.run("squeue", "--noheader", check=False).strip() and time.monotonic() < deadline:
            time.sleep(0.5)
    for process in reversed(cluster.processes):
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    shutil.rmtree(cluster.directory, ignore_errors=True)


if __name__ == "__main__":
    reason = skip_reason()
    if reason:
        raise SystemExit(reason)
    for stop in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop, signal.default_int_handler)
    running = start_cluster()
    print(f"Slurm is up: node {running.node}, partition {running.partition}.\n"
          f"export SLURM_CONF={running.env['SLURM_CONF']}\nCtrl-C (or SIGTERM) stops it.", flush=True)
    try:
        signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        stop_cluster(running)
