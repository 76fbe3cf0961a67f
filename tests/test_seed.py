"""The seeder on a real PostgreSQL: clean data keeps every rule, deterministically, fast enough."""

from __future__ import annotations

import json
from datetime import date

import pytest

from tests.helpers import rows, scalar
from ytempire_dq.db.connect import DatabaseUnavailable, connect
from ytempire_dq.errors import YtdqError
from ytempire_dq.fixtures import seed as seeder
from ytempire_dq.fixtures.factories import TIER_LIMITS

USERS = 30


@pytest.fixture(scope="module")
def seeded(db_url):
    return seeder.seed(db_url, users=USERS, seed=42)


@pytest.fixture
def sdb(seeded, db):
    return db


def test_report_counts_rows_in_every_table(seeded, sdb):
    assert seeded.users == USERS
    for table in seeder.TABLES:
        actual = scalar(sdb, f"SELECT count(*) FROM {table}")
        assert actual > 0, table
        assert seeded.rows[table] == actual, table
    assert seeded.rows["users"] == USERS
    assert seeded.rows_per_second > 0
    assert seeded.injected == {}
    assert "analytics" in str(seeded)


@pytest.mark.parametrize("kind", sorted(seeder.DEFECT_KINDS))
def test_clean_data_breaks_no_rule(sdb, kind):
    assert scalar(sdb, seeder.DEFECT_KINDS[kind].count_sql) == 0


def test_view_sums_match_exactly(sdb):
    assert (
        scalar(
            sdb,
            """
        SELECT count(*) FROM videos v
        WHERE v.view_count <> (SELECT coalesce(sum(views), 0) FROM analytics a WHERE a.video_id = v.id)""",
        )
        == 0
    )
    assert scalar(sdb, "SELECT sum(view_count) FROM videos WHERE status = 'published'") > 0


def test_revenue_sums_match_exactly_and_subscribers_stay_within_views(sdb):
    """videos.revenue is the sum of its days' revenue to the cent; a day gains at most one subscriber per view;
    only channels whose videos gained 1,000+ subscribers are monetized, and some are."""
    assert (
        scalar(
            sdb,
            "SELECT count(*) FROM videos v "
            "WHERE v.revenue <> (SELECT coalesce(sum(revenue), 0) FROM analytics a WHERE a.video_id = v.id)",
        )
        == 0
    )
    assert scalar(sdb, "SELECT sum(revenue) FROM videos") > 0
    assert scalar(sdb, "SELECT count(*) FROM analytics WHERE subscribers_gained > views OR subscribers_gained < 0") == 0
    assert scalar(sdb, "SELECT sum(subscribers_gained) FROM analytics") > 0
    gained = rows(
        sdb,
        "SELECT c.monetization_status, (SELECT coalesce(sum(a.subscribers_gained), 0) FROM videos v "
        "JOIN analytics a ON a.video_id = v.id WHERE v.channel_id = c.id) FROM channels c",
    )
    assert all(total >= 1000 for status, total in gained if status == "monetized")
    assert any(status == "monetized" for status, _total in gained)


def test_suspended_and_deleted_users_keep_no_active_channel(sdb):
    statuses = dict(rows(sdb, "SELECT status, count(*) FROM users GROUP BY status"))
    assert set(statuses) <= {"active", "suspended", "deleted"} and statuses["active"] > 0
    assert (
        scalar(
            sdb,
            "SELECT count(*) FROM channels c JOIN users u ON u.id = c.user_id "
            "WHERE u.status <> 'active' AND c.status = 'active'",
        )
        == 0
    )


def test_analytics_cover_publish_date_to_today_for_published_videos_only(sdb):
    today = scalar(sdb, "SELECT current_date")
    assert (
        scalar(
            sdb,
            "SELECT count(*) FROM videos WHERE status <> 'published' AND "
            "(view_count <> 0 OR EXISTS (SELECT 1 FROM analytics a WHERE a.video_id = videos.id))",
        )
        == 0
    )
    bad = rows(
        sdb,
        """
        SELECT v.id FROM videos v JOIN analytics a ON a.video_id = v.id WHERE v.status = 'published'
        GROUP BY v.id, v.published_at
        HAVING min(a.date) <> v.published_at::date OR max(a.date) <> current_date
            OR count(*) <> current_date - v.published_at::date + 1""",
    )
    assert bad == []
    assert scalar(sdb, "SELECT max(date) FROM analytics") == today
    assert (
        scalar(
            sdb,
            "SELECT count(*) FROM videos WHERE status = 'published' "
            "AND NOT EXISTS (SELECT 1 FROM analytics a WHERE a.video_id = videos.id)",
        )
        == 0
    )


