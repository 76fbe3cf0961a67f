"""Embedded PostgreSQL and redis-server for development, the demo and the tests.

``up`` starts a PostgreSQL cluster (initdb + pg_ctl from the machine's PostgreSQL) and a
redis-server (AOF on, ``appendfsync everysec``) on free loopback ports, under a state directory
(``.ytdq/`` in the project by default), and records what it started in ``services.json``. As
root, PostgreSQL refuses to run, so the cluster runs as an unprivileged user (``postgres`` when it
exists, else ``nobody``), archiving its WAL into a backup folder (``walarchive``; ``ytdq backup``).
``down`` stops only ours; re-running ``up`` is harmless.

A server is *ours* when the state file records it, or when it runs on a data directory of the state
dir (found from its own pid file when ``services.json`` is lost or stale: ``up`` records it again,
``down`` stops it, ``status`` reports it); ``up`` (re)starts ours when they are down --
after a crash too, and also when their URLs are exported (``DATABASE_URL`` / ``REDIS_URL``), as
``up`` tells the user to do. A URL is *external* only when it points somewhere else than the
recorded server (another host or port): that server is never started or stopped here, and
``status`` reports whether it answers.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from ytempire_dq.config import CHECK_USER, SERVICES_FILE, host_port, is_embedded, read_services
from ytempire_dq.db import roles
from ytempire_dq.ops.server_processes import (
    RunAs,
    ServiceError,
    cmdline,
    free_port,
    pg_bindir,
    pg_dir,
    pg_dirs,
    pid_alive,
    port_open,
    redis_binary,
)
from ytempire_dq.ops.walarchive import archive_dir, prepare_archive  # WAL archiving for `ytdq backup` / `ytdq restore`

DB_NAME = "ytempire"
DB_USER = "ytdq"


# ---------------------------------------------------------------------------------------------
# state file


def _write_state(state_dir: Path, state: dict) -> None:
    path = Path(state_dir) / SERVICES_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=2, sort_keys=True))
    tmp.replace(path)


# ---------------------------------------------------------------------------------------------
# PostgreSQL


def _pg_url(port: int, db: str = DB_NAME, user: str = DB_USER) -> str:
    return f"postgresql+psycopg2://{user}@127.0.0.1:{port}/{db}"


def _pg_running(entry: dict) -> bool:
    return _postmaster(Path(entry["datadir"])) is not None


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
        "check_url": _pg_url(port, user=CHECK_USER),  # what the checks use (config.database_url)
        "log": str(logfile),
        "backup_dir": str(backup_dir),
    }


def _drop_stale_pidfile(datadir: Path) -> None:
    """Remove ``postmaster.pid`` of a crashed postmaster. PostgreSQL removes a stale one itself,
    unless the dead postmaster is a zombie that nobody reaps (a container whose init does not), or
    its pid belongs to another process by now: that pid answers ``kill -0`` and the new server
    would refuse to start. (A live pid whose command line cannot be read is left alone.)"""
    pidfile = datadir / "postmaster.pid"
    try:
        pid = int(pidfile.read_text().splitlines()[0])
    except (OSError, ValueError, IndexError):
        return
    argv = cmdline(pid)
    if not pid_alive(pid) or (argv and not _is_postmaster(argv, datadir)):
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
    return _redis_entry(rdir, port)


def _redis_entry(rdir: Path, port: int) -> dict:
    return {
        "port": port,
        "pidfile": str(rdir / "redis.pid"),
        "dir": str(rdir),
        "url": f"redis://127.0.0.1:{port}/0",
        "log": str(rdir / "redis.log"),
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
# finding our servers from their own files
#
# A server's data directory says where it is; services.json only records what ran there last
# (it may be deleted, or stale). A pid file can outlive its server and its pid be another
# process's now: a server is found only when that pid runs the right program on the right
# directory and its port answers.


def _same_path(a: str | Path, b: str | Path) -> bool:
    return os.path.realpath(a) == os.path.realpath(b)


def _postmaster(datadir: Path) -> dict | None:
    """The postmaster running on ``datadir``, read from its ``postmaster.pid`` (lines: pid, data
    dir, start time, port, socket dir, listen address, ...) and checked against the process's own
    command line (``postgres -D <datadir> ...``): ``{pid, port, bindir, wal_dir}``, else None."""
    try:
        lines = (datadir / "postmaster.pid").read_text().splitlines()
        pid, port = int(lines[0]), int(lines[3])
    except (OSError, ValueError, IndexError):
        return None
    argv = cmdline(pid)
    if not (pid_alive(pid) and _is_postmaster(argv, datadir) and _same_path(lines[1], datadir) and port_open(port)):
        return None
    archiving = [archive_dir(arg.split("=", 1)[1]) for arg in argv if arg.startswith("archive_command=")]
    return {"pid": pid, "port": port, "bindir": str(Path(argv[0]).parent), "wal_dir": next(iter(archiving), None)}


def _is_postmaster(argv: list[str], datadir: Path) -> bool:
    """Whether a command line is a postmaster's on ``datadir`` (``.../postgres -D <datadir> ...``)."""
    if not argv or Path(argv[0]).name != "postgres" or "-D" not in argv[:-1]:
        return False
    return _same_path(argv[argv.index("-D") + 1], datadir)


