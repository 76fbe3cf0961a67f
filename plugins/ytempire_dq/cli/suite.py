"""`ytdq suite`: list, show, create and lint the suite files."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.table import Table

from ytempire_dq import config
from ytempire_dq.cli.app import config_option, main, out, text
from ytempire_dq.errors import ExitCode
from ytempire_dq.values import plural


@main.group("suite")
def suite_group() -> None:
    """The suites: one JSON file of rules per table (plus cross_table and cache)."""


@suite_group.command("list")
@config_option
def suite_list(config_dir: Path | None) -> None:
    """Every suite with its number of rules and its file."""
    from ytempire_dq.locations import list_suites
    from ytempire_dq.rules.suite_files import show_suite

    table = Table("suite", "rules", "file")
    for name in list_suites(config_dir):
        shown = show_suite(name, config_dir)
        table.add_row(text(name), str(len(shown["expectations"])), text(shown["file"]))
    out.print(table)


@suite_group.command("show")
@click.argument("name")
@config_option
def suite_show(name: str, config_dir: Path | None) -> None:
    """The rules of suite NAME: rule_id, expectation type, column, description, and the database
    constraint that also enforces the rule (empty: only this rule guards it)."""
    from ytempire_dq.rules.suite_files import show_suite

    shown = show_suite(name, config_dir)
    table = Table("rule_id", "type", "column", "description", "enforced_by", title=shown["file"], title_justify="left")
    for rule in shown["expectations"]:
        table.add_row(
            text(rule["rule_id"]) if rule["rule_id"] else "[red]missing[/]",
            text(rule["type"]),
            text(rule["column"] or ""),
            text(rule["description"] or ""),
            text(rule["enforced_by"] or ""),
        )
    out.print(table)


@suite_group.command("types")
@click.option("--markdown", is_flag=True, help="The documentation page (docs/expectations.md) instead of a table.")
def suite_types(markdown: bool) -> None:
    """The project's custom expectation types a suite file can name, with what each checks."""
    from ytempire_dq.expectations.catalog import custom_types
    from ytempire_dq.expectations.catalog import markdown as page

    types = custom_types()
    if markdown:
        click.echo(page(types), nl=False)
        return
    table = Table("type", "checks", "parameters")
    for t in types:
        table.add_row(text(t.name), text(t.summary), text(", ".join(name for name, _ in t.parameters)))
    out.print(table)


@suite_group.command("new")
@click.argument("name")
@click.option("--asset", required=True, help="The data asset (a table, or redis_snapshot) the suite checks.")
@click.option("--checkpoint", default=None, help="Also run the new suite in this checkpoint.")
@config_option
def suite_new(name: str, asset: str, checkpoint: str | None, config_dir: Path | None) -> None:
    """Create an empty suite NAME for ASSET (and its validation definition); then add rules to its file."""
    from ytempire_dq.rules.suite_files import new_suite

    made = new_suite(name, asset, checkpoint=checkpoint, config_dir=config_dir)
    click.echo(
        f"suite {name}: {made['suite']} (validation definition {made['validation_definition']}"
        + (f", run by checkpoint {checkpoint}" if checkpoint else "")
        + ")"
    )
    click.echo('add rules to its "expectations" list (docs/rules.md: Add a rule), then: ytdq suite lint')


@suite_group.command("lint")
@click.option("--fix", is_flag=True, help="First write an id into every rule that has none (the id runs already use).")
@config_option
@click.option("--offline", is_flag=True, help="Check the files only: no database (columns and SQL rules unchecked).")
def suite_lint(fix: bool, config_dir: Path | None, offline: bool) -> None:
    """Load every suite and checkpoint; report problems by file and rule (exit 2 on any error).

    Columns and SQL rules are checked against DATABASE_URL: without a reachable, migrated database
    lint exits 2, unless --offline."""
    from ytempire_dq.locations import list_suites
    from ytempire_dq.rules import lint

    for changed in lint.fix_ids(config_dir) if fix else []:
        click.echo(f"{changed['file']}: wrote {plural(changed['ids'], 'id')}")
    problems = lint.lint(config_dir, offline=offline)
    for problem in problems:
        colour = "red" if problem.level == "error" else "yellow"
        click.echo(click.style(config.mask_secrets(str(problem)), fg=colour))
    errors = [p for p in problems if p.level == "error"]
    click.echo(
        f"{plural(len(list_suites(config_dir)), 'suite')} checked: {plural(len(errors), 'error')}, "
        f"{plural(len(problems) - len(errors), 'warning')}"
    )
    sys.exit(ExitCode.RUN_FAILED if errors else ExitCode.OK)


@suite_group.command("suggest")
@click.argument("table")
@click.option(
    "--out",
    default=None,
    help="Write the draft here ('-': print it) instead of as suite TABLE_suggested in the project.",
)
@click.option("--checkpoint", default=None, help="Also run the draft suite in this checkpoint (project only).")
@config_option
def suite_suggest(table: str, out: str | None, checkpoint: str | None, config_dir: Path | None) -> None:
    """Profile TABLE and write a draft suite of the rules its data keeps today (types, not-null,
    value sets, ranges with a margin, id formats, uniqueness), each with its evidence in
    meta.suggested_from. Never overwrites a file; review the draft before relying on it."""
    from ytempire_dq.locations import project_relative
    from ytempire_dq.rules.suggest import write_suggestion

    made = write_suggestion(table, out, checkpoint=checkpoint, config_dir=config_dir)
    if made["file"] is None:
        click.echo(made["text"], nl=False)
    else:
        vd = made["validation_definition"]
        click.echo(
            f"draft suite {made['suite']}: {project_relative(Path(made['file']))} "
            f"({plural(made['rules'], 'rule')} from {plural(made['rows'], 'row', fmt=',')}"
            + (f"; validation definition {vd}" if vd else "")
            + (f", run by checkpoint {checkpoint}" if checkpoint else "")
            + ")"
        )
        if out is None:
            click.echo("review each rule and its meta.suggested_from, then: ytdq suite lint")
        else:  # a file of its own: lint reads the project's suites only
            click.echo(
                "review each rule and its meta.suggested_from; `ytdq suite lint` checks the project's suites, "
                f"not this file: append the rules you keep to expectations/{table}.json (or run "
                f"`ytdq suite suggest {table}` without --out), then: ytdq suite lint"
            )
    if not made["rows"]:
        click.echo(f"warning: {table} is empty: only its columns, types and unique indexes are suggested", err=True)
