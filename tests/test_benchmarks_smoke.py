"""Smoke test of benchmarks/ at a tiny scale (no Soda, no GX run): the floor's counts are the
seeder's, the SodaCL covers every rule, and the workloads produce numbers."""

from __future__ import annotations

import contextlib

import pytest

from benchmarks import rules as R
from benchmarks import workloads as W
from ytempire_dq.db.connect import connect
from ytempire_dq.fixtures.seed import seed

INJECT = {
    "bad_email": 3,
    "orphan_videos": 2,
    "duplicate_email": 2,
    "analytics_sum_mismatch": 2,
    "future_analytics_date": 4,
    "over_tier_limit": 1,
    "markup_in_title": 2,
    # business rules: a row_condition with IN / >, expect_column_values_to_be_null, a JOIN + HAVING query
    "youtube_id_on_unpublished_video": 2,
    "revenue_without_views": 3,
    "stale_analytics": 2,
    "stuck_workflow": 1,
}


@pytest.fixture(scope="module")
def seeded(db_url, tmp_path_factory):
    report = seed(
        db_url, users=12, seed=7, inject=INJECT, manifest_path=tmp_path_factory.mktemp("bench") / "manifest.json"
    )
    return db_url, report


def test_floor_counts_equal_the_seeders_manifest(seeded):
    url, report = seeded
    rules = R.load_rules()
    statements = R.floor_statements(rules)
    # one pass per table: six statements carry every row-level rule
    assert sum(1 for s in statements if s.label.endswith("one pass")) == 6
    conn = connect(url, autocommit=True)
    try:
        counts = R.run_floor(conn, rules, statements)
    finally:
        conn.close()
    assert set(counts) == {r.rule_id for r in rules}  # every rule of every suite has a count
    assert report.injected == INJECT
    assert counts["users.email_format"] == 3
    assert counts["videos.channel_exists"] == 2
    assert counts["users.email_unique"] == 2 * 2  # two duplicated emails, two rows each
    assert counts["videos.view_count_matches_analytics"] == 2
    assert counts["analytics.date_not_in_future"] == 4
    assert counts["users.active_channels_within_tier_limit"] == 1
    assert counts["videos.title_has_no_markup"] == 2  # expect_column_values_to_not_match_regex: col ~ regex
    assert counts["videos.unpublished_has_no_youtube_id"] == 2
    assert counts["analytics.no_revenue_without_views"] == 3
    assert counts["analytics.fresh_per_published_video"] == 2 and counts["analytics.sync_current"] == 0
    assert counts["workflows.not_stuck_running"] == 1  # expect_column_newest_value_to_be_recent, per key
    assert counts["users.columns"] == 0 and counts["analytics.revenue_type"] == 0
    broken = {k for k, v in counts.items() if v}
    assert broken >= {  # rules of the project's own (an analyst's stricter ones) may break too
        "users.email_format",
        "videos.channel_exists",
        "users.email_unique",
        "videos.view_count_matches_analytics",
        "analytics.date_not_in_future",
        "users.active_channels_within_tier_limit",
        "videos.title_has_no_markup",
        "videos.unpublished_has_no_youtube_id",
        "analytics.no_revenue_without_views",
        "analytics.fresh_per_published_video",
        "workflows.not_stuck_running",
    }


def test_sodacl_names_every_rule():
    rules = R.load_rules()
    checks = R.sodacl_checks(rules)
    names = set()
    for table_checks in checks.values():
        for check in table_checks:
            (spec,) = check.values()
            names.add(spec["name"] if isinstance(spec, dict) and "name" in spec else None)
    folded = {r.rule_id for r in rules if r.type == "expect_column_values_to_be_in_type_list"}
    assert {r.rule_id for r in rules} - folded <= names
    assert {f"{t}.column_types" for t in R.TABLES} <= names  # type rules: one schema check per table


