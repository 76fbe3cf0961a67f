"""ExpectDailyMetricToBeWithinSeasonalBand on a real PostgreSQL: 30 days of a platform with a weekly
pattern (Saturdays ×1.25, Sundays ×1.30), ±6 % noise and +0.3 %/day growth, written straight into
the tables; each metric kind passes on it and fails, naming the day (and segment) with the exact
value, on a known defect. The statistics alone (weeks of simulated nights) are in
``test_seasonal_band.py``."""

from __future__ import annotations

import datetime as dt
import random

import pytest
from great_expectations.compatibility.pydantic import ValidationError
from psycopg2.extras import execute_values

from tests.helpers import insert_channel, insert_user, insert_video, rendered_sentence, rows, scalar, suite_round_trip
from ytempire_dq.expectations import HISTORY_BAND_TYPES, ExpectDailyMetricToBeWithinSeasonalBand
from ytempire_dq.sql_guard import check_query

DAYS = 30
SEASON = {5: 1.25, 6: 1.30}
#: Views a day of each user's one channel (the first three are the largest).
USER_VIEWS = [9000, 7000, 5000, 1500, 1200, 1000, 800, 600]
WORKFLOWS_A_DAY = 400
VIDEOS_A_DAY = 40


def rule(**kwargs) -> ExpectDailyMetricToBeWithinSeasonalBand:
    return ExpectDailyMetricToBeWithinSeasonalBand(**kwargs)


VIEWS = dict(table="analytics", date_column="date", metric="sum", column="views")
TO_USERS = [{"table": "videos", "column": "video_id"}, {"table": "channels", "column": "channel_id"}]


def factor(day: dt.date, i: int, rng: random.Random) -> float:
    return SEASON.get(day.weekday(), 1.0) * 1.003**i * (1 + rng.uniform(-0.06, 0.06))


@pytest.fixture
def platform(empty_tables):
    """The tables filled for the last DAYS UTC days (and today, which no rule judges); returns
    ``{"today", "users", "videos"}``."""
    db = empty_tables
    rng = random.Random(7)
    with db.cursor() as cur:
        cur.execute("TRUNCATE workflows")
    today = scalar(db, "SELECT CAST(timezone('UTC', now()) AS date)")
    users, videos, channels = [], [], []
    for n, _ in enumerate(USER_VIEWS):
        users.append(insert_user(db, tier=["free", "starter", "professional"][n % 3]))
        channels.append(insert_channel(db, users[-1], monetization_status="monetized" if n % 2 == 0 else "pending"))
        videos.append(insert_video(db, channels[-1]))
    analytics, new_videos, workflows = [], [], []
    for i in range(DAYS + 1):
        day = today - dt.timedelta(days=DAYS - i)
        for video, base in zip(videos, USER_VIEWS):
            views = round(base * factor(day, i, rng))
            analytics.append((video, day, views, round(views * 3.1, 2), round(views * 0.0021, 4)))
        for k in range(round(VIDEOS_A_DAY * factor(day, i, rng))):
            new_videos.append((channels[k % len(channels)], dt.datetime.combine(day, dt.time(k % 24, 7)), k % 10 == 0))
        for k in range(WORKFLOWS_A_DAY):
            status = "failed" if k % 20 == 0 else "succeeded"  # 5 %
            workflows.append((channels[k % len(channels)], status, dt.datetime.combine(day, dt.time(k % 24, 30))))
    with db.cursor() as cur:
        execute_values(
            cur, "INSERT INTO analytics (video_id, date, views, watch_time_minutes, revenue) VALUES %s", analytics
        )
        execute_values(
            cur,
            "INSERT INTO videos (channel_id, title, created_at, description) "
            "SELECT v.c::uuid, 'A video', v.t, CASE WHEN v.n THEN NULL ELSE 'about' END FROM (VALUES %s) AS v (c, t, n)",
            new_videos,
        )
        execute_values(
            cur,
            "INSERT INTO workflows (channel_id, kind, status, started_at) "
            "SELECT w.c::uuid, 'upload', w.s, w.t FROM (VALUES %s) AS w (c, s, t)",
            workflows,
        )
    return {"today": today, "users": users, "videos": videos, "db": db}


def day_ago(platform, n: int) -> dt.date:
    return platform["today"] - dt.timedelta(days=n)


def observed(result) -> dict:
    return result.result["observed_value"]


