"""The three custom expectations as the cross_table suite uses them, on seeded data with injected
defects: each rule's unexpected_count equals the number of defects the seeder says it injected."""

from __future__ import annotations

import pytest

from ytempire_dq.expectations import (
    ExpectChildAggregateToMatchParentColumn,
    ExpectChildCountPerParentWithinLimit,
    ExpectColumnValuesToExistInTable,
)
from ytempire_dq.fixtures import seed as seeder

INJECTED = {
    "orphan_channels": 3,
    "orphan_videos": 4,
    "orphan_analytics": 5,
    "analytics_sum_mismatch": 6,
    "over_tier_limit": 7,
}


def rules() -> list:
    """Fresh instances (an expectation belongs to one suite), each tagged with its defect kind."""
    tiers = {"free": 1, "starter": 5, "professional": 20, "enterprise": 100}
    made = {
        "orphan_channels": ExpectColumnValuesToExistInTable(
            table="channels", column="user_id", referenced_table="users"
        ),
        "orphan_videos": ExpectColumnValuesToExistInTable(
            table="videos", column="channel_id", referenced_table="channels"
        ),
        "orphan_analytics": ExpectColumnValuesToExistInTable(
            table="analytics", column="video_id", referenced_table="videos"
        ),
        "analytics_sum_mismatch": ExpectChildAggregateToMatchParentColumn(
            table="videos",
            key_column="id",
            parent_column="view_count",
            child_table="analytics",
            child_key_column="video_id",
            child_column="views",
            tolerance=100,
        ),
        "over_tier_limit": ExpectChildCountPerParentWithinLimit(
            table="users",
            key_column="id",
            limit_column="subscription_tier",
            limits=tiers,
            child_table="channels",
            child_key_column="user_id",
            child_filter={"status": "active"},
        ),
    }
    for kind, rule in made.items():
        rule.meta = {"rule_id": kind}
    return list(made.values())


@pytest.fixture(scope="module")
def seeded(db_url):
    seeder.seed(db_url, users=30, seed=11)
    return db_url


def test_clean_seeded_data_passes_every_rule(gx_env, seeded):
    run = gx_env.validate_suite("clean", *rules())
    assert run.success is True, [r.result for r in run.results]


def test_each_rule_counts_exactly_the_injected_defects(gx_env, seeded):
    seeder.seed(seeded, users=30, seed=11, inject=INJECTED)
    run = gx_env.validate_suite("injected", *rules())

    counts = {r.expectation_config.meta["rule_id"]: r.result["unexpected_count"] for r in run.results}
    assert counts == INJECTED
    assert all(r.result["observed_value"] == r.result["unexpected_count"] for r in run.results)
