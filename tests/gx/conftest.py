"""Fixtures for the GX project tests: the committed context pointed at this module's database."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.helpers import with_redis_db
from ytempire_dq.config import PROJECT_ROOT

#: What a GX project copy needs (the context's config and its three stores).
PROJECT_PARTS = ("gx/great_expectations.yml", "expectations", "checkpoints", "validation_definitions")

#: Each defect kind -> the ONE rule that catches it (unexpected count == injected rows).
KIND_TO_RULE = {
    "orphan_channels": "channels.user_exists",
    "orphan_videos": "videos.channel_exists",
    "orphan_analytics": "analytics.video_exists",
    "orphan_api_keys": "api_keys.user_exists",
    "orphan_workflows": "workflows.channel_exists",
    "bad_email": "users.email_format",
    "short_username": "users.username_min_length",
    "unknown_tier": "users.subscription_tier_allowed",
    "unknown_channel_status": "channels.status_allowed",
    "unknown_monetization_status": "channels.monetization_status_allowed",
    "unknown_video_status": "videos.status_allowed",
    "unknown_workflow_status": "workflows.status_allowed",
    "bad_youtube_channel_id": "channels.youtube_channel_id_format",
    "bad_youtube_video_id": "videos.youtube_video_id_format",
    "cost_out_of_range": "videos.generation_cost_range",
    "published_without_youtube_id": "videos.published_has_youtube_id",
    "published_without_published_at": "videos.published_has_published_at",
    "published_before_created": "videos.published_after_created",
    "updated_before_created": "users.updated_after_created",
    "negative_subscribers": "channels.subscriber_count_non_negative",
    "negative_revenue": "analytics.revenue_non_negative",
    "future_analytics_date": "analytics.date_not_in_future",
    "analytics_before_video": "analytics.date_not_before_video",
    "analytics_sum_mismatch": "videos.view_count_matches_analytics",
    "over_tier_limit": "users.active_channels_within_tier_limit",
    "duplicate_email": "users.email_unique",
    "duplicate_youtube_video_id": "videos.youtube_video_id_unique",
    "duplicate_analytics_day": "analytics.one_row_per_video_day",
    "null_video_title": "videos.title_not_null",
    "markup_in_title": "videos.title_has_no_markup",
}


#: The Redis database REDIS_URL names in these modules: emptied for each (an empty cache breaks no
#: cache rule), so nightly's cache validation never sees keys another module seeded.
REDIS_DB = 12


@pytest.fixture(scope="module")
def module_env(db_url, redis_url):
    """DATABASE_URL = this module's database, REDIS_URL = an emptied Redis database, for the whole module."""
    import redis

    cache_url = with_redis_db(redis_url, REDIS_DB)
    client = redis.Redis.from_url(cache_url)
    client.flushdb()
    client.close()
    mp = pytest.MonkeyPatch()
    mp.setenv("DATABASE_URL", db_url)
    mp.setenv("REDIS_URL", cache_url)
    yield db_url
    mp.undo()


def copy_project(dest: Path) -> Path:
    """A copy of the GX project under ``dest``; returns its ``gx/`` directory."""
    for part in PROJECT_PARTS:
        src = PROJECT_ROOT / part
        target = dest / part
        target.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, target)
        else:
            shutil.copy2(src, target)
    return dest / "gx"


@pytest.fixture
def project_copy(tmp_path) -> Path:
    return copy_project(tmp_path)
