"""An analyst's SQL rule can only read (issue 9, item 1).

The three reproductions of the issue, as written (a SQL rule that deletes workflows through
``suite lint`` and through a run's quarantine, and one that COPYs to a file), are refused by name
with exit 2 and change nothing; the guard's verdict on accepted and refused SQL; and the second
lock, the READ ONLY transaction with a statement timeout, holds where the guard is passed: a
function that flips ``default_transaction_read_only`` and then writes, a multi-statement string
handed straight to lint's EXPLAIN or to the quarantine, and a query slower than the timeout.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import tempfile
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from tests.helpers import copy_project, scalar
from ytempire_dq import config
from ytempire_dq.cli import main
from ytempire_dq.db.connect import connect, engine
from ytempire_dq.errors import ExitCode, YtdqError
from ytempire_dq.fixtures import seed
from ytempire_dq.rules import lint as suite_lint
from ytempire_dq.rules import suite_files
from ytempire_dq.run.checkpoint import run_checkpoint
from ytempire_dq.sql_guard import RefusedSQL, check_query, refusal, timeout_ms
from ytempire_dq.store import quarantine

LINT_DELETE = "SELECT id FROM {batch} WHERE false; COMMIT; DELETE FROM workflows WHERE kind = 'upload'; --"
RUN_BREAKOUT = (
    "SELECT id FROM {batch} WHERE false) AS q; DELETE FROM workflows WHERE kind = 'thumbnail'; "
    "SELECT 1 AS id FROM (SELECT 1"
)
#: A rule slower than any timeout a test sets: each row counts to a few million.
SLOW = "SELECT id FROM {batch} WHERE (SELECT count(*) FROM generate_series(1, 3000000 + length(kind))) < 0"
COPY_TO = "SELECT id FROM {batch} WHERE false; COPY (SELECT 1) TO '{path}'"


@pytest.fixture(scope="module")
def seeded(module_env) -> str:
    seed.seed(module_env, users=30, seed=9)
    c = connect(module_env, autocommit=True)
    try:  # SQL functions an analyst's SELECT could call: one flips the session to read-write, one deletes
        c.cursor().execute("""
            CREATE FUNCTION dq_test_flip() RETURNS boolean LANGUAGE sql AS
              $$ SELECT set_config('default_transaction_read_only', 'off', false) = 'off' $$;
            CREATE FUNCTION dq_test_delete() RETURNS bigint LANGUAGE sql AS
              $$ WITH d AS (DELETE FROM workflows WHERE kind = 'upload' RETURNING 1) SELECT count(*) FROM d $$;""")
    finally:
        c.close()
    return module_env


@pytest.fixture(scope="module")
def project(seeded, tmp_path_factory) -> Path:
    """A project copy with a suite ``hostile`` on the workflows table, run by the ``critical`` checkpoint."""
    gx_dir = copy_project(tmp_path_factory.mktemp("sqlguard"))
    suite_files.new_suite("hostile", "workflows", checkpoint="critical", config_dir=gx_dir)
    return gx_dir


def set_rules(gx_dir: Path, rules: dict[str, str]) -> None:
    """The ``hostile`` suite holds exactly these SQL rules ({rule_id: query})."""
    path = gx_dir.parent / "expectations" / "hostile.json"
    doc = json.loads(path.read_text())
    doc["expectations"] = [
        {
            "type": "unexpected_rows_expectation",
            "description": "analyst SQL",
            "kwargs": {"unexpected_rows_query": q},
            "meta": {"rule_id": rule_id},
        }
        for rule_id, q in rules.items()
    ]
    path.write_text(json.dumps(doc, indent=2))


def workflows(url: str) -> dict[str, int]:
    c = connect(url, autocommit=True)
    try:
        return dict(_rows(c, "SELECT kind, count(*) FROM workflows GROUP BY kind"))
    finally:
        c.close()


def _rows(c, sql: str) -> list[tuple]:
    with c.cursor() as cur:
        cur.execute(sql)
        return cur.fetchall()


def runs(url: str) -> int:
    c = connect(url, autocommit=True)
    try:
        return scalar(c, "SELECT count(*) FROM dq.runs")
    finally:
        c.close()


def lint(gx_dir: Path):
    return CliRunner().invoke(main, ["suite", "lint", "--config", str(gx_dir)])


def run(gx_dir: Path):
    return CliRunner().invoke(main, ["checkpoint", "run", "critical", "--config", str(gx_dir)])


# ---------------------------------------------------------------------------------------------
# the reproductions, as written


def test_lint_of_a_rule_that_deletes_refuses_it_by_name_and_deletes_nothing(seeded, project):
    before = workflows(seeded)
    assert before.get("upload", 0) > 0
    set_rules(project, {"workflows.hostile_delete": LINT_DELETE})
    result = lint(project)
    assert result.exit_code == ExitCode.RUN_FAILED, result.output
    assert (
        "hostile.json [workflows.hostile_delete]: error: SQL rule refused: 3 statements; "
        "an analyst's SQL rule must be one SELECT"
    ) in result.output
    assert workflows(seeded) == before


def test_run_refuses_the_subquery_breakout_before_any_rule_runs(seeded, project):
    before, runs_before = workflows(seeded), runs(seeded)
    assert before.get("thumbnail", 0) > 0
    set_rules(project, {"workflows.hostile_breakout": RUN_BREAKOUT})
    result = run(project)
    assert result.exit_code == ExitCode.RUN_FAILED, result.output
    assert (
        "hostile.json: rule 'workflows.hostile_breakout': SQL rule refused: 3 statements; "
        "an analyst's SQL rule must be one SELECT"
    ) in " ".join(result.output.split())
    assert workflows(seeded) == before
    assert runs(seeded) == runs_before  # refused in the pre-flight: no run, no quarantine
    with pytest.raises(RefusedSQL, match=r"hostile\.json: rule 'workflows\.hostile_breakout'"):
        run_checkpoint("critical", config_dir=project, database_url=seeded)


@pytest.fixture
def server_writable_dir():
    """A directory the PostgreSQL server (another OS user) could write a file into."""
    path = Path(tempfile.mkdtemp(prefix="ytdq-sqlguard-", dir="/tmp"))
    path.chmod(0o777)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_copy_to_a_file_is_refused_by_lint_and_by_a_run(seeded, project, server_writable_dir):
    target = server_writable_dir / "pwn"
    set_rules(project, {"workflows.hostile_copy": COPY_TO.replace("{path}", str(target))})
    for step in (lint, run):
        result = step(project)
        assert not target.exists(), step.__name__
        assert result.exit_code == ExitCode.RUN_FAILED, result.output
        assert "workflows.hostile_copy" in result.output and "refused: 2 statements" in result.output


# ---------------------------------------------------------------------------------------------
# the guard itself

ACCEPTED = [
    "SELECT id FROM (SELECT * FROM workflows WHERE true) AS subselect WHERE status = 'failed'",
    "WITH x AS (SELECT id, kind FROM workflows) SELECT id FROM x WHERE kind = 'upload'",
    "SELECT w.id FROM workflows w JOIN channels c ON c.id = w.channel_id WHERE c.status = 'deleted'",
    "SELECT id FROM workflows WHERE channel_id IN (SELECT id FROM channels WHERE status = 'x')",
    "SELECT id FROM workflows -- a comment; DELETE FROM workflows\nWHERE kind = 'upload' /* ; DROP */",
    "SELECT id FROM workflows WHERE kind = 'a;b; DELETE FROM workflows'",
    "SELECT 1 AS id UNION ALL SELECT 2",
]

REFUSED = {
    "SELECT 1; SELECT 2": "2 statements",
    "DELETE FROM workflows": "not a SELECT but DELETE",
    "UPDATE workflows SET kind = 'upload'": "not a SELECT but UPDATE",
    "INSERT INTO workflows (kind) VALUES ('upload')": "not a SELECT but INSERT",
    "WITH d AS (DELETE FROM workflows RETURNING id) SELECT id FROM d": "a data-modifying DELETE inside the query",
    "WITH u AS (UPDATE workflows SET kind = 'x' RETURNING id) SELECT id FROM u": "a data-modifying UPDATE",
    "SELECT id INTO stolen FROM workflows": "SELECT INTO creates a table",
    "SELECT id FROM workflows FOR UPDATE": "FOR UPDATE/FOR SHARE locks rows",
    "SELECT id FROM (SELECT id FROM workflows FOR SHARE) s": "FOR UPDATE/FOR SHARE locks rows",
    "COPY (SELECT 1) TO '/tmp/x'": "not a SELECT but COPY",
    "SET default_transaction_read_only = off": "not a SELECT but SET",
    "COMMIT": "not a SELECT but transaction control",
    "SELECT set_config('default_transaction_read_only', 'off', false)": "it calls set_config()",
    # a trailing ';' (even with only a comment after it) is refused: GX wraps the query in a subquery
    "SELECT id FROM workflows;": "it ends with ';'",
    "SELECT id FROM workflows; -- nothing after": "it ends with ';'",
    "SELECT id FROM workflows -- no newline": "it cannot run inside a subquery",
    "SELECT FROM WHERE (": "it does not parse as SQL",
    "": "no statement",
}


@pytest.mark.parametrize("sql", ACCEPTED)
def test_guard_accepts_one_plain_select(sql):
    assert refusal(sql) is None
    check_query(sql)


@pytest.mark.parametrize("sql", sorted(REFUSED))
def test_guard_refuses_anything_but_one_select_and_says_why(sql):
    with pytest.raises(RefusedSQL) as raised:
        check_query(sql)
    message = str(raised.value)
    assert message.startswith("refused: ") and message.endswith("; an analyst's SQL rule must be one SELECT")
    assert REFUSED[sql] in message


def test_statement_timeout_setting(monkeypatch):
    monkeypatch.delenv("YTDQ_STATEMENT_TIMEOUT", raising=False)
    assert timeout_ms() == 300_000
    monkeypatch.setenv("YTDQ_STATEMENT_TIMEOUT", "1.5")
    assert timeout_ms() == 1500
    for bad in ("soon", "0", "-3"):
        monkeypatch.setenv("YTDQ_STATEMENT_TIMEOUT", bad)
        with pytest.raises(YtdqError, match="YTDQ_STATEMENT_TIMEOUT"):
            timeout_ms()


# ---------------------------------------------------------------------------------------------
# the second lock: READ ONLY and the statement timeout, where the guard is passed


@pytest.mark.parametrize("fast", ["1", "0"])
def test_a_select_that_flips_the_session_to_read_write_still_cannot_write(seeded, project, monkeypatch, fast):
    """dq_test_flip() sets default_transaction_read_only = off for the session (the guard cannot see
    inside a function); the next rule's DELETE still runs in a READ ONLY transaction: an error."""
    monkeypatch.setenv("YTDQ_FAST", fast)
    before = workflows(seeded)
    set_rules(
        project,
        {
            "workflows.flip": "SELECT id FROM {batch} WHERE dq_test_flip()",
            "workflows.then_delete": "SELECT id FROM {batch} WHERE dq_test_delete() > 0",
        },
    )
    assert lint(project).exit_code == ExitCode.OK  # one SELECT each: the guard passes them
    report = run_checkpoint("critical", config_dir=project, database_url=seeded)
    assert report.rule("workflows.flip").unexpected_count == sum(before.values())  # it ran, every row
    assert "read-only transaction" in (report.rule("workflows.then_delete").error or "")
    assert workflows(seeded) == before


