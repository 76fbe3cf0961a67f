"""`ytdq services up|down|status` in a NEW state directory, next to the session's own servers.

One up/down cycle for the whole module (the tests run in file order: up, checks, down, restart).
``DATABASE_URL``/``REDIS_URL`` are cleared for the module, so the embedded servers really start
even when the session uses external ones.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import redis

from tests.helpers import scalar
from ytempire_dq.db.connect import connect
from ytempire_dq.ops import services

YTDQ = Path(sys.executable).with_name("ytdq")
#: every test here starts embedded servers of its own (skipped when DATABASE_URL/REDIS_URL name the servers)
pytestmark = pytest.mark.local_servers


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """A project home whose ``.ytdq/`` is the state dir (what the CLI uses with ``YTDQ_HOME``)."""
    return tmp_path_factory.mktemp("svc_home")


@pytest.fixture(scope="module")
def started(home, server_urls):
    """``services.up`` once for the module; everything it started is purged at the end."""
    state_dir = home / ".ytdq"
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("DATABASE_URL", raising=False)
        mp.delenv("REDIS_URL", raising=False)
        state = services.up(state_dir)
        yield {"state_dir": state_dir, "state": state}
        services.down(state_dir, purge=True)


def pids(state: dict) -> tuple[int, int]:
    """(postmaster pid, redis-server pid) as the servers themselves record them."""
    pg = int((Path(state["postgres"]["datadir"]) / "postmaster.pid").read_text().splitlines()[0])
    return pg, int(Path(state["redis"]["pidfile"]).read_text().strip())


def alive(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists() and "State:\tZ" not in Path(f"/proc/{pid}/status").read_text()


def cli(home: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(YTDQ_HOME=str(home), COLUMNS="200")
    return subprocess.run([str(YTDQ), *args], capture_output=True, text=True, env=env, timeout=120)


def test_up_starts_both_servers_on_fresh_loopback_ports(started, server_urls):
    state = started["state"]
    pg, rd = state["postgres"], state["redis"]
    assert pg["url"].startswith("postgresql+psycopg2://") and "@127.0.0.1:" in pg["url"]
    assert rd["url"] == f"redis://127.0.0.1:{rd['port']}/0"
    assert f":{pg['port']}/" not in server_urls["postgres"] and f":{rd['port']}/" not in server_urls["redis"]
    conn = connect(pg["url"])
    try:
        assert scalar(conn, "SHOW server_version_num").startswith("15")
        assert scalar(conn, "SHOW listen_addresses") == "127.0.0.1"
        assert scalar(conn, "SELECT current_database()") == services.DB_NAME
    finally:
        conn.close()
    client = redis.Redis.from_url(rd["url"])
    assert client.ping() is True
    assert client.config_get("bind")["bind"] == "127.0.0.1"
    client.close()


def test_postgres_never_runs_as_root(started):
    postmaster, _ = pids(started["state"])
    uid = int(
        next(
            line for line in Path(f"/proc/{postmaster}/status").read_text().splitlines() if line.startswith("Uid:")
        ).split()[1]
    )
    assert uid != 0
    assert uid == os.geteuid() or os.geteuid() == 0


def test_redis_keeps_an_append_only_file_synced_every_second(started):
    client = redis.Redis.from_url(started["state"]["redis"]["url"], decode_responses=True)
    try:
        assert client.config_get("appendonly") == {"appendonly": "yes"}
        assert client.config_get("appendfsync") == {"appendfsync": "everysec"}
        assert client.config_get("save") == {"save": ""}
        assert client.info("persistence")["aof_enabled"] == 1
    finally:
        client.close()


def test_up_again_is_harmless(started):
    before = pids(started["state"])
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("DATABASE_URL", raising=False)
        mp.delenv("REDIS_URL", raising=False)
        again = services.up(started["state_dir"])
    assert again == started["state"]
    assert pids(again) == before and all(alive(p) for p in before)
    assert redis.Redis.from_url(again["redis"]["url"]).ping() is True
    connect(again["postgres"]["url"]).close()


def test_status_shows_both_running(started):
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("DATABASE_URL", raising=False)
        mp.delenv("REDIS_URL", raising=False)
        status = services.status(started["state_dir"])
    data = {"postgres": started["state"]["postgres"]["datadir"], "redis": started["state"]["redis"]["dir"]}
    for name in ("postgres", "redis"):
        url = started["state"][name]["url"]
        assert status[name] == {"source": "embedded", "url": url, "running": True, "data": data[name]}


def test_cli_up_and_status_report_the_same_servers(started, home):
    up = cli(home, "services", "up")
    assert up.returncode == 0, up.stderr
    assert up.stdout.splitlines() == [
        f"export DATABASE_URL={started['state']['postgres']['check_url']}",  # the checks' read-only role
        f"export REDIS_URL={started['state']['redis']['url']}",
    ]
    status = cli(home, "services", "status")
    assert status.returncode == 0, status.stderr
    for name in ("postgres", "redis"):
        line = next(line for line in status.stdout.splitlines() if f" {name} " in line)
        assert "embedded" in line and "yes" in line and started["state"][name]["url"] in line


def test_down_stops_only_what_up_started(started, server_urls):
    state = started["state"]
    before = pids(state)
    conn = connect(state["postgres"]["url"], autocommit=True)
    conn.cursor().execute("CREATE TABLE kept AS SELECT 42 AS answer")  # read back after the restart below
    conn.close()
    redis.Redis.from_url(state["redis"]["url"]).set("kept", "42")
    assert services.down(started["state_dir"]) == ["postgres", "redis"]
    assert not any(alive(p) for p in before)
    for port in (state["postgres"]["port"], state["redis"]["port"]):
        assert services.port_open(port) is False
    # the session's servers still answer
    conn = connect(server_urls["postgres"])
    assert scalar(conn, "SELECT 1") == 1
    conn.close()
    assert redis.Redis.from_url(server_urls["redis"]).ping() is True
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("DATABASE_URL", raising=False)
        mp.delenv("REDIS_URL", raising=False)
        assert {n: s["running"] for n, s in services.status(started["state_dir"]).items()} == {
            "postgres": False,
            "redis": False,
        }
    assert services.down(started["state_dir"]) == []  # nothing left to stop


def test_up_after_down_keeps_the_data(started):
    """The cluster's data dir and redis' AOF survive down/up: the table and key written before `down` come back."""
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("DATABASE_URL", raising=False)
        mp.delenv("REDIS_URL", raising=False)
        again = services.up(started["state_dir"])
    assert again["postgres"]["datadir"] == started["state"]["postgres"]["datadir"]
    conn = connect(again["postgres"]["url"])
    try:
        assert scalar(conn, "SELECT answer FROM kept") == 42
    finally:
        conn.close()
    assert redis.Redis.from_url(again["redis"]["url"]).get("kept") == b"42"
    assert any(Path(again["redis"]["dir"]).rglob("*.aof*"))


def test_status_with_both_embedded_servers_never_started_exits_2_naming_both(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    done = subprocess.run(
        [str(YTDQ), "services", "status"],
        capture_output=True,
        text=True,
        env={**env, "YTDQ_HOME": str(tmp_path)},
        timeout=120,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.count("\n") == 1 and "postgres (never started here), redis (never started here)" in done.stderr
    assert "ytdq services up" in done.stderr
