"""`ytdq demo`: the whole job on the embedded servers."""

from __future__ import annotations

import sys

import click
from rich.markup import escape

from ytempire_dq.cli.app import err, main, out
from ytempire_dq.cli.checkpoint import print_run, progress_line


@main.command("demo")
@click.option("--users", type=click.IntRange(min=1), default=200, show_default=True)
def demo(users: int) -> None:
    """The main job: services up, migrate, seed with known defects, run `nightly`, build Data Docs.

    Exits like `checkpoint run`: 1 here, because the demo injects defects on purpose.
    """
    from ytempire_dq.ops.demo import run_demo

    result = run_demo(users=users, log=lambda m: err.print(f"[dim]{escape(m)}[/]"), progress=progress_line)
    out.print(result["seed"].summary())
    print_run(result["report"])
    sys.exit(result["report"].exit_code)
