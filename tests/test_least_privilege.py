"""The checks connect as a role that can only read (docs/production.md, "Run it against production").

With the embedded defaults (no DATABASE_URL, as after `ytdq services up`), in a project home and
state directory of this module: the checking role has no power (no superuser, CREATEROLE,
REPLICATION, BYPASSRLS, no role membership, no CREATE), and each thing an analyst's SQL could try
fails for lack of privilege -- also after turning the role's read-only default off -- with nothing
changed; migrate, seed and nightly still work, the history written by the owner. The documented
GRANT block, run verbatim but for the names it says to replace, gives a role the checks run as,
clean. A role that can write is named in one stderr warning by `checkpoint run` and `services status`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg2
import pytest
from psycopg2 import errors

from tests.doc_pages import code_block
from tests.helpers import rows, scalar, with_redis_db
from tests.worker_home import make_worker_home
from ytempire_dq.db.connect import connect, parse_url
from ytempire_dq.db.roles import CHECK_USER
from ytempire_dq.fixtures import seed
from ytempire_dq.ops import services

YTDQ = Path(sys.executable).with_name("ytdq")
ENV_URLS = ("DATABASE_URL", "REDIS_URL", "YTDQ_STORE_URL")


def ytdq(home: Path | None, *args: str, **env: str) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if k not in ENV_URLS}
    full.update(COLUMNS="200", **({"YTDQ_HOME": str(home)} if home else {}), **env)
    return subprocess.run([str(YTDQ), *args], capture_output=True, text=True, env=full, timeout=300)


def warnings(proc: subprocess.CompletedProcess) -> list[str]:
    return [line for line in proc.stderr.splitlines() if line.startswith("warning:")]


# ---------------------------------------------------------------------------------------------
# the embedded defaults


@pytest.fixture(scope="module")
def embedded():
    """`ytdq services up` in a project home of this module; the URLs it printed and the owner's."""
    home = make_worker_home("least-privilege")
    try:
        up = ytdq(home, "services", "up", YTDQ_WAL_ARCHIVE="off")
        assert up.returncode == 0, up.stderr
        exported = dict(line.removeprefix("export ").split("=", 1) for line in up.stdout.splitlines())
        state = services.read_services(home / ".ytdq")
        yield {"home": home, "exported": exported, "owner": state["postgres"]["url"], "state": state}
    finally:
        services.down(home / ".ytdq", purge=True)
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="module")
def migrated(embedded):
    """`ytdq db migrate`, `db seed`, `cache seed`, then `checkpoint run nightly`, with the embedded defaults."""
    for args in (("db", "migrate"), ("db", "seed", "--users", "10"), ("cache", "seed")):
        proc = ytdq(embedded["home"], *args)
        assert proc.returncode == 0, (args, proc.stdout, proc.stderr)
    return {**embedded, "nightly": ytdq(embedded["home"], "checkpoint", "run", "nightly")}


def owner(embedded) -> psycopg2.extensions.connection:
    return connect(embedded["owner"], autocommit=True)


@pytest.mark.local_servers
def test_services_up_prints_the_checking_role(embedded):
    url = parse_url(embedded["exported"]["DATABASE_URL"])
    assert url.username == CHECK_USER and url.port == embedded["state"]["postgres"]["port"]
    assert parse_url(embedded["owner"]).username == services.DB_USER


