"""Personal data never leaves the database in clear (issue 15, item 4; ``ytempire_dq.pii``).

Seeded defects put e-mail addresses, usernames and a free-text error message into failed rules'
samples: GX's map rules (``users.email_format``, ``users.email_unique``,
``users.username_min_length``, ``workflows.error_only_when_failed``) and an analyst's SQL rules
returning whole rows (with and without the primary key). After ``ytdq checkpoint run`` (a real
process, with Redis publishing), no such value appears in clear in the terminal output, the
``--json`` file, the stored result files, the Data Docs HTML, the log file, any Redis key or
value, or the ``dq`` history tables; the masks (salted hash prefixes) are there instead.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import redis

from tests.custom_project import add_checkpoint
from tests.helpers import copy_project, empty_redis_db, rows
from ytempire_dq import pii
from ytempire_dq.db.connect import connect
from ytempire_dq.fixtures import seed
from ytempire_dq.fixtures.defects.kinds import EMAIL_RE

BIN = Path(sys.executable).parent
#: An address, without braces (GX fills {batch} with str.format); the injected bad e-mails miss it.
ADDRESS = "^[^@]+@[^@]+[.][A-Za-z]+$"
REDIS_DB = 7
SALT = "test-salt-of-test_pii"
INJECT = {"bad_email": 3, "duplicate_email": 2, "short_username": 2, "error_on_unfailed_workflow": 2}
#: What error_on_unfailed_workflow writes into workflows.error_message (free text: masked too).
FREE_TEXT = "quota exceeded"
SQL_RULES = [
    {
        "type": "unexpected_rows_expectation",
        "kwargs": {"unexpected_rows_query": f"SELECT id, email, username FROM {{batch}} WHERE email !~* '{ADDRESS}'"},
        "meta": {"rule_id": "users.bad_email_rows"},
        "description": "whole rows (with the key) of users whose e-mail is not an address",
    },
    {
        "type": "unexpected_rows_expectation",
        "kwargs": {
            "unexpected_rows_query": "SELECT email, username, subscription_tier FROM {batch} WHERE length(username) < 3"
        },
        "meta": {"rule_id": "users.short_username_rows"},
        "description": "rows WITHOUT the key (the quarantine would keep the whole row) of too-short usernames",
    },
]


#: A rule that cannot run: PostgreSQL's error quotes the value it could not cast (an e-mail address).
ERROR_RULE = {
    "type": "unexpected_rows_expectation",
    "kwargs": {"unexpected_rows_query": "SELECT id FROM {batch} WHERE email::int > 0"},
    "meta": {"rule_id": "users.email_as_number"},
    "description": "a broken rule whose error message quotes an e-mail address",
}
#: The same with a username: PostgreSQL quotes it as it quotes an e-mail address; not e-mail-shaped,
#: it is masked because the rule reads a declared personal column.
USERNAME_ERROR_RULE = {
    "type": "unexpected_rows_expectation",
    "kwargs": {"unexpected_rows_query": "SELECT id FROM {batch} WHERE username::int > 0"},
    "meta": {"rule_id": "users.username_as_number"},
    "description": "a broken rule whose error message quotes a username",
}
#: checkpoint -> the exit code its run must give
CHECKPOINTS = {"nightly": 1, "pii_rows": 1, "pii_error": 2}


@pytest.fixture(scope="module")
def cache_url(redis_url):
    yield from empty_redis_db(redis_url, REDIS_DB)


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    gx_dir = copy_project(tmp_path_factory.mktemp("pii_project"))
    # COMPLETE: GX gives a SQL rule's rows only then
    add_checkpoint(
        gx_dir, checkpoint="pii_rows", suite="pii_rows", asset="users", expectations=SQL_RULES, result_format="COMPLETE"
    )
    add_checkpoint(
        gx_dir, checkpoint="pii_error", suite="pii_error", asset="users", expectations=[ERROR_RULE, USERNAME_ERROR_RULE]
    )
    return gx_dir.parent


@pytest.fixture(scope="module")
def seeded(db_url) -> str:
    seed.seed(db_url, users=40, seed=15, inject=INJECT)
    return db_url


def ytdq_run(checkpoint: str, project: Path, db_url: str, cache_url: str, out: Path) -> subprocess.CompletedProcess:
    args = [str(BIN / "ytdq"), "checkpoint", "run", checkpoint, "--config", str(project / "gx"), "--json", str(out)]
    env = {
        **os.environ,
        "DATABASE_URL": db_url,
        "REDIS_URL": cache_url,
        "COLUMNS": "250",
        "YTDQ_PII_SALT": SALT,
    }
    return subprocess.run(args, capture_output=True, text=True, env=env, cwd=project, timeout=600)


@pytest.fixture(scope="module")
def runs(seeded, cache_url, project, tmp_path_factory) -> dict[str, tuple[subprocess.CompletedProcess, dict]]:
    """nightly (GX's map rules, the fast path), pii_rows (SQL rules) and pii_error (an error text
    quoting a value), each through the CLI."""
    out_dir = tmp_path_factory.mktemp("pii_out")
    done = {}
    for name, code in CHECKPOINTS.items():
        out = out_dir / f"{name}.json"
        proc = ytdq_run(name, project, seeded, cache_url, out)
        assert proc.returncode == code, proc.stdout[-3000:] + proc.stderr[-3000:]
        done[name] = (proc, json.loads(out.read_text()))
    return done


@pytest.fixture(scope="module")
def personal(seeded) -> dict[str, list[str]]:
    """Every e-mail and username in the database, the offending ones apart, and the free text."""
    conn = connect(seeded, autocommit=True)
    try:
        users = rows(conn, "SELECT email, username FROM users")
        bad = [e for (e,) in rows(conn, "SELECT email FROM users WHERE email !~* %s", (EMAIL_RE,))]
        dup = [e for (e,) in rows(conn, "SELECT email FROM users GROUP BY email HAVING count(*) > 1")]
        short = [u for (u,) in rows(conn, "SELECT username FROM users WHERE length(username) < 3")]
    finally:
        conn.close()
    assert len(bad) == INJECT["bad_email"] and len(dup) == INJECT["duplicate_email"]
    assert len(short) == INJECT["short_username"]
    return {
        "emails": [e for e, _ in users],
        "usernames": [u for _, u in users if len(u) >= 5],  # "ab" is a substring of everything
        "all_usernames": [u for _, u in users],
        "bad": bad,
        "dup": dup,
        "short": short,
    }


def masked(value: str) -> str:
    os.environ[pii.SALT_ENV] = SALT
    try:
        return pii.mask(value)
    finally:
        del os.environ[pii.SALT_ENV]


def assert_no_personal_data(text: str, personal: dict, where: str) -> None:
    for value in [*personal["emails"], *personal["usernames"], FREE_TEXT]:
        assert value not in text, f"{value!r} in clear in {where}"
    for value in personal["short"]:  # two characters: look for them as whole quoted values
        assert f'"{value}"' not in text and f"'{value}'" not in text, f"{value!r} in clear in {where}"


def test_the_json_and_the_terminal_show_masks_only(runs, personal):
    for name, (proc, doc) in runs.items():
        assert_no_personal_data(proc.stdout + proc.stderr, personal, f"{name}'s terminal output")
        assert_no_personal_data(json.dumps(doc), personal, f"{name}'s --json")
    results = {r["rule_id"]: r for v in runs["nightly"][1]["validations"] for r in v["results"]}
    assert sorted(results["users.email_format"]["partial_unexpected_list"]) == sorted(map(masked, personal["bad"]))
    dup_masks = results["users.email_unique"]["partial_unexpected_list"]
    assert sorted(set(dup_masks)) == sorted(map(masked, personal["dup"]))
    assert sorted(results["users.username_min_length"]["partial_unexpected_list"]) == sorted(
        map(masked, personal["short"])
    )
    assert set(results["workflows.error_only_when_failed"]["partial_unexpected_list"]) == {masked(FREE_TEXT)}
    # the masks are in the terminal table too
    assert masked(personal["bad"][0]) in runs["nightly"][0].stdout or "users.email_format" in runs["nightly"][0].stdout


def test_sql_rules_rows_have_their_personal_columns_masked(runs, personal):
    results = {r["rule_id"]: r for v in runs["pii_rows"][1]["validations"] for r in v["results"]}
    with_key = results["users.bad_email_rows"]
    assert with_key["unexpected_count"] == INJECT["bad_email"]
    assert sorted(row["email"] for row in with_key["partial_unexpected_list"]) == sorted(map(masked, personal["bad"]))
    assert all(re.fullmatch(r"[0-9a-f-]{36}", row["id"]) for row in with_key["partial_unexpected_list"])  # key kept
    without_key = results["users.short_username_rows"]
    assert sorted(row["username"] for row in without_key["partial_unexpected_list"]) == sorted(
        map(masked, personal["short"])
    )
    assert {row["subscription_tier"] for row in without_key["partial_unexpected_list"]} <= {
        "free",
        "starter",
        "professional",
        "enterprise",
    }


def test_an_error_quoting_a_value_shows_its_mask(runs, personal):
    proc, doc = runs["pii_error"]
    results = doc["validations"][0]["results"]
    assert [r["rule_id"] for r in results] == ["users.email_as_number", "users.username_as_number"]
    for result in results:
        assert re.search(r'invalid input syntax for type integer: "pii:[0-9a-f]{12}"', result["error"]), result
    assert "invalid input syntax" in proc.stdout + proc.stderr
    # the username quoted is one of the database's, shown as its mask (the other outputs: the tests below)
    quoted = re.search(r'integer: "(pii:[0-9a-f]{12})"', results[1]["error"]).group(1)
    assert quoted in {masked(u) for u in personal["all_usernames"]}


def test_stored_results_data_docs_and_the_log_file_hold_no_personal_data(runs, project, personal):
    uncommitted = project / "gx" / "uncommitted"
    files = [p for p in uncommitted.rglob("*") if p.is_file() and p.suffix in (".json", ".html", ".log")]
    kinds = {p.suffix for p in files}
    assert kinds == {".json", ".html", ".log"}, kinds
    for path in files:
        assert_no_personal_data(path.read_text(errors="replace"), personal, str(path))
    stored = "".join(p.read_text() for p in (uncommitted / "validations").rglob("*.json"))
    assert masked(personal["bad"][0]) in stored  # the mask is what was stored
    docs = "".join(p.read_text() for p in (uncommitted / "data_docs").rglob("*.html"))
    assert masked(personal["bad"][0]) in docs


def test_redis_holds_no_personal_data(runs, cache_url, personal):
    client = redis.Redis.from_url(cache_url, decode_responses=True)
    try:
        dump = []
        for key in client.scan_iter(count=1000):
            dump.append(key)
            kind = client.type(key)
            if kind == "hash":
                dump.append(json.dumps(client.hgetall(key)))
            elif kind == "string":
                dump.append(client.get(key) or "")
        assert any(k.startswith("dq:last:") for k in dump)
    finally:
        client.close()
    assert_no_personal_data("\n".join(dump), personal, "Redis")


def test_the_dq_history_and_quarantine_hold_keys_only(runs, seeded, personal):
    conn = connect(seeded, autocommit=True)
    try:
        dump = {
            table: "\n".join(r for (r,) in rows(conn, f"SELECT row_to_json(t)::text FROM dq.{table} t"))
            for table in ("runs", "rule_results", "quarantine")
        }
        keys = rows(conn, "SELECT rule_id, row_key::text FROM dq.quarantine WHERE table_name = 'users'")
    finally:
        conn.close()
    for table, text in dump.items():
        assert_no_personal_data(text, personal, f"dq.{table}")
    by_rule: dict[str, list[dict]] = {}
    for rule_id, key in keys:
        by_rule.setdefault(rule_id, []).append(json.loads(key))
    assert len(by_rule["users.email_format"]) == INJECT["bad_email"]
    assert all(set(k) == {"id"} for k in by_rule["users.email_format"])
    # a SQL rule's rows without the key: kept without their personal columns
    short = by_rule["users.short_username_rows"]
    assert len(short) == INJECT["short_username"]
    assert all(not (set(k) & pii.PII_NAMES) for k in short), short


def test_masking_is_stable_keyed_and_idempotent(monkeypatch):
    monkeypatch.setenv(pii.SALT_ENV, "one")
    a = pii.mask("someone@example.com")
    assert re.fullmatch(r"pii:[0-9a-f]{12}", a) and pii.mask("someone@example.com") == a and pii.mask(a) == a
    monkeypatch.setenv(pii.SALT_ENV, "two")
    assert pii.mask("someone@example.com") != a  # another salt, another mask: guesses need the salt
    assert pii.mask(None) is None
    # a cache rule's sample names keys: a session token is an online identifier (and a secret)
    sample = {"partial_unexpected_list": ["session:tok3n", "ratelimit:u1:60s", "video:v1:stats"]}
    assert pii.mask_result(sample, {"column": "user_id"})["partial_unexpected_list"] == [
        "session:" + pii.mask("tok3n"),
        "ratelimit:u1:60s",
        "video:v1:stats",
    ]
    assert pii.mask_text("user someone@example.com failed; postgresql://ytdq@db.example.com/x") == (
        f"user {pii.mask('someone@example.com')} failed; postgresql://ytdq@db.example.com/x"
    )


def test_the_salt_file_is_created_once_private_and_git_ignored(tmp_path, monkeypatch):
    monkeypatch.delenv(pii.SALT_ENV, raising=False)
    path = tmp_path / ".ytdq" / pii.SALT_FILE
    first = pii._file_salt(path)
    pii._file_salt.cache_clear()
    assert pii._file_salt(path) == first and len(first) == 64
    assert path.stat().st_mode & 0o077 == 0
    checkout = Path(__file__).resolve().parents[1]  # the repository (under pytest -n, PROJECT_ROOT is a copy)
    assert ".ytdq/" in (checkout / ".gitignore").read_text().split()


def test_values_postgresql_quotes_are_masked_only_for_rules_naming_a_personal_column(monkeypatch):
    monkeypatch.setenv(pii.SALT_ENV, SALT)
    quoted = 'o"neil'  # a value holding a quote: it ends at the line's last one
    error = (
        '(psycopg2.errors.InvalidTextRepresentation) invalid input syntax for type integer: "o"neil"\n'
        "DETAIL:  Key (username)=(o(n)eil) already exists.\n"
        "DETAIL:  Failing row contains (7, oneil, free).\n"
        'relation "users" does not exist\n'
        '  "unexpected_rows_query": "SELECT id FROM {batch} WHERE username::int > 0",\n'
        "[SQL: SELECT id FROM users WHERE username::int > 0]"
    )
    assert pii.reads_personal({"unexpected_rows_query": "SELECT id FROM {batch} WHERE username::int > 0"})
    assert pii.reads_personal({"column_list": ["id", "email"]})
    assert not pii.reads_personal({"column": "table_name", "unexpected_rows_query": "SELECT name_x FROM t"})
    masked_lines = pii.mask_error(error, True).splitlines()
    assert masked_lines[:3] == [
        "(psycopg2.errors.InvalidTextRepresentation) invalid input syntax for type integer: " + f'"{pii.mask(quoted)}"',
        f"DETAIL:  Key (username)=({pii.mask('o(n)eil')}) already exists.",
        f"DETAIL:  Failing row contains ({pii.mask('7, oneil, free')}).",
    ]
    assert masked_lines[3:] == error.splitlines()[3:]  # identifiers, JSON and SQL stay readable
    assert pii.mask_error(error, False) == error  # a rule on no personal column: its values help debugging
    # a log line holds the traceback as repr text: the value ends at the written-out newline
    logged = "{'exception_traceback': 'integer: \"oneil\"\\n\\nThe above', 'exception_message': 'x'}"
    assert pii.mask_error(logged, True) == logged.replace("oneil", pii.mask("oneil"))
