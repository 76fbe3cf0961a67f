"""ExpectChildAggregateToMatchParentColumn on a real PostgreSQL: e.g. daily views vs view_count."""

from __future__ import annotations

import pytest
from great_expectations.compatibility.pydantic import ValidationError

from tests.helpers import (
    data_docs_pages,
    insert_analytics,
    insert_channel,
    insert_user,
    insert_video,
    rendered_sentence,
    statements_during,
    suite_round_trip,
)
from ytempire_dq.expectations import ExpectChildAggregateToMatchParentColumn


def views_rule(**overrides) -> ExpectChildAggregateToMatchParentColumn:
    params = dict(
        table="videos",
        key_column="id",
        parent_column="view_count",
        child_table="analytics",
        child_key_column="video_id",
        child_column="views",
    )
    return ExpectChildAggregateToMatchParentColumn(**{**params, **overrides})


@pytest.fixture
def channel(empty_tables) -> str:
    return insert_channel(empty_tables, insert_user(empty_tables))


def video(db, channel, view_count, *daily_views) -> str:
    video_id = insert_video(db, channel, view_count)
    insert_analytics(db, video_id, *daily_views)
    return video_id


def test_clean_data_passes(gx_env, empty_tables, channel):
    db = empty_tables
    video(db, channel, 1200, 700, 500)  # exact
    video(db, channel, 1250, 700, 500)  # 50 off: within the default 100
    video(db, channel, 100)  # no analytics yet: 0 vs 100, within 100

    result = gx_env.validate(views_rule())

    assert result.success is True, result
    assert result.result["observed_value"] == 0
    assert result.result["unexpected_count"] == 0


def test_mismatches_fail_with_the_exact_count_and_their_keys(gx_env, empty_tables, channel):
    db = empty_tables
    video(db, channel, 1200, 700, 500)
    video(db, channel, 1300, 700, 500)  # exactly 100 off: still within
    bad = sorted(
        [
            video(db, channel, 5000, 700, 500),  # 3800 off
            video(db, channel, 0, 150),  # analytics ahead of the counter by 150
            video(db, channel, 101),  # no analytics: 0 vs 101
        ]
    )

    result = gx_env.validate(views_rule())

    assert result.success is False
    assert result.result["observed_value"] == 3
    assert result.result["unexpected_count"] == 3
    assert result.result["partial_unexpected_list"] == bad
    rows = {row["id"]: row for row in result.result["details"]["unexpected_rows"]}
    assert {(row["view_count"], row["sum_views"]) for row in rows.values()} == {
        (5000, 1200),
        (0, 150),
        (101, 0),
    }


def test_tolerance_and_aggregate_are_parameters(gx_env, empty_tables, channel):
    db = empty_tables
    video(db, channel, 1201, 700, 500)  # 1 off
    video(db, channel, 2, 700, 500)  # two analytics rows, count = 2

    assert gx_env.validate(views_rule(tolerance=0)).result["unexpected_count"] == 2
    assert gx_env.validate(views_rule(tolerance=0.5)).result["unexpected_count"] == 2
    assert gx_env.validate(views_rule(tolerance=1)).result["unexpected_count"] == 1
    count_rule = views_rule(aggregate="count", tolerance=0)
    assert gx_env.validate(count_rule).result["unexpected_count"] == 1  # the 1201 one
    max_rule = views_rule(aggregate="max", tolerance=600)
    assert gx_env.validate(max_rule).result["unexpected_count"] == 1  # 700 vs 2


