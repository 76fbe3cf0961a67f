"""An analyst's SQL runs exactly what was checked, and nothing that acts outside its transaction.

Hostile input, second round. The reproduction as reported (a rule that hid a ``DELETE FROM
api_keys`` behind a ``{batch[10]}`` format field, so that the guard's text and GX's differed) is
refused by lint and by a run's pre-flight; the same texts, with the pre-flight switched off, are
refused at the server's door by the statement guard on the run's engines (so no difference between
two substitutions can matter); functions that act outside the transaction are refused by name
however they are spelled; and a rule that hits the statement timeout is cancelled once per run.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from tests.helpers import copy_project, scalar
from tests.test_sql_guard import set_rules  # the suite ``hostile`` holds exactly these SQL rules
from ytempire_dq.cli import main
from ytempire_dq.db.connect import connect, engine
from ytempire_dq.errors import ExitCode
from ytempire_dq.fixtures import seed
from ytempire_dq.ops import services
from ytempire_dq.rules import suite_files
from ytempire_dq.run import checkpoint as checkpoints
from ytempire_dq.run.checkpoint import run_checkpoint
from ytempire_dq.sql_guard import RefusedSQL, check_query, format_refusal, guard, substitute_batch

#: The rule of the report, as it was appended to expectations/users.json.
REPORTED = (
    "SELECT id FROM {batch} WHERE true\n--{batch[10]}) AS substituted_batch_subquery; COMMIT; BEGIN READ WRITE; "
    "DELETE FROM public.api_keys; COMMIT; BEGIN READ ONLY; SELECT COUNT(*) FROM (SELECT 1 WHERE false\n"
)
#: The same trick with {batch} alone: GX's {batch} holds newlines, so a comment it sits in ends early.
IN_A_COMMENT = "SELECT id FROM {batch} WHERE true --{batch}; DELETE FROM public.api_keys; SELECT 1 FROM (SELECT 1\n"


@pytest.fixture(scope="module")
def seeded(module_env) -> str:
    seed.seed(module_env, users=30, seed=11)
    return module_env


def api_keys(url: str) -> int:
    c = connect(url, autocommit=True)
    try:
        return scalar(c, "SELECT count(*) FROM api_keys")
    finally:
        c.close()


def _cli(*args: str, env: dict | None = None):
    return CliRunner().invoke(main, list(args), env={"COLUMNS": "250", **(env or {})})


def _add_users_rule(gx_dir: Path, rule_id: str, query: str) -> None:
    path = gx_dir.parent / "expectations" / "users.json"
    doc = json.loads(path.read_text())
    doc["expectations"].append(
        {
            "type": "unexpected_rows_expectation",
            "kwargs": {"unexpected_rows_query": query},
            "meta": {"rule_id": rule_id},
        }
    )
    path.write_text(json.dumps(doc, indent=2))


# ---------------------------------------------------------------------------------------------
# the report, as written: lint and the pre-flight refuse it


@pytest.mark.parametrize("fast", ["1", "0"])
def test_the_reported_rule_is_refused_by_lint_and_by_nightly_and_deletes_nothing(seeded, tmp_path, fast):
    before = api_keys(seeded)
    assert before > 0
    gx_dir = copy_project(tmp_path)
    _add_users_rule(gx_dir, "users.reported", REPORTED)
    env = {"DATABASE_URL": seeded, "YTDQ_FAST": fast}

    lint = _cli("suite", "lint", "--config", str(gx_dir), env=env)
    assert lint.exit_code == ExitCode.RUN_FAILED, lint.output
    assert "[users.reported]" in lint.output and "{batch[10]} is not a placeholder" in lint.output

    run = _cli("checkpoint", "run", "nightly", "--config", str(gx_dir), env=env)
    assert run.exit_code == ExitCode.RUN_FAILED, run.output
    assert "rule 'users.reported': SQL rule refused: {batch[10]} is not a placeholder" in " ".join(run.output.split())
    assert api_keys(seeded) == before


FORMATS = {
    "SELECT id FROM {batch[10]}": "{batch[10]} is not a placeholder",
    "SELECT id FROM {batch.c}": "{batch.c} is not a placeholder",
    "SELECT id FROM {batch!r}": "{batch!r} is not a placeholder",
    "SELECT id FROM {batch:>9}": "{batch:>9} is not a placeholder",
    "SELECT id FROM {batch} WHERE {0}": "{0} is not a placeholder",
    "SELECT id FROM {batch} WHERE {}": "{} is not a placeholder",
    "SELECT id FROM {batch} WHERE x = '{'": "a brace that is not {batch}",
    "SELECT id FROM {batch} WHERE x = '}'": "a brace that is not {batch}",
    IN_A_COMMENT: "{batch} inside a comment or a string literal",
    "SELECT id FROM {batch} /* {batch} */": "{batch} inside a comment or a string literal",
    "SELECT id FROM {batch} WHERE name = '{batch}'": "{batch} inside a comment or a string literal",
    "SELECT id FROM {batch} WHERE name = $q${batch}$q$": "{batch} inside a comment or a string literal",
}


@pytest.mark.parametrize("query", sorted(FORMATS))
def test_only_batch_is_a_placeholder_and_only_where_sql_is_read(query):
    assert FORMATS[query] in format_refusal(query)
    with pytest.raises(RefusedSQL, match=re.escape(FORMATS[query])):
        substitute_batch(query, "users")


def test_literal_braces_are_written_doubled_and_read_as_gx_reads_them():
    query = "SELECT id FROM {batch} WHERE settings::text LIKE '{{%}}'"
    assert format_refusal(query) is None
    assert substitute_batch(query, "users").endswith("LIKE '{%}'")


def test_the_guard_substitutes_batch_exactly_as_gx_does(seeded):
    """Character for character, for a query with and without a JOIN (GX's own function decides)."""
    from ytempire_dq.gx import compat as gx_compat
    from ytempire_dq.gx.context import open_context

    ctx = open_context(database_url=seeded)
    vd = ctx.validation_definitions.get("users")
    validator = ctx.get_validator(batch_request=vd.batch_definition.build_batch_request())
    from great_expectations.core.metric_domain_types import MetricDomainTypes

    engine_ = validator.execution_engine
    batch, _, _ = engine_.get_compute_domain({"batch_id": validator.active_batch_id}, MetricDomainTypes.TABLE)
    for query in (
        "SELECT id FROM {batch} WHERE email IS NULL",
        "SELECT u.id FROM {batch} AS u JOIN channels c ON c.user_id = u.id WHERE false",
    ):
        assert substitute_batch(query, "users") == gx_compat.substituted_batch_query(query, batch, engine_)


# ---------------------------------------------------------------------------------------------
# the second lock: every statement is checked as it is sent


@pytest.fixture(scope="module")
def hostile_project(seeded, tmp_path_factory) -> Path:
    """A project copy with a suite ``hostile`` on the users table, run by the ``critical`` checkpoint."""
    gx_dir = copy_project(tmp_path_factory.mktemp("sent"))
    suite_files.new_suite("hostile", "users", checkpoint="critical", config_dir=gx_dir)
    return gx_dir


@pytest.mark.parametrize("fast", ["1", "0"])
def test_with_the_pre_flight_switched_off_the_statements_are_refused_where_they_are_sent(
    seeded, hostile_project, monkeypatch, fast
):
    """What a hole in the first lock would let through is refused by the second, on every path
    (the fast path's count, GX's own ``SELECT COUNT(*) FROM (<query>)``): the rules error, and
    ``api_keys`` keeps every row."""
    monkeypatch.setenv("YTDQ_FAST", fast)
    monkeypatch.setattr(checkpoints, "check_suite_rules", lambda *a, **k: None)  # the first lock, gone
    before = api_keys(seeded)
    set_rules(
        hostile_project,
        {
            "users.reported": REPORTED,
            "users.in_a_comment": IN_A_COMMENT,
            "users.sleeps": 'SELECT id FROM {batch} WHERE pg_catalog."pg_sleep"(30) IS NULL',
            "users.honest": "SELECT id FROM {batch} WHERE email IS NULL",
        },
    )
    report = run_checkpoint("critical", config_dir=hostile_project, database_url=seeded)
    assert api_keys(seeded) == before
    for rule in ("users.reported", "users.in_a_comment"):
        assert "refused: " in (report.rule(rule).error or ""), report.rule(rule).error
        assert "statements" in report.rule(rule).error
    assert "it calls pg_sleep()" in (report.rule("users.sleeps").error or "")
    assert report.rule("users.honest").error is None and report.rule("users.honest").success
    assert report.exit_code == ExitCode.RUN_FAILED


def test_the_guard_checks_the_text_psycopg2_sends_parameters_included(seeded):
    eng = engine(seeded)
    guard(eng)
    try:
        with eng.connect() as conn:
            with pytest.raises(RefusedSQL, match="2 statements"):
                conn.exec_driver_sql("SELECT 1; DELETE FROM api_keys")
            with pytest.raises(RefusedSQL, match=r"it calls lo_export\(\)"):
                conn.execute(sa.text("SELECT lo_export(1, :path)"), {"path": "/tmp/x"})
            # a parameter's quote is escaped by psycopg2: one statement, read as a string
            value = "x'; DELETE FROM api_keys; --"
            assert conn.execute(sa.text("SELECT :v"), {"v": value}).scalar_one() == value
            with pytest.raises(RefusedSQL, match="not a SELECT but SET"):
                conn.exec_driver_sql("SET TRANSACTION READ WRITE")
            with pytest.raises(RefusedSQL, match="not a SELECT but SET"):
                conn.exec_driver_sql("SET statement_timeout = 0")
            conn.rollback()
    finally:
        eng.dispose()
    assert api_keys(seeded) > 0


# ---------------------------------------------------------------------------------------------
# functions that act outside the transaction, by name

PAYLOADS = {
    "pg_read_file": "SELECT id FROM {batch} WHERE pg_read_file('/etc/passwd') IS NULL",
    "pg_read_binary_file": "SELECT id FROM {batch} WHERE PG_CATALOG.PG_READ_BINARY_FILE('/etc/passwd') IS NULL",
    "pg_ls_dir": "SELECT id FROM {batch} WHERE EXISTS (SELECT 1 FROM pg_ls_dir('.'))",
    "pg_stat_file": "SELECT id FROM {batch} WHERE (pg_stat_file('PG_VERSION')).size < 0",
    "lo_export": "SELECT id FROM {batch} WHERE lo_export(lo_from_bytea(0, 'x'), '/tmp/ytdq-lo') < 0",
    "lo_import": "SELECT id FROM {batch} WHERE \"lo_import\"('/etc/passwd') < 0",
    "pg_terminate_backend": "SELECT id FROM {batch} WHERE pg_terminate_backend(pg_backend_pid())",
    "pg_cancel_backend": "SELECT id FROM {batch} WHERE pg_catalog.pg_cancel_backend(1)",
    "pg_advisory_lock": "SELECT id FROM {batch} WHERE pg_advisory_lock(42) IS NULL",
    "pg_try_advisory_lock_shared": "SELECT id FROM {batch} WHERE pg_try_advisory_lock_shared(1, 2)",
    "dblink_exec": "SELECT id FROM {batch} WHERE dblink_exec('dbname=x', 'DELETE FROM api_keys') = ''",
    "query_to_xml": "SELECT id FROM {batch} WHERE query_to_xml('DELETE FROM api_keys', true, false, '') IS NULL",
    "pg_sleep_for": "SELECT id FROM {batch} WHERE pg_sleep_for('1 hour') IS NULL",
    "set_config": "SELECT id FROM {batch} WHERE set_config('default_transaction_read_only', 'off', false) = ''",
    "pg_notify": "SELECT id FROM {batch} WHERE pg_notify('c', 'm') IS NULL",
    "pg_create_physical_replication_slot": (
        "WITH s AS (SELECT * FROM pg_create_physical_replication_slot('ytdq', true)) SELECT id FROM {batch}, s"
    ),
    "pg_switch_wal": "SELECT id FROM {batch} WHERE pg_switch_wal() IS NULL",
    "nextval": "SELECT id FROM {batch} WHERE nextval('dq.runs_id_seq') < 0",
}


@pytest.mark.parametrize("name", sorted(PAYLOADS))
def test_functions_that_act_outside_the_transaction_are_refused_by_name(name):
    with pytest.raises(RefusedSQL, match=rf"it calls {name}\(\)"):
        check_query(substitute_batch(PAYLOADS[name], "users"))


def test_lint_and_the_run_name_the_refused_function(seeded, tmp_path):
    gx_dir = copy_project(tmp_path)
    _add_users_rule(gx_dir, "users.reads_files", PAYLOADS["pg_read_file"])
    lint = _cli("suite", "lint", "--config", str(gx_dir), env={"DATABASE_URL": seeded})
    assert lint.exit_code == ExitCode.RUN_FAILED
    assert (
        "[users.reads_files]" in lint.output
        and "it calls pg_read_file(), which reads the server's files" in " ".join(lint.output.split())
    )
    run = _cli("checkpoint", "run", "nightly", "--config", str(gx_dir), env={"DATABASE_URL": seeded})
    assert run.exit_code == ExitCode.RUN_FAILED
    assert "rule 'users.reads_files': SQL rule refused: it calls pg_read_file()" in " ".join(run.output.split())
    assert "root:" not in run.output  # /etc/passwd's first line never reached the terminal


def _outside_state(url: str) -> tuple:
    c = connect(url, autocommit=True)
    try:
        return (
            scalar(c, "SELECT count(*) FROM pg_largeobject_metadata"),
            scalar(c, "SELECT count(*) FROM pg_replication_slots"),
            scalar(c, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"),
        )
    finally:
        c.close()


def test_payloads_past_a_missing_pre_flight_change_nothing_outside(seeded, hostile_project, monkeypatch):
    """Even as the session's superuser and with the pre-flight gone: no large object, no slot, no
    advisory lock, no session killed, no file written."""
    monkeypatch.setattr(checkpoints, "check_suite_rules", lambda *a, **k: None)
    before = _outside_state(seeded)
    bystander = connect(seeded, autocommit=True)  # another session, which no rule may end
    try:
        set_rules(hostile_project, {f"users.{name}": q for name, q in PAYLOADS.items()})
        report = run_checkpoint("critical", config_dir=hostile_project, database_url=seeded)
        for name in PAYLOADS:
            assert f"it calls {name}()" in (report.rule(f"users.{name}").error or ""), name
        assert _outside_state(seeded) == before
        assert scalar(bystander, "SELECT 1") == 1
    finally:
        bystander.close()
    assert not Path("/tmp/ytdq-lo").exists()


# ---------------------------------------------------------------------------------------------
# a timeout bounds a rule once

MARKER = "ytdq-timeout-once"
#: Slower than any timeout set here: each row counts to a few million.
SLOW = f"SELECT id FROM {{batch}} WHERE '{MARKER}' <> '' AND (SELECT count(*) FROM generate_series(1, 5000000 + length(email))) < 0"
_ENTRY = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", re.M)


def cancellations(log_text: str, marker: str) -> int:
    """Statements holding ``marker`` that the server cancelled for the statement timeout (an
    ``ERROR: canceling statement due to statement timeout`` entry and its ``STATEMENT:`` entry)."""
    entries = [log_text[m.start() : n.start() if n else None] for m, n in _pairs(_ENTRY.finditer(log_text))]
    return sum(
        "canceling statement due to statement timeout" in entry
        and i + 1 < len(entries)
        and "STATEMENT:" in entries[i + 1]
        and marker in entries[i + 1]
        for i, entry in enumerate(entries)
    )


def _pairs(matches):
    matches = list(matches)
    return zip(matches, [*matches[1:], None])


@pytest.mark.local_servers
@pytest.mark.parametrize("fast", ["1", "0"])
def test_a_rule_past_the_statement_timeout_is_cancelled_once_per_run(
    seeded, hostile_project, server_urls, monkeypatch, fast
):
    log_file = Path(services.read_services(Path(server_urls["state_dir"]))["postgres"]["log"])
    monkeypatch.setenv("YTDQ_STATEMENT_TIMEOUT", "1")
    monkeypatch.setenv("YTDQ_FAST", fast)
    set_rules(hostile_project, {"users.slow": SLOW, "users.quick": "SELECT id FROM {batch} WHERE false"})
    offset = log_file.stat().st_size
    report = run_checkpoint("critical", config_dir=hostile_project, database_url=seeded)
    assert "statement timeout" in (report.rule("users.slow").error or "")
    assert report.rule("users.quick").success
    with log_file.open(errors="replace") as f:
        f.seek(offset)
        added = f.read()
    assert cancellations(added, MARKER) == 1, added[-3000:]
