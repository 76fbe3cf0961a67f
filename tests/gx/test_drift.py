"""Volume and drift from the run history (issue 11, item 3): the committed nightly rule
``analytics.row_count_within_history`` and a run-history band on yesterday's views
(``analytics.views_yesterday_within_history``, the committed rule the seasonal band has replaced), run for real
(run_checkpoint, history recorded) 14 times on stable data, then after a 3 % and a 40 % loss of
yesterday's analytics rows; ``ytdq history RULE_ID`` shows value and band run by run. The band
itself (median, MAD, percentage) is checked on plain numbers."""

from __future__ import annotations

import json
import math
import re

import pytest
from click.testing import CliRunner

from tests import doc_pages
from tests.custom_project import add_checkpoint
from tests.helpers import a_day_passes, copy_project, rendered_sentence, rows, scalar, suite_round_trip
from ytempire_dq.cli import main
from ytempire_dq.config import PROJECT_ROOT
from ytempire_dq.db.connect import connect
from ytempire_dq.errors import ExitCode
from ytempire_dq.expectations import (
    HISTORY_BAND_TYPES,
    ExpectColumnDailyAggregateToBeWithinHistoryBand,
    ExpectTableRowCountToBeWithinHistoryBand,
)
from ytempire_dq.expectations._history_band import band
from ytempire_dq.fixtures import seed
from ytempire_dq.run.checkpoint import run_checkpoint

VIEWS = "analytics.views_yesterday_within_history"
COUNT = "analytics.row_count_within_history"
STABLE_RUNS = 14
YESTERDAY = "date = current_date - 1"


def committed_rules() -> dict[str, dict]:
    rules = json.loads((PROJECT_ROOT / "expectations" / "analytics.json").read_text())["expectations"]
    committed = {e["meta"]["rule_id"]: {k: v for k, v in e.items() if k != "id"} for e in rules}
    # yesterday's views were judged by this run-history band until the seasonal band (from the
    # data itself) replaced it in the suite; the type stays, and so do its tests
    committed[VIEWS] = {
        "description": "drift: yesterday's total views stays within the band learned from the last 14 accepted values",
        "kwargs": {
            "table": "analytics",
            "column": "views",
            "aggregate": "sum",
            "date_column": "date",
            "days_ago": 1,
            "runs": 14,
            "min_runs": 7,
            "mad_multiplier": 5,
            "tolerance_pct": 10,
        },
        "meta": {"rule_id": VIEWS, "family": "volume_drift"},
        "type": "expect_column_daily_aggregate_to_be_within_history_band",
    }
    return committed


@pytest.fixture(scope="module")
def project(module_env, tmp_path_factory):
    """Clean seeded data and a checkpoint ``drift`` running the two committed analytics band rules."""
    seed.seed(module_env, users=12, seed=5)
    gx_dir = copy_project(tmp_path_factory.mktemp("drift"))
    committed = committed_rules()
    add_checkpoint(
        gx_dir,
        checkpoint="drift",
        suite="drift",
        asset="analytics",
        expectations=[committed[COUNT], committed[VIEWS]],
        data_docs=False,
    )
    return gx_dir


@pytest.fixture(scope="module")
def stable(project, module_env):
    """14 nightly runs on unchanged data, each recorded in the history (a day apart)."""
    reports = []
    for _ in range(STABLE_RUNS):
        reports.append(run_checkpoint("drift", config_dir=project))
        a_day_passes(module_env)
    return reports


@pytest.fixture(scope="module")
def yesterday(conn, stable) -> dict:
    """Yesterday's rows and views before any loss (after the stable runs)."""
    n, views = rows(conn, f"SELECT count(*), sum(views) FROM analytics WHERE {YESTERDAY}")[0]
    return {"rows": n, "views": views}


def lose(conn, share: float, of_rows: int) -> None:
    """Delete ``round(share × of_rows)`` of yesterday's analytics rows, lowest video ids first: the
    seed's video ids are fixed, so the same rows go every time (analytics ids are the database's
    ``gen_random_uuid()``: ordered by them, 1 run in 30 lost over 10 % of the views in its 3 %)."""
    conn.cursor().execute(
        f"DELETE FROM analytics WHERE id IN (SELECT id FROM analytics WHERE {YESTERDAY} ORDER BY video_id LIMIT %s)",
        (round(share * of_rows),),
    )


