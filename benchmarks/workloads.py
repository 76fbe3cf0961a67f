"""The seed's application workloads against one seeded database: app queries, bulk insert,
concurrent load, pgbench, connection limits. Each function returns plain data (seconds or ms
lists and facts) that :mod:`benchmarks.report` turns into medians and p95s."""

from __future__ import annotations

import random
import re
import shutil
import subprocess
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path

from psycopg2.extras import execute_values
from sqlalchemy.engine import make_url

from ytempire_dq.db.connect import connect
from ytempire_dq.fixtures.tables import COLUMNS as SEED_COLUMNS

APP_QUERIES = {
    "user_by_email": "SELECT id, username, subscription_tier FROM users WHERE email = %s",
    "channels_of_user": "SELECT id, channel_name, status, monetization_status FROM channels WHERE user_id = %s",
    "channel_video_analytics": (
        "SELECT v.id, v.title, sum(a.views) AS views, sum(a.revenue) AS revenue "
        "FROM videos v JOIN analytics a ON a.video_id = v.id "
        "WHERE v.channel_id = %s GROUP BY v.id, v.title"
    ),
}


def _params(conn, n: int, rng: random.Random) -> dict[str, list]:
    with conn.cursor() as cur:
        cur.execute("SELECT email, id FROM users ORDER BY id")
        users = cur.fetchall()
        cur.execute(
            "SELECT id FROM channels WHERE EXISTS (SELECT 1 FROM videos v WHERE v.channel_id = channels.id) ORDER BY id"
        )
        chans = [r[0] for r in cur.fetchall()]
    pick_u = [rng.choice(users) for _ in range(n)]
    return {
        "user_by_email": [(u[0],) for u in pick_u],
        "channels_of_user": [(u[1],) for u in pick_u],
        "channel_video_analytics": [(rng.choice(chans),) for _ in range(n)],
    }


def _plan_summary(plan: dict) -> dict:
    """Node types and index names of an EXPLAIN (FORMAT JSON) plan."""
    nodes, indexes = [], []

    def walk(node):
        nodes.append(node["Node Type"])
        if "Index Name" in node:
            indexes.append(node["Index Name"])
        for child in node.get("Plans", []):
            walk(child)

    walk(plan["Plan"])
    return {"nodes": nodes, "indexes": indexes, "seq_scan": "Seq Scan" in nodes}


def app_queries(url: str, n: int = 200, seed: int = 1) -> dict:
    """Each app query ``n`` times with random keys (ms per query) and its EXPLAIN plan."""
    rng = random.Random(seed)
    conn = connect(url, autocommit=True)
    try:
        params = _params(conn, n, rng)
        out = {}
        with conn.cursor() as cur:
            for name, sql in APP_QUERIES.items():
                cur.execute("EXPLAIN (FORMAT JSON) " + sql, params[name][0])
                plan = _plan_summary(cur.fetchone()[0][0])
                for p in params[name][:10]:  # warm the plan cache / buffers the way a live app has them
                    cur.execute(sql, p)
                    cur.fetchall()
                ms = []
                for p in params[name]:
                    t = time.perf_counter()
                    cur.execute(sql, p)
                    cur.fetchall()
                    ms.append((time.perf_counter() - t) * 1000)
                out[name] = {"ms": ms, "plan": plan}
        return out
    finally:
        conn.close()


# ---------------------------------------------------------------------------------------------
# bulk insert of 1,000 videos

VIDEO_COLUMNS = SEED_COLUMNS["videos"]  # the seeder's own column order


def _video_rows(channel_ids: list, n: int, rng: random.Random) -> list[tuple]:
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"
    rows = []
    for i in range(n):
        created = now - timedelta(days=rng.randint(1, 300))
        rows.append(
            (
                str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                rng.choice(channel_ids),
                "".join(rng.choice(alphabet) for _ in range(11)),
                f"Benchmark video {i}",
                "bulk insert benchmark",
                "published",
                round(rng.uniform(0.1, 5.0), 2),
                0,
                0,  # revenue
                created + timedelta(hours=2),
                created,
            )
        )
    return rows


