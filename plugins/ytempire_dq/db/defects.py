"""Defect injection: add EXACTLY ``count`` rows breaking one rule, for each kind asked for.

Every kind is a :class:`DefectKind` in :data:`DEFECT_KINDS`: its name, the ONE rule that catches it
(``rule_id``: that rule's unexpected count equals the injected rows), the table it breaks, a one-line
description, and ``count_sql``, the plain SQL (``SELECT count(*) ...``, run it without parameters)
that counts its offending rows, which is the rule written down. After
``inject(url, {kind: count})`` on clean data, each kind's ``count_sql`` returns exactly ``count``,
also when every kind is injected at once: the injector picks disjoint victim rows, and every row
it writes keeps all the *other* rules (inserted analytics rows have ``views = 0`` so view sums
stay right; orphans reference random UUIDs; new channels and videos get valid ids and values).

The three ``duplicate_*`` kinds count duplicated *keys*: ``count`` keys are made, each shared by
exactly 2 rows, so ``2 × count`` rows share a duplicated key (``DefectKind.rows_per_defect`` is 2
for them, 1 for every other kind). ``analytics_sum_mismatch`` and ``over_tier_limit`` count
videos and users respectively.

Copies of the data (replicas, restored backups) may lack constraints, and the database's own
constraints would reject most of these rows, so injection drops just the constraint(s) that would
reject each kind (``ALTER TABLE ... DROP CONSTRAINT IF EXISTS``, names looked up in
``pg_constraint``; ``null_video_title`` drops ``videos.title``'s NOT NULL), then writes the rows,
all in one transaction: on any error nothing is changed. **``ytdq db reset`` restores the
constraints** (it rolls every migration back and applies them again, on an empty schema).
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from typing import Callable

from psycopg2 import sql
from psycopg2.extras import execute_values

from ytempire_dq.db import factories as f
from ytempire_dq.db.connect import connect
from ytempire_dq.errors import YtdqError

EMAIL_RE = r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$"
YT_CHANNEL_RE = r"^UC[A-Za-z0-9_-]{22}$"
YT_VIDEO_RE = r"^[A-Za-z0-9_-]{11}$"
#: An HTML/XML tag (what a scraped or pasted title should never carry); the suite's
#: ``videos.title_has_no_markup`` uses the same pattern.
MARKUP_RE = r"<[a-zA-Z/!][^>]*>"
#: What ``markup_in_title`` writes: a script tag, and an ``onerror`` handler that would mark the
#: page if a viewer (Data Docs) ever ran it instead of showing it as text.
MARKUP_TITLE = "<script>alert(1)</script><img src=x onerror=\"document.body.setAttribute('data-pwned','1')\">"


def _in(values) -> str:
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


_NEVER = _in(f.NEVER_PUBLISHED_STATUSES)
#: (singular, table, the event/creation/publication timestamps that must not lie in the future)
_TIMESTAMPS = (
    ("user", "users", ("created_at", "updated_at")),
    ("channel", "channels", ("created_at", "updated_at")),
    ("video", "videos", ("created_at", "published_at")),
    ("api_key", "api_keys", ("created_at", "last_used_at", "revoked_at")),
    ("workflow", "workflows", ("created_at", "started_at", "finished_at")),
)
_TIER_LIMITS_SQL = "(VALUES " + ", ".join(f"('{t}', {n})" for t, n in f.TIER_LIMITS.items()) + ")"


class UnknownDefectKind(YtdqError):
    """A defect kind that :data:`DEFECT_KINDS` does not define."""


@dataclass(frozen=True)
class DefectKind:
    """One kind of defect: what it breaks and the SQL that counts its offending rows."""

    name: str
    rule_id: str  # the ONE rule that catches it: its unexpected count equals the injected rows
    table: str
    description: str
    count_sql: str
    rows_per_defect: int = 1  # rows that share one duplicated key (2 for duplicate_* kinds)


def _orphans(child: str, fk: str, parent: str) -> str:
    return f"SELECT count(*) FROM {child} x WHERE NOT EXISTS (SELECT 1 FROM {parent} p WHERE p.id = x.{fk})"


def _outside(table: str, column: str, allowed) -> str:
    return f"SELECT count(*) FROM {table} WHERE {column} NOT IN {_in(allowed)}"


def _duplicates(table: str, columns: str) -> str:
    return (
        f"SELECT count(*) FROM (SELECT {columns} FROM {table} WHERE ({columns}) IS NOT NULL "
        f"GROUP BY {columns} HAVING count(*) > 1) d"
    )


_KINDS = [
    DefectKind(
        "orphan_channels",
        "channels.user_exists",
        "channels",
        "channels.user_id matching no user",
        _orphans("channels", "user_id", "users"),
    ),
    DefectKind(
        "orphan_videos",
        "videos.channel_exists",
        "videos",
        "videos.channel_id matching no channel",
        _orphans("videos", "channel_id", "channels"),
    ),
    DefectKind(
        "orphan_analytics",
        "analytics.video_exists",
        "analytics",
        "analytics.video_id matching no video",
        _orphans("analytics", "video_id", "videos"),
    ),
    DefectKind(
        "orphan_api_keys",
        "api_keys.user_exists",
        "api_keys",
        "api_keys.user_id matching no user",
        _orphans("api_keys", "user_id", "users"),
    ),
    DefectKind(
        "orphan_workflows",
        "workflows.channel_exists",
        "workflows",
        "workflows.channel_id matching no channel",
        _orphans("workflows", "channel_id", "channels"),
    ),
    DefectKind(
        "bad_email",
        "users.email_format",
        "users",
        "users.email not a valid address",
        f"SELECT count(*) FROM users WHERE email !~* '{EMAIL_RE}'",
    ),
    DefectKind(
        "short_username",
        "users.username_min_length",
        "users",
        "users.username shorter than 3 characters",
        "SELECT count(*) FROM users WHERE length(username) < 3",
    ),
    DefectKind(
        "unknown_tier",
        "users.subscription_tier_allowed",
        "users",
        "users.subscription_tier outside free/starter/professional/enterprise",
        _outside("users", "subscription_tier", f.TIERS),
    ),
    DefectKind(
        "unknown_channel_status",
        "channels.status_allowed",
        "channels",
        "channels.status outside the allowed values",
        _outside("channels", "status", f.CHANNEL_STATUSES),
    ),
    DefectKind(
        "unknown_monetization_status",
        "channels.monetization_status_allowed",
        "channels",
        "channels.monetization_status outside the allowed values",
        _outside("channels", "monetization_status", f.MONETIZATION_STATUSES),
    ),
    DefectKind(
        "unknown_video_status",
        "videos.status_allowed",
        "videos",
        "videos.status outside the allowed values",
        _outside("videos", "status", f.VIDEO_STATUSES),
    ),
    DefectKind(
        "unknown_workflow_status",
        "workflows.status_allowed",
        "workflows",
        "workflows.status outside the allowed values",
        _outside("workflows", "status", f.WORKFLOW_STATUSES),
    ),
    DefectKind(
        "bad_youtube_channel_id",
        "channels.youtube_channel_id_format",
        "channels",
        "channels.youtube_channel_id not UC + 22 characters",
        f"SELECT count(*) FROM channels WHERE youtube_channel_id IS NOT NULL "
        f"AND youtube_channel_id !~ '{YT_CHANNEL_RE}'",
    ),
    DefectKind(
        "bad_youtube_video_id",
        "videos.youtube_video_id_format",
        "videos",
        "videos.youtube_video_id not 11 characters of [A-Za-z0-9_-]",
        f"SELECT count(*) FROM videos WHERE youtube_video_id IS NOT NULL AND youtube_video_id !~ '{YT_VIDEO_RE}'",
    ),
    DefectKind(
        "cost_out_of_range",
        "videos.generation_cost_range",
        "videos",
        "videos.generation_cost outside [0.10, 5.00]",
        "SELECT count(*) FROM videos WHERE generation_cost IS NOT NULL "
        "AND (generation_cost < 0.10 OR generation_cost > 5.00)",
    ),
    DefectKind(
        "published_without_youtube_id",
        "videos.published_has_youtube_id",
        "videos",
        "published video without a youtube_video_id",
        "SELECT count(*) FROM videos WHERE status = 'published' AND youtube_video_id IS NULL",
    ),
    DefectKind(
        "published_without_published_at",
        "videos.published_has_published_at",
        "videos",
        "published video without published_at",
        "SELECT count(*) FROM videos WHERE status = 'published' AND published_at IS NULL",
    ),
    DefectKind(
        "published_before_created",
        "videos.published_after_created",
        "videos",
        "videos.published_at before created_at",
        "SELECT count(*) FROM videos WHERE published_at < created_at",
    ),
    DefectKind(
        "updated_before_created",
        "users.updated_after_created",
        "users",
        "users.updated_at before created_at",
        "SELECT count(*) FROM users WHERE updated_at < created_at",
    ),
    DefectKind(
        "negative_subscribers",
        "channels.subscriber_count_non_negative",
        "channels",
        "channels.subscriber_count below 0",
        "SELECT count(*) FROM channels WHERE subscriber_count < 0",
    ),
    DefectKind(
        "negative_revenue",
        "analytics.revenue_non_negative",
        "analytics",
        "analytics.revenue below 0",
        "SELECT count(*) FROM analytics WHERE revenue < 0",
    ),
    DefectKind(
        "future_analytics_date",
        "analytics.date_not_in_future",
        "analytics",
        "analytics.date after today",
        "SELECT count(*) FROM analytics WHERE date > current_date",
    ),
    DefectKind(
        "analytics_before_video",
        "analytics.date_not_before_video",
        "analytics",
        "analytics.date before its video's created_at date",
        "SELECT count(*) FROM analytics a JOIN videos v ON v.id = a.video_id WHERE a.date < v.created_at::date",
    ),
    DefectKind(
        "analytics_sum_mismatch",
        "videos.view_count_matches_analytics",
        "videos",
        "videos whose daily analytics views differ from view_count by more than 100 (counts videos)",
        "SELECT count(*) FROM videos v LEFT JOIN (SELECT video_id, sum(views) AS views FROM analytics "
        "GROUP BY video_id) a ON a.video_id = v.id WHERE abs(coalesce(a.views, 0) - v.view_count) > 100",
    ),
    DefectKind(
        "over_tier_limit",
        "users.active_channels_within_tier_limit",
        "channels",
        "users with more active channels than their tier allows (counts users)",
        f"SELECT count(*) FROM (SELECT c.user_id FROM channels c JOIN users u ON u.id = c.user_id "
        f"JOIN {_TIER_LIMITS_SQL} t(tier, max_active) ON t.tier = u.subscription_tier "
        f"WHERE c.status = 'active' GROUP BY c.user_id, t.max_active HAVING count(*) > t.max_active) o",
    ),
    DefectKind(
        "duplicate_email",
        "users.email_unique",
        "users",
        "users.email shared by 2 users (counts duplicated emails; 2 rows each)",
        _duplicates("users", "email"),
        rows_per_defect=2,
    ),
    DefectKind(
        "duplicate_youtube_video_id",
        "videos.youtube_video_id_unique",
        "videos",
        "videos.youtube_video_id shared by 2 videos (counts duplicated ids; 2 rows each)",
        _duplicates("videos", "youtube_video_id"),
        rows_per_defect=2,
    ),
    DefectKind(
        "duplicate_analytics_day",
        "analytics.one_row_per_video_day",
        "analytics",
        "analytics (video_id, date) shared by 2 rows (counts duplicated days; 2 rows each)",
        _duplicates("analytics", "video_id, date"),
        rows_per_defect=2,
    ),
    DefectKind(
        "null_video_title",
        "videos.title_not_null",
        "videos",
        "videos.title is NULL",
        "SELECT count(*) FROM videos WHERE title IS NULL",
    ),
    DefectKind(
        "markup_in_title",
        "videos.title_has_no_markup",
        "videos",
        "videos.title carries HTML markup (a <script> tag)",
        f"SELECT count(*) FROM videos WHERE title ~ '{MARKUP_RE}'",
    ),
    # -- business rules no constraint holds: lifecycles, state-dependent events, clock, order, thresholds
    DefectKind(
        "monetized_below_ypp",
        "channels.monetized_meets_ypp_subscribers",
        "channels",
        f"monetized channel with fewer than {f.YPP_MIN_SUBSCRIBERS:,} subscribers (YouTube Partner Program)",
        f"SELECT count(*) FROM channels WHERE monetization_status = 'monetized' "
        f"AND subscriber_count < {f.YPP_MIN_SUBSCRIBERS}",
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

DEFECT_KINDS: dict[str, DefectKind] = {k.name: k for k in _KINDS}


def validate_counts(counts: dict[str, int]) -> dict[str, int]:
    """Check kinds and counts before anything is written; unknown kinds raise :class:`UnknownDefectKind`."""
    unknown = sorted(k for k in counts if k not in DEFECT_KINDS)
    if unknown:
        raise UnknownDefectKind(
            f"unknown defect kind{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}; "
            f"valid kinds: {', '.join(DEFECT_KINDS)}"
        )
    clean: dict[str, int] = {}
    for kind, count in counts.items():
        if isinstance(count, bool) or not isinstance(count, int):
            raise YtdqError(f"defect count for {kind!r} must be an integer, got {count!r}")
        if count < 0:
            raise YtdqError(f"defect count for {kind!r} must be >= 0, got {count}")
        clean[kind] = count
    return clean


# ---------------------------------------------------------------------------------------------
# the injector


class _Injector:
    """One transaction's worth of injection: victim pools, the used sets, constraint drops."""

    def __init__(self, cur, seed: int):
        self.cur = cur
        self.rng = random.Random(f"{seed}:defects")
        self.used: dict[str, set[str]] = {t: set() for t in ("users", "channels", "videos", "workflows", "api_keys")}
        self.tier_victims: set[str] = set()  # over_tier_limit's users: no other kind touches them

    # -- helpers ------------------------------------------------------------------------------
    def fetch(self, query: str, params: dict | None = None) -> list[tuple]:
        self.cur.execute(query, params or {})
        return self.cur.fetchall()

    def uuid(self) -> str:
        return f.new_uuid(self.rng)

    def drop_constraints(self, table: str, contype: str, columns: tuple[str, ...] = (), ref: str | None = None):
        """Drop the constraints of ``contype`` on exactly ``columns`` (FKs: referencing ``ref``)."""
        names = self.fetch(
            """SELECT c.conname FROM pg_constraint c
               WHERE c.conrelid = %(t)s::regclass AND c.contype = %(k)s
                 AND (%(ref)s::text IS NULL OR c.confrelid = %(ref)s::regclass)
                 AND (cardinality(%(cols)s::text[]) = 0 OR ARRAY(
                      SELECT a.attname::text FROM pg_attribute a
                      WHERE a.attrelid = c.conrelid AND a.attnum = ANY (c.conkey) ORDER BY 1)
                      = %(cols)s::text[])""",
            {"t": table, "k": contype, "ref": ref, "cols": sorted(columns)},
        )
        for (name,) in names:
            self.cur.execute(
                sql.SQL("ALTER TABLE {} DROP CONSTRAINT IF EXISTS {}").format(
                    sql.Identifier(table), sql.Identifier(name)
                )
            )

    def take(
        self, table: str, kind: str, count: int, query: str, params: dict | None = None, minimum: int | None = None
    ) -> list[tuple]:
        """``count`` unused victim rows (first column the id) from ``query``; marks them used."""
        params = dict(params or {})
        params.update(
            used=list(self.used[table]),
            n=count,
            used_users=list(self.used["users"]),
            used_channels=list(self.used["channels"]),
        )
        rows = self.fetch(query, params)
        need = count if minimum is None else minimum
        if len(rows) < need:
            raise YtdqError(
                f"cannot inject {kind}={count}: the data has only {len(rows)} suitable {table} "
                f"rows left for it; seed more users or ask for fewer defects"
            )
        self.used[table].update(str(r[0]) for r in rows)
        return rows

    # -- victim pools: rows that currently break none of the rules ----------------------------
    #: What "clean" means for each column a users kind breaks (every kind changes one column only).
    _USER_CLEAN = {
        "email": "u.email ~* %(email_re)s AND NOT EXISTS (SELECT 1 FROM users d WHERE d.email = u.email AND d.id <> u.id)",
        "username": "length(u.username) >= 3",
        "tier": f"u.subscription_tier IN {_in(f.TIERS)}",
        "updated_at": "u.updated_at >= u.created_at AND u.updated_at <= localtimestamp",
    }

    def users(self, kind: str, count: int, extra: str = "", column: str | None = None) -> list[tuple]:
        """Users whose ``column`` (default: every column) breaks no users rule now. Kinds changing
        different columns may share a user (each rule still counts its own rows); never an
        over_tier_limit victim, which must stay over its limit."""
        clean = " AND ".join(self._USER_CLEAN.values()) if column is None else self._USER_CLEAN[column]
        return self.take(
            "users",
            kind,
            count,
            f"""
            SELECT u.id, u.email, u.subscription_tier,
                   (SELECT count(*) FROM channels c WHERE c.user_id = u.id AND c.status = 'active')
            FROM users u
            WHERE {clean} AND NOT (u.id = ANY (%(tier_victims)s::uuid[])) {extra}
            ORDER BY u.id LIMIT %(n)s""",
            {"email_re": EMAIL_RE, "tier_victims": list(self.tier_victims)},
        )

    def channels(self, kind: str, count: int, extra: str = "", any_user: bool = False) -> list[tuple]:
        # never a channel of a user another kind picked (an over_tier_limit victim must stay over),
        # unless the kind leaves the channel's status alone (``any_user``)
        return self.take(
            "channels",
            kind,
            count,
            f"""
            SELECT c.id FROM channels c JOIN users u ON u.id = c.user_id
            WHERE c.status IN {_in(f.CHANNEL_STATUSES)} AND c.monetization_status IN {_in(f.MONETIZATION_STATUSES)}
              AND c.subscriber_count >= 0 AND c.youtube_channel_id ~ %(yt_re)s
              AND NOT (c.id = ANY (%(used)s::uuid[])) AND (%(any_user)s OR NOT (c.user_id = ANY (%(used_users)s::uuid[]))) {extra}
            ORDER BY c.id LIMIT %(n)s""",
            {"yt_re": YT_CHANNEL_RE, "any_user": any_user},
        )

    def videos(self, kind: str, count: int, minimum: int | None = None, extra: str = "") -> list[tuple]:
        """Clean published videos with clean analytics (rows, days, sums): (id, youtube_video_id)."""
        return self.take(
            "videos",
            kind,
            count,
            f"""
            SELECT v.id, v.youtube_video_id FROM videos v JOIN channels c ON c.id = v.channel_id
            WHERE v.status = 'published' AND v.youtube_video_id ~ %(yt_re)s AND v.title !~ %(markup_re)s
              AND v.published_at IS NOT NULL AND v.published_at >= v.created_at
              AND v.generation_cost BETWEEN {f.GENERATION_COST[0]} AND {f.GENERATION_COST[1]}
              AND NOT EXISTS (SELECT 1 FROM videos d WHERE d.youtube_video_id = v.youtube_video_id AND d.id <> v.id)
              AND EXISTS (SELECT 1 FROM analytics a WHERE a.video_id = v.id)
              AND NOT EXISTS (SELECT 1 FROM analytics a WHERE a.video_id = v.id
                              AND (a.date > current_date OR a.date < v.created_at::date OR a.revenue < 0))
              AND NOT EXISTS (SELECT 1 FROM analytics a WHERE a.video_id = v.id GROUP BY a.date HAVING count(*) > 1)
              AND abs((SELECT sum(a.views) FROM analytics a WHERE a.video_id = v.id) - v.view_count) <= 100
              AND NOT (v.id = ANY (%(used)s::uuid[])) AND NOT (v.channel_id = ANY (%(used_channels)s::uuid[])) {extra}
            ORDER BY v.id LIMIT %(n)s""",
            {"yt_re": YT_VIDEO_RE, "markup_re": MARKUP_RE},
            minimum=minimum,
        )

    def unpublished_videos(self, kind: str, count: int) -> list[tuple]:
        """Clean never-published videos (no YouTube id, publish time, views or analytics) of clean channels."""
        return self.take(
            "videos",
            kind,
            count,
            f"""
            SELECT v.id FROM videos v JOIN channels c ON c.id = v.channel_id
            WHERE v.status IN {_NEVER} AND v.youtube_video_id IS NULL AND v.published_at IS NULL
              AND v.view_count = 0 AND v.title !~ %(markup_re)s AND v.title IS NOT NULL
              AND v.created_at >= c.created_at AND v.created_at <= localtimestamp
              AND NOT EXISTS (SELECT 1 FROM analytics a WHERE a.video_id = v.id)
              AND NOT (v.id = ANY (%(used)s::uuid[])) AND NOT (v.channel_id = ANY (%(used_channels)s::uuid[]))
            ORDER BY v.id LIMIT %(n)s""",
            {"markup_re": MARKUP_RE},
        )

    def api_keys(self, kind: str, count: int) -> list[tuple]:
        """Clean, unrevoked API keys of clean users."""
        return self.take(
            "api_keys",
            kind,
            count,
            """
            SELECT k.id FROM api_keys k JOIN users u ON u.id = k.user_id
            WHERE k.revoked_at IS NULL AND k.created_at >= u.created_at AND k.created_at <= localtimestamp
              AND (k.last_used_at IS NULL OR k.last_used_at <= localtimestamp)
              AND NOT (k.id = ANY (%(used)s::uuid[]))
            ORDER BY k.id LIMIT %(n)s""",
        )

    def workflows(self, kind: str, count: int, status: str | None = None) -> list[tuple]:
        """Workflows of existing channels (of ``status`` if given) that keep every lifecycle rule."""
        statuses = (status,) if status else f.WORKFLOW_STATUSES
        return self.take(
            "workflows",
            kind,
            count,
            f"""
            SELECT w.id FROM workflows w JOIN channels c ON c.id = w.channel_id
            WHERE w.status IN {_in(statuses)} AND w.created_at >= c.created_at
              AND NOT (w.id = ANY (%(used)s::uuid[])) AND NOT (w.channel_id = ANY (%(used_channels)s::uuid[]))
            ORDER BY w.id LIMIT %(n)s""",
        )

    # -- writers --------------------------------------------------------------------------------
    def update(self, table: str, column: str, pairs: list[tuple]) -> None:
        """``UPDATE table SET column = value WHERE id = id`` for (id, value) pairs, in one statement."""
        if not pairs:
            return
        execute_values(
            self.cur,
            sql.SQL("UPDATE {t} SET {c} = v.val FROM (VALUES %s) AS v(id, val) WHERE {t}.id = v.id::uuid")
            .format(t=sql.Identifier(table), c=sql.Identifier(column))
            .as_string(self.cur),
            pairs,
            template=None,
        )

    def update_sql(self, table: str, assignment: str, ids: list) -> None:
        self.cur.execute(f"UPDATE {table} SET {assignment} WHERE id = ANY (%s::uuid[])", ([str(i) for i in ids],))

    def insert_channels(self, user_ids: list[str], status: str) -> None:
        rows = [
            (self.uuid(), uid, f.youtube_channel_id(self.rng), f"Injected channel {i}", "tech", status)
            for i, uid in enumerate(user_ids)
        ]
        execute_values(
            self.cur,
            """
            INSERT INTO channels (id, user_id, youtube_channel_id, channel_name, niche, status,
                                  subscriber_count, monetization_status, created_at, updated_at)
            SELECT v.id::uuid, v.user_id::uuid, v.yt, v.name, v.niche, v.status, 0, 'not_eligible',
                   localtimestamp - interval '10 days', localtimestamp - interval '10 days'
            FROM (VALUES %s) AS v(id, user_id, yt, name, niche, status)""",
            rows,
        )