@pytest.fixture(scope="module")
def after_small_change(project, conn, yesterday):
    lose(conn, 0.03, yesterday["rows"])
    return run_checkpoint("drift", config_dir=project)


@pytest.fixture(scope="module")
def after_loss(project, conn, yesterday, after_small_change):
    lose(conn, 0.37, yesterday["rows"])  # 40 % of yesterday's rows gone in all
    return run_checkpoint("drift", config_dir=project)


def test_the_first_runs_pass_with_no_baseline_yet(stable):
    for n, report in enumerate(stable[:7]):
        assert report.success and report.exit_code == ExitCode.OK
        for rule_id in (VIEWS, COUNT):
            observed = report.rule(rule_id).observed_value
            assert observed["status"] == f"not enough history yet ({n} of 7 days)", (n, rule_id)
            assert observed["baseline_runs"] == n and observed["lower"] is None and observed["value"] > 0


def test_stable_runs_learn_a_band_and_stay_within_it(stable, yesterday):
    for n, report in enumerate(stable[7:], start=7):
        assert report.success
        observed = report.rule(VIEWS).observed_value
        assert observed["status"] == "within band" and observed["baseline_runs"] == n
        assert observed["median"] == observed["value"] == yesterday["views"] and observed["mad"] == 0
        assert (observed["lower"], observed["upper"]) == pytest.approx(
            (0.9 * yesterday["views"], 1.1 * yesterday["views"])
        )


def test_every_run_recorded_its_measurement(conn, stable):
    recorded = rows(
        conn,
        "SELECT rule_id, count(*), count(DISTINCT value), bool_and(success) FROM dq.metrics "
        "WHERE run_id = ANY(%s) GROUP BY rule_id ORDER BY rule_id",
        ([r.run_id for r in stable],),
    )
    assert recorded == [(COUNT, STABLE_RUNS, 1, True), (VIEWS, STABLE_RUNS, 1, True)]


def test_a_3_percent_change_passes(after_small_change, yesterday, conn):
    now = scalar(conn, f"SELECT sum(views) FROM analytics WHERE {YESTERDAY}")
    assert 0.9 * yesterday["views"] < now < yesterday["views"]  # the premise: a loss, inside the 10 % band
    assert after_small_change.success and after_small_change.exit_code == ExitCode.OK, after_small_change.failed_rules()
    observed = after_small_change.rule(VIEWS).observed_value
    assert observed["value"] == now
    assert observed["status"] == "within band" and observed["baseline_runs"] == STABLE_RUNS


def test_losing_40_percent_of_yesterday_fails_with_the_value_and_the_band(after_loss, yesterday, conn):
    assert after_loss.exit_code == ExitCode.DATA_FAILED
    assert {r.rule_id for r in after_loss.rules() if not r.success} == {VIEWS}  # the row count moved ~1 %
    assert scalar(conn, f"SELECT count(*) FROM analytics WHERE {YESTERDAY}") == yesterday["rows"] - round(
        0.03 * yesterday["rows"]
    ) - round(0.37 * yesterday["rows"])
    rule = after_loss.rule(VIEWS)
    now = scalar(conn, f"SELECT sum(views) FROM analytics WHERE {YESTERDAY}")
    observed = rule.observed_value
    # the band of the last 14 days' accepted values: 13 nights of the full day, the 3 % night (median: full day)
    assert observed["value"] == now and observed["median"] == yesterday["views"] and observed["mad"] == 0
    assert observed["lower"] == pytest.approx(0.9 * yesterday["views"]) and now < observed["lower"]
    assert observed["status"] == "below band" and observed["baseline_runs"] == 14
    assert observed["day"] and observed["metric"] == "sum(analytics.views) on date = current_date - 1"
    assert rule.unexpected_count is None  # a metric has no offending rows: nothing quarantined
    (summary,) = rule.partial_unexpected_list
    assert f"{now:,.0f}: below band [{observed['lower']:,.0f}, {observed['upper']:,.0f}]" in summary
    assert scalar(conn, "SELECT count(*) FROM dq.quarantine WHERE rule_id = %s", (VIEWS,)) == 0
    assert after_loss.to_dict()["validations"][0]["results"][1]["observed_value"]["lower"] == observed["lower"]


def test_a_failed_value_does_not_teach_the_band(project, after_loss):
    again = run_checkpoint("drift", config_dir=project)
    assert again.rule(VIEWS).observed_value["median"] == after_loss.rule(VIEWS).observed_value["median"]
    assert not again.rule(VIEWS).success


