"""A platform that lives day by day: the data the anomaly simulator's nights add, in the seeder's
table shapes (``ytempire_dq.fixtures``), kept clean for every rule of the committed suites.

- users with subscription tiers, 1-3 channels each (never more active ones than the tier allows), a
  niche; a channel is monetized once its videos gained 1,000 subscribers (if it is ever eligible),
  and from then on its views earn revenue;
- a backlog of published videos when the history starts, then a few new ones per day (Poisson);
- one ``analytics`` row per published video per day: the video's own level times the weekday's
  factor (Saturday x1.25, Sunday x1.30), the platform's growth (+0.3 %/day), the day's platform-wide
  level (uniform +/-6 %) and the row's own noise (uniform +/-6 %); ``videos.view_count`` and
  ``videos.revenue`` are the sums of their rows (as the platform's sync keeps them);
- a few new users and channels a day; workflows started per day per active channel, about 8 % failed.

Every draw of day ``d`` comes from a stream seeded with ``(seed, d)``: the same seed gives the
same days, whatever was injected into a copy. :class:`Platform` is the state (what exists, the
videos' totals); :meth:`Platform.advance` makes one day's rows; :meth:`Platform.load` and
:meth:`Platform.write` put them into a database.
"""

from __future__ import annotations

import copy
import datetime as dt
import random
import uuid
from dataclasses import dataclass, field
from typing import Callable

from psycopg2.extras import execute_values

from ytempire_dq.fixtures import factories as f
from ytempire_dq.fixtures.copy_rows import copy_lines
from ytempire_dq.fixtures.tables import COLUMNS, TABLES

UTC = dt.timezone.utc
#: The weekly pattern of views (Monday 0 .. Sunday 6).
WEEKDAY_FACTOR = (1.0, 1.0, 1.0, 1.0, 1.0, 1.25, 1.30)
GROWTH_PER_DAY = 0.003
NOISE = 0.06
#: Share of a day's finished workflows that failed, on a normal day.
FAILURE_RATE = 0.08
VIDEOS_PER_CHANNEL_DAY = 0.06
WORKFLOWS_PER_CHANNEL_DAY = 0.8
NEW_USERS_PER_USER_DAY = 0.005
NEW_CHANNELS_PER_CHANNEL_DAY = 0.003
BACKLOG_VIDEOS_PER_CHANNEL = 4


@dataclass
class Day:
    """The rows one day adds (what the platform writes by the night after it)."""

    date: dt.date
    users: list[dict] = field(default_factory=list)
    api_keys: list[dict] = field(default_factory=list)
    channels: list[dict] = field(default_factory=list)
    videos: list[dict] = field(default_factory=list)
    workflows: list[dict] = field(default_factory=list)
    #: dicts with video_id, channel_id, user_id, views, watch_time_minutes, revenue_cents, subscribers_gained
    analytics: list[dict] = field(default_factory=list)
    failure_rate: float = FAILURE_RATE


#: An anomaly: changes a day's rows before the platform writes them (in place).
Anomaly = Callable[[Day, random.Random], None]


def _uuid(r: random.Random) -> str:
    return str(uuid.UUID(int=r.getrandbits(128), version=4))


def _at(day: dt.date, r: random.Random, lo: float = 0.0, hi: float = 86399.0) -> dt.datetime:
    """An instant of ``day`` (UTC), ``lo``-``hi`` seconds after its midnight."""
    return dt.datetime.combine(day, dt.time(), UTC) + dt.timedelta(seconds=r.uniform(lo, hi))


