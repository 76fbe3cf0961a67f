"""The migration runner: ``schema/migrations/NNN_name.sql`` files, each with an up and a down part.

Applied migrations are recorded in ``schema_migrations`` (version, name, checksum, applied_at).
Every run holds a PostgreSQL advisory lock, so two runners never interleave; each migration runs
in its own transaction together with its bookkeeping row; a file whose checksum changed after it
was applied stops the run before anything is applied.

Nothing can wedge a run or leave a migration half-applied:

- the lock is waited for at most ``YTDQ_MIGRATE_LOCK_TIMEOUT`` seconds (default 60), saying once
  who holds it; on timeout one line names the holder (pid, application_name, since when), exit 2;
- the runner's session asks PostgreSQL to check every second that its client is still there
  (``client_connection_check_interval``): a killed ``ytdq db migrate`` does not leave a backend
  holding the lock for as long as its statement runs;
- a part that controls the transaction itself (``BEGIN``, ``COMMIT``, ``END``, ``ROLLBACK``,
  ``SAVEPOINT``, ...) would commit half of a migration: every part to run is parsed first (pglast,
  PostgreSQL's own parser, so the word inside a string or a comment is fine) and such a file is
  refused by name before anything runs;
- a server lost during a run is one line naming the masked URL (the open transaction is gone
  with it, so nothing of the migration it was running is applied).

``status`` reads ``schema_migrations`` without the lock: each row commits with its migration, so
a reader sees whole migrations only.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg2

from ytempire_dq.config import PROJECT_ROOT, mask_secrets, mask_url, store_url
from ytempire_dq.db.connect import DatabaseUnavailable, connect
from ytempire_dq.errors import YtdqError

MIGRATIONS_DIR = PROJECT_ROOT / "schema" / "migrations"
ADVISORY_LOCK_KEY = 0x59_54_44_51  # "YTDQ"
LOCK_TIMEOUT_ENV = "YTDQ_MIGRATE_LOCK_TIMEOUT"
DEFAULT_LOCK_TIMEOUT = 60.0
APPLICATION_NAME = "ytdq db migrate"
_FILE_NAME = re.compile(r"^(\d{3})_([a-z0-9_]+)\.sql$")
_UP = "-- migrate:up"
_DOWN = "-- migrate:down"


class MigrationError(YtdqError):
    """A migration file is malformed, changed after it was applied, or failed to apply."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    path: Path
    up_sql: str
    down_sql: str
    checksum: str


