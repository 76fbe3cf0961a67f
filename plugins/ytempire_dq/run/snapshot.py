"""One database snapshot per run: every rule of a run sees the same PostgreSQL instant.

A run reads PostgreSQL over many connections: GX's execution engine (one pooled connection per
query, each its own transaction), the data source engine the fast path reads the catalog with,
and the cache rules' own psycopg2 connections. Without a shared snapshot, a table rule and a
cross-table rule can disagree because the application wrote in between.

How: :func:`take` opens ONE ``REPEATABLE READ, READ ONLY`` transaction on a connection of its own
(the *exporter*), exports its snapshot (``pg_export_snapshot()``) and keeps the transaction open
for the whole run (an exported snapshot lives only as long as it). Every transaction the run
opens imports it first (``SET TRANSACTION ISOLATION LEVEL REPEATABLE READ; SET TRANSACTION
SNAPSHOT '<id>'``):

- **GX's engines**: :func:`attach_engine` puts a SQLAlchemy ``begin`` listener on the data
  source's engines of a validation definition (:func:`definition_engines`) (the run path, ``checkpoints._validate``, calls it
  for every definition, so the sequential and the concurrent runner and ``YTDQ_FAST=0`` are covered).
  The listener runs when SQLAlchemy begins a transaction, before GX's first statement in it.
- **our psycopg2 connections** (cache rules' lookups, the history's quarantine query) call
  :func:`import_into` at the start of their transaction.

Why import per transaction and not one pinned connection for the whole run: a failing rule
(``statement_timeout``, an analyst's SQL error) aborts its transaction; on one pinned transaction
every later rule would fail with "current transaction is aborted". Imported snapshots keep one
rule's failure its own. A snapshot that cannot be imported (the exporter's connection lost) makes
the rules that needed it errors, i.e. exit 2, never a result from another instant.

The exporter sets ``idle_in_transaction_session_timeout = 0`` for its session: it sits idle in
its transaction while the rules run, and a server-wide timeout must not end the run's snapshot.
Holding a snapshot holds back vacuum's horizon for the run's duration, as one long query would.

The active snapshot is process-wide state keyed by the database (host, port, name), set for the
duration of :func:`take`; one run at a time per database and process.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

_lock = threading.Lock()
_active: dict[tuple, list["Snapshot"]] = {}


@dataclass(frozen=True)
class Snapshot:
    """An exported snapshot: ``id`` for ``SET TRANSACTION SNAPSHOT``, the server's time it was
    taken (``statement_timestamp()`` of the exporting statement) and its ``pg_current_snapshot()``
    (``xmin:xmax:xip``: which transactions the run saw, for audits)."""

    id: str
    taken_at: dt.datetime
    txids: str

    def to_dict(self) -> dict:
        return {"id": self.id, "taken_at": self.taken_at.isoformat(), "txids": self.txids}


def _key(url: Any) -> tuple:
    from sqlalchemy.engine import make_url

    parsed = make_url(url) if isinstance(url, str) else url
    return (parsed.host or "", parsed.port or 5432, parsed.database or "")


def active(url: Any) -> Snapshot | None:
    """The snapshot of the run reading the database of ``url`` (a URL string or SQLAlchemy URL)."""
    with _lock:
        stack = _active.get(_key(url))
        return stack[-1] if stack else None


@contextlib.contextmanager
def take(url: str) -> Iterator[Snapshot]:
    """Export one REPEATABLE READ, READ ONLY snapshot of the database at ``url`` and make it the
    active one for that database until the block ends (then the exporter's transaction ends)."""
    from ytempire_dq.db.connect import connect

    conn = connect(url, connect_timeout=5)
    try:
        conn.set_session(isolation_level="REPEATABLE READ", readonly=True)
        with conn.cursor() as cur:
            cur.execute("SET idle_in_transaction_session_timeout = 0")  # before the snapshot's transaction
            conn.commit()
            cur.execute("SELECT pg_export_snapshot(), statement_timestamp(), pg_current_snapshot()::text")
            snap_id, taken_at, txids = cur.fetchone()
        snap = Snapshot(id=snap_id, taken_at=taken_at, txids=txids)
        key = _key(url)
        with _lock:
            _active.setdefault(key, []).append(snap)
        log.info("run snapshot %s taken at %s (%s)", snap.id, snap.taken_at.isoformat(), snap.txids)
        try:
            yield snap
        finally:
            with _lock:
                _active[key].remove(snap)
                if not _active[key]:
                    del _active[key]
    finally:
        with contextlib.suppress(Exception):
            conn.rollback()
        conn.close()


def import_sql(snap: Snapshot) -> str:
    """The statements that put a transaction, before its first query, on ``snap``."""
    quoted = snap.id.replace("'", "''")  # an id is hex and dashes; quoted all the same
    return f"SET TRANSACTION ISOLATION LEVEL REPEATABLE READ; SET TRANSACTION SNAPSHOT '{quoted}'"


def import_into(conn: Any, url: Any) -> Snapshot | None:
    """Start ``conn``'s transaction (psycopg2, not autocommit) on the active snapshot of ``url``'s
    database, if a run holds one; call before anything else runs in the transaction. Works for a
    read-write transaction too (the history's quarantine rows are read at the run's instant)."""
    snap = active(url)
    if snap is not None:
        with conn.cursor() as cur:
            cur.execute(import_sql(snap))
    return snap


def _on_begin(conn: Any) -> None:
    """SQLAlchemy ``begin`` listener: import the run's snapshot, if any, into the new transaction."""
    snap = active(conn.engine.url)
    if snap is None:
        return
    cursor = conn.connection.dbapi_connection.cursor()  # psycopg2 issues BEGIN with this first statement
    try:
        cursor.execute(import_sql(snap))
    finally:
        cursor.close()


def attach_engine(engine: Any) -> None:
    """Make every transaction of ``engine`` (a PostgreSQL SQLAlchemy engine) start on the active
    snapshot of its database while a run holds one (idempotent; harmless outside runs)."""
    import sqlalchemy as sa

    if engine is None or engine.dialect.name != "postgresql":
        return
    if not sa.event.contains(engine, "begin", _on_begin):
        sa.event.listen(engine, "begin", _on_begin)


def definition_engines(vd: Any) -> list:
    """The SQLAlchemy engines a validation definition's SQL data source reads with: the data
    source's own (the fast path's catalog query) and its execution engine's (GX's rules); none
    for a dataframe asset (the Redis cache: its PostgreSQL lookups import the snapshot themselves)."""
    try:
        asset = vd.data.data_asset if hasattr(vd.data, "data_asset") else vd.asset
        datasource = asset.datasource
    except Exception:  # noqa: BLE001 - not a data-source-backed definition: no engine
        return []
    if getattr(datasource, "get_engine", None) is None:
        return []
    engines = [datasource.get_engine(), getattr(datasource.get_execution_engine(), "engine", None)]
    return [e for e in dict.fromkeys(engines) if e is not None]
