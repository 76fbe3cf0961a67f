"""The ``ytdq`` command line: a thin shell over library functions (each command calls one).

Exit codes (see :class:`ytempire_dq.errors.ExitCode`): 0 ok, 1 data failed, 2 the run could not
happen. Every :class:`YtdqError` becomes one line on stderr and exit 2. GX is imported only by the
commands that need it (its import alone takes seconds).
"""

from __future__ import annotations

import functools
import json
import os
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from ytempire_dq import config, services
from ytempire_dq.errors import ExitCode, YtdqError

out = Console()
err = Console(stderr=True)


def _fail(message: str) -> None:
    err.print(f"[bold red]error:[/] {config.mask_secrets(message)}", highlight=False, soft_wrap=True)
    sys.exit(ExitCode.RUN_FAILED)


def handles_errors(fn):
    """Turn a YtdqError into one line on stderr and exit code 2."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except YtdqError as exc:
            _fail(str(exc))

    return wrapper


class _Group(click.Group):
    """Usage errors exit 2 (click's default too); unknown errors are not swallowed."""


@click.group(cls=_Group)
@click.version_option(package_name="ytempire-dq")
def main() -> None:
    """ytempire-dq: YTEMPIRE's data-quality rules, run with Great Expectations."""


# ---------------------------------------------------------------------------------------------
# services


@main.group("services")
def services_group() -> None:
    """Embedded PostgreSQL and redis-server under .ytdq/ (used when DATABASE_URL/REDIS_URL are unset)."""


@services_group.command("up")
@handles_errors
def services_up() -> None:
    """Start the embedded servers (harmless when they already run) and print the URLs to export."""
    state = services.up(config.STATE_DIR, log=lambda m: err.print(f"[dim]{m}[/]"))
    for name, env in (("postgres", "DATABASE_URL"), ("redis", "REDIS_URL")):
        url = os.environ.get(env) or state[name]["url"]
        click.echo(f"export {env}={config.mask_url(url)}")


@services_group.command("down")
@click.option("--purge", is_flag=True, help="Also delete the embedded servers' data.")
@handles_errors
def services_down(purge: bool) -> None:
    """Stop the embedded servers that `up` started (and nothing else)."""
    stopped = services.down(config.STATE_DIR, purge=purge)
    click.echo("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))


@services_group.command("status")
@handles_errors
def services_status() -> None:
    """Show which servers run, where, and whether they are embedded or from the environment."""
    table = Table("service", "source", "running", "url")
    for name, info in services.status(config.STATE_DIR).items():
        running = {True: "[green]yes[/]", False: "[red]no[/]", None: "external"}[info["running"]]
        table.add_row(name, info["source"], running, config.mask_url(info["url"]))
    out.print(table)


# ---------------------------------------------------------------------------------------------
# database


@main.group("db")
def db_group() -> None:
    """Schema migrations and seed data."""


@db_group.command("migrate")
@click.option("--to", "to", type=int, default=None, help="Apply migrations up to this version.")
@click.option("--down", "down", type=int, default=None, help="Roll back to this version (0 = empty).")
@handles_errors
def db_migrate(to: int | None, down: int | None) -> None:
    """Apply pending migrations (or roll back with --down N)."""
    from ytempire_dq.db import migrations

    log = lambda m: err.print(f"[dim]{m}[/]")  # noqa: E731
    if down is not None:
        done = migrations.rollback(to=down, log=log)
        click.echo(f"rolled back {len(done)} migration(s)" + (f": {', '.join(m.path.name for m in done)}" if done else ""))
    else:
        done = migrations.migrate(to=to, log=log)
        click.echo(f"applied {len(done)} migration(s)" + (f": {', '.join(m.path.name for m in done)}" if done else ""))


@db_group.command("status")
@handles_errors
def db_status() -> None:
    """List migrations and whether each is applied."""
    from ytempire_dq.db import migrations

    table = Table("version", "name", "applied at", "checksum")
    for migration, applied in migrations.status():
        if applied is None:
            table.add_row(f"{migration.version:03d}", migration.name, "[yellow]pending[/]", "")
        else:
            ok = applied.checksum.strip() == migration.checksum
            table.add_row(f"{migration.version:03d}", migration.name, str(applied.applied_at)[:19],
                          "ok" if ok else "[red]changed on disk[/]")
    out.print(table)


@db_group.command("reset")
@handles_errors
def db_reset() -> None:
    """Roll every migration back and apply them again: an empty database with every constraint."""
    from ytempire_dq.db import migrations

    migrations.rollback(to=0)
    done = migrations.migrate()
    click.echo(f"reset: {len(done)} migration(s) applied to an empty schema")


def _parse_inject(values: tuple[str, ...]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for value in values:
        kind, sep, count = value.partition("=")
        if not sep or not count.strip().isdigit():
            raise click.BadParameter(f"{value!r}: expected KIND=COUNT, e.g. orphan_videos=5", param_hint="--inject")
        counts[kind.strip()] = counts.get(kind.strip(), 0) + int(count)
    return counts


@db_group.command("seed")
@click.option("--users", type=click.IntRange(min=1), default=100, show_default=True, help="How many users to make.")
@click.option("--seed", "seed_value", type=int, default=42, show_default=True, help="Random seed (same seed, same data).")
@click.option("--inject", multiple=True, metavar="KIND=COUNT", help="Add COUNT rows breaking rule KIND (repeatable).")
@click.option("--manifest", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Where to write the {kind: count} manifest [default: .ytdq/seed_manifest.json].")
@click.option("--list-kinds", is_flag=True, help="List the defect kinds and exit.")
@handles_errors
def db_seed(users: int, seed_value: int, inject: tuple[str, ...], manifest: Path | None, list_kinds: bool) -> None:
    """Fill the database with realistic data, then inject known defects."""
    from ytempire_dq.db import seed

    if list_kinds:
        for name, kind in seed.DEFECT_KINDS.items():
            click.echo(f"{name:32} {kind.description}")
        return
    counts = _parse_inject(inject)
    report = seed.seed(users=users, seed=seed_value, inject=counts,
                       manifest_path=manifest or config.STATE_DIR / "seed_manifest.json", progress=True)
    out.print(report.summary())


@main.command("demo")
@click.option("--users", type=click.IntRange(min=1), default=200, show_default=True)
@handles_errors
def demo(users: int) -> None:
    """The main job on this machine: services up, migrate, seed with known defects, summary."""
    from ytempire_dq.demo import run_demo

    result = run_demo(users=users, log=lambda m: err.print(f"[dim]{m}[/]"))
    out.print(result["seed"].summary())


# ---------------------------------------------------------------------------------------------
# the `great_expectations` console script


def gx_main() -> None:
    """``great_expectations checkpoint run NAME``: the command pipelines already use."""
    args = sys.argv[1:]
    if len(args) >= 1 and args[0] == "checkpoint":
        sys.argv = ["ytdq", *args]
        main()
        return
    click.echo("usage: great_expectations checkpoint run NAME [--json FILE]", err=True)
    sys.exit(ExitCode.RUN_FAILED)


if __name__ == "__main__":
    main()
