"""``ytdq db seed``: realistic, rule-abiding data at any scale, then (optionally) known defects.

:func:`seed` empties the six tables (``TRUNCATE ... CASCADE``) and fills them with data that keeps
every rule ytempire-dq checks, deterministic for a given ``seed``:

- users: tier mix about free 40% / starter 35% / professional 20% / enterprise 5%, unique valid
  emails and usernames;
- channels: 1-5 per user, never more *active* channels than the tier allows (free 1, starter 5,
  professional 20, enterprise 100), YouTube channel ids ``UC`` + 22 characters;
- videos: 10-30 per channel (about 20), most published; published ones carry an 11-character
  YouTube id and ``published_at >= created_at``; generation cost in [0.10, 5.00];
- analytics: one row per day per published video, from its publish date up to today (the DB
  server's ``current_date``), whose views add up to ``videos.view_count`` exactly;
- api_keys (0-3 per user, sha256 hex hashes) and workflows (0-6 per channel).

Every timestamp is placed before the start of the database server's ``current_date``, as an offset
drawn from the seeded random streams, so the same seed gives the same rows and row counts whenever
it runs (and nothing lies in the future of the server's clock). The one exception: a *running*
workflow started 1-30 minutes before the seed ran (its clock, ``localtimestamp``), so clean data is
fresh (no workflow stuck in ``running``) whatever the time of day. The data is fresh in the other
sense too: every published video has analytics up to today, a revoked API key was last used no
later than its revocation, and only channels with 1,000+ subscribers are monetized.

Rows are generated in Python (factory_boy + Faker for the small tables, numpy for analytics) and
bulk-loaded with ``COPY ... FROM STDIN (FREEZE)`` in one transaction; analytics is generated in
chunks by a producer thread while the server ingests the previous chunk, so neither all rows nor
all their text are ever in memory at once. ``ANALYZE`` runs at the end.

Defects: ``inject={kind: count}`` then calls :func:`ytempire_dq.db.defects.inject` (see there; it
drops the constraints that would reject the bad rows, so run ``ytdq db reset`` to get them back).
"""

from __future__ import annotations

import json
import queue
import random
import threading
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np

from ytempire_dq.db import defects as _defects
from ytempire_dq.db import factories as f
from ytempire_dq.db.connect import connect
from ytempire_dq.db.defects import DEFECT_KINDS, DefectKind, UnknownDefectKind, inject, validate_counts
from ytempire_dq.errors import YtdqError

__all__ = ["DEFECT_KINDS", "DefectKind", "SeedReport", "UnknownDefectKind", "inject", "seed", "TABLES"]

TABLES = ("users", "channels", "videos", "analytics", "api_keys", "workflows")

COLUMNS = {
    "users": ("id", "email", "username", "password_hash", "subscription_tier", "created_at", "updated_at"),
    "channels": (
        "id",
        "user_id",
        "youtube_channel_id",
        "channel_name",
        "niche",
        "status",
        "subscriber_count",
        "monetization_status",
        "created_at",
        "updated_at",
    ),
    "videos": (
        "id",
        "channel_id",
        "youtube_video_id",
        "title",
        "description",
        "status",
        "generation_cost",
        "view_count",
        "published_at",
        "created_at",
    ),
    "analytics": ("video_id", "date", "views", "watch_time_minutes", "revenue", "likes", "comments"),
    "api_keys": ("id", "user_id", "key_hash", "name", "scopes", "created_at", "last_used_at", "revoked_at"),
    "workflows": (
        "id",
        "channel_id",
        "kind",
        "status",
        "started_at",
        "finished_at",
        "cost",
        "error_message",
        "created_at",
    ),
}

ANALYTICS_WINDOW_DAYS = 36  # videos are created within this many days of now (keeps ~700 analytics rows/user)
ANALYTICS_CHUNK_VIDEOS = 3000  # published videos per generated analytics chunk (~55k rows)