def test_lint_explain_and_the_quarantine_read_in_a_read_only_transaction(seeded):
    """Handed untrusted text past the guard, the layers that run it still cannot write."""
    before = workflows(seeded)
    error = suite_lint._explain(seeded, "SELECT 1; DELETE FROM workflows WHERE kind = 'upload'")
    assert error and "read-only transaction" in error
    eng = engine(seeded)
    try:
        rows = sa.text("SELECT id FROM workflows WHERE dq_test_delete() > 0").columns().subquery("q")
        with eng.begin() as write, pytest.raises(sa.exc.InternalError, match="read-only transaction"):
            at = dt.datetime.now(dt.timezone.utc)
            target = quarantine.Rows(write, "workflows", "run-x", "workflows.x", at)
            quarantine._quarantine_keys(eng, target, rows, untrusted=True)
    finally:
        eng.dispose()
    assert workflows(seeded) == before


def test_a_query_slower_than_the_statement_timeout_is_an_error_on_that_rule(seeded, project, monkeypatch):
    monkeypatch.setenv("YTDQ_STATEMENT_TIMEOUT", "1")
    set_rules(
        project,
        {
            # every row counts a few million numbers (pg_sleep is refused by name)
            "workflows.slow": SLOW,
            "workflows.quick": "SELECT id FROM {batch} WHERE kind = 'nope'",
        },
    )
    started = time.monotonic()
    report = run_checkpoint("critical", config_dir=project, database_url=seeded)
    assert time.monotonic() - started < 60  # every workflow row counts for ~0.2 s: without the timeout, minutes
    assert "statement timeout" in (report.rule("workflows.slow").error or "")
    assert report.rule("workflows.quick").success


