"""ExpectColumnValuesToBeWithinTableCategoryLimit on a pandas batch against real PostgreSQL."""

from __future__ import annotations

import pandas as pd
import pytest
from great_expectations.compatibility.pydantic import ValidationError

from tests.helpers import insert_user, new_id, rendered_sentence, suite_round_trip
from ytempire_dq.expectations import ExpectColumnValuesToBeWithinTableCategoryLimit

LIMITS = {"free": {"60s": 60, "3600s": 1000}, "starter": {"60s": 300, "3600s": 10000}}


def rule(db_url, **overrides):
    params = dict(
        column="value",
        key_column="user_id",
        table="users",
        table_key_column="id",
        category_column="subscription_tier",
        limits=LIMITS,
        limit_key_column="window",
        database_url=db_url,
    )
    params.update(overrides)
    return ExpectColumnValuesToBeWithinTableCategoryLimit(**params)


def counters(rows):
    return pd.DataFrame([{"key": f"ratelimit:{u}:{w}", "user_id": u, "window": w, "value": v} for u, w, v in rows])


def test_limits_by_category_and_window_with_the_edge(db_url, empty_tables, frame_batch):
    free, starter = insert_user(empty_tables, "free"), insert_user(empty_tables, "starter")
    frame = counters(
        [
            (free, "60s", 60),
            (free, "3600s", 1001),
            (starter, "60s", 301),
            (starter, "3600s", 1001),
            (new_id(), "60s", 10**6),
            (free, "86400s", 10**6),
        ]
    )  # unknown user / window: not checked
    result = frame_batch(frame, rule(db_url))
    assert result.result["unexpected_count"] == 2
    assert result.result["partial_unexpected_list"] == sorted([f"ratelimit:{free}:3600s", f"ratelimit:{starter}:60s"])


def test_a_flat_limit_per_category(db_url, empty_tables, frame_batch):
    free = insert_user(empty_tables, "free")
    frame = counters([(free, "60s", 5), (free, "3600s", 6)])
    result = frame_batch(frame, rule(db_url, limits={"free": 5}, limit_key_column=None))
    assert result.result["unexpected_count"] == 1


@pytest.mark.parametrize(
    ("limits", "message"), [({}, "non-empty"), ({"free": "lots"}, "must be a number"), ({"free": {"60s": -1}}, ">= 0")]
)
def test_bad_limits_are_refused(limits, message):
    with pytest.raises(ValidationError, match=message):
        rule("x", limits=limits)


def test_sentence_lists_limits_smallest_first_and_round_trips(tmp_path):
    sentence = (
        "Each value is at most the limit of the users.subscription_tier of the users row whose users.id "
        "equals user_id, per window: free (60s 60, 3600s 1,000); starter (60s 300, 3600s 10,000)."
    )
    assert rendered_sentence(rule("x", limits={"starter": LIMITS["starter"], "free": LIMITS["free"]})) == sentence
    stored, loaded = suite_round_trip(rule("${DATABASE_URL}"), tmp_path)
    assert stored["expectations"][0]["kwargs"]["limits"] == LIMITS
    assert rendered_sentence(loaded) == sentence
