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
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from ytempire_dq import config, services
from ytempire_dq.errors import ExitCode, YtdqError, with_hint

# Pipelines read our output from logs, not terminals: give tables room there (rich's default is 80).
_width = None if sys.stdout.isatty() or os.environ.get("COLUMNS") else 160
out = Console(width=_width)
err = Console(stderr=True, width=_width)


def _fail(message: str, code: int = ExitCode.RUN_FAILED) -> None:
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


def _handle(exc: Exception) -> None:
    """A :class:`YtdqError` (its own exit code) or a server error: one line, exit; else re-raise."""
    if isinstance(exc, YtdqError):
        _fail(str(exc), exc.exit_code)
    message = _server_error(exc)
    if message is None:
        raise exc
    _fail(message)


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


# ---------------------------------------------------------------------------------------------
# services


@main.group("services")
def services_group() -> None:
    """Embedded PostgreSQL and redis-server under .ytdq/ (used when DATABASE_URL/REDIS_URL are unset)."""


@services_group.command("up")
def services_up() -> None:
    """Start the embedded servers (harmless when they already run) and print the URLs to export."""
    state = services.up(config.STATE_DIR, log=lambda m: err.print(f"[dim]{escape(m)}[/]"))
    for name, env in (("postgres", "DATABASE_URL"), ("redis", "REDIS_URL")):
        url = os.environ.get(env) or state[name]["url"]
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
    exits 2 with one line naming its masked URL."""
    table = Table("service", "source", "running", "url")
    problems = []
    for name, info in services.status(config.STATE_DIR).items():
        running = info["running"]
        if info["source"].startswith("external"):  # ask it for real (a port that answers may refuse us)
            problem = _unreachable(name, info["url"])
            running = problem is None
            problems += [problem] if problem else []
        table.add_row(name, info["source"], "[green]yes[/]" if running else "[red]no[/]", config.mask_url(info["url"]))
    out.print(table)
    if problems:
        _fail("; ".join(problems))


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


# ---------------------------------------------------------------------------------------------
# database


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
            f"rolled back {len(done)} migration(s)" + (f": {', '.join(m.path.name for m in done)}" if done else "")
        )
    else:
        done = migrations.migrate(to=to, log=log)
        click.echo(f"applied {len(done)} migration(s)" + (f": {', '.join(m.path.name for m in done)}" if done else ""))


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
    from ytempire_dq.db import seed

    if list_kinds:
        for name, kind in seed.DEFECT_KINDS.items():
            click.echo(f"{name:32} {kind.rule_id:44} {kind.description}")
        return
    counts = _parse_inject(inject)
    report = seed.seed(
        users=users,
        seed=seed_value,
        inject=counts,
        manifest_path=manifest or config.STATE_DIR / "seed_manifest.json",
        progress=True,
    )
    out.print(report.summary())


# ---------------------------------------------------------------------------------------------
# checkpoints, suites, Data Docs

config_option = click.option(
    "--config",
    "config_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="The GX context directory [default: gx/ of the project].",
)


def _rules_table(title: str, rows: list[dict]) -> Table:
    from ytempire_dq.results import bounded_text  # cut before masking: linear, bounded

    table = Table("rule_id", "table", "bad rows", "sample values", title=title, title_justify="left")
    for row in rows:
        sample = row["error"] or ", ".join(json.dumps(v, default=str) for v in row["sample"])
        bad = "" if row["bad_rows"] is None else f"{row['bad_rows']:,}"
        # Text cells: data values are never read as rich markup ("[/x]" would raise, "[red]" would style)
        table.add_row(
            Text(row["rule_id"] or "?"),
            Text(row["table"] or ""),
            bad,
            Text(config.mask_secrets(bounded_text(sample, 120))),
        )
    return table


def print_run(report, table: bool = True) -> None:
    """The terminal view of a run: verdict line, failed rules, action problems, Data Docs path;
    on stderr one ``error:`` line per distinct cause of the rules that could not run (exit 2)."""
    rules = report.rules()
    errors = report.error_lines()
    failed = [row for row in report.failed_rules() if row["error"] is None]
    if table:
        verdict = "[bold green]passed[/]" if report.success else "[bold red]FAILED[/]"
        broken = f", {sum(r.error is not None for r in rules)} could not run" if errors else ""
        out.print(
            f"checkpoint [bold]{report.checkpoint}[/] {verdict}: {sum(r.success for r in rules)}/{len(rules)} "
            f"rules met{broken} in {report.seconds:.1f} s (run {report.run_id})",
            highlight=False,
        )
        if failed:
            out.print(_rules_table(f"{len(failed)} failed rule(s)", failed))
    for problem in report.action_errors:
        err.print(f"[yellow]warning:[/] {escape(config.mask_secrets(problem))}", highlight=False)
    if table and report.data_docs:
        out.print(f"Data Docs: {report.data_docs}", highlight=False, soft_wrap=True)
    for line in errors:
        err.print(f"[bold red]error:[/] {escape(config.mask_secrets(line))}", highlight=False, soft_wrap=True)


@main.group("checkpoint")
def checkpoint_group() -> None:
    """Run the rules: a checkpoint is a list of suites, each against a table or the cache."""


@checkpoint_group.command("run")
@click.argument("name")
@click.option(
    "--json",
    "json_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write the result as JSON to this file ('-' for stdout).",
)
@config_option
@click.option("--concurrent", is_flag=True, help="Run validation definitions in parallel threads.")
@click.option(
    "--verbose", is_flag=True, help="Also show GX's log output on stderr (always in gx/uncommitted/logs/ytdq.log)."
)
def checkpoint_run(name: str, json_file: Path | None, config_dir: Path | None, concurrent: bool, verbose: bool) -> None:
    """Run checkpoint NAME. Exit 0: every rule met; 1: data failed; 2: the run could not happen
    (a rule that could not be evaluated included)."""
    from ytempire_dq import context
    from ytempire_dq.checkpoints import run_checkpoint

    if verbose:
        context.log_to_stderr()
    report = run_checkpoint(name, config_dir=config_dir, concurrent=concurrent, progress=_progress)
    if json_file is not None:
        text = json.dumps(report.to_dict(), indent=2, default=str)
        if str(json_file) == "-":
            click.echo(text)
        else:
            json_file.parent.mkdir(parents=True, exist_ok=True)
            json_file.write_text(text + "\n")
    print_run(report, table=str(json_file) != "-")
    sys.exit(report.exit_code)


def _progress(event: dict) -> None:
    """One line on stderr per validation definition as it finishes."""
    mark = "[green]ok[/]" if event.get("success") else "[red]failed[/]"
    if event.get("errors"):
        mark += f" [red]({event['errors']} could not run)[/]"
    err.print(
        f"[dim][{event.get('index')}/{event.get('total')}][/] {escape(str(event.get('name')))}: {mark}", highlight=False
    )


@checkpoint_group.command("list")
@config_option
def checkpoint_list(config_dir: Path | None) -> None:
    """The checkpoints this project defines."""
    from ytempire_dq.checkpoints import list_checkpoints

    for name in list_checkpoints(config_dir=config_dir):
        click.echo(name)


@main.group("suite")
def suite_group() -> None:
    """The suites: one JSON file of rules per table (plus cross_table and cache)."""


@suite_group.command("list")
@config_option
def suite_list(config_dir: Path | None) -> None:
    """Every suite with its number of rules and its file."""
    from ytempire_dq import suites

    table = Table("suite", "rules", "file")
    for name in suites.list_suites(config_dir):
        shown = suites.show_suite(name, config_dir)
        table.add_row(Text(name), str(len(shown["expectations"])), Text(shown["file"]))
    out.print(table)


@suite_group.command("show")
@click.argument("name")
@config_option
def suite_show(name: str, config_dir: Path | None) -> None:
    """The rules of suite NAME: rule_id, expectation type, column, description, and the database
    constraint that also enforces the rule (empty: only this rule guards it)."""
    from ytempire_dq import suites

    shown = suites.show_suite(name, config_dir)
    table = Table("rule_id", "type", "column", "description", "enforced_by", title=shown["file"], title_justify="left")
    for rule in shown["expectations"]:
        table.add_row(
            Text(rule["rule_id"]) if rule["rule_id"] else "[red]missing[/]",
            Text(rule["type"]),
            Text(rule["column"] or ""),
            Text(rule["description"] or ""),
            Text(rule["enforced_by"] or ""),
        )
    out.print(table)


@suite_group.command("new")
@click.argument("name")
@click.option("--asset", required=True, help="The data asset (a table, or redis_snapshot) the suite checks.")
@click.option("--checkpoint", default=None, help="Also run the new suite in this checkpoint.")
@config_option
def suite_new(name: str, asset: str, checkpoint: str | None, config_dir: Path | None) -> None:
    """Create an empty suite NAME for ASSET (and its validation definition); then add rules to its file."""
    from ytempire_dq import suites

    made = suites.new_suite(name, asset, checkpoint=checkpoint, config_dir=config_dir)
    click.echo(
        f"suite {name}: {made['suite']} (validation definition {made['validation_definition']}"
        + (f", run by checkpoint {checkpoint}" if checkpoint else "")
        + ")"
    )
    click.echo('add rules to its "expectations" list (README: Add a rule), then: ytdq suite lint')


@suite_group.command("lint")
@click.option("--fix", is_flag=True, help="First write an id into every rule that has none (the id runs already use).")
@config_option
@click.option("--offline", is_flag=True, help="Check the files only: no database (columns and SQL rules unchecked).")
def suite_lint(fix: bool, config_dir: Path | None, offline: bool) -> None:
    """Load every suite and checkpoint; report problems by file and rule (exit 2 on any error).

    Columns and SQL rules are checked against DATABASE_URL: without a reachable, migrated database
    lint exits 2, unless --offline."""
    from ytempire_dq import suites

    for changed in suites.fix_ids(config_dir) if fix else []:
        click.echo(
            f"{changed['file']}: wrote {changed['ids']} id(s)"
            + (" (reformatted the way GX writes suites)" if changed["reformatted"] else "")
        )
    problems = suites.lint(config_dir, offline=offline)
    for problem in problems:
        colour = "red" if problem.level == "error" else "yellow"
        click.echo(click.style(config.mask_secrets(str(problem)), fg=colour))
    errors = [p for p in problems if p.level == "error"]
    click.echo(
        f"{len(suites.list_suites(config_dir))} suite(s) checked: {len(errors)} error(s), "
        f"{len(problems) - len(errors)} warning(s)"
    )
    sys.exit(ExitCode.RUN_FAILED if errors else ExitCode.OK)


@main.group("docs")
def docs_group() -> None:
    """Data Docs: the browsable pages of suites and validation results."""


@docs_group.command("build")
@config_option
def docs_build(config_dir: Path | None) -> None:
    """Rebuild Data Docs from the stored suites and results; print the path of index.html."""
    from ytempire_dq import suites

    click.echo(suites.docs_build(config_dir))


@docs_group.command("serve")
@config_option
@click.option("--port", type=int, default=8765, show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True)
def docs_serve(config_dir: Path | None, port: int, host: str) -> None:
    """Build Data Docs and serve them over HTTP until Ctrl-C."""
    import http.server

    from ytempire_dq import suites

    index = suites.docs_build(config_dir)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(index.parent))
    try:
        server = http.server.ThreadingHTTPServer((host, port), handler)
    except OSError as exc:
        raise YtdqError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    out.print(f"serving Data Docs at http://{host}:{port}/index.html (Ctrl-C stops)", highlight=False)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


# ---------------------------------------------------------------------------------------------
# cache, monitoring


@main.group("cache")
def cache_group() -> None:
    """The Redis cache: seed it from PostgreSQL (with known defects)."""


@cache_group.command("seed")
@click.option("--seed", "seed_value", type=int, default=42, show_default=True)
@click.option("--inject", multiple=True, metavar="KIND=COUNT", help="Break COUNT keys by KIND (repeatable).")
@click.option(
    "--manifest",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where to write the {kind: count} manifest [default: .ytdq/cache_manifest.json].",
)
@click.option("--list-kinds", is_flag=True, help="List the cache defect kinds and exit.")
def cache_seed(seed_value: int, inject: tuple[str, ...], manifest: Path | None, list_kinds: bool) -> None:
    """Fill Redis consistently with PostgreSQL (sessions, video stats, rate limits), then break it on purpose."""
    from ytempire_dq import cache

    if list_kinds:
        for name, description in cache.CACHE_DEFECT_KINDS.items():
            click.echo(f"{name:28} {description}")
        return
    result = cache.seed_cache(
        seed=seed_value,
        inject=_parse_inject(inject),
        manifest_path=manifest or config.STATE_DIR / "cache_manifest.json",
    )
    click.echo(
        f"cache: {result['keys']:,} keys ({result['sessions']:,} sessions, {result['video_stats']:,} video stats, "
        f"{result['rate_limits']:,} rate limits) in {result['seconds']:.1f} s; injected {result['injected'] or 'nothing'}"
    )


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
    from ytempire_dq import monitor as monitoring

    last: list = []  # the last pass's alerts

    def keep(found: list) -> None:
        last[:] = found

    code = monitoring.run(once=once, interval=interval, json_out=json_out, on_pass=keep)
    if code == ExitCode.RUN_FAILED:  # a server could not be read: one line (the alert log has it too)
        _fail("; ".join(a.message for a in monitoring.unreachable(last)))
    sys.exit(code)


@main.command("history")
@click.argument("rule_id", required=False)
@click.option("--checkpoint", default=None, help="Only runs of this checkpoint.")
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True, help="How many runs.")
@click.option("--json", "json_out", is_flag=True, help="Print JSON instead of a table.")
def history(rule_id: str | None, checkpoint: str | None, limit: int, json_out: bool) -> None:
    """The last runs with their failed-rule counts; with RULE_ID, that rule's trend and since when it fails."""
    from ytempire_dq import history as run_history
    from ytempire_dq.results import jsonable

    if rule_id is None:
        runs = run_history.last_runs(checkpoint=checkpoint, limit=limit)
        if json_out:
            click.echo(json.dumps(jsonable(runs), indent=2))
            return
        table = Table("run_id", "checkpoint", "verdict", "failed rules", "started", "seconds")
        for run in runs:
            verdict = "[green]passed[/]" if run["success"] else "[red]FAILED[/]"
            if run.get("rules_errored"):
                verdict = f"[red]error ({run['rules_errored']} could not run)[/]"
            seconds = (run["finished_at"] - run["started_at"]).total_seconds()
            table.add_row(
                run["run_id"],
                run["checkpoint"],
                verdict,
                f"{run['rules_failed']}/{run['rules_total']}",
                str(run["started_at"])[:19],
                f"{seconds:.1f}",
            )
        out.print(table if runs else "no runs recorded yet")
        return
    trend = run_history.rule_trend(rule_id, checkpoint=checkpoint, limit=limit)
    if json_out:
        click.echo(json.dumps(jsonable(trend), indent=2))
        return
    table = Table(
        "run_id",
        "checkpoint",
        "verdict",
        "bad rows",
        "quarantined keys",
        "observed",
        title=rule_id,
        title_justify="left",
    )
    for run in trend["runs"]:
        verdict = "[green]passed[/]" if run["success"] else ("[red]error[/]" if run["error"] else "[red]FAILED[/]")
        bad = "" if run["unexpected_count"] is None else f"{run['unexpected_count']:,}"
        table.add_row(
            run["run_id"], run["checkpoint"], verdict, bad, f"{run['quarantined']:,}", str(run["observed_at"])[:19]
        )
    out.print(table)
    since = trend["failing_since"]
    out.print(f"failing since {str(since)[:19]}" if since else "passing in its latest run", highlight=False)


@main.command("demo")
@click.option("--users", type=click.IntRange(min=1), default=200, show_default=True)
def demo(users: int) -> None:
    """The main job: services up, migrate, seed with known defects, run `nightly`, build Data Docs.

    Exits like `checkpoint run`: 1 here, because the demo injects defects on purpose.
    """
    from ytempire_dq.demo import run_demo

    result = run_demo(users=users, log=lambda m: err.print(f"[dim]{escape(m)}[/]"), progress=_progress)
    out.print(result["seed"].summary())
    print_run(result["report"])
    sys.exit(result["report"].exit_code)


# ---------------------------------------------------------------------------------------------
# the `great_expectations` console script


def gx_main() -> None:
    """``great_expectations checkpoint run NAME``: the command pipelines already use."""
    args = sys.argv[1:]
    if args[:1] == ["checkpoint"]:
        main(args=args, prog_name="ytdq")
        return
    click.echo("usage: great_expectations checkpoint run NAME [--json FILE]", err=True)
    sys.exit(ExitCode.RUN_FAILED)


if __name__ == "__main__":
    main()