@dataclass
class SeedReport:
    """What a seed run made: rows per table, time taken, defects injected."""

    rows: dict[str, int]
    seconds: float
    injected: dict[str, int] = field(default_factory=dict)
    seed: int = 42
    users: int = 0
    timings: dict[str, float] = field(default_factory=dict)
    manifest_path: Path | None = None

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())

    @property
    def rows_per_second(self) -> float:
        return self.total_rows / self.seconds if self.seconds > 0 else 0.0

    def summary(self):
        """A rich renderable: one headline, then rows per table and the injected defects."""
        from rich.console import Group
        from rich.table import Table
        from rich.text import Text

        headline = Text(
            f"seeded {self.users:,} users (seed {self.seed}) in {self.seconds:.1f} s: "
            f"{self.total_rows:,} rows, {self.rows_per_second:,.0f} rows/s",
            style="bold",
        )
        table = Table()
        table.add_column("table")
        table.add_column("rows", justify="right")
        table.add_column("seconds", justify="right")
        for name in TABLES:
            t = self.timings.get(name)
            table.add_row(name, f"{self.rows.get(name, 0):,}", "" if t is None else f"{t:.2f}")
        table.add_row("[bold]total[/]", f"[bold]{self.total_rows:,}[/]", "")
        for kind, count in self.injected.items():
            table.add_row(f"[yellow]defect[/] {kind}", str(count), "")
        parts = [headline, table]
        if self.manifest_path:
            parts.append(Text(f"manifest: {self.manifest_path}", style="dim"))
        return Group(*parts)

    def __str__(self) -> str:
        parts = ", ".join(f"{t}={self.rows.get(t, 0)}" for t in TABLES)
        inj = (" injected " + ", ".join(f"{k}={v}" for k, v in self.injected.items())) if self.injected else ""
        return f"seeded {parts} in {self.seconds:.2f} s ({self.rows_per_second:,.0f} rows/s){inj}"


# ---------------------------------------------------------------------------------------------
# COPY text helpers

_ESCAPE = str.maketrans({"\\": "\\\\", "\t": " ", "\n": " ", "\r": " "})


def _text(value) -> str:
    """One value in COPY's text format (``\\N`` for NULL)."""
    if value is None:
        return r"\N"
    if isinstance(value, str):
        return value.translate(_ESCAPE)
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, (list, tuple)):
        return "{" + ",".join(value) + "}"
    return str(value)


def _line(row: dict, columns) -> str:
    return "\t".join(_text(row[c]) for c in columns)


class _QueueReader:
    """A file-like object for ``copy_expert`` fed by a producer thread (pipelines generation and ingest)."""

    def __init__(self, chunks: queue.Queue, on_rows):
        self._chunks = chunks
        self._on_rows = on_rows
        self._buf = b""
        self._pos = 0
        self._done = False

    def read(self, size: int = -1) -> bytes:
        while self._pos >= len(self._buf) and not self._done:
            item = self._chunks.get()
            if item is None:
                self._done = True
                break
            if isinstance(item, BaseException):
                raise item
            rows, data = item
            self._buf, self._pos = data, 0
            self._on_rows(rows)
        if size is None or size < 0:
            size = len(self._buf) - self._pos
        out = self._buf[self._pos : self._pos + size]
        self._pos += len(out)
        return out


def _copy_stream(cur, table: str, columns, chunks, on_rows) -> None:
    """COPY ``chunks`` (an iterator of ``(rows, text)``) into ``table``, generating in a thread."""
    q: queue.Queue = queue.Queue(maxsize=3)

    def produce():
        try:
            for rows, text in chunks:
                q.put((rows, text.encode()))
        except BaseException as exc:  # surfaced to the COPY reader, then re-raised
            q.put(exc)
        q.put(None)

    producer = threading.Thread(target=produce, name=f"seed-{table}", daemon=True)
    producer.start()
    try:
        cur.copy_expert(
            f"COPY {table} ({', '.join(columns)}) FROM STDIN WITH (FREEZE)", _QueueReader(q, on_rows), size=1 << 20
        )
    finally:
        # drain so the producer can finish if COPY failed early
        while producer.is_alive():
            try:
                q.get(timeout=0.1)
            except queue.Empty:
                pass
        producer.join()


def _defer_indexes(cur, table: str) -> list:
    """Drop ``table``'s indexes and key constraints for the bulk load; return what recreates them.

    Building an index once after a bulk load (and checking a foreign key with one join) is much
    cheaper than maintaining them row by row. Plain indexes are always deferred; primary key,
    unique and foreign-key constraints only when no other table's foreign key references this one.
    Only what exists is recreated, under its own name and definition. It all happens inside the
    seed's transaction, so a failed run leaves the schema as it was.
    """
    from psycopg2 import sql

    cur.execute(
        """SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i
                   WHERE i.indrelid = %s::regclass
                     AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
                   ORDER BY 1""",
        (table,),
    )
    indexes = cur.fetchall()
    cur.execute(
        """SELECT c.conname, pg_get_constraintdef(c.oid) FROM pg_constraint c
                   WHERE c.conrelid = %(t)s::regclass AND c.contype IN ('p', 'u', 'f')
                     AND NOT EXISTS (SELECT 1 FROM pg_constraint r WHERE r.contype = 'f'
                                     AND r.confrelid = %(t)s::regclass AND r.conrelid <> %(t)s::regclass)
                   ORDER BY position(c.contype IN 'puf'), c.conname""",
        {"t": table},
    )
    constraints = cur.fetchall()
    for name, _definition in indexes:
        cur.execute(f"DROP INDEX {name}")
    for name, _definition in constraints:
        cur.execute(sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(sql.Identifier(table), sql.Identifier(name)))
    return [
        sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} ").format(sql.Identifier(table), sql.Identifier(name))
        + sql.SQL(definition)
        for name, definition in constraints
    ] + [sql.SQL(definition) for _name, definition in indexes]