# ---- every metric kind: clean passes, a defect fails naming the day and the value ------------


CASES = {
    # name: (rule kwargs, SQL of the defect on yesterday's rows, SQL of yesterday's value after it)
    "row_count": (
        dict(table="videos", date_column="created_at"),
        "DELETE FROM videos WHERE created_at >= {d} AND created_at < {d} + 1 AND id NOT IN (SELECT video_id FROM analytics)",
        "SELECT count(*) FROM videos WHERE created_at >= {d} AND created_at < {d} + 1",
    ),
    "sum": (
        VIEWS,
        "UPDATE analytics SET views = views / 2 WHERE date = {d}",
        "SELECT sum(views) FROM analytics WHERE date = {d}",
    ),
    "mean": (
        dict(VIEWS, metric="mean"),
        "UPDATE analytics SET views = views * 3 WHERE date = {d}",
        "SELECT avg(views) FROM analytics WHERE date = {d}",
    ),
    "null_rate": (
        dict(table="videos", date_column="created_at", metric="null_rate", column="description"),
        "UPDATE videos SET description = NULL WHERE created_at >= {d} AND created_at < {d} + 1",
        "SELECT avg((description IS NULL)::int) FROM videos WHERE created_at >= {d} AND created_at < {d} + 1",
    ),
    "zero_rate": (
        dict(
            table="analytics",
            date_column="date",
            metric="zero_rate",
            column="revenue",
            joins=TO_USERS[:2],
            where={"channels.monetization_status": "monetized"},
        ),
        "UPDATE analytics SET revenue = 0 WHERE date = {d}",
        "SELECT avg((a.revenue = 0)::int) FROM analytics a JOIN videos v ON v.id = a.video_id "
        "JOIN channels c ON c.id = v.channel_id WHERE c.monetization_status = 'monetized' AND a.date = {d}",
    ),
    "distinct_count": (
        dict(VIEWS, metric="distinct_count", column="video_id"),
        "DELETE FROM analytics WHERE date = {d} AND video_id IN (SELECT video_id FROM analytics WHERE views > 4000)",
        "SELECT count(DISTINCT video_id) FROM analytics WHERE date = {d}",
    ),
    "ratio": (
        dict(VIEWS, metric="ratio", column="revenue", denominator_column="views"),
        "UPDATE analytics SET revenue = revenue / 100 WHERE date = {d}",
        "SELECT sum(revenue) / sum(views) FROM analytics WHERE date = {d}",
    ),
    "condition_rate": (
        dict(table="workflows", date_column="started_at", metric="condition_rate", condition={"status": "failed"}),
        "UPDATE workflows SET status = 'failed' WHERE started_at >= {d} AND started_at < {d} + 1 "
        "AND id IN (SELECT id FROM workflows WHERE started_at >= {d} AND started_at < {d} + 1 "
        "AND status = 'succeeded' ORDER BY id LIMIT 40)",
        "SELECT avg((status = 'failed')::int) FROM workflows WHERE started_at >= {d} AND started_at < {d} + 1",
    ),
    "days_since_newest": (
        dict(table="videos", date_column="created_at", metric="days_since_newest"),
        "DELETE FROM videos WHERE created_at >= {d} AND created_at < {d} + 1 AND id NOT IN (SELECT video_id FROM analytics)",
        "SELECT CASE WHEN count(*) = 0 THEN 1 ELSE 0 END FROM videos WHERE created_at >= {d} AND created_at < {d} + 1",
    ),
}


@pytest.mark.parametrize("kind", list(CASES))
def test_each_metric_passes_on_seasonal_data_and_fails_on_a_defect_naming_day_and_value(gx_env, platform, kind):
    kwargs, defect, value_sql = CASES[kind]
    db, yesterday = platform["db"], f"DATE '{day_ago(platform, 1)}'"
    clean = gx_env.validate(rule(**kwargs))
    assert clean.success is True, clean
    head = observed(clean)
    assert head["day"] == day_ago(platform, 1).isoformat() and head["training_days"] == 28  # judged on the first run
    assert head["status"] == "within band" and head["lower"] <= head["value"] <= head["upper"]

    with db.cursor() as cur:
        cur.execute(defect.format(d=yesterday))
    value = float(scalar(db, value_sql.format(d=yesterday)))
    failed = gx_env.validate(rule(**kwargs))
    assert failed.success is False
    head = observed(failed)
    assert head["value"] == pytest.approx(value) and head["anomalies"] == 1
    assert head["direction"] == ("above" if value > head["expected"] else "below")
    (sentence,) = failed.result["partial_unexpected_list"]
    assert sentence.startswith(
        f"{kwargs['table']}, {day_ago(platform, 1).isoformat()}: {kwargs.get('metric', 'row_count')} = "
    )
    assert head["status"] in sentence