Injector = Callable[[_Injector, int], None]
_INJECTORS: dict[str, Injector] = {}


def _injects(name: str):
    def register(fn: Injector) -> Injector:
        assert name in DEFECT_KINDS, name
        _INJECTORS[name] = fn
        return fn

    return register


# -- orphans: new rows pointing at random UUIDs; each keeps every other rule --------------------


@_injects("orphan_channels")
def _orphan_channels(ij: _Injector, n: int) -> None:
    ij.drop_constraints("channels", "f", ("user_id",), ref="users")
    ij.insert_channels([ij.uuid() for _ in range(n)], status="paused")


@_injects("orphan_videos")
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


@_injects("orphan_analytics")
def _orphan_analytics(ij: _Injector, n: int) -> None:
    ij.drop_constraints("analytics", "f", ("video_id",), ref="videos")
    execute_values(
        ij.cur,
        """
        INSERT INTO analytics (video_id, date, views, watch_time_minutes, revenue, likes, comments)
        SELECT v.video_id::uuid, current_date - 1, 0, 0, 0, 0, 0 FROM (VALUES %s) AS v(video_id)""",
        [(ij.uuid(),) for _ in range(n)],
    )


@_injects("orphan_api_keys")
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


@_injects("orphan_workflows")
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


# -- users ----------------------------------------------------------------------------------------


