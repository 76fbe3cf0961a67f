"""How each business kind is written (see :mod:`.business_kinds`)."""

from __future__ import annotations

from psycopg2.extras import execute_values

from ytempire_dq.db import factories as f
from ytempire_dq.db.defects.injector import UNTOUCHED_USER, _Injector, injects
from ytempire_dq.db.defects.kinds import GAINED

# -- business rules: lifecycles, state-dependent events, thresholds, plausibility, freshness -------


def _ids(rows) -> list:
    return [r[0] for r in rows]


@injects("monetized_below_ypp")
def _monetized_below_ypp(ij: _Injector, n: int) -> None:
    # a channel whose videos gained fewer than 1,000 subscribers is marked monetized
    victims = ij.channels(
        "monetized_below_ypp",
        n,
        extra=f"AND c.monetization_status <> 'monetized' AND {GAINED} < {f.YPP_MIN_SUBSCRIBERS}",
        any_user=True,
    )
    ij.update_sql("channels", "monetization_status = 'monetized'", _ids(victims))


@injects("active_channel_of_inactive_user")
def _active_channel_of_inactive_user(ij: _Injector, n: int) -> None:
    # one channel per user, so no tier limit breaks: first a suspended or deleted user's channel
    # comes back to life, then active users with exactly one active channel are suspended
    revived = ij.channels(
        "active_channel_of_inactive_user",
        n,
        extra="AND u.status IN ('suspended', 'deleted') AND c.id = (SELECT c2.id FROM channels c2 "
        "WHERE c2.user_id = u.id ORDER BY c2.id LIMIT 1)",
        minimum=0,
    )
    ij.update_sql("channels", "status = 'active'", _ids(revived))
    owners = ij.fetch(
        "SELECT user_id FROM channels WHERE id = ANY (%(c)s::uuid[])", {"c": [str(c) for c in _ids(revived)]}
    )
    ij.used["users"].update(str(u) for (u,) in owners)  # no other kind changes their status
    if len(revived) < n:
        victims = ij.users(
            "active_channel_of_inactive_user",
            n - len(revived),
            extra=UNTOUCHED_USER + " AND u.status = 'active' "
            "AND (SELECT count(*) FROM channels c WHERE c.user_id = u.id AND c.status = 'active') = 1",
            column="status",
        )
        ij.update_sql("users", "status = 'suspended'", _ids(victims))


@injects("subscribers_above_views")
def _subscribers_above_views(ij: _Injector, n: int) -> None:
    # more subscribers never lowers a channel's total: the monetization rule still holds
    rows = _analytics_rows(ij, "subscribers_above_views", n, "a.views BETWEEN 1 AND 100000")
    ij.update_sql("analytics", "subscribers_gained = views + 1", _ids(rows))


@injects("youtube_id_on_unpublished_video")
def _youtube_id_on_unpublished_video(ij: _Injector, n: int) -> None:
    ij.update(
        "videos",
        "youtube_video_id",
        [(str(v[0]), f.youtube_video_id(ij.rng)) for v in ij.unpublished_videos("youtube_id_on_unpublished_video", n)],
    )


@injects("publish_time_on_unpublished_video")
def _publish_time_on_unpublished_video(ij: _Injector, n: int) -> None:
    ij.update_sql(
        "videos", "published_at = created_at", _ids(ij.unpublished_videos("publish_time_on_unpublished_video", n))
    )


@injects("views_on_unpublished_video")
def _views_on_unpublished_video(ij: _Injector, n: int) -> None:
    # at most 100 views: within the view-sum tolerance, so only the lifecycle rule breaks
    ij.update(
        "videos",
        "view_count",
        [(str(v[0]), ij.rng.randint(1, 100)) for v in ij.unpublished_videos("views_on_unpublished_video", n)],
    )


@injects("analytics_for_unpublished_video")
def _analytics_for_unpublished_video(ij: _Injector, n: int) -> None:
    vids = _ids(ij.unpublished_videos("analytics_for_unpublished_video", n))
    execute_values(
        ij.cur,
        """
        INSERT INTO analytics (video_id, date, views, watch_time_minutes, revenue, subscribers_gained)
        SELECT v.video_id::uuid, current_date - 1, 0, 0, 0, 0 FROM (VALUES %s) AS v(video_id)""",
        [(str(v),) for v in vids],
    )


