"""Errors a user can cause, and how every command reports one: a single line naming what was wrong."""

import sys


class NnexpError(Exception):
    """Base for every user-facing error; the entry points print its message and exit non-zero."""


class ConfigError(NnexpError):
    """A configuration value that cannot be used (the message names the key and the value)."""


class DataError(NnexpError):
    """A data file or directory that is missing, unreadable or corrupt (the message names the file)."""


class WeightsError(NnexpError):
    """A weights file that does not fit the configured network (the message names arrays and shapes)."""


class Interrupted(BaseException):
    """SIGTERM (what Slurm sends before it stops a job) or Ctrl-C during a run: not an error of the
    run, so not an Exception; the run records what is finished and the process ends."""

    def __init__(self, signal_name="SIGINT", exit_code=130):
        super().__init__(signal_name)
        self.signal_name, self.exit_code = signal_name, exit_code


DIVERGED_EXIT_CODE = 3
"""The exit code of a single run whose training diverged (a sweep records the job and goes on)."""


def error_line(message, prog="nnexp"):
    """Print ``prog: error: message`` as one line on stderr; returns 1, the exit code of an error."""
    print(f"{prog}: error: {' '.join(str(message).split())}", file=sys.stderr)
    return 1


def exit_with_error(message, prog="nnexp"):
    """``error_line``, then exit with code 1 (a SystemExit, which passes through Hydra's own error
    printing)."""
    sys.exit(error_line(message, prog))