@pytest.mark.local_servers
def test_the_checking_role_has_no_power(migrated):
    conn = owner(migrated)
    try:
        row = scalar(
            conn,
            "SELECT row(rolsuper, rolcreaterole, rolreplication, rolbypassrls, rolcreatedb, rolcanlogin)::text "
            "FROM pg_roles WHERE rolname = %s",
            (CHECK_USER,),
        )
        assert row == "(f,f,f,f,f,t)"
        member_of = scalar(
            conn,
            "SELECT count(*) FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.member WHERE r.rolname = %s",
            (CHECK_USER,),
        )
        assert member_of == 0
        settings = scalar(
            conn,
            "SELECT setconfig FROM pg_db_role_setting s JOIN pg_roles r ON r.oid = s.setrole "
            "WHERE r.rolname = %s AND s.setdatabase = 0",
            (CHECK_USER,),
        )
        assert sorted(settings) == ["default_transaction_read_only=on", "statement_timeout=5min"]
        # reads what the checks read, creates nowhere; tables of a later migration are covered too
        conn.cursor().execute("CREATE TABLE dq.later_table (id int)")
        for schema in ("public", "dq"):
            assert scalar(conn, "SELECT has_schema_privilege(%s, %s, 'USAGE')", (CHECK_USER, schema)) is True
            assert scalar(conn, "SELECT has_schema_privilege(%s, %s, 'CREATE')", (CHECK_USER, schema)) is False
        assert scalar(conn, "SELECT has_database_privilege(%s, current_database(), 'CREATE')", (CHECK_USER,)) is False
        for table in ("users", "analytics", "dq.runs", "dq.rule_results", "dq.metrics", "dq.later_table"):
            assert scalar(conn, "SELECT has_table_privilege(%s, %s, 'SELECT')", (CHECK_USER, table)) is True
            assert (
                scalar(
                    conn, "SELECT has_table_privilege(%s, %s, 'INSERT, UPDATE, DELETE, TRUNCATE')", (CHECK_USER, table)
                )
                is False
            )
        conn.cursor().execute("DROP TABLE dq.later_table")
    finally:
        conn.close()


def _marker(name: str) -> Path:
    return Path("/tmp") / f"ytdq-lp-{name}-{uuid.uuid4().hex[:8]}"


#: What an analyst's SQL could try, as the checking role ({marker}: a file it must not make; {pid}: another backend).
PAYLOADS = {
    "read_file": "SELECT pg_read_file('/etc/passwd')",
    "lo_import": "SELECT lo_import('/etc/passwd')",
    "lo_export": "SELECT lo_export(lo_from_bytea(0, 'x'), '{marker}')",
    "lo_create": "SELECT lo_from_bytea(0, 'x')",
    "copy_to_program": "COPY (SELECT 1) TO PROGRAM 'touch {marker}'",
    "terminate_backend": "SELECT pg_terminate_backend({pid})",
    "replication_slot": "SELECT pg_create_physical_replication_slot('ytdq_probe', true)",
    "dblink": "CREATE EXTENSION dblink",
    "insert": "INSERT INTO users (username) VALUES ('lp_probe')",
    "delete": "DELETE FROM users",
    "read_write_insert": "SET default_transaction_read_only = off; INSERT INTO users (username) VALUES ('lp_probe')",
    "history_delete": "DELETE FROM dq.runs",
    "create_table": "CREATE TABLE lp_probe (id int)",
}

#: What the payloads would change, read as the owner.
STATE = """
SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM dq.runs), (SELECT count(*) FROM pg_largeobject_metadata),
       (SELECT count(*) FROM pg_replication_slots), (SELECT count(*) FROM pg_extension WHERE extname = 'dblink'),
       to_regclass('lp_probe') IS NULL
"""


@pytest.mark.local_servers
@pytest.mark.parametrize("read_only_default", [True, False], ids=["as_is", "read_only_off"])
@pytest.mark.parametrize("name", list(PAYLOADS))
def test_each_payload_fails_for_lack_of_privilege(migrated, name, read_only_default):
    """As the checking role, each payload fails with nothing changed; with the role's read-only
    default turned off first, it fails for lack of privilege (42501), not only because the
    session is read-only."""
    marker = Path("/tmp") / f"ytdq-lp-{name}-{uuid.uuid4().hex[:8]}"
    watcher = owner(migrated)
    before = rows(watcher, STATE)
    checker = connect(migrated["exported"]["DATABASE_URL"], autocommit=True)
    try:
        with checker.cursor() as cur:
            if not read_only_default:
                cur.execute("SET default_transaction_read_only = off")
            with pytest.raises(psycopg2.Error) as caught:
                cur.execute(PAYLOADS[name].format(marker=marker, pid=watcher.get_backend_pid()))
        if read_only_default:
            assert caught.value.pgcode in ("42501", "25006"), caught.value.pgerror  # no privilege, read-only
        else:
            assert isinstance(caught.value, errors.InsufficientPrivilege), caught.value.pgerror
        assert not marker.exists()
        assert rows(watcher, STATE) == before  # this also shows the owner's backend was not terminated
        assert before[0][0] > 0 and before[0][1] > 0  # rows that a DELETE would have removed
    finally:
        checker.close()
        watcher.close()
        marker.unlink(missing_ok=True)


