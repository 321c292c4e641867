"""What a job does with the signals that stop it (nnexp/training/signals.py), in this process: SIGTERM
raised as Interrupted, submitit's notice handed on to submitit's handler (a stand-in here), and the
line a user reads when the job is not requeued."""

import logging
import signal
import sys
import threading
from types import SimpleNamespace

import pytest

from nnexp.errors import Interrupted
from nnexp.training.signals import end_interrupted_job, pass_on, restore_handlers, stop_on_signals, submitit_signal


@pytest.fixture
def submitit_job(monkeypatch):
    """This process as a job that submitit runs, its notice SIGUSR1 (SUBMITIT_PREEMPT_SIGNAL=USR1)."""
    monkeypatch.setenv("SUBMITIT_EXECUTOR", "slurm")
    monkeypatch.setitem(sys.modules, "submitit", SimpleNamespace(JobEnvironment=SimpleNamespace(USR_SIG="USR1")))
    handlers = {signum: signal.getsignal(signum) for signum in (signal.SIGTERM, signal.SIGUSR1)}
    yield
    restore_handlers(handlers)


def test_submitit_signal_is_its_notice_in_a_submitit_job_only(monkeypatch, submitit_job):
    assert submitit_signal() is signal.SIGUSR1
    monkeypatch.delenv("SUBMITIT_EXECUTOR")
    assert submitit_signal() is None


def test_pass_on_gives_the_signal_to_submitits_handler_and_says_why_it_did_not_requeue():
    calls = []

    def refuses(signum, frame):
        calls.append((signum, frame))
        raise RuntimeError("Job not requeued because:\n  timeout  count exceeded")

    assert pass_on(signal.SIGUSR2, refuses) == "Job not requeued because: timeout count exceeded"
    assert calls == [(signal.SIGUSR2, None)]
    assert pass_on(signal.SIGUSR2, lambda signum, frame: None) == "the launcher did not requeue it"
    assert pass_on(signal.SIGUSR2, signal.SIG_DFL) is None and pass_on(signal.SIGUSR2, None) is None


def test_sigterm_and_submitits_notice_raise_interrupted_until_the_handlers_are_restored(submitit_job):
    before = {signum: signal.getsignal(signum) for signum in (signal.SIGTERM, signal.SIGUSR1)}
    replaced = stop_on_signals()
    assert replaced == before
    for signum, name, code in ((signal.SIGTERM, "SIGTERM", 143), (signal.SIGUSR1, "SIGUSR1", 138)):
        with pytest.raises(Interrupted) as stopped:
            signal.raise_signal(signum)
        assert (stopped.value.signal_name, stopped.value.exit_code, str(stopped.value)) == (name, code, name)
    restore_handlers(replaced)
    assert {signum: signal.getsignal(signum) for signum in before} == before


def test_outside_the_main_thread_no_handler_is_installed():
    before = signal.getsignal(signal.SIGTERM)
    found = []
    thread = threading.Thread(target=lambda: found.append(stop_on_signals()))
    thread.start()
    thread.join()
    assert found == [{}] and signal.getsignal(signal.SIGTERM) is before


def test_an_interrupted_submitit_job_hands_its_notice_on_and_says_why_it_was_not_requeued(submitit_job, caplog):
    calls = []

    def submitits(signum, frame):
        calls.append(signum)
        raise RuntimeError("Job not requeued because: timeout count exceeded")

    signal.signal(signal.SIGUSR1, submitits)
    replaced = stop_on_signals()
    assert end_interrupted_job(Interrupted("SIGUSR1", 138), replaced) == "interrupted"
    assert calls == [signal.SIGUSR1] and signal.getsignal(signal.SIGUSR1) is submitits   # restored
    assert [(r.name, r.levelno, r.getMessage()) for r in caplog.records] == [
        ("nnexp", logging.WARNING, "not requeued: Job not requeued because: timeout count exceeded")]
    # SIGTERM is Slurm's, not submitit's notice: nothing to hand on, nothing to say
    caplog.clear()
    signal.signal(signal.SIGTERM, submitits)
    replaced = stop_on_signals()
    assert end_interrupted_job(Interrupted("SIGTERM", 143), replaced) == "interrupted"
    assert calls == [signal.SIGUSR1] and caplog.records == [] and signal.getsignal(signal.SIGTERM) is submitits


def test_a_notice_submitit_requeued_logs_nothing(submitit_job, caplog):
    def requeues(signum, frame):
        raise SystemExit(0)                 # submitit requeues the job and ends the process

    signal.signal(signal.SIGUSR1, requeues)
    with pytest.raises(SystemExit):
        end_interrupted_job(Interrupted("SIGUSR1", 138), stop_on_signals())
    assert caplog.records == []
