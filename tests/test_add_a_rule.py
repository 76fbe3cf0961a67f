"""The "Add a rule (no Python)" section of docs/rules.md, executed as printed, and rules written
without ``id``: each rule gets its own result, with its own exact bad-row count, fast path on and off.

- The page test reads the section's ```json snippets and ```bash commands from the page itself,
  appends each snippet to the suite file the text names, inserts known bad rows for each rule and
  runs the printed commands with the venv's real ``ytdq`` (the project copy found by ``YTDQ_HOME``).
- The done-when test adds the page's SQL template plus three rules without ``id`` (a failing
  range rule, a failing not-null rule, a clean SQL rule) to ``expectations/videos.json``, and to a
  suite made by ``ytdq suite new NAME --asset videos --checkpoint nightly``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.helpers import copy_project, empty_redis_db, insert_video, rows, scalar
from tests.recipes import append_rules, recipe_commands, recipe_rules
from ytempire_dq.db.connect import connect
from ytempire_dq.errors import ExitCode
from ytempire_dq.fixtures import seed
from ytempire_dq.run.checkpoint import run_checkpoint

BIN = Path(sys.executable).parent
REDIS_DB = 9  # emptied: nightly validates the cache, an empty one breaks no rule


def run(argv: list[str], project: Path, db_url: str, cache_url: str, **env) -> subprocess.CompletedProcess:
    """A printed ``.venv/bin/ytdq ...`` command with the venv's real console script, in the project copy."""
    assert argv[0] == ".venv/bin/ytdq", argv
    full_env = {
        **os.environ,
        "YTDQ_HOME": str(project),
        "DATABASE_URL": db_url,
        "REDIS_URL": cache_url,
        "COLUMNS": "250",
        **env,
    }
    return subprocess.run(
        [str(BIN / "ytdq"), *argv[1:]], capture_output=True, text=True, env=full_env, cwd=project, timeout=300
    )


def failed_table(stdout: str) -> dict[str, dict]:
    """``{rule_id: {"table", "bad_rows"}}`` of the failed-rule table ``ytdq checkpoint run`` prints."""
    out = {}
    for line in stdout.splitlines():
        cells = [c.strip() for c in line.split("│")[1:-1]]
        if len(cells) == 4 and "." in cells[0] and cells[0] != "rule_id":
            assert cells[0] not in out, f"{cells[0]} shown twice"
            out[cells[0]] = {"table": cells[1], "bad_rows": int(cells[2].replace(",", "")) if cells[2] else None}
    return out


@pytest.fixture(scope="module")
def cache_url(redis_url):
    yield from empty_redis_db(redis_url, REDIS_DB)


@pytest.fixture(scope="module")
def clean_db(new_database) -> str:
    url = new_database("add_a_rule")
    seed.seed(url, users=20, seed=7)
    return url


def _channel(conn) -> str:
    return scalar(conn, "SELECT id FROM channels ORDER BY id LIMIT 1")


def _published_without_analytics(conn, n: int) -> None:
    for _ in range(n):
        insert_video(
            conn,
            _channel(conn),
            status="published",
            youtube_video_id=uuid.uuid4().hex[:11],
            published_at="2026-01-02",
            created_at="2026-01-01",
            generation_cost=1,
            view_count=0,
        )


def _implausible_views(conn, n: int) -> None:
    for _ in range(n):
        insert_video(conn, _channel(conn), view_count=1_500_000_000, generation_cost=1)


#: rule_id of a documented snippet -> (SQL counting the rows that break it, inserting n such rows)
DOC_BAD_ROWS = {
    "videos.published_has_analytics": (
        "SELECT count(*) FROM videos v WHERE status = 'published' "
        "AND NOT EXISTS (SELECT 1 FROM analytics a WHERE a.video_id = v.id)",
        _published_without_analytics,
        4,
    ),
    "videos.view_count_plausible": ("SELECT count(*) FROM videos WHERE view_count > 1000000000", _implausible_views, 3),
}


