"""Data types on a real PostgreSQL (the platform spec's §3.2), with the seed's bug fixed.

The seed's decimal test inserted a video under a random channel id; a foreign key must reject
that, so here it is asserted to be rejected, and the decimal tests insert under a real channel.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import psycopg2.errors
import pytest

from tests.helpers import insert_channel, insert_user, insert_video, rows, scalar


@pytest.fixture
def channel(db) -> str:
    return insert_channel(db, insert_user(db))


def test_video_under_a_random_channel_id_is_rejected_by_the_foreign_key(db):
    before = scalar(db, "SELECT count(*) FROM videos")
    with pytest.raises(psycopg2.errors.ForeignKeyViolation, match="videos_channel_id_fkey"):
        insert_video(db, str(uuid.uuid4()), generation_cost=Decimal("1.2345"))
    assert scalar(db, "SELECT count(*) FROM videos") == before


def test_rows_under_a_missing_user_are_rejected(db):
    with pytest.raises(psycopg2.errors.ForeignKeyViolation, match="channels_user_id_fkey"):
        insert_channel(db, str(uuid.uuid4()))
    with pytest.raises(psycopg2.errors.ForeignKeyViolation, match="api_keys_user_id_fkey"):
        db.cursor().execute(
            "INSERT INTO api_keys (user_id, key_hash, name) VALUES (%s, %s, 'k')", (str(uuid.uuid4()), "a" * 64)
        )


@pytest.mark.parametrize("cost", ["0.10", "0.99", "4.99", "5.00", "12345678.91"])
def test_generation_cost_keeps_two_decimal_places_exactly(db, channel, cost):
    """The seed's test_decimal_precision (0.99 stored as 0.99), under a real channel (the seed's bug:
    a random channel id, which the foreign key rejects)."""
    video = insert_video(db, channel, generation_cost=Decimal(cost))
    stored = scalar(db, "SELECT generation_cost FROM videos WHERE id = %s", (video,))
    assert isinstance(stored, Decimal)
    assert stored == Decimal(cost) and str(stored) == cost


def test_generation_cost_rounds_to_scale_and_rejects_overflow(db, channel):
    video = insert_video(db, channel, generation_cost=Decimal("1.235"), revenue=Decimal("0.994"))
    assert rows(db, "SELECT generation_cost, revenue FROM videos WHERE id = %s", (video,)) == [
        (Decimal("1.24"), Decimal("0.99"))
    ]
    with pytest.raises(psycopg2.errors.NumericValueOutOfRange):
        insert_video(db, channel, generation_cost=Decimal("100000000.00"))  # DECIMAL(10,2): 8 integer digits


def test_decimal_sums_do_not_drift_like_floats(db, channel):
    video = insert_video(db, channel, generation_cost=Decimal("0.1"))
    for day in range(10):
        db.cursor().execute(
            "INSERT INTO analytics (video_id, date, revenue, watch_time_minutes) VALUES (%s, %s, 0.1, 0.01)",
            (video, dt.date(2026, 1, 1) + dt.timedelta(days=day)),
        )
    revenue, minutes = rows(
        db, "SELECT sum(revenue), sum(watch_time_minutes) FROM analytics WHERE video_id = %s", (video,)
    )[0]
    assert revenue == Decimal("1.00") and minutes == Decimal("0.10")
    assert sum([0.1] * 10) != 1.0  # what a float column would have stored


def test_ids_default_to_distinct_version_4_uuids(db, channel):
    ids = [insert_video(db, channel) for _ in range(20)]
    parsed = [uuid.UUID(i) for i in ids]
    assert len(set(parsed)) == 20
    assert {p.version for p in parsed} == {4}
    assert scalar(db, "SELECT pg_typeof(id)::text FROM videos WHERE id = %s", (ids[0],)) == "uuid"
    with pytest.raises(psycopg2.errors.InvalidTextRepresentation):
        scalar(db, "SELECT count(*) FROM videos WHERE id = %s", ("not-a-uuid",))


def test_defaults_fill_status_counts_and_timestamps(db, channel):
    video = insert_video(db, channel)
    status, views, revenue, created, now = rows(
        db, "SELECT status, view_count, revenue, created_at, now() FROM videos WHERE id = %s", (video,)
    )[0]
    assert (status, views, revenue) == ("draft", 0, Decimal("0.00"))
    assert isinstance(created, dt.datetime) and created.tzinfo is not None
    assert dt.timedelta(0) <= now - created < dt.timedelta(minutes=1)
    tier = scalar(
        db, "SELECT subscription_tier FROM users u JOIN channels c ON c.user_id = u.id WHERE c.id = %s", (channel,)
    )
    assert tier == "free"
    assert rows(db, "SELECT u.status FROM users u JOIN channels c ON c.user_id = u.id WHERE c.id = %s", (channel,)) == [
        ("active",)
    ]
    assert rows(db, "SELECT status, monetization_status FROM channels WHERE id = %s", (channel,)) == [
        ("active", "pending")
    ]
    assert rows(db, "SELECT views, subscribers_gained, revenue FROM analytics LIMIT 0") == []
    db.cursor().execute("INSERT INTO analytics (video_id, date) VALUES (%s, '2026-01-01')", (video,))
    assert rows(db, "SELECT views, subscribers_gained, revenue FROM analytics WHERE video_id = %s", (video,)) == [
        (0, 0, Decimal("0.00"))
    ]


def test_timestamp_timezone(db):
    """The seed's TestDataTypes::test_timestamp_timezone, its assertion kept: a user's created_at
    comes back time-zone aware (TIMESTAMP WITH TIME ZONE)."""
    created_at = scalar(
        db,
        "INSERT INTO users (email, username, password_hash) VALUES (%s, %s, 'hash') RETURNING created_at",
        (f"tz-{uuid.uuid4().hex[:8]}@test.com", f"tz{uuid.uuid4().hex[:8]}"),
    )
    assert created_at.tzinfo is not None, "Timestamp should be timezone-aware"


def test_timestamps_keep_microseconds_and_their_instant_in_any_session_time_zone(db, channel):
    """Every timestamp is TIMESTAMPTZ: one instant, shown in the session's zone, whatever zone wrote it."""
    moment = dt.datetime(2026, 3, 29, 1, 30, 15, 123456, tzinfo=dt.timezone.utc)  # inside a DST change in Europe
    video = insert_video(db, channel, status="published", youtube_video_id=uuid.uuid4().hex[:11], published_at=moment)
    for zone, hours in (("UTC", 0), ("America/New_York", -4), ("Europe/Berlin", 2)):
        db.cursor().execute(f"SET TIME ZONE '{zone}'")
        shown = scalar(db, "SELECT published_at FROM videos WHERE id = %s", (video,))
        assert shown == moment and shown.utcoffset() == dt.timedelta(hours=hours)
    db.cursor().execute("RESET TIME ZONE")
    zoned = {
        f"{t}.{c}"
        for t, c in rows(
            db,
            "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'public' "
            "AND data_type = 'timestamp without time zone'",
        )
    }
    assert zoned == set()  # nothing is stored as a naive local time


