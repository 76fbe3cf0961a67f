"""`ytdq services up` restarts its own crashed servers even with their URLs exported (as the
docs/cli.md and `services up` itself say to do); a URL pointing elsewhere stays "external".

Before: with DATABASE_URL/REDIS_URL exported, `services up` called both servers "external",
exited 0, and a crashed PostgreSQL stayed down. Real crashes: kill -9 of the embedded postmaster
and redis-server, in a state directory of this module (never the session's servers).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
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
    return tmp_path_factory.mktemp("restart_home")


@pytest.fixture(scope="module")
def started(home):
    state_dir = home / ".ytdq"
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("DATABASE_URL", raising=False)
        mp.delenv("REDIS_URL", raising=False)
        state = services.up(state_dir)
        yield state_dir, state
        services.down(state_dir, purge=True)


def pids(state: dict) -> tuple[int, int]:
    pg = int((Path(state["postgres"]["datadir"]) / "postmaster.pid").read_text().splitlines()[0])
    return pg, int(Path(state["redis"]["pidfile"]).read_text().strip())


def gone(pid: int) -> bool:
    status = Path(f"/proc/{pid}/status")
    return not status.exists() or "State:\tZ" in status.read_text()


def cli(home: Path, *args: str, database_url: str | None, redis_url: str | None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(YTDQ_HOME=str(home), COLUMNS="200")
    if database_url:
        env["DATABASE_URL"] = database_url
    if redis_url:
        env["REDIS_URL"] = redis_url
    return subprocess.run([str(YTDQ), *args], capture_output=True, text=True, env=env, timeout=180)


def status_lines(proc: subprocess.CompletedProcess, code: int = 0) -> dict[str, str]:
    assert proc.returncode == code, proc.stderr
    return {
        name: next(line for line in proc.stdout.splitlines() if f" {name} " in line) for name in ("postgres", "redis")
    }


def test_up_restarts_both_crashed_servers_with_their_urls_exported(started, home):
    state_dir, state = started
    pg_url, redis_url = state["postgres"]["url"], state["redis"]["url"]
    conn = connect(pg_url, autocommit=True)
    conn.cursor().execute("CREATE TABLE survived AS SELECT 7 AS n")
    conn.cursor().execute("CHECKPOINT")  # the cluster runs with synchronous_commit=off
    conn.close()
    before = pids(state)
    for pid in before:
        os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while not all(gone(p) for p in before) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert all(gone(p) for p in before)

    # status tells the truth: ours, and down (exit 2)
    down = status_lines(cli(home, "services", "status", database_url=pg_url, redis_url=redis_url), code=2)
    for name, url in (("postgres", pg_url), ("redis", redis_url)):
        assert "embedded" in down[name] and " no " in down[name] and url in down[name], down[name]
        assert "external" not in down[name]

    up = cli(home, "services", "up", database_url=pg_url, redis_url=redis_url)
    assert up.returncode == 0, up.stderr
    assert "external" not in up.stdout + up.stderr
    assert up.stdout.splitlines() == [f"export DATABASE_URL={pg_url}", f"export REDIS_URL={redis_url}"]
    after = services.read_services(state_dir)
    assert after["postgres"]["port"] == state["postgres"]["port"] and after["redis"]["port"] == state["redis"]["port"]
    new = pids(after)
    assert not set(new) & set(before) and not any(gone(p) for p in new)
    conn = connect(pg_url)  # the exported URL works again, with the data from before the crash
    try:
        assert scalar(conn, "SELECT n FROM survived") == 7
    finally:
        conn.close()
    assert redis.Redis.from_url(redis_url).ping() is True

    running = status_lines(cli(home, "services", "status", database_url=pg_url, redis_url=redis_url))
    for name in ("postgres", "redis"):
        assert "embedded" in running[name] and " yes " in running[name], running[name]


def test_a_url_to_another_port_stays_external_and_is_not_started(started, home, server_urls):
    """The session's own PostgreSQL (running) and a Redis port nobody listens on: neither is ours."""
    state_dir, _state = started
    before = services.read_services(state_dir)
    dead_redis = f"redis://127.0.0.1:{services.free_port()}/0"
    up = cli(home, "services", "up", database_url=server_urls["postgres"], redis_url=dead_redis)
    assert up.returncode == 0, up.stderr
    assert "postgres: external" in up.stderr and "redis: external" in up.stderr
    assert services.read_services(state_dir) == before  # nothing started, nothing recorded
    assert pids(before) == pids(services.read_services(state_dir))
    status = cli(home, "services", "status", database_url=server_urls["postgres"], redis_url=dead_redis)
    lines = status_lines(status, code=2)  # an external server that does not answer: exit 2, one line
    assert "external (DATABASE_URL)" in lines["postgres"] and " yes " in lines["postgres"]
    assert "external (REDIS_URL)" in lines["redis"] and " no " in lines["redis"]
    errors = [line for line in status.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and dead_redis in errors[0], status.stderr


def test_a_url_naming_our_port_on_localhost_is_ours(started, home):
    """`localhost` and `127.0.0.1` are the same loopback server: not external."""
    _state_dir, state = started
    pg = state["postgres"]["url"].replace("127.0.0.1", "localhost")
    rd = state["redis"]["url"].replace("127.0.0.1", "localhost")
    lines = status_lines(cli(home, "services", "status", database_url=pg, redis_url=rd))
    for name in ("postgres", "redis"):
        assert "embedded" in lines[name] and " yes " in lines[name], lines[name]


def test_a_restarted_redis_is_usable_when_up_returns(tmp_path, monkeypatch):
    """redis-server listens before it has replayed its AOF, answering LOADING until then: `up` waits
    for it, so the first command after a restart on a large AOF works (a 10M-row drill's restart
    failed with 'Redis is loading the dataset in memory')."""
    monkeypatch.delenv("REDIS_URL", raising=False)
    state_dir = tmp_path / "big-aof"
    url = services.up(state_dir, postgres=False)["redis"]["url"]
    try:
        client = redis.Redis.from_url(url)
        keys = 400_000
        for start in range(0, keys, 50_000):
            with client.pipeline(transaction=False) as pipe:
                for n in range(start, start + 50_000):
                    pipe.set(f"k:{n}", "x" * 20)
                pipe.execute()
        client.execute_command("CONFIG", "SET", "appendfsync", "always")
        client.set("last", 1)  # with fsync: everything above is in the AOF
        pid = int(Path(services.read_services(state_dir)["redis"]["pidfile"]).read_text())
        client.close()
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 20
        while services.pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)

        url = services.up(state_dir, postgres=False)["redis"]["url"]
        assert redis.Redis.from_url(url).dbsize() == keys + 1  # no LOADING error, nothing lost
    finally:
        services.down(state_dir, purge=True)
