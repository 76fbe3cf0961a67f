"""How each constraint kind is written (see :mod:`.constraint_kinds`): victims that break no rule, then one change each."""

from __future__ import annotations

import uuid

from psycopg2.extras import execute_values

from ytempire_dq.db import factories as f
from ytempire_dq.db.defects.injector import UNTOUCHED_USER, _Injector, injects
from ytempire_dq.db.defects.kinds import MARKUP_TITLE
from ytempire_dq.errors import YtdqError

# -- orphans: new rows pointing at random UUIDs; each keeps every other rule --------------------


@injects("orphan_channels")
def _orphan_channels(ij: _Injector, n: int) -> None:
    ij.drop_constraints("channels", "f", ("user_id",), ref="users")
    ij.insert_channels([ij.uuid() for _ in range(n)], status="paused")


@injects("orphan_videos")
def _orphan_videos(ij: _Injector, n: int) -> None:
    ij.drop_constraints("videos", "f", ("channel_id",), ref="channels")
    rows = [(ij.uuid(), ij.uuid(), f"Orphaned draft {i}") for i in range(n)]
    execute_values(
        ij.cur,
        """
        INSERT INTO videos (id, channel_id, title, status, view_count, created_at)
        SELECT v.id::uuid, v.channel_id::uuid, v.title, 'draft', 0, localtimestamp - interval '1 day'
        FROM (VALUES %s) AS v(id, channel_id, title)""",
        rows,
    )


@injects("orphan_analytics")
def _orphan_analytics(ij: _Injector, n: int) -> None:
    ij.drop_constraints("analytics", "f", ("video_id",), ref="videos")
    execute_values(
        ij.cur,
        """
        INSERT INTO analytics (video_id, date, views, watch_time_minutes, revenue, subscribers_gained)
        SELECT v.video_id::uuid, current_date - 1, 0, 0, 0, 0 FROM (VALUES %s) AS v(video_id)""",
        [(ij.uuid(),) for _ in range(n)],
    )


@injects("orphan_api_keys")
def _orphan_api_keys(ij: _Injector, n: int) -> None:
    ij.drop_constraints("api_keys", "f", ("user_id",), ref="users")
    execute_values(
        ij.cur,
        """
        INSERT INTO api_keys (id, user_id, key_hash, name, created_at)
        SELECT v.id::uuid, v.user_id::uuid, v.key_hash, 'orphaned', localtimestamp - interval '1 day'
        FROM (VALUES %s) AS v(id, user_id, key_hash)""",
        [(ij.uuid(), ij.uuid(), f.sha256_hex(ij.rng)) for _ in range(n)],
    )


@injects("orphan_workflows")
def _orphan_workflows(ij: _Injector, n: int) -> None:
    ij.drop_constraints("workflows", "f", ("channel_id",), ref="channels")
    execute_values(
        ij.cur,
        """
        INSERT INTO workflows (id, channel_id, kind, status, cost, created_at)
        SELECT v.id::uuid, v.channel_id::uuid, 'upload', 'queued', 0, localtimestamp - interval '1 day'
        FROM (VALUES %s) AS v(id, channel_id)""",
        [(ij.uuid(), ij.uuid()) for _ in range(n)],
    )


def _ids(rows) -> list:
    return [r[0] for r in rows]


# -- users ----------------------------------------------------------------------------------------


@injects("unknown_user_status")
def _unknown_user_status(ij: _Injector, n: int) -> None:
    victims = ij.users("unknown_user_status", n, extra=UNTOUCHED_USER, column="status")
    ij.update_sql("users", "status = 'banned'", _ids(victims))


@injects("negative_video_revenue")
def _negative_video_revenue(ij: _Injector, n: int) -> None:
    # a never-published video (no analytics) one cent below zero: within the cent its days may differ
    ij.update_sql("videos", "revenue = -0.01", _ids(ij.unpublished_videos("negative_video_revenue", n)))


