"""``seed_cache`` on a seeded database: a clean cache breaks no rule, each injected kind counts exactly.

Redis: this module uses database 14 of the session's server and flushes only that one.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
import redis

from tests.helpers import empty_redis_db, rows
from ytempire_dq.cache.dump import snapshot
from ytempire_dq.errors import YtdqError
from ytempire_dq.fixtures import seed as seeder
from ytempire_dq.fixtures.cache_seed import (
    CACHE_DEFECT_KINDS,
    RATE_LIMITS,
    SESSION_TTL_MAX,
    WINDOWS,
    UnknownCacheDefectKind,
    count_defects,
    seed_cache,
)

REDIS_DB = 14
INJECT = {
    "stale_video_stats": 3,
    "session_without_ttl": 4,
    "session_of_missing_user": 5,
    "counter_without_ttl": 6,
    "counter_over_limit": 2,
    "session_key_not_utf8": 3,
}


@pytest.fixture(scope="module")
def cache_url(redis_url):
    yield from empty_redis_db(redis_url, REDIS_DB)


@pytest.fixture(scope="module")
def r(cache_url):
    client = redis.Redis.from_url(cache_url, decode_responses=True)
    yield client
    client.close()


@pytest.fixture(scope="module")
def seeded_db(db_url):
    seeder.seed(db_url, users=30, seed=42)
    return db_url


@pytest.fixture(scope="module")
def clean(seeded_db, cache_url):
    """The clean cache's report and snapshot (taken at once)."""
    report = seed_cache(seeded_db, cache_url, seed=7)
    return report, snapshot(cache_url)


def test_clean_cache_breaks_no_rule(clean, seeded_db, cache_url):
    report, frame = clean
    assert report["injected"] == {} and report["keys"] > 0
    assert count_defects(seeded_db, cache_url, frame=frame) == {kind: 0 for kind in CACHE_DEFECT_KINDS}


def test_video_stats_copy_postgres(clean, db):
    report, frame = clean
    stats = frame[frame.kind == "video_stats"].set_index("video_id")
    expected = {
        vid: (views, float(rev))
        for vid, views, rev in rows(
            db,
            """
        SELECT v.id::text, v.view_count, coalesce(sum(a.revenue), 0) FROM videos v
        LEFT JOIN analytics a ON a.video_id = v.id WHERE v.status = 'published' GROUP BY v.id""",
        )
    }
    assert report["video_stats"] == len(stats) == len(expected) > 0
    assert {vid: (int(row.view_count), round(row.revenue, 4)) for vid, row in stats.iterrows()} == {
        vid: (views, round(rev, 4)) for vid, (views, rev) in expected.items()
    }
    assert (stats["ttl"] == -1).all()
    assert stats["cached_at"].notna().all()


def test_sessions_belong_to_active_users_only(clean, db):
    report, frame = clean
    sessions = frame[frame.kind == "session"]
    active = {
        u
        for (u,) in rows(
            db,
            """
        SELECT u.id::text FROM users u WHERE EXISTS (SELECT 1 FROM channels c
        WHERE c.user_id = u.id AND c.status NOT IN ('suspended', 'deleted'))""",
        )
    }
    inactive = {u for (u,) in rows(db, "SELECT id::text FROM users")} - active
    assert set(sessions["user_id"]) == active and report["active_users"] == len(active)
    # the premise: the seed has users without an active channel (suspended and deleted users keep
    # none), and not one of them has a session
    assert inactive and not inactive & set(sessions["user_id"])
    assert len(sessions) == report["sessions"]
    assert sessions["ttl"].between(1, SESSION_TTL_MAX).all()
    created = sessions["created_at"].map(datetime.fromisoformat)
    assert (created <= datetime.now(timezone.utc)).all()