def test_history_shows_value_and_band_run_by_run(after_loss, stable, yesterday, monkeypatch):
    monkeypatch.setenv("COLUMNS", "300")
    result = CliRunner().invoke(main, ["history", VIEWS, "--limit", "30"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    header = next(line for line in lines if "run_id" in line)
    assert "value" in header and "band" in header
    failed = next(line for line in lines if after_loss.run_id in line)
    observed = after_loss.rule(VIEWS).observed_value
    assert "FAILED" in failed and f"{observed['value']:,.0f}" in failed
    assert f"[{observed['lower']:,.0f}, {observed['upper']:,.0f}] (14 days)" in failed
    first = next(line for line in lines if stable[0].run_id in line)
    assert "not enough history yet (0 of 7 days)" in first and f"{yesterday['views']:,.0f}" in first
    assert re.search(r"failing since \d{4}-\d\d-\d\d", result.output)

    as_json = json.loads(CliRunner().invoke(main, ["history", VIEWS, "--limit", "30", "--json"]).output)
    by_run = {run["run_id"]: run["metric"] for run in as_json["runs"]}
    assert by_run[after_loss.run_id]["value"] == observed["value"]
    assert by_run[after_loss.run_id]["lower"] == pytest.approx(observed["lower"])
    assert by_run[stable[0].run_id]["lower"] is None


def test_nightly_passes_on_clean_data_without_history(module_env, stable):
    """The committed nightly with its band rules on fresh data and an empty history (its first run)."""
    fresh = connect(module_env, autocommit=True)
    try:
        fresh.cursor().execute("TRUNCATE dq.runs CASCADE")
    finally:
        fresh.close()
    seed.seed(module_env, users=12, seed=6)
    report = run_checkpoint("nightly")
    assert report.exit_code == ExitCode.OK, [r.rule_id for r in report.rules() if not r.success]
    band_rules = [r for r in report.rules() if r.expectation_type in HISTORY_BAND_TYPES]
    from_history = [r for r in band_rules if r.expectation_type.endswith("_within_history_band")]
    assert {r.rule_id for r in from_history} == {
        COUNT,
        "videos.row_count_within_history",
        "channels.row_count_within_history",
    }
    assert all(r.observed_value["status"] == "not enough history yet (0 of 7 days)" for r in from_history)
    # the seasonal rules judge from the data itself: on the first run already
    seasonal = {r.rule_id: r.observed_value for r in band_rules if r not in from_history}
    assert len(seasonal) == 14 and seasonal["analytics.views_per_day_seasonal"]["training_days"] == 28


# ---- the band on plain numbers ---------------------------------------------------------------


def test_band_median_and_mad():
    values = [100, 102, 98, 101, 99, 100, 103]  # median 100, MAD 1
    ok = band(104, values, min_runs=7, mad_multiplier=5, tolerance_pct=0)
    assert (ok["success"], ok["median"], ok["mad"], ok["lower"], ok["upper"]) == (True, 100, 1, 95, 105)
    assert band(106, values, min_runs=7, mad_multiplier=5, tolerance_pct=0)["status"] == "above band"
    assert band(106, values, min_runs=7, mad_multiplier=5, tolerance_pct=10)["success"]  # 10 % floor: ±10
    assert not band(89, values, min_runs=7, mad_multiplier=0, tolerance_pct=10)["success"]  # percentage alone
    assert (
        band(89, values, min_runs=8, mad_multiplier=0, tolerance_pct=10)["status"]
        == "not enough history yet (7 of 8 days)"
    )
    missing = band(None, values, min_runs=7, mad_multiplier=5, tolerance_pct=10)
    assert not missing["success"] and missing["status"] == "no value (nothing to measure)"


def test_one_odd_night_in_the_window_barely_moves_the_band():
    values = [1000] * 13 + [10]
    verdict = band(960, values, min_runs=7, mad_multiplier=5, tolerance_pct=5)
    assert verdict["median"] == 1000 and verdict["mad"] == 0 and verdict["success"]
    assert math.isclose(verdict["lower"], 950)


def test_rules_round_trip_render_and_refuse_bad_parameters(tmp_path):
    daily = ExpectColumnDailyAggregateToBeWithinHistoryBand(
        table="analytics", column="views", date_column="date", aggregate="null_rate", where={"likes": 0}
    )
    stored, loaded = suite_round_trip(daily, tmp_path)
    assert stored["expectations"][0]["kwargs"]["runs"] == 14 and loaded.metric == daily.metric
    assert daily.metric == "null_rate(analytics.views) on date = current_date - 1 where likes = 0"
    assert rendered_sentence(daily) == (
        "The null_rate of analytics.views on the day current_date - 1 (by date) (rows where likes = 0) "
        "stays within the band learned from its accepted values of the last 14 days (the last of each day): "
        "median ± max(5 × MAD, 10 % of the median); it passes until values of 7 days are recorded."
    )
    assert rendered_sentence(ExpectTableRowCountToBeWithinHistoryBand(table="videos")).startswith(
        "The row count of videos stays within the band"
    )
    for bad in ({"runs": 0}, {"min_runs": 20}, {"tolerance_pct": -1}, {"baseline_since": "last week"}):
        with pytest.raises(Exception, match=next(iter(bad))):
            ExpectTableRowCountToBeWithinHistoryBand(table="videos", **bad)
    with pytest.raises(Exception, match="plain table name"):
        ExpectTableRowCountToBeWithinHistoryBand(table="videos; DROP TABLE users")


def test_baseline_since_ignores_older_values(module_env, conn):
    """Values recorded before ``baseline_since`` do not count: the rule relearns from then on."""
    from ytempire_dq.config import source_name
    from ytempire_dq.expectations._cross_table import plain_sql

    for since, some in (("2999-01-01", False), (None, True)):
        rule = ExpectTableRowCountToBeWithinHistoryBand(table="analytics", baseline_since=since)
        (row,) = rows(conn, plain_sql(rule.baseline_select(source_name(module_env))))
        assert (row[0] is not None) is some  # none recorded since then; some from the runs before


def test_benchmarks_leave_out_the_band_types():
    from benchmarks import rules as R

    assert not hasattr(R, "HISTORY_BAND_TYPES")  # one definition: ytempire_dq.expectations
    assert not any(r.type in HISTORY_BAND_TYPES for r in R.load_rules())


def test_data_docs_show_the_sentence_and_the_observed_band(module_env, tmp_path, stable):
    from tests.helpers import data_docs_pages

    pages = data_docs_pages(tmp_path, module_env, ExpectTableRowCountToBeWithinHistoryBand(table="users"))
    assert (
        "The row count of users stays within the band learned from its accepted values of the last 14 days"
        in pages["suite"]
    )
    assert "not enough history yet (0 of 7 days)" in pages["validation"]
    # the observed value is a sentence ("40: not enough history yet ..."), not the result's dict
    assert re.search(r"are recorded\. [\d,]+: not enough history yet \(0 of 7 days\) ", pages["validation"]), pages[
        "validation"
    ]
    assert not re.search(r"(&#39;|')lower(&#39;|')", pages["validation"])


#: docs/rules.md row label (its start) -> how a rule of the suite files is classified into it
DOC_ROWS = {
    "**Schema restated**": "schema",
    "**Constraint-backed**": "constraint",
    "**Business-only**": "business",
    "Lifecycle": "lifecycle",
    "Events only in a state": "state_events",
    "No timestamp in the future": "future",
    "Cross-table temporal order": "temporal_order",
    "Platform thresholds": "threshold",
    "Plausibility": "plausibility",
    "**Freshness**": "freshness",
    "**Volume and drift**": "volume_drift",
}


def family(rule: dict) -> str:
    if rule["meta"].get("enforced_by"):
        return "constraint"
    if rule["type"] in ("expect_table_columns_to_match_set", "expect_column_values_to_be_in_type_list"):
        return "schema"
    return rule["meta"].get("family") or "business"


def test_the_rules_page_counts_the_rules_of_each_family():
    import collections

    counts = collections.Counter()
    for suite in ("users", "channels", "videos", "analytics", "api_keys", "workflows", "cross_table"):
        for rule in json.loads((PROJECT_ROOT / "expectations" / f"{suite}.json").read_text())["expectations"]:
            counts[family(rule)] += 1
    section = doc_pages.section("rules.md", "What the rules catch")
    table = {}
    for line in section.splitlines()[1:60]:
        cells = [c.strip() for c in line.split("|")]
        for label, key in DOC_ROWS.items():
            if len(cells) > 2 and cells[1].startswith(label):
                table[key] = int(cells[2])
    # the page counts the rules the project ships; an analyst's own rules add to the files, so
    # what holds for any project: every family of the files has its row, the total is the rows' sum
    assert set(counts) <= set(table) and all(n > 0 for n in table.values()), (table, dict(counts))
    assert f"The {sum(table.values())} rules of the table suites" in section


def test_a_store_of_an_older_release_is_migrated_on_first_use(new_database, project):
    """The band rules read dq.metrics: a store migrated only to 004 (an older release) gets the
    store's later migrations from the run itself, under the migration lock, and the run judges."""
    from ytempire_dq.db import migrations

    url = new_database("drift_at_004")
    migrations.rollback(url, to=4)
    report = run_checkpoint("drift", config_dir=project, database_url=url)
    assert report.exit_code == ExitCode.OK and report.history_error is None
    c = connect(url, autocommit=True)
    try:
        with c.cursor() as cur:
            assert all(migrations.has(cur, v) for v in migrations.STORE)
            assert not migrations.has(cur, migrations.USER_ERASURES)  # the platform's are not the run's to apply
        assert scalar(c, "SELECT count(*) FROM dq.metrics") == 2
    finally:
        c.close()


def test_the_band_counts_days_not_runs(module_env, project, new_database, monkeypatch):
    """Seven re-runs on one day are one day of evidence (the day's last value): not enough history
    yet; runs on seven days give a band."""
    store = new_database("drift_per_day")
    monkeypatch.setenv("YTDQ_STORE_URL", store)
    same_day = [run_checkpoint("drift", config_dir=project) for _ in range(7)]
    for rule_id in (VIEWS, COUNT):
        assert [r.rule(rule_id).observed_value["status"] for r in same_day] == [
            "not enough history yet (0 of 7 days)"
        ] + ["not enough history yet (1 of 7 days)"] * 6, rule_id
    nights = []
    for _ in range(7):
        a_day_passes(store)
        nights.append(run_checkpoint("drift", config_dir=project))
    for rule_id in (VIEWS, COUNT):
        observed = [r.rule(rule_id).observed_value for r in nights]
        assert [o["status"] for o in observed] == [f"not enough history yet ({n} of 7 days)" for n in range(1, 7)] + [
            "within band"
        ], rule_id
        assert observed[-1]["baseline_runs"] == 7 and observed[-1]["lower"] <= observed[-1]["value"], rule_id
    c = connect(store, autocommit=True)
    try:
        assert scalar(c, "SELECT count(*) FROM dq.metrics") == 2 * 14  # every value is kept, one a day is used
    finally:
        c.close()


def test_with_a_store_apart_the_baseline_comes_from_the_store(module_env, conn, project, new_database, monkeypatch):
    """``YTDQ_STORE_URL`` on another database: the band rules measure in the checked database and
    learn their band from the store's ``dq.metrics`` (issue 22, item 2); the checked database's
    ``dq.metrics`` is neither read nor written. The fast path and GX alone judge alike."""
    store = new_database("drift_store_apart")
    before = scalar(conn, "SELECT count(*) FROM dq.metrics")
    monkeypatch.setenv("YTDQ_STORE_URL", store)
    reports = []
    for _ in range(8):
        reports.append(run_checkpoint("drift", config_dir=project))
        a_day_passes(store)
    for n, report in enumerate(reports):
        assert report.success and report.history_error is None
        for rule_id in (VIEWS, COUNT):
            observed = report.rule(rule_id).observed_value
            expected = f"not enough history yet ({n} of 7 days)" if n < 7 else "within band"
            assert observed["status"] == expected and observed["baseline_runs"] == n, (n, rule_id)
    monkeypatch.setenv("YTDQ_FAST", "0")  # GX alone: the same baseline, one run more
    gx_alone = run_checkpoint("drift", config_dir=project)
    for rule_id in (VIEWS, COUNT):
        fast = reports[-1].rule(rule_id).observed_value
        assert gx_alone.rule(rule_id).observed_value == {**fast, "baseline_runs": 8}
    store_conn = connect(store, autocommit=True)
    try:
        assert scalar(store_conn, "SELECT count(*) FROM dq.metrics") == 2 * 9
        assert scalar(store_conn, "SELECT count(*) FROM dq.runs") == 9
    finally:
        store_conn.close()
    assert scalar(conn, "SELECT count(*) FROM dq.metrics") == before
