"""A history that cannot be written is a failed run, never an exit 0 with the history lost.

- The store's role may only read (``GRANT USAGE ON SCHEMA public, dq`` + ``SELECT ON ALL TABLES``,
  the checked database as the store: ``YTDQ_STORE_URL`` unset): the pre-flight stops the run before
  any rule with one line naming the store, the reason and the fix; exit 2.
- The store refuses the run's row after the pre-flight (a trigger on ``dq.runs``): the verdict table
  is printed, then one ``error:`` line naming the store (password masked) and the cause; exit 2;
  ``--json`` says so (``history_error``), and ``--junit`` has one ``history`` test case in error.
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from junitparser import JUnitXml
from sqlalchemy.engine import make_url

from tests.helpers import copy_project, scalar
from tests.test_history import REFUSE_RUNS
from tests.topologies import ROLE_PASSWORD
from ytempire_dq.cli import main
from ytempire_dq.db.connect import connect
from ytempire_dq.fixtures import seed

ROLE = "ytdq_select_only"
SECRET = "s3cret-store"


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    return copy_project(tmp_path_factory.mktemp("store_writable"))


@pytest.fixture(scope="module")
def seeded(db_url) -> str:
    seed.seed(db_url, users=5, seed=4)
    return db_url


@pytest.fixture(scope="module")
def select_only_url(seeded, select_only_role):
    return select_only_role(seeded, ROLE)


def run(project, *args: str, **env: str | None):
    env = {"COLUMNS": "200", "YTDQ_STORE_URL": None, "REDIS_URL": "redis://127.0.0.1:1/0", **env}
    return CliRunner().invoke(main, ["checkpoint", "run", *args, "--config", str(project)], env=env)


def error_lines(result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("error:")]


def test_a_select_only_store_stops_the_run_before_any_rule(select_only_url, project, tmp_path):
    report = tmp_path / "run.json"
    result = run(project, "critical", "--json", str(report), DATABASE_URL=select_only_url)
    assert result.exit_code == 2, (result.stdout, result.stderr)
    (line,) = error_lines(result)
    print(f"$ DATABASE_URL=<{ROLE} on the primary> ytdq checkpoint run critical\n{line}")
    assert f"postgresql+psycopg2://{ROLE}:***@" in line and ROLE_PASSWORD not in result.stdout + result.stderr
    assert f"role '{ROLE}' may not write the run's history (no INSERT on dq.runs" in line
    assert "set YTDQ_STORE_URL to a writable PostgreSQL database" in line
    assert "[1/" not in result.stderr and "rules met" not in result.stdout  # no rule ran
    doc = json.loads(report.read_text())
    assert doc["exit_code"] == 2 and "may not write the run's history" in doc["error"]


def test_a_store_that_refuses_the_history_mid_run_is_exit_2_after_the_verdict(seeded, project, tmp_path):
    conn = connect(seeded, autocommit=True)
    conn.cursor().execute(REFUSE_RUNS)
    try:
        before = scalar(conn, "SELECT count(*) FROM dq.runs")
        with_password = make_url(seeded).set(password=SECRET).render_as_string(hide_password=False)
        report, junit = tmp_path / "run.json", tmp_path / "run.xml"
        result = run(project, "critical", "--json", str(report), "--junit", str(junit), DATABASE_URL=with_password)
        assert result.exit_code == 2, (result.stdout, result.stderr)
        assert "checkpoint critical passed" in result.stdout  # the verdict table is still printed
        (line,) = error_lines(result)
        print(f"$ DATABASE_URL=<owner, dq.runs refusing rows> ytdq checkpoint run critical\n{result.stdout}{line}")
        assert line.startswith("error: the run's history was not recorded in postgresql+psycopg2://")
        assert line.endswith(
            "/t_test_store_writable_" + seeded.rsplit("_", 1)[-1] + ": dq.runs refuses rows (test trigger) "
            "— set YTDQ_STORE_URL to a writable PostgreSQL database"
        )
        assert ":***@" in line and "INSERT INTO" not in line  # the statement is in the log file
        assert SECRET not in result.stdout + result.stderr
        doc = json.loads(report.read_text())
        assert doc["exit_code"] == 2 and doc["success"] is True and doc["errors"] == []
        assert "dq.runs refuses rows" in doc["history_error"] and SECRET not in doc["history_error"]
        xml = JUnitXml.fromfile(str(junit))
        (history,) = [suite for suite in xml if suite.name == "history"]
        (case,) = list(history)
        assert case.result[0].type == "HistoryError" and "dq.runs refuses rows" in case.result[0].message
        assert xml.errors == 1 and xml.failures == 0 and SECRET not in junit.read_text()
        assert scalar(conn, "SELECT count(*) FROM dq.runs") == before
        # --json to stdout: no table, the same error line, the same exit code
        piped = run(project, "critical", "--json", "-", DATABASE_URL=with_password)
        assert piped.exit_code == 2 and json.loads(piped.stdout)["history_error"]
        assert len(error_lines(piped)) == 1
    finally:
        conn.cursor().execute("DROP TRIGGER refuse_rows ON dq.runs; DROP FUNCTION dq.refuse_rows()")
        conn.close()
