"""One look at PostgreSQL and Redis for ``ytdq monitor``: plain, JSON-serialisable readings.

PostgreSQL is read through the ``monitoring`` views of migration 003, Redis through ``INFO``. A
server that cannot be reached is a reading too (``ok: False`` and the error, URL password
masked), never an exception; :mod:`ytempire_dq.ops.monitor` turns readings into alerts.
"""

from __future__ import annotations

from datetime import datetime, timezone

from ytempire_dq import config
from ytempire_dq.errors import YtdqError
from ytempire_dq.values import jsonable


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _fetch(cur, sql: str, params=None) -> list[dict]:
    cur.execute(sql, params)
    names = [d[0] for d in cur.description]
    return [{n: jsonable(v) for n, v in zip(names, row)} for row in cur.fetchall()]


# ---------------------------------------------------------------------------------------------
# readings


def postgres_readings(db_url: str | None, *, slow_query_seconds: float = 5.0) -> dict:
    """Connections, long queries, bloat, replication and slow statements of one PostgreSQL."""
    import psycopg2

    from ytempire_dq.db.connect import connect

    out: dict = {"url": config.mask_url(db_url), "ok": False, "error": None, "errors": {}}
    if not db_url:
        out["error"] = config.NO_DATABASE_URL
        return out
    try:
        conn = connect(db_url, autocommit=True, connect_timeout=5)
    except YtdqError as exc:
        out["error"] = config.mask_secrets(str(exc))
        return out
    except (psycopg2.Error, ValueError) as exc:  # not a connection failure (those are YtdqError): still a reading
        out["error"] = config.mask_secrets(f"cannot connect to PostgreSQL at {config.mask_url(db_url)}: {exc}")
        return out
    out["ok"] = True
    queries = {
        "connections": (
            "SELECT c.*, s.client_backends, s.reserved FROM monitoring.connection_usage c, "
            "(SELECT count(*) FILTER (WHERE backend_type = 'client backend')::int AS client_backends, "
            "current_setting('superuser_reserved_connections')::int AS reserved "
            "FROM pg_stat_activity) s",
            None,
        ),
        "long_running_queries": (
            "SELECT pid, usename, datname, state, "
            "extract(epoch FROM duration)::float8 AS seconds, query "
            "FROM monitoring.long_running_queries "
            "WHERE duration > make_interval(secs => %s) ORDER BY duration DESC LIMIT 50",
            (float(slow_query_seconds),),
        ),
        "table_bloat": (
            "SELECT schemaname, table_name, n_live_tup, n_dead_tup, dead_tuple_pct, "
            "last_autovacuum, last_vacuum FROM monitoring.table_bloat "
            "ORDER BY dead_tuple_pct DESC, schemaname, table_name",
            None,
        ),
        "replication": (
            "SELECT application_name, client_addr, state, lag_bytes, "
            "extract(epoch FROM replay_lag)::float8 AS lag_seconds FROM monitoring.replication_lag "
            "ORDER BY application_name",
            None,
        ),
        "slow_statements": (
            "SELECT query, calls, mean_exec_time AS mean_ms FROM monitoring.slow_queries "
            "ORDER BY mean_exec_time DESC LIMIT 10",
            None,
        ),
    }
    try:
        with conn.cursor() as cur:
            cur.execute("SET statement_timeout = '15s'")
            cur.execute("SELECT current_database(), current_setting('server_version')")
            out["database"], out["server_version"] = cur.fetchone()
            for name, (sql, params) in queries.items():
                try:
                    rows = _fetch(cur, sql, params)
                except psycopg2.Error as exc:
                    out["errors"][name] = config.mask_secrets(str(exc).strip().splitlines()[0])
                    rows = None
                out[name] = (rows[0] if rows else None) if name == "connections" else rows
    except psycopg2.Error as exc:  # the connection died half-way
        out["ok"] = False
        out["error"] = config.mask_secrets(f"PostgreSQL at {config.mask_url(db_url)} failed: {exc}".strip())
    finally:
        conn.close()
    return out


def redis_readings(redis_url: str | None) -> dict:
    """Memory use against maxmemory and AOF status of one Redis, from ``INFO``."""
    import redis

    out: dict = {"url": config.mask_url(redis_url), "ok": False, "error": None}
    if not redis_url:
        out["error"] = "REDIS_URL is not set and no embedded redis-server runs"
        return out
    try:
        client = redis.Redis.from_url(redis_url, socket_connect_timeout=5, socket_timeout=10)
        info = client.info("memory")
        info.update(client.info("persistence"))
        info.update(client.info("server"))
        client.close()
    except (redis.RedisError, ValueError, OSError) as exc:  # ValueError: a malformed URL
        reason = config.mask_secrets(str(exc) or type(exc).__name__)
        out["error"] = f"cannot read Redis at {config.mask_url(redis_url)}: {reason}"
        return out
    used, maxmem = int(info.get("used_memory", 0)), int(info.get("maxmemory", 0))
    out["ok"] = True
    out["server_version"] = info.get("redis_version")
    out["memory"] = {
        "used_memory": used,
        "used_memory_human": info.get("used_memory_human"),
        "maxmemory": maxmem,
        "maxmemory_policy": info.get("maxmemory_policy"),
        "ratio": round(used / maxmem, 4) if maxmem else None,
    }
    out["aof"] = {
        "aof_enabled": bool(int(info.get("aof_enabled", 0))),
        "aof_last_write_status": info.get("aof_last_write_status"),
        "aof_last_bgrewrite_status": info.get("aof_last_bgrewrite_status"),
        "aof_rewrite_in_progress": bool(int(info.get("aof_rewrite_in_progress", 0))),
        "rdb_last_bgsave_status": info.get("rdb_last_bgsave_status"),
    }
    return out


def readings(db_url: str | None = None, redis_url: str | None = None, *, slow_query_seconds: float = 5.0) -> dict:
    """One look at PostgreSQL and Redis (URLs default to ``DATABASE_URL``/``REDIS_URL``/embedded).

    Returns ``{"taken_at", "slow_query_seconds", "postgres": {...}, "redis": {...}}``; each server
    part has ``ok`` and ``error`` (masked) and, when reachable, its readings. JSON-serialisable.
    """
    if db_url is None:
        db_url = config.database_url(required=False)
    if redis_url is None:
        redis_url = config.redis_url(required=False)
    return {
        "taken_at": _now(),
        "slow_query_seconds": slow_query_seconds,
        "postgres": postgres_readings(db_url, slow_query_seconds=slow_query_seconds),
        "redis": redis_readings(redis_url),
    }