def _copy_rows(cur, table: str, lines: list[str], on_rows, chunk: int = 20000) -> None:
    columns = COLUMNS[table]

    def chunks():
        for i in range(0, len(lines), chunk):
            part = lines[i : i + chunk]
            yield len(part), "\n".join(part) + "\n"

    _copy_stream(cur, table, columns, chunks(), on_rows)


# ---------------------------------------------------------------------------------------------
# generation of the small tables (users, channels, videos, api_keys, workflows)


def _between(rng: random.Random, start: datetime, end: datetime) -> datetime:
    """A uniform instant in [start, end]."""
    return start + (end - start) * rng.random()


@dataclass
class _Plan:
    """Everything generated before the COPY: small tables as COPY lines, analytics as per-video arrays."""

    users: list[str]
    channels: list[str]
    videos: list[str]
    api_keys: list[str]
    workflows: list[str]
    # per published video, for the analytics generator
    a_ids: np.ndarray
    a_days: np.ndarray  # rows to make: publish date .. today
    a_views: np.ndarray  # == videos.view_count
    a_tau: np.ndarray  # decay of daily views (days)
    a_wpv: np.ndarray  # watch minutes per view
    a_rpm: np.ndarray  # revenue per 1000 views (0 when the channel is not monetized)
    a_like: np.ndarray  # likes per view

    @property
    def analytics_rows(self) -> int:
        return int(self.a_days.sum())