@_injects("over_tier_limit")
def _over_tier_limit(ij: _Injector, n: int) -> None:
    # free users first (one or two extra active channels put them over); no constraint stops this
    victims = ij.users("over_tier_limit", n, extra="AND u.subscription_tier = 'free'") if n else []
    if len(victims) < n:  # pragma: no cover - take() already raised
        raise YtdqError("not enough users for over_tier_limit")
    ij.tier_victims.update(str(v[0]) for v in victims)
    new_for = []
    for uid, _email, tier, active in victims:
        new_for += [str(uid)] * (f.TIER_LIMITS[tier] + 1 - active)
    ij.insert_channels(new_for, status="active")


@_injects("bad_email")
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


@_injects("short_username")
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


@_injects("unknown_tier")
def _unknown_tier(ij: _Injector, n: int) -> None:
    ij.drop_constraints("users", "c", ("subscription_tier",))
    ij.update_sql("users", "subscription_tier = 'platinum'", [v[0] for v in ij.users("unknown_tier", n, column="tier")])


@_injects("updated_before_created")
def _updated_before_created(ij: _Injector, n: int) -> None:
    ij.update_sql(
        "users",
        "updated_at = created_at - interval '1 day'",
        [v[0] for v in ij.users("updated_before_created", n, column="updated_at")],
    )


