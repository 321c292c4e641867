"""Errors a user can cause. Each one is reported as a single line naming what was wrong."""


class NnexpError(Exception):
    """Base for every user-facing error; the entry points print its message and exit non-zero."""


class ConfigError(NnexpError):
    """A configuration value that cannot be used (the message names the key and the value)."""


class DataError(NnexpError):
    """A data file or directory that is missing, unreadable or corrupt (the message names the file)."""


class WeightsError(NnexpError):
    """A weights file that does not fit the configured network (the message names arrays and shapes)."""