@injects("video_revenue_mismatch")
def _video_revenue_mismatch(ij: _Injector, n: int) -> None:
    ij.update_sql("videos", "revenue = revenue + 1", _ids(ij.videos("video_revenue_mismatch", n)))


@injects("over_tier_limit")
def _over_tier_limit(ij: _Injector, n: int) -> None:
    # free users first (one or two extra active channels put them over); no constraint stops this
    victims = (
        ij.users("over_tier_limit", n, extra="AND u.subscription_tier = 'free' AND u.status = 'active'") if n else []
    )
    if len(victims) < n:  # pragma: no cover - take() already raised
        raise YtdqError("not enough users for over_tier_limit")
    ij.tier_victims.update(str(v[0]) for v in victims)
    new_for = []
    for uid, _email, tier, active in victims:
        new_for += [str(uid)] * (f.TIER_LIMITS[tier] + 1 - active)
    ij.insert_channels(new_for, status="active")


@injects("bad_email")
def _bad_email(ij: _Injector, n: int) -> None:
    ij.drop_constraints("users", "c", ("email",))
    victims = ij.users("bad_email", n, column="email")
    ij.update(
        "users",
        "email",
        [
            (str(uid), f"{email.replace('@', '.at.')}" if i % 2 else f"{email}@")
            for i, (uid, email, *_r) in enumerate(victims)
        ],
    )


@injects("short_username")
def _short_username(ij: _Injector, n: int) -> None:
    ij.drop_constraints("users", "c", ("username",))
    taken = {r[0] for r in ij.fetch("SELECT username FROM users WHERE length(username) < 3")}
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    names = [a + b for a in alphabet for b in alphabet] + list(alphabet)
    names = [x for x in names if x not in taken]
    if n > len(names):
        raise YtdqError(f"cannot inject short_username={n}: only {len(names)} distinct short usernames are free")
    victims = ij.users("short_username", n, column="username")
    ij.update("users", "username", [(str(v[0]), names[i]) for i, v in enumerate(victims)])


@injects("unknown_tier")
def _unknown_tier(ij: _Injector, n: int) -> None:
    ij.drop_constraints("users", "c", ("subscription_tier",))
    ij.update_sql("users", "subscription_tier = 'platinum'", [v[0] for v in ij.users("unknown_tier", n, column="tier")])


@injects("updated_before_created")
def _updated_before_created(ij: _Injector, n: int) -> None:
    ij.update_sql(
        "users",
        "updated_at = created_at - interval '1 day'",
        [v[0] for v in ij.users("updated_before_created", n, column="updated_at")],
    )


@injects("duplicate_email")
def _duplicate_email(ij: _Injector, n: int) -> None:
    ij.drop_constraints("users", "u", ("email",))
    victims = ij.users("duplicate_email", 2 * n, column="email")
    ij.update("users", "email", [(str(victims[2 * i + 1][0]), victims[2 * i][1]) for i in range(n)])


# -- channels -------------------------------------------------------------------------------------


@injects("unknown_channel_status")
def _unknown_channel_status(ij: _Injector, n: int) -> None:
    ij.drop_constraints("channels", "c", ("status",))
    ij.update_sql("channels", "status = 'archived'", [v[0] for v in ij.channels("unknown_channel_status", n)])


@injects("unknown_monetization_status")
def _unknown_monetization_status(ij: _Injector, n: int) -> None:
    ij.drop_constraints("channels", "c", ("monetization_status",))
    ij.update_sql(
        "channels",
        "monetization_status = 'banned'",
        [v[0] for v in ij.channels("unknown_monetization_status", n, any_user=True)],
    )


@injects("bad_youtube_channel_id")
def _bad_youtube_channel_id(ij: _Injector, n: int) -> None:
    victims = ij.channels("bad_youtube_channel_id", n, any_user=True)
    ij.update("channels", "youtube_channel_id", [(str(v[0]), f"UC!{uuid.UUID(str(v[0])).hex}") for v in victims])