@_injects("duplicate_email")
def _duplicate_email(ij: _Injector, n: int) -> None:
    ij.drop_constraints("users", "u", ("email",))
    victims = ij.users("duplicate_email", 2 * n, column="email")
    ij.update("users", "email", [(str(victims[2 * i + 1][0]), victims[2 * i][1]) for i in range(n)])


# -- channels -------------------------------------------------------------------------------------


@_injects("unknown_channel_status")
def _unknown_channel_status(ij: _Injector, n: int) -> None:
    ij.drop_constraints("channels", "c", ("status",))
    ij.update_sql("channels", "status = 'archived'", [v[0] for v in ij.channels("unknown_channel_status", n)])


@_injects("unknown_monetization_status")
def _unknown_monetization_status(ij: _Injector, n: int) -> None:
    ij.drop_constraints("channels", "c", ("monetization_status",))
    ij.update_sql(
        "channels",
        "monetization_status = 'banned'",
        [v[0] for v in ij.channels("unknown_monetization_status", n, any_user=True)],
    )


@_injects("bad_youtube_channel_id")
def _bad_youtube_channel_id(ij: _Injector, n: int) -> None:
    victims = ij.channels("bad_youtube_channel_id", n, any_user=True)
    ij.update("channels", "youtube_channel_id", [(str(v[0]), f"UC!{uuid.UUID(str(v[0])).hex}") for v in victims])


