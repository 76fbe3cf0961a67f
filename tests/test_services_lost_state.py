"""`ytdq services` finds its own servers from their data directories when `services.json` is lost.

Before: with the state file deleted while both embedded servers ran, `status` said "not running"
and exited 0, `up` exited 2 (`postmaster.pid already exists`) and `down` said "nothing was
running" and left both up; `status` also exited 0 with both servers down. A pid file can outlive
its server and its pid belong to another process by now: such a server is not running.
One embedded pair in a state directory of this module (never the session's servers).
"""

from __future__ import annotations

import json
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
from ytempire_dq.ops.walarchive import archive_command, archive_dir

YTDQ = Path(sys.executable).with_name("ytdq")
#: every test here starts embedded servers of its own (skipped when DATABASE_URL/REDIS_URL name the servers)
pytestmark = pytest.mark.local_servers


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    return tmp_path_factory.mktemp("lost_state_home")


@pytest.fixture(scope="module")
def state_dir(home):
    """The module's state dir; what runs there is purged at the end."""
    state_dir = home / ".ytdq"
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("DATABASE_URL", raising=False)
        mp.delenv("REDIS_URL", raising=False)
        yield state_dir
        services.down(state_dir, purge=True)


@pytest.fixture
def running(state_dir, monkeypatch):
    """Both servers up (started once, restarted when a test stopped them): the state as recorded,
    written back after a test that lost it (so that each test starts from a recorded pair)."""
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("REDIS_URL", raising=False)
    state = services.up(state_dir)
    yield state
    if not (state_dir / services.SERVICES_FILE).exists():
        (state_dir / services.SERVICES_FILE).write_text(json.dumps(state))


def pids(state: dict) -> tuple[int, int]:
    pg = int((Path(state["postgres"]["datadir"]) / "postmaster.pid").read_text().splitlines()[0])
    return pg, int(Path(state["redis"]["pidfile"]).read_text().strip())


def gone(pid: int) -> bool:
    status = Path(f"/proc/{pid}/status")
    return not status.exists() or "State:\tZ" in status.read_text()


def cli(home: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(YTDQ_HOME=str(home), COLUMNS="250")
    return subprocess.run([str(YTDQ), *args], capture_output=True, text=True, env=env, timeout=180)


def status_lines(proc: subprocess.CompletedProcess) -> dict[str, str]:
    return {
        name: next(line for line in proc.stdout.splitlines() if f" {name} " in line) for name in ("postgres", "redis")
    }


def errors(proc: subprocess.CompletedProcess) -> list[str]:
    return [line for line in proc.stderr.splitlines() if line.startswith("error:")]


def lose_state_file(state_dir: Path) -> None:
    (state_dir / services.SERVICES_FILE).unlink()


def test_status_without_the_state_file_reports_both_running_servers(running, state_dir, home):
    lose_state_file(state_dir)
    status = cli(home, "services", "status")
    assert status.returncode == 0, status.stdout + status.stderr
    lines = status_lines(status)
    for name in ("postgres", "redis"):
        assert "embedded" in lines[name] and " yes " in lines[name], lines[name]
        assert running[name]["url"] in lines[name] and f":{running[name]['port']}/" in lines[name], lines[name]
    assert not (state_dir / services.SERVICES_FILE).exists()  # status only reads


def test_up_without_the_state_file_reuses_the_running_servers(running, state_dir, home):
    before = pids(running)
    lose_state_file(state_dir)
    up = cli(home, "services", "up")
    assert up.returncode == 0, up.stderr
    assert up.stdout.splitlines() == [
        f"export DATABASE_URL={running['postgres']['check_url']}",
        f"export REDIS_URL={running['redis']['url']}",
    ]
    assert "postgres: already running on port" in up.stderr and "redis: already running on port" in up.stderr
    assert services.read_services(state_dir) == running  # recorded again, exactly as `up` first wrote it
    assert pids(running) == before and not any(gone(p) for p in before)


def test_down_without_the_state_file_stops_both_servers(running, state_dir, home):
    before = pids(running)
    lose_state_file(state_dir)
    down = cli(home, "services", "down")
    assert down.returncode == 0, down.stderr
    assert down.stdout.strip() == "stopped: postgres, redis"
    assert all(gone(p) for p in before)
    for name in ("postgres", "redis"):
        assert services.port_open(running[name]["port"]) is False

    # their data directories remain: status names both as down, in one error line
    status = cli(home, "services", "status")
    assert status.returncode == 2, status.stdout + status.stderr
    for name in ("postgres", "redis"):
        assert " no " in status_lines(status)[name]
    (error,) = errors(status)
    assert "embedded server not running: postgres (data in " in error and ", redis (data in " in error, error


def test_status_exits_2_naming_both_killed_servers(running, state_dir, home):
    before = pids(running)
    for pid in before:
        os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while not all(gone(p) for p in before) and time.monotonic() < deadline:
        time.sleep(0.05)
    status = cli(home, "services", "status")
    assert status.returncode == 2, status.stdout + status.stderr
    (error,) = errors(status)
    assert f"postgres (data in {running['postgres']['datadir']})" in error, error
    assert f"redis (data in {running['redis']['dir']})" in error, error
    for name in ("postgres", "redis"):
        line = status_lines(status)[name]
        assert "embedded" in line and " no " in line and running[name]["url"] in line, line


def test_stale_pid_files_and_ports_taken_by_others_are_not_our_servers(running, state_dir, home, server_urls):
    """Both servers stopped; their pid files left behind name a live process that is no server of
    ours, and the state file names ports where other servers answer now (the session's own): nothing
    of ours runs. `down` signals nobody, `up` starts both servers again."""
    services.down(state_dir)
    stranger = subprocess.Popen(["sleep", "300"])
    try:
        stale = {**running}
        for name, port in (("postgres", 5432), ("redis", 6379)):
            taken = services.host_port(server_urls[name], port)[1]
            url = running[name]["url"].replace(f":{running[name]['port']}/", f":{taken}/")
            stale[name] = {**running[name], "port": taken, "url": url}
        (state_dir / services.SERVICES_FILE).write_text(json.dumps(stale))
        datadir = Path(running["postgres"]["datadir"])
        fields = [str(stranger.pid), str(datadir), "0", str(stale["postgres"]["port"]), "", "127.0.0.1", "0 0", "ready"]
        (datadir / "postmaster.pid").write_text("\n".join(fields) + "\n")
        Path(running["redis"]["pidfile"]).write_text(f"{stranger.pid}\n")

        status = cli(home, "services", "status")
        assert status.returncode == 2, status.stdout + status.stderr
        assert all(" no " in line for line in status_lines(status).values())
        assert cli(home, "services", "down").stdout.strip() == "stopped: nothing was running"
        assert stranger.poll() is None  # never signalled

        up = cli(home, "services", "up")
        assert up.returncode == 0, up.stderr
        again = services.read_services(state_dir)
        assert stranger.pid not in pids(again) and not any(gone(p) for p in pids(again))
        conn = connect(again["postgres"]["url"])
        try:
            assert scalar(conn, "SELECT current_database()") == services.DB_NAME
        finally:
            conn.close()
        assert redis.Redis.from_url(again["redis"]["url"]).ping() is True
    finally:
        stranger.kill()
        stranger.wait()


def test_the_wal_archive_is_read_back_from_the_archive_command(tmp_path):
    """A running cluster found without its state file records its backup folder from its own
    archive_command; any other command names none."""
    for wal in (tmp_path / "backups" / "wal", tmp_path / "it's here" / "wal"):
        assert archive_dir(archive_command(wal)) == wal
    assert archive_dir("cp %p /somewhere/%f") is None
