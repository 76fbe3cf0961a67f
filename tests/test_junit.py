"""JUnit XML of checkpoint runs (issue 13, item 2): ``checkpoint run NAME --junit FILE``.

The file must validate against the JUnit schema Jenkins reads (``tests/junit/junit-10.xsd``; GitLab,
Azure and GitHub's reporting actions read the same shape), its failures and errors must be exactly
the ``--json`` ones, it is written also when the data fails (exit 1), when a rule cannot run and when
the run cannot happen at all (exit 2), and hostile data (markup, quotes, control characters,
megabyte values) stays valid, bounded XML.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.custom_project import add_checkpoint
from tests.helpers import CHECKS_ROLE_WARNING, copy_project, insert_channel, insert_user, insert_video
from ytempire_dq.run import junit
from ytempire_dq.run.report import RuleResult, RunReport, ValidationReport

BIN = Path(sys.executable).parent
XSD = Path(__file__).parent / "junit" / "junit-10.xsd"
MB = 1024 * 1024
#: Markup, both quotes, a CDATA end, an entity, control characters XML 1.0 cannot hold, a lone surrogate.
HOSTILE = "<script>alert(\"x\")</script> <img src=x onerror='y'> ]]> &amp; \x01\x07\x1b\x7f end"
HOSTILE_DESCRIPTIONS = [HOSTILE, "<b>" + "z" * MB, 'plain "quoted" <title>']

CLEAN = {
    "type": "expect_column_values_to_not_be_null",
    "kwargs": {"column": "title"},
    "meta": {"rule_id": "videos.junit_title_present"},
    "description": "every video has a title",
}
MARKUP = {
    "type": "expect_column_values_to_not_match_regex",
    "kwargs": {"column": "description", "regex": "<"},
    "meta": {"rule_id": "videos.junit_no_markup"},
    "description": "a description holds no markup",
}
BROKEN = {
    "type": "unexpected_rows_expectation",
    "kwargs": {"unexpected_rows_query": "SELECT * FROM {batch} WHERE no_such_column > 1"},
    "meta": {"rule_id": "videos.junit_broken_sql"},
    "description": "an analyst's rule naming a column that does not exist",
}
REFUSED = {
    "type": "unexpected_rows_expectation",
    "kwargs": {"unexpected_rows_query": "SELECT * FROM {batch} WHERE false; DELETE FROM videos"},
    "meta": {"rule_id": "videos.junit_refused_sql"},
    "description": "an analyst's rule the SQL guard refuses before the run",
}


def schema():
    import xmlschema

    return xmlschema.XMLSchema(str(XSD))


def cases(path: Path) -> dict[tuple[str, str], str]:
    """{(classname, name): 'passed' | 'failure' | 'error'} of a JUnit file."""
    out = {}
    for case in ET.parse(path).iter("testcase"):
        kind = next((child.tag for child in case if child.tag in ("failure", "error")), "passed")
        out[(case.get("classname"), case.get("name"))] = kind
    return out


def json_cases(path: Path) -> dict[tuple[str, str], str]:
    """The same view of a ``--json`` file."""
    run = json.loads(path.read_text())
    out = {}
    for v in run["validations"]:
        for r in v["results"]:
            kind = "error" if r["error"] is not None else "passed" if r["success"] else "failure"
            out[(v["suite"], r["rule_id"])] = kind
    return out


# ---------------------------------------------------------------------------------------------
# the writer alone (a report built by hand)


def hostile_report() -> RunReport:
    rules = [
        RuleResult("videos.ok", "expect_x", "videos", "title", True),
        RuleResult(
            "videos.bad",
            "expect_x",
            "videos",
            "title",
            False,
            unexpected_count=3,
            partial_unexpected_list=[HOSTILE, "\ud800 lone surrogate", "y" * MB, None, 7],
            sentence="Every title " + HOSTILE,
            description="d <b>\x02",
        ),
        RuleResult(None, "expect_y", "videos", None, False, error='column "a<b" does not exist\x00\nLINE 1: ...'),
    ]
    return RunReport(
        checkpoint="crit<\x03>",
        success=False,
        run_id="run-1",
        data_docs="/x/index.html",
        validations=[ValidationReport("videos <s>", "videos", False, rules)],
        seconds=1.23456,
        action_errors=["Data Docs could not be written: <disk full>"],
    )


def test_hostile_text_stays_valid_bounded_xml(tmp_path):
    path = tmp_path / "run.xml"
    junit.write(junit.from_report(hostile_report()), path)
    schema().validate(str(path))
    assert path.stat().st_size < 20_000, "values are bounded as in --json, not copied whole"
    root = ET.parse(path).getroot()
    assert (root.get("tests"), root.get("failures"), root.get("errors"), root.get("time")) == ("3", "1", "1", "1.235")
    failure = root.find(".//failure")
    assert failure.get("message").startswith('3 bad rows: Every title <script>alert("x")</script>')
    assert "\\x01\\x07\\x1b" in failure.text and "\x01" not in failure.text, "control characters written as \\xNN"
    assert "\\ud800 lone surrogate" in failure.text
    assert f"…({MB} chars)" in failure.text
    assert "description: d <b>\\x02" in failure.text
    assert cases(path) == {
        ("videos <s>", "videos.ok"): "passed",
        ("videos <s>", "videos.bad"): "failure",
        ("videos <s>", "? (expect_y)"): "error",
    }
    props = {p.get("name"): p.get("value") for p in root.iter("property")}
    assert props["checkpoint"] == "crit<\\x03>" and props["warning_1"].startswith("Data Docs could not")


def test_a_run_that_could_not_happen_is_one_error(tmp_path):
    path = tmp_path / "run.xml"
    junit.write(junit.from_run_error("critical", "cannot connect to PostgreSQL at <x>\x00"), path)
    schema().validate(str(path))
    root = ET.parse(path).getroot()
    assert (root.get("tests"), root.get("errors"), root.get("failures")) == ("1", "1", "0")
    assert root.find(".//error").get("message") == "the run could not happen: cannot connect to PostgreSQL at <x>\\x00"


# ---------------------------------------------------------------------------------------------
# checkpoint runs against the module's database


@pytest.fixture(scope="module")
def project(module_env, tmp_path_factory):
    """A project copy with checkpoints ``junit_fail`` (a clean and a failing rule), ``junit_error``
    (the same plus a rule that cannot run), ``junit_pass`` (the clean rule) and ``junit_refused``
    (a rule refused before the run); videos with hostile descriptions."""
    from ytempire_dq.db.connect import connect

    conn = connect(module_env, autocommit=True)
    try:
        channel = insert_channel(conn, insert_user(conn))
        insert_video(conn, channel, description="A clean description")
        for description in HOSTILE_DESCRIPTIONS:
            insert_video(conn, channel, description=description)
    finally:
        conn.close()
    gx_dir = copy_project(tmp_path_factory.mktemp("junit_project"))
    add_checkpoint(gx_dir, checkpoint="junit_fail", suite="junit_fail", asset="videos", expectations=[CLEAN, MARKUP])
    add_checkpoint(
        gx_dir, checkpoint="junit_error", suite="junit_error", asset="videos", expectations=[CLEAN, MARKUP, BROKEN]
    )
    add_checkpoint(gx_dir, checkpoint="junit_pass", suite="junit_pass", asset="videos", expectations=[CLEAN])
    add_checkpoint(gx_dir, checkpoint="junit_refused", suite="junit_refused", asset="videos", expectations=[REFUSED])
    return gx_dir


def run(
    command: str,
    checkpoint: str,
    project: Path,
    out: Path,
    json_file: Path | str | None = None,
    junit_file: Path | str | None = None,
    **env: str,
) -> subprocess.CompletedProcess:
    """``checkpoint run`` with ``--json`` and ``--junit`` (by default ``out/run.json``, ``out/junit/run.xml``)."""
    args = [str(BIN / command), "checkpoint", "run", checkpoint, "--config", str(project)]
    args += ["--json", str(json_file or out / "run.json"), "--junit", str(junit_file or out / "junit" / "run.xml")]
    return subprocess.run(
        args, capture_output=True, text=True, timeout=600, env={**os.environ, **env, "COLUMNS": "200"}
    )


@pytest.mark.parametrize("command", ["ytdq", "great_expectations"])
def test_failed_data_exit_1_junit_matches_json(project, tmp_path, command):
    proc = run(command, "junit_fail", project, tmp_path)
    assert proc.returncode == 1, proc.stderr
    xml = tmp_path / "junit" / "run.xml"
    schema().validate(str(xml))
    assert cases(xml) == json_cases(tmp_path / "run.json")
    assert cases(xml) == {
        ("junit_fail", "videos.junit_title_present"): "passed",
        ("junit_fail", "videos.junit_no_markup"): "failure",
    }
    root = ET.parse(xml).getroot()
    assert float(root.find("testsuite").get("time")) > 0, "the validation's duration is known"
    failure = root.find(".//failure")
    assert failure.get("message").startswith("3 bad rows: ")
    assert "bad rows: 3" in failure.text and "<script>alert(" in failure.text
    assert "\\u0001\\u0007\\u001b" in failure.text, "sample values are JSON: control characters as \\u00NN"
    assert f"…({MB + 3} chars)" in failure.text, "the 1 MB value cut as in --json"
    assert xml.stat().st_size < 20_000, "a 1 MB description is cut as in --json"


def test_a_rule_that_cannot_run_is_an_error_exit_2(project, tmp_path):
    proc = run("ytdq", "junit_error", project, tmp_path)
    assert proc.returncode == 2, proc.stderr
    xml = tmp_path / "junit" / "run.xml"
    schema().validate(str(xml))
    assert cases(xml) == json_cases(tmp_path / "run.json")
    assert cases(xml)[("junit_error", "videos.junit_broken_sql")] == "error"
    error = ET.parse(xml).getroot().find(".//error")
    assert "no_such_column" in error.get("message") and error.get("type") == "RuleError"


def test_a_run_that_cannot_happen_still_writes_junit(project, tmp_path):
    proc = run("ytdq", "junit_fail", project, tmp_path, DATABASE_URL="postgresql+psycopg2://ytdq@127.0.0.1:1/none")
    assert proc.returncode == 2, proc.stderr
    xml = tmp_path / "junit" / "run.xml"
    schema().validate(str(xml))
    error = ET.parse(xml).getroot().find(".//error")
    assert error.get("type") == "RunError" and "cannot connect to PostgreSQL" in error.get("message")


# ---------------------------------------------------------------------------------------------
# report files that cannot be written, and --json of a run that could not happen


@pytest.mark.parametrize(
    ("option", "where"),
    [("--junit", "/proc/ytdq-junit.xml"), ("--junit", "a_file/run.xml"), ("--json", "a_file/run.json")],
)
def test_a_report_file_that_cannot_be_written_is_one_error_line_exit_2(project, tmp_path, option, where):
    """The run passed and its verdict is printed; the missing report makes the step fail (exit 2)
    with one line naming the path, not a traceback; the other report is still written."""
    (tmp_path / "a_file").write_text("a regular file, not a folder\n")
    bad = where if where.startswith("/") else str(tmp_path / where)
    files = {"json_file": tmp_path / "run.json", "junit_file": tmp_path / "run.xml"}
    files["junit_file" if option == "--junit" else "json_file"] = bad
    proc = run("ytdq", "junit_pass", project, tmp_path, **files)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stdout + proc.stderr
    assert "checkpoint junit_pass passed: 1/1 rules met" in " ".join(proc.stdout.split())
    errors = [
        line
        for line in proc.stderr.splitlines()
        if line.strip() and not line.startswith("[") and not line.startswith(CHECKS_ROLE_WARNING)
    ]
    assert len(errors) == 1 and errors[0].startswith(f"error: cannot write the {option} file {bad}: "), proc.stderr
    if option == "--junit":
        assert json.loads((tmp_path / "run.json").read_text())["exit_code"] == 0  # the run's own verdict
    else:
        assert cases(tmp_path / "run.xml") == {("junit_pass", "videos.junit_title_present"): "passed"}


@pytest.mark.parametrize(
    ("checkpoint", "env", "says"),
    [
        ("no_such_checkpoint", {}, "no checkpoint 'no_such_checkpoint'"),
        ("junit_refused", {}, "SQL rule refused"),
        ("junit_pass", {"DATABASE_URL": "postgresql+psycopg2://ytdq@127.0.0.1:1/none"}, "cannot connect to PostgreSQL"),
    ],
)
def test_json_is_written_when_the_run_cannot_happen(project, tmp_path, checkpoint, env, says):
    proc = run("ytdq", checkpoint, project, tmp_path, **env)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and says in errors[0], proc.stderr
    report = json.loads((tmp_path / "run.json").read_text())
    assert report["exit_code"] == 2 and report["success"] is False and report["validations"] == []
    assert report["error"] == errors[0].removeprefix("error: ")
    assert report["errors"] == [{"cause": report["error"], "hint": None, "rule_ids": []}]
    assert cases(tmp_path / "junit" / "run.xml") == {(checkpoint, "run"): "error"}
