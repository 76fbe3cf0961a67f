"""Embedded PostgreSQL and redis-server for development, the demo and the tests.

``up`` starts a PostgreSQL cluster (initdb + pg_ctl from the machine's PostgreSQL) and a
redis-server (AOF on, ``appendfsync everysec``) on free loopback ports, under a state directory
(``.ytdq/`` in the project by default), and records what it started in ``services.json``. As
root, PostgreSQL refuses to run, so the cluster runs as an unprivileged user (``postgres`` when it
exists, else ``nobody``), archiving its WAL into a backup folder (``walarchive``; ``ytdq backup``).
``down`` stops only what ``up`` recorded; re-running ``up`` is harmless.

A server is *ours* when the state file records it; ``up`` (re)starts ours when they are down --
after a crash too, and also when their URLs are exported (``DATABASE_URL`` / ``REDIS_URL``), as
``up`` tells the user to do. A URL is *external* only when it points somewhere else than the
recorded server (another host or port): that server is never started or stopped here, and
``status`` reports whether it answers.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from ytempire_dq.db import roles
from ytempire_dq.server_processes import (
    RunAs,
    ServiceError,
    free_port,
    pg_bindir,
    pg_dir,
    pid_alive,
    port_open,
    redis_binary,
)
from ytempire_dq.walarchive import prepare_archive  # WAL archiving for `ytdq backup` / `ytdq restore`

STATE_FILE = "services.json"
DB_NAME = "ytempire"
DB_USER = "ytdq"


# ---------------------------------------------------------------------------------------------
# state file


def read_state(state_dir: Path) -> dict:
    path = Path(state_dir) / STATE_FILE
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _write_state(state_dir: Path, state: dict) -> None:
    path = Path(state_dir) / STATE_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=2, sort_keys=True))
    tmp.replace(path)


# ---------------------------------------------------------------------------------------------
# PostgreSQL


def _pg_url(port: int, db: str = DB_NAME, user: str = DB_USER) -> str:
    return f"postgresql+psycopg2://{user}@127.0.0.1:{port}/{db}"


def _pg_running(entry: dict) -> bool:
    pidfile = Path(entry["datadir"]) / "postmaster.pid"
    try:
        pid = int(pidfile.read_text().splitlines()[0])
    except (OSError, ValueError, IndexError):
        return False
    return pid_alive(pid) and port_open(entry["port"])


def _start_postgres(state_dir: Path, entry: dict | None, log) -> dict:
    bindir = pg_bindir()
    run_as = RunAs.for_postgres()
    base = Path(entry["datadir"]).parent if entry else pg_dir(state_dir, run_as)
    datadir = base / "data"
    logfile = base / "server.log"
    if not (datadir / "PG_VERSION").exists():
        base.mkdir(parents=True, exist_ok=True)
        run_as.own(base.parent if base.parent.name.startswith("ytdq-") else base)
        log(f"initdb {datadir} (as {run_as.name})")
        res = run_as.run(
            [
                str(bindir / "initdb"),
                "-D",
                str(datadir),
                "-U",
                DB_USER,
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
                "--no-sync",
            ]
        )
        if res.returncode != 0:
            raise ServiceError(f"initdb failed: {(res.stderr or res.stdout).strip().splitlines()[-1:]}")
    port = entry["port"] if entry and not port_open(entry["port"]) else free_port()
    backup_dir, archive_opts = prepare_archive(base, entry, run_as)
    opts = (
        f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories='' "
        "-c max_connections=200 -c shared_buffers=256MB -c fsync=off -c synchronous_commit=off "
        f"-c full_page_writes=off -c work_mem=32MB -c maintenance_work_mem=256MB {archive_opts}"
    )
    _drop_stale_pidfile(datadir)
    pg_ctl = [str(bindir / "pg_ctl"), "-D", str(datadir), "-l", str(logfile), "-o", opts, "-w", "-t", "60", "start"]
    res = run_as.run(pg_ctl)
    deadline = time.monotonic() + 20
    # after a crash (kill -9 of the postmaster) its children may hold the shared memory a moment
    while (
        res.returncode != 0
        and time.monotonic() < deadline
        and logfile.exists()
        and "pre-existing shared memory block" in logfile.read_text()[-2000:]
    ):
        time.sleep(0.5)
        res = run_as.run(pg_ctl)
    if res.returncode != 0:
        tail = logfile.read_text().strip().splitlines()[-3:] if logfile.exists() else []
        raise ServiceError(f"PostgreSQL did not start: {res.stderr.strip()} {' | '.join(tail)}")
    ensure_database(port)
    return {
        "port": port,
        "datadir": str(datadir),
        "bindir": str(bindir),
        "user": run_as.name,
        "url": _pg_url(port),  # the owner: migrations, seed data, the run history (config.store_url)
        "check_url": _pg_url(port, user=roles.CHECK_USER),  # what the checks use (config.database_url)
        "log": str(logfile),
        "backup_dir": str(backup_dir),
    }


def _drop_stale_pidfile(datadir: Path) -> None:
    """Remove ``postmaster.pid`` of a crashed postmaster. PostgreSQL removes a stale one itself,
    unless the dead postmaster is a zombie that nobody reaps (a container whose init does not):
    its pid still answers ``kill -0`` and the new server would refuse to start."""
    pidfile = datadir / "postmaster.pid"
    try:
        pid = int(pidfile.read_text().splitlines()[0])
    except (OSError, ValueError, IndexError):
        return
    if not pid_alive(pid):
        pidfile.unlink(missing_ok=True)


def ensure_database(port: int) -> None:
    import psycopg2

    deadline = time.monotonic() + 30
    while True:
        try:
            conn = psycopg2.connect(host="127.0.0.1", port=port, user=DB_USER, dbname="postgres")
            break
        except psycopg2.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    conn.autocommit = True
    with conn.cursor() as cur:
        roles.ensure_check_role(cur)  # the read-only role the checks connect as
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DB_NAME,))
        if cur.fetchone() is None:
            cur.execute(f'CREATE DATABASE "{DB_NAME}"')
    conn.close()
    for db in ("template1", DB_NAME):  # databases created later are copies of template1
        conn = psycopg2.connect(host="127.0.0.1", port=port, user=DB_USER, dbname=db)
        conn.autocommit = True
        with conn.cursor() as cur:
            roles.grant_reading(cur, DB_USER)
        conn.close()


def _stop_postgres(entry: dict) -> None:
    run_as = RunAs.for_postgres()
    res = run_as.run([entry["bindir"] + "/pg_ctl", "-D", entry["datadir"], "-m", "fast", "-w", "-t", "60", "stop"])
    if res.returncode != 0 and _pg_running(entry):
        raise ServiceError(f"PostgreSQL did not stop: {res.stderr.strip()}")


# ---------------------------------------------------------------------------------------------
# redis-server


def _redis_running(entry: dict) -> bool:
    try:
        pid = int(Path(entry["pidfile"]).read_text().strip())
    except (OSError, ValueError):
        return False
    return pid_alive(pid) and port_open(entry["port"])


def start_redis(state_dir: Path, entry: dict | None, log) -> dict:
    binary = redis_binary()
    rdir = state_dir / "redis"
    rdir.mkdir(parents=True, exist_ok=True)
    port = entry["port"] if entry and not port_open(entry["port"]) else free_port()
    pidfile = rdir / "redis.pid"
    logfile = rdir / "redis.log"
    log(f"redis-server on 127.0.0.1:{port}")
    res = subprocess.run(
        [
            binary,
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--dir",
            str(rdir),
            "--daemonize",
            "yes",
            "--pidfile",
            str(pidfile),
            "--logfile",
            str(logfile),
            "--appendonly",
            "yes",
            "--appendfsync",
            "everysec",
            "--save",
            "",
            "--protected-mode",
            "yes",
        ],
        capture_output=True,
        text=True,
    )
    deadline = time.monotonic() + 20
    while not port_open(port):
        if res.returncode != 0 or time.monotonic() > deadline:
            tail = logfile.read_text().strip().splitlines()[-3:] if logfile.exists() else []
            raise ServiceError(f"redis-server did not start: {res.stderr.strip()} {' | '.join(tail)}")
        time.sleep(0.05)
    _wait_until_loaded(f"redis://127.0.0.1:{port}/0", deadline=time.monotonic() + 120)
    return {
        "port": port,
        "pidfile": str(pidfile),
        "dir": str(rdir),
        "url": f"redis://127.0.0.1:{port}/0",
        "log": str(logfile),
    }


def _wait_until_loaded(url: str, *, deadline: float) -> None:
    """A restarted redis-server listens before it has replayed its AOF and answers LOADING until
    then: wait for a PING, so that what up() returns is usable (a large AOF takes seconds)."""
    import redis

    client = redis.Redis.from_url(url, socket_timeout=5)
    try:
        while True:
            try:
                client.ping()
                return
            except redis.BusyLoadingError:
                if time.monotonic() > deadline:
                    raise ServiceError(f"redis-server at {url} still loading its AOF after 120 s") from None
                time.sleep(0.05)
    finally:
        client.close()


def stop_redis(entry: dict) -> None:
    try:
        pid = int(Path(entry["pidfile"]).read_text().strip())
    except (OSError, ValueError):
        return
    try:
        os.kill(pid, signal.SIGTERM)  # redis flushes its AOF and exits on SIGTERM
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 20
    while pid_alive(pid):
        if time.monotonic() > deadline:
            raise ServiceError(f"redis-server (pid {pid}) did not stop")
        time.sleep(0.05)


# ---------------------------------------------------------------------------------------------
# the three commands


_LOOPBACK = {"127.0.0.1", "localhost", "::1"}
_SERVICES = {  # name: (environment variable, default port, running check, start)
    "postgres": ("DATABASE_URL", 5432, lambda e: _pg_running(e), lambda *a: _start_postgres(*a)),
    "redis": ("REDIS_URL", 6379, lambda e: _redis_running(e), lambda *a: start_redis(*a)),
}


def _host_port(url: str, default_port: int) -> tuple[str, int] | None:
    """``(host, port)`` a URL points at; None when it does not parse."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        return (parts.hostname or "localhost").lower(), parts.port or default_port
    except ValueError:
        return None