def _redis_server(rdir: Path) -> dict | None:
    """The redis-server of ``rdir``'s pid file: ``{pid, port}`` when that pid is a redis-server
    (its title names its address) and the server answering there reports this pid and this
    ``dir``; else None."""
    import redis

    try:
        pid = int((rdir / "redis.pid").read_text().strip())
    except (OSError, ValueError):
        return None
    title = " ".join(cmdline(pid)).split()
    address = re.fullmatch(r"127\.0\.0\.1:(\d+)", title[1]) if len(title) > 1 else None
    if not (address and Path(title[0]).name == "redis-server" and pid_alive(pid) and port_open(int(address[1]))):
        return None
    client = redis.Redis(host="127.0.0.1", port=int(address[1]), socket_timeout=3, decode_responses=True)
    try:
        answered = client.info("server").get("process_id"), client.config_get("dir").get("dir", "")
    except (redis.RedisError, OSError):
        return None
    finally:
        client.close()
    return {"pid": pid, "port": int(address[1])} if answered[0] == pid and _same_path(answered[1], rdir) else None


def _locate_postgres(state_dir: Path, entry: dict | None) -> tuple[dict | None, bool, Path | None]:
    """See :func:`_locate`. Unrecorded, the cluster is looked for where ``up`` creates one."""
    if entry:
        datadirs = [Path(entry["datadir"])]
    else:
        datadirs = [base / "data" for base in pg_dirs(state_dir) if (base / "data" / "PG_VERSION").exists()]
    for datadir in datadirs:
        found = _postmaster(datadir)
        if found and entry and found["port"] == entry["port"]:
            return entry, True, datadir
        if found:
            base, wal = datadir.parent, found["wal_dir"]
            recorded = entry or {}
            adopted = {
                **recorded,
                "port": found["port"],
                "datadir": str(datadir),
                "bindir": found["bindir"],
                "user": recorded.get("user") or RunAs.for_postgres().name,
                "url": _pg_url(found["port"]),
                "check_url": _pg_url(found["port"], user=CHECK_USER),
                "log": str(base / "server.log"),
                "backup_dir": str(wal.parent) if wal else recorded.get("backup_dir", str(base / "backups")),
            }
            return adopted, True, datadir
    return entry, False, (datadirs[0] if datadirs else None)


def _locate_redis(state_dir: Path, entry: dict | None) -> tuple[dict | None, bool, Path | None]:
    """See :func:`_locate`."""
    rdir = Path(entry["dir"]) if entry else state_dir / "redis"
    found = _redis_server(rdir)
    if found and entry and found["port"] == entry["port"]:
        return entry, True, rdir
    if found:
        return {**(entry or {}), **_redis_entry(rdir, found["port"])}, True, rdir
    return entry, False, (rdir if entry or rdir.is_dir() else None)


