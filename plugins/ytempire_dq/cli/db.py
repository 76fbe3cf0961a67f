"""`ytdq db`: migrations and seed data."""

from __future__ import annotations

from pathlib import Path

import click
from rich.markup import escape
from rich.table import Table

from ytempire_dq import config
from ytempire_dq.cli.app import err, main, out, parse_inject
from ytempire_dq.values import plural


@main.group("db")
def db_group() -> None:
    """Schema migrations and seed data."""


@db_group.command("migrate")
@click.option("--to", "to", type=int, default=None, help="Apply migrations up to this version.")
@click.option("--down", "down", type=int, default=None, help="Roll back to this version (0 = empty).")
def db_migrate(to: int | None, down: int | None) -> None:
    """Apply pending migrations (or roll back with --down N)."""
    from ytempire_dq.db import migrations

    log = lambda m: err.print(f"[dim]{escape(m)}[/]")  # noqa: E731
    if down is not None:
        done = migrations.rollback(to=down, log=log)
        click.echo(
            f"rolled back {plural(len(done), 'migration')}"
            + (f": {', '.join(m.path.name for m in done)}" if done else "")
        )
    else:
        done = migrations.migrate(to=to, log=log)
        click.echo(
            f"applied {plural(len(done), 'migration')}" + (f": {', '.join(m.path.name for m in done)}" if done else "")
        )


@db_group.command("status")
def db_status() -> None:
    """List migrations and whether each is applied."""
    from ytempire_dq.db import migrations

    table = Table("version", "name", "applied at", "checksum")
    for migration, applied in migrations.status():
        if applied is None:
            table.add_row(f"{migration.version:03d}", migration.name, "[yellow]pending[/]", "")
        else:
            ok = applied.checksum.strip() == migration.checksum
            table.add_row(
                f"{migration.version:03d}",
                migration.name,
                str(applied.applied_at)[:19],
                "ok" if ok else "[red]changed on disk[/]",
            )
    out.print(table)


@db_group.command("reset")
def db_reset() -> None:
    """Roll every migration back and apply them again: an empty database with every constraint."""
    from ytempire_dq.db import migrations

    migrations.rollback(to=0)
    done = migrations.migrate()
    click.echo(f"reset: {plural(len(done), 'migration')} applied to an empty schema")


@db_group.command("partition-analytics")
@click.option("--dry-run", is_flag=True, help="Print the statements the conversion would run; change nothing.")
@click.option(
    "--months-ahead",
    type=click.IntRange(min=0),
    default=3,
    show_default=True,
    help="Monthly partitions made beyond the later of the newest row and today.",
)
def db_partition_analytics(dry_run: bool, months_ahead: int) -> None:
    """Convert the plain analytics table, in place and in one transaction, into one partitioned
    by month on date (primary key (id, date)); refuses a table already partitioned."""
    from ytempire_dq.db import partition

    log = lambda m: err.print(f"[dim]{escape(m)}[/]")  # noqa: E731
    conversion = partition.partition_analytics(dry_run=dry_run, months_ahead=months_ahead, log=log)
    if dry_run:
        for statement in conversion.statements:
            click.echo(statement + ";")
    for note in conversion.notes:
        click.echo(f"-- note: {note}")
    click.echo(("-- " if dry_run else "") + conversion.summary())


@db_group.command("seed")
@click.option("--users", type=click.IntRange(min=1), default=100, show_default=True, help="How many users to make.")
@click.option(
    "--seed", "seed_value", type=int, default=42, show_default=True, help="Random seed (same seed, same data)."
)
@click.option("--inject", multiple=True, metavar="KIND=COUNT", help="Add COUNT rows breaking rule KIND (repeatable).")
@click.option(
    "--manifest",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where to write the {kind: count} manifest [default: .ytdq/seed_manifest.json].",
)
@click.option("--list-kinds", is_flag=True, help="List the defect kinds (with the rule that catches each) and exit.")
def db_seed(users: int, seed_value: int, inject: tuple[str, ...], manifest: Path | None, list_kinds: bool) -> None:
    """Fill the database with realistic data, then inject known defects."""
    from ytempire_dq.fixtures import seed

    if list_kinds:
        for name, kind in seed.DEFECT_KINDS.items():
            click.echo(f"{name:32} {kind.rule_id:44} {kind.description}")
        return
    counts = parse_inject(inject)
    report = seed.seed(
        users=users,
        seed=seed_value,
        inject=counts,
        manifest_path=manifest or config.STATE_DIR / "seed_manifest.json",
        progress=True,
    )
    out.print(report.summary())
