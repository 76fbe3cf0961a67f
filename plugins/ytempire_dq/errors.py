"""Exit codes and the one error type every command turns into exit code 2."""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    """What a pipeline reads from every ytdq / great_expectations command."""

    OK = 0  # every expectation met (or the command did its job)
    DATA_FAILED = 1  # the run happened and data broke at least one rule
    RUN_FAILED = 2  # the run could not happen: usage, config, connection


class YtdqError(Exception):
    """A problem the user can fix; shown as one line, exit code 2."""

    exit_code = ExitCode.RUN_FAILED