def _locate(state_dir: Path, name: str, entry: dict | None) -> tuple[dict | None, bool, Path | None]:
    """Our server ``name``: its entry (the recorded ``entry``, else -- or when it is stale -- built
    from what runs in its data directory), whether it runs, and its data directory (None: nothing
    of ours exists, so nothing is expected to run)."""
    locate = _locate_postgres if name == "postgres" else _locate_redis
    return locate(Path(state_dir), entry)


# ---------------------------------------------------------------------------------------------
# the three commands


_SERVICES = {  # name: (environment variable, default port, start, stop)
    "postgres": ("DATABASE_URL", 5432, lambda *a: _start_postgres(*a), lambda e: _stop_postgres(e)),
    "redis": ("REDIS_URL", 6379, lambda *a: start_redis(*a), lambda e: stop_redis(e)),
}


def _answers(url: str, name: str) -> bool:
    """Whether something accepts TCP connections where ``url`` points (an external server)."""
    where = host_port(url, _SERVICES[name][1])
    if where is None:
        return False
    try:
        with socket.create_connection(where, timeout=1):
            return True
    except OSError:
        return False


def up(state_dir: Path, *, postgres: bool = True, redis: bool = True, log=lambda msg: None) -> dict:
    """Start our servers that are not running (also when their URLs are exported); leave alone a
    server whose exported URL points elsewhere; record again one that runs but is not (or wrongly)
    recorded. Returns the state."""
    state_dir = Path(state_dir).resolve()
    state = read_services(state_dir)
    for name, wanted in (("postgres", postgres), ("redis", redis)):
        env, _port, start, _stop = _SERVICES[name]
        if not wanted:
            continue
        recorded, url = state.get(name), os.environ.get(env)
        entry, running, _data = _locate(state_dir, name, recorded)
        if url and not is_embedded(url, name, entry):
            log(f"{name}: external ({env} points at no server started here); not started")
            continue
        if running:
            if entry != recorded:
                log(f"{name}: already running on port {entry['port']}; recorded in {state_dir / SERVICES_FILE}")
                state[name] = entry
                _write_state(state_dir, state)
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
    """Stop our servers (those of the state dir's data directories, recorded or not, and nothing
    else); ``purge`` also deletes their data. Returns what stopped."""
    state_dir = Path(state_dir)
    state = read_services(state_dir)
    stopped = []
    for name, (_env, _port, _start, stop) in _SERVICES.items():
        entry, running, data = _locate(state_dir, name, state.get(name))
        if running:
            stop(entry)
            stopped.append(name)
        if purge and data and name == "postgres":
            base = data.parent
            shutil.rmtree(base.parent if base.parent.name.startswith("ytdq-") else base, ignore_errors=True)
        elif purge and data:
            shutil.rmtree(data, ignore_errors=True)
    if purge:
        (state_dir / SERVICES_FILE).unlink(missing_ok=True)
    for name in stopped:
        log(f"stopped {name}")
    return stopped


def status(state_dir: Path) -> dict[str, dict]:
    """For each service: its URL, ``source`` (``embedded``: ours, whether or not its URL is
    exported; ``external (ENV)``: the exported URL points elsewhere), whether it runs (for an
    external one: whether it accepts connections) and ``data``: an embedded one's data directory,
    None when none exists (nothing to run)."""
    state = read_services(Path(state_dir))
    out = {}
    for name, (env, *_rest) in _SERVICES.items():
        entry, running, data = _locate(state_dir, name, state.get(name))
        url = os.environ.get(env)
        if url and not is_embedded(url, name, entry):
            out[name] = {"source": f"external ({env})", "url": url, "running": _answers(url, name)}
        else:
            url = entry["url"] if entry else None
            out[name] = {"source": "embedded", "url": url, "running": running, "data": str(data) if data else None}
    return out
