"""The ``ytdq`` group, its one error handler, the consoles and the options several commands share.

Exit codes (see :class:`ytempire_dq.errors.ExitCode`): 0 ok, 1 data failed, 2 the run could not
happen. Every :class:`YtdqError` becomes one line on stderr and exit 2 (or its own exit code).
GX is imported only by the commands that need it (its import alone takes seconds)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape
from rich.text import Text

from ytempire_dq import config
from ytempire_dq.errors import ExitCode, YtdqError, printable, with_hint


class _Console(Console):
    """A console that shows control characters (a suite's rule_id with an ESC, a NUL in a sample)
    as ``\\xNN`` instead of handing them to the terminal: strings before layout, and every other
    renderable's text (``Text`` cells) as it is rendered; rich's own styling is not text and stays."""

    def render_str(self, text: str, **kwargs):
        return super().render_str(printable(text), **kwargs)

    def render(self, renderable, options=None):
        from rich.segment import Segment

        for segment in super().render(renderable, options):
            if segment.control or segment.text.isprintable():
                yield segment
            else:
                yield Segment(printable(segment.text), segment.style, segment.control)


def text(value: str) -> Text:
    """A table cell holding a suite's or the data's text: neither rich markup nor a control
    character in it acts (escaped before layout, so the columns fit what is shown)."""
    return Text(printable(value))


# Pipelines read our output from logs, not terminals: give tables room there (rich's default is 80).
_width = None if sys.stdout.isatty() or os.environ.get("COLUMNS") else 160
out = _Console(width=_width)
err = _Console(stderr=True, width=_width)


def fail(message: str, code: int = ExitCode.RUN_FAILED) -> None:
    """One ``error:`` line on stderr (password masked, the fix appended when the cause is known); exit."""
    err.print(f"[bold red]error:[/] {escape(config.mask_secrets(with_hint(message)))}", highlight=False, soft_wrap=True)
    sys.exit(code)


def _server_error(exc: BaseException) -> str | None:
    """One line for a server error no command caught (naming the masked URL), or None."""
    import psycopg2  # only on the error path
    import redis
    import sqlalchemy.exc

    first = (str(getattr(exc, "orig", None) or exc).strip().splitlines() or [type(exc).__name__])[0]
    if isinstance(exc, redis.RedisError):
        return f"cannot use Redis at {config.mask_url(config.redis_url(required=False))}: {first}"
    if (
        isinstance(exc, (psycopg2.OperationalError, sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError))
        and _pgcode(exc) is None
    ):
        return f"cannot connect to PostgreSQL at {config.mask_url(config.database_url(required=False))}: {first}"
    if isinstance(exc, (psycopg2.Error, sqlalchemy.exc.DBAPIError)):
        return f"{first} in {config.mask_url(config.database_url(required=False))}"
    return None


def error_message(exc: BaseException) -> str | None:
    """The line :func:`_handle` prints for ``exc`` (masked, fix appended), or None for a bug; for
    reports written before the command exits (``checkpoint run --junit``)."""
    message = str(exc) if isinstance(exc, YtdqError) else _server_error(exc)
    return None if message is None else config.mask_secrets(with_hint(message))


def _handle(exc: Exception) -> None:
    """A :class:`YtdqError` (its own exit code) or a server error: one line, exit; else re-raise."""
    if isinstance(exc, YtdqError):
        fail(str(exc), exc.exit_code)
    message = _server_error(exc)
    if message is None:
        raise exc
    fail(message)


def _pgcode(exc: BaseException) -> str | None:
    """PostgreSQL's SQLSTATE of a psycopg2 error, also when SQLAlchemy wraps it."""
    return getattr(exc, "pgcode", None) or getattr(getattr(exc, "orig", None), "pgcode", None)


class _Group(click.Group):
    """Every command's errors in one place: a YtdqError, or a PostgreSQL/Redis error nothing caught,
    is one ``error:`` line naming the masked URL and the fix, exit 2 (YtdqError: its exit_code).
    Usage errors exit 2 (click's default); unknown errors (bugs) keep their traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except Exception as exc:  # noqa: BLE001 - _handle re-raises what it does not know
            _handle(exc)


@click.group(cls=_Group)
@click.version_option(package_name="ytempire-dq")
def main() -> None:
    """ytempire-dq: YTEMPIRE's data-quality rules, run with Great Expectations."""


config_option = click.option(
    "--config",
    "config_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="The GX context directory [default: gx/ of the project].",
)


def parse_inject(values: tuple[str, ...]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for value in values:
        kind, sep, count = value.partition("=")
        if not sep or not count.strip().isdigit():
            raise click.BadParameter(f"{value!r}: expected KIND=COUNT, e.g. orphan_videos=5", param_hint="--inject")
        counts[kind.strip()] = counts.get(kind.strip(), 0) + int(count)
    return counts
