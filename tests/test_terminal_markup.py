"""Data values and names reach the terminal as text: rich markup in them is neither applied nor
able to crash the report (a sample ``[/x]`` made rich raise MarkupError before the exit code)."""

from __future__ import annotations

from ytempire_dq.cli import app, checkpoint
from ytempire_dq.results import RuleResult, RunReport, ValidationReport

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