@pytest.mark.local_servers
def test_migrate_seed_and_nightly_work_with_the_embedded_defaults(migrated):
    home, proc = migrated["home"], migrated["nightly"]
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    assert warnings(proc) == []  # the checks' role (config.database_url) can neither write nor is a superuser
    run_id = re.search(r"\(run (nightly-\S+?)\)", proc.stdout)[1]
    conn = owner(migrated)
    try:
        assert scalar(conn, "SELECT rules_total FROM dq.runs WHERE run_id = %s", (run_id,)) > 0
        assert scalar(conn, "SELECT count(*) FROM dq.rule_results WHERE run_id = %s", (run_id,)) > 0
    finally:
        conn.close()
    # DATABASE_URL exported as `services up` prints it: migrations still go to the owner
    again = ytdq(home, "db", "migrate", DATABASE_URL=migrated["exported"]["DATABASE_URL"])
    assert again.returncode == 0 and again.stdout.strip() == "applied 0 migrations", again.stderr
    status = ytdq(home, "services", "status")
    assert status.returncode == 0 and warnings(status) == [], status.stderr


@pytest.mark.local_servers
def test_the_quarantine_reads_an_analysts_rows_as_the_checking_role(migrated, tmp_path):
    """A failed SQL rule's rows are read again for the quarantine (here: GX runs the rule, the fast
    path is off) as the checks' role, never as the owner that writes them: this rule's rows are
    the users when the reader is no superuser, none when it is one."""
    suite_file = migrated["home"] / "expectations" / "users.json"
    original = suite_file.read_text()
    suite = json.loads(original)
    suite["expectations"].append(
        {
            "id": str(uuid.uuid4()),
            "kwargs": {
                "unexpected_rows_query": "SELECT id FROM {batch} "
                "WHERE NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)"
            },
            "meta": {"rule_id": "users.lp_reader_probe"},
            "type": "unexpected_rows_expectation",
        }
    )
    suite_file.write_text(json.dumps(suite, indent=2))
    try:
        out = tmp_path / "run.json"
        proc = ytdq(migrated["home"], "checkpoint", "run", "nightly", "--json", str(out), YTDQ_FAST="0")
    finally:
        suite_file.write_text(original)
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    run = json.loads(out.read_text())
    rule = next(r for v in run["validations"] for r in v["results"] if r["rule_id"] == "users.lp_reader_probe")
    conn = owner(migrated)
    try:
        users = scalar(conn, "SELECT count(*) FROM users")
        assert rule["unexpected_count"] == users > 0
        quarantined = scalar(
            conn,
            "SELECT count(*) FROM dq.quarantine WHERE run_id = %s AND rule_id = 'users.lp_reader_probe'",
            (run["run_id"],),
        )
        assert quarantined == users
    finally:
        conn.close()


@pytest.mark.local_servers
def test_backup_and_history_prune_connect_as_the_owner(migrated):
    """What needs more than reading works with the embedded defaults: a base backup (REPLICATION)
    and deleting history rows go through config.store_url, the owner."""
    home = migrated["home"]
    backup = ytdq(home, "backup", "--no-verify")
    assert backup.returncode == 0, backup.stderr
    assert backup.stdout.startswith("backup "), backup.stdout
    pruned = ytdq(home, "results", "prune", "--keep-runs", "1", "--history")
    assert pruned.returncode == 0, pruned.stderr
    conn = owner(migrated)
    try:
        assert scalar(conn, "SELECT count(*) FROM dq.runs WHERE checkpoint = 'nightly'") == 1
    finally:
        conn.close()


