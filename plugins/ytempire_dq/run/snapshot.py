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

- **GX's engines**: :func:`attach_engine` puts a SQLAlchemy ``begin`` listener for the run's
  snapshot on the data source's engines of a validation definition (:func:`definition_engines`)
  (the run path, ``Run.attach`` in ``run.checkpoint._validate``, does it for every definition, so
  the sequential and the concurrent runner and ``YTDQ_FAST=0`` are covered) and on the history's
  engines; the listener runs when SQLAlchemy begins a transaction, before GX's first statement in
  it, and is removed when the run ends.
- **our psycopg2 connections** (the watermarks' query, the cache rules' lookups: the run's
  snapshot travels with the Redis batch, :func:`for_batch`) call :func:`import_into` at the start
  of their transaction.

Why import per transaction and not one pinned connection for the whole run: a failing rule
(``statement_timeout``, an analyst's SQL error) aborts its transaction; on one pinned transaction
every later rule would fail with "current transaction is aborted". Imported snapshots keep one
rule's failure its own. A snapshot that cannot be imported (the exporter's connection lost) makes
the rules that needed it errors, i.e. exit 2, never a result from another instant.

The exporter sets ``idle_in_transaction_session_timeout = 0`` for its session: it sits idle in
its transaction while the rules run, and a server-wide timeout must not end the run's snapshot.
Holding a snapshot holds back vacuum's horizon for the run's duration, as one long query would.

On a hot standby the same works (PostgreSQL exports and imports snapshots there), with one
difference: when replay removes row versions the snapshot still sees (the primary vacuumed them),
a recovery conflict cancels the running rule and terminates the exporter's idle transaction, and
the snapshot can no longer be imported. :mod:`ytempire_dq.run.standby` retries such rules once on a
new snapshot for the rest of the run (``Run.renew_snapshot``); on a primary a lost snapshot stays
an error. Each snapshot also says when its data is as of (:data:`AS_OF_SQL`); every transaction
that imports it carries that time in :data:`AS_OF_SETTING` for the rules that judge age.

The snapshot is the run's (``Run.snapshot``, :mod:`ytempire_dq.run.state`), never process-wide
state: two runs in one process each import their own.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Snapshot:
    """An exported snapshot: ``id`` for ``SET TRANSACTION SNAPSHOT``, the server's time it was
    taken (``statement_timestamp()`` of the exporting statement) and its ``pg_current_snapshot()``
    (``xmin:xmax:xip``: which transactions the run saw, for audits)."""

    id: str
    taken_at: dt.datetime
    txids: str
    #: The time the data is as of (:data:`AS_OF_SQL`): ``taken_at`` on a primary; on a standby the
    #: replay position's time. None when a standby cannot tell (nothing replayed since it started).
    as_of: dt.datetime | None = None
    #: Seconds the standby's data is behind (``now() - as_of``); None on a primary (or unknown).
    replica_lag_seconds: float | None = None
    standby: bool = False  # taken on a hot standby (``pg_is_in_recovery()``)

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "taken_at": self.taken_at.isoformat(),
            "txids": self.txids,
            "as_of": self.as_of.isoformat() if self.as_of else None,
            "replica_lag_seconds": self.replica_lag_seconds,
            "standby": self.standby,
        }


#: When the data a snapshot sees is as of. A primary: now. A standby that streams and has replayed
#: all it received: now too (``pg_last_xact_replay_timestamp()`` is the last replayed COMMIT's
#: time, old on an idle primary even when caught up). Else the last replayed commit's time. A role
#: without ``pg_read_all_stats`` sees ``status`` NULL: a WAL receiver process (its ``pid``) then
#: stands for streaming. "Now" is the exporting statement's time (``Snapshot.taken_at``).
AS_OF_SQL = """
SELECT r.in_recovery,
       CASE WHEN NOT r.in_recovery THEN statement_timestamp()
            WHEN w.pid IS NOT NULL AND coalesce(w.status, 'streaming') = 'streaming'
                 AND pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN statement_timestamp()
            ELSE pg_last_xact_replay_timestamp() END AS as_of,
       statement_timestamp() AS server_now
FROM (SELECT pg_is_in_recovery() AS in_recovery) r
LEFT JOIN (SELECT pid, status FROM pg_stat_wal_receiver) w ON true
"""


@contextlib.contextmanager
def take(url: str) -> Iterator[Snapshot]:
    """Export one REPEATABLE READ, READ ONLY snapshot of the database at ``url``, held until the
    block ends (then the exporter's transaction ends)."""
    from ytempire_dq.db.connect import connect

    conn = connect(url, connect_timeout=5)
    try:
        conn.set_session(isolation_level="REPEATABLE READ", readonly=True)
        with conn.cursor() as cur:
            cur.execute("SET idle_in_transaction_session_timeout = 0")  # before the snapshot's transaction
            conn.commit()
            cur.execute(
                "SELECT pg_export_snapshot(), statement_timestamp(), pg_current_snapshot()::text, a.*"
                f" FROM ({AS_OF_SQL}) a"
            )
            snap_id, taken_at, txids, in_recovery, as_of, now = cur.fetchone()
        lag = max(0.0, (now - as_of).total_seconds()) if in_recovery and as_of is not None else None
        snap = Snapshot(snap_id, taken_at, txids, as_of=as_of, replica_lag_seconds=lag, standby=bool(in_recovery))
        log.info("run snapshot %s taken at %s (%s), data as of %s", snap.id, taken_at.isoformat(), txids, as_of)
        yield snap
    finally:
        with contextlib.suppress(Exception):
            conn.rollback()
        conn.close()


