"""Migrations that cannot wedge or half-apply (issue: a killed `db migrate` left its backend holding
the advisory lock, so `db migrate` and `db status` blocked silently; a file with `COMMIT` was left
half-applied while the message said "rolled back"; PostgreSQL stopped during migrate gave a
43-line traceback, exit 1).

Lock and transaction-control tests use their own database on the session's server (the advisory
lock is per database); the server-kill tests start a PostgreSQL of their own.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import rows, scalar
from ytempire_dq.config import mask_url
from ytempire_dq.db import migrations
from ytempire_dq.db.connect import connect
from ytempire_dq.errors import ExitCode
from ytempire_dq.ops import services

YTDQ = Path(sys.executable).with_name("ytdq")
LATEST = len(migrations.load_migrations())
NEXT = f"{LATEST + 1:03d}"


@pytest.fixture
def home(tmp_path) -> Path:
    """A project home whose schema/migrations is a copy of ours, free to edit."""
    shutil.copytree(migrations.MIGRATIONS_DIR, tmp_path / "schema" / "migrations")
    return tmp_path


@pytest.fixture
def migrated(new_database, request) -> str:
    """A fresh database with every migration applied."""
    return new_database(f"host_{request.node.name}")


@pytest.fixture
def watcher(migrated):
    conn = connect(migrated, autocommit=True)
    yield conn
    conn.close()


def add_migration(home: Path, up: str, down: str = "SELECT 1;", name: str = "extra") -> Path:
    path = home / "schema" / "migrations" / f"{NEXT}_{name}.sql"
    path.write_text(f"-- {NEXT} {name}\n-- migrate:up\n{up}\n\n-- migrate:down\n{down}\n")
    return path


def ytdq(home: Path, url: str, *args: str, timeout: float = 120, **env) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "DATABASE_URL": url, "YTDQ_HOME": str(home), "COLUMNS": "200", **env}
    return subprocess.run([str(YTDQ), *args], capture_output=True, text=True, env=full_env, timeout=timeout)


def popen(home: Path, url: str, *args: str, **env) -> subprocess.Popen:
    full_env = {**os.environ, "DATABASE_URL": url, "YTDQ_HOME": str(home), "COLUMNS": "200", **env}
    return subprocess.Popen([str(YTDQ), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=full_env)


def wait_for(check, seconds: float = 60) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return False


def sleeping_backend(conn) -> int | None:
    """pid of the backend running the slow migration's pg_sleep in the watched database."""
    found = rows(
        conn,
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
        "AND pid <> pg_backend_pid() AND query LIKE %s AND state = 'active'",
        ("%pg_sleep(300)%",),
    )
    return found[0][0] if found else None


def applied_versions(conn) -> list[int]:
    return [v for (v,) in rows(conn, "SELECT version FROM schema_migrations ORDER BY version")]


# ---------------------------------------------------------------------------------------------
# transaction control in a file


HALF = """CREATE TABLE half_one (id int);
{stmt};
CREATE TABLE half_two (id int);
SELECT 1 / 0;"""


@pytest.mark.parametrize(
    "stmt",
    [
        "COMMIT",
        "commit work",
        "END",
        "ROLLBACK",
        "BEGIN",
        "START TRANSACTION",
        "SAVEPOINT s1",
        "RELEASE SAVEPOINT s1",
        "ROLLBACK TO SAVEPOINT s1",
        "PREPARE TRANSACTION 'x'",
    ],
)
def test_a_file_with_transaction_control_is_refused_and_nothing_of_it_is_applied(migrated, watcher, home, stmt):
    path = add_migration(home, HALF.format(stmt=stmt))
    proc = ytdq(home, migrated, "db", "migrate")
    assert proc.returncode == ExitCode.RUN_FAILED, proc
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert path.name in lines[0] and "transaction control" in lines[0]
    assert f"line 4: {stmt}" in lines[0] and "rolled back" not in lines[0]
    assert scalar(watcher, "SELECT to_regclass('half_one') IS NULL AND to_regclass('half_two') IS NULL")
    assert applied_versions(watcher) == list(range(1, LATEST + 1))