def test_growth_and_weekends_do_not_alarm_and_the_weekly_pattern_is_found(gx_env, platform):
    result = gx_env.validate(rule(**VIEWS))
    assert result.success is True
    assert observed(result)["seasonality"] == "day_of_week"
    # forced to ignore the weekly pattern, the weekend days widen the band instead of raising alarms
    assert gx_env.validate(rule(**VIEWS, seasonality="none")).result["observed_value"]["seasonality"] == "none"


def test_today_is_never_judged(gx_env, platform):
    """Today is incomplete: a huge value today changes nothing."""
    before = observed(gx_env.validate(rule(**VIEWS)))
    with platform["db"].cursor() as cur:
        cur.execute("UPDATE analytics SET views = views * 100 WHERE date = %s", (platform["today"],))
    after = gx_env.validate(rule(**VIEWS))
    assert after.success is True and observed(after) == before


def test_a_segment_that_goes_dark_fails_by_name_while_the_total_stays_in_band(gx_env, platform):
    db, users, yesterday = platform["db"], platform["users"], day_ago(platform, 1)
    dark, busy = platform["videos"][2], platform["videos"][0]  # the third-largest user's views move to the largest
    with db.cursor() as cur:
        cur.execute(
            "UPDATE analytics SET views = views + (SELECT views FROM analytics WHERE video_id = %s AND date = %s) "
            "WHERE video_id = %s AND date = %s",
            (dark, yesterday, busy, yesterday),
        )
        cur.execute("UPDATE analytics SET views = 0 WHERE video_id = %s AND date = %s", (dark, yesterday))
    assert gx_env.validate(rule(**VIEWS)).success is True  # the total did not move

    per_user = rule(**VIEWS, joins=TO_USERS, segment_by="channels.user_id", top_n=3)
    result = gx_env.validate(per_user)
    assert result.success is False
    head = observed(result)
    assert head["segments"] == 4  # three users and 'other'
    assert head["anomalous_segments"] == sorted([users[0], users[2]])  # the dark one, and the one that took its views
    assert head["segment"] in (users[0], users[2])
    lines = result.result["partial_unexpected_list"]
    assert any(
        line.startswith(f"analytics channels.user_id = {users[2]}, {yesterday}: sum = 0, below band") for line in lines
    )


def test_segments_by_a_parent_column_pool_the_rest(gx_env, platform):
    result = gx_env.validate(
        rule(
            **VIEWS,
            joins=TO_USERS + [{"table": "users", "column": "user_id"}],
            segment_by="users.subscription_tier",
            top_n=2,
        )
    )
    assert result.success is True
    assert observed(result)["segments"] == 3  # two tiers and 'other'


def test_a_late_row_is_judged_again_while_its_day_is_in_the_detection_window(gx_env, platform):
    db, two_days_ago = platform["db"], day_ago(platform, 2)
    with db.cursor() as cur:
        cur.execute("CREATE TEMP TABLE late AS SELECT * FROM analytics WHERE date = %s", (two_days_ago,))
        cur.execute("DELETE FROM analytics WHERE date = %s", (two_days_ago,))
    missing = gx_env.validate(rule(**VIEWS))
    assert missing.success is False
    assert missing.result["partial_unexpected_list"][0].startswith(f"analytics, {two_days_ago}: sum = 0, below band")
    assert (
        gx_env.validate(rule(**VIEWS)).to_json_dict()["result"] == missing.to_json_dict()["result"]
    )  # a re-run: same verdict
    with db.cursor() as cur:
        cur.execute("INSERT INTO analytics SELECT * FROM late")
    assert gx_env.validate(rule(**VIEWS)).success is True


def test_not_enough_history_yet_passes_and_says_so(gx_env, platform):
    with platform["db"].cursor() as cur:
        cur.execute("DELETE FROM analytics WHERE date < %s", (day_ago(platform, 7),))
    result = gx_env.validate(rule(**VIEWS))
    assert result.success is True
    assert observed(result)["status"] == "not enough history yet (5 of 14 days)"
    assert observed(result)["lower"] is None


