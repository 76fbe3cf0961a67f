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


@pytest.mark.parametrize("cost", ["0.1000", "1.2345", "4.9999", "5.0000", "123456.7891"])
def test_generation_cost_keeps_four_decimal_places_exactly(db, channel, cost):
    video = insert_video(db, channel, generation_cost=Decimal(cost))
    stored = scalar(db, "SELECT generation_cost FROM videos WHERE id = %s", (video,))
    assert isinstance(stored, Decimal)
    assert stored == Decimal(cost) and str(stored) == cost


def test_generation_cost_rounds_to_scale_and_rejects_overflow(db, channel):
    video = insert_video(db, channel, generation_cost=Decimal("1.23456"))
    assert scalar(db, "SELECT generation_cost FROM videos WHERE id = %s", (video,)) == Decimal("1.2346")
    with pytest.raises(psycopg2.errors.NumericValueOutOfRange):
        insert_video(db, channel, generation_cost=Decimal("1000000.0000"))  # DECIMAL(10,4): 6 integer digits


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
    assert revenue == Decimal("1.0000") and minutes == Decimal("0.10")
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
    status, views, created, now = rows(
        db, "SELECT status, view_count, created_at, localtimestamp FROM videos WHERE id = %s", (video,)
    )[0]
    assert (status, views) == ("draft", 0)
    assert isinstance(created, dt.datetime) and created.tzinfo is None
    assert dt.timedelta(0) <= now - created < dt.timedelta(minutes=1)
    tier = scalar(
        db, "SELECT subscription_tier FROM users u JOIN channels c ON c.user_id = u.id WHERE c.id = %s", (channel,)
    )
    assert tier == "free"
    assert rows(db, "SELECT status, monetization_status, subscriber_count FROM channels WHERE id = %s", (channel,)) == [
        ("active", "not_eligible", 0)
    ]


def test_timestamps_keep_microseconds_and_ignore_the_session_time_zone(db, channel):
    """The platform's timestamps are wall-clock (TIMESTAMP, as the seed declared); bookkeeping uses TIMESTAMPTZ."""
    moment = dt.datetime(2026, 3, 29, 1, 30, 15, 123456)  # inside a DST change in Europe
    video = insert_video(db, channel, status="published", youtube_video_id=uuid.uuid4().hex[:11], published_at=moment)
    for zone in ("UTC", "America/New_York", "Europe/Berlin"):
        db.cursor().execute(f"SET TIME ZONE '{zone}'")
        assert scalar(db, "SELECT published_at FROM videos WHERE id = %s", (video,)) == moment
    db.cursor().execute("SET TIME ZONE 'UTC'")
    applied_utc = scalar(db, "SELECT applied_at FROM schema_migrations WHERE version = 1")
    db.cursor().execute("SET TIME ZONE 'Asia/Tokyo'")
    applied_tokyo = scalar(db, "SELECT applied_at FROM schema_migrations WHERE version = 1")
    db.cursor().execute("RESET TIME ZONE")
    assert applied_utc.tzinfo is not None and applied_utc == applied_tokyo  # same instant
    assert applied_tokyo.utcoffset() == dt.timedelta(hours=9)


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
        insert_user(db, username="u" * 101)
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
