"""Bad input through the real ``ytdq`` console script: one clear line on stderr, exit code 2.

The three cases of the foundation issue: an unknown defect kind, a migration file changed after it
was applied, and ``DATABASE_URL`` pointing at nothing (its password never printed).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.engine import URL

from tests.helpers import scalar, with_redis_db
from ytempire_dq.db import migrations
from ytempire_dq.fixtures.defects import DEFECT_KINDS
from ytempire_dq.ops.server_processes import free_port

BIN = Path(sys.executable).parent


def run(*args: str, env: dict | None = None, script: str = "ytdq") -> subprocess.CompletedProcess:
    full_env = {**os.environ, "COLUMNS": "200", **(env or {})}
    return subprocess.run([str(BIN / script), *args], capture_output=True, text=True, env=full_env, timeout=120)


def one_error_line(proc: subprocess.CompletedProcess) -> str:
    """The single non-empty stderr line of a failed command (asserting there is exactly one, and exit 2)."""
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def test_unknown_inject_kind_names_it_and_lists_every_known_kind(db_url, db):
    users = scalar(db, "SELECT count(*) FROM users")
    proc = run(
        "db",
        "seed",
        "--users",
        "2",
        "--inject",
        "bad_email=1",
        "--inject",
        "orphan_video=2",
        env={"DATABASE_URL": db_url},
    )
    line = one_error_line(proc)
    assert "'orphan_video'" in line
    listed = line.split("valid kinds:", 1)[1]
    assert all(kind in listed for kind in DEFECT_KINDS)
    assert scalar(db, "SELECT count(*) FROM users") == users  # rejected before anything was written


def test_inject_without_a_count_is_a_usage_error():
    proc = run("db", "seed", "--inject", "bad_email")
    assert proc.returncode == 2
    assert "KIND=COUNT" in proc.stderr and "'bad_email'" in proc.stderr


@pytest.fixture
def project_home(tmp_path) -> Path:
    """A project home with a copy of the migrations (the CLI reads ``$YTDQ_HOME/schema/migrations``)."""
    shutil.copytree(migrations.MIGRATIONS_DIR, tmp_path / "schema" / "migrations")
    return tmp_path


def test_changed_migration_file_is_refused_naming_the_file(new_database, project_home):
    env = {"DATABASE_URL": new_database("cli_checksum", empty=True), "YTDQ_HOME": str(project_home)}
    first = run("db", "migrate", env=env)
    assert first.returncode == 0, first.stderr
    edited = next((project_home / "schema" / "migrations").glob("001_*.sql"))
    edited.write_text(edited.read_text().replace("CREATE INDEX idx_video_status", "CREATE INDEX idx_video_state"))
    for args in (["db", "migrate"], ["db", "migrate", "--down", "0"], ["db", "reset"]):
        line = one_error_line(run(*args, env=env))
        assert str(edited) in line and "changed after it was applied" in line, args
    status = run("db", "status", env=env)
    assert status.returncode == 0, status.stderr
    assert "changed on disk" in next(line for line in status.stdout.splitlines() if " 001 " in line)


def closed_url(password: str) -> tuple[str, int]:
    """A PostgreSQL URL with a password, on a loopback port nothing listens on."""
    port = free_port()
    url = URL.create(
        "postgresql+psycopg2", username="ytdq", password=password, host="127.0.0.1", port=port, database="ytempire"
    )
    return url.render_as_string(hide_password=False), port


@pytest.mark.parametrize(
    ("args", "password"),
    [
        (["db", "migrate"], "s3cret"),
        (["db", "status"], "s3cret"),
        (["db", "seed", "--users", "1"], "s3cret"),
        (["db", "migrate"], "p@ss w/rd s3cret"),  # '@', '/' are %-encoded in the URL; the space is not
    ],
)
def test_database_url_pointing_at_nothing_is_one_masked_line(args, password):
    url, port = closed_url(password)
    proc = run(*args, env={"DATABASE_URL": url})
    line = one_error_line(proc)
    assert f"postgresql+psycopg2://ytdq:***@127.0.0.1:{port}/ytempire" in line
    assert "Connection refused" in line
    for secret in ("s3cret", password, url.split(":", 2)[2].split("@127")[0]):
        assert secret not in proc.stderr + proc.stdout


def test_great_expectations_script_masks_the_password_too():
    url, port = closed_url("s3cret")
    proc = run("checkpoint", "run", "nightly", env={"DATABASE_URL": url}, script="great_expectations")
    line = one_error_line(proc)
    assert f"ytdq:***@127.0.0.1:{port}" in line
    assert "s3cret" not in proc.stderr + proc.stdout


def test_a_database_never_migrated_is_one_line_not_a_traceback(new_database, redis_url):
    url = new_database("never_migrated", empty=True)
    spare_db = with_redis_db(redis_url, 9)  # keep the session's keyspace out of it
    proc = run("cache", "seed", env={"DATABASE_URL": url, "REDIS_URL": spare_db})
    line = one_error_line(proc)
    assert 'relation "users" does not exist' in line and "ytdq db migrate" in line
    assert "Traceback" not in proc.stderr