def test_days_without_rows_count_as_zero(gx_env, platform):
    """An empty day inside the training window is a day of 0, not a missing day: the series stays 30 days."""
    with platform["db"].cursor() as cur:
        cur.execute(
            "DELETE FROM videos WHERE created_at >= %s AND created_at < %s AND id NOT IN (SELECT video_id FROM analytics)",
            (day_ago(platform, 10), day_ago(platform, 9)),
        )
    result = gx_env.validate(rule(table="videos", date_column="created_at"))
    assert result.success is True and observed(result)["training_days"] == 28


# ---- declarations, SQL, rendering -----------------------------------------------------


def test_one_read_only_query_and_the_tables_it_reads():
    r = rule(**VIEWS, joins=TO_USERS, segment_by="channels.user_id", top_n=5, where={"channels.status": "active"})
    sql = r.build_query().replace("{{", "{").replace("}}", "}").replace("\\:", ":")
    check_query(sql)  # the SQL guard accepts it: one plain WITH ... SELECT
    assert "generate_series(0, 29)" in sql and "GROUP BY CAST(t.date AS DATE)" in sql
    assert r.tables_read() == ["analytics", "videos", "channels"]
    assert r.table_references(r.configuration.kwargs) == [
        ("analytics", ["date", "views", "video_id"]),
        ("videos", ["id", "channel_id"]),
        ("channels", ["id", "status", "user_id"]),
    ]
    assert r.expectation_type in HISTORY_BAND_TYPES
    assert (
        r.metric_name == "daily sum(analytics.views) by date where channels.status = active per channels.user_id top 5"
    )


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(table="analytics", date_column="date", metric="sum"), "needs a column"),
        (dict(VIEWS, metric="ratio"), "denominator_column"),
        (dict(table="workflows", date_column="started_at", metric="condition_rate"), "condition"),
        (dict(VIEWS, segment_by="users.subscription_tier"), "neither the rule's nor a join's"),
        (dict(VIEWS, top_n=51), "at most 50"),
        (dict(VIEWS, min_training_days=40), "cannot exceed"),
        (dict(VIEWS, joins=[{"table": "videos"}]), "a join is"),
        (dict(VIEWS, column="views; DROP TABLE x"), "plain column name"),
    ],
)
def test_parameters_are_checked(kwargs, message):
    with pytest.raises(ValidationError, match=message):
        rule(**kwargs)


def test_the_sentence_explains_the_rule_and_the_suite_file_keeps_every_parameter(tmp_path):
    r = rule(**VIEWS, joins=TO_USERS, segment_by="channels.user_id", top_n=5)
    sentence = rendered_sentence(r)
    assert sentence.startswith(
        "Each day (by date, UTC), the sum of views of analytics in each of the 5 largest segments by channels.user_id"
    )
    assert "the same weekday when the training days show a weekly pattern, ± 5 robust σ" in sentence
    stored = suite_round_trip(r, tmp_path)[0]["expectations"][0]["kwargs"]
    assert stored["training_days"] == 28 and stored["seasonality"] == "auto" and stored["top_n"] == 5


def test_a_one_sided_rule_lets_the_other_side_pass_and_says_so(gx_env, platform):
    with platform["db"].cursor() as cur:
        cur.execute("UPDATE analytics SET views = views * 3 WHERE date = %s", (day_ago(platform, 1),))
    assert gx_env.validate(rule(**VIEWS)).success is False
    spike = gx_env.validate(rule(**VIEWS, direction="below"))
    assert spike.success is True
    assert observed(spike)["status"] == "above band (only below fails)" and observed(spike)["anomalies"] == 0
    assert "(only a value below it fails)" in rendered_sentence(rule(**VIEWS, direction="below"))