def test_nothing_lies_in_the_future(sdb):
    for table, column in [
        ("users", "created_at"),
        ("users", "updated_at"),
        ("channels", "created_at"),
        ("videos", "created_at"),
        ("videos", "published_at"),
        ("api_keys", "last_used_at"),
        ("api_keys", "revoked_at"),
        ("workflows", "finished_at"),
        ("workflows", "created_at"),
    ]:
        assert scalar(sdb, f"SELECT count(*) FROM {table} WHERE {column} > now()") == 0, (table, column)
    assert (
        scalar(
            sdb, "SELECT count(*) FROM channels c JOIN users u ON u.id = c.user_id WHERE c.created_at < u.created_at"
        )
        == 0
    )


def test_shapes_follow_the_platform(sdb):
    # tier limits hold for every user, including free users with several channels
    over = rows(
        sdb,
        "SELECT u.subscription_tier, count(*) FROM channels c JOIN users u ON u.id = c.user_id "
        "WHERE c.status = 'active' GROUP BY u.id, u.subscription_tier",
    )
    assert all(n <= TIER_LIMITS[tier] for tier, n in over)
    per_user = [n for (n,) in rows(sdb, "SELECT count(*) FROM channels GROUP BY user_id")]
    assert min(per_user) >= 1 and max(per_user) <= 5
    assert (
        scalar(sdb, "SELECT count(*) FROM users u WHERE NOT EXISTS (SELECT 1 FROM channels c WHERE c.user_id = u.id)")
        == 0
    )
    published = scalar(sdb, "SELECT avg((status = 'published')::int) FROM videos")
    assert published > 0.5
    assert (
        scalar(
            sdb,
            "SELECT count(*) FROM videos WHERE status = 'published' AND "
            "(youtube_video_id IS NULL OR published_at IS NULL)",
        )
        == 0
    )
    assert scalar(sdb, "SELECT count(*) FROM api_keys WHERE key_hash !~ '^[0-9a-f]{64}$'") == 0
    assert scalar(sdb, "SELECT count(*) FROM workflows WHERE finished_at < started_at OR cost < 0") == 0
    # about 700 analytics rows per user (the scale knob is --users)
    assert 300 <= scalar(sdb, "SELECT count(*) FROM analytics") / USERS <= 1500


def test_tier_mix_is_roughly_40_35_20_5(new_database):
    url = new_database("tiers")
    seeder.seed(url, users=400, seed=7)
    conn = connect(url)
    try:
        mix = dict(rows(conn, "SELECT subscription_tier, count(*)::float / 400 FROM users GROUP BY 1"))
    finally:
        conn.close()
    for tier, share in {"free": 0.40, "starter": 0.35, "professional": 0.20, "enterprise": 0.05}.items():
        assert abs(mix.get(tier, 0) - share) < 0.08, (tier, mix)


def _snapshot(url):
    conn = connect(url)
    try:
        counts = {t: scalar(conn, f"SELECT count(*) FROM {t}") for t in seeder.TABLES}
        emails = [r[0] for r in rows(conn, "SELECT email FROM users ORDER BY id")]
        views = scalar(conn, "SELECT sum(views) FROM analytics")
        ids = [
            r[0]
            for r in rows(conn, "SELECT youtube_video_id FROM videos WHERE youtube_video_id IS NOT NULL ORDER BY id")
        ]
    finally:
        conn.close()
    return counts, emails, views, ids


def test_same_seed_same_data(seeded, db_url, new_database):
    other = new_database("determinism")
    report = seeder.seed(other, users=USERS, seed=42)
    assert report.rows == seeded.rows
    assert _snapshot(other) == _snapshot(db_url)
    # and a different seed gives different data
    seeder.seed(other, users=USERS, seed=43)
    assert _snapshot(other)[1] != _snapshot(db_url)[1]


