"""Deadlock rate under the platform's own write patterns (the seed's baseline target: < 0.1% of
transactions, critical > 1%).

``clients`` threads (>= 20), each on its own connection, run for ``seconds`` one transaction after
the other, each one of the platform's write patterns on a random channel, taking row locks in
*differing* orders:

- ``analytics_sync``: upsert today's analytics row of a video, add its views to ``videos.view_count``,
  touch the channel (analytics -> video -> channel);
- ``channel_update``: a channel's subscriber count, then every video of it (channel -> videos);
- ``video_publish``: a video, then its channel (video -> channel).

Every transaction ends in ROLLBACK: its locks are held to its end as on COMMIT (deadlocks are
detected while waiting for locks), and the benchmark database stays as seeded for the other
measurements. Deadlocks are PostgreSQL's own count (``pg_stat_database.deadlocks`` delta of the
database) per transaction run; the clients' ``DeadlockDetected`` errors are counted too.
"""

from __future__ import annotations

import random
import threading
import time

import psycopg2.errors

from ytempire_dq.db.connect import connect

PATTERNS = {
    "analytics_sync": [
        "INSERT INTO analytics (video_id, date, views) VALUES (%(video)s, current_date, %(n)s) "
        "ON CONFLICT (video_id, date) DO UPDATE SET views = analytics.views + EXCLUDED.views",
        "UPDATE videos SET view_count = view_count + %(n)s WHERE id = %(video)s",
        "UPDATE channels SET status = status WHERE id = %(channel)s",
    ],
    "channel_update": [
        "UPDATE channels SET monetization_status = monetization_status WHERE id = %(channel)s",
        "UPDATE videos SET view_count = view_count WHERE channel_id = %(channel)s",
    ],
    "video_publish": [
        "UPDATE videos SET published_at = coalesce(published_at, now()) WHERE id = %(video)s",
        "UPDATE channels SET status = status WHERE id = %(channel)s",
    ],
}
THINK_S = 0.002  # between statements, as an application does work between them


def _targets(url: str) -> list[tuple]:
    conn = connect(url, autocommit=True)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT channel_id, id FROM videos WHERE channel_id IN (SELECT id FROM channels)")
            return cur.fetchall()
    finally:
        conn.close()


def _db_stats(url: str) -> tuple[int, int]:
    conn = connect(url, autocommit=True)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT deadlocks, xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database()"
            )
            return tuple(int(v) for v in cur.fetchone())
    finally:
        conn.close()


def deadlock_rate(url: str, clients: int = 20, seconds: float = 10.0, seed: int = 7) -> dict:
    """Run the workload; ``{"transactions", "deadlocks", "rate", ...}`` (rate = deadlocks / transactions)."""
    targets = _targets(url)
    if not targets:
        return {"error": "no videos with an existing channel"}
    stop = threading.Event()
    lock = threading.Lock()
    tally = {"transactions": 0, "client_deadlocks": 0, "other_errors": 0, "by_pattern": dict.fromkeys(PATTERNS, 0)}

    def client(n: int) -> None:
        rng = random.Random(seed * 1000 + n)
        conn = connect(url)
        try:
            with conn.cursor() as cur:
                cur.execute("SET deadlock_timeout = '100ms'")  # detection sooner; what is counted is the same
                conn.commit()
                while not stop.is_set():
                    channel, video = rng.choice(targets)
                    pattern = rng.choice(list(PATTERNS))
                    params = {"channel": channel, "video": video, "n": rng.randint(1, 50)}
                    outcome = "ok"
                    try:
                        for sql in PATTERNS[pattern]:
                            cur.execute(sql, params)
                            time.sleep(THINK_S)
                    except psycopg2.errors.DeadlockDetected:
                        outcome = "deadlock"
                    except psycopg2.Error:
                        outcome = "error"
                    conn.rollback()
                    with lock:
                        tally["transactions"] += 1
                        tally["by_pattern"][pattern] += 1
                        tally["client_deadlocks"] += outcome == "deadlock"
                        tally["other_errors"] += outcome == "error"
        finally:
            conn.close()

    before = _db_stats(url)
    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    t = time.perf_counter()
    for th in threads:
        th.start()
    time.sleep(seconds)
    stop.set()
    for th in threads:
        th.join(60)
    wall = time.perf_counter() - t
    time.sleep(0.6)  # the statistics collector's report interval (pg 15: shared memory, flushed at most each 1 s)
    after = _db_stats(url)
    deadlocks = after[0] - before[0]
    return {
        "clients": clients,
        "seconds": wall,
        "channels_videos": len(targets),
        **tally,
        "deadlocks": deadlocks,
        "server_transactions": after[1] - before[1],
        "rate": deadlocks / tally["transactions"] if tally["transactions"] else None,
        "verdict": _verdict(deadlocks, tally["transactions"]),
    }


def _verdict(deadlocks: int, transactions: int) -> str:
    if not transactions:
        return "no transactions"
    rate = deadlocks / transactions
    return "ok (< 0.1%)" if rate < 0.001 else ("critical (> 1%)" if rate > 0.01 else "warning (0.1%-1%)")
