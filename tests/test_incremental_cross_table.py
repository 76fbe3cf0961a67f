"""Incremental runs and the rules that are not per row (ytempire_dq.run.incremental): a cross-table rule
listed under its child table in ``incremental.yml`` judges only the new child rows (orphans) or the
parents they touch (a child aggregate, when listed); an old defect outside that scope is reported
again only by a full run. The freshness rule (``analytics.fresh_per_published_video``, a window of
days, never scoped) counts exactly the stale videos in full and incremental runs alike."""

from __future__ import annotations

import json

import pytest
from ruamel.yaml import YAML

from tests.helpers import copy_project, drop_seasonal_rules, scalar
from ytempire_dq.fixtures import seed
from ytempire_dq.fixtures.defects import DEFECT_KINDS
from ytempire_dq.run import incremental
from ytempire_dq.run.checkpoint import run_checkpoint

NEW_ORPHANS, NEW_MISMATCHES, STALE = 3, 2, 2
ORPHAN, AGGREGATE, FRESH = (
    "analytics.video_exists",
    "videos.view_count_matches_analytics",
    "analytics.fresh_per_published_video",
)
_COLUMNS = "(video_id, date, views, watch_time_minutes, revenue, subscribers_gained)"


def _checkpoint(root, name: str, *vd_names: str) -> None:
    refs = []
    for vd_name in vd_names:
        vd = json.loads((root / "validation_definitions" / f"{vd_name}.json").read_text())
        refs.append({"id": vd["id"], "name": vd_name})
    checkpoint_id = f"00000000-0000-4000-8000-{abs(hash(name)) % 10**12:012d}"
    (root / "checkpoints" / f"{name}.json").write_text(
        json.dumps(
            {
                "actions": [],
                "id": checkpoint_id,
                "name": name,
                "result_format": "SUMMARY",
                "validation_definitions": refs,
            }
        )
    )


@pytest.fixture(scope="module")
def projects(tmp_path_factory, module_env):
    """Clean data up to the day before yesterday (yesterday's and today's rows removed, with their
    views from videos.view_count), analytics' video FK dropped (orphans can be planted, as in a copy
    without constraints). Two project copies: ``xinc`` (analytics + cross_table suites, the shipped
    incremental.yml) and ``xagg`` (cross_table, the yml also listing the child-aggregate rule)."""
    seed.seed(module_env, users=15)
    from ytempire_dq.db.connect import connect

    conn = connect(module_env, autocommit=True)
    with conn.cursor() as cur:
        cur.execute(
            "UPDATE videos v SET view_count = v.view_count - d.views, revenue = v.revenue - d.revenue "
            "FROM (SELECT video_id, sum(views) AS views, sum(revenue) AS revenue "
            "FROM analytics WHERE date >= current_date - 1 GROUP BY video_id) d WHERE d.video_id = v.id"
        )
        cur.execute("DELETE FROM analytics WHERE date >= current_date - 1")
        cur.execute("ALTER TABLE analytics DROP CONSTRAINT analytics_video_id_fkey")
    conn.close()
    xinc = copy_project(tmp_path_factory.mktemp("xinc"))
    drop_seasonal_rules(xinc, "analytics")  # yesterday is gone on purpose
    _checkpoint(xinc.parent, "xinc", "analytics", "cross_table")
    xagg = copy_project(tmp_path_factory.mktemp("xagg"))
    _checkpoint(xagg.parent, "xagg", "cross_table")
    yml = xagg / incremental.CONFIG_FILE
    data = YAML(typ="safe").load(yml.read_text())
    assert data["tables"]["analytics"]["cross_table_rules"] == [ORPHAN]  # the shipped choice
    data["tables"]["analytics"]["cross_table_rules"].append(AGGREGATE)
    YAML(typ="safe").dump(data, yml)
    return {"xinc": xinc, "xagg": xagg}


