"""Errors meant for the user: the CLI prints them as one line and exits non-zero, without a traceback."""


class AgorabenchError(Exception):
    """A problem the user can fix (bad config, missing key, unreachable endpoint). Message is one line."""

    exit_code = 2


class ConfigError(AgorabenchError):
    """A configuration file or flag is invalid."""
