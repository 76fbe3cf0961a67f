"""The ``ytdq`` command line: a thin shell over library functions (each command calls one).

One module per command group (``cli/checkpoint.py`` is ``ytdq checkpoint``, …); the group itself,
its single error handler and the shared options are in ``cli/app.py``. A new command group is a
new module here, imported below so that it registers itself on :data:`main`.
"""

from __future__ import annotations

import sys

import click

from ytempire_dq.cli import backup, cache, checkpoint, db, demo, docs, history, monitor, results, services, suite  # noqa: F401 - register
from ytempire_dq.cli.app import main
from ytempire_dq.errors import ExitCode
from ytempire_dq.gx import deferred_imports

__all__ = ["gx_main", "main"]

deferred_imports.defer()  # no command module has imported GX yet; what no rule uses, GX then does not load


GX_USAGE = "usage: great_expectations checkpoint run NAME [--json FILE] [--junit FILE] [--since-last | --full]"


def gx_main() -> None:
    """``great_expectations checkpoint run NAME``: the command pipelines already use; ``--help``
    and ``--version`` answer (exit 0), anything else is a usage error (exit 2)."""
    args = sys.argv[1:]
    if args[:1] == ["checkpoint"]:
        main(args=args, prog_name="ytdq")
        return
    if args in (["--help"], ["-h"]):
        click.echo(
            f"{GX_USAGE}\n\n  Run a checkpoint of this project, as `ytdq checkpoint run` does (see "
            "`ytdq checkpoint run --help`);\n  every other command is `ytdq`'s (`ytdq --help`)."
        )
        return
    if args == ["--version"]:
        from importlib.metadata import version

        click.echo(
            f"great_expectations (ytempire-dq {version('ytempire-dq')}, "
            f"Great Expectations {version('great_expectations')})"
        )
        return
    click.echo(GX_USAGE, err=True)
    sys.exit(ExitCode.RUN_FAILED)