def _run(projects, name, url, **flags):
    return run_checkpoint(name, config_dir=projects[name], database_url=url, **flags)


def _failed(report) -> dict:
    return {r["rule_id"]: r["bad_rows"] for r in report.failed_rules()}


def _plant(db) -> None:
    """The new day (yesterday: the day before's rows, its views synced to videos.view_count) with
    new defects, and old defects outside any incremental scope."""
    with db.cursor() as cur:
        cur.execute(
            f"INSERT INTO analytics {_COLUMNS} SELECT video_id, current_date - 1, views, watch_time_minutes, "
            "revenue, subscribers_gained FROM analytics WHERE date = current_date - 2"
        )
        cur.execute(
            "UPDATE videos v SET view_count = v.view_count + n.views, revenue = v.revenue + n.revenue "
            "FROM (SELECT video_id, sum(views) AS views, sum(revenue) AS revenue "
            "FROM analytics WHERE date = current_date - 1 GROUP BY video_id) n WHERE n.video_id = v.id"
        )
        # new: orphan rows, and videos whose new row changed after the sync (their sum drifts by 1000)
        cur.execute(
            f"INSERT INTO analytics {_COLUMNS} SELECT gen_random_uuid(), current_date - 1, 1, 0, 0, 0 "
            "FROM generate_series(1, %s)",
            (NEW_ORPHANS,),
        )
        cur.execute(
            "UPDATE analytics SET views = views + 1000 WHERE id IN (SELECT a.id FROM analytics a JOIN videos v "
            "ON v.id = a.video_id WHERE a.date = current_date - 1 ORDER BY a.id LIMIT %s)",
            (NEW_MISMATCHES,),
        )
        # old: an orphan row ten days back, a video without analytics whose view_count is off
        cur.execute(f"INSERT INTO analytics {_COLUMNS} VALUES (gen_random_uuid(), current_date - 10, 1, 0, 0, 0)")
        cur.execute(
            "UPDATE videos SET view_count = view_count + 500 WHERE id = (SELECT id FROM videos v WHERE NOT EXISTS "
            "(SELECT 1 FROM analytics a WHERE a.video_id = v.id) ORDER BY id LIMIT 1)"
        )
        # stale: published videos (over 3 days ago) whose last 4 days of analytics are gone (views too)
        cur.execute(
            "CREATE TEMP TABLE stale AS SELECT v.id FROM videos v WHERE v.status = 'published' "
            "AND v.published_at < current_date - 3 AND EXISTS (SELECT 1 FROM analytics a WHERE a.video_id = v.id "
            "AND a.date = current_date - 1 AND a.views < 1000) ORDER BY v.id LIMIT %s",
            (STALE,),
        )
        cur.execute(
            "WITH gone AS (DELETE FROM analytics a USING stale s WHERE a.video_id = s.id "
            "AND a.date >= current_date - 3 RETURNING a.video_id, a.views, a.revenue) "
            "UPDATE videos v SET view_count = v.view_count - g.views, revenue = v.revenue - g.revenue "
            "FROM (SELECT video_id, sum(views) AS views, sum(revenue) AS revenue FROM gone GROUP BY video_id) g "
            "WHERE g.video_id = v.id"
        )
        assert cur.rowcount == STALE


def test_an_incremental_runs_map_rules_read_only_the_new_rows(projects, module_env):
    """The fast path's one-scan-per-table folding must not turn the new rows' domain (an index range
    on analytics.date) into a FILTER over a full scan: every map-rule count on analytics is under
    ``date > since`` in its WHERE clause."""
    from tests.helpers import statements_during

    assert _run(projects, "xinc", module_env).exit_code == 0  # clean data: the baseline watermark
    reports = []
    seen = statements_during(lambda: reports.append(_run(projects, "xinc", module_env, since_last=True)))
    assert reports[0].scan["incremental"], reports[0].scan
    counts = [" ".join(s.split()) for s in seen if "column_values." in s]
    counts = [s for s in counts if "FROM analytics" in s]
    assert counts, "no map-rule count on analytics ran"
    for statement in counts:  # the domain's condition in a WHERE (an index range), not only in FILTERs
        assert " date > %(" in statement.split(" FROM ", 1)[1], statement


