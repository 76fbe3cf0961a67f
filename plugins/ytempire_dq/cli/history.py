"""`ytdq history`: the run history kept in the `dq` schema of the results store (`YTDQ_STORE_URL`; unset, the checked database)."""

from __future__ import annotations

import json

import click
from rich.table import Table
from rich.text import Text

from ytempire_dq.cli.app import main, out


@main.command("history")
@click.argument("rule_id", required=False)
@click.option("--checkpoint", default=None, help="Only runs of this checkpoint.")
@click.option(
    "--source",
    default=None,
    help="Only runs that checked this source (YTDQ_SOURCE of the runs, else host:port/database).",
)
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True, help="How many runs.")
@click.option("--json", "json_out", is_flag=True, help="Print JSON instead of a table.")
def history(rule_id: str | None, checkpoint: str | None, source: str | None, limit: int, json_out: bool) -> None:
    """The last runs with their failed-rule counts and the source each checked; with RULE_ID, that
    rule's trend and since when it fails."""
    from ytempire_dq.store import history as run_history
    from ytempire_dq.store.metrics import band_text
    from ytempire_dq.values import jsonable

    if rule_id is None:
        runs = run_history.last_runs(checkpoint=checkpoint, limit=limit, source=source)
        if json_out:
            click.echo(json.dumps(jsonable(runs), indent=2))
            return
        table = Table("run_id", "checkpoint", "source", "verdict", "failed rules", "started", "seconds")
        for run in runs:
            verdict = "[green]passed[/]" if run["success"] else "[red]FAILED[/]"
            if run.get("rules_errored"):
                verdict = f"[red]error ({run['rules_errored']} could not run)[/]"
            seconds = (run["finished_at"] - run["started_at"]).total_seconds()
            table.add_row(
                run["run_id"],
                run["checkpoint"],
                Text(run.get("source") or ""),
                verdict,
                f"{run['rules_failed']}/{run['rules_total']}",
                str(run["started_at"])[:19],
                f"{seconds:.1f}",
            )
        out.print(table if runs else "no runs recorded yet")
        return
    trend = run_history.rule_trend(rule_id, checkpoint=checkpoint, limit=limit, source=source)
    if json_out:
        click.echo(json.dumps(jsonable(trend), indent=2))
        return
    measured = any(run.get("metric") for run in trend["runs"])  # a volume/drift rule: value and band
    extra = ("value", "band") if measured else ()
    table = Table(
        "run_id",
        "checkpoint",
        "verdict",
        "bad rows",
        "quarantined keys",
        *extra,
        "observed",
        title=rule_id,
        title_justify="left",
    )
    for run in trend["runs"]:
        verdict = "[green]passed[/]" if run["success"] else ("[red]error[/]" if run["error"] else "[red]FAILED[/]")
        bad = "" if run["unexpected_count"] is None else f"{run['unexpected_count']:,}"
        band = [Text(t) for t in band_text(run.get("metric"))] if measured else []
        table.add_row(
            run["run_id"],
            run["checkpoint"],
            verdict,
            bad,
            f"{run['quarantined']:,}",
            *band,
            str(run["observed_at"])[:19],
        )
    out.print(table)
    since = trend["failing_since"]
    out.print(f"failing since {str(since)[:19]}" if since else "passing in its latest run", highlight=False)
    latest = trend["runs"][0]
    if latest["quarantined"]:  # the SQL itself, unwrapped: it is copied as printed
        from ytempire_dq.store.quarantine import fetch_rows_sql

        out.print(f"its {latest['quarantined']:,} quarantined rows, on the checked database:", highlight=False)
        click.echo(fetch_rows_sql(rule_id, latest["run_id"]))
