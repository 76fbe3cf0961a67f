"""ytempire_dq.store.metrics: which results become dq.metrics rows, the round trip through the
table, and how ``ytdq history RULE_ID`` shows a measurement."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from ytempire_dq.db import migrations
from ytempire_dq.db.connect import engine
from ytempire_dq.run.report import RuleResult
from ytempire_dq.store import metrics

AT = dt.datetime(2026, 3, 4, 5, 6, tzinfo=dt.timezone.utc)
ROW_COUNT = "expect_table_row_count_to_be_within_history_band"


def _band(value=120.0, lower=100.0, upper=140.0, **extra) -> dict:
    return {"metric": "row_count", "value": value, "lower": lower, "upper": upper, "median": 118.0, "mad": 4.0,
            "baseline_runs": 7, "min_runs": 5, **extra}  # fmt: skip


def _rule(observed, *, type_=ROW_COUNT, success=True, error=None) -> RuleResult:
    return RuleResult("users.volume", type_, "users", None, success, observed_value=observed, error=error)


def test_only_band_rules_that_ran_become_rows():
    rules = [
        ("users.volume", _rule(_band())),
        ("users.failed_volume", _rule(_band(value=10.0), success=False)),
        ("users.errored", _rule(_band(), error="relation does not exist")),  # measured nothing
        ("users.email_format", _rule(_band(), type_="expect_column_values_to_match_regex")),  # not a band rule
        ("users.no_metric", _rule({"value": 1})),  # no metric name
        ("users.not_a_dict", _rule(42)),
    ]
    out = metrics.metric_rows("run-1", rules, AT)
    assert [(r["rule_id"], r["success"], r["value"]) for r in out] == [
        ("users.volume", True, 120.0),
        ("users.failed_volume", False, 10.0),  # the verdict is kept: baselines learn from accepted ones only
    ]
    assert out[0] == {
        "run_id": "run-1",
        "rule_id": "users.volume",
        "metric": "row_count",
        "value": 120.0,
        "success": True,
        "baseline_runs": 7,
        "min_runs": 5,
        "median": 118.0,
        "mad": 4.0,
        "lower_bound": 100.0,
        "upper_bound": 140.0,
        "observed_at": AT,
    }


def test_values_that_are_not_numbers_are_stored_as_null():
    (row,) = metrics.metric_rows("r", [("x", _rule(_band(value=True, lower="100", upper=None)))], AT)
    assert row["value"] is None and row["lower_bound"] is None and row["upper_bound"] is None


def test_band_text():
    assert metrics.band_text(None) == ("", "")
    shown = {"value": 61234.0, "lower": 95000.0, "upper": 116000.0, "baseline_runs": 7, "min_runs": 5}
    assert metrics.band_text(shown) == ("61,234", "[95,000, 116,000] (7 days)")
    learning = {"value": 3.0, "lower": None, "upper": None, "baseline_runs": 3, "min_runs": 7}
    assert metrics.band_text(learning) == ("3", "not enough history yet (3 of 7 days)")
    assert metrics.band_text({**learning, "value": None})[0] == "none"
    assert metrics.band_text({**shown, "value": 0.123456})[0] == "0.1235"
    # a seasonal rule's series is judged per day: its training days, in the words of its own status
    seasonal = {"value": 8.0, "lower": 0.0, "upper": 9.1, "baseline_runs": 28, "min_runs": 14}
    assert metrics.band_text(seasonal) == ("8", "[0, 9.1] (28 days)")
    young = {**seasonal, "lower": None, "upper": None, "baseline_runs": 9}
    assert metrics.band_text(young) == ("8", "not enough history yet (9 of 14 days)")


def test_record_and_read_back_by_run(db_url, new_database):
    eng = engine(db_url)
    try:
        with eng.begin() as conn:
            conn.execute(
                sa.text("INSERT INTO dq.runs VALUES ('m-1', 'nightly', true, 1, 0, now(), now()), "
                        "('m-2', 'nightly', true, 1, 0, now(), now())")
            )  # fmt: skip
            assert metrics.record(conn, "m-1", [("users.volume", _rule(_band()))], AT) == 1
            assert metrics.record(conn, "m-2", [("users.email", _rule(_band(), type_="x"))], AT) == 0
        with eng.connect() as conn:
            got = metrics.by_run(conn, "users.volume", ["m-1", "m-2", "m-3"])
            assert metrics.by_run(conn, "users.volume", []) == {}
    finally:
        eng.dispose()
    assert list(got) == ["m-1"]
    assert {k: float(v) if k in ("value", "lower", "upper", "median") else v for k, v in got["m-1"].items()} == {
        "metric": "row_count",
        "value": 120.0,
        "lower": 100.0,
        "upper": 140.0,
        "median": 118.0,
        "baseline_runs": 7,
        "min_runs": 5,
    }
    # a store before migration 005 has no dq.metrics: nothing, not an error
    older = new_database("metrics_before_005")
    migrations.rollback(older, to=migrations.METRICS - 1)
    eng = engine(older)
    try:
        with eng.connect() as conn:
            assert metrics.by_run(conn, "users.volume", ["m-1"]) == {}
    finally:
        eng.dispose()
