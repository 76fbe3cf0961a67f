"""Exit codes, the one error type every command turns into exit code 2, and text made safe to print."""

from __future__ import annotations

import enum
import re


class ExitCode(enum.IntEnum):
    """What a pipeline reads from every ytdq / great_expectations command."""

    OK = 0  # every expectation met (or the command did its job)
    DATA_FAILED = 1  # the run happened and data broke at least one rule
    RUN_FAILED = 2  # the run could not happen: usage, config, connection


class YtdqError(Exception):
    """A problem the user can fix; shown as one line, exit code 2."""

    exit_code = ExitCode.RUN_FAILED


# What to do about a cause, matched on the driver's message (psycopg2's text carries the SQLSTATE's
# meaning; GX keeps only the text of a rule's exception). First match wins.
_HINTS: tuple[tuple[str, str], ...] = (
    (r'relation "[^"]*" does not exist|schema "[^"]*" does not exist', "is the database migrated? (ytdq db migrate)"),
    (
        r'column "[^"]*" (in \w+ )?does not exist|column [\w.]+ does not exist',
        "the rule names a column its table lacks: fix the rule (ytdq suite lint) or migrate (ytdq db migrate)",
    ),
    (r"permission denied", "grant the DATABASE_URL user SELECT on it (or use a user that has it)"),
    (
        r"statement timeout",
        "the query ran past statement_timeout: make it cheaper (an index, a narrower rule) "
        "or raise the timeout for the DATABASE_URL user",
    ),
    (
        r"password authentication failed|authentication failed|no password supplied|"
        r"invalid username-password|WRONGPASS|NOAUTH",
        "check the user and password in the URL (or ~/.pgpass / PGPASSWORD)",
    ),
    (r'database "[^"]*" does not exist', "create the database or fix the database name in DATABASE_URL"),
    (
        r"redis.*(refused|timed out|unreachable|connecting)|(refused|timed out|connecting).*redis|cannot read the Redis",
        "is Redis running there? start it (ytdq services up) or fix REDIS_URL",
    ),
    (
        r"connection refused|could not connect|could not translate host name|timeout expired|"
        r"server closed the connection|terminating connection|connection already closed|"
        r"SSL SYSCALL error|server conn crashed|cannot connect to PostgreSQL|connection to server .* failed",
        "is PostgreSQL running there? start it (ytdq services up) or fix DATABASE_URL",
    ),
)


def hint(message: str) -> str | None:
    """The fix for a known cause in ``message`` (a missing table: migrate; refused: start the server)."""
    import re  # small and only on the error path

    for pattern, fix in _HINTS:
        if re.search(pattern, message, re.IGNORECASE):
            return fix
    return None


def with_hint(message: str) -> str:
    """``message — fix`` when the cause is known (and the message does not name the fix already)."""
    import re

    fix = hint(message)
    commands = re.findall(r"\(([^()]*)\)", fix or "")
    if fix is None or fix in message or any(c in message for c in commands):
        return message
    return f"{message} — {fix}"


#: C0 (NUL, ESC, CR ...), DEL and C1 control characters: a terminal acts on them (ESC starts a
#: sequence that can recolour, move the cursor or retitle the window; CR overwrites the line).
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_SHOWN_RAW = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # CONTROL less tab and newline


def printable(text: str, *, lines: bool = True) -> str:
    """``text`` with every control character written as ``\\xNN`` (tab and newline kept when
    ``lines``): what a file or a database gave us is printed, never obeyed by the terminal."""
    return (_SHOWN_RAW if lines else CONTROL).sub(lambda m: f"\\x{ord(m.group()):02x}", text)
