"""Bounded growth (issue 14, item 4): ``ytdq results prune`` removes exactly the old runs' result
files, Data Docs pages and index rows (and, with --history, their dq rows) and keeps the rest; a
checkpoint's ``prune_results`` action applies its retention itself."""

from __future__ import annotations

import datetime as dt
import shutil

import pytest
from click.testing import CliRunner

from benchmarks.docs_growth import copy_runs
from tests.docs_runs import add_checkpoint_of, index_tables, result_files, site_of, validation_pages
from tests.helpers import copy_project, rows, scalar
from ytempire_dq.cli import main
from ytempire_dq.db.connect import connect
from ytempire_dq.docs import site
from ytempire_dq.errors import ExitCode
from ytempire_dq.fixtures import seed
from ytempire_dq.run.checkpoint import run_checkpoint
from ytempire_dq.store import retention


@pytest.fixture(scope="module")
def base(db_url, tmp_path_factory):
    """A project copy holding 10 runs of ``alpha`` (users + channels; one real, 9 copies a day
    apart) and 1 of ``beta`` (users): (gx dir, {checkpoint: [run names, newest first]})."""
    seed.seed(db_url, users=15, seed=9, inject={"bad_email": 1})
    gx_dir = copy_project(tmp_path_factory.mktemp("prune_base"))
    add_checkpoint_of(gx_dir, "alpha", ["users", "channels"])
    add_checkpoint_of(gx_dir, "beta", ["users"])
    alpha = run_checkpoint("alpha", config_dir=gx_dir, database_url=db_url)
    copies = copy_runs(gx_dir, 9)
    beta = run_checkpoint("beta", config_dir=gx_dir, database_url=db_url)
    return gx_dir, {"alpha": [alpha.run_id, *copies], "beta": [beta.run_id]}


@pytest.fixture
def project(base, tmp_path):
    gx_dir, runs = base
    shutil.copytree(gx_dir.parent, tmp_path / "p")
    return tmp_path / "p" / "gx", runs


def stored_run_names(gx_dir) -> set[str]:
    return {p.parent.parent.name for p in result_files(gx_dir)}


def page_run_names(gx_dir) -> set[str]:
    return {p.parent.parent.name for p in validation_pages(gx_dir)}


def prune(*args: str):
    return CliRunner().invoke(main, ["results", "prune", *args], catch_exceptions=False)


def test_the_fixture_holds_11_runs_with_pages_and_index_rows(project):
    gx_dir, runs = project
    assert stored_run_names(gx_dir) == page_run_names(gx_dir) == {*runs["alpha"], *runs["beta"]}
    assert len(index_tables(gx_dir)[1]) == len(result_files(gx_dir)) == 21


def test_keep_runs_removes_exactly_the_older_runs_of_each_checkpoint(project):
    gx_dir, runs = project
    result = prune("--keep-runs", "3", "--config", str(gx_dir))
    assert result.exit_code == 0, result.output
    assert "removed 7 runs (14 result files, 14 pages)" in result.output
    kept = {*runs["alpha"][:3], *runs["beta"]}
    assert stored_run_names(gx_dir) == page_run_names(gx_dir) == kept
    latest, validations = index_tables(gx_dir)
    assert {row["cells"][2] for row in validations} == kept and len(validations) == 7
    assert {row["cells"][4] for row in latest} == {runs["alpha"][0], runs["beta"][0]}
    assert {r["run_name"] for r in site.read_rows(site_of(gx_dir))} == kept
    # no empty directory is left behind
    for root in (gx_dir / "uncommitted" / "validations", site_of(gx_dir) / "validations"):
        assert not [d for d in root.rglob("*") if d.is_dir() and not any(d.iterdir())]


def test_older_than_removes_the_runs_older_than_the_cutoff(project):
    gx_dir, runs = project
    assert prune("--older-than", "2.5", "--config", str(gx_dir)).exit_code == 0
    # alpha's runs are 0..9 days old: 0, 1, 2 stay
    assert stored_run_names(gx_dir) == page_run_names(gx_dir) == {*runs["alpha"][:3], *runs["beta"]}