@injects("negative_subscribers")
def _negative_subscribers(ij: _Injector, n: int) -> None:
    # one day of a video of a channel that is not monetized (its subscriber total may drop)
    rows = ij.fetch(
        """SELECT DISTINCT ON (v.channel_id) a.id FROM analytics a JOIN videos v ON v.id = a.video_id
           JOIN channels c ON c.id = v.channel_id
           WHERE c.monetization_status <> 'monetized' AND a.subscribers_gained = 0 AND a.date <= current_date
             AND NOT (v.channel_id = ANY (%(used)s::uuid[]))
           ORDER BY v.channel_id, a.video_id, a.date LIMIT %(n)s""",
        {"n": n, "used": list(ij.used["channels"])},
    )
    if len(rows) < n:
        raise YtdqError(f"cannot inject negative_subscribers={n}: only {len(rows)} suitable analytics rows")
    ij.update_sql("analytics", "subscribers_gained = -1", [r[0] for r in rows])


@injects("unknown_workflow_status")
def _unknown_workflow_status(ij: _Injector, n: int) -> None:
    ij.drop_constraints("workflows", "c", ("status",))
    ij.update_sql("workflows", "status = 'paused'", [v[0] for v in ij.workflows("unknown_workflow_status", n)])


# -- videos ---------------------------------------------------------------------------------------


@injects("unknown_video_status")
def _unknown_video_status(ij: _Injector, n: int) -> None:
    ij.drop_constraints("videos", "c", ("status",))
    ij.update_sql("videos", "status = 'deleted'", [v[0] for v in ij.videos("unknown_video_status", n)])


@injects("bad_youtube_video_id")
def _bad_youtube_video_id(ij: _Injector, n: int) -> None:
    victims = ij.videos("bad_youtube_video_id", n)
    ij.update("videos", "youtube_video_id", [(str(v[0]), f"{v[1]}!") for v in victims])


@injects("cost_out_of_range")
def _cost_out_of_range(ij: _Injector, n: int) -> None:
    victims = ij.videos("cost_out_of_range", n)
    ij.update(
        "videos",
        "generation_cost",
        [(str(v[0]), 0.05 if i % 2 else round(5.01 + ij.rng.random() * 20, 4)) for i, v in enumerate(victims)],
    )


@injects("published_without_youtube_id")
def _published_without_youtube_id(ij: _Injector, n: int) -> None:
    ij.update_sql("videos", "youtube_video_id = NULL", [v[0] for v in ij.videos("published_without_youtube_id", n)])


@injects("published_without_published_at")
def _published_without_published_at(ij: _Injector, n: int) -> None:
    ij.update_sql("videos", "published_at = NULL", [v[0] for v in ij.videos("published_without_published_at", n)])


@injects("published_before_created")
def _published_before_created(ij: _Injector, n: int) -> None:
    ij.update_sql(
        "videos",
        "published_at = created_at - interval '3 hours'",  # still after its channel existed
        [
            v[0]
            for v in ij.videos(
                "published_before_created", n, extra="AND v.created_at - interval '3 hours' >= c.created_at"
            )
        ],
    )


@injects("analytics_sum_mismatch")
def _analytics_sum_mismatch(ij: _Injector, n: int) -> None:
    ij.update_sql(
        "videos",
        "view_count = view_count + 101 + (random() * 5000)::int",
        [v[0] for v in ij.videos("analytics_sum_mismatch", n)],
    )


@injects("null_video_title")
def _null_video_title(ij: _Injector, n: int) -> None:
    ij.cur.execute("ALTER TABLE videos ALTER COLUMN title DROP NOT NULL")
    ij.update_sql("videos", "title = NULL", [v[0] for v in ij.videos("null_video_title", n)])


@injects("markup_in_title")
def _markup_in_title(ij: _Injector, n: int) -> None:
    ij.update(
        "videos",
        "title",
        [(str(v[0]), f"Injected {i} {MARKUP_TITLE}") for i, v in enumerate(ij.videos("markup_in_title", n))],
    )