def test_workloads_produce_numbers(seeded):
    url, _ = seeded
    app = W.app_queries(url, n=5)
    assert set(app) == set(W.APP_QUERIES) and all(len(v["ms"]) == 5 for v in app.values())
    assert app["channel_video_analytics"]["plan"]["nodes"]
    bulk = W.bulk_insert(url, repeats=1, n=50)
    assert all(len(v) == 1 and v[0] > 0 for v in bulk.values())
    conc = W.concurrent_queries(url, queries=12, workers=3)
    assert len(conc["ms"]) == 12 and conc["qps"] > 0
    pool = W.pool_exhaustion(url, pool_size=2, timeout=0.2, repeats=1)
    assert pool["error_type"] == "sqlalchemy.exc.TimeoutError"
    assert 0.15 < pool["wait_s"][0] < 5  # waited pool_timeout, then raised: no hang
    with connect(url, autocommit=True) as conn, conn.cursor() as cur:  # the bulk rows were removed again
        cur.execute("SELECT count(*) FROM videos WHERE description = 'bulk insert benchmark'")
        assert cur.fetchone()[0] == 0


def test_fair_floor_skips_only_proved_uniqueness_and_counts_the_same(seeded):
    from benchmarks import nightly as N
    from benchmarks import whole as WH

    url, _ = seeded
    rules = R.load_rules()
    conn = connect(url, autocommit=True)
    try:
        floor = R.run_floor(conn, rules)
    finally:
        conn.close()
    pgss = N.Pgss(url)
    try:
        fair = WH.run_fair_floor(url, pgss, rules)
    finally:
        pgss.close()
    assert fair["counts"] == floor
    unique = {r.rule_id for r in rules if r.type in R.UNIQUE_TYPES}
    assert set(fair["proved_by_index"]) <= unique and "users.id_unique" in fair["proved_by_index"]
    assert "users.email_unique" not in fair["proved_by_index"]  # duplicate_email dropped users_email_key
    assert fair["statements"] < len(R.floor_statements(rules)) + 1


def test_deadlock_workload_counts_transactions_and_leaves_the_data_as_seeded(seeded):
    from benchmarks import deadlocks as D

    url, _ = seeded
    rules = R.load_rules()
    conn = connect(url, autocommit=True)
    try:
        before = R.run_floor(conn, rules)
        out = D.deadlock_rate(url, clients=20, seconds=1.0)
        after = R.run_floor(conn, rules)
    finally:
        conn.close()
    assert out["transactions"] > 0 and out["deadlocks"] >= 0 and out["other_errors"] == 0
    assert out["rate"] == out["deadlocks"] / out["transactions"]
    assert after == before  # every transaction rolled back


def _in_date_order(url: str) -> bool:
    """Are analytics' rows stored in date order (each heap row's date >= the row before it)?"""
    from tests.helpers import scalar

    with contextlib.closing(connect(url, autocommit=True)) as conn:
        return scalar(
            conn,
            "SELECT bool_and(date >= before) FROM (SELECT date, lag(date) OVER (ORDER BY ctid) AS before FROM analytics) h",
        )


def test_the_harness_lays_analytics_out_in_date_order_when_asked(db_url):
    """``benchmarks.run --layout by-date``: the rows in date order, as a table appended day by day;
    a later ``seeded`` run does not reuse that database (it seeds again)."""
    from benchmarks import run as B

    url, meta = B.prepare_database(db_url, "layout_smoke", users=3, reuse=True, inject={}, layout="by-date")
    assert meta["layout"] == "by-date" and _in_date_order(url)
    url, again = B.prepare_database(db_url, "layout_smoke", users=3, reuse=True, inject={}, layout="by-date")
    assert again["reused"] and again["layout"] == "by-date"
    url, seeded = B.prepare_database(db_url, "layout_smoke", users=3, reuse=True, inject={})
    assert not seeded["reused"] and seeded["layout"] == "seeded" and not _in_date_order(url)