def _analytics_rows(ij: _Injector, kind: str, n: int, where: str) -> list[tuple]:
    """One analytics row (id, video_id, views) matching ``where`` from each of ``n`` clean videos."""
    vids = [
        str(v[0])
        for v in ij.videos(kind, n, extra=f"AND EXISTS (SELECT 1 FROM analytics a WHERE a.video_id = v.id AND {where})")
    ]
    return ij.fetch(
        f"""SELECT DISTINCT ON (a.video_id) a.id, a.video_id, a.views FROM analytics a
                        WHERE a.video_id = ANY (%(v)s::uuid[]) AND {where} ORDER BY a.video_id, a.date""",
        {"v": vids},
    )


@injects("implausible_watch_time")
def _implausible_watch_time(ij: _Injector, n: int) -> None:
    rows = _analytics_rows(ij, "implausible_watch_time", n, "a.views BETWEEN 1 AND 100000")
    ij.update_sql("analytics", f"watch_time_minutes = views * {f.MAX_VIDEO_MINUTES} + 1", _ids(rows))


@injects("revenue_without_views")
def _revenue_without_views(ij: _Injector, n: int) -> None:
    # a day's views move to the video's next day (the view sum stays), the emptied day keeps some revenue
    rows = _analytics_rows(ij, "revenue_without_views", n, "a.views > 0 AND a.date < current_date")
    ij.cur.execute(
        """
        UPDATE analytics b SET views = b.views + a.views FROM analytics a
        WHERE a.id = ANY (%(ids)s::uuid[]) AND b.video_id = a.video_id AND b.date = a.date + 1""",
        {"ids": [str(r[0]) for r in rows]},
    )
    # its subscribers move with its views; the half dollar it keeps is added to videos.revenue
    ij.cur.execute(
        """
        UPDATE analytics b SET subscribers_gained = b.subscribers_gained + a.subscribers_gained FROM analytics a
        WHERE a.id = ANY (%(ids)s::uuid[]) AND b.video_id = a.video_id AND b.date = a.date + 1""",
        {"ids": [str(r[0]) for r in rows]},
    )
    ij.update_sql(
        "analytics", "views = 0, watch_time_minutes = 0, subscribers_gained = 0, revenue = revenue + 0.5", _ids(rows)
    )
    ij.update_sql("videos", "revenue = revenue + 0.5", [r[1] for r in rows])


@injects("stale_analytics")
def _stale_analytics(ij: _Injector, n: int) -> None:
    # the sync stopped for these videos: their last days are gone (view_count follows, sums stay right)
    age = f.ANALYTICS_MAX_AGE_DAYS
    # (revenue follows too; only channels that are not monetized, whose subscriber total may drop)
    vids = [
        str(v[0])
        for v in ij.videos(
            "stale_analytics",
            n,
            extra=f"AND v.published_at < current_date - {age + 1} AND c.monetization_status <> 'monetized'",
        )
    ]
    ij.cur.execute(
        f"""
        WITH gone AS (DELETE FROM analytics WHERE video_id = ANY (%(v)s::uuid[]) AND date >= current_date - {age}
                      RETURNING video_id, views, revenue)
        UPDATE videos v SET view_count = v.view_count - g.views, revenue = v.revenue - g.revenue
        FROM (SELECT video_id, sum(views) AS views, sum(revenue) AS revenue FROM gone GROUP BY video_id) g
        WHERE v.id = g.video_id""",
        {"v": vids},
    )


@injects("api_key_used_after_revoke")
def _api_key_used_after_revoke(ij: _Injector, n: int) -> None:
    ij.update_sql(
        "api_keys",
        "revoked_at = created_at + (localtimestamp - created_at) / 3, "
        "last_used_at = created_at + (localtimestamp - created_at) * 2 / 3",
        _ids(ij.api_keys("api_key_used_after_revoke", n)),
    )


@injects("active_workflow_without_start")
def _active_workflow_without_start(ij: _Injector, n: int) -> None:
    ij.update_sql("workflows", "started_at = NULL", _ids(ij.workflows("active_workflow_without_start", n, "succeeded")))


@injects("queued_workflow_with_start")
def _queued_workflow_with_start(ij: _Injector, n: int) -> None:
    ij.update_sql("workflows", "started_at = created_at", _ids(ij.workflows("queued_workflow_with_start", n, "queued")))


@injects("done_workflow_without_finish")
def _done_workflow_without_finish(ij: _Injector, n: int) -> None:
    ij.update_sql("workflows", "finished_at = NULL", _ids(ij.workflows("done_workflow_without_finish", n, "succeeded")))


