"""`ytdq checkpoint`: run the rules, and the terminal view of a run (also used by `ytdq demo`)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from rich.markup import escape
from rich.table import Table

from ytempire_dq import config
from ytempire_dq.cli.app import config_option, err, error_message, main, out, text
from ytempire_dq.errors import ExitCode
from ytempire_dq.values import plural


def _rules_table(title: str, rows: list[dict]) -> Table:
    from ytempire_dq.run.report import bounded_text  # cut before masking: linear, bounded

    table = Table("rule_id", "table", "bad rows", "sample values", title=title, title_justify="left")
    for row in rows:
        sample = row["error"] or ", ".join(json.dumps(v, default=str) for v in row["sample"])
        bad = "" if row["bad_rows"] is None else f"{row['bad_rows']:,}"
        # Text cells: data values are never read as rich markup ("[/x]" would raise, "[red]" would style)
        table.add_row(
            text(row["rule_id"] or "?"),
            text(row["table"] or ""),
            bad,
            text(config.mask_secrets(bounded_text(sample, 120))),
        )
    return table


def print_run(report, table: bool = True, since_last: bool = False) -> None:
    """The terminal view of a run: verdict line (after ``--since-last``, a line saying what was
    scanned and why), failed rules, action problems, Data Docs path; on stderr one ``error:``
    line per distinct cause of the rules that could not run (exit 2)."""
    rules = report.rules()
    errors = report.error_lines()
    failed = [row for row in report.failed_rules() if row["error"] is None]
    if table:
        verdict = "[bold green]passed[/]" if report.success else "[bold red]FAILED[/]"
        broken = f", {sum(r.error is not None for r in rules)} could not run" if errors else ""
        out.print(
            f"checkpoint [bold]{report.checkpoint}[/] {verdict}: {sum(r.success for r in rules)}/{len(rules)} "
            f"rules met{broken} in {report.seconds:.1f} s (run {report.run_id}){_scan_note(report.scan)}",
            highlight=False,
        )
        if since_last and report.scan:
            scan = report.scan
            out.print(f"scan: {scan['mode']} ({escape(scan['reason'])}){_scan_note(scan)}", highlight=False)
        if failed:
            out.print(_rules_table(plural(len(failed), "failed rule"), failed))
    fell_back = [
        f"fast path fell back to GX alone for {f['rule_id']}: {f['cause']}" for f in report.fast_path()["fell_back"]
    ]
    for problem in [*report.action_errors, *report.warnings, *fell_back]:
        err.print(f"[yellow]warning:[/] {escape(config.mask_secrets(problem))}", highlight=False)
    if table and report.data_docs:
        out.print(f"Data Docs: {report.data_docs}", highlight=False, soft_wrap=True)
    _print_errors(errors)
    _print_errors([report.history_error] if report.history_error else [])  # exit 2: never lost in silence


def _scan_note(scan: dict | None) -> str:
    """``; incremental: analytics.date > 2026-11-30`` for an incremental run, else nothing."""
    if not scan or not scan.get("incremental"):
        return ""
    parts = [f"{escape(t)}.{escape(s['column'])} > {s['since']}" for t, s in scan["tables"].items() if s.get("since")]
    return "; incremental: " + ", ".join(parts)


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
@click.option(
    "--junit",
    "junit_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write JUnit XML to this file (a test case per rule; written on every exit code).",
)
@config_option
@click.option("--concurrent", is_flag=True, help="Run validation definitions in parallel threads (as --jobs 8).")
@click.option(
    "--jobs",
    type=click.IntRange(1, 16),
    default=None,
    help="Validation definitions validated at a time (default YTDQ_JOBS, else 1); each holds up to 2 "
    "connections to the checked database, and fewer run when it has no room for them.",
)
@click.option(
    "--since-last",
    is_flag=True,
    help="Row-level rules of append-mostly tables (gx/incremental.yml) only on rows newer than the last "
    "successful run's watermark; a full sweep when one is due.",
)
@click.option("--full", is_flag=True, help="A full sweep of every table (the default without --since-last).")
@click.option(
    "--verbose", is_flag=True, help="Also show GX's log output on stderr (always in gx/uncommitted/logs/ytdq.log)."
)
def checkpoint_run(
    name: str,
    json_file: Path | None,
    junit_file: Path | None,
    config_dir: Path | None,
    concurrent: bool,
    jobs: int | None,
    since_last: bool,
    full: bool,
    verbose: bool,
) -> None:
    """Run checkpoint NAME. Exit 0: every rule met; 1: data failed; 2: the run could not happen
    (a rule that could not be evaluated included)."""
    from ytempire_dq.gx import context
    from ytempire_dq.run.checkpoint import run_checkpoint

    if since_last and full:
        raise click.UsageError("--since-last and --full exclude each other")
    if verbose:
        context.log_to_stderr()
    try:
        report = run_checkpoint(
            name,
            config_dir=config_dir,
            concurrent=concurrent,
            jobs=jobs,
            progress=progress_line,
            since_last=since_last,
            full=full,
        )
    except Exception as exc:
        message = error_message(exc)
        if message is not None:  # the run could not happen: the reports still say why (then the usual one line)
            _print_errors(_write_reports(json_file, junit_file, name, run_error=message))
            from ytempire_dq.actions.notify import page_not_running
            from ytempire_dq.locations import config_dir_of

            page_not_running(name, config_dir_of(config_dir), message)  # a paged checkpoint that cannot run
        raise
    unwritten = _write_reports(json_file, junit_file, name, report=report)
    print_run(report, table=str(json_file) != "-", since_last=since_last)
    from ytempire_dq.cli.services import warn_if_checks_can_write

    warn_if_checks_can_write()  # after the run: a run that could not happen says only why
    if unwritten:  # the verdict stands printed; a report the pipeline expects is missing: the step is broken
        _print_errors(unwritten)
        sys.exit(ExitCode.RUN_FAILED)
    sys.exit(report.exit_code)


def _write_reports(
    json_file: Path | None, junit_file: Path | None, name: str, *, report=None, run_error=None
) -> list[str]:
    """Write ``--junit`` and ``--json`` (on every exit code: of ``report``, or of a run that could
    not happen because of ``run_error``). A file that cannot be written is not a traceback: one
    line naming it is returned, and the other file is still written."""
    problems: list[str] = []
    if junit_file is not None:
        from ytempire_dq.run import junit

        xml = junit.from_report(report) if report is not None else junit.from_run_error(name, run_error)
        problems += _write(junit_file, "--junit", lambda path: junit.write(xml, path))
    if json_file is not None:
        data = report.to_dict() if report is not None else _run_error_dict(name, run_error)
        text = json.dumps(data, indent=2, default=str)
        if str(json_file) == "-":
            click.echo(text)
        else:
            problems += _write(json_file, "--json", lambda path: _write_text(path, text + "\n"))
    return problems


def _run_error_dict(name: str, message: str) -> dict:
    """``--json`` of a run that could not happen: the shape of a run's, no rule results, exit code 2,
    and ``error``: the line the command prints."""
    return {
        "checkpoint": name,
        "success": False,
        "exit_code": int(ExitCode.RUN_FAILED),
        "run_id": None,
        "data_docs": None,
        "snapshot": None,
        "scan": None,
        "fast_path": {"rules": 0, "fell_back": []},
        "error": message,
        "errors": [{"cause": message, "hint": None, "rule_ids": []}],
        "validations": [],
    }


def _write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _write(path: Path, option: str, write) -> list[str]:
    """``write(path)``; an OS error (no such folder, a file where a folder should be, no permission)
    is the line naming the path, in a list (empty: written)."""
    try:
        write(path)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        if isinstance(exc, FileExistsError):  # mkdir of a parent that is a file
            reason = f"{exc.filename} is a file, not a folder"
        return [f"cannot write the {option} file {path}: {reason}"]
    return []


def _print_errors(lines: list[str]) -> None:
    """One ``error:`` line on stderr per line (masked)."""
    for line in lines:
        err.print(f"[bold red]error:[/] {escape(config.mask_secrets(line))}", highlight=False, soft_wrap=True)


def progress_line(event: dict) -> None:
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
    from ytempire_dq import locations

    for name in locations.list_checkpoints(config_dir):
        click.echo(name)
