"""Transactions, isolation, cascades, CHECK and UNIQUE constraints (the platform spec's §7).

The seed's rollback test never ran its failing insert inside the transaction it then checked;
here the failing statement runs in the SAME transaction as the earlier insert, and the earlier
row is shown to be gone afterwards from a second connection.
"""

from __future__ import annotations

import datetime as dt
import uuid

import psycopg2.errors
import pytest
from psycopg2.extensions import ISOLATION_LEVEL_READ_COMMITTED, ISOLATION_LEVEL_REPEATABLE_READ

from tests.helpers import insert_channel, insert_row, insert_user, insert_video, scalar
from ytempire_dq.db.connect import connect


@pytest.fixture
def txn(db_url):
    """A connection in transaction mode (psycopg2 opens a transaction at the first statement)."""
    conn = connect(db_url)
    yield conn
    conn.rollback()
    conn.close()


def _user_exists(conn, email: str) -> bool:
    return scalar(conn, "SELECT count(*) FROM users WHERE email = %s", (email,)) == 1


# ---------------------------------------------------------------------------------------------
# rollback


def test_failing_insert_rolls_back_the_earlier_insert_of_the_same_transaction(txn, db):
    first = f"first-{uuid.uuid4().hex[:8]}@example.com"
    insert_user(txn, email=first)
    assert _user_exists(txn, first)  # visible inside its transaction ...
    assert not _user_exists(db, first)  # ... and to nobody else yet
    with pytest.raises(psycopg2.errors.UniqueViolation):
        insert_user(txn, email=first)  # same transaction, same email: fails
    with pytest.raises(psycopg2.errors.InFailedSqlTransaction):
        scalar(txn, "SELECT 1")  # the transaction is now aborted: nothing else runs in it
    txn.rollback()
    assert not _user_exists(txn, first)
    assert not _user_exists(db, first)


def test_failing_child_insert_rolls_back_its_parent(db_url, db):
    email = f"parent-{uuid.uuid4().hex[:8]}@example.com"
    conn = connect(db_url)
    try:
        with pytest.raises(psycopg2.errors.CheckViolation):
            with conn:  # commit on success, rollback on exception
                user = insert_user(conn, email=email)
                insert_channel(conn, user, status="banned")
    finally:
        conn.close()
    assert not _user_exists(db, email)


def test_savepoint_keeps_what_came_before_it(txn, db):
    email = f"kept-{uuid.uuid4().hex[:8]}@example.com"
    user = insert_user(txn, email=email)
    txn.cursor().execute("SAVEPOINT before_channel")
    with pytest.raises(psycopg2.errors.CheckViolation):
        insert_channel(txn, user, status="banned")
    txn.cursor().execute("ROLLBACK TO SAVEPOINT before_channel")
    insert_channel(txn, user)
    txn.commit()
    assert _user_exists(db, email)
    assert scalar(db, "SELECT count(*) FROM channels WHERE user_id = %s", (user,)) == 1


# ---------------------------------------------------------------------------------------------
# isolation


def test_uncommitted_row_is_invisible_to_a_second_connection(txn, db):
    email = f"dirty-{uuid.uuid4().hex[:8]}@example.com"
    insert_user(txn, email=email)
    assert not _user_exists(db, email)  # PostgreSQL has no dirty reads
    txn.commit()
    assert _user_exists(db, email)


@pytest.mark.parametrize(
    ("level", "sees_new_row"), [(ISOLATION_LEVEL_READ_COMMITTED, True), (ISOLATION_LEVEL_REPEATABLE_READ, False)]
)
def test_reader_sees_a_concurrent_commit_only_under_read_committed(db_url, db, level, sees_new_row):
    marker = f"iso_{uuid.uuid4().hex[:8]}"
    count = f"SELECT count(*) FROM users WHERE username LIKE '{marker}%'"
    reader = connect(db_url)
    reader.set_isolation_level(level)
    try:
        assert scalar(reader, count) == 0  # the reader's transaction (and snapshot) starts here
        insert_user(db, username=f"{marker}_1")  # autocommit: committed at once
        assert scalar(reader, count) == (1 if sees_new_row else 0)
        reader.commit()
        assert scalar(reader, count) == 1  # a new transaction sees it either way
    finally:
        reader.rollback()
        reader.close()