def test_add_a_rule_page_runs_as_printed(new_database, cache_url, tmp_path):
    rules = recipe_rules()
    commands = recipe_commands()
    assert rules and commands
    assert {r["meta"]["rule_id"] for _, r in rules} == set(DOC_BAD_ROWS), "a documented rule without test data"
    assert [c[:3] for c in commands] == [[".venv/bin/ytdq", "suite", "lint"], [".venv/bin/ytdq", "checkpoint", "run"]]

    url = new_database("doc_rule")
    seed.seed(url, users=20, seed=7)
    conn = connect(url, autocommit=True)
    try:
        for count_sql, insert, n in DOC_BAD_ROWS.values():
            assert scalar(conn, count_sql) == 0  # clean before: the count below is exactly the rows inserted
            insert(conn, n)
            assert scalar(conn, count_sql) == n
    finally:
        conn.close()
    project = copy_project(tmp_path).parent
    for suite, rule in rules:
        append_rules(project, suite, [rule])

    lint, checkpoint = (run(c, project, url, cache_url) for c in commands)
    # lint --fix wrote the new rules' ids (the ones runs give them) and found nothing wrong
    assert lint.returncode == ExitCode.OK, lint.stdout + lint.stderr
    assert "expectations/videos.json: wrote 2 ids" in lint.stdout
    assert "0 errors, 0 warnings" in lint.stdout
    doc = json.loads((project / "expectations" / "videos.json").read_text())
    assert all(e.get("id") for e in doc["expectations"])
    # the run: every documented rule is a row of the failed-rule table with exactly the rows inserted
    assert checkpoint.returncode == ExitCode.DATA_FAILED, checkpoint.stderr[-2000:]
    table = failed_table(checkpoint.stdout)
    for rule_id, (_, _, n) in DOC_BAD_ROWS.items():
        assert table[rule_id] == {"table": "videos", "bad_rows": n}, checkpoint.stdout


# ---------------------------------------------------------------------------------------------
# done when: rules without id, each its own exact count, fast path on and off

RANGE_BAD, NOT_NULL_BAD, TEMPLATE_BAD = 5, 3, 4
#: the rules' names start with it: apart from the page's own rules, which the project may hold already
NAME = "done_when_"
#: rule name -> SQL counting its bad rows (the oracle for the exact count)
ORACLE = {
    "published_has_analytics": DOC_BAD_ROWS["videos.published_has_analytics"][0],
    "views_at_most_1e9": "SELECT count(*) FROM videos WHERE view_count > 1000000000",
    "cost_not_null": "SELECT count(*) FROM videos WHERE generation_cost IS NULL",
    "views_not_negative": "SELECT count(*) FROM videos WHERE view_count < 0",
}


def done_when_rules(suite: str) -> list[dict]:
    """The page's SQL template and three more rules, none with an ``id``."""
    template = next(r for _, r in recipe_rules() if r["type"] == "unexpected_rows_expectation")
    assert "id" not in template
    return [
        {**template, "meta": {"rule_id": f"{suite}.{NAME}published_has_analytics"}},
        {
            "type": "expect_column_values_to_be_between",
            "description": "at most a billion views",
            "kwargs": {"column": "view_count", "min_value": 0, "max_value": 1000000000},
            "meta": {"rule_id": f"{suite}.{NAME}views_at_most_1e9"},
        },
        {
            "type": "expect_column_values_to_not_be_null",
            "description": "a video has a cost",
            "kwargs": {"column": "generation_cost"},
            "meta": {"rule_id": f"{suite}.{NAME}cost_not_null"},
        },
        {
            "type": "unexpected_rows_expectation",
            "description": "view counts are never negative",
            "kwargs": {"unexpected_rows_query": "SELECT id FROM {batch} WHERE view_count < 0"},
            "meta": {"rule_id": f"{suite}.{NAME}views_not_negative"},
        },
    ]


@pytest.fixture(scope="module")
def defective(new_database) -> tuple[str, dict[str, int]]:
    """A seeded database with known bad rows; ``{rule name: bad rows}`` (SQL's count)."""
    url = new_database("done_when")
    seed.seed(url, users=20, seed=7)
    conn = connect(url, autocommit=True)
    try:
        before = {name: scalar(conn, sql) for name, sql in ORACLE.items()}
        assert before["published_has_analytics"] == before["views_at_most_1e9"] == 0
        _published_without_analytics(conn, TEMPLATE_BAD)
        _implausible_views(conn, RANGE_BAD)
        for _ in range(NOT_NULL_BAD):
            insert_video(conn, _channel(conn), generation_cost=None)
        counts = {name: scalar(conn, sql) for name, sql in ORACLE.items()}
    finally:
        conn.close()
    assert counts == {
        "published_has_analytics": TEMPLATE_BAD,
        "views_at_most_1e9": RANGE_BAD,
        "cost_not_null": before["cost_not_null"] + NOT_NULL_BAD,
        "views_not_negative": 0,
    }
    return url, counts