def _generate(n_users: int, seed: int, now: datetime, today: date, clock: datetime | None = None) -> _Plan:
    clock = clock or now  # the database's clock when the seed runs (running workflows start just before it)
    f.reseed(seed)
    vocab = f.title_vocabulary()
    r_users = random.Random(f"{seed}:users")
    r_chan = random.Random(f"{seed}:channels")
    r_vid = random.Random(f"{seed}:videos")
    r_keys = random.Random(f"{seed}:api_keys")
    r_wf = random.Random(f"{seed}:workflows")
    yt_channel_ids: set[str] = set()
    yt_video_ids: set[str] = set()
    key_hashes: set[str] = set()

    users, channels, videos, api_keys, workflows = [], [], [], [], []
    a_ids, a_days, a_views, a_tau, a_wpv, a_rpm, a_like = [], [], [], [], [], [], []
    year = str(today.year)

    for _ in range(n_users):
        tier = r_users.choices(f.TIERS, f.TIER_WEIGHTS)[0]
        created = now - timedelta(days=r_users.uniform(40, 730))
        updated = created + (now - created) * (r_users.random() ** 3)
        user = f.UserFactory(id=f.new_uuid(r_users), subscription_tier=tier, created_at=created, updated_at=updated)
        users.append(_line(user, COLUMNS["users"]))

        # api keys
        for _ in range(r_keys.choices((0, 1, 2, 3), (30, 35, 25, 10))[0]):
            k_created = _between(r_keys, created, now)
            h = f.sha256_hex(r_keys)
            while h in key_hashes:
                h = f.sha256_hex(r_keys)
            key_hashes.add(h)
            # a revoked key is never used after its revocation
            revoked = _between(r_keys, k_created, now) if r_keys.random() < 0.15 else None
            last_used = None if r_keys.random() < 0.3 else _between(r_keys, k_created, revoked or now)
            api_keys.append(
                _line(
                    f.ApiKeyFactory(
                        id=f.new_uuid(r_keys),
                        user_id=user["id"],
                        key_hash=h,
                        created_at=k_created,
                        last_used_at=last_used,
                        revoked_at=revoked,
                    ),
                    COLUMNS["api_keys"],
                )
            )

        # channels: never more active ones than the tier allows
        n_channels = r_chan.randint(1, 5)
        statuses = r_chan.choices(f.CHANNEL_STATUSES, (75, 12, 5, 8), k=n_channels)
        active_left = f.TIER_LIMITS[tier]
        for status in statuses:
            if status == "active":
                if active_left == 0:
                    status = "paused"
                else:
                    active_left -= 1
            c_created = _between(r_chan, created, now - timedelta(days=2))
            subs = min(int(r_chan.lognormvariate(7.0, 2.0)), 50_000_000)
            if subs >= 1000:
                monetization = r_chan.choices(("monetized", "demonetized", "pending"), (70, 10, 20))[0]
            else:
                monetization = r_chan.choices(("not_eligible", "pending"), (85, 15))[0]
            ycid = f.youtube_channel_id(r_chan)
            while ycid in yt_channel_ids:
                ycid = f.youtube_channel_id(r_chan)
            yt_channel_ids.add(ycid)
            channel = f.ChannelFactory(
                id=f.new_uuid(r_chan),
                user_id=user["id"],
                youtube_channel_id=ycid,
                status=status,
                subscriber_count=subs,
                monetization_status=monetization,
                created_at=c_created,
                updated_at=_between(r_chan, c_created, now),
            )
            channels.append(_line(channel, COLUMNS["channels"]))
            popularity = max(subs, 100) ** 0.5 / 30  # bigger channels, more views per video
            rpm = r_chan.uniform(0.5, 8.0) if monetization == "monetized" else 0.0

            # workflows
            for _ in range(r_wf.randint(0, 6)):
                wf_status = r_wf.choices(f.WORKFLOW_STATUSES, f.WORKFLOW_STATUS_WEIGHTS)[0]
                w_created = _between(r_wf, c_created, now - timedelta(days=1))
                started = finished = None
                if wf_status == "running":  # running now: started minutes before the seed ran (not stuck)
                    started = clock - timedelta(seconds=r_wf.uniform(60, 1800))
                    w_created = started - timedelta(seconds=r_wf.uniform(0, 600))
                elif wf_status != "queued" and not (wf_status == "cancelled" and r_wf.random() < 0.3):
                    started = w_created + timedelta(seconds=r_wf.uniform(0, 600))
                    finished = started + timedelta(seconds=r_wf.uniform(30, 3600))
                workflows.append(
                    _line(
                        {
                            "id": f.new_uuid(r_wf),
                            "channel_id": channel["id"],
                            "kind": r_wf.choice(f.WORKFLOW_KINDS),
                            "status": wf_status,
                            "started_at": started,
                            "finished_at": finished,
                            "cost": f"{r_wf.uniform(0.001, 2.5):.4f}" if wf_status in ("succeeded", "failed") else "0",
                            "error_message": r_wf.choice(
                                ("render timeout", "quota exceeded", "voice API 503", "upload rejected")
                            )
                            if wf_status == "failed"
                            else None,
                            "created_at": w_created,
                        },
                        COLUMNS["workflows"],
                    )
                )

            # videos
            window = min((now - c_created).total_seconds() / 86400, ANALYTICS_WINDOW_DAYS)
            for _ in range(r_vid.randint(10, 30)):
                v_status = r_vid.choices(f.VIDEO_STATUSES, f.VIDEO_STATUS_WEIGHTS)[0]
                v_created = now - timedelta(days=r_vid.uniform(0, window))
                title = r_vid.choice(f.TITLE_PATTERNS).format(
                    a=r_vid.choice(vocab), b=r_vid.choice(vocab), n=r_vid.randint(3, 15), y=year
                )
                vid = f.new_uuid(r_vid)
                ytid = published = None
                views = 0
                if v_status in ("published", "archived"):
                    ytid = f.youtube_video_id(r_vid)
                    while ytid in yt_video_ids:
                        ytid = f.youtube_video_id(r_vid)
                    yt_video_ids.add(ytid)
                    published = v_created + timedelta(hours=r_vid.uniform(0.1, 48))
                    if published > now:
                        published = _between(r_vid, v_created, now)
                if v_status == "published":
                    views = min(int(r_vid.lognormvariate(5.5, 1.4) * popularity), 20_000_000)
                    a_ids.append(vid)
                    a_days.append((today - published.date()).days + 1)
                    a_views.append(views)
                    a_tau.append(r_vid.uniform(1.5, 10.0))
                    a_wpv.append(r_vid.uniform(0.5, 8.0))
                    a_rpm.append(rpm)
                    a_like.append(r_vid.uniform(0.01, 0.06))
                cost = (
                    None
                    if v_status in ("draft", "generating")
                    else f"{r_vid.uniform(f.GENERATION_COST[0], f.GENERATION_COST[1]):.4f}"
                )
                videos.append(
                    _line(
                        {
                            "id": vid,
                            "channel_id": channel["id"],
                            "youtube_video_id": ytid,
                            "title": title,
                            "description": None if r_vid.random() < 0.3 else f"{title} ({channel['niche']})",
                            "status": v_status,
                            "generation_cost": cost,
                            "view_count": views,
                            "published_at": published,
                            "created_at": v_created,
                        },
                        COLUMNS["videos"],
                    )
                )

    return _Plan(
        users,
        channels,
        videos,
        api_keys,
        workflows,
        np.array(a_ids, dtype=object),
        np.array(a_days, dtype=np.int64),
        np.array(a_views, dtype=np.int64),
        np.array(a_tau),
        np.array(a_wpv),
        np.array(a_rpm),
        np.array(a_like),
    )


