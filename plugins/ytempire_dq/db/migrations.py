"""The migration runner: ``schema/migrations/NNN_name.sql`` files, each with an up and a down part.

Applied migrations are recorded in ``schema_migrations`` (version, name, checksum, applied_at).
Every run holds a PostgreSQL advisory lock, so two runners never interleave; each migration runs
in its own transaction together with its bookkeeping row; a file whose checksum changed after it
was applied stops the run before anything is applied.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from ytempire_dq.config import PROJECT_ROOT
from ytempire_dq.db.connect import connect
from ytempire_dq.errors import YtdqError

MIGRATIONS_DIR = PROJECT_ROOT / "schema" / "migrations"
ADVISORY_LOCK_KEY = 0x59_54_44_51  # "YTDQ"
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


class _Runner:
    """One locked session: bookkeeping table ensured, advisory lock held until close."""

    def __init__(self, url: str | None, directory: Path):
        self.directory = Path(directory)
        self.migrations = load_migrations(directory)
        self.conn = connect(url)
        with self.conn, self.conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_lock(%s)", (ADVISORY_LOCK_KEY,))
        with self.conn, self.conn.cursor() as cur:
            cur.execute(_BOOKKEEPING)

    def applied(self) -> dict[int, Applied]:
        with self.conn, self.conn.cursor() as cur:
            cur.execute("SELECT version, name, checksum, applied_at FROM schema_migrations ORDER BY version")
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
        except Exception as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
            raise MigrationError(f"{migration.path} ({direction}) failed and was rolled back: {first}") from None

    def close(self) -> None:
        try:
            with self.conn, self.conn.cursor() as cur:
                cur.execute("SELECT pg_advisory_unlock(%s)", (ADVISORY_LOCK_KEY,))
        finally:
            self.conn.close()


def migrate(url: str | None = None, *, to: int | None = None, directory: Path = MIGRATIONS_DIR,
            log=lambda msg: None) -> list[Migration]:
    """Apply pending migrations up to version ``to`` (default: all). Returns what was applied."""
    runner = _Runner(url, directory)
    try:
        applied = runner.applied()
        runner.verify(applied)
        target = to if to is not None else len(runner.migrations)
        if target > len(runner.migrations) or target < 0:
            raise MigrationError(f"--to {target}: there are migrations 1..{len(runner.migrations)}")
        done = []
        for migration in runner.migrations:
            if migration.version <= target and migration.version not in applied:
                log(f"applying {migration.path.name}")
                runner.run(migration, "up")
                done.append(migration)
        return done
    finally:
        runner.close()


def rollback(url: str | None = None, *, to: int, directory: Path = MIGRATIONS_DIR,
             log=lambda msg: None) -> list[Migration]:
    """Run the down part of every applied migration above version ``to``, newest first."""
    runner = _Runner(url, directory)
    try:
        applied = runner.applied()
        runner.verify(applied)
        if to < 0:
            raise MigrationError(f"--down {to}: the version to roll back to is 0 or more")
        done = []
        for migration in reversed(runner.migrations):
            if migration.version > to and migration.version in applied:
                log(f"rolling back {migration.path.name}")
                runner.run(migration, "down")
                done.append(migration)
        return done
    finally:
        runner.close()


def status(url: str | None = None, *, directory: Path = MIGRATIONS_DIR) -> list[tuple[Migration, Applied | None]]:
    """Each migration file with its applied row (or None when pending)."""
    runner = _Runner(url, directory)
    try:
        applied = runner.applied()
        return [(m, applied.get(m.version)) for m in runner.migrations]
    finally:
        runner.close()
