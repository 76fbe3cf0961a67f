"""A quarantine write that fails is never only in the log, and large keys fit.

An analyst's SQL rule returning rows without the primary key is keyed by the whole row: a 32 KB
row key used to fail the index on ``dq.quarantine`` ("index row requires ... bytes", so its keys
were lost with only a log line); it is stored whole now (migration 009 indexes a digest of the key).
A write that still fails (here a trigger refusing one rule's keys, in the test's own database) is
one ``warning:`` line on stderr naming the rule and an entry of ``warnings`` in ``--json``; the
run's verdict and the other rules' keys stand.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.custom_project import add_checkpoint
from tests.helpers import CHECKS_ROLE_WARNING, copy_project, rows, scalar
from ytempire_dq.db.connect import connect
from ytempire_dq.fixtures import seed

BIN = Path(sys.executable).parent
#: 1,000 md5 digests (32 KB of hex, which compresses badly) per row, no primary key in the row
BIG_ROWS = (
    "SELECT (SELECT string_agg(md5(id::text || g::text), '') FROM generate_series(1, 1000) g) AS blob"
    " FROM {batch} WHERE subscription_tier = 'enterprise'"
)
RULES = [
    {
        "type": "unexpected_rows_expectation",
        "kwargs": {"unexpected_rows_query": BIG_ROWS},
        "meta": {"rule_id": "users.big_rows"},
        "description": "rows keyed by a 32 KB row",
    },
    {
        "type": "unexpected_rows_expectation",
        "kwargs": {"unexpected_rows_query": "SELECT id FROM {batch} WHERE subscription_tier = 'free'"},
        "meta": {"rule_id": "users.refused_rows"},
        "description": "rows whose keys the test's trigger refuses",
    },
]
REFUSE = """
CREATE FUNCTION dq.refuse_test_keys() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.rule_id = 'users.refused_rows' THEN
        RAISE EXCEPTION 'refused by the test';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER refuse_test_keys BEFORE INSERT ON dq.quarantine FOR EACH ROW EXECUTE FUNCTION dq.refuse_test_keys();
"""


@pytest.fixture(scope="module")
def run(new_database, tmp_path_factory):
    url = new_database("quarantine_writes")
    seed.seed(url, users=40, seed=23)
    conn = connect(url, autocommit=True)
    with conn.cursor() as cur:
        cur.execute(REFUSE)
    gx_dir = copy_project(tmp_path_factory.mktemp("quarantine_writes"))
    add_checkpoint(gx_dir, checkpoint="keys", suite="keys", asset="users", expectations=RULES, data_docs=False)
    out = gx_dir.parent / "run.json"
    proc = subprocess.run(
        [str(BIN / "ytdq"), "checkpoint", "run", "keys", "--config", str(gx_dir), "--json", str(out)],
        capture_output=True,
        text=True,
        env={**os.environ, "DATABASE_URL": url, "COLUMNS": "250"},
        timeout=600,
    )
    yield proc, json.loads(out.read_text()), conn
    conn.close()


def test_a_row_key_over_the_index_limit_is_stored_whole(run):
    proc, doc, conn = run
    assert proc.returncode == 1, proc.stdout + proc.stderr
    count = scalar(conn, "SELECT count(*) FROM users WHERE subscription_tier = 'enterprise'")
    assert count > 0
    keys = rows(conn, "SELECT row_key->>'blob' FROM dq.quarantine WHERE rule_id = 'users.big_rows'")
    assert len(keys) == count and {len(k) for (k,) in keys} == {32_000}
    assert "big_rows" not in proc.stderr


def test_a_failed_quarantine_write_is_a_warning_line_and_in_the_json(run):
    proc, doc, conn = run
    warnings = [
        line
        for line in proc.stderr.splitlines()
        if line.startswith("warning:") and not line.startswith(CHECKS_ROLE_WARNING)
    ]
    assert len(warnings) == 1, proc.stderr
    assert "offending rows of users.refused_rows not quarantined" in warnings[0]
    assert "refused by the test" in warnings[0]
    (entry,) = doc["warnings"]
    assert "users.refused_rows" in entry and "refused by the test" in entry
    assert scalar(conn, "SELECT count(*) FROM dq.quarantine WHERE rule_id = 'users.refused_rows'") == 0
    assert doc["exit_code"] == 1 and "Traceback" not in proc.stderr
