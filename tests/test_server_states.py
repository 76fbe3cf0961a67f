"""Every command that touches a server, in every broken server state: one line, exit 2.

The states are real: PostgreSQL stopped (a closed loopback port), Redis stopped (a closed port), a
database never migrated (a fresh empty database), and a wrong password (a role of the session's
PostgreSQL whose password is checked: a ``scram-sha-256`` line for it in ``pg_hba.conf``). Each
failing command prints exactly one ``error:`` line on stderr naming the masked URL and the fix,
exits 2, prints no traceback and never the password. In-process (click's runner) where that is
enough; the console scripts as subprocesses where the brief of the issue names them.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy.engine import URL, make_url

from tests.helpers import with_redis_db
from ytempire_dq.cli import main
from ytempire_dq.db.connect import connect
from ytempire_dq.ops.server_processes import free_port

SECRET = "s3cret-Pw"
ROLE = "ytdq_pw_check"
BIN = Path(sys.executable).parent

#: What the one line must say to fix each state.
FIX = {
    "pg_down": "start it (ytdq services up) or fix DATABASE_URL",
    "redis_down": "start it (ytdq services up) or fix REDIS_URL",
    "unmigrated": "ytdq db migrate",
    "wrong_password": "check the user and password",
}


def _with_password(url: str, password: str, **parts) -> str:
    return make_url(url).set(password=password, **parts).render_as_string(hide_password=False)


@pytest.fixture(scope="module")
def password_role(db_url):
    """A role whose password PostgreSQL checks (the session's cluster trusts everyone else)."""
    admin = connect(db_url, autocommit=True)
    with admin.cursor() as cur:
        cur.execute("SHOW hba_file")
        hba = Path(cur.fetchone()[0])
        cur.execute(f"DROP ROLE IF EXISTS {ROLE}")
        cur.execute(f"CREATE ROLE {ROLE} LOGIN PASSWORD 'the-right-one'")
        before = hba.read_text()
        hba.write_text(f"host all {ROLE} 127.0.0.1/32 scram-sha-256\n{before}")
        cur.execute("SELECT pg_reload_conf()")
    yield ROLE
    with admin.cursor() as cur:
        hba.write_text(before)
        cur.execute("SELECT pg_reload_conf()")
        cur.execute(f"DROP ROLE IF EXISTS {ROLE}")
    admin.close()


@pytest.fixture(scope="module")
def states(db_url, redis_url, new_database, password_role) -> dict[str, dict[str, str]]:
    """{state: {"DATABASE_URL", "REDIS_URL", "shown"}}: ``shown`` is the masked URL the line must name."""
    spare_redis = with_redis_db(redis_url, 9)  # keep the session's keyspace out of it
    pg_down = URL.create(
        "postgresql+psycopg2", username="ytdq", password=SECRET, host="127.0.0.1", port=free_port(), database="ytempire"
    ).render_as_string(hide_password=False)
    redis_port = free_port()
    unmigrated = _with_password(new_database("never_migrated", empty=True), SECRET)
    wrong = _with_password(db_url, SECRET, username=password_role)
    return {
        "pg_down": {"DATABASE_URL": pg_down, "REDIS_URL": spare_redis, "shown": _masked(pg_down)},
        "redis_down": {
            "DATABASE_URL": db_url,
            "REDIS_URL": f"redis://:{SECRET}@127.0.0.1:{redis_port}/0",
            "shown": f"redis://:***@127.0.0.1:{redis_port}/0",
        },
        "unmigrated": {"DATABASE_URL": unmigrated, "REDIS_URL": spare_redis, "shown": _masked(unmigrated)},
        "wrong_password": {"DATABASE_URL": wrong, "REDIS_URL": spare_redis, "shown": _masked(wrong)},
    }


def _masked(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


PG = ("pg_down", "wrong_password")
#: (command, the states in which it must fail with one line); the console scripts run as subprocesses.
MATRIX = [
    (["services", "status"], (*PG, "redis_down")),
    (["db", "migrate"], PG),
    (["db", "status"], PG),
    (["db", "reset"], PG),
    (["db", "seed", "--users", "2"], (*PG, "unmigrated")),
    (["cache", "seed"], (*PG, "redis_down", "unmigrated")),
    (["checkpoint", "run", "nightly"], (*PG, "redis_down", "unmigrated")),
    (["suite", "lint"], (*PG, "unmigrated")),
    (["history"], (*PG, "unmigrated")),
    (["script:ytdq", "monitor", "--once"], (*PG, "redis_down")),  # it configures logging: own process
    (["script:great_expectations", "checkpoint", "run", "nightly"], (*PG, "redis_down", "unmigrated")),
    (["script:ytdq", "history"], PG),  # was a 90-line traceback, exit 1
]
CASES = [
    pytest.param(args, state, id=f"{' '.join(args).replace('script:', '')}-{state}")
    for args, failing in MATRIX
    for state in failing
]


def _run(args: list[str], env: dict[str, str]):
    """(exit code, stdout, stderr) of ``ytdq ARGS`` in-process, or of a console script."""
    if args[0].startswith("script:"):
        proc = subprocess.run(
            [str(BIN / args[0].split(":", 1)[1]), *args[1:]],
            capture_output=True,
            text=True,
            env={**os.environ, "COLUMNS": "200", **env},
            timeout=120,
        )
        return proc.returncode, proc.stdout, proc.stderr
    result = CliRunner().invoke(main, args, env={"COLUMNS": "200", **env})
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize(("args", "state"), CASES)
def test_each_command_in_each_broken_state_is_one_line(args, state, states):
    env = {k: v for k, v in states[state].items() if k != "shown"}
    code, stdout, stderr = _run(args, env)
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert code == 2, (code, stdout, stderr)
    assert len(errors) == 1, stderr
    assert states[state]["shown"] in errors[0], errors[0]
    assert FIX[state] in errors[0], errors[0]
    assert "Traceback" not in stdout + stderr
    assert SECRET not in stdout + stderr


@pytest.mark.parametrize(
    "args", [["checkpoint", "list"], ["suite", "list"], ["suite", "show", "videos"], ["docs", "build"]]
)
def test_commands_that_need_no_server_work_without_one(args, states):
    env = {k: v for k, v in states["pg_down"].items() if k != "shown"}
    code, stdout, stderr = _run(args, env)
    assert code == 0, (stdout, stderr)
    assert stderr == ""


def test_suite_lint_offline_says_in_one_line_what_it_did_not_check(states):
    env = {k: v for k, v in states["pg_down"].items() if k != "shown"}
    code, stdout, stderr = _run(["suite", "lint", "--offline"], env)
    assert code == 0, (stdout, stderr)
    notes = [line for line in stdout.splitlines() if "offline" in line]
    assert len(notes) == 1 and "columns and SQL rules were not checked" in notes[0]
    assert "0 errors, 1 warning" in stdout
    assert SECRET not in stdout + stderr


def test_a_reachable_migrated_database_passes_status(db_url, redis_url):
    code, stdout, stderr = _run(["services", "status"], {"DATABASE_URL": db_url, "REDIS_URL": redis_url})
    assert code == 0, (stdout, stderr)
    assert stdout.count("yes") == 2
