"""``ytdq cache seed``: the platform's Redis cache filled consistently from PostgreSQL, then defects.

Key conventions (what the platform writes and what the cache rules check):

==============================  ===========  ==================================================
key                             type         contents and rules
==============================  ===========  ==================================================
``session:<token>``             hash         ``user_id`` (a user that exists), ``created_at``
                                             (ISO 8601 UTC); TTL set and at most 24 h
``video:<video uuid>:stats``    hash         ``view_count`` = ``videos.view_count``,
                                             ``revenue`` = ``SUM(analytics.revenue)`` (4 decimals),
                                             ``cached_at``; no TTL (the stats job overwrites it);
                                             stale when ``view_count`` is off by more than
                                             :data:`STATS_TOLERANCE` (100)
``ratelimit:<user uuid>:<win>`` string       request counter of the current fixed window
                                             (``60s``, ``3600s``); TTL set and at most the window
                                             length; value at most the tier's limit
                                             (:data:`RATE_LIMITS`)
==============================  ===========  ==================================================

An **active user** is a user with at least one channel whose status is neither ``suspended`` nor
``deleted`` (``active`` or ``paused``): only they have sessions and rate-limit counters. Video
stats are cached for every ``published`` video.

:func:`seed_cache` deletes the keys of those three patterns (``SCAN`` + ``UNLINK``, nothing else in
the Redis database is touched), writes the clean cache with pipelined commands, then injects
exactly ``count`` defects of each kind in :data:`CACHE_DEFECT_KINDS` (victims are distinct, so the
counts add up exactly) and writes a ``{kind: count}`` manifest. :func:`count_defects` counts each
kind on a :func:`~ytempire_dq.cache.snapshot.snapshot` against PostgreSQL: 0 on a clean cache,
the manifest's numbers after injection.

Expiry: sessions get 1-24 h, counters the rest of their window (uniform in 1..window seconds), so
``60s`` counters of a seeded cache vanish within a minute -- as in production. Injected counters
(over the limit: TTL reset to the full window; without TTL: persisted) are ``3600s``-window ones
or persisted, so the injected counts hold for at least an hour.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Mapping

from ytempire_dq.cache.snapshot import DEFAULT_PATTERNS, client, scan_keys, snapshot
from ytempire_dq.errors import YtdqError

SESSION_TTL_MAX = 24 * 3600
SESSION_TTL_MIN = 3600
STATS_TOLERANCE = 100
WINDOWS = {"60s": 60, "3600s": 3600}
# requests per window, by subscription tier
RATE_LIMITS: dict[str, dict[str, int]] = {
    "free": {"60s": 60, "3600s": 1_000},
    "starter": {"60s": 300, "3600s": 10_000},
    "professional": {"60s": 1_000, "3600s": 50_000},
    "enterprise": {"60s": 5_000, "3600s": 250_000},
}
CACHE_DEFECT_KINDS: dict[str, str] = {
    "stale_video_stats": f"video:<id>:stats view_count differs from videos.view_count by more than {STATS_TOLERANCE}",
    "session_without_ttl": "session:<token> key that never expires",
    "session_of_missing_user": "session:<token> whose user_id is not in users",
    "counter_without_ttl": "ratelimit:<user>:<window> counter that never expires",
    "counter_over_limit": "ratelimit:<user>:<window> counter above the user's tier limit for the window",
    "session_key_not_utf8": "session:<token> key whose name is not valid UTF-8 (its fields and TTL are fine)",
}
ACTIVE_USERS_SQL = """
    SELECT u.id::text, u.subscription_tier FROM users u
    WHERE EXISTS (SELECT 1 FROM channels c WHERE c.user_id = u.id AND c.status NOT IN ('suspended', 'deleted'))
    ORDER BY u.id"""
VIDEO_STATS_SQL = """
    SELECT v.id::text, v.view_count, coalesce(sum(a.revenue), 0)
    FROM videos v LEFT JOIN analytics a ON a.video_id = v.id
    WHERE v.status = 'published' GROUP BY v.id ORDER BY v.id"""

PIPELINE_COMMANDS = 10_000


class UnknownCacheDefectKind(YtdqError):
    """A defect kind that ``ytdq cache seed --inject`` does not know."""


def validate_counts(inject: Mapping[str, int] | None) -> dict[str, int]:
    """``inject`` checked: known kinds, non-negative integer counts (else YtdqError)."""
    counts = dict(inject or {})
    unknown = sorted(k for k in counts if k not in CACHE_DEFECT_KINDS)
    if unknown:
        raise UnknownCacheDefectKind(
            f"unknown cache defect kind(s): {', '.join(unknown)}; known kinds: {', '.join(CACHE_DEFECT_KINDS)}"
        )
    for kind, count in counts.items():
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise YtdqError(f"cache defect count for {kind} must be a non-negative integer, got {count!r}")
    return counts


def _iso(ts: datetime) -> str:
    return ts.isoformat(timespec="seconds")


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


class _Writer:
    """Pipelined writes, flushed every :data:`PIPELINE_COMMANDS` commands."""

    def __init__(self, r):
        self.r = r
        self.pipe = r.pipeline(transaction=False)
        self.pending = 0
        self.keys = 0

    def add(self, n_commands: int = 1) -> None:
        self.pending += n_commands
        if self.pending >= PIPELINE_COMMANDS:
            self.flush()

    def flush(self) -> None:
        if self.pending:
            self.pipe.execute()
            self.pending = 0


def clear_cache(r, patterns=DEFAULT_PATTERNS, batch: int = 1000) -> int:
    """UNLINK every key of the cache's patterns (SCAN, never KEYS); returns how many."""
    removed = 0
    for keys in scan_keys(r, patterns, batch):
        removed += r.unlink(*keys)
    return removed


