"""`ytdq results prune`: bounded growth of stored validation results and their Data Docs pages."""

from __future__ import annotations

from pathlib import Path

import click

from ytempire_dq.cli.app import config_option, main, out
from ytempire_dq.values import plural


@main.group("results")
def results_group() -> None:
    """Stored validation results (gx/uncommitted/validations) and their Data Docs pages."""


@results_group.command("prune")
@config_option
@click.option(
    "--keep-runs", type=click.IntRange(min=1), default=None, help="Keep the newest N runs of each checkpoint."
)
@click.option(
    "--older-than", "older_than", type=click.FloatRange(min=0), default=None, metavar="DAYS", help="Remove runs older."
)
@click.option(
    "--history", is_flag=True, help="Also delete those runs (and their quarantined keys) from the dq history."
)
@click.option("--dry-run", is_flag=True, help="Only say what would be removed.")
def prune(
    config_dir: Path | None, keep_runs: int | None, older_than: float | None, history: bool, dry_run: bool
) -> None:
    """Remove old runs' validation results, their Data Docs pages and index rows (and, with --history, their dq rows).

    Without --keep-runs or --older-than: keep to the project's retention (YTDQ_RETENTION_DAYS)."""
    from ytempire_dq import config
    from ytempire_dq.gx.context import open_context
    from ytempire_dq.locations import config_dir_of
    from ytempire_dq.store import retention

    if keep_runs is None and older_than is None:
        older_than = config.retention_days()
        out.print(f"keeping to the retention: {plural(older_than, 'day')} ({config.RETENTION_ENV})", highlight=False)
    url = config.database_url(required=history)
    ctx = open_context(config_dir_of(config_dir), database_url=url or "postgresql://unused/unused")
    done = retention.prune_context(
        ctx, keep_runs=keep_runs, older_than_days=older_than, history=history, database_url=url, dry_run=dry_run
    )
    out.print(retention.summary(done, dry_run), highlight=False, soft_wrap=True)
