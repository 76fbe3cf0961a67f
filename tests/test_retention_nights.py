"""The tool obeys its own retention: simulated nights on clean data past the retention, under a
faked clock, each night a run of the privacy suite (``dq.runs_within_retention``, ``dq.rule_results_within_retention``,
``dq.quarantine_within_retention``) and on the nights past the retention the whole ``nightly`` too:
every run passes, and the number of runs kept stays bounded. (The whole nightly every night takes
20-50 s a night on this machine: too long for the suite.) The retention is set to
:data:`RETENTION` days (``YTDQ_RETENTION_DAYS``, which the rules, the pruning and this test all
read): the same code paths as the default 30 days, a third of the nights.

The clock: libfaketime (``.ci/install`` installs it) preloaded into a PostgreSQL cluster of this test
and into each ``ytdq`` process, reading one timestamp file (``FAKETIME_TIMESTAMP_FILE``, re-read on
every call: ``FAKETIME_NO_CACHE=1``) that holds ``+Nd`` on night N: the database's clock and
Python's move together, a day a night, without restarting the server. Each night the platform's
data is seeded again (same seed: the same rows, dated by the database's new today -- the seed takes
its dates from the database's clock -- so the freshness and volume/drift rules see a normal day).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from benchmarks.nights import FakeClock, run_checkpoint
from tests.helpers import copy_project, rows, scalar, with_redis_db
from tests.topologies import start_cluster, stop_cluster
from ytempire_dq import config
from ytempire_dq.db import migrations
from ytempire_dq.db.connect import connect
from ytempire_dq.fixtures import seed

pytestmark = [pytest.mark.slow, pytest.mark.local_servers]

#: Days kept (``YTDQ_RETENTION_DAYS``), and the nights simulated: the retention and 5 more.
RETENTION = 10
NIGHTS = RETENTION + 5
#: Nights on which the whole ``nightly`` runs too (past the retention, and the last night); the
#: ``privacy`` checkpoint (its retention rules) runs every night.
FULL_NIGHTS = (RETENTION, RETENTION + 1, NIGHTS - 1)
#: Nights before the verdict is asserted (none: the volume/drift rules pass with "no baseline yet").
WARMUP = 0
REDIS_DB = 13
#: The smallest seed that holds every kind of row the rules look at.
USERS = 2


@pytest.fixture(scope="module")
def clock():
    """The timestamp file and the environment that preloads libfaketime with it."""
    fake = FakeClock()
    yield fake.path, fake.env
    fake.remove()


@pytest.fixture(scope="module")
def faked_cluster(tmp_path_factory, clock):
    _, env = clock
    cluster = start_cluster(tmp_path_factory.mktemp("faked"), **env)
    try:
        migrations.migrate(cluster.url)
        yield cluster
    finally:
        stop_cluster(cluster)


def privacy_checkpoint(gx_dir: Path) -> None:
    """A checkpoint ``privacy`` in the project copy: the privacy suite alone, no actions."""
    vd = json.loads((gx_dir.parent / "validation_definitions" / "privacy.json").read_text())
    checkpoint = {
        "actions": [],
        "id": "8f0f7a52-5e40-4d0e-9a56-7c1b1f3c2d11",
        "name": "privacy",
        "result_format": "SUMMARY",
        "validation_definitions": [{"id": vd["id"], "name": "privacy"}],
    }
    (gx_dir.parent / "checkpoints" / "privacy.json").write_text(json.dumps(checkpoint))


@pytest.mark.timeout(1800)
def test_nights_past_the_retention_pass_their_own_retention_rules(
    faked_cluster, clock, redis_url, tmp_path, monkeypatch
):
    import redis

    path, faked = clock
    project = copy_project(tmp_path / "project")
    privacy_checkpoint(project)
    cache = with_redis_db(redis_url, REDIS_DB)
    redis.Redis.from_url(cache).flushdb()
    monkeypatch.setenv(config.RETENTION_ENV, str(RETENTION))  # the seed's and this test's reading
    env = {**faked, "DATABASE_URL": faked_cluster.url, "REDIS_URL": cache, config.RETENTION_ENV: str(RETENTION)}
    retention = config.retention_days()
    assert retention == RETENTION
    conn = connect(faked_cluster.url, autocommit=True)
    nights, started = [], time.perf_counter()
    try:
        for n in range(NIGHTS):
            path.write_text(f"+{n}d\n")
            seed.seed(faked_cluster.url, users=USERS, seed=5)  # dated by the database's (faked) clock
            runs = [run_checkpoint(env, project, "privacy", tmp_path / f"privacy{n}.json")]
            if n in FULL_NIGHTS:
                runs.append(run_checkpoint(env, project, "nightly", tmp_path / f"nightly{n}.json"))
            kept = dict(rows(conn, "SELECT checkpoint, count(*) FROM dq.runs GROUP BY checkpoint"))
            oldest = scalar(conn, "SELECT extract(epoch FROM now() - min(started_at)) / 86400 FROM dq.runs")
            nights.append({"night": n, "runs": [(r["checkpoint"], r["exit"], r["failed"]) for r in runs], "kept": kept})
            print(nights[-1], f"oldest {float(oldest):.2f} days", flush=True)
            for r in runs:
                if n >= WARMUP:
                    assert r["exit"] == 0, (n, r["checkpoint"], r["failed"], r["stderr"][-3000:])
                    assert r["doc"]["history_error"] is None and r["doc"]["warnings"] == []
            assert kept["privacy"] <= retention + 1, nights[-1]  # bounded: a run a night, none past the retention
            assert float(oldest) < retention, nights[-1]
    finally:
        conn.close()
        print(f"{len(nights)} nights in {time.perf_counter() - started:.0f} s")
    # a steady state: a night's run removes the run that the next night's rules would find past the retention
    assert [n["kept"]["privacy"] for n in nights[retention:]] == [retention - 1] * (NIGHTS - retention)
    assert nights[-1]["kept"]["nightly"] == len(FULL_NIGHTS)  # all within the retention on the last night
