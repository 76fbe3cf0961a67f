"""Data values and names reach the terminal as text: rich markup in them is neither applied nor
able to crash the report (a sample ``[/x]`` made rich raise MarkupError before the exit code)."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner

from tests.custom_project import add_checkpoint
from tests.helpers import copy_project
from ytempire_dq.cli import app, checkpoint, main
from ytempire_dq.run.report import RuleResult, RunReport, ValidationReport

HOSTILE = "[/bogus] [red]not red[/red] [link=file:///etc/passwd]x"


def test_markup_in_samples_rule_ids_and_warnings_is_printed_as_text(capsys):
    rule = RuleResult(
        rule_id="videos.[bold]title",
        expectation_type="expect_column_values_to_match_regex",
        table="videos",
        column="title",
        success=False,
        unexpected_count=1,
        partial_unexpected_list=[HOSTILE],
    )
    report = RunReport(
        checkpoint="nightly",
        success=False,
        run_id="r1",
        data_docs=None,
        validations=[ValidationReport(suite="videos", asset="videos", success=False, results=[rule])],
        action_errors=[f"action 'x' failed: {HOSTILE}"],
    )
    app.out.width = app.err.width = 400
    checkpoint.print_run(report)
    checkpoint.progress_line({"name": HOSTILE, "success": True, "index": 1, "total": 1})
    captured = capsys.readouterr()
    assert "[/bogus] [red]not red[/red]" in captured.out  # the sample, verbatim
    assert "videos.[bold]title" in captured.out
    assert captured.err.count("[/bogus] [red]not red[/red]") == 2  # the warning and the progress line


#: A rule_id carrying control characters: ESC (a colour, and a window-title sequence ended by BEL),
#: NUL, CR (overwrites the line), DEL and a C1 CSI.
CONTROL_ID = "users.evil\x1b[31m\x1b]0;owned\x07\x00\r\x7f\x9b"
ESCAPED_ID = r"users.evil\x1b[31m\x1b]0;owned\x07\x00\x0d\x7f\x9b"
RAW = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


@pytest.fixture
def control_project(tmp_path):
    """A project copy whose checkpoint ``evil`` runs a suite with a control-character rule_id."""
    gx_dir = copy_project(tmp_path)
    rule = {
        "type": "expect_column_values_to_not_be_null",
        "kwargs": {"column": "email"},
        "meta": {"rule_id": CONTROL_ID},
    }
    add_checkpoint(gx_dir, checkpoint="evil", suite="evil", asset="users", expectations=[rule])
    return gx_dir


def test_a_control_character_rule_id_is_a_lint_error_shown_escaped(control_project):
    result = CliRunner().invoke(main, ["suite", "lint", "--offline", "--config", str(control_project)])
    assert result.exit_code == 2, result.output
    assert not RAW.search(result.output), repr(result.output)
    lines = [line for line in result.output.splitlines() if "holds control characters" in line]
    assert len(lines) == 1 and "expectations/evil.json" in lines[0] and ESCAPED_ID in lines[0], lines


def test_a_checkpoint_refuses_a_control_character_rule_id_before_running(control_project):
    env = {"DATABASE_URL": "postgresql+psycopg2://ytdq@127.0.0.1:1/none"}  # refused before any connection
    result = CliRunner().invoke(main, ["checkpoint", "run", "evil", "--config", str(control_project)], env=env)
    assert result.exit_code == 2, result.output
    assert not RAW.search(result.output), repr(result.output)
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert "checkpoint 'evil' cannot run" in line and "expectations/evil.json" in line and ESCAPED_ID in line, line


def test_control_characters_in_a_report_are_printed_escaped(capsys):
    rules = [
        RuleResult(
            rule_id=CONTROL_ID,
            expectation_type="expect_column_values_to_match_regex",
            table="users\x1b[2J",
            column="email",
            success=False,
            unexpected_count=1,
            partial_unexpected_list=["a\x1b[31mb\x00"],
        ),
        RuleResult(
            rule_id=CONTROL_ID + "2",
            expectation_type="unexpected_rows_expectation",
            table="users",
            column=None,
            success=False,
            error="syntax error at or near \x1b[5m",
        ),
    ]
    report = RunReport(
        checkpoint="nightly",
        success=False,
        run_id="r1",
        data_docs=None,
        validations=[ValidationReport(suite="users", asset="users", success=False, results=rules)],
        action_errors=["action 'x' failed: \x1b[31mred"],
    )
    app.out.width = app.err.width = 400
    checkpoint.print_run(report)
    checkpoint.progress_line({"name": "users\x1b[31m", "success": False, "index": 1, "total": 1})
    captured = capsys.readouterr()
    assert not RAW.search(captured.out + captured.err), repr(captured.out + captured.err)
    assert ESCAPED_ID in captured.out and r'"a\u001b[31mb\u0000"' in captured.out  # the sample is JSON: its own
    assert ESCAPED_ID + "2" in captured.err and r"at or near \x1b[5m" in captured.err
    assert r"users\x1b[31m" in captured.err and r"failed: \x1b[31mred" in captured.err
