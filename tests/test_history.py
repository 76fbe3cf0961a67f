"""Run history in schema dq: a row per rule per run, the keys of ALL offending rows of each failed
rule (count = the injected count, keys = the rows the defect SQL finds), `ytdq history`, and a
history failure that leaves the verdict but fails the run (exit 2). The `critical` runs have Redis down: history does not
need it (`nightly` reads the cache as a data source, so it gets the session's redis)."""

from __future__ import annotations

import json
import logging

import pytest
from click.testing import CliRunner

from tests.helpers import KIND_TO_RULE, copy_project, module_environ, rows, scalar
from tests.recipes import shipped
from ytempire_dq.cli import main
from ytempire_dq.db.connect import connect
from ytempire_dq.errors import ExitCode
from ytempire_dq.fixtures import seed
from ytempire_dq.fixtures.defects import DEFECT_KINDS
from ytempire_dq.ops import services
from ytempire_dq.run.checkpoint import run_checkpoint
from ytempire_dq.store.preflight import StoreNotWritable

#: every defect kind, distinct counts (1..N): map rules (regex, not-null under a row_condition, unique,
#: compound unique, column pairs, between, in set), orphans (cross-table), aggregates (sum vs parent,
#: count per parent), SQL rules (with and without JOIN)
INJECT = {kind: i + 1 for i, kind in enumerate(sorted(DEFECT_KINDS))}

#: the keys each defect's rows should be quarantined under (the defect's own SQL, selecting ids)
KEYS_SQL = {
    "bad_email": "SELECT id::text FROM users WHERE email !~* '^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\\.[A-Za-z]{2,}$'",
    "published_without_youtube_id": "SELECT id::text FROM videos WHERE status = 'published' AND youtube_video_id IS NULL",
    "duplicate_email": "SELECT id::text FROM users WHERE email IN (SELECT email FROM users GROUP BY email HAVING count(*) > 1)",
    "orphan_videos": "SELECT id::text FROM videos v WHERE NOT EXISTS (SELECT 1 FROM channels c WHERE c.id = v.channel_id)",
    "analytics_sum_mismatch": "SELECT v.id::text FROM videos v LEFT JOIN (SELECT video_id, sum(views) s FROM analytics "
    "GROUP BY video_id) a ON a.video_id = v.id WHERE abs(coalesce(a.s, 0) - v.view_count) > 100",
    "future_analytics_date": "SELECT id::text FROM analytics WHERE date > current_date",
}


def expected_count(kind: str) -> int:
    return INJECT[kind] * DEFECT_KINDS[kind].rows_per_defect


@pytest.fixture(scope="module")
def seeded(new_database) -> str:
    url = new_database("history")
    seed.seed(url, users=200, seed=11, inject=INJECT)
    return url


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    return copy_project(tmp_path_factory.mktemp("history"))


@pytest.fixture
def redis_down(monkeypatch):
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:" + str(services.free_port()) + "/0")


@pytest.fixture(scope="module")
def redis_up(redis_url):
    yield from module_environ(REDIS_URL=redis_url)


@pytest.fixture(scope="module")
def nightly(seeded, project, redis_up):
    return run_checkpoint("nightly", config_dir=project, database_url=seeded)


def failed_table_rules(report) -> set[str]:
    """Failed rules of the shipped table suites (the cache suite depends on what the session's redis
    holds; an analyst's own rules may catch an injected defect too)."""
    return {
        r.rule_id
        for v in report.validations
        if v.suite != "cache"
        for r in v.results
        if not r.success and shipped(v.suite, r.rule_id)
    }


@pytest.fixture
def conn(seeded):
    c = connect(seeded, autocommit=True)
    yield c
    c.close()


def test_the_run_and_a_row_per_rule(nightly, conn):
    assert nightly.exit_code == ExitCode.DATA_FAILED
    run = rows(
        conn,
        "SELECT checkpoint, success, rules_total, rules_failed, finished_at >= started_at "
        "FROM dq.runs WHERE run_id = %s",
        (nightly.run_id,),
    )
    failed = [r for r in nightly.rules() if not r.success]
    assert run == [("nightly", False, len(nightly.rules()), len(failed), True)]
    stored = {
        row[0]: row[1:]
        for row in rows(
            conn,
            "SELECT rule_id, success, unexpected_count, suite FROM dq.rule_results WHERE run_id = %s",
            (nightly.run_id,),
        )
    }
    assert scalar(conn, "SELECT count(*) FROM dq.rule_results WHERE run_id = %s", (nightly.run_id,)) == len(
        nightly.rules()
    )
    assert len(stored) == len(nightly.rules())  # one row per rule
    for v in nightly.validations:
        for r in v.results:
            assert stored[r.rule_id] == (r.success, r.unexpected_count, v.suite)
    assert failed_table_rules(nightly) == {KIND_TO_RULE[k] for k in INJECT}


