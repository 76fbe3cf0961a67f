"""The migration runner and the migration files (the platform spec's §8), on a real PostgreSQL.

Each test migrates its own empty database. Tests that need edited or extra migrations work on a
copy of ``schema/migrations`` in a temporary directory (the runner takes ``directory=``; the CLI
reads ``$YTDQ_HOME/schema/migrations``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import insert_channel, insert_user, rows, scalar
from ytempire_dq.db import migrations
from ytempire_dq.db.connect import connect, libpq_dsn
from ytempire_dq.ops.server_processes import pg_bindir

YTDQ = Path(sys.executable).with_name("ytdq")
FILES = migrations.load_migrations()
LATEST = len(FILES)


@pytest.fixture
def empty_url(new_database, request) -> str:
    """A database with nothing in it, not even schema_migrations."""
    return new_database(f"mig_{request.node.name}", empty=True)


@pytest.fixture
def conn_of():
    """Factory: an autocommit connection to a URL, closed after the test."""
    opened = []

    def make(url):
        opened.append(connect(url, autocommit=True))
        return opened[-1]

    yield make
    for conn in opened:
        conn.close()


@pytest.fixture
def mig_dir(tmp_path) -> Path:
    """A copy of the project's migrations, free to edit."""
    target = tmp_path / "schema" / "migrations"
    shutil.copytree(migrations.MIGRATIONS_DIR, target)
    return target


def applied_versions(conn) -> list[int]:
    return [v for (v,) in rows(conn, "SELECT version FROM schema_migrations ORDER BY version")]


