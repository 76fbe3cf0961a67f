"""Defect kinds of the rules no constraint can hold: lifecycles, state-dependent events, the clock, cross-table order, thresholds, plausibility, freshness."""

from __future__ import annotations

from ytempire_dq.db import factories as f
from ytempire_dq.db.defects.kinds import (
    _NEVER,
    _TIMESTAMPS,
    GAINED,
    DefectKind,
    _in,
)

BUSINESS_KINDS = [
    DefectKind(
        "monetized_below_ypp",
        "channels.monetized_meets_ypp_subscribers",
        "channels",
        f"monetized channel with fewer than {f.YPP_MIN_SUBSCRIBERS:,} subscribers (YouTube Partner Program)",
        f"SELECT count(*) FROM channels c WHERE monetization_status = 'monetized' "
        f"AND {GAINED} < {f.YPP_MIN_SUBSCRIBERS}",
    ),
    DefectKind(
        "active_channel_of_inactive_user",
        "channels.inactive_user_has_no_active_channel",
        "channels",
        "active channel of a suspended or deleted user (counts channels)",
        "SELECT count(*) FROM channels c JOIN users u ON u.id = c.user_id "
        f"WHERE c.status = 'active' AND u.status IN {_in(f.INACTIVE_USER_STATUSES)}",
    ),
    DefectKind(
        "subscribers_above_views",
        "analytics.subscribers_gained_at_most_views",
        "analytics",
        "analytics day that gained more subscribers than it had views",
        "SELECT count(*) FROM analytics WHERE subscribers_gained > views",
    ),
    DefectKind(
        "youtube_id_on_unpublished_video",
        "videos.unpublished_has_no_youtube_id",
        "videos",
        "never-published video with a YouTube id",
        f"SELECT count(*) FROM videos WHERE status IN {_NEVER} AND youtube_video_id IS NOT NULL",
    ),
    DefectKind(
        "publish_time_on_unpublished_video",
        "videos.unpublished_has_no_published_at",
        "videos",
        "never-published video with a publish time",
        f"SELECT count(*) FROM videos WHERE status IN {_NEVER} AND published_at IS NOT NULL",
    ),
    DefectKind(
        "views_on_unpublished_video",
        "videos.unpublished_has_no_views",
        "videos",
        "never-published video with views",
        f"SELECT count(*) FROM videos WHERE status IN {_NEVER} AND view_count > 0",
    ),
    DefectKind(
        "analytics_for_unpublished_video",
        "analytics.only_for_published_videos",
        "analytics",
        "analytics row of a never-published video",
        f"SELECT count(*) FROM analytics a JOIN videos v ON v.id = a.video_id WHERE v.status IN {_NEVER}",
    ),
    DefectKind(
        "implausible_watch_time",
        "analytics.watch_time_plausible",
        "analytics",
        f"analytics watch time above views x {f.MAX_VIDEO_MINUTES} minutes",
        f"SELECT count(*) FROM analytics WHERE watch_time_minutes > views * {f.MAX_VIDEO_MINUTES}",
    ),
    DefectKind(
        "revenue_without_views",
        "analytics.no_revenue_without_views",
        "analytics",
        "analytics day with revenue but no views",
        "SELECT count(*) FROM analytics WHERE revenue > 0 AND views = 0",
    ),
    DefectKind(
        "stale_analytics",
        "analytics.fresh_per_published_video",
        "analytics",
        f"published video (published over {f.ANALYTICS_MAX_AGE_DAYS} days ago) whose newest analytics day is "
        f"more than {f.ANALYTICS_MAX_AGE_DAYS} days old (counts videos)",
        f"SELECT count(*) FROM videos v WHERE v.status = 'published' "
        f"AND v.published_at < current_date - {f.ANALYTICS_MAX_AGE_DAYS} AND coalesce((SELECT max(a.date) "
        f"FROM analytics a WHERE a.video_id = v.id), '-infinity') < current_date - {f.ANALYTICS_MAX_AGE_DAYS}",
    ),
    DefectKind(
        "api_key_used_after_revoke",
        "api_keys.not_used_after_revoked",
        "api_keys",
        "API key used after it was revoked",
        "SELECT count(*) FROM api_keys WHERE last_used_at > revoked_at",
    ),
    DefectKind(
        "active_workflow_without_start",
        "workflows.started_unless_queued",
        "workflows",
        "running/succeeded/failed workflow without started_at",
        "SELECT count(*) FROM workflows WHERE status IN ('running', 'succeeded', 'failed') AND started_at IS NULL",
    ),
    DefectKind(
        "queued_workflow_with_start",
        "workflows.queued_not_started",
        "workflows",
        "queued workflow with a started_at",
        "SELECT count(*) FROM workflows WHERE status = 'queued' AND started_at IS NOT NULL",
    ),
    DefectKind(
        "done_workflow_without_finish",
        "workflows.finished_when_done",
        "workflows",
        "succeeded/failed workflow without finished_at",
        "SELECT count(*) FROM workflows WHERE status IN ('succeeded', 'failed') AND finished_at IS NULL",
    ),
    DefectKind(
        "open_workflow_with_finish",
        "workflows.open_not_finished",
        "workflows",
        "queued/running workflow with a finished_at",
        "SELECT count(*) FROM workflows WHERE status IN ('queued', 'running') AND finished_at IS NOT NULL",
    ),
    DefectKind(
        "failed_workflow_without_error",
        "workflows.failed_has_error_message",
        "workflows",
        "failed workflow without an error_message",
        "SELECT count(*) FROM workflows WHERE status = 'failed' AND error_message IS NULL",
    ),
    DefectKind(
        "error_on_unfailed_workflow",
        "workflows.error_only_when_failed",
        "workflows",
        "workflow that did not fail carrying an error_message",
        "SELECT count(*) FROM workflows WHERE status IN ('queued', 'running', 'succeeded', 'cancelled') "
        "AND error_message IS NOT NULL",
    ),
    DefectKind(
        "stuck_workflow",
        "workflows.not_stuck_running",
        "workflows",
        f"workflow running for more than {f.STUCK_RUNNING_HOURS} hours",
        f"SELECT count(*) FROM workflows WHERE status = 'running' "
        f"AND started_at < localtimestamp - interval '{f.STUCK_RUNNING_HOURS} hours'",
    ),
    *(
        DefectKind(
            f"future_{singular}_timestamp",
            f"{table}.no_future_timestamps",
            table,
            f"{table} row with a timestamp in the future",
            f"SELECT count(*) FROM {table} WHERE " + " OR ".join(f"{c} > localtimestamp" for c in columns),
        )
        for singular, table, columns in _TIMESTAMPS
    ),
    DefectKind(
        "channel_before_user",
        "channels.created_after_user",
        "channels",
        "channel created before its user",
        "SELECT count(*) FROM channels c JOIN users u ON u.id = c.user_id WHERE c.created_at < u.created_at",
    ),
    DefectKind(
        "video_before_channel",
        "videos.not_before_channel",
        "videos",
        "video created or published before its channel was created",
        "SELECT count(*) FROM videos v JOIN channels c ON c.id = v.channel_id "
        "WHERE v.created_at < c.created_at OR v.published_at < c.created_at",
    ),
    DefectKind(
        "api_key_before_user",
        "api_keys.created_after_user",
        "api_keys",
        "API key created before its user",
        "SELECT count(*) FROM api_keys k JOIN users u ON u.id = k.user_id WHERE k.created_at < u.created_at",
    ),
    DefectKind(
        "workflow_before_channel",
        "workflows.created_after_channel",
        "workflows",
        "workflow created before its channel",
        "SELECT count(*) FROM workflows w JOIN channels c ON c.id = w.channel_id WHERE w.created_at < c.created_at",
    ),
]