def test_the_quarantine_keeps_the_keys_of_a_sql_rule(seeded, project):
    set_rules(project, {"workflows.uploads": "SELECT id, kind FROM {batch} WHERE kind = 'upload'"})
    report = run_checkpoint("critical", config_dir=project, database_url=seeded)
    c = connect(seeded, autocommit=True)
    try:
        keys = {
            r[0]
            for r in _rows(
                c,
                f"SELECT row_key::text FROM dq.quarantine WHERE run_id = '{report.run_id}' "
                "AND rule_id = 'workflows.uploads'",
            )
        }
        ids = {r[0] for r in _rows(c, "SELECT id::text FROM workflows WHERE kind = 'upload'")}
    finally:
        c.close()
    assert report.rule("workflows.uploads").unexpected_count == len(ids) > 0
    assert keys == {json.dumps({"id": i}) for i in ids}  # {"<pk>": value}, as before


def test_the_benchmarks_refuse_a_hostile_rule_and_run_the_floor_read_only(seeded, tmp_path):
    from benchmarks import rules as R

    hostile = {
        "name": "workflows",
        "expectations": [
            {
                "type": "unexpected_rows_expectation",
                "kwargs": {"unexpected_rows_query": LINT_DELETE},
                "meta": {"rule_id": "workflows.hostile_delete"},
            }
        ],
    }
    for part in ("expectations", "validation_definitions"):
        (tmp_path / part).mkdir()
    (tmp_path / "expectations" / "workflows.json").write_text(json.dumps(hostile))
    vd = config.PROJECT_ROOT / "validation_definitions" / "workflows.json"
    (tmp_path / "validation_definitions" / "workflows.json").write_text(vd.read_text())
    with pytest.raises(RefusedSQL, match=r"rule 'workflows.hostile_delete': SQL rule refused: 3 statements"):
        R.load_rules(tmp_path)
    before = workflows(seeded)
    c = connect(seeded, autocommit=True)
    try:
        with pytest.raises(Exception, match="read-only transaction"):
            R.run_floor(c, [], [R.Statement("hostile", "DELETE FROM workflows WHERE kind = 'upload'", [])])
        assert c.autocommit  # handed back as it came
    finally:
        c.close()
    assert workflows(seeded) == before


def test_the_transaction_settings_the_project_sends_pass_and_others_do_not():
    """The key captures set ``parallel_tuple_cost`` and ``jit`` for their own transaction
    (``row_keys.few_rows``), the duplicate scan ``enable_hashagg``; a session-wide SET, another
    setting or a disabled timeout is refused."""
    from ytempire_dq.sql_guard import statement_refusal

    allowed = ("jit = off", "parallel_tuple_cost = 0", "statement_timeout = 5000", "enable_hashagg = off")
    for sql in (f"SET LOCAL {setting}" for setting in allowed):
        assert statement_refusal(sql) is None, sql
    for sql in ("SET jit = off", "SET LOCAL work_mem = '1GB'", "SET LOCAL statement_timeout = 0"):
        assert statement_refusal(sql) == "not a SELECT but SET", sql
