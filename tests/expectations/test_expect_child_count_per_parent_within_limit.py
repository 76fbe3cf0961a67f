"""ExpectChildCountPerParentWithinLimit on a real PostgreSQL: active channels per user within the tier."""

from __future__ import annotations

import pytest
from great_expectations.compatibility.pydantic import ValidationError

from tests.helpers import (
    data_docs_pages,
    insert_channel,
    insert_user,
    rendered_sentence,
    statements_during,
    suite_round_trip,
)
from ytempire_dq.expectations import ExpectChildCountPerParentWithinLimit

TIER_LIMITS = {"free": 1, "starter": 5, "professional": 20, "enterprise": 100}


def tier_rule(**overrides) -> ExpectChildCountPerParentWithinLimit:
    params = dict(
        table="users",
        key_column="id",
        limit_column="subscription_tier",
        limits=TIER_LIMITS,
        child_table="channels",
        child_key_column="user_id",
        child_filter={"status": "active"},
    )
    return ExpectChildCountPerParentWithinLimit(**{**params, **overrides})


def user_with_channels(db, tier, active, paused=0) -> str:
    user = insert_user(db, tier)
    for _ in range(active):
        insert_channel(db, user, status="active")
    for _ in range(paused):
        insert_channel(db, user, status="paused")
    return user


def test_clean_data_passes(gx_env, empty_tables):
    db = empty_tables
    user_with_channels(db, "free", 1, paused=3)  # paused channels do not count
    user_with_channels(db, "starter", 5)  # exactly at the limit
    user_with_channels(db, "professional", 0)

    result = gx_env.validate(tier_rule())

    assert result.success is True, result
    assert result.result["observed_value"] == 0
    assert result.result["unexpected_count"] == 0


def test_users_over_their_limit_fail_with_the_exact_count(gx_env, empty_tables):
    db = empty_tables
    user_with_channels(db, "free", 1)
    over = {
        user_with_channels(db, "free", 2): ("free", 1, 2),
        user_with_channels(db, "starter", 6, paused=1): ("starter", 5, 6),
    }

    result = gx_env.validate(tier_rule())

    assert result.success is False
    assert result.result["observed_value"] == 2  # users, not channels
    assert result.result["unexpected_count"] == 2
    assert result.result["partial_unexpected_list"] == sorted(over)
    assert {
        row["id"]: (row["subscription_tier"], row["child_limit"], row["child_count"])
        for row in result.result["details"]["unexpected_rows"]
    } == over


def test_without_a_filter_every_child_row_counts(gx_env, empty_tables):
    user = user_with_channels(empty_tables, "free", 1, paused=1)

    assert gx_env.validate(tier_rule()).success is True
    result = gx_env.validate(tier_rule(child_filter=None))
    assert result.result["partial_unexpected_list"] == [user]


def test_filters_take_lists_and_nulls(gx_env, empty_tables):
    db = empty_tables
    user = user_with_channels(db, "free", 1, paused=1)
    insert_channel(db, user, status="suspended")

    listed = tier_rule(child_filter={"status": ["active", "paused"]})
    assert gx_env.validate(listed).result["unexpected_count"] == 1
    db.cursor().execute("UPDATE channels SET monetization_status = NULL WHERE user_id = %s", (user,))
    unset = tier_rule(child_filter={"monetization_status": None})  # all three have none now
    assert gx_env.validate(unset).result["unexpected_count"] == 1
    odd_values = tier_rule(child_filter={"status": ["it's", "a:b", "{x}", "back\\slash"]})
    assert gx_env.validate(odd_values).result["unexpected_count"] == 0


def test_a_filter_value_with_quotes_braces_and_colons_matches_literally(gx_env, empty_tables):
    db = empty_tables
    user = user_with_channels(db, "free", 2)
    tricky = "it's {odd}: a\\b"
    with db.cursor() as cur:
        cur.execute("UPDATE channels SET niche = %s WHERE user_id = %s", (tricky, user))

    result = gx_env.validate(tier_rule(child_filter={"niche": tricky}))
    assert result.result["partial_unexpected_list"] == [user]


