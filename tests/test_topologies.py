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

from tests.helpers import a_day_passes, copy_project, rows, with_redis_db
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


def ytdq(project: Path | None, *args: str, **env: str) -> subprocess.CompletedProcess:
    """``ytdq ARGS --config PROJECT`` (``project`` None: a command without ``--config``) with ``env``."""
    full = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "YTDQ_STORE_URL")}
    full.update(COLUMNS="200", **env)
    where = ("--config", str(project)) if project is not None else ()
    return subprocess.run([str(YTDQ), *args, *where], capture_output=True, text=True, env=full, timeout=600)


def nightly(project: Path, report: Path, *extra: str, **env: str) -> subprocess.CompletedProcess:
    """``ytdq checkpoint run nightly [extra] --json report`` with ``env``."""
    return ytdq(project, "checkpoint", "run", "nightly", *extra, "--json", str(report), **env)


def errors(proc: subprocess.CompletedProcess) -> list[str]:
    return [line for line in proc.stderr.splitlines() if line.startswith("error:")]


def test_nightly_on_a_standby_as_a_select_only_role_without_a_store_stops_before_any_rule(
    readonly_standby_url, standby, primary_cluster, project, cache_url, tmp_path
):
    report = tmp_path / "run.json"
    proc = nightly(project, report, DATABASE_URL=readonly_standby_url, REDIS_URL=cache_url)
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
    """The run passes the pre-flight and its history goes to the other cluster, under the standby's
    source name."""
    report = tmp_path / "run.json"
    proc = nightly(
        project, report, DATABASE_URL=readonly_standby_url, REDIS_URL=cache_url, YTDQ_STORE_URL=store_cluster.url
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


NIGHTS = 8  # the committed band rules' min_runs is 7: the eighth night judges against a band


def metric_rules(doc: dict) -> dict[str, dict]:
    """``{rule_id: observed_value}`` of the run's volume/drift rules (their observed value is a
    metric, recorded in ``dq.metrics``)."""
    return {
        r["rule_id"]: r["observed_value"]
        for v in doc["validations"]
        for r in v["results"]
        if isinstance(r["observed_value"], dict) and "baseline_runs" in r["observed_value"]
    }


def band_rules(doc: dict) -> dict[str, dict]:
    """The run-history band rules among them (the seasonal ones learn from the data's own days)."""
    return {rule_id: o for rule_id, o in metric_rules(doc).items() if "training_days" not in o}


def test_nightly_runs_on_a_standby_keep_history_baselines_and_watermarks_in_the_store(
    readonly_standby_url, store_cluster, primary_cluster, project, cache_url, tmp_path
):
    """Issue 22, item 2: eight nightly runs on the standby as a SELECT-only role, the store on the
    other cluster (a database of this test's own): ``ytdq history`` lists the eight runs, the drift
    rules leave "not enough history yet" at ``min_runs`` (their baseline comes from the store), and
    ``--since-last`` runs incrementally on the ninth (the watermarks come from the store)."""
    from ytempire_dq.db import migrations

    owner = connect(store_cluster.url, autocommit=True)
    try:
        with owner.cursor() as cur:
            cur.execute("CREATE DATABASE nightly_store")
    finally:
        owner.close()
    store_url = store_cluster.database_url("nightly_store")
    migrations.migrate(store_url)
    env = {"DATABASE_URL": readonly_standby_url, "REDIS_URL": cache_url, "YTDQ_STORE_URL": store_url}

    docs = []
    for night in range(NIGHTS + 1):
        report = tmp_path / f"run{night}.json"
        extra = ("--since-last",) if night == NIGHTS else ()
        proc = nightly(project, report, *extra, **env)
        assert proc.returncode == 0, (night, proc.stdout, proc.stderr)
        docs.append(json.loads(report.read_text()))
        a_day_passes(store_url)  # nightly: the band counts one value a day
        if night == NIGHTS - 1:  # after eight nights: the history lists exactly them
            listed = ytdq(None, "history", "--json", **env)
            assert listed.returncode == 0, listed.stderr
            assert [r["run_id"] for r in json.loads(listed.stdout)] == [d["run_id"] for d in reversed(docs)]
            shown = ytdq(None, "history", **env)
            print("$ ytdq history  # DATABASE_URL=<standby, SELECT-only>, YTDQ_STORE_URL=<other cluster>")
            print(shown.stdout)
            assert shown.returncode == 0 and "no runs recorded yet" not in shown.stdout

    bands = [band_rules(d) for d in docs]
    assert len(bands[0]) == 3  # the committed run-history band rules of nightly
    for night, observed in enumerate(bands[:NIGHTS]):
        for rule_id, o in observed.items():
            assert o["min_runs"] == 7, rule_id
            expected = f"not enough history yet ({night} of 7 days)" if night < 7 else "within band"
            assert (o["status"], o["baseline_runs"]) == (expected, night), (night, rule_id)
    print("night 8:", {rule_id: o["status"] for rule_id, o in bands[NIGHTS - 1].items()})

    scan = docs[NIGHTS]["scan"]
    print("night 9 (--since-last):", scan["mode"], "-", scan["reason"])
    assert scan["mode"] == "incremental" and scan["incremental"], scan
    assert all(t["since"] is not None for t in scan["tables"].values()), scan

    store = connect(store_url, autocommit=True)
    try:
        assert rows(store, "SELECT count(*) FROM dq.runs") == [(NIGHTS + 1,)]
        assert rows(store, "SELECT count(*) FROM dq.metrics") == [(sum(len(metric_rules(d)) for d in docs),)]
    finally:
        store.close()
    primary = connect(primary_cluster.url, autocommit=True)
    try:  # nothing written to the checked database (the standby replays the primary)
        assert rows(primary, "SELECT count(*) FROM dq.runs") == [(0,)]
        assert rows(primary, "SELECT count(*) FROM dq.metrics") == [(0,)]
    finally:
        primary.close()