def test_before_the_fix_commit_left_the_file_half_applied_now_nothing(migrated, watcher, home):
    """The issue's exact case through the library: CREATE; COMMIT; failing statement."""
    add_migration(home, HALF.format(stmt="COMMIT"))
    with pytest.raises(migrations.MigrationError, match=r"transaction control .*line 4: COMMIT"):
        migrations.migrate(migrated, directory=home / "schema" / "migrations")
    assert scalar(watcher, "SELECT to_regclass('half_one') IS NULL")
    assert scalar(watcher, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'") == 0  # let go


def test_the_words_inside_strings_comments_and_functions_are_fine(migrated, watcher, home):
    up = """-- COMMIT; BEGIN; ROLLBACK
CREATE TABLE notes (body text DEFAULT 'COMMIT; END;');
/* END; */ INSERT INTO notes VALUES ('ROLLBACK; SAVEPOINT x');
CREATE FUNCTION notes_count() RETURNS bigint LANGUAGE plpgsql AS $$ BEGIN RETURN (SELECT count(*) FROM notes); END $$;"""
    add_migration(home, up, "DROP FUNCTION notes_count(); DROP TABLE notes;")
    proc = ytdq(home, migrated, "db", "migrate")
    assert proc.returncode == 0, proc.stderr
    assert scalar(watcher, "SELECT notes_count()") == 1
    assert applied_versions(watcher)[-1] == LATEST + 1


def test_a_down_part_with_transaction_control_is_refused_before_anything_rolls_back(migrated, watcher, home):
    add_migration(home, "CREATE TABLE keep_me (id int);", "DROP TABLE keep_me; COMMIT;")
    assert ytdq(home, migrated, "db", "migrate").returncode == 0
    proc = ytdq(home, migrated, "db", "migrate", "--down", str(LATEST - 1))
    assert proc.returncode == ExitCode.RUN_FAILED
    assert f"{NEXT}_extra.sql (down)" in proc.stderr and "line 6: COMMIT" in proc.stderr
    assert scalar(watcher, "SELECT to_regclass('keep_me') IS NOT NULL")
    assert applied_versions(watcher) == list(range(1, LATEST + 2))


def test_sql_that_does_not_parse_is_refused_by_name_before_anything_runs(migrated, watcher, home):
    path = add_migration(home, "CREATE TABLE never (id int);\nCREATE TABLE oops (;")
    proc = ytdq(home, migrated, "db", "migrate")
    assert proc.returncode == ExitCode.RUN_FAILED and path.name in proc.stderr and "not valid SQL" in proc.stderr
    assert scalar(watcher, "SELECT to_regclass('never') IS NULL")


# ---------------------------------------------------------------------------------------------
# the advisory lock


def test_a_held_lock_is_waited_for_a_bounded_time_naming_its_holder(migrated, home):
    holder = connect(migrated, autocommit=True)
    try:
        scalar(holder, "SELECT set_config('application_name', 'wedged migrate', false)")
        holder_pid = scalar(holder, "SELECT pg_backend_pid()")
        scalar(holder, "SELECT pg_advisory_lock(%s)", (migrations.ADVISORY_LOCK_KEY,))
        started = time.monotonic()
        proc = ytdq(home, migrated, "db", "migrate", YTDQ_MIGRATE_LOCK_TIMEOUT="2")
        waited = time.monotonic() - started
        assert proc.returncode == ExitCode.RUN_FAILED, proc
        assert 2 <= waited < 60  # bounded: it gave up, it did not hang
        assert "Traceback" not in proc.stderr
        err = [line for line in proc.stderr.splitlines() if line.strip()]
        waiting = [line for line in err if line.startswith("waiting")]
        assert len(waiting) == 1 and f"pid {holder_pid}" in waiting[0] and "'wedged migrate'" in waiting[0]
        assert len(err) == 2 and err[1].startswith("error:"), proc.stderr
        since = scalar(
            holder,
            "SELECT to_char(backend_start AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') "
            "FROM pg_stat_activity WHERE pid = pg_backend_pid()",
        )
        for part in (
            f"pid {holder_pid}",
            "'wedged migrate'",
            f"since {since} UTC",
            "after 2 s",
            "YTDQ_MIGRATE_LOCK_TIMEOUT",
            mask_url(migrated),
        ):
            assert part in err[1], (part, err[1])
        # status needs no lock: it answers at once while the lock is held
        status = ytdq(home, migrated, "db", "status", timeout=30, YTDQ_MIGRATE_LOCK_TIMEOUT="1")
        assert status.returncode == 0 and "waiting" not in status.stderr, status
        assert sum("pending" in line for line in status.stdout.splitlines()) == 0
    finally:
        holder.close()
    # the holder gone, migrate runs (nothing to do)
    assert ytdq(home, migrated, "db", "migrate").stdout.strip() == "applied 0 migrations"


@pytest.mark.parametrize("value", ["soon", "0", "-5"])
def test_a_bad_lock_timeout_is_refused_naming_the_variable(migrated, home, value):
    proc = ytdq(home, migrated, "db", "migrate", YTDQ_MIGRATE_LOCK_TIMEOUT=value)
    assert proc.returncode == ExitCode.RUN_FAILED
    assert f"YTDQ_MIGRATE_LOCK_TIMEOUT='{value}'" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_a_killed_migrate_does_not_wedge_the_next_one(migrated, watcher, home):
    """kill -9 of `ytdq db migrate` while its migration sleeps: the backend notices its client is
    gone, rolls back and lets the lock go; `db status` and `db migrate` answer, nothing half-applied."""
    add_migration(home, "CREATE TABLE slow_one (id int);\nSELECT pg_sleep(300);")
    proc = popen(home, migrated, "db", "migrate")
    try:
        assert wait_for(lambda: sleeping_backend(watcher) is not None), proc.stderr.read() if proc.poll() else ""
        backend = sleeping_backend(watcher)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    status = ytdq(home, migrated, "db", "status", timeout=30)
    assert status.returncode == 0 and f"{NEXT}" in status.stdout and "pending" in status.stdout
    assert wait_for(
        lambda: scalar(watcher, "SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (backend,)) == 0, seconds=30
    ), "the killed run's backend kept running"
    assert scalar(watcher, "SELECT to_regclass('slow_one') IS NULL")
    (home / "schema" / "migrations" / f"{NEXT}_extra.sql").unlink()
    again = ytdq(home, migrated, "db", "migrate", timeout=60, YTDQ_MIGRATE_LOCK_TIMEOUT="20")
    assert again.returncode == 0 and again.stdout.strip() == "applied 0 migrations", again


# ---------------------------------------------------------------------------------------------
# the server lost during a run (a PostgreSQL of the test's own)


@pytest.fixture
def own_server(tmp_path_factory, monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("REDIS_URL", raising=False)
    state_dir = tmp_path_factory.mktemp("own_pg")
    state = services.up(state_dir, redis=False)
    yield state_dir, state["postgres"]
    services.down(state_dir, purge=True)


@pytest.mark.local_servers
@pytest.mark.parametrize("how", [signal.SIGQUIT, signal.SIGINT], ids=["immediate", "fast"])
def test_postgres_stopped_during_migrate_is_one_line_exit_2(own_server, home, how):
    state_dir, pg = own_server
    secret = "pw-" + "9f3c1a"
    url = pg["url"].replace("ytdq@", f"ytdq:{secret}@")  # trust auth ignores it; it must never show
    migrations.migrate(url)
    add_migration(home, "CREATE TABLE lost_one (id int);\nSELECT pg_sleep(300);")
    watcher = connect(url, autocommit=True)
    try:
        proc = popen(home, url, "db", "migrate")
        assert wait_for(lambda: sleeping_backend(watcher) is not None)
    finally:
        watcher.close()
    postmaster = int((Path(pg["datadir"]) / "postmaster.pid").read_text().splitlines()[0])
    os.kill(postmaster, how)  # SIGQUIT: immediate shutdown; SIGINT: fast (sessions terminated)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == ExitCode.RUN_FAILED, (out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 2 and lines[0] == f"applying {NEXT}_extra.sql", err  # progress, then the error
    assert "Traceback" not in err and secret not in err + out
    assert lines[1].startswith("error: lost the connection to PostgreSQL at " + mask_url(url)), lines[1]
    assert f"while running {NEXT}_extra.sql (up)" in lines[1]
    # started again: nothing of the interrupted migration is there
    assert wait_for(lambda: not services._pg_running(pg), seconds=30)
    services.up(state_dir, redis=False)
    conn = connect(url, autocommit=True)
    try:
        assert applied_versions(conn) == list(range(1, LATEST + 1))
        assert scalar(conn, "SELECT to_regclass('lost_one') IS NULL")
    finally:
        conn.close()


def test_postgres_unreachable_is_one_line_exit_2(home):
    url = f"postgresql+psycopg2://ytdq:pw-77@127.0.0.1:{services.free_port()}/ytempire"
    for args in (("db", "migrate"), ("db", "status")):
        proc = ytdq(home, url, *args, timeout=60)
        assert proc.returncode == ExitCode.RUN_FAILED and "Traceback" not in proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1 and mask_url(url) in proc.stderr
        assert "pw-77" not in proc.stderr