@_injects("negative_subscribers")
def _negative_subscribers(ij: _Injector, n: int) -> None:
    ij.drop_constraints("channels", "c", ("subscriber_count",))
    ij.update_sql(
        "channels",
        "subscriber_count = -1 - (random() * 1000)::int",  # not monetized: only this rule breaks
        [
            v[0]
            for v in ij.channels(
                "negative_subscribers", n, extra="AND c.monetization_status <> 'monetized'", any_user=True
            )
        ],
    )


@_injects("unknown_workflow_status")
def _unknown_workflow_status(ij: _Injector, n: int) -> None:
    ij.drop_constraints("workflows", "c", ("status",))
    ij.update_sql("workflows", "status = 'paused'", [v[0] for v in ij.workflows("unknown_workflow_status", n)])


# -- videos ---------------------------------------------------------------------------------------


@_injects("unknown_video_status")
def _unknown_video_status(ij: _Injector, n: int) -> None:
    ij.drop_constraints("videos", "c", ("status",))
    ij.update_sql("videos", "status = 'deleted'", [v[0] for v in ij.videos("unknown_video_status", n)])


@_injects("bad_youtube_video_id")
def _bad_youtube_video_id(ij: _Injector, n: int) -> None:
    victims = ij.videos("bad_youtube_video_id", n)
    ij.update("videos", "youtube_video_id", [(str(v[0]), f"{v[1]}!") for v in victims])


