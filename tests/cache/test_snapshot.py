"""``snapshot``: one row per key with kind, type, ttl and fields, by SCAN (never KEYS), in batches.

Redis: this module uses database 15 of the session's server and flushes only that one.
"""

from __future__ import annotations

import uuid
from urllib.parse import urlsplit, urlunsplit

import pandas as pd
import pytest
import redis

from ytempire_dq.cache.dump import snapshot

REDIS_DB = 15


@pytest.fixture(scope="module")
def cache_url(redis_url):
    parts = urlsplit(redis_url)
    url = urlunsplit(parts._replace(path=f"/{REDIS_DB}"))
    client = redis.Redis.from_url(url, decode_responses=True)
    client.flushdb()
    pipe = client.pipeline(transaction=False)
    for i in range(50):
        pipe.hset(
            f"session:ttl{i:03d}", mapping={"user_id": str(uuid.UUID(int=i)), "created_at": "2024-05-01T00:00:00+00:00"}
        )
        pipe.expire(f"session:ttl{i:03d}", 1000)
    for i in range(20):
        pipe.hset(f"session:nottl{i:03d}", mapping={"user_id": str(uuid.UUID(int=i))})
    for i in range(30):
        vid = uuid.UUID(int=1000 + i)
        pipe.hset(
            f"video:{vid}:stats",
            mapping={"view_count": i * 10, "revenue": f"{i / 4:.4f}", "cached_at": "2024-05-01T00:00:00+00:00"},
        )
    pipe.hset(f"video:{uuid.UUID(int=9999)}:stats", mapping={"view_count": "lots"})  # not a number
    for i in range(40):
        pipe.set(f"ratelimit:{uuid.UUID(int=i)}:3600s", i + 1, ex=3000)
    pipe.rpush("session:oddity", "a", "b")  # wrong type under a session key
    pipe.set("other:thing", "not matched by the default patterns")
    pipe.execute()
    yield url
    client.flushdb()
    client.close()


def test_one_row_per_key_with_kind_type_ttl(cache_url):
    df = snapshot(cache_url, batch=7)
    assert len(df) == 50 + 20 + 31 + 40 + 1
    assert df["key"].is_unique
    assert list(df.columns[:4]) == ["key", "kind", "type", "ttl"]
    assert df.groupby("kind", observed=True).size().to_dict() == {"session": 71, "video_stats": 31, "ratelimit": 40}
    by_key = df.set_index("key")
    assert by_key.loc["session:oddity", "type"] == "list" and by_key.loc["session:oddity", "ttl"] == -1
    ttl = df[df.key.str.startswith("session:ttl")]["ttl"]
    assert ttl.between(990, 1000).all() and len(ttl) == 50
    assert (df[df.key.str.startswith("session:nottl")]["ttl"] == -1).all()
    counters = df[df.kind == "ratelimit"]
    assert counters["ttl"].between(2990, 3000).all()
    assert sorted(counters["value"].tolist()) == list(range(1, 41))
    assert set(counters["window"]) == {"3600s"} and counters["user_id"].notna().all()


def test_hash_fields_become_typed_columns(cache_url):
    df = snapshot(cache_url)
    assert {"user_id", "created_at", "view_count", "revenue", "cached_at", "video_id", "window", "value"} <= set(
        df.columns
    )
    assert str(df["view_count"].dtype) == "Int64" and str(df["value"].dtype) == "Int64"
    assert df["revenue"].dtype == "float64"
    stats = df[df.kind == "video_stats"].set_index("video_id")
    assert stats.loc[str(uuid.UUID(int=1003)), "view_count"] == 30
    assert stats.loc[str(uuid.UUID(int=1003)), "revenue"] == 0.75
    assert pd.isna(stats.loc[str(uuid.UUID(int=9999)), "view_count"])  # "lots" -> null, for a not-null rule
    sessions = df[df.kind == "session"]
    assert sessions["created_at"].isna().sum() == 21  # the 20 without it, and the list
    assert sessions["view_count"].isna().all()


def test_patterns_choose_keys_and_overlaps_count_once(cache_url):
    assert len(snapshot(cache_url, ("ratelimit:*",))) == 40
    everything = snapshot(cache_url, ("session:*", "*"), batch=5)
    assert len(everything) == 50 + 20 + 31 + 40 + 1 + 1 and everything["key"].is_unique
    other = everything.set_index("key").loc["other:thing"]
    assert other["kind"] == "other" and pd.isna(other["value"])
    assert other["value_text"] == "not matched by the default patterns"
    assert "value_text" not in snapshot(cache_url).columns  # only when such a value exists


def test_uses_scan_never_keys(cache_url):
    r = redis.Redis.from_url(cache_url)

    def calls(cmd):
        return r.info("commandstats").get(f"cmdstat_{cmd}", {}).get("calls", 0)

    keys_before, scan_before = calls("keys"), calls("scan")
    snapshot(cache_url, batch=10)
    assert calls("keys") == keys_before
    assert calls("scan") > scan_before
    r.close()


def test_empty_cache_gives_an_empty_frame(redis_url):
    parts = urlsplit(redis_url)
    df = snapshot(urlunsplit(parts._replace(path=f"/{REDIS_DB}")), ("nothing:here:*",))
    assert df.empty and list(df.columns) == ["key", "kind", "type", "ttl"]


def test_bad_batch_is_refused(cache_url):
    with pytest.raises(ValueError):
        snapshot(cache_url, batch=0)
