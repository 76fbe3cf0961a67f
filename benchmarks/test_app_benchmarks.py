"""The seed's application targets as pytest-benchmark tests (``pytest benchmarks --benchmark-only``):
each app query's p95 well under 100 ms, a bulk insert of 1,000 videos under 5 s. The thresholds are
asserted on pytest-benchmark's own statistics of many rounds, never on one wall-clock reading.
The committed numbers at 100k–10M rows come from ``python -m benchmarks.run`` (docs/benchmarks.md).
"""

from __future__ import annotations

import itertools
import random
import statistics

import pytest
from psycopg2.extras import execute_values

from benchmarks import workloads as W
from ytempire_dq.db.connect import connect

#: The seed's targets.
APP_QUERY_P95_S = 0.100
BULK_INSERT_1000_S = 5.0


def p95(benchmark) -> float:
    """The 95th percentile of the benchmark's round times (seconds)."""
    data = benchmark.stats.stats.data
    return statistics.quantiles(data, n=20)[18] if len(data) >= 2 else data[0]


@pytest.fixture(scope="module")
def conn(bench_url):
    conn = connect(bench_url, autocommit=True)
    yield conn
    conn.close()


@pytest.mark.parametrize("name", list(W.APP_QUERIES))
def test_app_query_p95_is_well_under_100_ms(benchmark, conn, name):
    keys = itertools.cycle(W._params(conn, 200, random.Random(1))[name])
    sql = W.APP_QUERIES[name]

    def query():
        with conn.cursor() as cur:
            cur.execute(sql, next(keys))
            return cur.fetchall()

    benchmark.pedantic(query, rounds=200, warmup_rounds=20)
    assert p95(benchmark) < APP_QUERY_P95_S


def test_bulk_insert_of_1000_videos_is_under_5_s(benchmark, conn):
    rng = random.Random(2)
    with conn.cursor() as cur:
        cur.execute("SELECT id FROM channels LIMIT 500")
        channels = [r[0] for r in cur.fetchall()]
    columns = ", ".join(W.VIDEO_COLUMNS)
    inserted: list[str] = []

    def fresh_rows():
        """Untimed: delete the previous round's videos, make 1,000 new ones."""
        if inserted:
            with conn.cursor() as cur:
                cur.execute("DELETE FROM videos WHERE id = ANY(%s::uuid[])", (inserted,))
            inserted.clear()
        rows = W._video_rows(channels, 1000, rng)
        inserted.extend(r[0] for r in rows)
        return (rows,), {}

    def insert(rows):
        with conn.cursor() as cur:
            execute_values(cur, f"INSERT INTO videos ({columns}) VALUES %s", rows, page_size=1000)

    benchmark.pedantic(insert, setup=fresh_rows, rounds=5)
    assert benchmark.stats.stats.max < BULK_INSERT_1000_S