def bulk_insert(url: str, repeats: int = 5, n: int = 1000, seed: int = 2) -> dict[str, list[float]]:
    """Insert ``n`` videos three ways, committed, then delete them again (not timed)."""
    rng = random.Random(seed)
    conn = connect(url)
    cols = ", ".join(VIDEO_COLUMNS)
    out = {"executemany": [], "execute_values": [], "copy": []}
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT id FROM channels LIMIT 500")
            channel_ids = [r[0] for r in cur.fetchall()]
        for _ in range(repeats):
            for method in out:
                rows = _video_rows(channel_ids, n, rng)
                t = time.perf_counter()
                with conn.cursor() as cur:
                    if method == "executemany":
                        cur.executemany(
                            f"INSERT INTO videos ({cols}) VALUES ({', '.join(['%s'] * len(VIDEO_COLUMNS))})", rows
                        )
                    elif method == "execute_values":
                        execute_values(cur, f"INSERT INTO videos ({cols}) VALUES %s", rows, page_size=1000)
                    else:
                        import io

                        buf = io.StringIO("".join("\t".join(str(v) for v in r) + "\n" for r in rows))
                        cur.copy_expert(f"COPY videos ({cols}) FROM STDIN", buf)
                conn.commit()
                out[method].append(time.perf_counter() - t)
                with conn.cursor() as cur:
                    cur.execute("DELETE FROM videos WHERE id = ANY(%s::uuid[])", ([r[0] for r in rows],))
                conn.commit()
    finally:
        conn.close()
    return out


# ---------------------------------------------------------------------------------------------
# concurrency


def concurrent_queries(url: str, queries: int = 100, workers: int = 20, seed: int = 3) -> dict:
    """``queries`` app queries (the three kinds in turn) from ``workers`` threads, one connection each."""
    rng = random.Random(seed)
    conn = connect(url, autocommit=True)
    params = _params(conn, queries, rng)
    conn.close()
    names = list(APP_QUERIES)
    jobs = [(names[i % 3], params[names[i % 3]][i]) for i in range(queries)]
    local = threading.local()
    conns, lock = [], threading.Lock()

    def work(job):
        if not hasattr(local, "conn"):
            local.conn = connect(url, autocommit=True)
            with lock:
                conns.append(local.conn)
        t = time.perf_counter()
        with local.conn.cursor() as cur:
            cur.execute(APP_QUERIES[job[0]], job[1])
            cur.fetchall()
        return (time.perf_counter() - t) * 1000

    # connections are opened in a first, untimed round so the timed round measures queries
    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(lambda _: work(jobs[0]), range(workers)))
        t = time.perf_counter()
        ms = list(pool.map(work, jobs))
        wall = time.perf_counter() - t
    for c in conns:
        c.close()
    return {"wall_s": wall, "ms": ms, "qps": queries / wall}


PGBENCH_SCRIPT = """\\set n random(1, {n})
SELECT id, username, subscription_tier FROM users WHERE email = (SELECT email FROM bench_keys WHERE n = :n);
"""

PGBENCH_APP = """\\set n random(1, {n})
BEGIN;
SELECT u.id, u.subscription_tier FROM users u JOIN bench_keys k ON k.email = u.email WHERE k.n = :n;
SELECT c.id, c.status FROM channels c JOIN bench_keys k ON k.user_id = c.user_id WHERE k.n = :n;
UPDATE users SET updated_at = updated_at WHERE id = (SELECT user_id FROM bench_keys WHERE n = :n);
END;
"""


def pgbench_bin() -> str | None:
    from ytempire_dq.ops.server_processes import pg_bindir

    try:
        path = pg_bindir() / "pgbench"
    except Exception:  # noqa: BLE001
        path = None
    return str(path) if path and path.exists() else shutil.which("pgbench")