def test_cross_table_rules_judge_the_new_rows_and_full_runs_find_old_defects(projects, module_env, db):
    # 1. clean data: full runs pass (the baselines), then an incremental run with nothing new passes too
    for name in ("xinc", "xagg"):
        base = _run(projects, name, module_env)
        assert base.exit_code == 0, _failed(base)
    quiet = _run(projects, "xinc", module_env, since_last=True)
    assert quiet.exit_code == 0 and quiet.scan["incremental"], _failed(quiet)
    assert quiet.rule(ORPHAN).unexpected_count == 0 and quiet.rule(FRESH).unexpected_count == 0

    _plant(db)
    stale = scalar(db, DEFECT_KINDS["stale_analytics"].count_sql)  # the defect kind's own count
    assert stale == STALE

    # 2. incremental (shipped yml): the new orphans only; the aggregate rule is not listed: it runs
    #    whole (new and old mismatches); freshness is a window: every stale video
    inc = _run(projects, "xinc", module_env, since_last=True)
    assert inc.scan["incremental"]
    assert _failed(inc) == {ORPHAN: NEW_ORPHANS, AGGREGATE: NEW_MISMATCHES + 1, FRESH: STALE}
    quarantined = scalar(
        db, "SELECT count(*) FROM dq.quarantine WHERE run_id = %s AND rule_id = %s", (inc.run_id, ORPHAN)
    )
    assert quarantined == NEW_ORPHANS  # the orphan rows the run judged, not the old one

    # 3. --full: the old orphan too
    full = _run(projects, "xinc", module_env, full=True)
    assert not full.scan["incremental"]
    assert _failed(full) == {ORPHAN: NEW_ORPHANS + 1, AGGREGATE: NEW_MISMATCHES + 1, FRESH: STALE}

    # 4. the aggregate rule listed: only the parents the new rows touch (not the video without analytics)
    agg = _run(projects, "xagg", module_env, since_last=True)
    assert agg.scan["incremental"]
    assert _failed(agg) == {ORPHAN: NEW_ORPHANS, AGGREGATE: NEW_MISMATCHES}
    agg_full = _run(projects, "xagg", module_env, full=True)
    assert _failed(agg_full) == {ORPHAN: NEW_ORPHANS + 1, AGGREGATE: NEW_MISMATCHES + 1}


def test_a_listed_rule_that_is_not_on_that_child_table_runs_whole(projects, tmp_path):
    """incremental.yml listing a rule under a table that is not its child: a warning, the rule as it is."""
    from ytempire_dq.gx.context import open_context

    ctx = open_context(projects["xagg"])
    suite = ctx.suites.get("cross_table")
    by_rule = {e.meta["rule_id"]: e for e in suite.expectations}
    plan = incremental.Plan(
        "x",
        "incremental",
        "test",
        {"videos": incremental.GrowingTable("videos", "created_at", cross_table_rules=frozenset({ORPHAN}))},
        since={"videos": "2020-01-01"},
    )
    assert incremental._cross_table_scoped(by_rule[ORPHAN], plan) is None
    plan.tables["analytics"] = incremental.GrowingTable("analytics", "date", cross_table_rules=frozenset({ORPHAN}))
    del plan.tables["videos"]
    plan.since = {"analytics": "2020-01-01"}
    scoped = incremental._cross_table_scoped(by_rule[ORPHAN], plan)
    assert scoped.id == by_rule[ORPHAN].id and scoped.incremental_since == {"date": "2020-01-01"}
    assert "child.date > '2020-01-01'" in scoped.build_query().replace('"', "")