@injects("open_workflow_with_finish")
def _open_workflow_with_finish(ij: _Injector, n: int) -> None:
    ij.update_sql("workflows", "finished_at = created_at", _ids(ij.workflows("open_workflow_with_finish", n, "queued")))


@injects("failed_workflow_without_error")
def _failed_workflow_without_error(ij: _Injector, n: int) -> None:
    ij.update_sql("workflows", "error_message = NULL", _ids(ij.workflows("failed_workflow_without_error", n, "failed")))


@injects("error_on_unfailed_workflow")
def _error_on_unfailed_workflow(ij: _Injector, n: int) -> None:
    ij.update_sql(
        "workflows",
        "error_message = 'quota exceeded'",
        _ids(ij.workflows("error_on_unfailed_workflow", n, "succeeded")),
    )


@injects("stuck_workflow")
def _stuck_workflow(ij: _Injector, n: int) -> None:
    ij.update_sql(
        "workflows",
        "started_at = localtimestamp - interval '1 day', created_at = localtimestamp - interval '1 day 5 minutes'",
        _ids(ij.workflows("stuck_workflow", n, "running")),
    )


@injects("future_user_timestamp")
def _future_user_timestamp(ij: _Injector, n: int) -> None:
    ij.update_sql(
        "users",
        "updated_at = localtimestamp + interval '1 day'",
        _ids(ij.users("future_user_timestamp", n, column="updated_at")),
    )


@injects("future_channel_timestamp")
def _future_channel_timestamp(ij: _Injector, n: int) -> None:
    # a new paused channel created tomorrow (an existing one's videos and workflows would predate it)
    users = _ids(ij.fetch("SELECT id FROM users ORDER BY id LIMIT %(n)s", {"n": n}))
    ij.insert_channels([str(users[i % len(users)]) for i in range(n)], "paused", created="now() + interval '1 day'")


@injects("future_video_timestamp")
def _future_video_timestamp(ij: _Injector, n: int) -> None:
    ij.update_sql(
        "videos",
        "created_at = localtimestamp + interval '1 day'",
        _ids(ij.unpublished_videos("future_video_timestamp", n)),
    )


@injects("future_api_key_timestamp")
def _future_api_key_timestamp(ij: _Injector, n: int) -> None:
    ij.update_sql(
        "api_keys", "last_used_at = localtimestamp + interval '1 day'", _ids(ij.api_keys("future_api_key_timestamp", n))
    )


@injects("future_workflow_timestamp")
def _future_workflow_timestamp(ij: _Injector, n: int) -> None:
    ij.update_sql(
        "workflows",
        "finished_at = localtimestamp + interval '1 day'",
        _ids(ij.workflows("future_workflow_timestamp", n, "succeeded")),
    )


@injects("channel_before_user")
def _channel_before_user(ij: _Injector, n: int) -> None:
    ids = [str(v[0]) for v in ij.channels("channel_before_user", n, any_user=True)]
    ij.cur.execute(
        """UPDATE channels c SET created_at = u.created_at - interval '1 day' FROM users u
                      WHERE u.id = c.user_id AND c.id = ANY (%s::uuid[])""",
        (ids,),
    )


@injects("video_before_channel")
def _video_before_channel(ij: _Injector, n: int) -> None:
    ids = [str(v[0]) for v in ij.unpublished_videos("video_before_channel", n)]
    ij.cur.execute(
        """UPDATE videos v SET created_at = c.created_at - interval '1 day' FROM channels c
                      WHERE c.id = v.channel_id AND v.id = ANY (%s::uuid[])""",
        (ids,),
    )


@injects("api_key_before_user")
def _api_key_before_user(ij: _Injector, n: int) -> None:
    ids = [str(v[0]) for v in ij.api_keys("api_key_before_user", n)]
    ij.cur.execute(
        """UPDATE api_keys k SET created_at = u.created_at - interval '1 day' FROM users u
                      WHERE u.id = k.user_id AND k.id = ANY (%s::uuid[])""",
        (ids,),
    )


@injects("workflow_before_channel")
def _workflow_before_channel(ij: _Injector, n: int) -> None:
    ids = [str(v[0]) for v in ij.workflows("workflow_before_channel", n, "succeeded")]
    ij.cur.execute(
        """UPDATE workflows w SET created_at = c.created_at - interval '1 day' FROM channels c
                      WHERE c.id = w.channel_id AND w.id = ANY (%s::uuid[])""",
        (ids,),
    )


# over_tier_limit picks its users first: the channel kinds then avoid those users' channels.