@pytest.mark.parametrize(
    "field, value",
    [
        ("table", "videos; DROP TABLE videos"),
        ("child_table", ""),
        ("key_column", "id--"),
        ("parent_column", "view count"),
        ("child_key_column", "1video_id"),
        ("child_column", "views)"),
    ],
)
def test_a_bad_identifier_is_refused_when_built(field, value):
    with pytest.raises(ValidationError) as caught:
        views_rule(**{field: value})
    assert caught.value.errors()[0]["loc"] == (field,)
    assert "is not a plain" in str(caught.value)


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("aggregate", "median", "unexpected value"),
        ("tolerance", -1, "tolerance must be >= 0"),
        ("tolerance", "100", "tolerance must be a number"),
        ("tolerance", float("nan"), "tolerance must be finite"),
        ("tolerance", True, "tolerance must be a number"),
    ],
)
def test_bad_values_are_refused_when_built(field, value, message):
    with pytest.raises(ValidationError) as caught:
        views_rule(**{field: value})
    assert caught.value.errors()[0]["loc"] == (field,)
    assert message in str(caught.value)


def test_a_missing_table_fails_with_the_database_error(gx_env, empty_tables):
    result = gx_env.validate(views_rule(child_table="daily_stats"))

    assert result.success is False
    messages = [info["exception_message"] for info in result.exception_info.values()]
    assert any('relation "daily_stats" does not exist' in m for m in messages), messages


def test_a_missing_column_fails_with_the_database_error(gx_env, empty_tables):
    result = gx_env.validate(views_rule(parent_column="views_total"))

    assert result.success is False
    messages = [info["exception_message"] for info in result.exception_info.values()]
    assert any("parent.views_total does not exist" in m for m in messages), messages


def test_runs_as_one_query(gx_env, empty_tables):
    statements = statements_during(lambda: gx_env.validate(views_rule()))
    assert len(statements) == 1, statements


def test_loading_builds_no_batch_warning(capsys):
    views_rule()
    assert "{batch}" not in capsys.readouterr().out


def test_the_sentence_names_every_parameter():
    assert rendered_sentence(views_rule()) == (
        "For each videos row, sum(analytics.views) over analytics.video_id = videos.id is "
        "within 100 of videos.view_count (a row with no analytics rows counts as 0)."
    )
    assert "avg(analytics.watch_time_minutes)" in rendered_sentence(
        views_rule(aggregate="avg", child_column="watch_time_minutes", tolerance=2.5)
    )
    assert "within 2.5 of" in rendered_sentence(views_rule(tolerance=2.5))


def test_round_trips_through_a_suite_file(tmp_path):
    rule = views_rule(
        aggregate="max",
        tolerance=2.5,
        meta={"rule_id": "videos.views_match_analytics"},
        description="Daily views add up to the view count.",
    )
    stored, loaded = suite_round_trip(rule, tmp_path)

    assert stored["expectations"][0]["type"] == "expect_child_aggregate_to_match_parent_column"
    assert stored["expectations"][0]["kwargs"] == {
        "table": "videos",
        "key_column": "id",
        "parent_column": "view_count",
        "child_table": "analytics",
        "child_key_column": "video_id",
        "child_column": "views",
        "aggregate": "max",
        "tolerance": 2.5,
    }
    assert isinstance(loaded, ExpectChildAggregateToMatchParentColumn)
    assert (loaded.aggregate, loaded.tolerance) == ("max", 2.5)
    assert loaded.meta == {"rule_id": "videos.views_match_analytics"}
    assert loaded.description == "Daily views add up to the view count."
    assert loaded.build_query() == rule.build_query()


def test_data_docs_show_the_sentence(db_url, empty_tables, channel, tmp_path):
    bad = video(empty_tables, channel, 5000, 10)
    pages = data_docs_pages(tmp_path, db_url, views_rule(tolerance=10))

    sentence = (
        "For each videos row, sum(analytics.views) over analytics.video_id = videos.id is "
        "within 10 of videos.view_count (a row with no analytics rows counts as 0)."
    )
    for page in pages.values():
        assert sentence in page
        assert "SELECT" not in page
    assert bad in pages["validation"]
    assert "1 unexpected row found." in pages["validation"]


def test_defaults_are_written_out_in_the_configuration():
    kwargs = views_rule().configuration.kwargs
    assert (kwargs["aggregate"], kwargs["tolerance"]) == ("sum", 100)
    assert "unexpected_rows_query" not in kwargs
