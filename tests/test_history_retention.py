"""Each run removes from the history what is past the retention (store/retention.expire_history):
by the database's clock, a day and an hour ahead (the next nightly's retention rules judge at their
own snapshot), a bounded number of rows a run, stragglers of dq.rule_results and dq.quarantine too;
a store role that may not DELETE keeps the rows and the run says so in one warning.
(simulated nights past the retention under a faked clock: tests/test_retention_nights.py.)"""

from __future__ import annotations

import pytest
from sqlalchemy.engine import make_url

from tests.helpers import copy_project, rows
from ytempire_dq.db.connect import connect, engine
from ytempire_dq.errors import ExitCode
from ytempire_dq.fixtures import seed
from ytempire_dq.run.checkpoint import run_checkpoint
from ytempire_dq.store.retention import expire_history

ROLE = "ytdq_insert_only"


@pytest.fixture
def conn(db_url):
    c = connect(db_url, autocommit=True)
    c.cursor().execute("TRUNCATE dq.runs CASCADE")
    yield c
    c.close()


def add_run(conn, run_id: str, age: str, *, results_age: str | None = None, keys: int = 0) -> None:
    """A dq.runs row started ``age`` ago (SQL interval) with one rule result (observed
    ``results_age`` ago, else with the run) and ``keys`` quarantined keys."""
    with conn.cursor() as cur:
        cur.execute(
            "INSERT INTO dq.runs (run_id, checkpoint, success, rules_total, rules_failed, started_at, finished_at) "
            "VALUES (%s, 'nightly', true, 1, 0, now() - %s::interval, now() - %s::interval)",
            (run_id, age, age),
        )
        cur.execute(
            "INSERT INTO dq.rule_results (run_id, checkpoint, rule_id, suite, expectation_type, success, observed_at) "
            "VALUES (%s, 'nightly', 'videos.x', 'videos', 't', true, now() - %s::interval)",
            (run_id, results_age or age),
        )
        cur.execute(
            "INSERT INTO dq.quarantine (run_id, rule_id, table_name, row_key, quarantined_at) "
            "SELECT %s, 'videos.x', 'videos', jsonb_build_object('id', g), now() - %s::interval "
            "FROM generate_series(1, %s) g",
            (run_id, age, keys),
        )


def expire(db_url: str, days: int, **kw):
    e = engine(db_url)
    try:
        with e.begin() as c:
            return expire_history(c, days, **kw)
    finally:
        e.dispose()


def test_what_is_past_the_retention_by_the_next_nightly_goes_with_its_rows(db_url, conn):
    add_run(conn, "old", "40 days", keys=3)
    add_run(conn, "by-tomorrow", "29 days 2 hours")  # past 30 days before the next nightly
    add_run(conn, "kept", "28 days 20 hours", keys=1)
    add_run(conn, "today", "1 minute", results_age="31 days")  # an outcome dated past the retention
    removed, left = expire(db_url, 30)
    assert removed == {"dq.runs": 2, "dq.rule_results": 1, "dq.quarantine": 0, "dq.notifications": 0} and left == {}
    assert rows(conn, "SELECT run_id FROM dq.runs ORDER BY started_at") == [("kept",), ("today",)]
    assert rows(conn, "SELECT run_id FROM dq.rule_results ORDER BY run_id") == [("kept",)]
    assert rows(conn, "SELECT run_id, count(*) FROM dq.quarantine GROUP BY run_id") == [("kept", 1)]


def test_the_work_of_a_run_is_bounded_oldest_first(db_url, conn):
    for day in range(40, 45):
        add_run(conn, f"day{day}", f"{day} days")
    removed, _ = expire(db_url, 30, limit=2)
    assert removed["dq.runs"] == 2
    assert [r[0] for r in rows(conn, "SELECT run_id FROM dq.runs ORDER BY run_id")] == ["day40", "day41", "day42"]


def test_a_short_retention_looks_ahead_half_of_it_at_most(db_url, conn):
    add_run(conn, "13h", "13 hours")
    add_run(conn, "11h", "11 hours")
    add_run(conn, "now", "0 seconds")
    removed, _ = expire(db_url, 1)
    assert removed["dq.runs"] == 1
    assert [r[0] for r in rows(conn, "SELECT run_id FROM dq.runs ORDER BY run_id")] == ["11h", "now"]


@pytest.fixture
def insert_only_url(db_url):
    """A role that may read everything and INSERT into dq, not DELETE (the pre-flight lets it run)."""
    admin = connect(db_url, autocommit=True)
    with admin.cursor() as cur:
        cur.execute(f"DROP ROLE IF EXISTS {ROLE}")
        cur.execute(f"CREATE ROLE {ROLE} LOGIN")
        cur.execute(f"GRANT USAGE ON SCHEMA public, dq TO {ROLE}")
        cur.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {ROLE}")
        cur.execute(f"GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA dq TO {ROLE}")
        cur.execute(f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA dq TO {ROLE}")
    yield make_url(db_url).set(username=ROLE).render_as_string(hide_password=False)
    with admin.cursor() as cur:
        cur.execute(f"DROP OWNED BY {ROLE}")
        cur.execute(f"DROP ROLE {ROLE}")
    admin.close()


def test_a_store_role_that_may_not_delete_keeps_the_history_and_warns(db_url, conn, insert_only_url, tmp_path):
    seed.seed(db_url, users=5, seed=2)
    add_run(conn, "old", "40 days")
    report = run_checkpoint("critical", config_dir=copy_project(tmp_path), database_url=insert_only_url)
    assert report.exit_code == ExitCode.OK and report.history_error is None
    (warning,) = [w for w in report.warnings if "retention" in w]
    assert "history past the retention not removed from" in warning and f"{ROLE}@" in warning
    assert "the store's role may not DELETE (1 row of dq.runs, 1 row of dq.rule_results)" in warning
    assert rows(conn, "SELECT count(*) FROM dq.runs") == [(2,)]  # the old run stays, this run is recorded
