"""`ytdq services`: the embedded PostgreSQL and redis-server."""

from __future__ import annotations

import os

import click
from rich.markup import escape
from rich.table import Table

from ytempire_dq import config
from ytempire_dq.cli.app import err, fail, main, out
from ytempire_dq.errors import YtdqError, with_hint
from ytempire_dq.ops import services


@main.group("services")
def services_group() -> None:
    """Embedded PostgreSQL and redis-server under .ytdq/ (used when DATABASE_URL/REDIS_URL are unset)."""


@services_group.command("up")
def services_up() -> None:
    """Start the embedded servers (harmless when they already run) and print the URLs to export."""
    state = services.up(config.STATE_DIR, log=lambda m: err.print(f"[dim]{escape(m)}[/]"))
    for name, env in (("postgres", "DATABASE_URL"), ("redis", "REDIS_URL")):
        url = os.environ.get(env) or state[name].get("check_url") or state[name]["url"]  # the checks' read-only role
        click.echo(f"export {env}={config.mask_url(url)}")


@services_group.command("down")
@click.option("--purge", is_flag=True, help="Also delete the embedded servers' data.")
def services_down(purge: bool) -> None:
    """Stop the embedded servers that `up` started (and nothing else)."""
    stopped = services.down(config.STATE_DIR, purge=purge)
    click.echo("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))


@services_group.command("status")
def services_status() -> None:
    """Show which servers run, where, and whether they are embedded or from the environment.

    A server from the environment is reached (a connection, a PING); one that does not answer
    exits 2 with one line naming its masked URL. So does an embedded server that is down (stopped,
    crashed, or never started here): a status that exits 0 means both servers answer."""
    table = Table("service", "source", "running", "url")
    problems, down = [], []
    for name, info in services.status(config.STATE_DIR).items():
        running = info["running"]
        if info["source"].startswith("external"):  # ask it for real (a port that answers may refuse us)
            problem = _unreachable(name, info["url"])
            running = problem is None
            problems += [problem] if problem else []
        elif not running:
            down.append(f"{name} (data in {info['data']})" if info["data"] else f"{name} (never started here)")
        table.add_row(name, info["source"], "[green]yes[/]" if running else "[red]no[/]", config.mask_url(info["url"]))
    out.print(table)
    if down:
        problems.append(f"embedded server not running: {', '.join(down)}; start it with `ytdq services up`")
    if problems:
        fail("; ".join(problems))
    warn_if_checks_can_write()


def _unreachable(service: str, url: str) -> str | None:
    """None when the server at ``url`` answers, else why not (URL masked, with the fix)."""
    if service == "postgres":
        from ytempire_dq.db.connect import connect

        try:
            connect(url, connect_timeout=3).close()
        except YtdqError as exc:
            return with_hint(str(exc))
        return None
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3).ping()
    except (redis.RedisError, ValueError, OSError) as exc:
        return with_hint(f"cannot reach Redis at {config.mask_url(url)}: {config.one_line(exc, 300)}")
    return None


def warn_if_checks_can_write() -> None:
    """One ``warning:`` line on stderr when the role the checks connect as is a superuser or can
    write a table of its database (one connection, one query); nothing when the server cannot be
    asked (the command itself reports an unreachable server)."""
    import psycopg2

    from ytempire_dq.db import roles
    from ytempire_dq.db.connect import connect

    url = config.database_url(required=False)
    if not url:
        return
    try:
        conn = connect(url, autocommit=True, connect_timeout=3)
    except (YtdqError, psycopg2.Error):  # the command itself reports a server it cannot reach
        return
    try:
        with conn.cursor() as cur:
            cur.execute(roles.WRITER)
            warning = roles.writer_warning(*cur.fetchone())
    except psycopg2.Error:  # not knowing is no reason to fail the command
        return
    finally:
        conn.close()
    if warning:
        err.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False, soft_wrap=True)
