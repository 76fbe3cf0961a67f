"""The seeder's rows: the small tables from factory_boy + Faker (:class:`Plan`), analytics with numpy
in chunks (see :mod:`ytempire_dq.db.seed` for what clean data means)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import numpy as np

from ytempire_dq.db import factories as f
from ytempire_dq.db.copy_rows import copy_line
from ytempire_dq.db.tables import COLUMNS

ANALYTICS_WINDOW_DAYS = 36  # videos are created within this many days of now (keeps ~700 analytics rows/user)
ANALYTICS_CHUNK_VIDEOS = 3000  # published videos per generated analytics chunk (~55k rows)

# ---------------------------------------------------------------------------------------------
# generation of the small tables (users, channels, videos, api_keys, workflows)


def _between(rng: random.Random, start: datetime, end: datetime) -> datetime:
    """A uniform instant in [start, end]."""
    return start + (end - start) * rng.random()


@dataclass
class Plan:
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
    a_cents: np.ndarray  # == videos.revenue in cents (0 when the channel is not monetized)
    a_subs: np.ndarray  # subscribers the video gained, spread over its days like its views

    @property
    def analytics_rows(self) -> int:
        return int(self.a_days.sum())


def generate_plan(n_users: int, seed: int, now: datetime, today: date, clock: datetime | None = None) -> Plan:
    clock = clock or now  # the database's clock when the seed runs (running workflows start just before it)
    f.reseed(seed)
    vocab = f.title_vocabulary()
    r_users = random.Random(f"{seed}:users")
    r_chan = random.Random(f"{seed}:channels")
    r_vid = random.Random(f"{seed}:videos")
    r_keys = random.Random(f"{seed}:api_keys")
    r_wf = random.Random(f"{seed}:workflows")
    r_status = random.Random(f"{seed}:user_status")
    r_subs = random.Random(f"{seed}:subscribers")
    yt_channel_ids: set[str] = set()
    yt_video_ids: set[str] = set()
    key_hashes: set[str] = set()

    users, channels, videos, api_keys, workflows = [], [], [], [], []
    a_ids, a_days, a_views, a_tau, a_wpv, a_cents, a_subs = [], [], [], [], [], [], []
    year = str(today.year)

    for _ in range(n_users):
        tier = r_users.choices(f.TIERS, f.TIER_WEIGHTS)[0]
        created = now - timedelta(days=r_users.uniform(40, 730))
        updated = created + (now - created) * (r_users.random() ** 3)
        u_status = r_status.choices(f.USER_STATUSES, f.USER_STATUS_WEIGHTS)[0]
        user = f.UserFactory(
            id=f.new_uuid(r_users), status=u_status, subscription_tier=tier, created_at=created, updated_at=updated
        )
        users.append(copy_line(user, COLUMNS["users"]))

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
                copy_line(
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
            if u_status != "active":  # a suspended user's channels are suspended, a deleted user's deleted
                status = "deleted" if u_status == "deleted" or status == "deleted" else "suspended"
            elif status == "active":
                if active_left == 0:
                    status = "paused"
                else:
                    active_left -= 1
            c_created = _between(r_chan, created, now - timedelta(days=2))
            subs = min(int(r_chan.lognormvariate(7.0, 2.0)), 50_000_000)
            # monetization follows the subscribers the channel's videos gained (known once they are made)
            monetization_draw = r_chan.random()
            ycid = f.youtube_channel_id(r_chan)
            while ycid in yt_channel_ids:
                ycid = f.youtube_channel_id(r_chan)
            yt_channel_ids.add(ycid)
            channel = f.ChannelFactory(
                id=f.new_uuid(r_chan),
                user_id=user["id"],
                youtube_channel_id=ycid,
                status=status,
                created_at=c_created,
            )
            popularity = max(subs, 100) ** 0.5 / 30  # bigger channels, more views per video
            rpm = r_chan.uniform(0.5, 8.0)
            sub_rate = r_subs.uniform(0.002, 0.03)  # subscribers gained per view

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
                    copy_line(
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
            first_published = len(a_ids)
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
                    a_cents.append(len(videos))  # the video's row; cents are set with the channel's monetization
                    a_subs.append(min(views, round(views * sub_rate * r_subs.uniform(0.5, 1.5))))
                cost = (
                    None
                    if v_status in ("draft", "generating")
                    else f"{r_vid.uniform(f.GENERATION_COST[0], f.GENERATION_COST[1]):.2f}"
                )
                videos.append(
                    {
                        "id": vid,
                        "channel_id": channel["id"],
                        "youtube_video_id": ytid,
                        "title": title,
                        "description": None if r_vid.random() < 0.3 else f"{title} ({channel['niche']})",
                        "status": v_status,
                        "generation_cost": cost,
                        "view_count": views,
                        "revenue": 0,
                        "published_at": published,
                        "created_at": v_created,
                    }
                )

            # monetization: only a channel whose videos gained 1,000+ subscribers can be monetized
            gained = sum(a_subs[first_published:])
            if gained >= f.YPP_MIN_SUBSCRIBERS:
                monetization = ("monetized", "demonetized", "pending")[
                    (monetization_draw >= 0.7) + (monetization_draw >= 0.8)
                ]
            else:
                monetization = "pending" if monetization_draw >= 0.85 else "not_eligible"
            channel["monetization_status"] = monetization
            channels.append(copy_line(channel, COLUMNS["channels"]))
            for k in range(first_published, len(a_ids)):
                row = videos[a_cents[k]]
                cents = round(a_views[k] * rpm / 10) if monetization == "monetized" else 0
                row["revenue"] = f"{cents / 100:.2f}"
                a_cents[k] = cents

    return Plan(
        users,
        channels,
        [copy_line(v, COLUMNS["videos"]) for v in videos],
        api_keys,
        workflows,
        np.array(a_ids, dtype=object),
        np.array(a_days, dtype=np.int64),
        np.array(a_views, dtype=np.int64),
        np.array(a_tau),
        np.array(a_wpv),
        np.array(a_cents, dtype=np.int64),
        np.array(a_subs, dtype=np.int64),
    )


# ---------------------------------------------------------------------------------------------
# analytics: numpy, in chunks


def analytics_chunks(plan: Plan, today: date, seed: int):
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
        revenue = _spread(plan.a_cents[sl], views, starts, n)
        gained = _spread(plan.a_subs[sl], views, starts, n)
        cols = (
            np.repeat(plan.a_ids[sl], n).tolist(),
            date_strs[back].tolist(),
            map(str, views.tolist()),
            map(str, watch.tolist()),
            (f"{c / 100:.2f}" for c in revenue.tolist()),
            map(str, gained.tolist()),
        )
        yield total, "\n".join(map("\t".join, zip(*cols))) + "\n"


def _spread(totals: np.ndarray, views: np.ndarray, starts: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Each video's integer total spread over its days in proportion to their views, exactly.

    A day gets floor(T * views up to it / V) - floor(T * views before it / V): the days add up
    to T, and a day never gets more than its views when T <= V (subscribers gained per view).
    """
    through = np.cumsum(views)
    through -= np.repeat(through[starts] - views[starts], n)  # views of the video up to each day
    whole = np.repeat(np.maximum(np.add.reduceat(views, starts), 1), n)
    t = np.repeat(totals, n)
    return (t * through) // whole - (t * (through - views)) // whole
