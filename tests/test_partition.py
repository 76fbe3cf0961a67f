"""``ytdq db partition-analytics`` (ytempire_dq.db.partition): a plain analytics table converted in
place into monthly partitions keeps its rows, keys, indexes and grants; the committed ``nightly``
gives the same verdicts and counts before and after, on clean data and on the defect corpus; a
duplicate ``analytics.id`` across two partitions is counted exactly; an incremental run's scoped
statements read only the partitions of the days it judges."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.helpers import copy_project, empty_redis_db, module_environ, rows, scalar
from ytempire_dq.config import CHECK_USER
from ytempire_dq.db import partition
from ytempire_dq.db.connect import connect
from ytempire_dq.fixtures import seed
from ytempire_dq.fixtures.defects import DEFECT_KINDS
from ytempire_dq.run.checkpoint import run_checkpoint

YTDQ = Path(sys.executable).with_name("ytdq")
REDIS_DB = 5  # emptied: this module's own
# every kind but the results store's own (old dq.* rows): the first run's retention removes those,
# so a second run differs for a reason that has nothing to do with analytics
COUNTS = {kind: i % 5 + 1 for i, kind in enumerate(DEFECT_KINDS) if not DEFECT_KINDS[kind].table.startswith("dq.")}


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    return copy_project(tmp_path_factory.mktemp("partition"))


@pytest.fixture(scope="module")
def redis_up(redis_url):
    """An empty Redis database of this module's own: nightly validates the cache too, and an empty
    one breaks no rule (the session's database 0 holds what other tests of the worker left)."""
    for cache_url in empty_redis_db(redis_url, REDIS_DB):
        yield from module_environ(REDIS_URL=cache_url)


def _nightly(project, url, **flags):
    return run_checkpoint("nightly", config_dir=project, database_url=url, **flags)


def _verdicts(report) -> dict:
    """Every table rule's verdict and bad-row count (the cache suite reads the shared Redis)."""
    return {
        r.rule_id: (r.success, r.unexpected_count, r.error is None)
        for v in report.validations
        if v.suite != "cache"
        for r in v.results
    }


def _catalog(conn) -> dict:
    """What the conversion must keep: constraint and index names, grants of the checking role."""
    return {
        "constraints": rows(
            conn, "SELECT conname, contype FROM pg_constraint WHERE conrelid = 'analytics'::regclass ORDER BY 1"
        ),
        "indexes": rows(
            conn, "SELECT indexrelid::regclass::text FROM pg_index WHERE indrelid = 'analytics'::regclass ORDER BY 1"
        ),
        "check_role_reads": scalar(conn, "SELECT has_table_privilege(%s, 'analytics', 'SELECT')", (CHECK_USER,)),
        "check_role_writes": scalar(
            conn, "SELECT has_table_privilege(%s, 'analytics', 'INSERT, UPDATE, DELETE, TRUNCATE')", (CHECK_USER,)
        ),
        "rows": scalar(conn, "SELECT count(*) FROM analytics"),
        "digest": scalar(conn, "SELECT md5(string_agg(a::text, ',' ORDER BY id, date)) FROM analytics a"),
    }


def _converted(new_database, project, label, inject):
    url = new_database(label)
    seed.seed(url, users=30, seed=42, inject=inject)
    before = _nightly(project, url)
    conn = connect(url, autocommit=True)
    try:
        catalog = _catalog(conn)
        dry = partition.partition_analytics(url, dry_run=True)
        assert scalar(conn, "SELECT relkind FROM pg_class WHERE oid = 'analytics'::regclass") == "r"  # dry: no change
        done = partition.partition_analytics(url)
        assert done.statements == dry.statements
        after_catalog = _catalog(conn)
    finally:
        conn.close()
    return url, before, _nightly(project, url), catalog, after_catalog, done


@pytest.fixture(scope="module")
def clean(new_database, project, redis_up):
    return _converted(new_database, project, "partition_clean", {})


@pytest.fixture(scope="module")
def broken(new_database, project, redis_up):
    return _converted(new_database, project, "partition_broken", COUNTS)


def test_the_table_is_partitioned_by_month_and_keeps_its_rows_keys_and_grants(clean):
    url, _, _, before, after, done = clean
    assert after == before  # same rows, same constraint and index names, the same grants
    assert before["check_role_reads"] and not before["check_role_writes"]
    conn = connect(url, autocommit=True)
    try:
        assert scalar(conn, "SELECT pg_get_partkeydef('analytics'::regclass)") == "RANGE (date)"
        assert (
            scalar(conn, "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'analytics_pkey'")
            == "PRIMARY KEY (id, date)"
        )
        parts = rows(
            conn,
            "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i JOIN pg_class c "
            "ON c.oid = i.inhrelid WHERE i.inhparent = 'analytics'::regclass ORDER BY 1",
        )
        oldest, newest = rows(conn, "SELECT min(date), max(date) FROM analytics")[0]
        assert len(parts) == done.months + 1 and ("analytics_default", "DEFAULT") in parts
        assert f"analytics_{oldest:%Y_%m}" in dict(parts) and f"analytics_{newest:%Y_%m}" in dict(parts)
        assert scalar(conn, "SELECT count(*) FROM analytics_default") == 0
        # the checking role reads every partition too, and writes none
        assert scalar(
            conn,
            "SELECT bool_and(has_table_privilege(%s, inhrelid, 'SELECT') AND NOT "
            "has_table_privilege(%s, inhrelid, 'INSERT, UPDATE, DELETE, TRUNCATE')) "
            "FROM pg_inherits WHERE inhparent = 'analytics'::regclass",
            (CHECK_USER, CHECK_USER),
        )
    finally:
        conn.close()
    assert any("(id) becomes (id, date)" in note for note in done.notes)


def test_nightly_gives_the_same_verdicts_and_counts_on_clean_data(clean):
    _, before, after, *_ = clean
    assert _verdicts(after) == _verdicts(before)
    assert before.exit_code == after.exit_code == 0, after.failed_rules()
    # what changed is how analytics.id is known unique: proved by the plain table's index, then scanned
    assert "proved by unique index" in str(before.rule("analytics.id_unique").observed_value)
    assert str(after.rule("analytics.id_unique").observed_value).startswith(
        "0 duplicates: counted by one GROUP BY scan of analytics in the order of index analytics_pkey"
    )
    assert "proved by unique index" in str(after.rule("analytics.one_row_per_video_day").observed_value)


def test_nightly_gives_the_same_verdicts_and_counts_on_the_defect_corpus(broken):
    _, before, after, *_ = broken
    assert after.exit_code == before.exit_code == 1
    assert _verdicts(after) == _verdicts(before)
    failed = {r.rule_id for r in after.rules() if not r.success}
    analytics_kinds = {k.rule_id for k in DEFECT_KINDS.values() if k.table == "analytics"}
    assert analytics_kinds and analytics_kinds <= failed


def test_a_duplicate_id_across_two_partitions_is_counted_exactly(clean, project):
    url, *_ = clean
    conn = connect(url, autocommit=True)
    try:
        first, first_date = rows(conn, "SELECT id, date FROM analytics ORDER BY date, id LIMIT 1")[0]
        late_id, late_date = rows(
            conn, "SELECT id, date FROM analytics WHERE date = current_date - 1 ORDER BY id LIMIT 1"
        )[0]
        assert f"{first_date:%Y_%m}" != f"{late_date:%Y_%m}"  # two partitions
        with conn.cursor() as cur:
            cur.execute("UPDATE analytics SET id = %s WHERE id = %s AND date = %s", (first, late_id, late_date))
        report = _nightly(project, url)
        result = report.rule("analytics.id_unique")
        assert not result.success and result.unexpected_count == 2
        assert {r["rule_id"] for r in report.failed_rules()} == {"analytics.id_unique"}
    finally:
        with conn.cursor() as cur:
            cur.execute("UPDATE analytics SET id = %s WHERE id = %s AND date = %s", (late_id, first, late_date))
        conn.close()


def test_an_incremental_run_reads_only_the_partitions_of_the_days_it_judges(clean, project):
    url, *_ = clean
    _nightly(project, url)  # a successful run: its watermark is the next run's lower bound
    seen: list[tuple[str, object]] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        if not executemany:  # the reads (the results store's batched writes are executemany)
            seen.append((statement, parameters))

    sa.event.listen(sa.engine.Engine, "before_cursor_execute", record)
    try:
        inc = _nightly(project, url, since_last=True)
    finally:
        sa.event.remove(sa.engine.Engine, "before_cursor_execute", record)
    assert inc.scan["mode"] == "incremental" and inc.exit_code == 0, inc.failed_rules()
    since = dt.date.fromisoformat(inc.scan["tables"]["analytics"]["since"])
    conn = connect(url, autocommit=True)
    try:
        bounds = dict(
            rows(
                conn,
                "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i JOIN pg_class c "
                "ON c.oid = i.inhrelid WHERE i.inhparent = 'analytics'::regclass",
            )
        )
        judged = {
            name for name in bounds if name == "analytics_default" or name[len("analytics_") :] >= f"{since:%Y_%m}"
        }
        assert judged < set(bounds)  # older months exist, to be left out
        scoped = lookups = 0
        with conn.cursor() as cur:
            for statement, parameters in seen:
                text = cur.mogrify(statement, parameters or None).decode()
                if "analytics" not in text or f"'{since.isoformat()}'" not in text:
                    continue
                cur.execute("EXPLAIN (FORMAT JSON) " + text)
                plan = cur.fetchone()[0]
                touched = {name for name in _relations(plan) if name in bounds}
                if "HAVING count(*) >" in text:  # analytics.id_unique: the new ids against every row
                    lookups += 1
                    assert touched == set(bounds), text
                    continue
                assert touched <= judged, (text, sorted(touched - judged))
                scoped += bool(touched)  # a sample query's LIMIT 0 reads nothing at all
    finally:
        conn.close()
    assert scoped >= 5  # the map rules' counts, the SQL rules, the orphan rule
    assert lookups == 1
    lookup = inc.rule("analytics.id_unique")
    assert lookup.success and "against every row of analytics" in lookup.observed_value, lookup.observed_value


def test_a_full_runs_duplicate_scan_reads_the_primary_key_in_order_not_a_hash_of_every_id(clean, project):
    """A hash aggregate of every id spills to disk at scale (96M rows: 85-93 s, against 40 s in the
    index's order): the full run's scan is sent after ``SET LOCAL enable_hashagg = off``."""
    url, *_ = clean
    seen: list[str] = []

    def record(conn, cursor, statement, parameters, *args):
        seen.append(cursor.mogrify(statement, parameters or None).decode())

    sa.event.listen(sa.engine.Engine, "before_cursor_execute", record)
    try:
        assert _nightly(project, url).exit_code == 0
    finally:
        sa.event.remove(sa.engine.Engine, "before_cursor_execute", record)
    (at,) = [i for i, text in enumerate(seen) if "HAVING count(*) >" in text]
    assert seen[at - 1] == "SET LOCAL enable_hashagg = off"
    conn = connect(url, autocommit=True)
    try:
        with conn.cursor() as cur:
            cur.execute("BEGIN; SET LOCAL enable_hashagg = off")
            cur.execute("EXPLAIN (FORMAT JSON) " + seen[at])
            nodes = str(cur.fetchone()[0])
            cur.execute("ROLLBACK")
    finally:
        conn.close()
    assert "'Strategy': 'Hashed'" not in nodes and "'Strategy': 'Sorted'" in nodes


def test_an_incremental_run_finds_a_new_row_that_repeats_an_old_rows_id(clean, project):
    """The new rows' ids are looked up across every partition; a duplicate between two old rows is
    left to the full run (``full_sweep_every``), which counts the whole table."""
    url, *_ = clean
    _nightly(project, url)  # a successful run: its watermark is the next run's lower bound
    conn = connect(url, autocommit=True)
    old_id, old_date = rows(conn, "SELECT id, date FROM analytics ORDER BY date, id LIMIT 1")[0]
    changed = []  # (id before, id now, date)

    def reuse_old_id(days_ago: int) -> None:
        row_id, day = rows(
            conn, "SELECT id, date FROM analytics WHERE date = current_date - %s ORDER BY id LIMIT 1", (days_ago,)
        )[0]
        assert f"{old_date:%Y_%m}" != f"{day:%Y_%m}"  # two partitions
        with conn.cursor() as cur:
            cur.execute("UPDATE analytics SET id = %s WHERE id = %s AND date = %s", (old_id, row_id, day))
        changed.append((row_id, old_id, day))

    def restore() -> None:
        with conn.cursor() as cur:
            while changed:
                cur.execute("UPDATE analytics SET id = %s WHERE id = %s AND date = %s", changed.pop())

    try:
        reuse_old_id(0)  # a row of today: new since the last run's watermark
        inc = _nightly(project, url, since_last=True)
        assert inc.scan["mode"] == "incremental" and inc.scan["tables"]["analytics"]["since"] < f"{dt.date.today()}"
        result = inc.rule("analytics.id_unique")
        assert not result.success and result.unexpected_count == 2
        assert {r["rule_id"] for r in inc.failed_rules()} == {"analytics.id_unique"}
        restore()
        reuse_old_id(5)  # two old rows: the incremental run does not look, the full run counts them
        assert _nightly(project, url, since_last=True).rule("analytics.id_unique").success
        full = _nightly(project, url).rule("analytics.id_unique")
        assert not full.success and full.unexpected_count == 2
    finally:
        restore()
        conn.close()


def _relations(plan) -> set[str]:
    """Every ``Relation Name`` an EXPLAIN (FORMAT JSON) plan reads."""
    found: set[str] = set()
    stack = [plan]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if "Relation Name" in node:
                found.add(node["Relation Name"])
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return found


def test_an_already_partitioned_table_is_refused_with_one_line(clean):
    url, *_ = clean
    env = {**os.environ, "DATABASE_URL": url, "YTDQ_STORE_URL": url, "COLUMNS": "400"}
    proc = subprocess.run(
        [str(YTDQ), "db", "partition-analytics"], capture_output=True, text=True, env=env, timeout=120
    )
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "already partitioned" in lines[0] and "nothing changed" in lines[0], proc.stderr


def test_the_dry_run_prints_the_plan_and_changes_nothing(new_database):
    url = new_database("partition_dry")
    seed.seed(url, users=3, seed=1)
    env = {**os.environ, "DATABASE_URL": url, "YTDQ_STORE_URL": url, "COLUMNS": "400"}
    proc = subprocess.run(
        [str(YTDQ), "db", "partition-analytics", "--dry-run"], capture_output=True, text=True, env=env, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert 'PARTITION BY RANGE ("date")' in proc.stdout and "PARTITION OF" in proc.stdout
    assert "DEFAULT;" in proc.stdout and "dry run: nothing changed" in proc.stdout
    conn = connect(url, autocommit=True)
    try:
        assert scalar(conn, "SELECT relkind FROM pg_class WHERE oid = 'analytics'::regclass") == "r"
    finally:
        conn.close()