def test_repeatable_read_refuses_to_update_a_row_changed_since_its_snapshot(db_url, db):
    user = insert_user(db)
    reader = connect(db_url)
    reader.set_isolation_level(ISOLATION_LEVEL_REPEATABLE_READ)
    try:
        assert scalar(reader, "SELECT subscription_tier FROM users WHERE id = %s", (user,)) == "free"
        db.cursor().execute("UPDATE users SET subscription_tier = 'starter' WHERE id = %s", (user,))
        with pytest.raises(psycopg2.errors.SerializationFailure):
            reader.cursor().execute("UPDATE users SET subscription_tier = 'enterprise' WHERE id = %s", (user,))
    finally:
        reader.rollback()
        reader.close()
    assert scalar(db, "SELECT subscription_tier FROM users WHERE id = %s", (user,)) == "starter"


# ---------------------------------------------------------------------------------------------
# ON DELETE CASCADE


def _family(conn, channels=2, videos=3, days=4, keys=2, flows=2) -> dict:
    """One user with ``channels`` channels, each with videos (each with daily analytics) and workflows."""
    user = insert_user(conn)
    for k in range(keys):
        insert_row(conn, "api_keys", {"user_id": user, "key_hash": uuid.uuid4().hex * 2, "name": f"key{k}"})
    channel_ids = []
    for _ in range(channels):
        channel = insert_channel(conn, user)
        channel_ids.append(channel)
        for _ in range(flows):
            insert_row(conn, "workflows", {"channel_id": channel, "kind": "upload"})
        for _ in range(videos):
            video = insert_video(conn, channel)
            for day in range(days):
                insert_row(conn, "analytics", {"video_id": video, "date": dt.date(2026, 1, 1) + dt.timedelta(day)})
    return {"user": user, "channels": channel_ids}


def _counts(conn, user: str) -> dict:
    """Rows that belong to ``user`` in every table, by following the keys down."""
    return {
        "users": scalar(conn, "SELECT count(*) FROM users WHERE id = %s", (user,)),
        "api_keys": scalar(conn, "SELECT count(*) FROM api_keys WHERE user_id = %s", (user,)),
        "channels": scalar(conn, "SELECT count(*) FROM channels WHERE user_id = %s", (user,)),
        "workflows": scalar(
            conn,
            "SELECT count(*) FROM workflows w JOIN channels c ON c.id = w.channel_id WHERE c.user_id = %s",
            (user,),
        ),
        "videos": scalar(
            conn, "SELECT count(*) FROM videos v JOIN channels c ON c.id = v.channel_id WHERE c.user_id = %s", (user,)
        ),
        "analytics": scalar(
            conn,
            "SELECT count(*) FROM analytics a JOIN videos v ON v.id = a.video_id "
            "JOIN channels c ON c.id = v.channel_id WHERE c.user_id = %s",
            (user,),
        ),
    }


def _totals(conn) -> dict:
    return {
        t: scalar(conn, f"SELECT count(*) FROM {t}")
        for t in ("users", "api_keys", "channels", "workflows", "videos", "analytics")
    }


def test_deleting_a_user_cascades_to_everything_below_it(db):
    doomed, bystander = _family(db), _family(db, channels=1, videos=1, days=2, keys=1, flows=1)
    assert _counts(db, doomed["user"]) == {
        "users": 1,
        "api_keys": 2,
        "channels": 2,
        "workflows": 4,
        "videos": 6,
        "analytics": 24,
    }
    before, kept = _totals(db), _counts(db, bystander["user"])
    with db.cursor() as cur:
        cur.execute("DELETE FROM users WHERE id = %s", (doomed["user"],))
        assert cur.rowcount == 1
    after = _totals(db)
    assert {t: before[t] - after[t] for t in before} == {
        "users": 1,
        "api_keys": 2,
        "channels": 2,
        "workflows": 4,
        "videos": 6,
        "analytics": 24,
    }
    assert set(_counts(db, doomed["user"]).values()) == {0}
    assert _counts(db, bystander["user"]) == kept


