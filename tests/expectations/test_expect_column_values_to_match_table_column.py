"""ExpectColumnValuesToMatchTableColumn on a pandas batch against real PostgreSQL."""

from __future__ import annotations

import pandas as pd
import pytest
from great_expectations.compatibility.pydantic import ValidationError
from great_expectations.expectations.row_conditions import Column

from tests.helpers import (
    insert_channel,
    insert_user,
    insert_video,
    new_id,
    rendered_sentence,
    suite_round_trip,
)
from ytempire_dq.expectations import ExpectColumnValuesToMatchTableColumn


def rule(db_url, **overrides):
    params = dict(
        column="view_count",
        key_column="video_id",
        table="videos",
        table_key_column="id",
        table_column="view_count",
        tolerance=100,
        database_url=db_url,
        row_condition=Column("kind") == "video_stats",
    )
    params.update(overrides)
    return ExpectColumnValuesToMatchTableColumn(**params)


@pytest.fixture
def videos(empty_tables):
    channel = insert_channel(empty_tables, insert_user(empty_tables))
    return [insert_video(empty_tables, channel, view_count=v) for v in (1000, 2000, 3000)]


def stats(rows):
    return pd.DataFrame(
        [{"key": f"video:{vid}:stats", "kind": kind, "video_id": vid, "view_count": views} for vid, views, kind in rows]
    )


def test_within_tolerance_passes_and_the_edge_counts(db_url, videos, frame_batch):
    a, b, c = videos
    ok = frame_batch(
        stats([(a, 1100, "video_stats"), (b, 1900, "video_stats"), (c, 3000, "video_stats")]), rule(db_url)
    )
    assert ok.success and ok.result["unexpected_count"] == 0
    bad = frame_batch(
        stats([(a, 1101, "video_stats"), (b, 1899, "video_stats"), (c, 3000, "video_stats")]), rule(db_url)
    )
    assert not bad.success and bad.result["unexpected_count"] == 2
    assert bad.result["partial_unexpected_list"] == sorted([f"video:{a}:stats", f"video:{b}:stats"])


def test_a_copy_of_a_missing_row_is_stale_nulls_and_other_kinds_are_not_checked(db_url, videos, frame_batch):
    a, _, _ = videos
    frame = stats([(new_id(), 5, "video_stats"), (a, None, "video_stats"), (a, 99999, "session")])
    frame["view_count"] = frame["view_count"].astype("Int64")
    result = frame_batch(frame, rule(db_url))
    assert result.result["unexpected_count"] == 1  # the missing video only


def test_tolerance_is_a_parameter(db_url, videos, frame_batch):
    a, _, _ = videos
    frame = stats([(a, 1010, "video_stats")])
    assert frame_batch(frame, rule(db_url, tolerance=10)).success
    assert not frame_batch(frame, rule(db_url, tolerance=9.5)).success


def test_the_url_comes_from_the_environment_by_default(db_url, videos, frame_batch, monkeypatch):
    a, _, _ = videos
    monkeypatch.setenv("DATABASE_URL", db_url)
    result = frame_batch(stats([(a, 5000, "video_stats")]), rule(db_url, database_url="${DATABASE_URL}"))
    assert result.result["unexpected_count"] == 1


@pytest.mark.parametrize(
    ("field", "value"),
    [("table", "videos; DROP TABLE users"), ("table_column", "a b"), ("tolerance", -1), ("tolerance", "100")],
)
def test_bad_parameters_are_refused_when_built(field, value):
    with pytest.raises(ValidationError, match=field):
        rule("x", **{field: value})


def test_sentence_and_round_trip(tmp_path):
    assert rendered_sentence(rule("x", tolerance=2.5, row_condition=None)) == (
        "Each view_count is within 2.5 of videos.view_count, the row whose videos.id equals video_id "
        "(a value with no such row counts as stale)."
    )
    stored, loaded = suite_round_trip(rule("${DATABASE_URL}"), tmp_path)
    kwargs = stored["expectations"][0]["kwargs"]
    assert kwargs["database_url"] == "${DATABASE_URL}" and kwargs["tolerance"] == 100
    assert isinstance(loaded, ExpectColumnValuesToMatchTableColumn) and loaded.table_column == "view_count"