class Platform:
    """What exists on the platform and the videos' running totals."""

    def __init__(self, users: int, start: dt.date, seed: int = 7) -> None:
        self.seed, self.start = seed, start
        self.users: dict[str, dict] = {}
        self.channels: dict[str, dict] = {}
        self.videos: dict[str, dict] = {}
        self.names = 0
        self.yt_ids: set[str] = set()
        r = random.Random(f"{seed}:start")
        born = start - dt.timedelta(days=1)
        first = Day(born)
        for _ in range(users):
            self._new_user(first, r, dt.datetime.combine(born, dt.time(), UTC) - dt.timedelta(days=r.uniform(1, 365)))
        for channel in first.channels:  # a backlog published before the history starts
            for _ in range(r.randint(0, 2 * BACKLOG_VIDEOS_PER_CHANNEL)):
                self._new_video(first, r, channel, born - dt.timedelta(days=r.randint(0, 200)))
        self.first_day = first

    # -- the rows of one day

    def fork(self) -> Platform:
        """An independent copy (a scenario continues from the same state)."""
        return copy.deepcopy(self)

    def advance(self, day: dt.date, anomaly: Anomaly | None = None) -> Day:
        """The rows of ``day``, with ``anomaly`` applied before the platform takes them in."""
        r = random.Random(f"{self.seed}:{day.isoformat()}")
        out = Day(day)
        n_users = len(self.users)
        for _ in range(_poisson(r, n_users * NEW_USERS_PER_USER_DAY)):
            self._new_user(out, r, _at(day, r, 0, 43000))
        for _ in range(_poisson(r, len(self.channels) * NEW_CHANNELS_PER_CHANNEL_DAY)):
            user = self.users[r.choice(sorted(self.users))]
            self._new_channel(out, r, user, _at(day, r, 43000, 50000))
        active = [c for c in self.channels.values() if c["status"] == "active"]
        for _ in range(_poisson(r, len(active) * VIDEOS_PER_CHANNEL_DAY)):
            self._new_video(out, r, r.choice(active), day)
        for channel in active:
            for _ in range(_poisson(r, WORKFLOWS_PER_CHANNEL_DAY)):
                out.workflows.append(self._workflow(r, channel, day))
        level = self._level(day, r)
        for video in self.videos.values():
            if video["published_at"].date() > day:
                continue
            views = max(0, round(video["level"] * level * r.uniform(1 - NOISE, 1 + NOISE)))
            out.analytics.append(
                {
                    "video_id": video["id"],
                    "channel_id": video["channel_id"],
                    "user_id": self.channels[video["channel_id"]]["user_id"],
                    "views": views,
                    "watch_time_minutes": round(views * video["wpv"], 2),
                    "revenue_cents": None,
                    "subscribers_gained": min(views, round(views * video["sub_rate"])),
                }
            )
        if anomaly is not None:
            made = [v["id"] for v in out.videos]
            anomaly(out, r)
            dropped = set(made) - {v["id"] for v in out.videos}  # never made: no rows, no state
            for vid in dropped:
                del self.videos[vid]
            out.analytics[:] = [row for row in out.analytics if row["video_id"] not in dropped]
        self._settle(out, r)
        return out

    def _level(self, day: dt.date, r: random.Random) -> float:
        growth = (1 + GROWTH_PER_DAY) ** (day - self.start).days
        return WEEKDAY_FACTOR[day.weekday()] * growth * r.uniform(1 - NOISE, 1 + NOISE)

    def _settle(self, out: Day, r: random.Random) -> None:
        """Revenue of monetized channels, the videos' totals, workflow outcomes, monetization."""
        for row in out.analytics:
            channel = self.channels[row["channel_id"]]
            if row["revenue_cents"] is None:  # an anomaly may have set it
                monetized = channel["monetization_status"] == "monetized"
                row["revenue_cents"] = round(row["views"] * channel["rpm"] / 10) if monetized else 0
            video = self.videos[row["video_id"]]
            video["view_count"] += row["views"]
            video["revenue_cents"] += row["revenue_cents"]
            channel["subscribers"] += row["subscribers_gained"]
        for wf in out.workflows:
            failed = r.random() < out.failure_rate
            if failed:
                wf.update(
                    status="failed", error_message=r.choice(("render timeout", "quota exceeded", "voice API 503"))
                )
            elif r.random() < 0.04:
                wf.update(status="cancelled", started_at=None, finished_at=None, cost="0")
        for channel in self.channels.values():
            if (
                channel["monetization_status"] != "monetized"
                and channel["eligible"]
                and channel["subscribers"] >= f.YPP_MIN_SUBSCRIBERS
            ):
                channel["monetization_status"] = "monetized"
                channel["changed"] = True

    def _new_user(self, out: Day, r: random.Random, created: dt.datetime) -> None:
        self.names += 1
        tier = r.choices(f.TIERS, f.TIER_WEIGHTS)[0]
        user = {
            "id": _uuid(r),
            "email": f"sim{self.names}.{r.getrandbits(24):06x}@example.com",
            "username": f"sim_user_{self.names}",
            "password_hash": "$2b$12$" + "".join(r.choices("abcdefghijklmnopqrstuvwxyz0123456789", k=53)),
            "status": "active",
            "subscription_tier": tier,
            "created_at": created,
            "updated_at": created,
        }
        self.users[user["id"]] = user | {"active_channels": 0}
        out.users.append(user)
        out.api_keys.append(
            {
                "id": _uuid(r),
                "user_id": user["id"],
                "key_hash": f.sha256_hex(r),
                "name": r.choice(f.API_KEY_NAMES),
                "scopes": ["read"],
                "created_at": created + dt.timedelta(minutes=5),
                "last_used_at": None,
                "revoked_at": None,
            }
        )
        for _ in range(r.randint(1, 3)):
            self._new_channel(out, r, self.users[user["id"]], created + dt.timedelta(minutes=10))

    def _new_channel(self, out: Day, r: random.Random, user: dict, created: dt.datetime) -> None:
        ycid = f.youtube_channel_id(r)
        active = user["active_channels"] < f.TIER_LIMITS[user["subscription_tier"]]
        user["active_channels"] += active
        channel = {
            "id": _uuid(r),
            "user_id": user["id"],
            "youtube_channel_id": ycid,
            "channel_name": f"Sim channel {len(self.channels) + 1}",
            "niche": r.choice(f.NICHES),
            "status": "active" if active else "paused",
            "monetization_status": "pending",
            "created_at": created,
        }
        self.channels[channel["id"]] = channel | {
            "popularity": r.lognormvariate(0, 0.8),
            "rpm": r.uniform(0.5, 8.0),
            "eligible": r.random() < 0.7,
            "subscribers": 0,
            "changed": False,
        }
        out.channels.append(channel)

    def _new_video(self, out: Day, r: random.Random, channel: dict, day: dt.date) -> None:
        created = max(_at(day, r, 0, 70000), channel["created_at"] + dt.timedelta(minutes=1))
        ytid = f.youtube_video_id(r)
        while ytid in self.yt_ids:
            ytid = f.youtube_video_id(r)
        self.yt_ids.add(ytid)
        video = {
            "id": _uuid(r),
            "channel_id": channel["id"],
            "youtube_video_id": ytid,
            "title": f"Simulated video {len(self.videos) + 1}",
            "description": None,
            "status": "published",
            "generation_cost": f"{r.uniform(*f.GENERATION_COST):.2f}",
            "published_at": created + dt.timedelta(minutes=r.uniform(1, 60)),
            "created_at": created,
        }
        self.videos[video["id"]] = video | {
            "level": r.lognormvariate(4.2, 0.9) * self.channels[channel["id"]]["popularity"],
            "wpv": r.uniform(0.5, 8.0),
            "sub_rate": r.uniform(0.002, 0.03),
            "view_count": 0,
            "revenue_cents": 0,
        }
        out.videos.append(video)

    def _workflow(self, r: random.Random, channel: dict, day: dt.date) -> dict:
        created = max(_at(day, r, 0, 80000), channel["created_at"] + dt.timedelta(minutes=1))
        started = created + dt.timedelta(seconds=r.uniform(0, 300))
        return {
            "id": _uuid(r),
            "channel_id": channel["id"],
            "kind": r.choice(f.WORKFLOW_KINDS),
            "status": "succeeded",
            "started_at": started,
            "finished_at": started + dt.timedelta(seconds=r.uniform(30, 3000)),
            "cost": f"{r.uniform(0.001, 2.5):.4f}",
            "error_message": None,
            "created_at": created,
        }

    # -- into a database

    def load(self, conn, days: list[Day]) -> None:
        """The platform's first day and the history ``days`` in one transaction (COPY), then the
        videos' totals and the channels' monetization as they stand (committed, analyzed)."""
        every = [self.first_day, *days]
        with conn.cursor() as cur:
            cur.execute("TRUNCATE " + ", ".join(TABLES) + " CASCADE")  # COPY ... FREEZE needs it
            for table in ("users", "channels", "api_keys", "workflows"):
                lines = [_line(row, COLUMNS[table]) for d in every for row in getattr(d, table)]
                copy_lines(cur, table, lines, lambda n: None)
            lines = [_line(self._video_row(v["id"]), COLUMNS["videos"]) for d in every for v in d.videos]
            copy_lines(cur, "videos", lines, lambda n: None)
            lines = [_line(row, COLUMNS["analytics"]) for d in days for row in _analytics_rows(d)]
            copy_lines(cur, "analytics", lines, lambda n: None)
            self._write_channels(cur, initial=True)
        conn.commit()
        _analyze(conn)

    def write(self, conn, day: Day) -> None:
        """One day's rows as the platform writes them: new rows, the videos' new totals, newly
        monetized channels (committed)."""
        with conn.cursor() as cur:
            for table in ("users", "channels", "api_keys"):
                _insert(cur, table, getattr(day, table))
            _insert(cur, "videos", [self._video_row(v["id"]) for v in day.videos])
            _insert(cur, "workflows", day.workflows)
            _insert(cur, "analytics", _analytics_rows(day))
            touched = sorted({row["video_id"] for row in day.analytics} - {v["id"] for v in day.videos})
            execute_values(
                cur,
                "UPDATE videos v SET view_count = t.view_count, revenue = t.revenue "
                "FROM (VALUES %s) AS t (id, view_count, revenue) WHERE v.id = t.id::uuid",
                [(vid, self.videos[vid]["view_count"], self._revenue(vid)) for vid in touched],
                template="(%s, %s::bigint, %s::numeric)",
            )
            self._write_channels(cur)
        conn.commit()

    def _revenue(self, video_id: str) -> str:
        return f"{self.videos[video_id]['revenue_cents'] / 100:.2f}"

    def _video_row(self, video_id: str) -> dict:
        v = self.videos[video_id]
        return {c: v[c] for c in COLUMNS["videos"] if c in v} | {"revenue": self._revenue(video_id)}

    def _write_channels(self, cur, initial: bool = False) -> None:
        changed = [c["id"] for c in self.channels.values() if c["changed"]]
        if changed:
            cur.execute("UPDATE channels SET monetization_status = 'monetized' WHERE id = ANY(%s::uuid[])", (changed,))
        for cid in changed:
            self.channels[cid]["changed"] = False


def _analytics_rows(day: Day) -> list[dict]:
    return [
        {
            "video_id": row["video_id"],
            "date": day.date,
            "views": row["views"],
            "watch_time_minutes": f"{row['watch_time_minutes']:.2f}",
            "revenue": f"{row['revenue_cents'] / 100:.2f}",
            "subscribers_gained": row["subscribers_gained"],
        }
        for row in day.analytics
    ]


def _line(row: dict, columns) -> str:
    from ytempire_dq.fixtures.copy_rows import copy_line

    return copy_line(row, columns)


def _insert(cur, table: str, rows: list[dict]) -> None:
    if not rows:
        return
    columns = COLUMNS[table]
    execute_values(
        cur, f"INSERT INTO {table} ({', '.join(columns)}) VALUES %s", [tuple(row[c] for c in columns) for row in rows]
    )


def _analyze(conn) -> None:
    old = conn.autocommit
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("ANALYZE")
    finally:
        conn.autocommit = old


def _poisson(r: random.Random, mean: float) -> int:
    """A Poisson draw (Knuth's method: the means here are small)."""
    limit, k, p = pow(2.718281828459045, -mean), 0, r.random()
    while p > limit:
        k += 1
        p *= r.random()
    return k
