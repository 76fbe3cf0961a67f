"""Checking production the way careful teams do: on a hot standby, as a role that can only read.

The topology (``tests/topologies.py``): a cluster of the test's own, seeded with clean data; a
streaming replica of it (``pg_basebackup -R``); a SELECT-only role (made on the primary, replayed
on the replica); a second cluster as the results store. Without ``YTDQ_STORE_URL`` the history
would go to the standby: the run stops before any rule with one line naming the standby and the
fix, exit 2.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import copy_project, rows, with_redis_db
from tests.topologies import ROLE_PASSWORD, wait_replayed
from ytempire_dq.db.connect import connect

pytestmark = pytest.mark.local_servers

YTDQ = Path(sys.executable).with_name("ytdq")
ROLE = "ytdq_ro_replica"
REDIS_DB = 11


@pytest.fixture(scope="module")
def readonly_standby_url(primary_cluster, standby, select_only_role) -> str:
    """The SELECT-only role's URL on the standby (the role is made on the primary and replayed)."""
    select_only_role(primary_cluster.url, ROLE)
    wait_replayed(primary_cluster, standby)
    return standby.database_url(user=ROLE, password=ROLE_PASSWORD)


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    return copy_project(tmp_path_factory.mktemp("topologies"))


@pytest.fixture(scope="module")
def cache_url(redis_url) -> str:
    import redis

    url = with_redis_db(redis_url, REDIS_DB)
    client = redis.Redis.from_url(url)
    client.flushdb()
    client.close()
    return url


def ytdq(project: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "YTDQ_STORE_URL")}
    full.update(COLUMNS="200", **env)
    return subprocess.run(
        [str(YTDQ), *args, "--config", str(project)], capture_output=True, text=True, env=full, timeout=600
    )


def errors(proc: subprocess.CompletedProcess) -> list[str]:
    return [line for line in proc.stderr.splitlines() if line.startswith("error:")]


def test_nightly_on_a_standby_as_a_select_only_role_without_a_store_stops_before_any_rule(
    readonly_standby_url, standby, primary_cluster, project, cache_url, tmp_path
):
    report = tmp_path / "run.json"
    proc = ytdq(
        project,
        "checkpoint",
        "run",
        "nightly",
        "--json",
        str(report),
        DATABASE_URL=readonly_standby_url,
        REDIS_URL=cache_url,
    )
    print("$ DATABASE_URL=<select-only role on the standby> ytdq checkpoint run nightly\n" + proc.stderr)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    (line,) = errors(proc)
    assert "is a hot standby" in line and "set YTDQ_STORE_URL to a writable PostgreSQL database" in line
    assert f"{ROLE}:***@127.0.0.1:{standby.port}/ytempire" in line and ROLE_PASSWORD not in proc.stdout + proc.stderr
    assert "[1/" not in proc.stderr and "rules met" not in proc.stdout  # before any rule ran
    doc = json.loads(report.read_text())
    assert doc["exit_code"] == 2 and "hot standby" in doc["error"] and doc["validations"] == []
    owner = connect(primary_cluster.url, autocommit=True)
    try:
        assert rows(owner, "SELECT count(*) FROM dq.runs") == [(0,)]
    finally:
        owner.close()


def test_nightly_on_a_standby_with_the_store_on_another_cluster(
    readonly_standby_url, store_cluster, primary_cluster, project, cache_url, tmp_path
):
    """The run passes the pre-flight and its history goes to the other cluster. (What is not done
    yet, issue items 1-3: the volume/drift rules read their baselines from ``dq.metrics`` in the
    checked database -- empty on the standby, so they stay "no baseline yet"; runs are not kept
    per source.)"""
    report = tmp_path / "run.json"
    proc = ytdq(
        project,
        "checkpoint",
        "run",
        "nightly",
        "--json",
        str(report),
        DATABASE_URL=readonly_standby_url,
        REDIS_URL=cache_url,
        YTDQ_STORE_URL=store_cluster.url,
    )
    print(
        "$ DATABASE_URL=<select-only role on the standby> YTDQ_STORE_URL=<second cluster> ytdq checkpoint run nightly"
    )
    print(proc.stdout + proc.stderr)
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    assert errors(proc) == []
    doc = json.loads(report.read_text())
    assert doc["history_error"] is None
    total = sum(len(v["results"]) for v in doc["validations"])
    store = connect(store_cluster.url, autocommit=True)
    try:
        assert rows(store, "SELECT run_id, rules_total FROM dq.runs") == [(doc["run_id"], total)]
        assert rows(store, "SELECT count(*) FROM dq.rule_results") == [(total,)]
    finally:
        store.close()
    owner = connect(primary_cluster.url, autocommit=True)
    try:
        assert rows(owner, "SELECT count(*) FROM dq.runs") == [(0,)]
    finally:
        owner.close()