def load_migrations(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """Every migration file, checked: ``NNN_name.sql``, numbered from 001 with no gap, both parts."""
    migrations = []
    for path in sorted(Path(directory).glob("*.sql")):
        match = _FILE_NAME.match(path.name)
        if not match:
            raise MigrationError(f"{path}: migration files are named NNN_snake_case_name.sql")
        text = path.read_text()
        if text.count(_UP) != 1 or text.count(_DOWN) != 1 or text.index(_UP) > text.index(_DOWN):
            raise MigrationError(f"{path}: needs exactly one '{_UP}' line followed by one '{_DOWN}' line")
        up_sql = text[text.index(_UP) + len(_UP) : text.index(_DOWN)].strip()
        down_sql = text[text.index(_DOWN) + len(_DOWN) :].strip()
        if not up_sql or not down_sql:
            raise MigrationError(f"{path}: the up and the down part must both hold SQL")
        migrations.append(
            Migration(int(match[1]), match[2], path, up_sql, down_sql, hashlib.sha256(text.encode()).hexdigest())
        )
    for expected, migration in enumerate(migrations, start=1):
        if migration.version != expected:
            raise MigrationError(
                f"{migration.path}: expected version {expected:03d} here (migrations are numbered 001, 002, ... with no gap)"
            )
    return migrations


_BOOKKEEPING = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER PRIMARY KEY,
    name       TEXT        NOT NULL,
    checksum   CHAR(64)    NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
)"""


@dataclass(frozen=True)
class Applied:
    version: int
    name: str
    checksum: str
    applied_at: object


def lock_timeout() -> float:
    """Seconds to wait for the migration lock: ``$YTDQ_MIGRATE_LOCK_TIMEOUT``, else 60."""
    raw = os.environ.get(LOCK_TIMEOUT_ENV, "").strip()
    if not raw:
        return DEFAULT_LOCK_TIMEOUT
    try:
        seconds = float(raw)
    except ValueError:
        seconds = -1.0
    if not 0 < seconds < 10**6:
        raise MigrationError(f"{LOCK_TIMEOUT_ENV}={raw!r}: give the seconds to wait for the migration lock (> 0)")
    return seconds


# The bigint advisory key shows in pg_locks as classid (high 32 bits), objid (low), objsubid 1.
_HOLDER = """
SELECT a.pid, a.application_name, a.usename, a.client_addr::text,
       to_char(a.backend_start AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') || ' UTC', a.state
FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND l.granted AND l.classid = %s AND l.objid = %s AND l.objsubid = 1
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
LIMIT 1"""


def lock_holder(conn, *, short: bool = False) -> str:
    """Who holds the migration lock, in words (pid, application_name, since when; unless
    ``short``, also user, client address and state)."""
    with conn.cursor() as cur:
        cur.execute(_HOLDER, (ADVISORY_LOCK_KEY >> 32, ADVISORY_LOCK_KEY & 0xFFFF_FFFF))
        row = cur.fetchone()
    conn.rollback()
    if row is None:
        return "another session (gone by now)"
    pid, app, user, client, since, state = row
    if short:
        return f"pid {pid} (application_name {app or '(none)'!r}, connected since {since})"
    where = f" from {client}" if client else ""
    return f"pid {pid} (application_name {app or '(none)'!r}, user {user}{where}, connected since {since}, {state})"


def transaction_control(migration: "Migration", direction: str) -> str | None:
    """The first statement of the part that would end or nest the runner's transaction, as
    ``line N: TEXT``; None when there is none. Parsed, so strings and comments do not count."""
    import pglast
    from pglast import ast

    sql = migration.up_sql if direction == "up" else migration.down_sql
    try:
        statements = pglast.parse_sql(sql)
    except pglast.parser.ParseError as exc:
        raise MigrationError(f"{migration.path} ({direction}): not valid SQL, nothing was run: {exc}") from None
    data = sql.encode()  # the parser's locations are byte offsets
    file_text = migration.path.read_text()
    first_line = file_text[: file_text.index(sql)].count("\n") + 1
    for raw in statements:
        if isinstance(raw.stmt, ast.TransactionStmt):
            start = raw.stmt_location or 0
            end = start + raw.stmt_len if raw.stmt_len else len(data)
            chunk = data[start:end].decode(errors="replace")  # may begin with comments
            tokens = [t for t in pglast.parser.scan(chunk) if not t.name.endswith("_COMMENT")]
            start += tokens[0].start if tokens else 0
            text = " ".join(data[start:end].decode(errors="replace").split())
            line = first_line + data[:start].count(b"\n")
            return f"line {line}: {text[:80]}"
    return None


def refuse_transaction_control(plan: list[tuple["Migration", str]]) -> None:
    """MigrationError naming the first file of ``plan`` whose part controls the transaction."""
    for migration, direction in plan:
        found = transaction_control(migration, direction)
        if found:
            raise MigrationError(
                f"{migration.path} ({direction}): transaction control is not allowed in a migration ({found}); "
                "the runner runs each migration in one transaction of its own. Nothing was applied."
            )


class _Runner:
    """One locked session: bookkeeping table ensured, advisory lock held until close."""

    def __init__(self, url: str | None, directory: Path, *, lock: bool = True, log=lambda msg: None):
        self.directory = Path(directory)
        self.migrations = load_migrations(directory)
        self.url = url or store_url()  # the owner: the checks' role cannot create or alter
        self.timeout = lock_timeout()
        self.conn = connect(self.url)
        self.locked = False
        try:
            with self.conn, self.conn.cursor() as cur:
                cur.execute("SELECT set_config('application_name', %s, false)", (APPLICATION_NAME,))
                # a killed client: its backend notices within a second and lets the lock go
                cur.execute("SET client_connection_check_interval = '1s'")
                # "applied" means applied: a commit waits for its WAL even where the server runs
                # with synchronous_commit=off (the embedded cluster does), so a crash right after
                # a migration cannot take it back
                cur.execute("SET synchronous_commit = on")
            if lock:
                self._lock(log)
                with self.conn, self.conn.cursor() as cur:
                    cur.execute(_BOOKKEEPING)
        except BaseException:
            self.close()
            raise

    def _lock(self, log) -> None:
        """Take the advisory lock, waiting at most :func:`lock_timeout` seconds."""
        with self.conn.cursor() as cur:
            cur.execute("SELECT pg_try_advisory_lock(%s)", (ADVISORY_LOCK_KEY,))
            got = cur.fetchone()[0]
        self.conn.commit()
        if not got:
            log(f"waiting up to {self.timeout:g} s for the migration lock held by {lock_holder(self.conn, short=True)}")
            try:
                with self.conn.cursor() as cur:
                    cur.execute("SELECT set_config('lock_timeout', %s, false)", (f"{int(self.timeout * 1000)}ms",))
                    cur.execute("SELECT pg_advisory_lock(%s)", (ADVISORY_LOCK_KEY,))
                self.conn.commit()
            except psycopg2.errors.LockNotAvailable:
                self.conn.rollback()
                raise MigrationError(
                    f"the migration lock of {mask_url(self.url)} is still held after {self.timeout:g} s "
                    f"({LOCK_TIMEOUT_ENV}) by {lock_holder(self.conn)}; if that process is gone, end it with "
                    f"SELECT pg_terminate_backend(pid)"
                ) from None
            with self.conn, self.conn.cursor() as cur:
                cur.execute("RESET lock_timeout")
        self.locked = True

    def applied(self) -> dict[int, Applied]:
        with self.conn, self.conn.cursor() as cur:
            cur.execute("SELECT to_regclass('schema_migrations') IS NOT NULL")
            if not cur.fetchone()[0]:
                return {}
            cur.execute("SELECT set_config('lock_timeout', %s, true)", (f"{int(self.timeout * 1000)}ms",))
            try:
                cur.execute("SELECT version, name, checksum, applied_at FROM schema_migrations ORDER BY version")
            except psycopg2.errors.LockNotAvailable:
                raise MigrationError(
                    f"schema_migrations in {mask_url(self.url)} stayed locked for {self.timeout:g} s "
                    f"({LOCK_TIMEOUT_ENV})"
                ) from None
            return {row[0]: Applied(*row) for row in cur.fetchall()}

    def verify(self, applied: dict[int, Applied]) -> None:
        by_version = {m.version: m for m in self.migrations}
        for version, row in applied.items():
            migration = by_version.get(version)
            if migration is None:
                raise MigrationError(
                    f"migration {version:03d}_{row.name} is applied in the database but its file is missing from "
                    f"{self.directory}"
                )
            if migration.checksum != row.checksum.strip():
                raise MigrationError(
                    f"{migration.path}: changed after it was applied (checksum {row.checksum.strip()[:12]}… in the "
                    f"database, {migration.checksum[:12]}… on disk); add a new migration instead of editing this one"
                )

    def run(self, migration: Migration, direction: str) -> None:
        sql = migration.up_sql if direction == "up" else migration.down_sql
        try:
            with self.conn, self.conn.cursor() as cur:
                cur.execute(sql)
                if direction == "up":
                    cur.execute(
                        "INSERT INTO schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
                        (migration.version, migration.name, migration.checksum),
                    )
                else:
                    cur.execute("DELETE FROM schema_migrations WHERE version = %s", (migration.version,))
        except psycopg2.Error as exc:  # SQL errors and a lost server; anything else is a bug: its traceback
            if _is_lost(exc, self.conn):
                raise _lost(
                    self.url, exc, f"while running {migration.path.name} ({direction}); its transaction did not commit"
                ) from None
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
            raise MigrationError(f"{migration.path} ({direction}) failed and was rolled back: {first}") from None

    def close(self) -> None:
        """Let the lock go and disconnect; a connection already lost has let it go by itself."""
        try:
            if self.locked and not self.conn.closed:
                with self.conn, self.conn.cursor() as cur:
                    cur.execute("SELECT pg_advisory_unlock(%s)", (ADVISORY_LOCK_KEY,))
        except psycopg2.Error:
            pass
        finally:
            self.conn.close()


def _is_lost(exc: BaseException, conn=None) -> bool:
    """Whether ``exc`` means the server (or the connection to it) is gone, not that SQL failed."""
    if isinstance(exc, psycopg2.InterfaceError):
        return True
    if not isinstance(exc, psycopg2.OperationalError):
        return False
    code = exc.pgcode or ""
    return bool(getattr(conn, "closed", 0)) or not code or code.startswith(("08", "57P"))


def _lost(url: str | None, exc: Exception, doing: str) -> DatabaseUnavailable:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return DatabaseUnavailable(
        f"lost the connection to PostgreSQL at {mask_url(url or store_url(required=False))} "
        f"{doing}: {mask_secrets(first)}"
    )


def _session(url: str | None, directory: Path, work, *, lock: bool = True, log=lambda msg: None):
    """``work(runner)`` in a runner session; a server lost on the way is one line (exit 2)."""
    try:
        runner = _Runner(url, directory, lock=lock, log=log)
    except psycopg2.Error as exc:
        if not _is_lost(exc):
            raise
        raise _lost(url, exc, "before any migration ran") from None
    try:
        return work(runner)
    except psycopg2.Error as exc:
        if not _is_lost(exc, runner.conn):
            raise
        raise _lost(url, exc, "between migrations") from None
    finally:
        runner.close()


def migrate(
    url: str | None = None,
    *,
    to: int | None = None,
    only: tuple[int, ...] | None = None,
    directory: Path = MIGRATIONS_DIR,
    log=lambda msg: None,
) -> list[Migration]:
    """Apply pending migrations up to version ``to`` (default: all), or only the versions ``only``
    (the results store's: :func:`migrate_store`). Returns what was applied."""

    def work(runner: _Runner) -> list[Migration]:
        applied = runner.applied()
        runner.verify(applied)
        target = to if to is not None else len(runner.migrations)
        if target > len(runner.migrations) or target < 0:
            raise MigrationError(f"--to {target}: there are migrations 1..{len(runner.migrations)}")
        plan = [m for m in runner.migrations if m.version <= target and m.version not in applied]
        if only is not None:
            plan = [m for m in plan if m.version in only]
        refuse_transaction_control([(m, "up") for m in plan])
        done = []
        for migration in plan:
            log(f"applying {migration.path.name}")
            runner.run(migration, "up")
            done.append(migration)
        return done

    return _session(url, directory, work, log=log)


def rollback(
    url: str | None = None, *, to: int, directory: Path = MIGRATIONS_DIR, log=lambda msg: None
) -> list[Migration]:
    """Run the down part of every applied migration above version ``to``, newest first."""

    def work(runner: _Runner) -> list[Migration]:
        applied = runner.applied()
        runner.verify(applied)
        if to < 0:
            raise MigrationError(f"--down {to}: the version to roll back to is 0 or more")
        plan = [m for m in reversed(runner.migrations) if m.version > to and m.version in applied]
        refuse_transaction_control([(m, "down") for m in plan])
        done = []
        for migration in plan:
            log(f"rolling back {migration.path.name}")
            runner.run(migration, "down")
            done.append(migration)
        return done

    return _session(url, directory, work, log=log)


def status(url: str | None = None, *, directory: Path = MIGRATIONS_DIR) -> list[tuple[Migration, Applied | None]]:
    """Each migration file with its applied row (or None when pending); takes no lock."""

    def work(runner: _Runner):
        applied = runner.applied()
        return [(m, applied.get(m.version)) for m in runner.migrations]

    return _session(url, directory, work, lock=False)


# ---------------------------------------------------------------------------------------------
# the schema's version: code that reads the results store asks the migrations table which
# migrations are applied, never probes for tables or columns

#: The migration that made each part of the results store the code reads (schema/migrations/).
HISTORY = 4  # dq.runs, dq.rule_results, dq.quarantine
METRICS = 5  # dq.metrics
RUN_SNAPSHOT = 6  # dq.runs.snapshot_id, snapshot_at, snapshot_txids
USER_ERASURES = 7  # user_erasures
WATERMARKS = 8  # dq.runs.scan_mode, watermarks
QUARANTINE_DIGEST = 9  # dq.quarantine's index on the key's digest
SOURCES = 11  # dq.runs.source
NOTIFICATIONS = 12  # dq.notifications
RUN_AS_OF = 13  # dq.runs.as_of, replica_lag_seconds
DAILY_VALUES = 14  # dq.daily_values

#: The results store's own migrations: those that touch schema ``dq`` only (the others build the
#: platform's tables and never touch ``dq``; ``tests/test_migrations.py`` parses every file to
#: hold both). A run applies the pending ones to its store on first use (:func:`migrate_store`),
#: so a store may be an empty database of its own.
STORE = (
    HISTORY,
    METRICS,
    RUN_SNAPSHOT,
    WATERMARKS,
    QUARANTINE_DIGEST,
    SOURCES,
    NOTIFICATIONS,
    RUN_AS_OF,
    DAILY_VALUES,
)


def migrate_store(url: str, *, log=lambda msg: None) -> list[Migration]:
    """Apply the results store's pending migrations (:data:`STORE`) to ``url``, under the
    migration lock: a database that never held a history gets schema ``dq``, one from an older
    release gets what it lacks. Returns what was applied (nothing, with no lock taken, when the
    store is up to date)."""
    conn = connect(url, connect_timeout=5)
    try:
        with conn.cursor() as cur:
            missing = [v for v in STORE if not has(cur, v)]
    finally:
        conn.rollback()
        conn.close()
    if not missing:
        return []
    return migrate(url, only=STORE, log=log)


def has(conn: Any, version: int) -> bool:
    """Whether migration ``version`` is applied to the database of ``conn`` (a SQLAlchemy
    connection or a DB-API cursor): a results store holds only the :data:`STORE` migrations, so
    the versions applied may have gaps."""
    return version in applied_versions(conn)


def applied_versions(conn: Any) -> frozenset[int]:
    """The migrations applied to the database of ``conn`` (empty: no ``schema_migrations``)."""

    def rows(sql: str) -> list:
        if hasattr(conn, "exec_driver_sql"):
            return list(conn.exec_driver_sql(sql))
        conn.execute(sql)
        return conn.fetchall()

    if rows("SELECT to_regclass('schema_migrations') IS NULL")[0][0]:
        return frozenset()
    return frozenset(int(v) for (v,) in rows("SELECT version FROM schema_migrations"))


def applied_version(conn: Any) -> int:
    """The newest migration applied to the database of ``conn``; 0 when none is."""
    return max(applied_versions(conn), default=0)
