"""What is special about checking a hot standby (``ytempire_dq.run.standby``), on the real topology of
``tests/topologies.py``: the checks run on the standby as a SELECT-only role, the store is a
database on the second cluster.

- **Recovery conflicts**, made deterministic: replay is paused on the standby
  (``pg_wal_replay_pause()``) while the primary deletes rows and VACUUMs them (the cleanup's WAL
  waits on the standby), the run starts, and replay is resumed only once the slow rule's statement
  is seen running (``pg_stat_activity``); with ``max_standby_streaming_delay = 0`` replay cancels
  it at once. Done again while the retry runs, the rule is cancelled twice: its error names the
  fix; done once, the retry gives the rule's normal result.
- **"As of"**: on a caught-up standby the data is as of now; with replay paused while the primary
  commits, as of the last replayed commit, and the lag is said once over ``YTDQ_MAX_REPLICA_LAG``.
  Freshness is judged as of then (fast path and GX alone alike).
- **Quarantined rows fetched from the replica** by the SQL ``ytdq history RULE_ID`` prints.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from tests.custom_project import add_checkpoint
from tests.helpers import copy_project, insert_channel, insert_user, rows
from tests.test_topologies import YTDQ, errors, ytdq
from tests.topologies import ROLE_PASSWORD, wait_replayed
from ytempire_dq.db import migrations
from ytempire_dq.db.connect import connect
from ytempire_dq.run.standby import CONFLICT, FIX, SNAPSHOT_LOST

pytestmark = pytest.mark.local_servers

ROLE = "ytdq_ro_standby"
#: A number only the slow rule's SQL holds: how its statement is found in pg_stat_activity.
MARKER = 15000017
SLOW = "standby.slow"
CLEAN, DEFECT, BAD_NAME = "standby.fresh_clean", "standby.fresh_defect", "standby.no_bad_name"
#: The freshness rules' max_age: 0.02 hours = 72 s.
MAX_AGE_S = 72
BAD_CHANNELS = 3


def _sql(conn, sql: str, params=None) -> None:
    with conn.cursor() as cur:
        cur.execute(sql, params)


def _rule(rule_id: str, type_: str, **kwargs) -> dict:
    return {"type": type_, "kwargs": kwargs, "meta": {"rule_id": rule_id}}


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """The project with two checkpoints of its own on channels: ``slow`` (one SQL rule whose
    statement runs a few seconds and finds nothing) and ``standby_checks`` (freshness of the rows
    of niche ``standby-fresh`` (clean) and ``standby-stale`` (a defect), no channel named ``BAD standby``)."""
    gx = copy_project(tmp_path_factory.mktemp("standby"))
    slow_sql = (
        "SELECT id FROM {batch} WHERE id IS NULL "
        f"AND (SELECT count(*) FROM (SELECT generate_series(1, {MARKER})) s) > 0"
    )
    add_checkpoint(
        gx,
        checkpoint="slow",
        suite="standby_slow",
        asset="channels",
        data_docs=False,
        expectations=[_rule(SLOW, "unexpected_rows_expectation", unexpected_rows_query=slow_sql)],
    )
    fresh = {"table": "channels", "column": "created_at", "max_age": MAX_AGE_S / 3600, "unit": "hours"}
    add_checkpoint(
        gx,
        checkpoint="standby_checks",
        suite="standby_checks",
        asset="channels",
        data_docs=False,
        expectations=[
            _rule(CLEAN, "expect_column_newest_value_to_be_recent", **fresh, where={"niche": "standby-fresh"}),
            _rule(DEFECT, "expect_column_newest_value_to_be_recent", **fresh, where={"niche": "standby-stale"}),
            _rule(BAD_NAME, "expect_column_values_to_not_be_in_set", column="channel_name", value_set=["BAD standby"]),
        ],
    )
    return gx


@pytest.fixture(scope="module")
def seeded(primary_cluster, standby) -> dict:
    """On the primary: a channel of niche ``standby-fresh``, one of niche ``standby-stale`` created
    an hour ago (the freshness defect), and BAD_CHANNELS channels named ``BAD standby``."""
    conn = connect(primary_cluster.url, autocommit=True)
    try:
        # clean by the committed suites (test_topologies runs nightly on this cluster too): a user older
        # than its channels, whose tier allows them
        user = insert_user(
            conn, tier="professional", created_at=dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=2)
        )
        insert_channel(conn, user, niche="standby-fresh")
        insert_channel(
            conn, user, niche="standby-stale", created_at=dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=1)
        )
        bad = {insert_channel(conn, user, channel_name="BAD standby") for _ in range(BAD_CHANNELS)}
        _sql(conn, "CREATE TABLE IF NOT EXISTS public.churn (id int) WITH (autovacuum_enabled = off)")
    finally:
        conn.close()
    return {"bad_ids": bad}


@pytest.fixture(scope="module")
def env(primary_cluster, standby, store_cluster, select_only_role, seeded) -> dict:
    """DATABASE_URL: the SELECT-only role on the standby; YTDQ_STORE_URL: a database of this module
    on the store cluster."""
    select_only_role(primary_cluster.url, ROLE)
    wait_replayed(primary_cluster, standby)
    owner = connect(store_cluster.url, autocommit=True)
    try:
        _sql(owner, "DROP DATABASE IF EXISTS standby_store")
        _sql(owner, "CREATE DATABASE standby_store")
    finally:
        owner.close()
    store_url = store_cluster.database_url("standby_store")
    migrations.migrate(store_url)
    return {"DATABASE_URL": standby.database_url(user=ROLE, password=ROLE_PASSWORD), "YTDQ_STORE_URL": store_url}


def _on(cluster, sql: str, params=None) -> list[tuple] | None:
    """``sql`` on ``cluster`` as its owner (on the standby, a statement of the test's own that replay
    cancels is sent again)."""
    import psycopg2

    for attempt in range(5):
        conn = connect(cluster.url, autocommit=True)
        try:
            return rows(conn, sql, params) if sql.lstrip().upper().startswith("SELECT") else _sql(conn, sql, params)
        except psycopg2.errors.SerializationFailure:
            if attempt == 4:
                raise
        finally:
            conn.close()
    return None


def _wait(what, timeout: float = 60, step: float = 0.02):
    deadline = time.monotonic() + timeout
    while True:
        found = what()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what.__doc__}")
        time.sleep(step)


def pause_replay(standby) -> None:
    _on(standby, "SELECT pg_wal_replay_pause()")

    def paused():
        """replay paused"""
        return _on(standby, "SELECT pg_get_wal_replay_pause_state()") == [("paused",)]

    _wait(paused)


def resume_replay(standby) -> None:
    _on(standby, "SELECT pg_wal_replay_resume()")


def churn(primary) -> None:
    """Rows inserted, deleted and VACUUMed on the primary: replaying the cleanup conflicts with
    every standby snapshot taken before it (``hot_standby_feedback`` is off)."""
    conn = connect(primary.url, autocommit=True)
    try:
        _sql(conn, "INSERT INTO churn SELECT generate_series(1, 1000)")
        _sql(conn, "DELETE FROM churn")
        _sql(conn, "VACUUM churn")
    finally:
        conn.close()


def slow_statement(standby, proc: subprocess.Popen, other_than=None):
    """(pid, query_start) of the slow rule's statement running on the standby (not ``other_than``)."""

    def running():
        """the slow rule's statement"""
        if proc.poll() is not None:
            raise AssertionError(f"the run ended first: {proc.returncode} {proc.stdout.read()} {proc.stderr.read()}")
        found = _on(
            standby,
            "SELECT pid, query_start FROM pg_stat_activity WHERE state = 'active' AND pid <> pg_backend_pid() "
            "AND query LIKE %s",
            (f"%{MARKER}%",),
        )
        return next((f for f in found if f != other_than), None)

    return _wait(running)