# ---------------------------------------------------------------------------------------------
# the documented block for production servers (docs/production.md)


def readme_grant_block() -> str:
    """The first ```sql block of docs/production.md ("Run it against production"), as written."""
    return code_block("production.md", "Run it against production", "sql", 0)


@pytest.fixture(scope="module")
def readme_role(server_urls, new_database, redis_url):
    """The documented block run on a new, seeded database of the session, as its owner, with only
    the names and password the page says to replace; dropped at the end."""
    db_url = new_database("readme_role")
    seed.seed(db_url, users=5)
    role, password = f"lp_{uuid.uuid4().hex[:8]}", "pw-" + uuid.uuid4().hex[:8]
    url = parse_url(db_url)
    conn = connect(db_url, autocommit=True)
    block = readme_grant_block()
    replaced = (
        block.replace("ytdq_check", role)
        .replace("change-me", password)
        .replace("ytempire", url.database)
        .replace("ytdq_owner", scalar(conn, "SELECT current_user"))
    )
    try:
        conn.cursor().execute(replaced)
        role_url = url.set(username=role, password=password).render_as_string(hide_password=False)
        yield {"db_url": db_url, "role": role, "url": role_url, "redis": with_redis_db(redis_url, 13), "conn": conn}
    finally:
        conn.cursor().execute(f"DROP OWNED BY {role}; DROP ROLE IF EXISTS {role}")
        conn.close()


def test_the_readme_block_makes_a_powerless_role(readme_role):
    row = scalar(
        readme_role["conn"],
        "SELECT row(rolsuper, rolcreaterole, rolreplication, rolbypassrls)::text FROM pg_roles WHERE rolname = %s",
        (readme_role["role"],),
    )
    assert row == "(f,f,f,f)"


def test_checkpoint_runs_clean_as_the_readme_role(readme_role):
    proc = ytdq(
        None,
        "checkpoint",
        "run",
        "critical",
        DATABASE_URL=readme_role["url"],
        YTDQ_STORE_URL=readme_role["db_url"],
        REDIS_URL=readme_role["redis"],
    )
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    assert warnings(proc) == []
    run_id = re.search(r"\(run (critical-\S+?)\)", proc.stdout)[1]
    assert scalar(readme_role["conn"], "SELECT count(*) FROM dq.runs WHERE run_id = %s", (run_id,)) == 1


# ---------------------------------------------------------------------------------------------
# the warning


def test_a_superuser_is_named_once(readme_role):
    env = {"DATABASE_URL": readme_role["db_url"], "REDIS_URL": readme_role["redis"]}
    user = parse_url(readme_role["db_url"]).username
    for args in (("checkpoint", "run", "critical"), ("services", "status")):
        proc = ytdq(None, *args, **env)
        assert proc.returncode == 0, (args, proc.stdout, proc.stderr)
        assert warnings(proc) == [
            f"warning: the checks connect as {user}, a superuser: an analyst's SQL could read and write server files, "
            'run programs and stop other sessions; connect them as a read-only role (see docs/production.md, "Run it against production")'
        ], proc.stderr


def test_a_role_that_can_write_is_named(readme_role):
    conn = readme_role["conn"]
    conn.cursor().execute(f"GRANT INSERT ON videos TO {readme_role['role']}")
    try:
        env = {"DATABASE_URL": readme_role["url"], "YTDQ_STORE_URL": readme_role["db_url"]}
        proc = ytdq(None, "checkpoint", "run", "critical", REDIS_URL=readme_role["redis"], **env)
        assert proc.returncode == 0, (proc.stdout, proc.stderr)
        assert warnings(proc) == [
            f"warning: the checks connect as {readme_role['role']}, which can write (e.g. INSERT, UPDATE, DELETE or "
            'TRUNCATE on public.videos); connect them as a read-only role (see docs/production.md, "Run it against production")'
        ]
    finally:
        conn.cursor().execute(f"REVOKE INSERT ON videos FROM {readme_role['role']}")