def is_ours(url: str, name: str, entry: dict | None) -> bool:
    """Whether ``url`` points at the embedded server recorded in ``entry`` (loopback, its port)."""
    if not entry:
        return False
    where = _host_port(url, _SERVICES[name][1])
    return where is not None and where[0] in _LOOPBACK and where[1] == entry["port"]


def _answers(url: str, name: str) -> bool:
    """Whether something accepts TCP connections where ``url`` points (an external server)."""
    where = _host_port(url, _SERVICES[name][1])
    if where is None:
        return False
    try:
        with socket.create_connection(where, timeout=1):
            return True
    except OSError:
        return False


def up(state_dir: Path, *, postgres: bool = True, redis: bool = True, log=lambda msg: None) -> dict:
    """Start our servers that are not running (also when their URLs are exported); leave alone a
    server whose exported URL points elsewhere. Returns the state."""
    state_dir = Path(state_dir).resolve()
    state = read_state(state_dir)
    for name, wanted in (("postgres", postgres), ("redis", redis)):
        env, _port, running, start = _SERVICES[name]
        if not wanted:
            continue
        entry, url = state.get(name), os.environ.get(env)
        if url and not is_ours(url, name, entry):
            log(f"{name}: external ({env} points at no server started here); not started")
            continue
        if entry and running(entry):
            continue
        if entry:
            log(f"{name}: not running; starting it again")
        state[name] = start(state_dir, entry, log)
        _write_state(state_dir, state)
        if url and state[name]["port"] != entry["port"]:
            log(
                f"{name}: port {entry['port']} is taken; it now runs on {state[name]['port']}: "
                f"export {env}={state[name]['url']}"
            )
    return state