def gone(standby, statement) -> None:
    def ended():
        """the statement's end"""
        return statement not in _on(
            standby,
            "SELECT pid, query_start FROM pg_stat_activity WHERE state = 'active' AND query LIKE %s",
            (f"%{MARKER}%",),
        )

    _wait(ended)


@pytest.fixture
def no_standby_delay(standby):
    """``max_standby_streaming_delay = 0`` on the standby for one test: replay cancels a
    conflicting query at once (the default, 30 s, for the others); replay resumed after it."""
    _on(standby, "ALTER SYSTEM SET max_standby_streaming_delay = 0")
    _on(standby, "SELECT pg_reload_conf()")
    time.sleep(0.5)  # the startup process reloads on its signal
    try:
        yield
    finally:
        _on(standby, "ALTER SYSTEM RESET max_standby_streaming_delay")
        _on(standby, "SELECT pg_reload_conf()")
        time.sleep(0.5)
        resume_replay(standby)


def start_run(project: Path, checkpoint: str, report: Path, **env: str) -> subprocess.Popen:
    full = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "YTDQ_STORE_URL")}
    full.update(COLUMNS="200", **env)
    args = [str(YTDQ), "checkpoint", "run", checkpoint, "--json", str(report), "--config", str(project)]
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=full)


def finish(proc: subprocess.Popen, report: Path) -> tuple[subprocess.CompletedProcess, dict]:
    out, err = proc.communicate(timeout=300)
    print(out + err)
    done = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    return done, json.loads(report.read_text())