def test_deleting_a_channel_cascades_to_its_videos_analytics_and_workflows_only(db):
    family = _family(db)
    with db.cursor() as cur:
        cur.execute("DELETE FROM channels WHERE id = %s", (family["channels"][0],))
    assert _counts(db, family["user"]) == {
        "users": 1,
        "api_keys": 2,
        "channels": 1,
        "workflows": 2,
        "videos": 3,
        "analytics": 12,
    }


def test_cascade_is_rolled_back_with_its_transaction(txn, db):
    family = _family(db)
    before = _counts(db, family["user"])
    txn.cursor().execute("DELETE FROM users WHERE id = %s", (family["user"],))
    assert set(_counts(txn, family["user"]).values()) == {0}
    txn.rollback()
    assert _counts(db, family["user"]) == before


# ---------------------------------------------------------------------------------------------
# CHECK constraints: each rejects its bad value (and the boundary value next to it passes)


@pytest.fixture
def parents(db) -> dict:
    user = insert_user(db)
    channel = insert_channel(db, user)
    return {"user": user, "channel": channel, "video": insert_video(db, channel)}


def valid_row(table: str, parents: dict) -> dict:
    """A row of ``table`` that satisfies every constraint (unique values fresh each call)."""
    tag = uuid.uuid4().hex
    return {
        "users": {"email": f"u{tag[:10]}@example.com", "username": f"user_{tag[:10]}", "password_hash": "x"},
        "channels": {
            "user_id": parents["user"],
            "channel_name": "c",
            "niche": "tech",
            "youtube_channel_id": f"UC{tag[:22]}",
        },
        "videos": {"channel_id": parents["channel"], "title": "v"},
        "analytics": {"video_id": parents["video"], "date": dt.date(2020, 1, 1) + dt.timedelta(int(tag[:4], 16))},
        "api_keys": {"user_id": parents["user"], "key_hash": tag * 2, "name": "k"},
        "workflows": {"channel_id": parents["channel"], "kind": "upload"},
    }[table]


CHECK_CASES = [
    # (constraint, table, bad values, good boundary values)
    ("email_format", "users", {"email": "not-an-email"}, {"email": "a.b+c@sub.example.io"}),
    ("email_format", "users", {"email": "x@localhost"}, None),
    ("email_format", "users", {"email": "two words@example.com"}, None),
    ("username_length", "users", {"username": "ab"}, {"username": "abc"}),
    ("users_subscription_tier_check", "users", {"subscription_tier": "gold"}, {"subscription_tier": "enterprise"}),
    ("channels_status_check", "channels", {"status": "banned"}, {"status": "suspended"}),
    (
        "channels_monetization_status_check",
        "channels",
        {"monetization_status": "rich"},
        {"monetization_status": "demonetized"},
    ),
    ("videos_status_check", "videos", {"status": "live"}, {"status": "archived"}),
    ("videos_view_count_check", "videos", {"view_count": -1}, {"view_count": 0}),
    ("analytics_views_check", "analytics", {"views": -1}, {"views": 0}),
    ("analytics_watch_time_check", "analytics", {"watch_time_minutes": -0.01}, {"watch_time_minutes": 0}),
    ("analytics_revenue_check", "analytics", {"revenue": -0.01}, {"revenue": 0}),
    ("api_keys_key_hash_format", "api_keys", {"key_hash": "Z" * 64}, None),
    (
        "api_keys_last_used_after_created",
        "api_keys",
        {"created_at": dt.datetime(2026, 1, 2), "last_used_at": dt.datetime(2026, 1, 1)},
        {"created_at": dt.datetime(2026, 1, 2), "last_used_at": dt.datetime(2026, 1, 2)},
    ),
    (
        "api_keys_revoked_after_created",
        "api_keys",
        {"created_at": dt.datetime(2026, 1, 2), "revoked_at": dt.datetime(2026, 1, 1, 23, 59)},
        None,
    ),
    ("workflows_kind_check", "workflows", {"kind": "mining"}, {"kind": "analytics_sync"}),
    ("workflows_status_check", "workflows", {"status": "done"}, {"status": "cancelled"}),
    ("workflows_cost_check", "workflows", {"cost": -0.0001}, {"cost": 0}),
    (
        "workflows_finished_after_started",
        "workflows",
        {"started_at": dt.datetime(2026, 1, 1, 12), "finished_at": dt.datetime(2026, 1, 1, 11, 59)},
        {"started_at": dt.datetime(2026, 1, 1, 12), "finished_at": dt.datetime(2026, 1, 1, 12)},
    ),
]