#: The transaction setting that carries the run's "as of" time to the rules that judge age
#: (``expect_column_newest_value_to_be_recent``): what GX alone and the fast path both read.
AS_OF_SETTING = "ytdq.as_of"


def import_sql(snap: Snapshot) -> str:
    """The statements that put a transaction, before its first query, on ``snap`` (and its "as of"
    time in :data:`AS_OF_SETTING`, when known)."""
    quoted = snap.id.replace("'", "''")  # an id is hex and dashes; quoted all the same
    sql = f"SET TRANSACTION ISOLATION LEVEL REPEATABLE READ; SET TRANSACTION SNAPSHOT '{quoted}'"
    if snap.as_of is not None:
        sql += f"; SET LOCAL {AS_OF_SETTING} = '{snap.as_of.isoformat()}'"
    return sql


def as_of_clock() -> Any:
    """The SQL (SQLAlchemy) of the time the data is as of, as a ``timestamptz``: the run's
    (:data:`AS_OF_SETTING`), else ``now()`` (outside a run)."""
    import sqlalchemy as sa

    from ytempire_dq.store.run_store import running_as_of

    setting = sa.func.nullif(sa.func.current_setting(AS_OF_SETTING, sa.true()), "")
    known = running_as_of()  # the run's, where a transaction did not carry the setting
    fallback = sa.cast(sa.literal(known.isoformat()), sa.TIMESTAMP(timezone=True)) if known else sa.func.now()
    return sa.func.coalesce(sa.cast(setting, sa.TIMESTAMP(timezone=True)), fallback)


def importable(url: str, snap: Snapshot) -> bool:
    """Whether a new transaction on ``url`` can still import ``snap`` (on a standby a recovery
    conflict ends the exporter's idle transaction, and the snapshot with it)."""
    import psycopg2

    from ytempire_dq.db.connect import connect

    conn = connect(url, connect_timeout=5)
    try:
        with conn.cursor() as cur:
            cur.execute(import_sql(snap))
        return True
    except psycopg2.Error:
        return False
    finally:
        with contextlib.suppress(Exception):
            conn.rollback()
        conn.close()


def import_into(conn: Any, snap: Snapshot | None) -> Snapshot | None:
    """Start ``conn``'s transaction (psycopg2, not autocommit) on ``snap``, the run's snapshot (None:
    outside a run, nothing to import); call before anything else runs in the transaction."""
    if snap is not None:
        with conn.cursor() as cur:
            cur.execute(import_sql(snap))
    return snap


def attach_engine(engine: Any, snap: Snapshot | Callable[[], Snapshot]) -> Callable[[], None]:
    """Make every transaction of ``engine`` (a PostgreSQL SQLAlchemy engine) start on ``snap`` (or
    on what ``snap()`` gives when the transaction begins: the run's current snapshot) until the
    returned function is called (it removes the listener; a no-op for another dialect)."""
    import sqlalchemy as sa

    if engine is None or engine.dialect.name != "postgresql":
        return lambda: None
    current = snap if callable(snap) else (lambda: snap)

    def on_begin(conn: Any) -> None:
        cursor = conn.connection.dbapi_connection.cursor()  # psycopg2 issues BEGIN with this first statement
        try:
            cursor.execute(import_sql(current()))
        finally:
            cursor.close()

    sa.event.listen(engine, "begin", on_begin)

    def detach() -> None:
        if sa.event.contains(engine, "begin", on_begin):
            sa.event.remove(engine, "begin", on_begin)

    return detach


@contextlib.contextmanager
def attached(engine: Any, snap: Snapshot) -> Iterator[None]:
    """:func:`attach_engine` for the duration of the block."""
    detach = attach_engine(engine, snap)
    try:
        yield
    finally:
        detach()


#: The key of the run's snapshot in the cache batch's ``attrs`` (a pandas DataFrame's metadata).
BATCH_ATTR = "ytdq_snapshot"


def for_batch(frame: Any, snap: Snapshot | None) -> Any:
    """``frame`` (a pandas DataFrame handed to GX as a batch) carrying ``snap``: the cross-store
    rules' PostgreSQL lookups on it read the run's instant (:func:`of_batch`)."""
    if snap is not None:
        frame.attrs[BATCH_ATTR] = snap
    return frame


def of_batch(frame: Any) -> Snapshot | None:
    """The run's snapshot a batch carries (:func:`for_batch`); None outside a run."""
    snap = getattr(frame, "attrs", {}).get(BATCH_ATTR)
    return snap if isinstance(snap, Snapshot) else None


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