def conflicted_text(error: str) -> bool:
    return bool(CONFLICT.search(error) or SNAPSHOT_LOST.search(error))


def result(doc: dict, rule_id: str) -> dict:
    (found,) = [r for v in doc["validations"] for r in v["results"] if r["rule_id"] == rule_id]
    return found


def test_a_rule_cancelled_twice_by_recovery_conflicts_is_its_error_and_names_the_fix(
    env, project, primary_cluster, standby, no_standby_delay, tmp_path
):
    report = tmp_path / "run.json"
    pause_replay(standby)
    churn(primary_cluster)  # its cleanup waits on the standby
    proc = start_run(project, "slow", report, **env)
    first = slow_statement(standby, proc)
    resume_replay(standby)  # replay cancels the running statement (and ends the run's snapshot)
    gone(standby, first)
    pause_replay(standby)
    churn(primary_cluster)
    second = slow_statement(standby, proc, other_than=first)  # the retry, on a snapshot taken before this churn
    resume_replay(standby)
    done, doc = finish(proc, report)

    assert done.returncode == 2 and doc["exit_code"] == 2
    (retry,) = doc["recovery_conflicts"]  # retried once
    assert retry["rule_id"] == SLOW and retry["outcome"] == "error" and retry["renewed_snapshot"] is True
    assert conflicted_text(retry["first_error"])  # cancelled, or its snapshot ended by the conflict
    error = result(doc, SLOW)["error"]
    assert "conflict with recovery" in error and FIX in error
    (cause,) = doc["errors"]
    assert FIX in cause["cause"] and cause["rule_ids"] == [SLOW]
    (line,) = errors(done)
    assert FIX in line and "conflict with recovery" in line and SLOW in line
    assert second[0] != first[0] or second[1] != first[1]


@pytest.mark.parametrize("fast", ["1", "0"], ids=["fast_path", "gx_alone"])
def test_a_rule_cancelled_once_gives_its_normal_result_on_the_retry(
    env, project, primary_cluster, standby, no_standby_delay, tmp_path, fast
):
    report = tmp_path / "run.json"
    pause_replay(standby)
    churn(primary_cluster)
    proc = start_run(project, "slow", report, YTDQ_FAST=fast, **env)
    slow_statement(standby, proc)
    resume_replay(standby)
    done, doc = finish(proc, report)

    assert done.returncode == 0, done.stderr
    (retry,) = doc["recovery_conflicts"]
    assert retry["rule_id"] == SLOW and retry["outcome"] == "met" and conflicted_text(retry["first_error"])
    slow = result(doc, SLOW)
    assert slow["success"] is True and slow["error"] is None and slow["unexpected_count"] == 0
    assert errors(done) == [] and doc["errors"] == []


def _fetch_sql(stdout: str) -> str:
    """The SQL ``ytdq history RULE_ID`` prints after its "quarantined rows" line."""
    head, _, sql = stdout.partition("quarantined rows, on the checked database:\n")
    assert sql, stdout
    return sql.strip()


