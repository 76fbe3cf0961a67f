"""Errors are not data: a run in which a rule could not be evaluated exits 2, never 1.

Real causes on the session's PostgreSQL, run by a non-superuser role with a 5 s statement timeout
(``YTDQ_STATEMENT_TIMEOUT=5``: the run's connections set it, over the role's own setting)
and no SELECT on ``api_keys``: an analyst's SQL naming a missing column, a map rule on a missing
column, a query past the statement timeout, a query on a table the role may not read, a query
that loses its connection mid-run (a watcher terminates its backend: the rule itself may not call
``pg_terminate_backend``); plus one rule broken by data.
The cache's cross-store rules (they read PostgreSQL) are checked the same way. Each run: exit 2,
one stderr line per distinct cause naming its rules, no raw GX text on stderr (it is in the log
file), ``--json`` with the error per rule, and the history holding the run with the errors.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy.engine import make_url

from tests.helpers import copy_project, empty_redis_db, rows, scalar
from ytempire_dq.cli import main
from ytempire_dq.db.connect import connect
from ytempire_dq.fixtures import seed as seeder
from ytempire_dq.fixtures.cache_seed import seed_cache
from ytempire_dq.gx.context import LOG_FILE

BIN = Path(sys.executable).parent
ROLE = "ytdq_limited"
REDIS_DB = 14

#: A query slower than the 5 s timeout (every row counts to 50 million); ``marker`` names it in pg_stat_activity.
SLOW = "SELECT * FROM {{batch}} WHERE '{marker}' <> '' AND (SELECT count(*) FROM generate_series(1, 50000000 + view_count % 2)) < 0"
#: The marker of the query whose backend :func:`terminating` kills.
KILLED = "ytdq-terminate-me"

#: rule_id -> (its analyst query or map rule, the words its one error line must carry)
BROKEN = {
    "videos.err_missing_sql_column": (
        {
            "type": "unexpected_rows_expectation",
            "kwargs": {"unexpected_rows_query": "SELECT * FROM {batch} WHERE nosuchcol > 1"},
        },
        ['column "nosuchcol" does not exist', "ytdq suite lint"],
    ),
    "videos.err_missing_column": (
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "nosuch"}},
        ['"nosuch"', "ytdq suite lint"],
    ),
    "videos.err_timeout": (
        {
            "type": "unexpected_rows_expectation",
            "kwargs": {"unexpected_rows_query": SLOW.format(marker="slow")},
        },
        ["statement timeout", "statement_timeout"],
    ),
    "videos.err_permission": (
        {
            "type": "unexpected_rows_expectation",
            "kwargs": {"unexpected_rows_query": "SELECT b.* FROM {batch} AS b JOIN api_keys k ON k.user_id IS NULL"},
        },
        ["permission denied for table api_keys", "grant the DATABASE_URL user SELECT"],
    ),
    "videos.err_connection_lost": (
        {
            "type": "unexpected_rows_expectation",
            "kwargs": {"unexpected_rows_query": SLOW.format(marker=KILLED)},
        },
        ["server closed the connection", "is PostgreSQL running there?", f"{ROLE}:***@"],
    ),
}
DATA_RULE = "videos.err_every_video_counted"  # broken by data only: every row is "bad"


@pytest.fixture(scope="module")
def limited_url(db_url) -> str:
    """A non-superuser with a 5 s statement timeout that may not read api_keys (password in the URL:
    the session trusts loopback, so it only has to be masked)."""
    seeder.seed(db_url, users=10, seed=3)
    admin = connect(db_url, autocommit=True)
    with admin.cursor() as cur:
        cur.execute(f"DROP ROLE IF EXISTS {ROLE}")
        cur.execute(f"CREATE ROLE {ROLE} LOGIN")
        cur.execute(f"ALTER ROLE {ROLE} SET statement_timeout = '5s'")
        cur.execute(f"GRANT USAGE ON SCHEMA public, dq TO {ROLE}")
        cur.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {ROLE}")
        cur.execute(f"REVOKE SELECT ON api_keys FROM {ROLE}")
        cur.execute(f"GRANT SELECT, INSERT ON ALL TABLES IN SCHEMA dq TO {ROLE}")
        cur.execute(f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA dq TO {ROLE}")
    yield make_url(db_url).set(username=ROLE, password="s3cret").render_as_string(hide_password=False)
    with admin.cursor() as cur:
        cur.execute(f"DROP OWNED BY {ROLE}")
        cur.execute(f"DROP ROLE {ROLE}")
    admin.close()


@pytest.fixture(scope="module")
def cache_url(redis_url):
    yield from empty_redis_db(redis_url, REDIS_DB)


def _project(tmp_path: Path, checkpoint: str, vd: str) -> Path:
    """A project copy with checkpoint ``checkpoint`` running only validation definition ``vd``."""
    gx_dir = copy_project(tmp_path)
    source = json.loads((gx_dir.parent / "checkpoints" / "nightly.json").read_text())
    source.pop("id")
    source.update(
        name=checkpoint, validation_definitions=[v for v in source["validation_definitions"] if v["name"] == vd]
    )
    (gx_dir.parent / "checkpoints" / f"{checkpoint}.json").write_text(json.dumps(source, indent=2))
    return gx_dir


@contextlib.contextmanager
def terminating(admin_url: str, marker: str):
    """While the block runs, terminate every backend whose query holds ``marker`` (a connection
    lost mid-rule, as when the server restarts or an administrator ends the session)."""
    stop = threading.Event()

    def watch() -> None:
        conn = connect(admin_url, autocommit=True)
        try:
            while not stop.wait(0.05):
                scalar(
                    conn,
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE query LIKE %s AND pid <> pg_backend_pid()",
                    (f"%{marker}%",),
                )
        finally:
            conn.close()

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        yield
    finally:
        stop.set()
        watcher.join(10)


def _ytdq(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / "ytdq"), *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "COLUMNS": "200", "YTDQ_STATEMENT_TIMEOUT": "5", **env},
    )


def test_rules_that_cannot_run_make_exit_2_with_one_line_per_cause(limited_url, db_url, cache_url, tmp_path, db):
    gx_dir = _project(tmp_path, "broken", "videos")
    suite = gx_dir.parent / "expectations" / "videos.json"
    doc = json.loads(suite.read_text())
    for rule_id, (rule, _) in BROKEN.items():
        doc["expectations"].append({**rule, "meta": {"rule_id": rule_id}, "description": "broken on purpose"})
    doc["expectations"].append(
        {
            "type": "unexpected_rows_expectation",
            "meta": {"rule_id": DATA_RULE},
            "kwargs": {"unexpected_rows_query": "SELECT * FROM {batch} WHERE view_count >= 0"},
            "description": "every video counted",
        }
    )
    suite.write_text(json.dumps(doc, indent=2))
    out = tmp_path / "run.json"

    with terminating(db_url, KILLED):
        proc = _ytdq(
            "checkpoint",
            "run",
            "broken",
            "--config",
            str(gx_dir),
            "--json",
            str(out),
            env={"DATABASE_URL": limited_url, "REDIS_URL": cache_url},
        )

    assert proc.returncode == 2, proc.stdout + proc.stderr  # not 1: the data rule alone would be 1
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == len(BROKEN), proc.stderr
    for rule_id, (_, words) in BROKEN.items():
        line = next(line for line in errors if f"[{rule_id}]" in line)
        assert line.startswith("error: 1 rule could not run: ")
        assert all(w in line for w in words), (words, line)
    assert "s3cret" not in proc.stdout + proc.stderr
    for raw in ("MetricConfigurationID", "Traceback", "[SQL:"):
        assert raw not in proc.stderr
    log = (gx_dir / LOG_FILE).read_text()
    assert "MetricConfigurationID" in log and "s3cret" not in log  # the whole detail, masked

    report = json.loads(out.read_text())
    assert report["exit_code"] == 2
    assert sorted(i for e in report["errors"] for i in e["rule_ids"]) == sorted(BROKEN)
    results = {r["rule_id"]: r for v in report["validations"] for r in v["results"]}
    assert all(results[rule_id]["error"] and not results[rule_id]["success"] for rule_id in BROKEN)
    assert [r for r, res in results.items() if res["error"]] == [r for r in results if r in BROKEN]
    videos = scalar(db, "SELECT count(*) FROM videos")
    assert results[DATA_RULE]["error"] is None and results[DATA_RULE]["unexpected_count"] == videos > 0

    recorded = dict(rows(db, "SELECT rule_id, error FROM dq.rule_results WHERE run_id = %s", (report["run_id"],)))
    assert {r for r, e in recorded.items() if e} == set(BROKEN)
    assert 'column "nosuchcol" does not exist' in recorded["videos.err_missing_sql_column"]
    assert scalar(db, "SELECT success FROM dq.runs WHERE run_id = %s", (report["run_id"],)) is False
    shown = CliRunner().invoke(main, ["history", "--checkpoint", "broken", "--json"], env={"DATABASE_URL": db_url})
    assert [r["rules_errored"] for r in json.loads(shown.stdout)] == [len(BROKEN)]
    table = CliRunner().invoke(
        main, ["history", "--checkpoint", "broken"], env={"DATABASE_URL": db_url, "COLUMNS": "200"}
    )
    assert f"error ({len(BROKEN)} could not run)" in table.stdout


def test_cross_store_rules_that_cannot_read_postgres_make_exit_2(limited_url, db_url, db, cache_url, tmp_path):
    seed_cache(db_url, cache_url, seed=3)
    admin = connect(db_url, autocommit=True)
    with admin.cursor() as cur:
        cur.execute(f"REVOKE SELECT ON users, videos FROM {ROLE}")
    try:
        proc = _ytdq(
            "checkpoint",
            "run",
            "cache",
            "--verbose",
            "--config",
            str(copy_project(tmp_path)),
            env={"DATABASE_URL": limited_url, "REDIS_URL": cache_url},
        )
    finally:
        with admin.cursor() as cur:
            cur.execute(f"GRANT SELECT ON users, videos TO {ROLE}")
        admin.close()
    assert proc.returncode == 2, proc.stdout + proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    by_table = {
        t: next((line for line in errors if f"permission denied for table {t}" in line), "")
        for t in ("users", "videos")
    }
    assert "cache.video_stats_match_videos" in by_table["videos"]
    assert "cache.session_user_active" in by_table["users"] and "cache.counter_user_active" in by_table["users"]
    assert len(errors) == 2, proc.stderr
    assert "s3cret" not in proc.stdout + proc.stderr
    # --verbose: the log lines on stderr too, each rule's whole error among them
    logged = [line for line in proc.stderr.splitlines() if "could not run: " in line and "ytempire_dq" in line]
    assert len(logged) == 4 and all("permission denied" in line for line in logged), proc.stderr


def test_a_validation_definition_that_raises_gives_each_of_its_rules_the_error(db_url, tmp_path):
    """GX raising for a whole validation definition (here: the cache's batch is no DataFrame) does
    not abort the run: each rule of it carries the error, the report exits 2, one line names them."""
    from ytempire_dq.gx.context import open_context
    from ytempire_dq.run.checkpoint import _run_id, _run_one
    from ytempire_dq.run.report import RunReport, read_validation_result
    from ytempire_dq.run.state import Run

    gx_dir = copy_project(tmp_path)
    ctx = open_context(gx_dir, database_url=db_url)
    checkpoint = ctx.checkpoints.get("cache")
    vd = checkpoint.validation_definitions[0]
    run = Run("cache", gx_dir, db_url, run_id=_run_id("cache"), params={vd.name: {"dataframe": "not a DataFrame"}})
    vr = _run_one(vd, checkpoint, run)
    validation = read_validation_result(vr, suite=vd.suite.name, asset=vd.data.data_asset.name)
    rule_ids = [e.meta["rule_id"] for e in vd.suite.expectations]
    assert [r.rule_id for r in validation.results] == rule_ids and len(rule_ids) > 5
    assert all(r.error and not r.success for r in validation.results)
    report = RunReport(checkpoint="cache", success=False, run_id="r", data_docs=None, validations=[validation])
    assert report.exit_code == 2
    [line] = report.error_lines()
    assert line.startswith(f"{len(rule_ids)} rules could not run: ")
    assert line.endswith(f"[{', '.join(rule_ids[:5])} … and {len(rule_ids) - 5} more]")


# ---------------------------------------------------------------------------------------------
# the server lost during validation (a PostgreSQL of the test's own)

#: The first rule of nightly's first suite holds the run in validation until the server goes.
SLOW_RULE = {
    "type": "unexpected_rows_expectation",
    "kwargs": {
        "unexpected_rows_query": "SELECT id FROM {batch} WHERE 'ytdq-until-the-server-goes' <> '' "
        "AND (SELECT count(*) FROM generate_series(1, 300000000 + length(email))) < 0"
    },
    "meta": {"rule_id": "users.err_sleeps_until_the_server_goes"},
    "description": "holds the run in validation",
}


@pytest.fixture
def own_server(tmp_path_factory, monkeypatch):
    from ytempire_dq.db import migrations
    from ytempire_dq.ops import services

    monkeypatch.setenv("YTDQ_WAL_ARCHIVE", "off")
    state_dir = tmp_path_factory.mktemp("own_pg")
    pg = services.up(state_dir, redis=False)["postgres"]
    try:
        migrations.migrate(pg["url"])
        seeder.seed(pg["url"], users=10, seed=5)
        yield pg
    finally:
        services.down(state_dir, purge=True)


@pytest.mark.local_servers
@pytest.mark.parametrize("how", ["SIGQUIT", "SIGINT"], ids=["immediate", "fast"])
def test_postgres_stopped_during_validation_is_error_lines_and_exit_2(own_server, cache_url, tmp_path, how):
    """``ytdq checkpoint run nightly`` while its server shuts down (immediate: as if it crashed; fast:
    sessions terminated): no traceback, only ``error:`` lines besides progress, exit 2."""
    import signal
    import time

    gx_dir = copy_project(tmp_path)
    suite_file = gx_dir.parent / "expectations" / "users.json"
    suite = json.loads(suite_file.read_text())
    suite["expectations"].insert(0, SLOW_RULE)
    suite_file.write_text(json.dumps(suite, indent=2))
    url = own_server["url"]
    proc = subprocess.Popen(
        [str(BIN / "ytdq"), "checkpoint", "run", "nightly", "--config", str(gx_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "200", "DATABASE_URL": url, "REDIS_URL": cache_url},
    )
    watcher = connect(url, autocommit=True)
    try:
        deadline = time.monotonic() + 240
        while not rows(
            watcher,
            "SELECT 1 FROM pg_stat_activity WHERE query LIKE '%%ytdq-until-the-server-goes%%' AND pid <> pg_backend_pid()",
        ):
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.1)
    finally:
        watcher.close()
    postmaster = int((Path(own_server["datadir"]) / "postmaster.pid").read_text().splitlines()[0])
    os.kill(postmaster, getattr(signal, how))
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 2, (out, err)
    assert "Traceback" not in out + err, err
    lines = [line for line in err.splitlines() if line.strip()]
    others = [line for line in lines if not line.startswith("error:") and not re.match(r"\[\d+/\d+\] ", line)]
    assert others == [] and any(line.startswith("error:") for line in lines), err
