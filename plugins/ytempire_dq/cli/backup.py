"""`ytdq backup [list|prune]`, `ytdq restore` and `ytdq drill`: backups with PostgreSQL's own tools,
point-in-time restore into a scratch cluster, and the recovery drill that measures RTO and RPO."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from ytempire_dq import config
from ytempire_dq.cli.app import err, main, out
from ytempire_dq.values import plural

dir_option = click.option(
    "--dir",
    "folder",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="The backup folder [default: YTDQ_BACKUP_DIR, else the embedded cluster's].",
)


def _log(message: str) -> None:
    err.print(f"[dim]{escape(config.mask_secrets(message))}[/]", highlight=False, soft_wrap=True)


def _size(n: int) -> str:
    return f"{n / 1e6:,.1f} MB"


@main.group("backup", invoke_without_command=True)
@dir_option
@click.option("--no-verify", is_flag=True, help="Skip pg_verifybackup on the new backup.")
@click.pass_context
def backup_group(ctx: click.Context, folder: Path | None, no_verify: bool) -> None:
    """Take a base backup (pg_basebackup) of DATABASE_URL's server into the backup folder.

    Restoring past the backup's end needs the server to archive its WAL into the folder's wal/
    (the embedded cluster of `ytdq services up` does; other servers: docs/backups.md, "Backups and recovery")."""
    if ctx.invoked_subcommand:
        return
    from ytempire_dq.ops import backup

    url = config.store_url()  # the owner: a base backup needs the REPLICATION the checks' role lacks
    target = backup.backup_dir(config.STATE_DIR, folder, url)
    taken, settings = backup.take_backup(url, target, verify=not no_verify, log=_log)
    click.echo(f"backup {taken.label} ({_size(taken.size)}) in {taken.path}")
    if settings.get("archive_mode") == "off":
        err.print(
            "[yellow]warning:[/] the server does not archive its WAL (archive_mode=off): this backup restores "
            "only to its own end point (`ytdq services down && ytdq services up` turns archiving on for the "
            "embedded cluster)",
            highlight=False,
        )
    else:
        click.echo(f"WAL archiving: on (a new segment at least every {settings.get('archive_timeout')} s)")


@backup_group.command("list")
@dir_option
@click.option("--json", "json_out", is_flag=True, help="Print JSON instead of a table.")
def backup_list(folder: Path | None, json_out: bool) -> None:
    """The base backups (oldest first) and the archived WAL."""
    from ytempire_dq.ops import backup

    target = backup.backup_dir(config.STATE_DIR, folder)
    found, wal = backup.list_backups(target), backup.wal_summary(target)
    if json_out:
        click.echo(json.dumps({"folder": str(target), "backups": [b.to_dict() for b in found], "wal": wal}, indent=2))
        return
    table = Table("label", "started (UTC)", "finished (UTC)", "age", "size", "first WAL segment", title=str(target))
    for b in found:
        finished = b.finished.strftime("%Y-%m-%d %H:%M:%S") if b.finished else "?"
        age = f"{b.age_days():.1f} d"
        table.add_row(
            b.label, b.started.strftime("%Y-%m-%d %H:%M:%S"), finished, age, _size(b.size), b.start_wal or "?"
        )
    out.print(table if found else f"no base backups in {target}", highlight=False)
    newest = f", newest {wal['newest']} at {wal['newest_at'][:19]}" if wal["newest"] else ""
    out.print(f"archived WAL: {plural(wal['segments'], 'segment')}, {_size(wal['size'])}{newest}", highlight=False)


@backup_group.command("prune")
@dir_option
@click.option(
    "--days",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Keep base backups younger than this [default: YTDQ_BACKUP_RETENTION_DAYS, else 30].",
)
def backup_prune(folder: Path | None, days: float | None) -> None:
    """Delete base backups older than the retention (the newest always stays) and the archived WAL
    no remaining backup needs (pg_archivecleanup)."""
    from ytempire_dq.ops import backup

    target = backup.backup_dir(config.STATE_DIR, folder)
    done = backup.prune(target, days, log=_log)
    click.echo(
        f"removed {plural(len(done['removed']), 'base backup')}{': ' + ', '.join(done['removed']) if done['removed'] else ''}; "
        f"kept {len(done['kept'])}; removed {plural(done['wal_removed'], 'archived WAL file')}"
    )


@main.command("restore")
@click.option("--to", "to", default="latest", show_default=True, help="'latest' or a time (ISO 8601; no zone: local).")
@click.option("--into", "into", type=click.Path(file_okay=False, path_type=Path), required=True, help="New data dir.")
@dir_option
@click.option("--port", type=int, default=None, help="Port of the restored cluster [default: a free one].")
@click.option("--stop", is_flag=True, help="Stop the restored cluster in --into instead (its files stay).")
def restore_cmd(to: str, into: Path, folder: Path | None, port: int | None, stop: bool) -> None:
    """Bring up a scratch cluster from the newest base backup before --to plus the archived WAL,
    on its own port; prints its URL. The source server is not touched."""
    from ytempire_dq.ops import backup, restore

    if stop:
        stopped = restore.stop_cluster(into.resolve())
        click.echo(f"stopped the cluster in {into}" if stopped else f"no cluster runs in {into}")
        return
    target = restore.parse_target(to)
    source = config.store_url(required=False)  # the owner: the restore switches its WAL
    done = restore.restore(
        backup.backup_dir(config.STATE_DIR, folder, source),
        into,
        target=target,
        source_url=source,
        port=port,
        log=_log,
    )
    click.echo(f"restored {done.base} + archived WAL in {done.seconds:.1f} s into {done.datadir}")
    last = done.recovered_to.isoformat() if done.recovered_to else f"none after base backup {done.base}"
    click.echo(f"last commit replayed: {last}")
    click.echo(f"export DATABASE_URL={config.mask_url(done.url)}")
    click.echo(f"stop it with: ytdq restore --stop --into {done.datadir}")


@main.command("drill")
@click.option("--users", type=click.IntRange(min=1), default=20, show_default=True, help="Seeded users (1,430 ≈ 1M).")
@click.option("--interval", type=click.FloatRange(min=0, min_open=True), default=5.0, show_default=True,
              help="Seconds between marker transactions.")  # fmt: skip
@click.option("--before", type=float, default=None, help="Seconds of writing before the backup [3 intervals].")
@click.option("--after", type=float, default=None, help="Seconds of writing after it [archive timeout + 3 intervals].")
@click.option("--archive-timeout", type=click.IntRange(min=1), default=60, show_default=True,
              help="The primary's archive_timeout: bounds the RPO.")  # fmt: skip
@click.option("--workload-rate", type=click.IntRange(min=0), default=500, show_default=True, help="Rows/s inserted.")
@click.option("--redis-seconds", type=click.FloatRange(min=0.1), default=2.0, show_default=True,
              help="Seconds of Redis writes before the SIGKILL.")  # fmt: skip
@click.option("--checkpoint", default="nightly", show_default=True, help="Checkpoint run against the restored copy.")
@click.option("--workdir", type=click.Path(file_okay=False, path_type=Path), default=None, help="[a new /var/tmp dir]")
@click.option("--keep", is_flag=True, help="Keep the work directory (primary.lost, restored, backups).")
@click.option("--record", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Append the report as a JSON line here [default: .ytdq/drills.jsonl].")  # fmt: skip
@click.option("--json", "json_out", is_flag=True, help="Print the report as JSON instead of a table.")
def drill_cmd(record: Path | None, json_out: bool, **options) -> None:
    """Lose a durable scratch primary under load, restore it to the latest point, run the checkpoint
    on the copy; report RTO, RPO, the verdict and Redis's AOF loss. Exit 0: rules met and targets
    met (RTO < 30 min, RPO < 15 min); 1: rules or a target failed; 2: the drill could not run."""
    from ytempire_dq.ops.drill import run_drill
    from ytempire_dq.values import jsonable

    report = run_drill(**options, log=_log)
    data = jsonable(report.to_dict())
    record = record or config.STATE_DIR / "drills.jsonl"
    record.parent.mkdir(parents=True, exist_ok=True)
    with open(record, "a") as f:
        f.write(json.dumps(data, default=str) + "\n")
    if json_out:
        click.echo(json.dumps(data, indent=2, default=str))
    else:
        out.print(drill_table(report))
    sys.exit(report.exit_code)


def drill_table(report) -> Table:
    def met(ok: bool) -> str:
        return "[green]yes[/]" if ok else "[red]NO[/]"

    t = report.targets
    ck = report.checkpoint
    table = Table(
        "measure", "value", "target", "met", title=f"recovery drill ({report.users} users)", title_justify="left"
    )
    table.add_row(
        "RTO (loss → copy answering and validated)",
        f"{report.rto_seconds:.1f} s (restore {report.restore_seconds:.1f} s + {ck['name']} {report.validate_seconds:.1f} s)",
        f"< {t['rto_seconds'] / 60:.0f} min",
        met(report.rto_seconds <= t["rto_seconds"]),
    )
    newest = report.newest_restored or {}
    table.add_row(
        "RPO (newest committed − newest restored marker)",
        f"{report.rpo_seconds:.2f} s ({report.markers_lost} of {report.markers_committed} markers lost; "
        f"restored up to #{newest.get('seq', '?')})",
        f"< {t['rpo_seconds'] / 60:.0f} min",
        met(report.rpo_seconds <= t["rpo_seconds"]),
    )
    verdict = "passed" if ck["success"] else f"FAILED: {', '.join(ck['failed']) or 'rules could not run'}"
    table.add_row(
        f"checkpoint {ck['name']} on the copy",
        Text(f"{verdict} ({plural(ck['rules'], 'rule')})"),
        "passed",
        met(ck["success"]),
    )
    table.add_row(
        "base backup",
        f"{report.backup['label']}, {_size(report.backup['size'])}, {report.backup['seconds']:.1f} s",
        "",
        "",
    )
    r = report.redis
    table.add_row(
        "Redis AOF (everysec), SIGKILL mid-write",
        f"{r['survived']:,} of {r['acknowledged']:,} acknowledged writes survived ({r['lost']} lost, "
        f"window {r['lost_window_seconds']:.3f} s)",
        "≤ 1 s of writes",
        met(r["lost_window_seconds"] <= 1.0 and r["survivors_are_a_prefix"]),
    )
    return table
