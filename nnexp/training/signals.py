"""What a job does with the signals that stop it (SIGTERM, and submitit's notice on Slurm).

Slurm stops a job with SIGTERM (at its time limit, on ``scancel``, on preemption), and submitit asks
Slurm for one more signal, USR2 (``SUBMITIT_PREEMPT_SIGNAL``), ``hydra.launcher.signal_delay_s`` seconds
before the time limit (``sbatch --signal``). submitit's handler of that signal pickles the job again and
requeues it (``scontrol requeue``) while ``hydra.launcher.max_num_timeout`` allows, and otherwise raises.
``stop_on_signals`` makes both signals stop the training as Ctrl-C does (the finished epochs are
checkpointed, result.json says ``interrupted``); then ``end_interrupted_job`` gives submitit's signal to
submitit's handler (``pass_on``): a requeued job starts again and continues from its checkpoint.
"""

import logging
import os
import signal

from ..errors import Interrupted

log = logging.getLogger("nnexp")


def submitit_signal():
    """The signal submitit handles in this process (USR2 unless ``SUBMITIT_PREEMPT_SIGNAL`` says
    otherwise) when it is a job that submitit runs, else None."""
    if "SUBMITIT_EXECUTOR" not in os.environ:
        return None
    from submitit import JobEnvironment

    return signal.Signals[f"SIG{JobEnvironment.USR_SIG}"]


def pass_on(signum, handler):
    """Give ``signum``, which stopped the training, to ``handler`` (submitit's, which the run's own had
    replaced): submitit requeues the job and ends the process (SystemExit), or says why it will not.
    Returns that reason, or None when ``handler`` is not a function (nothing to pass on to)."""
    if not callable(handler):
        return None
    try:
        handler(signum, None)
    except Exception as err:  # noqa: BLE001 - submitit raises UncompletedJobError("Job not requeued because: ...")
        return " ".join(str(err).split())
    return "the launcher did not requeue it"


def stop_on_signals():
    """Make SIGTERM (what Slurm sends a job it stops) and, in a job that submitit runs, submitit's signal
    (USR2, sent before the time limit) end the run as Ctrl-C does: raise Interrupted in
    the training, which records the finished epochs (nnexp.training.job). Returns {signal: the handler
    it replaced}, for ``restore_handlers``."""
    def interrupted(signum, frame):
        raise Interrupted(signal.Signals(signum).name, 128 + signum)

    replaced = {}
    for signum in filter(None, (signal.SIGTERM, submitit_signal())):
        try:
            replaced[signum] = signal.signal(signum, interrupted)
        except ValueError:   # not the main thread (a threaded launcher): leave the default
            pass
    return replaced


def restore_handlers(replaced):
    for signum, handler in replaced.items():
        signal.signal(signum, handler)


def end_interrupted_job(stopped, replaced):
    """The end of a job of a sweep that submitit runs (Slurm), stopped by a signal after it recorded its
    finished epochs: submitit's own signal goes on to submitit, which requeues the job (the process ends,
    and the job continues from its checkpoint when Slurm starts it again) while
    hydra.launcher.max_num_timeout allows. Otherwise the job returns "interrupted", so that the sweep
    collects and reports it (a job that exited instead would leave no result for submitit to collect)."""
    restore_handlers(replaced)
    signum = getattr(signal, stopped.signal_name)
    why_not = pass_on(signum, replaced.get(signum)) if signum == submitit_signal() else None
    if why_not:
        log.warning("not requeued: %s", why_not)
    return "interrupted"