def test_reseeding_replaces_the_data(new_database):
    url = new_database("reseed")
    seeder.seed(url, users=8, seed=1)
    report = seeder.seed(url, users=5, seed=1)
    conn = connect(url)
    try:
        assert scalar(conn, "SELECT count(*) FROM users") == 5 == report.rows["users"]
    finally:
        conn.close()


def test_manifest_lists_kinds_with_count_above_zero(new_database, tmp_path):
    url = new_database("manifest")
    path = tmp_path / "sub" / "manifest.json"
    report = seeder.seed(
        url,
        users=10,
        seed=3,
        inject={"bad_email": 2, "orphan_videos": 0, "duplicate_email": 1},
        manifest_path=path,
        progress=True,
    )
    assert json.loads(path.read_text()) == {"bad_email": 2, "duplicate_email": 1}
    assert report.injected == {"bad_email": 2, "duplicate_email": 1}
    assert report.manifest_path == path
    from rich.console import Console

    console = Console(record=True, width=100)
    console.print(report.summary())
    text = console.export_text()
    assert "analytics" in text and "bad_email" in text


def test_negative_count_and_bad_users_rejected_before_writing(seeded, db_url, sdb):
    before = scalar(sdb, "SELECT count(*) FROM users")
    with pytest.raises(YtdqError, match="bad_email"):
        seeder.seed(db_url, users=3, inject={"bad_email": -1})
    with pytest.raises(YtdqError, match="users"):
        seeder.seed(db_url, users=0)
    assert scalar(sdb, "SELECT count(*) FROM users") == before


def test_unreachable_database_is_a_clear_error():
    with pytest.raises(DatabaseUnavailable, match=r"\*\*\*"):
        seeder.seed("postgresql://u:secret@127.0.0.1:1/nope", users=1)


def test_today_anchor_matches_server(new_database):
    """The seed's "today" is the server's ``current_date``, not the client's: in a database whose
    sessions run 12-14 hours away from UTC (whichever side has another date right now), the
    analytics of every published video end on the server's date and nothing starts on it."""
    from datetime import datetime, timezone

    utc_today = datetime.now(timezone.utc).date()
    zone = "Etc/GMT-14" if datetime.now(timezone.utc).hour >= 10 else "Etc/GMT+12"  # UTC+14 / UTC-12
    url = new_database("seed_anchor")
    conn = connect(url, autocommit=True)
    try:
        dbname = scalar(conn, "SELECT current_database()")
        conn.cursor().execute(f"ALTER DATABASE {dbname} SET timezone = '{zone}'")
    finally:
        conn.close()
    seeder.seed(url, users=3, seed=5)
    conn = connect(url)
    try:
        server_today = scalar(conn, "SELECT current_date")
        assert isinstance(server_today, date) and server_today != utc_today  # the premise: the clocks disagree
        assert scalar(conn, "SELECT max(date) FROM analytics") == server_today
        ends = rows(
            conn,
            "SELECT DISTINCT (SELECT max(a.date) FROM analytics a WHERE a.video_id = v.id) FROM videos v "
            "WHERE v.status = 'published'",
        )
        assert ends == [(server_today,)]  # every published video's analytics run up to the server's today
        for table in ("users", "channels", "videos"):
            assert scalar(conn, f"SELECT max(created_at) < current_date FROM {table}") is True, table
    finally:
        conn.close()


def _schema(conn):
    return rows(
        conn,
        """SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint
                         WHERE connamespace = 'public'::regnamespace
                         UNION ALL SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'
                         ORDER BY 1, 2, 3""",
    )


def test_seed_leaves_every_constraint_and_index_in_place(new_database):
    # the bulk load defers analytics' keys and indexes; they must all come back, same names
    url = new_database("schema")
    conn = connect(url)
    try:
        before = _schema(conn)
        assert any(name == "analytics_video_id_date_key" for _t, name, _d in before)
        seeder.seed(url, users=5, seed=9)
        assert _schema(conn) == before
    finally:
        conn.close()
