"""Production topologies for the tests: a cluster of the test's own, a streaming replica of it
(``pg_basebackup -R``, ``hot_standby=on``), a second cluster to serve as the results store, and a
role that can only read.

The clusters are started with the same code as ``ytdq services up`` (as root, PostgreSQL runs as an
unprivileged user: :class:`ytempire_dq.ops.server_processes.RunAs`), without WAL archiving; the
replica is made from the primary with ``pg_basebackup -R -X stream`` into a directory that user can
reach, and :func:`wait_replayed` waits until it has replayed what the primary wrote. The fixtures
that use these live in ``tests/conftest.py`` (``primary_cluster``, ``standby``, ``store_cluster``).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from tests.helpers import module_environ
from ytempire_dq.db.connect import connect, with_database
from ytempire_dq.ops import services
from ytempire_dq.ops.server_processes import RunAs, ServiceError, free_port

#: The password the SELECT-only role's URL carries (the clusters trust loopback: only masking is tested).
ROLE_PASSWORD = "s3cret-ro"


@dataclass
class Cluster:
    """A running PostgreSQL cluster: where it lives and its owner's URL (database ``ytempire``)."""

    port: int
    datadir: Path
    bindir: Path
    url: str
    log: Path
    state_dir: Path | None = None  # started by services.up (None: a replica started here)

    def database_url(
        self, database: str = services.DB_NAME, *, user: str | None = None, password: str | None = None
    ) -> str:
        url = make_url(with_database(self.url, database))
        if user:
            url = url.set(username=user, password=password)
        return url.render_as_string(hide_password=False)


def start_cluster(state_dir: Path, **env: str) -> Cluster:
    """A new cluster (``services.up`` in ``state_dir``, no Redis, no WAL archive); ``env``: extra
    environment of its server processes (e.g. libfaketime's ``LD_PRELOAD``)."""
    with contextmanager(module_environ)(YTDQ_WAL_ARCHIVE="off", **env):  # what the servers inherit
        outside = {name: os.environ.pop(name) for name in ("DATABASE_URL", "REDIS_URL") if name in os.environ}
        try:  # an external URL in the environment would make services.up leave its server out
            pg = services.up(Path(state_dir), redis=False)["postgres"]
        finally:
            os.environ.update(outside)
    return Cluster(
        port=pg["port"],
        datadir=Path(pg["datadir"]),
        bindir=Path(pg["bindir"]),
        url=pg["url"],
        log=Path(pg["log"]),
        state_dir=Path(state_dir),
    )


def start_replica(primary: Cluster, **settings: str) -> Cluster:
    """A hot standby streaming from ``primary`` (``pg_basebackup -R``), readable once it returns;
    ``settings``: more server settings (e.g. ``hot_standby_feedback="on"``)."""
    run_as = RunAs.for_postgres()
    base = Path(tempfile.mkdtemp(prefix="ytdq-replica-", dir="/var/tmp"))
    base.chmod(0o755)
    run_as.own(base)
    datadir, logfile, port = base / "data", base / "server.log", free_port()
    user = make_url(primary.url).username
    res = run_as.run(
        [str(primary.bindir / "pg_basebackup"), "-h", "127.0.0.1", "-p", str(primary.port), "-U", user]
        + ["-D", str(datadir), "-R", "-X", "stream", "-c", "fast", "--no-sync"],
        timeout=3600,  # a benchmark cluster of 100M rows takes minutes to copy
    )
    if res.returncode != 0:
        shutil.rmtree(base, ignore_errors=True)
        raise ServiceError(f"pg_basebackup failed: {res.stderr.strip()}")
    opts = (
        f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories='' -c hot_standby=on "
        "-c archive_mode=off -c fsync=off -c max_connections=200"
    ) + "".join(f" -c {name}={value}" for name, value in settings.items())
    pg_ctl = [str(primary.bindir / "pg_ctl"), "-D", str(datadir), "-l", str(logfile), "-o", opts, "-w", "-t", "60"]
    res = run_as.run([*pg_ctl, "start"], timeout=120)
    if res.returncode != 0:
        tail = [line for line in logfile.read_text().splitlines() if "FATAL" in line] if logfile.exists() else []
        shutil.rmtree(base, ignore_errors=True)
        raise ServiceError(f"the replica did not start: {res.stderr.strip()} {' | '.join(tail)}")
    url = make_url(primary.url).set(port=port).render_as_string(hide_password=False)
    replica = Cluster(port=port, datadir=datadir, bindir=primary.bindir, url=url, log=logfile)
    wait_replayed(primary, replica)
    return replica