@injects("duplicate_youtube_video_id")
def _duplicate_youtube_video_id(ij: _Injector, n: int) -> None:
    ij.drop_constraints("videos", "u", ("youtube_video_id",))
    victims = ij.videos("duplicate_youtube_video_id", 2 * n)
    ij.update("videos", "youtube_video_id", [(str(victims[2 * i + 1][0]), victims[2 * i][1]) for i in range(n)])


# -- analytics: inserted rows have views = 0 (view sums stay right) --------------------------------


def _analytics_victims(ij: _Injector, kind: str, n: int) -> list[str]:
    """Up to ``n`` clean videos (at least 1); rows are spread over them, several per video if needed."""
    return [str(v[0]) for v in ij.videos(kind, n, minimum=1)]


@injects("future_analytics_date")
def _future_analytics_date(ij: _Injector, n: int) -> None:
    vids = _analytics_victims(ij, "future_analytics_date", n)
    rows = [(vids[i % len(vids)], 1 + i // len(vids)) for i in range(n)]
    execute_values(
        ij.cur,
        """
        INSERT INTO analytics (video_id, date, views, watch_time_minutes, revenue, subscribers_gained)
        SELECT v.video_id::uuid, current_date + v.ahead, 0, 0, 0, 0 FROM (VALUES %s) AS v(video_id, ahead)""",
        rows,
    )


@injects("analytics_before_video")
def _analytics_before_video(ij: _Injector, n: int) -> None:
    vids = _analytics_victims(ij, "analytics_before_video", n)
    rows = [(vids[i % len(vids)], 1 + i // len(vids)) for i in range(n)]
    execute_values(
        ij.cur,
        """
        INSERT INTO analytics (video_id, date, views, watch_time_minutes, revenue, subscribers_gained)
        SELECT v.video_id::uuid, vid.created_at::date - v.before, 0, 0, 0, 0
        FROM (VALUES %s) AS v(video_id, before) JOIN videos vid ON vid.id = v.video_id::uuid""",
        rows,
    )


@injects("duplicate_analytics_day")
def _duplicate_analytics_day(ij: _Injector, n: int) -> None:
    ij.drop_constraints("analytics", "u", ("date", "video_id"))
    vids = _analytics_victims(ij, "duplicate_analytics_day", n)
    keys = ij.fetch(
        """SELECT video_id, date FROM (
                           SELECT video_id, date, row_number() OVER (PARTITION BY video_id ORDER BY date) AS k
                           FROM analytics WHERE video_id = ANY (%(v)s::uuid[]) AND date <= current_date) x
                       ORDER BY k, video_id LIMIT %(n)s""",
        {"v": vids, "n": n},
    )
    if len(keys) < n:
        raise YtdqError(f"cannot inject duplicate_analytics_day={n}: only {len(keys)} analytics days available")
    execute_values(
        ij.cur,
        """
        INSERT INTO analytics (video_id, date, views, watch_time_minutes, revenue, subscribers_gained)
        SELECT v.video_id::uuid, v.date::date, 0, 0, 0, 0 FROM (VALUES %s) AS v(video_id, date)""",
        keys,
    )


@injects("negative_revenue")
def _negative_revenue(ij: _Injector, n: int) -> None:
    ij.drop_constraints("analytics", "c", ("revenue",))
    ids = ij.fetch(
        """SELECT DISTINCT ON (a.video_id) a.id FROM analytics a
                      WHERE a.revenue = 0 AND a.date <= current_date
                        AND EXISTS (SELECT 1 FROM videos v WHERE v.id = a.video_id)
                      ORDER BY a.video_id, a.date LIMIT %(n)s""",
        {"n": n},
    )
    if len(ids) < n:
        raise YtdqError(f"cannot inject negative_revenue={n}: only {len(ids)} analytics rows available")
    # one cent below zero on one day per video: within the cent videos.revenue may differ from its days
    ij.update_sql("analytics", "revenue = -0.01", [r[0] for r in ids])
