"""ytempire_dq.ops.health_readings: one look at PostgreSQL and Redis, JSON-serialisable, and an
unreachable or malformed server is a reading with a masked error, never a crash."""

from __future__ import annotations

import json

from ytempire_dq import config
from ytempire_dq.ops import health_readings as H


def test_postgres_readings_of_a_migrated_database(db_url):
    out = H.postgres_readings(db_url, slow_query_seconds=0.0)
    assert out["ok"] and out["error"] is None and out["errors"] == {}, out
    assert out["database"] == db_url.rsplit("/", 1)[1]
    assert out["server_version"].startswith("15")
    connections = out["connections"]
    assert isinstance(connections, dict) and connections["client_backends"] >= 1
    assert isinstance(out["table_bloat"], list) and {"users", "videos"} <= {r["table_name"] for r in out["table_bloat"]}
    assert isinstance(out["long_running_queries"], list) and isinstance(out["replication"], list)
    json.dumps(out, allow_nan=False)  # plain JSON: Decimal, timestamps and intervals coerced


def test_a_missing_view_is_an_error_of_that_reading_only(new_database):
    url = new_database("health_no_monitoring")
    from ytempire_dq.db.connect import connect

    conn = connect(url, autocommit=True)
    try:
        conn.cursor().execute("DROP VIEW monitoring.slow_queries")
    finally:
        conn.close()
    out = H.postgres_readings(url)
    assert out["ok"] and list(out["errors"]) == ["slow_statements"] and out["slow_statements"] is None
    assert out["connections"] is not None


def test_postgres_unreachable_or_unset():
    out = H.postgres_readings("postgresql://someone:s3cret-pw@127.0.0.1:1/nope")
    assert not out["ok"] and "cannot connect" in out["error"] and "s3cret-pw" not in json.dumps(out)
    assert H.postgres_readings(None)["error"] == config.NO_DATABASE_URL


def test_redis_readings(redis_url):
    out = H.redis_readings(redis_url)
    assert out["ok"] and out["error"] is None
    assert out["server_version"] and out["memory"]["used_memory"] > 0
    assert set(out["aof"]) == {
        "aof_enabled",
        "aof_last_write_status",
        "aof_last_bgrewrite_status",
        "aof_rewrite_in_progress",
        "rdb_last_bgsave_status",
    }
    json.dumps(out, allow_nan=False)


def test_redis_unreachable_malformed_or_unset():
    down = H.redis_readings("redis://:s3cret-pw@127.0.0.1:1/0")
    assert not down["ok"] and down["error"].startswith("cannot read Redis at") and "s3cret-pw" not in json.dumps(down)
    malformed = H.redis_readings("notredis://x")
    assert not malformed["ok"] and "cannot read Redis" in malformed["error"]
    assert "REDIS_URL is not set" in H.redis_readings(None)["error"]


def test_readings_take_both(db_url, redis_url):
    out = H.readings(db_url, redis_url, slow_query_seconds=2.5)
    assert out["slow_query_seconds"] == 2.5 and out["taken_at"]
    assert out["postgres"]["ok"] and out["redis"]["ok"]