def expected(suite: str, counts: dict[str, int]) -> dict[str, tuple[bool, int]]:
    return {f"{suite}.{NAME}{name}": (n == 0, n) for name, n in counts.items()}


def check_each_rule_once(rules: list[dict], suite: str, counts: dict[str, int]) -> None:
    """``rules``: the run's results as dicts (RunReport or --json): every rule once, the four exact."""
    ids = [r["rule_id"] for r in rules]
    assert len(ids) == len(set(ids)), sorted({i for i in ids if ids.count(i) > 1})
    exp_ids = [r["expectation_id"] for r in rules]
    assert None not in exp_ids and len(exp_ids) == len(set(exp_ids))
    want = expected(suite, counts)
    got = {r["rule_id"]: (r["success"], r["unexpected_count"]) for r in rules if r["rule_id"] in want}
    assert got == want


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "gx-alone"])
def test_rules_without_id_appended_to_a_suite_each_get_their_own_count(
    defective, cache_url, tmp_path, monkeypatch, fast
):
    url, counts = defective
    gx_dir = copy_project(tmp_path)
    append_rules(gx_dir.parent, "videos", done_when_rules("videos"))
    monkeypatch.setenv("REDIS_URL", cache_url)
    monkeypatch.setenv("YTDQ_FAST", "1" if fast else "0")
    report = run_checkpoint("nightly", config_dir=gx_dir, database_url=url)
    assert report.exit_code == ExitCode.DATA_FAILED
    check_each_rule_once([r.to_dict() for r in report.rules()], "videos", counts)
    check_each_rule_once([r for v in report.to_dict()["validations"] for r in v["results"]], "videos", counts)
    # history keys on the rule: one row per rule, the failed ones' rows quarantined under their own id
    conn = connect(url, autocommit=True)
    try:
        stored = dict(
            rows(
                conn,
                "SELECT rule_id, count(*) FROM dq.rule_results WHERE run_id = %s GROUP BY rule_id",
                (report.run_id,),
            )
        )
        assert stored == {r.rule_id: 1 for r in report.rules()}
        quarantined = dict(
            rows(
                conn,
                "SELECT rule_id, count(*) FROM dq.quarantine WHERE run_id = %s "
                "AND rule_id LIKE 'videos.%%' GROUP BY rule_id",
                (report.run_id,),
            )
        )
        for rule_id, (_success, n) in expected("videos", counts).items():
            assert quarantined.get(rule_id, 0) == n
    finally:
        conn.close()


def test_rules_without_id_in_a_suite_made_by_suite_new(defective, cache_url, tmp_path):
    url, counts = defective
    project = copy_project(tmp_path).parent
    made = run(
        [".venv/bin/ytdq", "suite", "new", "video_checks", "--asset", "videos", "--checkpoint", "nightly"],
        project,
        url,
        cache_url,
    )
    assert made.returncode == 0, made.stderr
    append_rules(project, "video_checks", done_when_rules("video_checks"))
    for fast in ("1", "0"):
        out = project / f"run-{fast}.json"
        ran = run(
            [".venv/bin/ytdq", "checkpoint", "run", "nightly", "--json", str(out)],
            project,
            url,
            cache_url,
            YTDQ_FAST=fast,
        )
        assert ran.returncode == ExitCode.DATA_FAILED, ran.stderr[-2000:]
        doc = json.loads(out.read_text())
        check_each_rule_once([r for v in doc["validations"] for r in v["results"]], "video_checks", counts)
        table = failed_table(ran.stdout)
        for rule_id, (success, n) in expected("video_checks", counts).items():
            assert (rule_id not in table) if success else (table[rule_id]["bad_rows"] == n), ran.stdout