def test_analytics_date_is_a_calendar_date(db, channel):
    video = insert_video(db, channel)
    db.cursor().execute("INSERT INTO analytics (video_id, date) VALUES (%s, '2026-02-28 23:59:59')", (video,))
    assert scalar(db, "SELECT date FROM analytics WHERE video_id = %s", (video,)) == dt.date(2026, 2, 28)
    with pytest.raises(psycopg2.errors.DatetimeFieldOverflow):
        db.cursor().execute("INSERT INTO analytics (video_id, date) VALUES (%s, '2026-02-30')", (video,))


def test_api_key_scopes_are_a_text_array(db):
    user = insert_user(db)
    with_scopes = scalar(
        db,
        "INSERT INTO api_keys (user_id, key_hash, name, scopes) VALUES (%s, %s, 'ci', %s) RETURNING id",
        (user, "b" * 64, ["videos:read", "analytics:read"]),
    )
    without = scalar(
        db, "INSERT INTO api_keys (user_id, key_hash, name) VALUES (%s, %s, 'bare') RETURNING id", (user, "c" * 64)
    )
    assert scalar(db, "SELECT scopes FROM api_keys WHERE id = %s", (with_scopes,)) == ["videos:read", "analytics:read"]
    assert scalar(db, "SELECT scopes FROM api_keys WHERE id = %s", (without,)) == []
    assert (
        scalar(db, "SELECT count(*) FROM api_keys WHERE user_id = %s AND 'analytics:read' = ANY (scopes)", (user,)) == 1
    )


def test_text_lengths_are_enforced(db, channel):
    with pytest.raises(psycopg2.errors.StringDataRightTruncation):
        insert_user(db, username="u" * 51)
    with pytest.raises(psycopg2.errors.StringDataRightTruncation):
        insert_video(db, channel, title="t" * 501)
    long_text = "d" * 100_000
    video = insert_video(db, channel, title="t" * 500, description=long_text)
    assert scalar(db, "SELECT length(description) FROM videos WHERE id = %s", (video,)) == 100_000


def test_required_columns_reject_null(db, channel):
    with pytest.raises(psycopg2.errors.NotNullViolation, match="title"):
        insert_video(db, channel, title=None)
    with pytest.raises(psycopg2.errors.NotNullViolation, match="channel_id"):
        insert_video(db, None)