def test_dry_run_removes_nothing(project):
    gx_dir, _ = project
    before = result_files(gx_dir), validation_pages(gx_dir), (site_of(gx_dir) / "index.html").read_text()
    result = prune("--keep-runs", "1", "--dry-run", "--config", str(gx_dir))
    assert result.exit_code == 0 and "would remove 9 runs (18 result files, 18 pages)" in result.output
    assert (result_files(gx_dir), validation_pages(gx_dir), (site_of(gx_dir) / "index.html").read_text()) == before
    done = prune("--keep-runs", "1", "--config", str(gx_dir))  # the dry run counted what this removes
    assert "removed 9 runs (18 result files, 18 pages)" in done.output


def test_prune_without_a_limit_keeps_to_the_retention(project, monkeypatch):
    gx_dir, runs = project
    monkeypatch.setenv("YTDQ_RETENTION_DAYS", "3")
    bare = prune("--dry-run", "--config", str(gx_dir))
    assert bare.exit_code == 0, bare.output
    assert "keeping to the retention: 3 days (YTDQ_RETENTION_DAYS)" in bare.output
    explicit = prune("--older-than", "3", "--dry-run", "--config", str(gx_dir))
    assert bare.output.splitlines()[-1] == explicit.output.splitlines()[-1]
    assert "would remove 7 runs" in explicit.output  # alpha's runs are 0..9 days old: 3 and older go
    assert prune("--config", str(gx_dir)).exit_code == 0
    assert len(stored_run_names(gx_dir)) == 11 - 7


@pytest.fixture
def history(db_url):
    """Checkpoint ``gamma``'s 5 runs in dq (days 0..4 ago), each with a rule result and a quarantined key."""
    conn = connect(db_url, autocommit=True)
    now = dt.datetime.now(dt.timezone.utc)
    names = [f"gamma-{n}" for n in range(5)]
    with conn.cursor() as cur:
        for n, run_id in enumerate(names):
            at = now - dt.timedelta(days=n)
            cur.execute(
                "INSERT INTO dq.runs VALUES (%s, 'gamma', false, 1, 1, %s, %s)",
                (run_id, at, at),
            )
            cur.execute(
                "INSERT INTO dq.rule_results (run_id, checkpoint, rule_id, suite, expectation_type, success,"
                " unexpected_count, observed_at) VALUES (%s, 'gamma', 'users.x', 'users', 'expect_x', false, 1, %s)",
                (run_id, at),
            )
            cur.execute(
                "INSERT INTO dq.quarantine (run_id, rule_id, table_name, row_key, quarantined_at)"
                " VALUES (%s, 'users.x', 'users', '{\"id\": 1}', %s)",
                (run_id, at),
            )
    yield conn, names
    with conn.cursor() as cur:
        cur.execute("DELETE FROM dq.runs WHERE checkpoint = 'gamma'")
    conn.close()


def test_history_flag_removes_the_same_runs_from_dq(project, history, db_url, monkeypatch):
    gx_dir, runs = project
    conn, gamma = history
    others = scalar(conn, "SELECT count(*) FROM dq.runs WHERE checkpoint <> 'gamma'")
    monkeypatch.setenv("DATABASE_URL", db_url)
    result = prune("--keep-runs", "2", "--history", "--config", str(gx_dir))
    assert result.exit_code == 0, result.output
    assert "3 runs from the history (dq)" in result.output
    assert [r[0] for r in rows(conn, "SELECT run_id FROM dq.runs WHERE checkpoint = 'gamma' ORDER BY 1")] == gamma[:2]
    for table in ("rule_results", "quarantine"):  # the removed runs' rows went with them, the others stay
        assert sorted(r[0] for r in rows(conn, f"SELECT run_id FROM dq.{table} WHERE rule_id = 'users.x'")) == gamma[:2]
    assert scalar(conn, "SELECT count(*) FROM dq.runs WHERE checkpoint <> 'gamma'") == others  # 1 run each
    assert stored_run_names(gx_dir) == {*runs["alpha"][:2], *runs["beta"]}


