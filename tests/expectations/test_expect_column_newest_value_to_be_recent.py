"""ExpectColumnNewestValueToBeRecent on a real PostgreSQL: freshness by the database's clock."""

from __future__ import annotations

import datetime as dt

import pytest
from great_expectations.compatibility.pydantic import ValidationError

from tests.helpers import (
    insert_channel,
    insert_user,
    insert_video,
    new_id,
    rendered_sentence,
    scalar,
    suite_round_trip,
)
from ytempire_dq.expectations import ExpectColumnNewestValueToBeRecent


def sync_rule(**overrides) -> ExpectColumnNewestValueToBeRecent:
    return ExpectColumnNewestValueToBeRecent(**{"table": "analytics", "column": "date", "max_age": 3, **overrides})


def stuck_rule(**overrides) -> ExpectColumnNewestValueToBeRecent:
    params = dict(
        table="workflows", column="started_at", max_age=6, unit="hours", key_column="id", where={"status": "running"}
    )
    return ExpectColumnNewestValueToBeRecent(**{**params, **overrides})


@pytest.fixture
def video(empty_tables):
    with empty_tables.cursor() as cur:
        cur.execute("TRUNCATE workflows")
    return insert_video(empty_tables, insert_channel(empty_tables, insert_user(empty_tables)))


def add_days(db, video_id, *days_ago) -> None:
    with db.cursor() as cur:
        for ago in days_ago:
            cur.execute("INSERT INTO analytics (video_id, date) VALUES (%s, current_date - %s)", (video_id, ago))


def add_workflow(db, channel_id, status, started_hours_ago) -> str:
    wid = new_id()
    with db.cursor() as cur:
        cur.execute(
            "INSERT INTO workflows (id, channel_id, kind, status, started_at) "
            "VALUES (%s, %s, 'upload', %s, localtimestamp - make_interval(hours => %s))",
            (wid, channel_id, status, started_hours_ago),
        )
    return wid


def test_a_current_sync_passes_and_the_result_records_the_clock(gx_env, video, empty_tables):
    add_days(empty_tables, video, 9, 5, 3)  # the newest day is exactly max_age old: still current
    result = gx_env.validate(sync_rule())
    assert result.success is True and result.result["unexpected_count"] == 0
    observed = result.result["observed_value"]
    today = scalar(empty_tables, "SELECT current_date")
    assert observed["newest"] == (today - dt.timedelta(days=3)).isoformat() and observed["stale"] == 0
    assert observed["cutoff"].startswith((today - dt.timedelta(days=3)).isoformat())
    checked = dt.datetime.fromisoformat(observed["checked_at"])
    assert abs(checked - scalar(empty_tables, "SELECT localtimestamp")) < dt.timedelta(minutes=5)


def test_a_stopped_sync_fails_once_with_the_newest_date(gx_env, video, empty_tables):
    add_days(empty_tables, video, 12, 4)
    result = gx_env.validate(sync_rule())
    today = scalar(empty_tables, "SELECT current_date")
    assert result.success is False and result.result["unexpected_count"] == 1
    assert result.result["observed_value"]["newest"] == (today - dt.timedelta(days=4)).isoformat()
    assert result.result["details"]["unexpected_rows"] == [{"dq_newest": (today - dt.timedelta(days=4)).isoformat()}]
    assert gx_env.validate(sync_rule(max_age=4)).success is True  # the parameter moves the cutoff


def test_an_empty_table_passes(gx_env, video):
    result = gx_env.validate(sync_rule())
    assert result.success is True and result.result["observed_value"]["newest"] is None


def test_per_key_counts_every_stale_key_exactly(gx_env, video, empty_tables):
    channel = scalar(empty_tables, "SELECT channel_id FROM videos")
    stuck = sorted([add_workflow(empty_tables, channel, "running", h) for h in (7, 30, 200)])
    add_workflow(empty_tables, channel, "running", 1)  # running for an hour: fine
    add_workflow(empty_tables, channel, "succeeded", 300)  # old, but not running
    result = gx_env.validate(stuck_rule())
    assert result.success is False and result.result["unexpected_count"] == 3
    assert sorted(result.result["partial_unexpected_list"]) == stuck
    assert gx_env.validate(stuck_rule(max_age=250)).success is True


@pytest.mark.parametrize(
    "bad",
    [
        {"table": "analytics; DROP TABLE users"},
        {"column": 'date"--'},
        {"key_column": "id or 1=1"},
        {"where": {"status = 'x' OR true --": "running"}},
        {"max_age": 0},
        {"max_age": -1},
        {"max_age": True},
        {"unit": "weeks"},
        {"max_age": 1.5},
    ],
)
def test_hostile_or_wrong_parameters_are_refused(bad):
    with pytest.raises(ValidationError):
        sync_rule(**bad)


def test_a_where_value_is_a_literal_not_sql(gx_env, video, empty_tables):
    channel = scalar(empty_tables, "SELECT channel_id FROM videos")
    add_workflow(empty_tables, channel, "running", 30)
    result = gx_env.validate(stuck_rule(where={"status": "running' OR 'a' = 'a"}))
    assert result.success is True and scalar(empty_tables, "SELECT count(*) FROM workflows") == 1


def test_round_trip_and_sentence(tmp_path):
    stored, loaded = suite_round_trip(stuck_rule(), tmp_path)
    kwargs = stored["expectations"][0]["kwargs"]
    assert kwargs == {
        "table": "workflows",
        "column": "started_at",
        "max_age": 6,
        "unit": "hours",
        "key_column": "id",
        "where": {"status": "running"},
    }
    assert loaded.build_query() == stuck_rule().build_query()
    assert (
        rendered_sentence(sync_rule())
        == "The newest analytics.date value is at most 3 days old by the database's clock."
    )
    assert rendered_sentence(stuck_rule()) == (
        "The newest workflows.started_at value of every id "
        "(rows where status = running) is at most 6 hours old by the "
        "database's clock."
    )
