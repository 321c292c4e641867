import pytest
from slurm_cluster import skip_reason, start_cluster, stop_cluster


@pytest.fixture(scope="session")
def slurm():
    """A real one-node Slurm cluster on this machine (tests/sweep/slurm_cluster.py), started once for
    the session and stopped at its end; the tests that use it are skipped, with the reason, on a machine
    without Slurm or without root."""
    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    cluster = start_cluster()
    yield cluster
    stop_cluster(cluster)