def test_counters_within_tier_limits_and_windows(clean, db):
    report, frame = clean
    tiers = dict(rows(db, "SELECT id::text, subscription_tier FROM users"))
    counters = frame[frame.kind == "ratelimit"]
    assert 0 < len(counters) <= report["rate_limits"]  # 60s counters may already have expired
    for row in counters.itertuples():
        # set (not -1) and within the window; TTL rounds to the second, so a key about to expire reads 0
        assert 0 <= row.ttl <= WINDOWS[row.window], row.key
        assert 1 <= row.value <= RATE_LIMITS[tiers[row.user_id]][row.window], row.key


def test_injected_defects_count_exactly(seeded_db, cache_url, tmp_path, clean):
    manifest = tmp_path / "cache_manifest.json"
    report = seed_cache(seeded_db, cache_url, seed=7, inject=INJECT, manifest_path=manifest)
    assert report["injected"] == INJECT
    assert json.loads(manifest.read_text()) == INJECT
    assert count_defects(seeded_db, cache_url) == INJECT
    # seeding again without defects makes the cache clean again
    again = seed_cache(seeded_db, cache_url, seed=7)
    assert again["removed"] >= report["keys"] - report["rate_limits"]
    assert count_defects(seeded_db, cache_url) == {kind: 0 for kind in CACHE_DEFECT_KINDS}


@pytest.mark.parametrize("kind", sorted(CACHE_DEFECT_KINDS))
def test_each_kind_alone(seeded_db, cache_url, kind, clean):
    seed_cache(seeded_db, cache_url, seed=3, inject={kind: 2})
    expected = {k: 0 for k in CACHE_DEFECT_KINDS} | {kind: 2}
    assert count_defects(seeded_db, cache_url) == expected


def test_same_seed_same_keys(seeded_db, cache_url, r, clean):
    seed_cache(seeded_db, cache_url, seed=11)
    first = sorted(r.scan_iter("session:*", count=1000))
    seed_cache(seeded_db, cache_url, seed=11)
    assert sorted(r.scan_iter("session:*", count=1000)) == first


def test_other_keys_are_left_alone(seeded_db, cache_url, r, clean):
    r.set("gx:last_run", "kept")
    seed_cache(seeded_db, cache_url, seed=7)
    assert r.get("gx:last_run") == "kept"
    r.delete("gx:last_run")


def test_unknown_kind_is_an_error_and_writes_nothing(seeded_db, cache_url, r, tmp_path, clean):
    seed_cache(seeded_db, cache_url, seed=7)
    before = _keys(r)
    manifest = tmp_path / "m.json"
    with pytest.raises(UnknownCacheDefectKind) as info:
        seed_cache(seeded_db, cache_url, inject={"stale_video_stats": 1, "session_expired": 2}, manifest_path=manifest)
    message = str(info.value)
    assert "session_expired" in message and all(kind in message for kind in CACHE_DEFECT_KINDS)
    assert isinstance(info.value, YtdqError)
    assert not manifest.exists()
    _assert_nothing_written(r, before)
    r.delete("session:sentinel")


def _keys(r, *, sentinel: bool = True) -> tuple[set, set]:
    """(keys that cannot expire during a test, rate-limit keys): counters may expire any second."""
    if sentinel:
        r.hset("session:sentinel", mapping={"user_id": "x"})  # a seed run would delete it
    keys = set(r.scan_iter(count=1000))
    counters = {k for k in keys if k.startswith("ratelimit:")}
    return keys - counters, counters


def _assert_nothing_written(r, before) -> None:
    stable, counters = _keys(r, sentinel=False)
    assert "session:sentinel" in stable
    assert stable == before[0]
    assert counters <= before[1]


@pytest.mark.parametrize(
    "inject, match", [({"counter_over_limit": 10**6}, "only"), ({"session_without_ttl": -1}, "non-negative")]
)
def test_impossible_counts_are_errors_before_writing(seeded_db, cache_url, r, inject, match, clean):
    seed_cache(seeded_db, cache_url, seed=7)
    before = _keys(r)
    with pytest.raises(YtdqError, match=match):
        seed_cache(seeded_db, cache_url, inject=inject)
    _assert_nothing_written(r, before)
    r.delete("session:sentinel")