@pytest.mark.parametrize("kind", sorted(INJECT))
def test_quarantine_holds_every_offending_row_key(nightly, conn, kind):
    rule = KIND_TO_RULE[kind]
    count = scalar(
        conn, "SELECT count(*) FROM dq.quarantine WHERE run_id = %s AND rule_id = %s", (nightly.run_id, rule)
    )
    assert count == expected_count(kind) == nightly.rule(rule).unexpected_count
    distinct = scalar(
        conn,
        "SELECT count(DISTINCT row_key) FROM dq.quarantine WHERE run_id = %s AND rule_id = %s",
        (nightly.run_id, rule),
    )
    assert distinct == count  # every key once: rows, not values
    if kind in KEYS_SQL:
        keys = {
            r[0]
            for r in rows(
                conn,
                "SELECT row_key->>'id' FROM dq.quarantine WHERE run_id = %s AND rule_id = %s",
                (nightly.run_id, rule),
            )
        }
        assert keys == {r[0] for r in rows(conn, KEYS_SQL[kind])}


@pytest.mark.parametrize("capture_limit", [None, 2], ids=["keys-read-with-counts", "past-the-capture-limit"])
def test_quarantine_holds_all_rows_not_gx_sample(new_database, project, redis_up, monkeypatch, capture_limit):
    """More offending rows than GX's samples (20 per query rule, 20 partial values): all are keyed.
    Past the capture limit (here 2 keys) the other paths key them all: one INSERT ... SELECT for the
    generated SQL (a map rule, a cross-table rule), a stream from a read-only transaction for an
    analyst's query."""
    from ytempire_dq.store import quarantine, row_keys

    taken: list[str] = []
    for path in ("_insert_select", "_stream_keys"):  # which path keyed each rule past the limit
        original = getattr(quarantine, path)
        monkeypatch.setattr(quarantine, path, lambda *a, _o=original, _p=path, **k: taken.append(_p) or _o(*a, **k))
    if capture_limit is not None:
        monkeypatch.setattr(row_keys, "CAPTURE_LIMIT", capture_limit)
    url = new_database(f"history_many_{capture_limit}")
    seed.seed(url, users=60, seed=3, inject={"orphan_analytics": 230, "bad_email": 25, "analytics_before_video": 7})
    report = run_checkpoint("nightly", config_dir=project, database_url=url)
    c = connect(url, autocommit=True)
    try:
        for rule, n in (
            ("analytics.video_exists", 230),
            ("users.email_format", 25),
            ("analytics.date_not_before_video", 7),
        ):
            assert report.rule(rule).unexpected_count == n
            assert (
                scalar(
                    c,
                    "SELECT count(DISTINCT row_key) FROM dq.quarantine WHERE run_id = %s AND rule_id = %s",
                    (report.run_id, rule),
                )
                == n
            )
    finally:
        c.close()
    if capture_limit is None:
        assert taken == []  # every key read with its count (or with its samples)
    else:
        assert {"_insert_select", "_stream_keys"} <= set(taken)


def test_history_cli_lists_runs_and_a_rules_trend(nightly, seeded, project, conn, monkeypatch, redis_down):
    monkeypatch.setenv("DATABASE_URL", seeded)
    second = run_checkpoint("critical", config_dir=project, database_url=seeded)
    conn.cursor().execute(KEYS_SQL["orphan_videos"].replace("SELECT id::text FROM", "DELETE FROM"))
    third = run_checkpoint("critical", config_dir=project, database_url=seeded)
    assert third.rule("videos.channel_exists").success  # fixed

    cli = CliRunner()
    result = cli.invoke(main, ["history", "--json"])
    assert result.exit_code == 0, result.output
    runs = json.loads(result.output)
    assert [r["run_id"] for r in runs][:3] == [third.run_id, second.run_id, nightly.run_id]
    assert runs[2]["rules_failed"] == sum(not r.success for r in nightly.rules()) and runs[2]["checkpoint"] == "nightly"
    critical_failed = sum(not r.success for r in second.rules())
    assert critical_failed == 8  # critical: five orphan rules, view and revenue sums, tiers
    assert runs[1]["rules_failed"] == critical_failed and runs[0]["rules_failed"] == critical_failed - 1

    text = cli.invoke(main, ["history", "--checkpoint", "critical", "--limit", "1"])
    assert text.exit_code == 0 and third.run_id in text.output and nightly.run_id not in text.output

    trend = json.loads(cli.invoke(main, ["history", "videos.channel_exists", "--json"]).output)
    orphans = INJECT["orphan_videos"]
    assert [(r["run_id"], r["success"], r["unexpected_count"], r["quarantined"]) for r in trend["runs"]][:3] == [
        (third.run_id, True, 0, 0),
        (second.run_id, False, orphans, orphans),
        (nightly.run_id, False, orphans, orphans),
    ]
    assert trend["failing_since"] is None  # passes again

    still = json.loads(cli.invoke(main, ["history", "users.active_channels_within_tier_limit", "--json"]).output)
    first_failure = still["runs"][-1]["observed_at"]
    assert still["failing_since"] == first_failure and still["runs"][0]["success"] is False
    per_checkpoint = json.loads(
        cli.invoke(
            main, ["history", "users.active_channels_within_tier_limit", "--checkpoint", "critical", "--json"]
        ).output
    )
    assert (
        len(per_checkpoint["runs"]) == 2
        and per_checkpoint["failing_since"] == per_checkpoint["runs"][-1]["observed_at"]
    )

    shown = cli.invoke(main, ["history", "users.active_channels_within_tier_limit"])
    assert shown.exit_code == 0 and "failing since" in shown.output and second.run_id in shown.output

    unknown = cli.invoke(main, ["history", "users.no_such_rule"])
    assert unknown.exit_code == ExitCode.RUN_FAILED and "no history for rule 'users.no_such_rule'" in unknown.output