# ---------------------------------------------------------------------------------------------
# analytics: numpy, in chunks


def _analytics_chunks(plan: _Plan, today: date, seed: int):
    """Yield ``(rows, COPY text)`` per chunk of published videos; views add up to view_count exactly."""
    if len(plan.a_ids) == 0:
        return
    max_days = int(plan.a_days.max())
    date_strs = np.array([(today - timedelta(days=b)).isoformat() for b in range(max_days)], dtype=object)
    for ci, start in enumerate(range(0, len(plan.a_ids), ANALYTICS_CHUNK_VIDEOS)):
        sl = slice(start, start + ANALYTICS_CHUNK_VIDEOS)
        n = plan.a_days[sl]
        total = int(n.sum())
        rng = np.random.default_rng([seed, ci])
        starts = np.zeros(len(n), dtype=np.int64)
        np.cumsum(n[:-1], out=starts[1:])
        day = np.arange(total, dtype=np.int64) - np.repeat(starts, n)  # days since publish
        back = np.repeat(n - 1, n) - day  # days before today
        weight = np.exp(-day / np.repeat(plan.a_tau[sl], n)) * rng.uniform(0.6, 1.4, total)
        vc = plan.a_views[sl]
        views = np.floor(np.repeat(vc / np.add.reduceat(weight, starts), n) * weight).astype(np.int64)
        views[starts] += vc - np.add.reduceat(views, starts)  # the rounding remainder: sums are exact
        watch = np.round(views * np.repeat(plan.a_wpv[sl], n) * rng.uniform(0.8, 1.2, total), 2)
        revenue = np.round(views * np.repeat(plan.a_rpm[sl], n) / 1000.0, 4)
        likes = rng.binomial(views, np.repeat(plan.a_like[sl], n))
        comments = rng.binomial(likes, 0.08)
        cols = (
            np.repeat(plan.a_ids[sl], n).tolist(),
            date_strs[back].tolist(),
            map(str, views.tolist()),
            map(str, watch.tolist()),
            map(str, revenue.tolist()),
            map(str, likes.tolist()),
            map(str, comments.tolist()),
        )
        yield total, "\n".join(map("\t".join, zip(*cols))) + "\n"


# ---------------------------------------------------------------------------------------------
# the entry point