def wait_replayed(primary: Cluster, replica: Cluster, timeout: float = 60) -> None:
    """Wait until ``replica`` has replayed everything ``primary`` has written so far.

    The target is the primary's WAL *insert* position: its clusters run ``synchronous_commit=off``,
    so a commit just made may not be written yet, and the write position (``pg_current_wal_lsn``)
    can stop short of it -- the wait then returned before the commit reached the replica."""
    conn = connect(primary.url, autocommit=True)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT pg_current_wal_insert_lsn()::text")
            lsn = cur.fetchone()[0]
    finally:
        conn.close()
    deadline = time.monotonic() + timeout
    while True:
        state = _replay_state(replica, lsn)
        if state == (True, True):
            return
        if state is not None and not state[0]:
            raise ServiceError(f"the cluster on port {replica.port} is not in recovery: not a replica")
        if time.monotonic() > deadline:
            raise ServiceError(f"the replica on port {replica.port} did not replay up to {lsn} in {timeout} s")
        time.sleep(0.2)


def _replay_state(replica: Cluster, lsn: str) -> tuple[bool, bool] | None:
    """(in recovery, replayed up to ``lsn``); None while it does not accept connections."""
    try:
        conn = connect(replica.url, autocommit=True)
    except Exception:  # noqa: BLE001 - not accepting connections yet
        return None
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT pg_is_in_recovery(), coalesce(pg_last_wal_replay_lsn() >= %s::pg_lsn, false)", (lsn,))
            return tuple(cur.fetchone())
    finally:
        conn.close()


def stop_cluster(cluster: Cluster) -> None:
    """Stop ``cluster`` and remove its files."""
    if cluster.state_dir is not None:
        services.down(cluster.state_dir, purge=True)
        return
    RunAs.for_postgres().run(
        [str(cluster.bindir / "pg_ctl"), "-D", str(cluster.datadir), "-m", "immediate", "-w", "-t", "60", "stop"],
        timeout=120,
    )
    shutil.rmtree(cluster.datadir.parent, ignore_errors=True)


def create_select_only_role(owner_url: str, role: str, password: str = ROLE_PASSWORD) -> str:
    """``role`` (LOGIN, no power) that may read every table of ``owner_url``'s database and write
    nothing (``GRANT USAGE ON SCHEMA public, dq`` + ``SELECT ON ALL TABLES``); its URL there."""
    conn = connect(owner_url, autocommit=True)
    try:
        with conn.cursor() as cur:
            cur.execute(f'DROP ROLE IF EXISTS "{role}"')
            cur.execute(f"CREATE ROLE \"{role}\" LOGIN PASSWORD '{password}'")
            cur.execute(f'GRANT USAGE ON SCHEMA public, dq TO "{role}"')
            cur.execute(f'GRANT SELECT ON ALL TABLES IN SCHEMA public, dq TO "{role}"')
    finally:
        conn.close()
    return make_url(owner_url).set(username=role, password=password).render_as_string(hide_password=False)


def drop_role(owner_url: str, role: str) -> None:
    conn = connect(owner_url, autocommit=True)
    try:
        with conn.cursor() as cur:
            cur.execute(f'DROP OWNED BY "{role}"')
            cur.execute(f'DROP ROLE "{role}"')
    finally:
        conn.close()