def seed_cache(
    db_url: str | None = None,
    redis_url: str | None = None,
    *,
    seed: int = 42,
    inject: Mapping[str, int] | None = None,
    manifest_path: str | Path | None = None,
) -> dict:
    """Fill Redis from PostgreSQL by the key conventions, then inject ``{kind: count}`` defects.

    Returns ``{"sessions", "video_stats", "rate_limits", "keys", "removed", "injected", "seconds",
    "manifest_path"}``. Unknown kinds, bad counts or more defects than there are keys to break
    raise :class:`YtdqError` before anything is written.
    """
    from ytempire_dq import config
    from ytempire_dq.db.connect import connect

    counts = validate_counts(inject)
    db_url = db_url or config.database_url()
    redis_url = redis_url or config.redis_url()
    started = time.perf_counter()
    rng = random.Random(seed)
    now = datetime.now(timezone.utc).replace(microsecond=0)

    conn = connect(db_url)
    try:
        with conn.cursor() as cur:
            cur.execute(ACTIVE_USERS_SQL)
            active = cur.fetchall()
            cur.execute("SELECT count(*) FROM videos WHERE status = 'published'")
            n_videos = cur.fetchone()[0]
            stale_ids: dict[str, int] = {}
            if counts.get("stale_video_stats"):
                cur.execute(
                    "SELECT id::text FROM videos WHERE status = 'published' ORDER BY md5(id::text || %s) LIMIT %s",
                    (str(seed), counts["stale_video_stats"]),
                )
                stale_ids = {row[0]: 0 for row in cur.fetchall()}

        # the clean plan for sessions and counters (small: a few keys per active user)
        sessions = []  # [key, user_id, created_at, ttl]
        counters = []  # [key, value, ttl, window, limit]
        for user_id, tier in active:
            for _ in range(rng.randint(1, 3)):
                ttl = rng.randint(SESSION_TTL_MIN, SESSION_TTL_MAX)
                created = now - timedelta(seconds=SESSION_TTL_MAX - ttl)
                sessions.append([f"session:{rng.getrandbits(128):032x}", user_id, _iso(created), ttl])
            limits = RATE_LIMITS.get(tier, RATE_LIMITS["free"])
            for window, seconds in WINDOWS.items():
                counters.append(
                    [
                        f"ratelimit:{user_id}:{window}",
                        rng.randint(1, limits[window]),
                        rng.randint(1, seconds),
                        window,
                        limits[window],
                    ]
                )

        # defects: distinct victims, checked to fit before anything is written
        hour = [i for i, c in enumerate(counters) if c[3] == "3600s"]
        need = {
            "stale_video_stats": (counts.get("stale_video_stats", 0), n_videos, "published videos"),
            "session_without_ttl": (counts.get("session_without_ttl", 0), len(sessions), "sessions"),
            "counter_over_limit": (counts.get("counter_over_limit", 0), len(hour), "3600s counters"),
            "counter_without_ttl": (
                counts.get("counter_without_ttl", 0),
                len(counters) - counts.get("counter_over_limit", 0),
                "counters left after counter_over_limit",
            ),
            "session_key_not_utf8": (
                counts.get("session_key_not_utf8", 0),
                len(sessions) - counts.get("session_without_ttl", 0),
                "sessions left after session_without_ttl",
            ),
        }
        for kind, (want, have, what) in need.items():
            if want > have:
                raise YtdqError(
                    f"cannot inject {want} {kind}: only {have} {what} in the cache "
                    f"(seed more users with `ytdq db seed --users N`)"
                )
        no_ttl = rng.sample(range(len(sessions)), counts.get("session_without_ttl", 0))
        for i in no_ttl:
            sessions[i][3] = -1
        left = sorted(set(range(len(sessions))) - set(no_ttl))
        for i in rng.sample(left, counts.get("session_key_not_utf8", 0)):
            sessions[i][0] = b"session:\xff" + sessions[i][0][len("session:") :].encode()  # 0xff: never UTF-8
        over = rng.sample(hour, counts.get("counter_over_limit", 0))
        for i in over:
            c = counters[i]
            c[1] = c[4] + rng.randint(1, max(1, c[4] // 2))
            c[2] = WINDOWS[c[3]]
        rest = sorted(set(range(len(counters))) - set(over))
        for i in rng.sample(rest, counts.get("counter_without_ttl", 0)):
            counters[i][2] = -1
        ghosts = []
        if counts.get("session_of_missing_user"):
            ghost_users = [_uuid(rng) for _ in range(counts["session_of_missing_user"])]
            with conn.cursor() as cur:
                cur.execute("SELECT count(*) FROM users WHERE id = ANY(%s::uuid[])", (ghost_users,))
                assert cur.fetchone()[0] == 0, "a random UUID matched a user"
            for user_id in ghost_users:
                ttl = rng.randint(SESSION_TTL_MIN, SESSION_TTL_MAX)
                ghosts.append(
                    [
                        f"session:{rng.getrandbits(128):032x}",
                        user_id,
                        _iso(now - timedelta(seconds=SESSION_TTL_MAX - ttl)),
                        ttl,
                    ]
                )
        stale_deltas = {vid: rng.randint(STATS_TOLERANCE + 1, 50 * STATS_TOLERANCE) for vid in sorted(stale_ids)}

        # write: clear our patterns, then everything pipelined
        r = client(redis_url)
        try:
            removed = clear_cache(r)
            w = _Writer(r)
            for key, user_id, created, ttl in sessions + ghosts:
                w.pipe.hset(key, mapping={"user_id": user_id, "created_at": created})
                if ttl > 0:
                    w.pipe.expire(key, ttl)
                w.add(2)
            for key, value, ttl, _window, _limit in counters:
                w.pipe.set(key, value, ex=ttl if ttl > 0 else None)
                w.add()
            cached_at = _iso(now)
            n_stats = 0
            with conn.cursor(name="ytdq_cache_seed") as cur:  # server-side: streams any number of videos
                cur.itersize = 5000
                cur.execute(VIDEO_STATS_SQL)
                for video_id, view_count, revenue in cur:
                    delta = stale_deltas.get(video_id)
                    if delta is not None:
                        view_count = view_count - delta if view_count >= delta and delta % 2 else view_count + delta
                    w.pipe.hset(
                        f"video:{video_id}:stats",
                        mapping={"view_count": view_count, "revenue": f"{revenue:.4f}", "cached_at": cached_at},
                    )
                    n_stats += 1
                    w.add()
            w.flush()
        finally:
            r.close()
    finally:
        conn.close()

    manifest = {k: v for k, v in sorted(counts.items()) if v > 0}
    if manifest_path is not None:
        manifest_path = Path(manifest_path)
        manifest_path.parent.mkdir(parents=True, exist_ok=True)
        manifest_path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    n_sessions = len(sessions) + len(ghosts)
    return {
        "sessions": n_sessions,
        "video_stats": n_stats,
        "rate_limits": len(counters),
        "keys": n_sessions + n_stats + len(counters),
        "active_users": len(active),
        "removed": removed,
        "injected": manifest,
        "seconds": round(time.perf_counter() - started, 3),
        "manifest_path": str(manifest_path) if manifest_path is not None else None,
    }


# ---------------------------------------------------------------------------------------------
# the plain checks


def defect_masks(
    frame, users: Mapping[str, str], view_counts: Mapping[str, int], tolerance: int = STATS_TOLERANCE
) -> dict:
    """``{kind: boolean Series over frame}``: which snapshot rows break each cache rule.

    ``users`` maps user id -> subscription tier; ``view_counts`` video id -> ``videos.view_count``.
    """
    import pandas as pd

    def col(name, default=None):
        return frame[name] if name in frame else pd.Series(default, index=frame.index, dtype="object")

    kind, ttl = col("kind").astype("object"), col("ttl")
    session, stats, counter = kind.eq("session"), kind.eq("video_stats"), kind.eq("ratelimit")
    user_id = col("user_id")
    db_views = col("video_id").map(view_counts)
    cached = pd.to_numeric(col("view_count"), errors="coerce")
    diff = (cached.astype("float64") - pd.to_numeric(db_views, errors="coerce").astype("float64")).abs()
    tier = user_id.map(users)
    limit = pd.Series(
        [RATE_LIMITS.get(t, {}).get(w) if isinstance(t, str) else None for t, w in zip(tier, col("window"))],
        index=frame.index,
        dtype="float64",
    )
    value = pd.to_numeric(col("value"), errors="coerce").astype("float64")
    return {
        "stale_video_stats": stats & diff.gt(tolerance).fillna(False).astype(bool),
        "session_without_ttl": session & ttl.eq(-1),
        "session_of_missing_user": session & ~user_id.isin(list(users)),
        "counter_without_ttl": counter & ttl.eq(-1),
        "counter_over_limit": counter & value.gt(limit).fillna(False).astype(bool),
        "session_key_not_utf8": session & col("key_not_utf8").notna(),
    }


def count_defects(
    db_url: str | None = None, redis_url: str | None = None, *, frame=None, tolerance: int = STATS_TOLERANCE
) -> dict[str, int]:
    """``{kind: number of cache keys breaking it}`` for every kind in :data:`CACHE_DEFECT_KINDS`.

    Reads a :func:`snapshot` of the cache (or ``frame``, one already taken) and the users and
    cached videos from PostgreSQL.
    """
    from ytempire_dq import config
    from ytempire_dq.db.connect import connect

    db_url = db_url or config.database_url()
    if frame is None:
        frame = snapshot(redis_url or config.redis_url())
    if frame.empty:
        return {kind: 0 for kind in CACHE_DEFECT_KINDS}
    conn = connect(db_url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT id::text, subscription_tier FROM users")
            users = dict(cur.fetchall())
            view_counts: dict[str, int] = {}
            if "video_id" in frame:
                ids = frame["video_id"].dropna().unique().tolist()
                for start in range(0, len(ids), 10_000):
                    chunk = [i for i in ids[start : start + 10_000] if _is_uuid(i)]
                    cur.execute("SELECT id::text, view_count FROM videos WHERE id = ANY(%s::uuid[])", (chunk,))
                    view_counts.update(cur.fetchall())
    finally:
        conn.close()
    masks = defect_masks(frame, users, view_counts, tolerance)
    return {kind: int(mask.sum()) for kind, mask in masks.items()}


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except (ValueError, TypeError, AttributeError):
        return False
    return True