class _Progress:
    """rich.progress per table when asked, else nothing."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self._progress = None
        self._tasks: dict[str, int] = {}

    def __enter__(self):
        if self.enabled:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._progress = Progress(
                TextColumn("{task.description:>10}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=Console(stderr=True),
                transient=False,
            )
            self._progress.__enter__()
        return self

    def __exit__(self, *exc):
        if self._progress:
            self._progress.__exit__(*exc)

    def table(self, name: str, total: int):
        if self._progress:
            self._tasks[name] = self._progress.add_task(name, total=total)

    def advance(self, name: str, rows: int):
        if self._progress and name in self._tasks:
            self._progress.advance(self._tasks[name], rows)

    def note(self, name: str, total: int | None = None):
        if self._progress:
            self._tasks[name] = self._progress.add_task(name, total=total)

    def done(self, name: str):
        if self._progress and name in self._tasks:
            self._progress.update(self._tasks[name], total=1, completed=1)


#: The ``dq.runs.checkpoint`` of the history rows the ``dq_*_beyond_retention`` defect kinds write.
SEEDED_DQ_CHECKPOINT = "seeded-defect"


def _clear_privacy_defects(cur) -> None:
    """A seeded database starts with no erased users (migration 007) and none of the history rows
    a defect kind wrote earlier (real run history is left alone)."""
    cur.execute("SELECT to_regclass('user_erasures'), to_regclass('dq.runs')")
    erasures, runs = cur.fetchone()
    if erasures is not None:
        cur.execute("TRUNCATE user_erasures")
    if runs is not None:
        cur.execute("DELETE FROM dq.runs WHERE checkpoint = %s", (SEEDED_DQ_CHECKPOINT,))


def seed(
    url: str | None = None,
    *,
    users: int,
    seed: int = 42,
    inject: dict[str, int] | None = None,
    manifest_path: Path | None = None,
    progress: bool = False,
) -> SeedReport:
    """Empty the six tables, fill them with clean data for ``users`` users, then inject defects.

    ``url=None`` uses :func:`ytempire_dq.config.database_url`. ``inject`` maps defect kinds
    (:data:`DEFECT_KINDS`) to how many offending rows (for ``duplicate_*`` kinds: duplicated keys,
    each shared by 2 rows) to add; unknown kinds or negative counts raise before anything is
    written. Injection drops the constraints that would reject the bad rows (``ytdq db reset``
    restores them). ``manifest_path`` gets ``{kind: count}`` (kinds with count > 0) as JSON.
    If the seeded data cannot hold that many defects, :class:`YtdqError` is raised after the clean
    data is committed (the injection itself changes nothing) and no manifest is written.
    """
    counts = validate_counts(inject or {})
    if users < 1:
        raise YtdqError(f"--users must be at least 1 (got {users})")
    started = time.perf_counter()
    timings: dict[str, float] = {}
    conn = connect(url)
    try:
        with _Progress(progress) as prog:
            with conn.cursor() as cur:
                cur.execute("SELECT current_date, localtimestamp")
                today, clock = cur.fetchone()
            # Everything is placed before the server's today started, at offsets drawn from the seeded
            # streams: the same seed gives the same rows and counts whatever the time of day.
            now = datetime.combine(today, datetime.min.time()) - timedelta(seconds=1)

            t = time.perf_counter()
            plan = _generate(users, seed, now, today, clock)
            timings["generate"] = time.perf_counter() - t
            rows = {
                "users": len(plan.users),
                "channels": len(plan.channels),
                "videos": len(plan.videos),
                "analytics": plan.analytics_rows,
                "api_keys": len(plan.api_keys),
                "workflows": len(plan.workflows),
            }
            for name in TABLES:
                prog.table(name, rows[name])

            with conn.cursor() as cur:
                cur.execute("TRUNCATE " + ", ".join(TABLES) + " CASCADE")
                _clear_privacy_defects(cur)
                for name in TABLES:
                    t = time.perf_counter()
                    on_rows = lambda k, name=name: prog.advance(name, k)  # noqa: E731
                    indexes = _defer_indexes(cur, name) if name in ("videos", "analytics") else []
                    if name == "analytics":
                        _copy_stream(cur, name, COLUMNS[name], _analytics_chunks(plan, today, seed), on_rows)
                    else:
                        _copy_rows(cur, name, getattr(plan, name), on_rows)
                    for definition in indexes:
                        cur.execute(definition)
                    timings[name] = time.perf_counter() - t
            conn.commit()
            del plan

            t = time.perf_counter()
            prog.note("analyze")
            _analyze(conn, TABLES)
            prog.done("analyze")
            timings["analyze"] = time.perf_counter() - t
            seeded_seconds = time.perf_counter() - started

            injected: dict[str, int] = {}
            if any(counts.values()):
                t = time.perf_counter()
                prog.note("defects")
                injected = _defects.inject(url, counts, seed=seed, conn=conn)
                prog.done("defects")
                _analyze(conn, sorted({DEFECT_KINDS[k].table for k, v in injected.items() if v}))
                timings["inject"] = time.perf_counter() - t
    finally:
        conn.close()

    manifest = {k: v for k, v in counts.items() if v > 0}
    if manifest_path is not None:
        manifest_path = Path(manifest_path)
        manifest_path.parent.mkdir(parents=True, exist_ok=True)
        manifest_path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    report = SeedReport(
        rows=rows,
        seconds=seeded_seconds,
        injected=manifest,
        seed=seed,
        users=users,
        timings=timings,
        manifest_path=manifest_path,
    )
    return report


def _analyze(conn, tables) -> None:
    old = conn.autocommit
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            for name in tables:
                cur.execute(f"ANALYZE {name}")
    finally:
        conn.autocommit = old
