"""`ytdq monitor`: watch PostgreSQL and Redis."""

from __future__ import annotations

import sys

import click

from ytempire_dq.cli.app import fail, main
from ytempire_dq.errors import ExitCode


@main.command("monitor")
@click.option(
    "--once",
    is_flag=True,
    help="One pass, then exit (1 when an alert is WARNING or worse, 2 when a server could not be read).",
)
@click.option("--interval", type=float, default=60.0, show_default=True, help="Seconds between passes.")
@click.option("--json", "json_out", is_flag=True, help="Print each pass's readings and alerts as JSON.")
def monitor(once: bool, interval: float, json_out: bool) -> None:
    """Watch PostgreSQL and Redis: connections, long queries, bloat, replication lag, memory, AOF."""
    from ytempire_dq.ops import monitor as monitoring

    last: list = []  # the last pass's alerts

    def keep(found: list) -> None:
        last[:] = found

    code = monitoring.run(once=once, interval=interval, json_out=json_out, on_pass=keep)
    if code == ExitCode.RUN_FAILED:  # a server could not be read: one line (the alert log has it too)
        fail("; ".join(a.message for a in monitoring.unreachable(last)))
    sys.exit(code)