@pytest.mark.parametrize(
    ("constraint", "table", "bad", "good"), CHECK_CASES, ids=[f"{c[0]}-{list(c[2].values())[-1]}" for c in CHECK_CASES]
)
def test_check_constraint_rejects_a_bad_value(db, parents, constraint, table, bad, good):
    before = scalar(db, f"SELECT count(*) FROM {table}")
    with pytest.raises(psycopg2.errors.CheckViolation) as exc:
        insert_row(db, table, {**valid_row(table, parents), **bad})
    assert exc.value.diag.constraint_name == constraint
    assert scalar(db, f"SELECT count(*) FROM {table}") == before
    if good is not None:
        insert_row(db, table, {**valid_row(table, parents), **good})
        assert scalar(db, f"SELECT count(*) FROM {table}") == before + 1


def test_every_check_constraint_has_a_case():
    from tests.test_schema import CHECKS

    assert {c[0] for c in CHECK_CASES} == set().union(*CHECKS.values())


def test_cost_bounds_are_a_data_rule_not_a_constraint(db, parents):
    """[0.10, 5.00] is checked by the videos suite, so copies without constraints are covered too."""
    video = insert_video(db, parents["channel"], generation_cost=9.99)
    assert scalar(db, "SELECT generation_cost::text FROM videos WHERE id = %s", (video,)) == "9.99"


# ---------------------------------------------------------------------------------------------
# UNIQUE constraints: each rejects a duplicate


UNIQUE_CASES = [
    ("users_email_key", "users", ["email"]),
    ("users_username_key", "users", ["username"]),
    ("channels_youtube_channel_id_key", "channels", ["youtube_channel_id"]),
    ("videos_youtube_video_id_key", "videos", ["youtube_video_id"]),
    ("analytics_video_id_date_key", "analytics", ["video_id", "date"]),
    ("api_keys_key_hash_key", "api_keys", ["key_hash"]),
]


@pytest.mark.parametrize(("constraint", "table", "columns"), UNIQUE_CASES, ids=[c[0] for c in UNIQUE_CASES])
def test_unique_constraint_rejects_a_duplicate(db, parents, constraint, table, columns):
    first = valid_row(table, parents)
    first.update({c: f"UC{uuid.uuid4().hex[:8]}" for c in columns if c.startswith("youtube_")})
    insert_row(db, table, first)
    duplicate = {**valid_row(table, parents), **{c: first[c] for c in columns}}
    with pytest.raises(psycopg2.errors.UniqueViolation) as exc:
        insert_row(db, table, duplicate)
    assert exc.value.diag.constraint_name == constraint
    where = " AND ".join(f"{c} = %s" for c in columns)
    assert scalar(db, f"SELECT count(*) FROM {table} WHERE {where}", [first[c] for c in columns]) == 1


def test_null_youtube_ids_are_not_duplicates(db, parents):
    """Drafts have no YouTube id yet: UNIQUE lets any number of NULLs through."""
    for _ in range(3):
        insert_video(db, parents["channel"], youtube_video_id=None)
    assert (
        scalar(
            db, "SELECT count(*) FROM videos WHERE channel_id = %s AND youtube_video_id IS NULL", (parents["channel"],)
        )
        == 4
    )