def pgbench(
    url: str, workdir: Path, *, clients: int = 20, threads: int = 2, seconds: int = 10, repeats: int = 3
) -> dict:
    """Transactions/s of the app's own transaction (2 indexed reads + 1 indexed update of a user, in
    BEGIN/END) with pgbench, ``clients`` connections; keys from a helper table ``bench_keys``."""
    exe = pgbench_bin()
    if not exe:
        return {"error": "pgbench not found"}
    conn = connect(url, autocommit=True)
    with conn.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS bench_keys")
        cur.execute(
            "CREATE TABLE bench_keys AS SELECT row_number() OVER (ORDER BY id)::int AS n, id AS user_id, "
            "email FROM users"
        )
        cur.execute("ALTER TABLE bench_keys ADD PRIMARY KEY (n)")
        cur.execute("ANALYZE bench_keys")
        cur.execute("SELECT count(*) FROM bench_keys")
        (n,) = cur.fetchone()
    workdir.mkdir(parents=True, exist_ok=True)
    script = workdir / "app_tx.sql"
    script.write_text(PGBENCH_APP.format(n=n))
    u = make_url(url)
    tps, lat = [], []
    try:
        for _ in range(repeats):
            res = subprocess.run(
                [
                    exe,
                    "-n",
                    "-h",
                    u.host or "127.0.0.1",
                    "-p",
                    str(u.port or 5432),
                    "-U",
                    u.username,
                    "-c",
                    str(clients),
                    "-j",
                    str(threads),
                    "-T",
                    str(seconds),
                    "-f",
                    str(script),
                    u.database,
                ],
                capture_output=True,
                text=True,
                timeout=seconds + 60,
            )
            m = re.search(r"tps = ([\d.]+) \(without initial connection time\)", res.stdout)
            m2 = re.search(r"latency average = ([\d.]+) ms", res.stdout)
            if not m:
                return {"error": (res.stderr or res.stdout).strip()[-300:]}
            tps.append(float(m.group(1)))
            lat.append(float(m2.group(1)) if m2 else None)
    finally:
        with conn.cursor() as cur:
            cur.execute("DROP TABLE IF EXISTS bench_keys")
        conn.close()
    return {
        "tps": tps,
        "latency_avg_ms": lat,
        "clients": clients,
        "threads": threads,
        "seconds": seconds,
        "transaction": "BEGIN; user by email; channels of user; UPDATE users (by id); END",
    }


# ---------------------------------------------------------------------------------------------
# connection limits


def max_connections(url: str, extra: int = 5, hold_s: float = 0.0) -> dict:
    """Open connections until the server refuses: how many, what it says, how fast it says it."""
    probe = connect(url, autocommit=True)
    with probe.cursor() as cur:
        cur.execute("SHOW max_connections")
        limit = int(cur.fetchone()[0])
        cur.execute("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'")
        in_use = int(cur.fetchone()[0])
    held, refused, errors = [probe], [], []
    dsn = url
    t_open = time.perf_counter()
    try:
        for _ in range(limit - in_use + extra):
            t = time.perf_counter()
            try:
                held.append(connect(dsn, autocommit=True, connect_timeout=5))
            except Exception as exc:  # noqa: BLE001 - DatabaseUnavailable wrapping "too many clients"
                refused.append(time.perf_counter() - t)
                errors.append(str(exc).split(": ", 1)[-1][:160])
        opened_s = time.perf_counter() - t_open
        time.sleep(hold_s)
        # the server still answers the connections it has
        with held[-1].cursor() as cur:
            cur.execute("SELECT 1")
            still_serves = cur.fetchone()[0] == 1
    finally:
        for c in held:
            c.close()
    after = connect(url)
    after.close()
    return {
        "max_connections": limit,
        "in_use_before": in_use,
        "opened": len(held),
        "refused": len(refused),
        "refusal_s": refused,
        "error": errors[0] if errors else None,
        "open_all_s": opened_s,
        "still_serves": still_serves,
        "reconnects_after_release": True,
    }


def pool_exhaustion(url: str, *, pool_size: int = 5, timeout: float = 1.0, repeats: int = 5) -> dict:
    """SQLAlchemy QueuePool of ``pool_size`` (no overflow) all checked out: the next checkout waits
    ``pool_timeout`` and raises ``sqlalchemy.exc.TimeoutError`` (never hangs)."""
    import sqlalchemy as sa

    from ytempire_dq.db.connect import engine

    eng = engine(url, pool_size=pool_size, max_overflow=0, pool_timeout=timeout)
    waits, message, kind = [], None, None
    held = [eng.connect() for _ in range(pool_size)]
    try:
        for _ in range(repeats):
            t = time.perf_counter()
            try:
                eng.connect().close()
                kind = "no error"
            except sa.exc.TimeoutError as exc:
                kind = "sqlalchemy.exc.TimeoutError"
                message = str(exc).split("(Background")[0].strip()
            waits.append(time.perf_counter() - t)
    finally:
        for c in held:
            c.close()
    # once one is returned, the next checkout succeeds at once
    t = time.perf_counter()
    with eng.connect() as c:
        c.execute(sa.text("SELECT 1"))
    after = time.perf_counter() - t
    eng.dispose()
    return {
        "pool_size": pool_size,
        "pool_timeout": timeout,
        "wait_s": waits,
        "error_type": kind,
        "error": message,
        "checkout_after_release_s": after,
    }