@_injects("cost_out_of_range")
def _cost_out_of_range(ij: _Injector, n: int) -> None:
    victims = ij.videos("cost_out_of_range", n)
    ij.update(
        "videos",
        "generation_cost",
        [(str(v[0]), 0.05 if i % 2 else round(5.01 + ij.rng.random() * 20, 4)) for i, v in enumerate(victims)],
    )


@_injects("published_without_youtube_id")
def _published_without_youtube_id(ij: _Injector, n: int) -> None:
    ij.update_sql("videos", "youtube_video_id = NULL", [v[0] for v in ij.videos("published_without_youtube_id", n)])


@_injects("published_without_published_at")
def _published_without_published_at(ij: _Injector, n: int) -> None:
    ij.update_sql("videos", "published_at = NULL", [v[0] for v in ij.videos("published_without_published_at", n)])


@_injects("published_before_created")
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


@_injects("analytics_sum_mismatch")
def _analytics_sum_mismatch(ij: _Injector, n: int) -> None:
    ij.update_sql(
        "videos",
        "view_count = view_count + 101 + (random() * 5000)::int",
        [v[0] for v in ij.videos("analytics_sum_mismatch", n)],
    )


@_injects("null_video_title")
def _null_video_title(ij: _Injector, n: int) -> None:
    ij.cur.execute("ALTER TABLE videos ALTER COLUMN title DROP NOT NULL")
    ij.update_sql("videos", "title = NULL", [v[0] for v in ij.videos("null_video_title", n)])


@_injects("markup_in_title")
def _markup_in_title(ij: _Injector, n: int) -> None:
    ij.update(
        "videos",
        "title",
        [(str(v[0]), f"Injected {i} {MARKUP_TITLE}") for i, v in enumerate(ij.videos("markup_in_title", n))],
    )


@_injects("duplicate_youtube_video_id")
def _duplicate_youtube_video_id(ij: _Injector, n: int) -> None:
    ij.drop_constraints("videos", "u", ("youtube_video_id",))
    victims = ij.videos("duplicate_youtube_video_id", 2 * n)
    ij.update("videos", "youtube_video_id", [(str(victims[2 * i + 1][0]), victims[2 * i][1]) for i in range(n)])


# -- analytics: inserted rows have views = 0 (view sums stay right) --------------------------------


def _analytics_victims(ij: _Injector, kind: str, n: int) -> list[str]:
    """Up to ``n`` clean videos (at least 1); rows are spread over them, several per video if needed."""
    return [str(v[0]) for v in ij.videos(kind, n, minimum=1)]


