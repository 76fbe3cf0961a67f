"""Rules beyond the schema (issue 11): which rules a constraint also enforces (shown in `suite show`
and Data Docs), and the analytics sync going stale for everyone, judged by the database's clock.
Each business rule's own defect kind is checked in test_checkpoint_defects (KIND_TO_RULE)."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from click.testing import CliRunner

from tests.helpers import KIND_TO_RULE, rows, scalar
from ytempire_dq.cli import main
from ytempire_dq.config import PROJECT_ROOT
from ytempire_dq.errors import ExitCode
from ytempire_dq.fixtures import seed
from ytempire_dq.fixtures.defects import DEFECT_KINDS
from ytempire_dq.fixtures.defects.privacy_kinds import PRIVACY_KINDS
from ytempire_dq.run.checkpoint import run_checkpoint

TABLE_SUITES = ("users", "channels", "videos", "analytics", "api_keys", "workflows", "cross_table")


def all_rules() -> list[dict]:
    out = []
    for suite in TABLE_SUITES:
        for exp in json.loads((PROJECT_ROOT / "expectations" / f"{suite}.json").read_text())["expectations"]:
            out.append(exp)
    return out


def test_every_enforced_by_names_a_constraint_the_migrations_made(conn):
    marked = [(e["meta"]["rule_id"], e["meta"]["enforced_by"]) for e in all_rules() if e["meta"].get("enforced_by")]
    assert len(marked) >= 60
    constraints = {
        (t, n)
        for t, n in rows(
            conn,
            "SELECT conrelid::regclass::text, conname FROM pg_constraint WHERE connamespace = 'public'::regnamespace",
        )
    }
    not_null = {
        f"{t}.{c} NOT NULL"
        for t, c in rows(
            conn,
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = 'public' AND is_nullable = 'NO'",
        )
    }
    for rule_id, name in marked:
        table = rule_id.split(".")[0]
        assert (table, name) in constraints or name in not_null, (rule_id, name)


def test_every_constraint_is_restated_by_a_marked_rule(conn):
    named = {e["meta"].get("enforced_by") for e in all_rules()}
    constraints = {
        n
        for (n,) in rows(
            conn,
            "SELECT conname FROM pg_constraint WHERE connamespace = 'public'::regnamespace "
            "AND conrelid::regclass::text IN ('users', 'channels', 'videos', 'analytics', "
            "'api_keys', 'workflows')",
        )
    }
    assert constraints <= named


def test_the_business_rules_are_guarded_by_no_constraint():
    kinds = [k for k in DEFECT_KINDS if DEFECT_KINDS[k] not in PRIVACY_KINDS]  # the privacy suite's kinds come last
    business = {KIND_TO_RULE[k] for k in kinds[kinds.index("markup_in_title") + 1 :]}  # the kinds issue 11 added
    # 25, and the platform schema's two: an active channel of a suspended user, subscribers above views
    assert len(business) == 27
    by_id = {e["meta"]["rule_id"]: e for e in all_rules()}
    for rule_id in business | {"analytics.sync_current"}:
        assert "enforced_by" not in by_id[rule_id]["meta"], rule_id
        assert by_id[rule_id]["description"].strip() and by_id[rule_id]["meta"]["family"], rule_id


def test_suite_show_has_an_enforced_by_column(monkeypatch):
    monkeypatch.setenv("COLUMNS", "400")
    out = CliRunner().invoke(main, ["suite", "show", "users"]).output
    assert "enforced_by" in out
    line = next(x for x in out.splitlines() if "users.email_unique" in x)
    assert "users_email_key" in line
    future = next(x for x in out.splitlines() if "users.no_future_timestamps" in x)
    assert "_key" not in future and "_check" not in future and "NOT NULL" not in future


def test_data_docs_say_which_constraint_also_enforces_a_rule(module_env):
    from ytempire_dq.docs.site import docs_build

    index = docs_build()
    page = (index.parent / "expectations" / "users.html").read_text()
    assert "also enforced by constraint users_email_key" in page
    assert "also enforced by constraint users.email NOT NULL" in page
    cross = (index.parent / "expectations" / "cross_table.html").read_text()
    assert "also enforced by constraint channels_user_id_fkey" in cross  # a custom rule's sentence + note
    assert page.count("also enforced by") == sum(
        1
        for e in json.loads((PROJECT_ROOT / "expectations" / "users.json").read_text())["expectations"]
        if e["meta"].get("enforced_by")
    )


@pytest.fixture(scope="module")
def stopped_sync(module_env, conn):
    """Clean data, then the analytics sync stopped 4 days ago for every video (view counts and revenue follow)."""
    seed.seed(module_env, users=15, seed=3)
    conn.cursor().execute("""
        WITH gone AS (DELETE FROM analytics WHERE date >= current_date - 3 RETURNING video_id, views, revenue)
        UPDATE videos v SET view_count = v.view_count - g.views, revenue = v.revenue - g.revenue
        FROM (SELECT video_id, sum(views) AS views, sum(revenue) AS revenue FROM gone GROUP BY video_id) g
        WHERE v.id = g.video_id""")
    return run_checkpoint("nightly")


def test_a_stopped_sync_fails_the_two_freshness_rules_and_nothing_else(stopped_sync, conn):
    # no false alarm among the analytics rules (an analyst's rules elsewhere may catch the stop too) ...
    failing = {
        r.rule_id for v in stopped_sync.validations if v.suite == "analytics" for r in v.results if not r.success
    }
    # ... but the seasonal volume rules on analytics, which see its last days empty
    seasonal = {rule_id for rule_id in failing if rule_id.endswith("_seasonal")}
    assert failing - seasonal == {"analytics.sync_current", "analytics.fresh_per_published_video"}
    assert "analytics.rows_per_day_seasonal" in seasonal
    rows_rule = stopped_sync.rule("analytics.rows_per_day_seasonal")
    assert rows_rule.observed_value["value"] == 0 and rows_rule.observed_value["direction"] == "below"
    assert stopped_sync.exit_code == ExitCode.DATA_FAILED
    videos = scalar(conn, "SELECT count(*) FROM videos WHERE status = 'published' AND published_at < current_date - 3")
    assert videos > 0 and stopped_sync.rule("analytics.fresh_per_published_video").unexpected_count == videos


def test_the_result_records_the_clock_and_the_newest_date(stopped_sync, conn):
    rule = stopped_sync.rule("analytics.sync_current")
    assert rule.unexpected_count == 1
    today = scalar(conn, "SELECT current_date")
    observed = rule.observed_value
    assert observed["newest"] == (today - dt.timedelta(days=4)).isoformat()
    assert observed["cutoff"].startswith((today - dt.timedelta(days=3)).isoformat())
    assert abs(
        dt.datetime.fromisoformat(observed["checked_at"]) - scalar(conn, "SELECT localtimestamp")
    ) < dt.timedelta(minutes=10)
