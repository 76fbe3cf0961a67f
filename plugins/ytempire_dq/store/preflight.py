"""Pre-flight of the results store: before any rule runs, the run's history can be written there.

A run whose history cannot be written fails (exit 2, :mod:`ytempire_dq.store.history`); when the
store tells why before the run starts, the run does not start: one line naming the store (URL
masked), the reason and the fix. The reasons seen in production topologies:

- the store is a **hot standby** (``pg_is_in_recovery()``): the checks point at a read replica and,
  without ``YTDQ_STORE_URL``, the history would go to the checked database;
- the store's role may not **INSERT** into the ``dq`` tables (a SELECT-only role);
- the role's transactions are **read-only** (``default_transaction_read_only``);
- the store does not answer.

A store that never held a history (``YTDQ_STORE_URL``), or one from an older release, is migrated
here, under the migration lock (:func:`ytempire_dq.db.migrations.migrate_store`: the ``dq``
migrations only): pointing ``YTDQ_STORE_URL`` at an empty database is all a user does. The checked
database itself, never migrated, is not the run's to build: ``ytdq db migrate`` is. A role that may not create
the schema stops the run with that reason.

What the run writes there is :data:`WRITTEN` (``dq.runs`` is also updated with the run's scan, and
the run removes what is past the retention; a role that may not delete gets a warning, not a stop).
"""

from __future__ import annotations

import logging
import os

import psycopg2

from ytempire_dq import config
from ytempire_dq.errors import YtdqError
from ytempire_dq.values import plural

#: The tables a run inserts into (its row, its rule results, the volume/drift values, the keys).
WRITTEN = ("dq.runs", "dq.rule_results", "dq.metrics", "dq.quarantine")

log = logging.getLogger(__name__)

FIX = "set YTDQ_STORE_URL to a writable PostgreSQL database"


class StoreNotWritable(YtdqError):
    """The results store cannot take the run's history: the run does not start (exit 2)."""


def check_store(checks_url: str, source: str | None = None) -> str:
    """Raise :class:`StoreNotWritable` (one line: the store, the reason, the fix) unless the run's
    history can be written to ``config.store_url(checks_url)``; returns that URL. Runs recorded
    before the store named sources are adopted by ``source`` (the run's, by default
    :func:`ytempire_dq.config.source_name` of ``checks_url``): until then a store held the history
    of the one database it was in, so an upgrade keeps every baseline and watermark."""
    from ytempire_dq.db.connect import DatabaseUnavailable, connect

    store = config.store_url(checks_url)
    where = _where(store, checks_url)
    try:
        conn = connect(store, connect_timeout=5)
    except DatabaseUnavailable as exc:
        raise StoreNotWritable(f"{where}: {exc}") from None
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT pg_is_in_recovery(), current_user, current_setting('transaction_read_only')")
            standby, user, read_only = cur.fetchone()
            if standby:
                raise StoreNotWritable(
                    f"{where} is a hot standby (read-only, in recovery): the run's history cannot be written "
                    f"there — {FIX}"
                )
            if not os.environ.get(config.STORE_URL_ENV):
                cur.execute("SELECT to_regclass('dq.runs')")
                if cur.fetchone()[0] is None:  # the checked database itself, never migrated: not the run's to build
                    raise StoreNotWritable(f"{where} has no schema dq: run `ytdq db migrate` there, or {FIX}")
            _migrate(store, where, user)
            missing = []
            for table in WRITTEN:
                cur.execute("SELECT to_regclass(%s) IS NULL OR has_table_privilege(%s, 'INSERT')", (table, table))
                if not cur.fetchone()[0]:
                    missing.append(table)
            if missing:
                raise StoreNotWritable(
                    f"{where}: role {user!r} may not write the run's history (no INSERT on {', '.join(missing)}) "
                    f"— {FIX} (or grant that role INSERT on the dq tables)"
                )
            if read_only == "on":
                raise StoreNotWritable(
                    f"{where}: role {user!r} opens read-only transactions (default_transaction_read_only), "
                    f"the run's history cannot be written — {FIX}"
                )
        _adopt(conn, source or config.source_name(checks_url))
    finally:
        conn.close()
    return store


def _adopt(conn, source: str) -> None:
    """Runs with no source (recorded before migration 011) become runs of ``source``; a role that
    may not update ``dq.runs`` leaves them as they are (logged: they then belong to no source)."""
    with conn.cursor() as cur:
        cur.execute("SELECT EXISTS (SELECT 1 FROM dq.runs WHERE source IS NULL)")
        if not cur.fetchone()[0]:
            conn.rollback()
            return
        try:
            cur.execute("UPDATE dq.runs SET source = %s WHERE source IS NULL", (source,))
        except psycopg2.Error as exc:
            conn.rollback()
            log.warning("results store: runs recorded before sources were named not adopted: %s", config.one_line(exc))
            return
        log.info(
            "results store: %s recorded before sources were named adopted by %r",
            plural(cur.rowcount, "run"),
            source,
        )
    conn.commit()


def _migrate(store: str, where: str, user: str) -> None:
    """The store's own schema, created or brought up to date (:data:`migrations.STORE`)."""
    from ytempire_dq.db import migrations

    try:
        applied = migrations.migrate_store(store)
    except (YtdqError, psycopg2.Error) as exc:
        raise StoreNotWritable(
            f"{where}: its schema dq could not be created or migrated as role {user!r} ({config.one_line(exc, 300)}) "
            f"— run `ytdq db migrate` there as its owner, or {FIX}"
        ) from None
    if applied:
        log.info("results store %s: applied %s", config.mask_url(store), ", ".join(m.path.name for m in applied))


def _where(store: str, checks_url: str) -> str:
    """How the one line names the store: ``YTDQ_STORE_URL`` when set, else the checked database."""
    if os.environ.get(config.STORE_URL_ENV):
        return f"the results store {config.mask_url(store)} (YTDQ_STORE_URL)"
    if store == checks_url:
        return f"the results store {config.mask_url(store)} (the checked database: YTDQ_STORE_URL is not set)"
    return f"the results store {config.mask_url(store)}"