def test_the_judged_day_lands_in_dq_metrics_as_value_and_band(gx_env, platform):
    """What the run records (``store.metrics``): one row for the newest judged day, keyed by what is
    measured; the bounded result (the history store's) keeps it whole."""
    from ytempire_dq.run.report import read_expectation_result
    from ytempire_dq.store.metrics import metric_rows

    r = rule(**VIEWS, joins=TO_USERS, segment_by="channels.user_id", top_n=3)
    result = read_expectation_result(gx_env.validate(r))
    assert result.observed_value == observed(gx_env.validate(r))  # nothing cut by the store's bounds
    (row,) = metric_rows("run-1", [("analytics.views_per_top_user_seasonal", result)], dt.datetime(2026, 12, 6))
    head = result.observed_value
    assert row["metric"] == r.metric_name and row["success"] is True
    assert (row["value"], row["lower_bound"], row["upper_bound"]) == (head["value"], head["lower"], head["upper"])
    assert (row["median"], row["baseline_runs"], row["min_runs"]) == (head["expected"], 28, 14)


def test_kept_days_of_any_float_make_a_statement_that_runs(gx_env, platform):
    """Kept days come back into the statement as literals, floats in PostgreSQL's spelling: a sum
    over a ``NaN`` numeric (or an infinite one) must stay SQL and read back as a float. Kept for
    another table here, so the window is measured whole."""
    from ytempire_dq.store.run_store import RunStore

    r = rule(**VIEWS)
    values = [float("nan"), float("inf"), -float("inf")] + [5.0] * 27
    store = RunStore("postgresql://unused/none", "kept-floats")
    store.memo[("daily_values", r.metric_name)] = [
        (day_ago(platform, 30 - i), "all", "0/0/0", 1.0, v, 1.0) for i, v in enumerate(values)
    ]
    with store.active():
        sql = r.build_query()
        result = gx_env.validate(r)
    assert "kept_rows" in sql and "{NaN,Infinity,-Infinity,5.0," in sql
    assert result.success is True and observed(result)["training_days"] == 28


def test_kept_days_read_back_exactly_whatever_their_segments_and_values(db):
    """The kept days' literals (:func:`_kept_rows`) give back every day, segment name and value as
    they went in: names with quotes, backslashes, braces, commas and non-ASCII text, and floats
    that are not finite, very small or very large."""
    import math

    from ytempire_dq.expectations._cross_table import plain_sql
    from ytempire_dq.expectations.expect_daily_metric_to_be_within_seasonal_band import _kept_rows

    names = ["all", "it's", 'say "hi"', "back\\slash", "{a,b}", "(null)", "ünï ✓", "", "NULL"]
    floats = [0.0, -0.0, 1.5, 1e-300, 1.7976931348623157e308, 0.1 + 0.2, float("nan"), float("inf"), -float("inf")]
    kept = [
        (dt.date(2026, 1, 1) + dt.timedelta(days=i), name, floats[i % 9], floats[(i + 3) % 9], floats[(i + 6) % 9])
        for i in range(30)
        for name in names
    ]
    back = rows(db, plain_sql(_kept_rows(kept)))

    def same(a, b) -> bool:
        return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))

    assert len(back) == len(kept)
    for (day, name, *values), (day_back, name_back, *values_back) in zip(kept, back):
        assert (day_back, name_back) == (day, name)
        assert all(same(a, b) for a, b in zip(values, values_back)), (values, values_back)


def test_a_rule_with_more_segments_than_are_kept_measures_its_window(gx_env, platform, monkeypatch):
    """Every segment's days are kept (pooled ones too), up to ``KEPT_SEGMENTS`` segments: past
    it nothing is kept, and kept days of that many segments are not written into the statement."""
    from ytempire_dq.expectations import expect_daily_metric_to_be_within_seasonal_band as band
    from ytempire_dq.store.run_store import RunStore

    r = rule(**VIEWS, joins=TO_USERS, segment_by="channels.user_id", top_n=3)
    kept = gx_env.validate(r).result["details"]["daily_values"]
    segments = len(kept["segments"])
    assert segments > 3 and {len(s["rows"]) for s in kept["segments"].values()} == {30}
    assert kept["measured_from"] == kept["first_day"]  # no store: every day measured from the table
    store = RunStore("postgresql://unused/none", "many-segments")
    store.memo[("daily_values", r.metric_name)] = [
        (day_ago(platform, 30 - i), str(s), "0/0/0", 1.0, 1.0, 1.0) for i in range(28) for s in range(segments)
    ]
    with store.active():
        assert "kept_rows" in r.build_query()
    monkeypatch.setattr(band, "KEPT_SEGMENTS", segments - 1)
    assert "daily_values" not in (gx_env.validate(r).result.get("details") or {})
    with store.active():
        assert "kept_rows" not in r.build_query()