def test_an_empty_database_as_the_store_is_migrated_on_first_use(new_database, project, redis_down, monkeypatch):
    """``YTDQ_STORE_URL`` at an empty database is all a user does: the run creates the store's own
    schema (the ``dq`` migrations only, no platform table) and records its history there."""
    from ytempire_dq.db import migrations

    url = new_database("history_no_dq")
    seed.seed(url, users=5, seed=1, inject={"orphan_videos": 1})
    store = new_database("history_store_never_migrated", empty=True)
    monkeypatch.setenv("YTDQ_STORE_URL", store)
    report = run_checkpoint("critical", config_dir=project, database_url=url)
    assert report.exit_code == ExitCode.DATA_FAILED and report.history_error is None
    c = connect(store, autocommit=True)
    try:
        assert [v for (v,) in rows(c, "SELECT version FROM schema_migrations ORDER BY 1")] == list(migrations.STORE)
        assert rows(c, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'") == [("schema_migrations",)]
        assert rows(c, "SELECT run_id FROM dq.runs") == [(report.run_id,)]
        assert scalar(c, "SELECT count(*) FROM dq.quarantine WHERE rule_id = %s", (KIND_TO_RULE["orphan_videos"],)) == 1
    finally:
        c.close()


def test_a_store_whose_role_may_not_create_its_schema_stops_the_run(new_database, project, redis_down, monkeypatch):
    """A role without CREATE on an empty store: the run stops before any rule, naming the store, the
    role and the fix."""
    import sqlalchemy as sa

    url = new_database("history_store_no_create_src")
    seed.seed(url, users=5, seed=1)
    store = new_database("history_store_no_create", empty=True)
    c = connect(store, autocommit=True)
    c.cursor().execute("DROP ROLE IF EXISTS ytdq_no_create; CREATE ROLE ytdq_no_create LOGIN")
    c.close()
    as_role = sa.make_url(store).set(username="ytdq_no_create", password=None).render_as_string(hide_password=False)
    monkeypatch.setenv("YTDQ_STORE_URL", as_role)
    with pytest.raises(StoreNotWritable) as exc:
        run_checkpoint("critical", config_dir=project, database_url=url)
    message = str(exc.value)
    assert "its schema dq could not be created or migrated as role 'ytdq_no_create'" in message
    assert "permission denied" in message and "set YTDQ_STORE_URL to a writable PostgreSQL database" in message


def test_a_history_failure_is_logged_keeps_the_verdict_and_fails_the_run(new_database, project, redis_down, caplog):
    url = new_database("history_broken")
    seed.seed(url, users=5, seed=1, inject={"orphan_videos": 1})
    c = connect(url, autocommit=True)
    c.cursor().execute(REFUSE_RUNS)  # after the pre-flight: the store refuses the run's row
    c.close()
    caplog.set_level(logging.ERROR, logger="ytempire_dq.store.history")
    report = run_checkpoint("critical", config_dir=project, database_url=url)
    assert report.rule("videos.channel_exists").unexpected_count == 1 and not report.success  # the verdict stands
    assert report.exit_code == ExitCode.RUN_FAILED  # the history is lost: never exit 0 or 1 in silence
    assert "dq.runs refuses rows" in report.history_error and "YTDQ_STORE_URL" in report.history_error
    assert report.to_dict()["history_error"] == report.history_error
    assert "history not recorded:" in caplog.text and "dq.runs refuses rows" in caplog.text


#: A trigger that makes dq.runs refuse every row (the store turned unwritable after the pre-flight).
REFUSE_RUNS = """
CREATE FUNCTION dq.refuse_rows() RETURNS trigger LANGUAGE plpgsql AS
$$BEGIN RAISE EXCEPTION 'dq.runs refuses rows (test trigger)'; END$$;
CREATE TRIGGER refuse_rows BEFORE INSERT ON dq.runs FOR EACH ROW EXECUTE FUNCTION dq.refuse_rows();
"""
