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
    # business rules no constraint holds (issue 11)
    "monetized_below_ypp": "channels.monetized_meets_ypp_subscribers",
    "youtube_id_on_unpublished_video": "videos.unpublished_has_no_youtube_id",
    "publish_time_on_unpublished_video": "videos.unpublished_has_no_published_at",
    "views_on_unpublished_video": "videos.unpublished_has_no_views",
    "analytics_for_unpublished_video": "analytics.only_for_published_videos",
    "implausible_watch_time": "analytics.watch_time_plausible",
    "revenue_without_views": "analytics.no_revenue_without_views",
    "stale_analytics": "analytics.fresh_per_published_video",
    "api_key_used_after_revoke": "api_keys.not_used_after_revoked",
    "active_workflow_without_start": "workflows.started_unless_queued",
    "queued_workflow_with_start": "workflows.queued_not_started",
    "done_workflow_without_finish": "workflows.finished_when_done",
    "open_workflow_with_finish": "workflows.open_not_finished",
    "failed_workflow_without_error": "workflows.failed_has_error_message",
    "error_on_unfailed_workflow": "workflows.error_only_when_failed",
    "stuck_workflow": "workflows.not_stuck_running",
    "future_user_timestamp": "users.no_future_timestamps",
    "future_channel_timestamp": "channels.no_future_timestamps",
    "future_video_timestamp": "videos.no_future_timestamps",
    "future_api_key_timestamp": "api_keys.no_future_timestamps",
    "future_workflow_timestamp": "workflows.no_future_timestamps",
    "channel_before_user": "channels.created_after_user",
    "video_before_channel": "videos.not_before_channel",
    "api_key_before_user": "api_keys.created_after_user",
    "workflow_before_channel": "workflows.created_after_channel",
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