def test_a_tier_not_in_limits_is_not_checked(gx_env, empty_tables):
    user_with_channels(empty_tables, "platinum", 50)  # the allowed-values rule reports the tier

    assert gx_env.validate(tier_rule()).success is True


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("table", "users; DROP TABLE x", "is not a plain table name"),
        ("child_table", "public.channels.x", "is not a plain table name"),
        ("key_column", "id OR 1=1", "is not a plain column name"),
        ("limit_column", "tier'", "is not a plain column name"),
        ("child_key_column", None, "is not a plain column name"),
        ("child_filter", {"status = 'x' OR true --": "active"}, "is not a plain column name"),
        ("child_filter", {"status": {"nested": 1}}, "must be a scalar or a list"),
        ("child_filter", {"status": []}, "empty list"),
        ("limits", {}, "non-empty mapping"),
        ("limits", {"free": -1}, "must be an int >= 0"),
        ("limits", {"free": "1; DROP TABLE users"}, "must be an int >= 0"),
        ("limits", {"free": 1.5}, "must be an int >= 0"),
    ],
)
def test_bad_parameters_are_refused_when_built(field, value, message):
    with pytest.raises(ValidationError) as caught:
        tier_rule(**{field: value})
    assert caught.value.errors()[0]["loc"] == (field,)
    assert message in str(caught.value)


def test_a_missing_table_fails_with_the_database_error(gx_env, empty_tables):
    result = gx_env.validate(tier_rule(child_table="youtube_channels"))

    assert result.success is False
    messages = [info["exception_message"] for info in result.exception_info.values()]
    assert any('relation "youtube_channels" does not exist' in m for m in messages), messages


def test_runs_as_one_query(gx_env, empty_tables):
    statements = statements_during(lambda: gx_env.validate(tier_rule()))
    assert len(statements) == 1, statements
    assert "VALUES ('enterprise', 100), ('free', 1)" in statements[0]


def test_loading_builds_no_batch_warning(capsys):
    tier_rule()
    assert "{batch}" not in capsys.readouterr().out


def test_the_sentence_names_every_parameter():
    assert rendered_sentence(tier_rule()) == (
        "Each users row has at most N channels rows with status = active "
        "(joined on channels.user_id = users.id), N set by users.subscription_tier: "
        "free: 1, starter: 5, professional: 20, enterprise: 100; other values are not checked."
    )
    assert "at most N channels rows (joined on" in rendered_sentence(tier_rule(child_filter=None))
    assert "with status in (active, paused) and niche is null" in rendered_sentence(
        tier_rule(child_filter={"status": ["active", "paused"], "niche": None})
    )


def test_round_trips_through_a_suite_file(tmp_path):
    rule = tier_rule(
        meta={"rule_id": "users.active_channels_within_tier"},
        description="Active channels per user stay within the subscription tier's limit.",
    )
    stored, loaded = suite_round_trip(rule, tmp_path)

    assert stored["expectations"][0]["type"] == "expect_child_count_per_parent_within_limit"
    assert stored["expectations"][0]["kwargs"] == {
        "table": "users",
        "key_column": "id",
        "limit_column": "subscription_tier",
        "limits": TIER_LIMITS,
        "child_table": "channels",
        "child_key_column": "user_id",
        "child_filter": {"status": "active"},
    }
    assert isinstance(loaded, ExpectChildCountPerParentWithinLimit)
    assert loaded.limits == TIER_LIMITS and loaded.child_filter == {"status": "active"}
    assert loaded.meta == {"rule_id": "users.active_channels_within_tier"}
    assert loaded.description.startswith("Active channels per user")
    assert loaded.build_query() == rule.build_query()


def test_data_docs_show_the_sentence(db_url, empty_tables, tmp_path):
    over = user_with_channels(empty_tables, "free", 3)
    passing = tier_rule(limits={"free": 5}, description="Free users have at most 5 channels.")
    pages = data_docs_pages(tmp_path, db_url, tier_rule(), passing)

    for page in pages.values():
        assert "Each users row has at most N channels rows with status = active" in page
        assert "free: 1, starter: 5, professional: 20, enterprise: 100" in page
        assert "SELECT" not in page
    assert over in pages["validation"]
    assert "1 unexpected row found." in pages["validation"]
    assert "Free users have at most 5 channels." in pages["validation"]


def test_no_filter_is_left_out_of_the_configuration():
    kwargs = tier_rule(child_filter=None).configuration.kwargs
    assert "child_filter" not in kwargs and "unexpected_rows_query" not in kwargs
    assert kwargs["limits"] == TIER_LIMITS