@pytest.mark.parametrize("state", ["pg_down", "never_migrated"])
def test_history_flag_with_no_history_to_delete_from_removes_no_file(project, new_database, monkeypatch, state):
    """The history is checked before any file goes: a server that is down (a closed port) or a
    database without schema dq is exit 2, one error line, and every result file and page still there."""
    from ytempire_dq.ops.server_processes import free_port

    gx_dir, _ = project
    url = (
        f"postgresql+psycopg2://ytdq@127.0.0.1:{free_port()}/ytempire"
        if state == "pg_down"
        else new_database("prune_unmigrated", empty=True)
    )
    before = result_files(gx_dir), validation_pages(gx_dir), (site_of(gx_dir) / "index.html").read_text()
    monkeypatch.setenv("DATABASE_URL", url)
    result = CliRunner().invoke(main, ["results", "prune", "--keep-runs", "1", "--history", "--config", str(gx_dir)])
    assert result.exit_code == ExitCode.RUN_FAILED, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and ("cannot connect" if state == "pg_down" else "schema dq is missing") in errors[0]
    assert (result_files(gx_dir), validation_pages(gx_dir), (site_of(gx_dir) / "index.html").read_text()) == before


def test_without_history_flag_dq_is_untouched(project, history):
    gx_dir, _ = project
    conn, _ = history
    assert prune("--keep-runs", "1", "--config", str(gx_dir)).exit_code == 0
    assert scalar(conn, "SELECT count(*) FROM dq.runs WHERE checkpoint = 'gamma'") == 5


def test_a_checkpoint_applies_its_retention_itself(project, db_url):
    gx_dir, runs = project
    add_checkpoint_of(
        gx_dir,
        "alpha",
        ["users", "channels"],
        extra_actions=[{"name": "prune", "type": "prune_results", "keep_runs": 4}],
    )
    report = run_checkpoint("alpha", config_dir=gx_dir, database_url=db_url)
    assert not report.action_errors
    assert stored_run_names(gx_dir) == page_run_names(gx_dir) == {report.run_id, *runs["alpha"][:3], *runs["beta"]}
    assert len(index_tables(gx_dir)[1]) == 2 * 4 + 1


def test_the_nightly_checkpoint_keeps_a_year_of_runs():
    import json

    from ytempire_dq.config import PROJECT_ROOT

    nightly = json.loads((PROJECT_ROOT / "checkpoints" / "nightly.json").read_text())
    assert {"name": "prune_results", "type": "prune_results", "keep_runs": 365} in nightly["actions"]


def test_select_keeps_the_newest_of_each_checkpoint():
    now = dt.datetime(2026, 12, 1, tzinfo=dt.timezone.utc)
    runs = {
        (f"{cp}-{n}", str(n)): {"checkpoint": cp, "run_name": f"{cp}-{n}", "run_time": now - dt.timedelta(days=n)}
        for cp in ("a", "b")
        for n in range(4)
    }
    removed = retention.select(runs, keep_runs=2, older_than_days=None, now=now)
    assert sorted(r["run_name"] for r in removed) == ["a-2", "a-3", "b-2", "b-3"]
    removed = retention.select(runs, keep_runs=3, older_than_days=1.5, now=now)  # either limit removes
    assert sorted(r["run_name"] for r in removed) == ["a-2", "a-3", "b-2", "b-3"]


def test_a_run_that_never_finished_keeps_no_place_among_the_kept():
    """A killed run (newest) does not push the complete run, its checkpoint's verdict, out of
    --keep-runs 1; an older killed run goes."""
    now = dt.datetime(2026, 12, 1, tzinfo=dt.timezone.utc)
    runs = {
        (f"a-{n}", str(n)): {"checkpoint": "a", "run_name": f"a-{n}", "run_time": now - dt.timedelta(days=n)}
        for n in range(4)
    }
    runs[("a-0", "0")]["incomplete"] = runs[("a-2", "2")]["incomplete"] = True
    removed = retention.select(runs, keep_runs=1, older_than_days=None, now=now)
    assert sorted(r["run_name"] for r in removed) == ["a-2", "a-3"]
    removed = retention.select(runs, keep_runs=2, older_than_days=None, now=now)
    assert sorted(r["run_name"] for r in removed) == []