@_injects("future_analytics_date")
def _future_analytics_date(ij: _Injector, n: int) -> None:
    vids = _analytics_victims(ij, "future_analytics_date", n)
    rows = [(vids[i % len(vids)], 1 + i // len(vids)) for i in range(n)]
    execute_values(
        ij.cur,
        """
        INSERT INTO analytics (video_id, date, views, watch_time_minutes, revenue, likes, comments)
        SELECT v.video_id::uuid, current_date + v.ahead, 0, 0, 0, 0, 0 FROM (VALUES %s) AS v(video_id, ahead)""",
        rows,
    )


@_injects("analytics_before_video")
def _analytics_before_video(ij: _Injector, n: int) -> None:
    vids = _analytics_victims(ij, "analytics_before_video", n)
    rows = [(vids[i % len(vids)], 1 + i // len(vids)) for i in range(n)]
    execute_values(
        ij.cur,
        """
        INSERT INTO analytics (video_id, date, views, watch_time_minutes, revenue, likes, comments)
        SELECT v.video_id::uuid, vid.created_at::date - v.before, 0, 0, 0, 0, 0
        FROM (VALUES %s) AS v(video_id, before) JOIN videos vid ON vid.id = v.video_id::uuid""",
        rows,
    )


@_injects("duplicate_analytics_day")
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
        INSERT INTO analytics (video_id, date, views, watch_time_minutes, revenue, likes, comments)
        SELECT v.video_id::uuid, v.date::date, 0, 0, 0, 0, 0 FROM (VALUES %s) AS v(video_id, date)""",
        keys,
    )


@_injects("negative_revenue")
def _negative_revenue(ij: _Injector, n: int) -> None:
    ij.drop_constraints("analytics", "c", ("revenue",))
    ids = ij.fetch(
        """SELECT a.id FROM analytics a
                      WHERE a.revenue >= 0 AND a.date <= current_date
                        AND EXISTS (SELECT 1 FROM videos v WHERE v.id = a.video_id)
                      ORDER BY a.video_id, a.date LIMIT %(n)s""",
        {"n": n},
    )
    if len(ids) < n:
        raise YtdqError(f"cannot inject negative_revenue={n}: only {len(ids)} analytics rows available")
    ij.update_sql("analytics", "revenue = -0.01 - round((random() * 10)::numeric, 4)", [r[0] for r in ids])


# -- business rules: lifecycles, state-dependent events, thresholds, plausibility, freshness -------


def _ids(rows) -> list:
    return [r[0] for r in rows]


@_injects("monetized_below_ypp")
def _monetized_below_ypp(ij: _Injector, n: int) -> None:
    victims = ij.channels("monetized_below_ypp", n, extra="AND c.monetization_status = 'monetized'", any_user=True)
    ij.update("channels", "subscriber_count", [(str(v[0]), ij.rng.randrange(f.YPP_MIN_SUBSCRIBERS)) for v in victims])


@_injects("youtube_id_on_unpublished_video")
def _youtube_id_on_unpublished_video(ij: _Injector, n: int) -> None:
    ij.update(
        "videos",
        "youtube_video_id",
        [(str(v[0]), f.youtube_video_id(ij.rng)) for v in ij.unpublished_videos("youtube_id_on_unpublished_video", n)],
    )


@_injects("publish_time_on_unpublished_video")
def _publish_time_on_unpublished_video(ij: _Injector, n: int) -> None:
    ij.update_sql(
        "videos", "published_at = created_at", _ids(ij.unpublished_videos("publish_time_on_unpublished_video", n))
    )


@_injects("views_on_unpublished_video")
def _views_on_unpublished_video(ij: _Injector, n: int) -> None:
    # at most 100 views: within the view-sum tolerance, so only the lifecycle rule breaks
    ij.update(
        "videos",
        "view_count",
        [(str(v[0]), ij.rng.randint(1, 100)) for v in ij.unpublished_videos("views_on_unpublished_video", n)],
    )


@_injects("analytics_for_unpublished_video")
def _analytics_for_unpublished_video(ij: _Injector, n: int) -> None:
    vids = _ids(ij.unpublished_videos("analytics_for_unpublished_video", n))
    execute_values(
        ij.cur,
        """
        INSERT INTO analytics (video_id, date, views, watch_time_minutes, revenue, likes, comments)
        SELECT v.video_id::uuid, current_date - 1, 0, 0, 0, 0, 0 FROM (VALUES %s) AS v(video_id)""",
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


@_injects("implausible_watch_time")
def _implausible_watch_time(ij: _Injector, n: int) -> None:
    rows = _analytics_rows(ij, "implausible_watch_time", n, "a.views BETWEEN 1 AND 100000")
    ij.update_sql("analytics", f"watch_time_minutes = views * {f.MAX_VIDEO_MINUTES} + 1", _ids(rows))


@_injects("revenue_without_views")
def _revenue_without_views(ij: _Injector, n: int) -> None:
    # a day's views move to the video's next day (the view sum stays), the emptied day keeps some revenue
    rows = _analytics_rows(ij, "revenue_without_views", n, "a.views > 0 AND a.date < current_date")
    ij.cur.execute(
        """
        UPDATE analytics b SET views = b.views + a.views FROM analytics a
        WHERE a.id = ANY (%(ids)s::uuid[]) AND b.video_id = a.video_id AND b.date = a.date + 1""",
        {"ids": [str(r[0]) for r in rows]},
    )
    ij.update_sql("analytics", "views = 0, watch_time_minutes = 0, revenue = 0.5", _ids(rows))


@_injects("stale_analytics")
def _stale_analytics(ij: _Injector, n: int) -> None:
    # the sync stopped for these videos: their last days are gone (view_count follows, sums stay right)
    age = f.ANALYTICS_MAX_AGE_DAYS
    vids = [str(v[0]) for v in ij.videos("stale_analytics", n, extra=f"AND v.published_at < current_date - {age + 1}")]
    ij.cur.execute(
        f"""
        WITH gone AS (DELETE FROM analytics WHERE video_id = ANY (%(v)s::uuid[]) AND date >= current_date - {age}
                      RETURNING video_id, views)
        UPDATE videos v SET view_count = v.view_count - g.views
        FROM (SELECT video_id, sum(views) AS views FROM gone GROUP BY video_id) g WHERE v.id = g.video_id""",
        {"v": vids},
    )


@_injects("api_key_used_after_revoke")
def _api_key_used_after_revoke(ij: _Injector, n: int) -> None:
    ij.update_sql(
        "api_keys",
        "revoked_at = created_at + (localtimestamp - created_at) / 3, "
        "last_used_at = created_at + (localtimestamp - created_at) * 2 / 3",
        _ids(ij.api_keys("api_key_used_after_revoke", n)),
    )


@_injects("active_workflow_without_start")
def _active_workflow_without_start(ij: _Injector, n: int) -> None:
    ij.update_sql("workflows", "started_at = NULL", _ids(ij.workflows("active_workflow_without_start", n, "succeeded")))


@_injects("queued_workflow_with_start")
def _queued_workflow_with_start(ij: _Injector, n: int) -> None:
    ij.update_sql("workflows", "started_at = created_at", _ids(ij.workflows("queued_workflow_with_start", n, "queued")))


@_injects("done_workflow_without_finish")
def _done_workflow_without_finish(ij: _Injector, n: int) -> None:
    ij.update_sql("workflows", "finished_at = NULL", _ids(ij.workflows("done_workflow_without_finish", n, "succeeded")))


@_injects("open_workflow_with_finish")
def _open_workflow_with_finish(ij: _Injector, n: int) -> None:
    ij.update_sql("workflows", "finished_at = created_at", _ids(ij.workflows("open_workflow_with_finish", n, "queued")))


@_injects("failed_workflow_without_error")
def _failed_workflow_without_error(ij: _Injector, n: int) -> None:
    ij.update_sql("workflows", "error_message = NULL", _ids(ij.workflows("failed_workflow_without_error", n, "failed")))


@_injects("error_on_unfailed_workflow")
def _error_on_unfailed_workflow(ij: _Injector, n: int) -> None:
    ij.update_sql(
        "workflows",
        "error_message = 'quota exceeded'",
        _ids(ij.workflows("error_on_unfailed_workflow", n, "succeeded")),
    )


@_injects("stuck_workflow")
def _stuck_workflow(ij: _Injector, n: int) -> None:
    ij.update_sql(
        "workflows",
        "started_at = localtimestamp - interval '1 day', created_at = localtimestamp - interval '1 day 5 minutes'",
        _ids(ij.workflows("stuck_workflow", n, "running")),
    )


@_injects("future_user_timestamp")
def _future_user_timestamp(ij: _Injector, n: int) -> None:
    ij.update_sql(
        "users",
        "updated_at = localtimestamp + interval '1 day'",
        _ids(ij.users("future_user_timestamp", n, column="updated_at")),
    )


@_injects("future_channel_timestamp")
def _future_channel_timestamp(ij: _Injector, n: int) -> None:
    ij.update_sql(
        "channels",
        "updated_at = localtimestamp + interval '1 day'",
        _ids(ij.channels("future_channel_timestamp", n, any_user=True)),
    )


@_injects("future_video_timestamp")
def _future_video_timestamp(ij: _Injector, n: int) -> None:
    ij.update_sql(
        "videos",
        "created_at = localtimestamp + interval '1 day'",
        _ids(ij.unpublished_videos("future_video_timestamp", n)),
    )


@_injects("future_api_key_timestamp")
def _future_api_key_timestamp(ij: _Injector, n: int) -> None:
    ij.update_sql(
        "api_keys", "last_used_at = localtimestamp + interval '1 day'", _ids(ij.api_keys("future_api_key_timestamp", n))
    )


@_injects("future_workflow_timestamp")
def _future_workflow_timestamp(ij: _Injector, n: int) -> None:
    ij.update_sql(
        "workflows",
        "finished_at = localtimestamp + interval '1 day'",
        _ids(ij.workflows("future_workflow_timestamp", n, "succeeded")),
    )


@_injects("channel_before_user")
def _channel_before_user(ij: _Injector, n: int) -> None:
    ids = [str(v[0]) for v in ij.channels("channel_before_user", n, any_user=True)]
    ij.cur.execute(
        """UPDATE channels c SET created_at = u.created_at - interval '1 day' FROM users u
                      WHERE u.id = c.user_id AND c.id = ANY (%s::uuid[])""",
        (ids,),
    )


@_injects("video_before_channel")
def _video_before_channel(ij: _Injector, n: int) -> None:
    ids = [str(v[0]) for v in ij.unpublished_videos("video_before_channel", n)]
    ij.cur.execute(
        """UPDATE videos v SET created_at = c.created_at - interval '1 day' FROM channels c
                      WHERE c.id = v.channel_id AND v.id = ANY (%s::uuid[])""",
        (ids,),
    )


@_injects("api_key_before_user")
def _api_key_before_user(ij: _Injector, n: int) -> None:
    ids = [str(v[0]) for v in ij.api_keys("api_key_before_user", n)]
    ij.cur.execute(
        """UPDATE api_keys k SET created_at = u.created_at - interval '1 day' FROM users u
                      WHERE u.id = k.user_id AND k.id = ANY (%s::uuid[])""",
        (ids,),
    )


@_injects("workflow_before_channel")
def _workflow_before_channel(ij: _Injector, n: int) -> None:
    ids = [str(v[0]) for v in ij.workflows("workflow_before_channel", n, "succeeded")]
    ij.cur.execute(
        """UPDATE workflows w SET created_at = c.created_at - interval '1 day' FROM channels c
                      WHERE c.id = w.channel_id AND w.id = ANY (%s::uuid[])""",
        (ids,),
    )


assert set(_INJECTORS) == set(DEFECT_KINDS), set(DEFECT_KINDS) ^ set(_INJECTORS)

# over_tier_limit picks its users first: the channel kinds then avoid those users' channels.
_ORDER = ["over_tier_limit"] + [k for k in DEFECT_KINDS if k != "over_tier_limit"]


def inject(url: str | None, counts: dict[str, int], *, seed: int = 42, conn=None) -> dict[str, int]:
    """Add exactly ``counts[kind]`` offending rows (duplicate_* kinds: duplicated keys, 2 rows each).

    Works on already-seeded data: victims are rows that currently break no rule. Drops the
    constraints that would reject the bad rows (``ytdq db reset`` restores them), all in one
    transaction; unknown kinds (:class:`UnknownDefectKind`), negative counts, or more defects than
    the data can hold (:class:`YtdqError`) change nothing. Returns ``{kind: count}`` for count > 0.
    """
    counts = validate_counts(counts)
    wanted = {k: counts[k] for k in _ORDER if counts.get(k, 0) > 0}
    if not wanted:
        return {}
    own = conn is None
    conn = conn or connect(url)
    try:
        with conn.cursor() as cur:
            ij = _Injector(cur, seed)
            for kind, count in wanted.items():
                _INJECTORS[kind](ij, count)
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    finally:
        if own:
            conn.close()
    return {k: counts[k] for k in DEFECT_KINDS if counts.get(k, 0) > 0}