def public_tables(conn) -> set[str]:
    return {t for (t,) in rows(conn, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}


def schema_dump(url: str) -> str:
    """``pg_dump --schema-only`` of the machine's PostgreSQL (the one services.py runs), minus its per-run keys."""
    proc = subprocess.run(
        [str(pg_bindir() / "pg_dump"), "--schema-only", "--no-owner", "--no-privileges", "--dbname", libpq_dsn(url)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    # pg_dump 15.14+ wraps the dump in \restrict KEY / \unrestrict KEY with a random key per run
    return "\n".join(line for line in proc.stdout.splitlines() if not line.startswith(("\\restrict", "\\unrestrict")))


def ytdq(*args: str, url: str, home: Path | None = None, **kw) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": url, "COLUMNS": "200"}
    if home is not None:
        env["YTDQ_HOME"] = str(home)
    return subprocess.run([str(YTDQ), *args], capture_output=True, text=True, env=env, timeout=120, **kw)


# ---------------------------------------------------------------------------------------------
# the files


def test_files_are_numbered_from_001_without_gaps_and_have_both_parts():
    names = sorted(p.name for p in migrations.MIGRATIONS_DIR.glob("*.sql"))
    assert names == [m.path.name for m in FILES]
    assert [m.version for m in FILES] == list(range(1, LATEST + 1))
    assert LATEST >= 3
    for m in FILES:
        assert m.path.name.startswith(f"{m.version:03d}_")
        text = m.path.read_text()
        assert text.count("-- migrate:up") == 1 and text.count("-- migrate:down") == 1
        assert text.index("-- migrate:up") < text.index("-- migrate:down")
        assert m.up_sql and m.down_sql


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("004_gap.sql", None, "expected version 003"),
        ("003_no_down.sql", "-- migrate:up\nSELECT 1;\n", "exactly one '-- migrate:up'"),
        ("003_empty_down.sql", "-- migrate:up\nSELECT 1;\n-- migrate:down\n", "must both hold SQL"),
        ("003-Bad-Name.sql", "-- migrate:up\nSELECT 1;\n-- migrate:down\nSELECT 1;\n", "NNN_snake_case_name.sql"),
    ],
)
def test_malformed_migration_files_are_refused_by_name(mig_dir, name, text, message):
    for path in mig_dir.glob("*.sql"):
        if int(path.name[:3]) >= 3:
            path.unlink()  # keep 001 and 002; the case under test is the third file
    (mig_dir / name).write_text(text or "-- migrate:up\nSELECT 1;\n-- migrate:down\nSELECT 1;\n")
    with pytest.raises(migrations.MigrationError, match=message) as exc:
        migrations.load_migrations(mig_dir)
    assert name in str(exc.value)


# ---------------------------------------------------------------------------------------------
# up, down, idempotency


@pytest.mark.local_servers  # pg_dump of the machine's PostgreSQL
def test_migrate_twice_applies_nothing_the_second_time(empty_url, conn_of):
    assert [m.version for m in migrations.migrate(empty_url)] == list(range(1, LATEST + 1))
    conn = conn_of(empty_url)
    first = rows(conn, "SELECT version, name, checksum, applied_at FROM schema_migrations ORDER BY version")
    dump = schema_dump(empty_url)
    assert migrations.migrate(empty_url) == []
    assert rows(conn, "SELECT version, name, checksum, applied_at FROM schema_migrations ORDER BY version") == first
    assert schema_dump(empty_url) == dump
    assert [(v, n) for v, n, _c, _a in first] == [(m.version, m.name) for m in FILES]
    assert [c.strip() for _v, _n, c, _a in first] == [m.checksum for m in FILES]


@pytest.mark.local_servers  # pg_dump of the machine's PostgreSQL
def test_down_to_zero_and_up_again_leaves_an_identical_schema(empty_url, conn_of):
    migrations.migrate(empty_url)
    migrated = schema_dump(empty_url)
    assert "CREATE TABLE public.analytics" in migrated and "idx_video_analytics" in migrated
    assert [m.version for m in migrations.rollback(empty_url, to=0)] == list(range(LATEST, 0, -1))
    conn = conn_of(empty_url)
    assert public_tables(conn) == {"schema_migrations"} and applied_versions(conn) == []
    assert scalar(conn, "SELECT count(*) FROM pg_namespace WHERE nspname = 'monitoring'") == 0
    migrations.migrate(empty_url)
    assert schema_dump(empty_url) == migrated


@pytest.mark.local_servers  # pg_dump of the machine's PostgreSQL
def test_the_template_schema_equals_a_fresh_migration(empty_url, template_url):
    """What every test module runs on is exactly what `ytdq db migrate` builds."""
    migrations.migrate(empty_url)
    assert schema_dump(empty_url) == schema_dump(template_url)


def test_to_n_stops_at_n_and_down_n_goes_back_to_n(empty_url, conn_of):
    assert [m.version for m in migrations.migrate(empty_url, to=1)] == [1]
    conn = conn_of(empty_url)
    assert applied_versions(conn) == [1]
    assert public_tables(conn) == {"schema_migrations", "users", "channels", "videos", "analytics"}
    assert [m.version for m in migrations.migrate(empty_url, to=2)] == [2]
    assert {"api_keys", "workflows"} <= public_tables(conn)
    assert scalar(conn, "SELECT count(*) FROM pg_namespace WHERE nspname = 'monitoring'") == 0
    assert migrations.migrate(empty_url, to=1) == []  # --to below what is applied does not roll back
    assert [m.version for m in migrations.migrate(empty_url)] == list(range(3, LATEST + 1))
    assert [m.version for m in migrations.rollback(empty_url, to=1)] == list(range(LATEST, 1, -1))
    assert applied_versions(conn) == [1]
    assert "api_keys" not in public_tables(conn)
    with pytest.raises(migrations.MigrationError, match=f"there are migrations 1..{LATEST}"):
        migrations.migrate(empty_url, to=LATEST + 1)
    assert applied_versions(conn) == [1]


def test_applied_version_reads_the_migrations_table(empty_url, conn_of):
    import sqlalchemy as sa

    from ytempire_dq.db.connect import engine

    conn = conn_of(empty_url)
    with conn.cursor() as cur:
        assert migrations.applied_version(cur) == 0  # not even schema_migrations
    migrations.migrate(empty_url, to=migrations.METRICS)
    with conn.cursor() as cur:
        assert migrations.applied_version(cur) == migrations.METRICS
    eng = engine(empty_url)
    try:
        with eng.connect() as sa_conn:  # a SQLAlchemy connection answers the same
            assert migrations.applied_version(sa_conn) == migrations.METRICS
            assert sa_conn.execute(sa.text("SELECT to_regclass('dq.metrics') IS NOT NULL")).scalar()
        migrations.migrate(empty_url)
        with eng.connect() as sa_conn:
            assert migrations.applied_version(sa_conn) == LATEST
        migrations.rollback(empty_url, to=migrations.RUN_SNAPSHOT)
        with eng.connect() as sa_conn:
            assert migrations.applied_version(sa_conn) == migrations.RUN_SNAPSHOT
    finally:
        eng.dispose()
    # what each constant names is what its migration creates
    assert migrations.HISTORY < migrations.METRICS < migrations.RUN_SNAPSHOT < migrations.USER_ERASURES
    assert migrations.USER_ERASURES < migrations.WATERMARKS <= LATEST
    for version, made in [
        (migrations.HISTORY, "dq.rule_results"),
        (migrations.METRICS, "dq.metrics"),
        (migrations.RUN_SNAPSHOT, "snapshot_id"),
        (migrations.USER_ERASURES, "user_erasures"),
        (migrations.WATERMARKS, "watermarks"),
    ]:
        assert made in FILES[version - 1].up_sql, (version, made)


def _schemas_touched(sql: str) -> set[str]:
    """The schemas the statements of ``sql`` name (tables, indexes, views, schemas; unqualified:
    ``public``), read from PostgreSQL's own parse tree."""
    import pglast
    from pglast import ast

    found: set[str] = set()

    def walk(node):
        if isinstance(node, ast.RangeVar):
            found.add(node.schemaname or "public")
        elif isinstance(node, ast.CreateSchemaStmt):
            found.add(node.schemaname)
        elif isinstance(node, ast.DropStmt) and node.removeType == pglast.enums.ObjectType.OBJECT_SCHEMA:
            found.update(name.sval for name in node.objects)
        elif isinstance(node, ast.DropStmt):
            for name in node.objects:
                parts = [p.sval for p in name] if isinstance(name, tuple) else []
                found.add(parts[0] if len(parts) > 1 else "public")
        if isinstance(node, ast.Node):
            for attr in node:
                walk(getattr(node, attr))
        elif isinstance(node, tuple):
            for item in node:
                walk(item)

    for raw in pglast.parse_sql(sql):
        walk(raw.stmt)
    return found


def test_the_store_migrations_touch_schema_dq_only_and_the_others_never():
    """What a run applies to its results store on first use (``migrations.STORE``) builds the
    store and nothing of the platform; the platform's migrations leave ``dq`` alone. Parsed, so a
    new migration is classified by what it does, not by its name."""
    for m in FILES:
        touched = _schemas_touched(m.up_sql) | _schemas_touched(m.down_sql)
        if m.version in migrations.STORE:
            assert touched == {"dq"}, (m.path.name, touched)
        else:
            assert "dq" not in touched and touched, (m.path.name, touched)
    assert migrations.SOURCES in migrations.STORE and "source" in FILES[migrations.SOURCES - 1].up_sql


def test_a_store_is_migrated_with_its_own_migrations_only(empty_url, conn_of):
    """An empty database made a results store gets schema dq and no platform table; it is up to date
    the second time (nothing applied, no lock taken); the platform's migrations still apply after."""
    conn = conn_of(empty_url)
    applied = migrations.migrate_store(empty_url)
    assert [m.version for m in applied] == list(migrations.STORE)
    assert applied_versions(conn) == list(migrations.STORE)
    assert public_tables(conn) == {"schema_migrations"}
    assert scalar(conn, "SELECT count(*) FROM pg_tables WHERE schemaname = 'dq'") == 6
    with conn.cursor() as cur:
        assert migrations.has(cur, migrations.SOURCES) and not migrations.has(cur, migrations.USER_ERASURES)
    assert migrations.migrate_store(empty_url) == []
    rest = migrations.migrate(empty_url)
    assert [m.version for m in rest] == [v for v in range(1, LATEST + 1) if v not in migrations.STORE]
    assert applied_versions(conn) == list(range(1, LATEST + 1))


def test_down_keeps_the_data_of_the_tables_it_leaves(empty_url, conn_of):
    migrations.migrate(empty_url)
    conn = conn_of(empty_url)
    insert_channel(conn, insert_user(conn))
    migrations.rollback(empty_url, to=1)
    assert scalar(conn, "SELECT count(*) FROM channels") == 1


# ---------------------------------------------------------------------------------------------
# checksums


def test_changed_checksum_of_an_applied_file_is_refused_naming_the_file(empty_url, conn_of, mig_dir):
    migrations.migrate(empty_url, to=2, directory=mig_dir)
    edited = next(mig_dir.glob("002_*.sql"))
    edited.write_text(edited.read_text().replace("name         VARCHAR(100)", "name         VARCHAR(200)"))
    for run in (
        lambda: migrations.migrate(empty_url, directory=mig_dir),
        lambda: migrations.rollback(empty_url, to=0, directory=mig_dir),
    ):
        with pytest.raises(migrations.MigrationError, match="changed after it was applied") as exc:
            run()
        assert str(edited) in str(exc.value) and "\n" not in str(exc.value)
    conn = conn_of(empty_url)
    assert applied_versions(conn) == [1, 2]  # 003 was not applied, nothing was rolled back
    # a whitespace-only edit counts too: the file is no longer what was applied
    shutil.copy(migrations.MIGRATIONS_DIR / edited.name, edited)
    first = next(mig_dir.glob("001_*.sql"))
    first.write_text(first.read_text() + "\n")
    with pytest.raises(migrations.MigrationError, match=first.name):
        migrations.migrate(empty_url, directory=mig_dir)


def test_applied_migration_whose_file_is_gone_is_refused(empty_url, mig_dir):
    migrations.migrate(empty_url, directory=mig_dir)
    last = FILES[-1].path.name
    (mig_dir / last).unlink()
    with pytest.raises(migrations.MigrationError, match="file is missing") as exc:
        migrations.migrate(empty_url, directory=mig_dir)
    assert f"{LATEST:03d}_{FILES[-1].name}" in str(exc.value) and str(mig_dir) in str(exc.value)


# ---------------------------------------------------------------------------------------------
# concurrency: the advisory lock


def test_two_concurrent_runners_are_serialised_by_the_advisory_lock(empty_url, conn_of, mig_dir):
    """Two real `ytdq db migrate` processes on one empty database: one applies everything, the other
    waits on the lock, then finds nothing to do. Without the lock the second would fail on CREATE TABLE."""
    first = next(mig_dir.glob("001_*.sql"))
    # the winner works for a second, so the loser is seen waiting on the lock meanwhile
    first.write_text(first.read_text().replace("-- migrate:up\n", "-- migrate:up\nSELECT pg_sleep(1);\n", 1))
    home = mig_dir.parent.parent
    env = {**os.environ, "DATABASE_URL": empty_url, "YTDQ_HOME": str(home), "COLUMNS": "200"}
    watcher = conn_of(empty_url)
    waiting = """SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
                 WHERE l.locktype = 'advisory' AND NOT l.granted AND l.objid = %s
                   AND a.datname = current_database()"""

    def poll(until, seconds=60):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if until(scalar(watcher, waiting, (migrations.ADVISORY_LOCK_KEY,))):
                return True
            time.sleep(0.02)
        return False

    # start both while the test holds the lock, so they are surely concurrent: both must queue on it
    scalar(watcher, "SELECT pg_advisory_lock(%s)", (migrations.ADVISORY_LOCK_KEY,))
    procs = [
        subprocess.Popen(
            [str(YTDQ), "db", "migrate"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    try:
        assert poll(lambda n: n == 2), "the two runners did not both wait on the advisory lock"
        assert scalar(watcher, "SELECT to_regclass('schema_migrations') IS NULL")  # neither got past the lock
    finally:
        scalar(watcher, "SELECT pg_advisory_unlock(%s)", (migrations.ADVISORY_LOCK_KEY,))
    loser_waited = poll(lambda n: n == 1, seconds=10)
    outputs = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    assert loser_waited, f"while one runner migrated, the other did not wait: {outputs}"
    summaries = sorted(out.strip().splitlines()[-1] for out, _err in outputs)
    assert summaries[0] == "applied 0 migrations", outputs
    assert summaries[1].startswith(f"applied {LATEST} migrations: 001_"), outputs
    assert rows(watcher, "SELECT version, count(*) FROM schema_migrations GROUP BY version ORDER BY version") == [
        (v, 1) for v in range(1, LATEST + 1)
    ]
    assert (
        scalar(
            watcher,
            "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database "
            "WHERE l.locktype = 'advisory' AND d.datname = current_database()",
        )
        == 0
    )  # released


# ---------------------------------------------------------------------------------------------
# data migrations


BACKFILL = """-- 0NN backfill: every video gets a slug made from its title
-- migrate:up
ALTER TABLE videos ADD COLUMN slug VARCHAR(500);
UPDATE videos SET slug = trim(BOTH '-' FROM lower(regexp_replace(title, '[^A-Za-z0-9]+', '-', 'g')));
ALTER TABLE videos ALTER COLUMN slug SET NOT NULL;
CREATE INDEX idx_video_slug ON videos (slug);

-- migrate:down
DROP INDEX IF EXISTS idx_video_slug;
ALTER TABLE videos DROP COLUMN IF EXISTS slug;
"""

ROWS = 10_000


@pytest.fixture
def ten_thousand_videos(empty_url, conn_of) -> str:
    migrations.migrate(empty_url)
    conn = conn_of(empty_url)
    channel = insert_channel(conn, insert_user(conn))
    conn.cursor().execute(
        "INSERT INTO videos (channel_id, title) SELECT %s, 'Top ' || n || ' Tips: AI & You!' "
        "FROM generate_series(1, %s) n",
        (channel, ROWS),
    )
    return empty_url


@pytest.mark.local_servers  # pg_dump of the machine's PostgreSQL
def test_data_migration_transforms_all_10000_rows_and_down_reverts(ten_thousand_videos, conn_of, mig_dir):
    url = ten_thousand_videos
    conn = conn_of(url)
    before = schema_dump(url)
    titles = scalar(conn, "SELECT md5(string_agg(id::text || title, ',' ORDER BY id)) FROM videos")
    (mig_dir / f"{LATEST + 1:03d}_backfill_video_slugs.sql").write_text(BACKFILL)
    started = time.monotonic()
    assert [m.version for m in migrations.migrate(url, directory=mig_dir)] == [LATEST + 1]
    seconds = time.monotonic() - started
    assert scalar(conn, "SELECT count(*) FROM videos") == ROWS
    assert (
        scalar(
            conn,
            "SELECT count(*) FROM videos WHERE slug = 'top-' || substring(title FROM 'Top ([0-9]+)') || '-tips-ai-you'",
        )
        == ROWS
    )
    assert scalar(conn, "SELECT count(DISTINCT slug) FROM videos") == ROWS
    assert (
        scalar(
            conn,
            "SELECT is_nullable FROM information_schema.columns WHERE table_name = 'videos' AND column_name = 'slug'",
        )
        == "NO"
    )
    assert seconds < 30
    assert [m.version for m in migrations.rollback(url, to=LATEST, directory=mig_dir)] == [LATEST + 1]
    assert (
        scalar(
            conn, "SELECT count(*) FROM information_schema.columns WHERE table_name = 'videos' AND column_name = 'slug'"
        )
        == 0
    )
    assert scalar(conn, "SELECT md5(string_agg(id::text || title, ',' ORDER BY id)) FROM videos") == titles
    assert schema_dump(url) == before
    assert applied_versions(conn) == list(range(1, LATEST + 1))


def test_failing_data_migration_leaves_no_trace(ten_thousand_videos, conn_of, mig_dir):
    """Each migration runs in one transaction with its bookkeeping row: a failure half-way undoes it all."""
    url = ten_thousand_videos
    conn = conn_of(url)
    failing = BACKFILL.replace(
        "CREATE INDEX idx_video_slug ON videos (slug);",
        "UPDATE videos SET view_count = 1 / (view_count * 0) WHERE title LIKE 'Top 9999 %';",
    )
    path = mig_dir / f"{LATEST + 1:03d}_backfill_video_slugs.sql"
    path.write_text(failing)
    with pytest.raises(migrations.MigrationError, match="division by zero") as exc:
        migrations.migrate(url, directory=mig_dir)
    assert str(path) in str(exc.value) and "rolled back" in str(exc.value)
    assert (
        scalar(
            conn, "SELECT count(*) FROM information_schema.columns WHERE table_name = 'videos' AND column_name = 'slug'"
        )
        == 0
    )
    assert scalar(conn, "SELECT count(*) FROM videos WHERE view_count <> 0") == 0
    assert applied_versions(conn) == list(range(1, LATEST + 1))


# ---------------------------------------------------------------------------------------------
# the commands


def test_db_migrate_and_status_commands(empty_url):
    applied = ytdq("db", "migrate", "--to", "1", url=empty_url)
    assert applied.returncode == 0, applied.stderr
    assert applied.stdout.strip() == f"applied 1 migration: {FILES[0].path.name}"
    status = ytdq("db", "status", url=empty_url)
    assert status.returncode == 0, status.stderr
    lines = {
        line.split()[1]: line
        for line in status.stdout.splitlines()
        if len(line.split()) > 2 and line.split()[1].isdigit()
    }
    assert sorted(lines) == [f"{m.version:03d}" for m in FILES]
    assert FILES[0].name in lines["001"] and "ok" in lines["001"] and "pending" not in lines["001"]
    for m in FILES[1:]:
        assert m.name in lines[f"{m.version:03d}"] and "pending" in lines[f"{m.version:03d}"]
    again = ytdq("db", "migrate", url=empty_url)
    assert again.returncode == 0 and again.stdout.startswith(f"applied {LATEST - 1} migrations")
    assert ytdq("db", "migrate", url=empty_url).stdout.strip() == "applied 0 migrations"
    down = ytdq("db", "migrate", "--down", "0", url=empty_url)
    assert down.returncode == 0 and down.stdout.startswith(f"rolled back {LATEST} migrations")


# ---------------------------------------------------------------------------------------------
# 010: the platform's schema over data written at 009


def _rows_at_009(conn) -> tuple[str, str, str]:
    """A user, channel, video and analytics day as 009 stored them (wall-clock timestamps, 4 decimals)."""
    user = scalar(
        conn,
        "INSERT INTO users (email, username, password_hash, created_at, updated_at) "
        "VALUES ('m@example.com', 'migrated', 'x', '2026-03-29 01:30:00', '2026-03-29 02:30:00') RETURNING id",
    )
    channel = scalar(
        conn,
        "INSERT INTO channels (user_id, youtube_channel_id, channel_name, niche, subscriber_count, created_at) "
        "VALUES (%s, 'UCabcdefghijklmnopqrstuv', 'c', 'tech', 1234, '2026-03-29 03:00:00') RETURNING id",
        (user,),
    )
    video = scalar(
        conn,
        "INSERT INTO videos (channel_id, title, status, generation_cost, view_count, created_at, published_at) "
        "VALUES (%s, 'v', 'published', 1.2345, 77, '2026-03-29 04:00:00', '2026-03-29 05:00:00') RETURNING id",
        (channel,),
    )
    conn.cursor().execute(
        "INSERT INTO analytics (video_id, date, views, revenue, likes, comments) "
        "VALUES (%s, '2026-03-29', 77, 0.1234, 5, 1)",
        (video,),
    )
    return user, channel, video


def test_010_reads_stored_timestamps_as_utc_and_converts_the_columns(empty_url, conn_of):
    migrations.migrate(empty_url, to=9)
    conn = conn_of(empty_url)
    user, channel, video = _rows_at_009(conn)
    migrations.migrate(empty_url)
    conn.cursor().execute("SET TIME ZONE 'Asia/Tokyo'")  # the instants do not depend on the reader's zone
    assert scalar(conn, "SELECT created_at AT TIME ZONE 'UTC' FROM users WHERE id = %s", (user,)).isoformat() == (
        "2026-03-29T01:30:00"
    )
    assert rows(conn, "SELECT status, subscription_tier FROM users WHERE id = %s", (user,)) == [("active", "free")]
    assert rows(
        conn, "SELECT generation_cost::text, view_count, revenue::text FROM videos WHERE id = %s", (video,)
    ) == [("1.23", 77, "0.00")]
    assert rows(conn, "SELECT revenue::text, subscribers_gained FROM analytics WHERE video_id = %s", (video,)) == [
        ("0.12", 0)
    ]
    assert scalar(conn, "SELECT pg_typeof(view_count)::text FROM videos LIMIT 1") == "bigint"
    assert scalar(conn, "SELECT monetization_status FROM channels WHERE id = %s", (channel,)) == "not_eligible"


def test_010_down_brings_back_009s_columns_and_wall_clock_times(empty_url, conn_of):
    migrations.migrate(empty_url, to=9)
    conn = conn_of(empty_url)
    user, channel, video = _rows_at_009(conn)
    migrations.migrate(empty_url, to=10)
    conn.cursor().execute("UPDATE analytics SET subscribers_gained = 40 WHERE video_id = %s", (video,))
    assert [m.version for m in migrations.rollback(empty_url, to=9)] == [10]
    assert scalar(conn, "SELECT pg_typeof(created_at)::text FROM users LIMIT 1") == "timestamp without time zone"
    assert scalar(conn, "SELECT created_at FROM users WHERE id = %s", (user,)).isoformat() == "2026-03-29T01:30:00"
    assert rows(conn, "SELECT subscriber_count, updated_at = created_at FROM channels WHERE id = %s", (channel,)) == [
        (40, True)
    ]
    assert rows(conn, "SELECT likes, comments FROM analytics WHERE video_id = %s", (video,)) == [(0, 0)]
    assert "status" not in {
        c for (c,) in rows(conn, "SELECT column_name FROM information_schema.columns WHERE table_name = 'users'")
    }
    migrations.migrate(empty_url)  # and up again
    assert scalar(conn, "SELECT created_at AT TIME ZONE 'UTC' FROM users WHERE id = %s", (user,)).isoformat() == (
        "2026-03-29T01:30:00"
    )


def test_010_stops_before_altering_anything_on_rows_a_narrower_column_rejects(empty_url, conn_of):
    migrations.migrate(empty_url, to=9)
    conn = conn_of(empty_url)
    for n in range(2):
        insert_user(conn, username=f"{'u' * 60}{n}")
    conn.cursor().execute("INSERT INTO channels (user_id, channel_name) SELECT id, 'c' FROM users LIMIT 1")
    with pytest.raises(migrations.MigrationError) as exc:
        migrations.migrate(empty_url)
    message = str(exc.value)
    assert "\n" not in message and "010_seed_schema.sql (up) failed and was rolled back" in message
    assert "2 users.username longer than 50 characters" in message
    assert "1 channels.youtube_channel_id NULL" in message and "1 channels.niche NULL" in message
    assert applied_versions(conn) == list(range(1, 10))
    assert scalar(conn, "SELECT pg_typeof(created_at)::text FROM users LIMIT 1") == "timestamp without time zone"
    assert scalar(conn, "SELECT count(*) FROM information_schema.columns WHERE column_name = 'likes'") == 1