def down(state_dir: Path, *, purge: bool = False, log=lambda msg: None) -> list[str]:
    """Stop what ``up`` started (and only that); ``purge`` also deletes the data. Returns what stopped."""
    state_dir = Path(state_dir)
    state = read_state(state_dir)
    stopped = []
    if "postgres" in state:
        if _pg_running(state["postgres"]):
            _stop_postgres(state["postgres"])
            stopped.append("postgres")
        if purge:
            base = Path(state["postgres"]["datadir"]).parent
            shutil.rmtree(base.parent if base.parent.name.startswith("ytdq-") else base, ignore_errors=True)
    if "redis" in state:
        if _redis_running(state["redis"]):
            stop_redis(state["redis"])
            stopped.append("redis")
        if purge:
            shutil.rmtree(state["redis"]["dir"], ignore_errors=True)
    if purge:
        (state_dir / STATE_FILE).unlink(missing_ok=True)
    for name in stopped:
        log(f"stopped {name}")
    return stopped


def status(state_dir: Path) -> dict[str, dict]:
    """For each service: its URL, ``source`` (``embedded``: started here, whether or not its URL is
    exported; ``external (ENV)``: the exported URL points elsewhere) and whether it runs (for an
    external one: whether it accepts connections)."""
    state = read_state(Path(state_dir))
    out = {}
    for name, (env, _port, running, _start) in _SERVICES.items():
        entry, url = state.get(name), os.environ.get(env)
        if url and not is_ours(url, name, entry):
            out[name] = {"source": f"external ({env})", "url": url, "running": _answers(url, name)}
        elif entry:
            out[name] = {"source": "embedded", "url": entry["url"], "running": running(entry)}
        else:
            out[name] = {"source": "embedded", "url": None, "running": False}
    return out