@pytest.mark.parametrize("fast", ["1", "0"], ids=["fast_path", "gx_alone"])
def test_on_a_caught_up_standby_the_data_is_as_of_now_and_freshness_is_judged_then(
    env, project, primary_cluster, standby, seeded, tmp_path, fast
):
    _on(primary_cluster, "UPDATE channels SET created_at = now() WHERE niche = 'standby-fresh'")
    wait_replayed(primary_cluster, standby)
    report = tmp_path / "run.json"
    done, doc = finish(start_run(project, "standby_checks", report, YTDQ_FAST=fast, **env), report)

    assert done.returncode == 1, done.stderr  # the defects: data, not the run
    as_of, taken = dt.datetime.fromisoformat(doc["as_of"]), dt.datetime.fromisoformat(doc["snapshot"]["taken_at"])
    assert doc["snapshot"]["standby"] is True
    if as_of != taken:
        # streaming, but a record the primary writes on its own (its running-transactions record every
        # 15 s) was received and not yet replayed at that instant, as on a loaded machine: the data is
        # then as of the last replayed commit, the UPDATE above
        ((updated,),) = _on(
            primary_cluster, "SELECT extract(epoch FROM max(created_at)) FROM channels WHERE niche = 'standby-fresh'"
        )
        assert abs(as_of.timestamp() - float(updated)) < 1, (as_of, updated)
    assert 0 <= doc["replica_lag_seconds"] < 60 and doc["replica_lag"] is None
    assert not [line for line in done.stderr.splitlines() if "behind its primary" in line]
    assert result(doc, CLEAN)["success"] is True
    defect = result(doc, DEFECT)
    assert defect["success"] is False and defect["unexpected_count"] == 1
    assert result(doc, BAD_NAME)["unexpected_count"] == BAD_CHANNELS
    store = connect(env["YTDQ_STORE_URL"], autocommit=True)
    try:
        recorded = rows(store, "SELECT as_of, replica_lag_seconds FROM dq.runs WHERE run_id = %s", (doc["run_id"],))
    finally:
        store.close()
    assert recorded == [(as_of, doc["replica_lag_seconds"])]

    # the bad rows' keys, quarantined in the store, fetched from the replica by the printed SQL
    shown = ytdq(None, "history", BAD_NAME, **env)
    assert shown.returncode == 0, shown.stderr
    sql = _fetch_sql(shown.stdout)
    print(sql)
    replica = connect(env["DATABASE_URL"], autocommit=True)
    try:
        with replica.cursor() as cur:
            cur.execute(sql)
            names = [d.name for d in cur.description]
            fetched = [dict(zip(names, row)) for row in cur.fetchall()]
    finally:
        replica.close()
    assert sorted(str(r["id"]) for r in fetched) == sorted(seeded["bad_ids"])
    assert {r["channel_name"] for r in fetched} == {"BAD standby"}


@pytest.mark.parametrize("fast", ["1", "0"], ids=["fast_path", "gx_alone"])
def test_with_replay_paused_the_data_is_as_of_the_pause_and_the_lag_is_said_once(
    env, project, primary_cluster, standby, tmp_path, fast
):
    # the clean rows are 65 s old at the last commit the standby replays: fresh (max 72 s) as of
    # then, stale by the clock once the standby is 8 s behind
    _on(primary_cluster, "UPDATE channels SET created_at = now() - interval '65 seconds' WHERE niche = 'standby-fresh'")
    wait_replayed(primary_cluster, standby)
    pause_replay(standby)
    try:
        (replayed,) = _on(standby, "SELECT pg_last_xact_replay_timestamp()")
        time.sleep(1.5)
        _on(primary_cluster, "INSERT INTO churn VALUES (1)")  # received, not replayed
        time.sleep(MAX_AGE_S - 65 + 2)
        report = tmp_path / "run.json"
        done, doc = finish(
            start_run(project, "standby_checks", report, YTDQ_FAST=fast, YTDQ_MAX_REPLICA_LAG="1", **env), report
        )
    finally:
        resume_replay(standby)

    assert done.returncode == 1, done.stderr
    assert dt.datetime.fromisoformat(doc["as_of"]) == replayed[0]
    lag = doc["replica_lag_seconds"]
    assert lag >= MAX_AGE_S - 65 + 3
    assert doc["replica_lag"]["seconds"] == round(lag, 3) and doc["replica_lag"]["max_seconds"] == 1
    (warning,) = [line for line in done.stderr.splitlines() if line.startswith("warning:")]
    assert "behind its primary" in warning and f"{ROLE}:***@127.0.0.1:{standby.port}" in warning
    assert ROLE_PASSWORD not in done.stdout + done.stderr
    assert doc["warnings"] == [doc["replica_lag"]["message"]]
    clean = result(doc, CLEAN)
    # judged as of the pause, not by the clock: by the clock the clean rows are past MAX_AGE_S; as
    # of the last replayed commit they are fresh (if a later commit of the primary's own, such as
    # an autovacuum ANALYZE, was replayed before the pause, their age is counted to that one)
    ((created,),) = _on(
        primary_cluster, "SELECT extract(epoch FROM max(created_at)) FROM channels WHERE niche = 'standby-fresh'"
    )
    age_as_of = replayed[0].timestamp() - float(created)
    assert clean["success"] is (age_as_of <= MAX_AGE_S), (clean, age_as_of)
    assert clean["observed_value"]["checked_at"].startswith(
        replayed[0].astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M")
    )
    assert result(doc, DEFECT)["unexpected_count"] == 1


def test_an_invalid_max_replica_lag_is_one_error(env, project, tmp_path):
    done = ytdq(project, "checkpoint", "run", "standby_checks", YTDQ_MAX_REPLICA_LAG="soon", **env)
    assert done.returncode == 2
    (line,) = errors(done)
    assert "YTDQ_MAX_REPLICA_LAG='soon'" in line and "seconds" in line
