"""The injector: one transaction's victim pools, used sets and constraint drops, and the
registry of the function that writes each kind (:func:`injects`)."""

from __future__ import annotations

import random
from typing import Callable

from psycopg2 import sql
from psycopg2.extras import execute_values

from ytempire_dq.db import factories as f
from ytempire_dq.db.defects.catalog import DEFECT_KINDS
from ytempire_dq.db.defects.kinds import _NEVER, EMAIL_RE, MARKUP_RE, YT_CHANNEL_RE, YT_VIDEO_RE, _in
from ytempire_dq.errors import YtdqError

#: ``extra`` for :meth:`_Injector.users`: not a user another users kind already took (two kinds
#: changing ``users.status`` must not meet on one user).
UNTOUCHED_USER = "AND NOT (u.id = ANY (%(used)s::uuid[]))"


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
        "status": f"u.status IN {_in(f.USER_STATUSES)}",
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

    def channels(
        self, kind: str, count: int, extra: str = "", any_user: bool = False, minimum: int | None = None
    ) -> list[tuple]:
        # never a channel of a user another kind picked (an over_tier_limit victim must stay over),
        # unless the kind leaves the channel's status alone (``any_user``)
        return self.take(
            "channels",
            kind,
            count,
            f"""
            SELECT c.id FROM channels c JOIN users u ON u.id = c.user_id
            WHERE c.status IN {_in(f.CHANNEL_STATUSES)} AND c.monetization_status IN {_in(f.MONETIZATION_STATUSES)}
              AND c.youtube_channel_id ~ %(yt_re)s
              AND NOT (c.id = ANY (%(used)s::uuid[])) AND (%(any_user)s OR NOT (c.user_id = ANY (%(used_users)s::uuid[]))) {extra}
            ORDER BY c.id LIMIT %(n)s""",
            {"yt_re": YT_CHANNEL_RE, "any_user": any_user},
            minimum=minimum,
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
              AND v.revenue >= 0 AND abs((SELECT sum(a.revenue) FROM analytics a WHERE a.video_id = v.id) - v.revenue)
                  <= {f.REVENUE_TOLERANCE}
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

    def insert_channels(self, user_ids: list[str], status: str, created: str = "now() - interval '10 days'") -> None:
        """New channels of ``user_ids`` (created at the SQL expression ``created``), not monetized.
        They count as used: no other kind picks them as victims."""
        rows = [
            (self.uuid(), uid, f.youtube_channel_id(self.rng), f"Injected channel {i}", "tech", status)
            for i, uid in enumerate(user_ids)
        ]
        self.used["channels"].update(r[0] for r in rows)  # no other kind may change a channel made for one
        execute_values(
            self.cur,
            """
            INSERT INTO channels (id, user_id, youtube_channel_id, channel_name, niche, status,
                                  monetization_status, created_at)
            SELECT v.id::uuid, v.user_id::uuid, v.yt, v.name, v.niche, v.status, 'not_eligible', """
            + created
            + """
            FROM (VALUES %s) AS v(id, user_id, yt, name, niche, status)""",
            rows,
        )


Injector = Callable[[_Injector, int], None]
_INJECTORS: dict[str, Injector] = {}


def injects(name: str):
    def register(fn: Injector) -> Injector:
        assert name in DEFECT_KINDS, name
        _INJECTORS[name] = fn
        return fn

    return register
